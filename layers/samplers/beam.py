"""Beam search with the cheatsheet's length normalization.

Works with any model of the decoding interface (`layers.samplers.interface`)
and ranks hypotheses by `length_normalized_score` (`layers.samplers.scoring`):
`1 / Ty^alpha * sum_t log p(y<t> | x, y<1..t-1>)`, `Ty` counting `eos`. A
hypothesis that reaches `max_length` tokens without `eos` is kept
truncated, `Ty = max_length`.
"""

import numpy as np
import tensorflow as tf

from layers.samplers.interface import check_max_length
from layers.samplers.interface import encode_source
from layers.samplers.interface import next_log_probs
from layers.samplers.interface import write_step
from layers.samplers.scoring import length_normalized_score

_NEG_INF = float("-inf")


def _check_beam_args(beam_size, num_return, alpha):
    if not isinstance(beam_size, (int, np.integer)) or beam_size < 1:
        raise ValueError(
            f"Expected `beam_size` to be a positive int. "
            f"Received: beam_size={beam_size}"
        )
    if not isinstance(num_return, (int, np.integer)) or not (
        1 <= num_return <= beam_size
    ):
        raise ValueError(
            "Expected `num_return` to be an int in [1, beam_size="
            f"{beam_size}]. Received: num_return={num_return}"
        )
    if float(alpha) < 0:
        raise ValueError(f"Expected `alpha` >= 0. Received: alpha={alpha}")


def beam_search(
    model,
    source_ids,
    *,
    beam_size,
    max_length,
    alpha=0.6,
    num_return=1,
    stop="exact",
    return_attention=True,
):
    """Beam search with the cheatsheet's length normalization.

    All `batch * beam_size` hypotheses advance together, one `model.next`
    call per step inside one `tf.while_loop`. At each step the `2 *
    beam_size` best extensions of the alive beams (by log-likelihood, which
    orders them like the normalized score since they share a length) are
    taken: those among the first `beam_size` that end in `eos` move to the
    finished set with their score fixed (`Ty` includes the `eos`), and the
    best `beam_size` that do not stay alive. The finished set keeps the
    `beam_size` best normalized scores. A batch item is done when its
    finished set is full and no alive beam can beat its worst member: an
    alive beam's log-likelihood only falls, so its best reachable score is
    `log p / max_length^alpha`. Stopping early therefore returns exactly
    what running to `max_length` would. That bound is loose (an alive
    beam is assumed to grow to `max_length` for free), so the search often
    runs to `max_length`; `stop="heuristic"` bounds an alive beam by its
    score at its current length instead (as Hugging Face's beam search
    does by default), which stops far earlier and may, rarely, miss a
    longer hypothesis that would have won (`layers.metrics.error_analysis`
    counts such misses as search errors). At the last step the best
    `beam_size` extensions are finished as they are (truncated when they
    lack `eos`). With `beam_size=1` and `alpha=0` this is greedy decoding.

    Args:
        model: a model with the interface of `layers.samplers.interface`.
        source_ids: `(batch, S)` int source ids, 0-padded; the batch size
            may be dynamic.
        beam_size: number of hypotheses B kept per source, a Python int.
        max_length: the most output tokens (including `eos`), an int or an
            int32 scalar tensor (e.g. `2 * S + 10`).
        alpha: length-normalization exponent, >= 0 (0: raw
            log-likelihood, 1: mean per token).
        num_return: number N of best hypotheses returned per source,
            `1 <= N <= beam_size`.
        stop: `"exact"` or `"heuristic"` (see above).
        return_attention: keep each hypothesis' attention weights; without
            them the search moves less memory per step and `attention` is
            not returned.

    Returns:
        A dict for the N best finished hypotheses of each source, sorted by
        normalized score (best first): `tokens` `(batch, N, max_length)`
        int32, 0 after `eos`; `scores` `(batch, N)` normalized scores;
        `log_probs` `(batch, N)` raw sums of log-probabilities; `lengths`
        `(batch, N)` int32 `Ty`; `attention` `(batch, N, max_length, S)`,
        zero after `eos`. When fewer than N hypotheses exist (tiny
        vocabulary and `max_length`), the extra slots score `-inf`.

    Example:

    ```python
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def translate(source_ids):
        max_length = 2 * tf.shape(source_ids)[1] + 10
        return beam_search(
            model, source_ids, beam_size=4, max_length=max_length
        )
    ```
    """
    _check_beam_args(beam_size, num_return, alpha)
    if stop not in ("exact", "heuristic"):
        raise ValueError(
            f"Expected stop to be 'exact' or 'heuristic'. Received: stop={stop}"
        )
    max_length = check_max_length(max_length)
    alpha = float(alpha)
    beam = int(beam_size)
    source_ids, encoded, batch, source_length = encode_source(model, source_ids)
    encoded = tf.nest.map_structure(
        lambda x: tf.repeat(x, beam, axis=0), encoded
    )
    cache = model.initial_cache(encoded, max_length)
    eos = tf.constant(model.eos_id, tf.int32)
    last_step = max_length - 1
    best_reachable_penalty = tf.pow(tf.cast(max_length, tf.float32), alpha)
    batch_offsets = tf.range(batch)[:, None] * beam

    def cond(step, last, cache, alive, finished):
        worst_finished = finished["scores"][:, -1]
        penalty = best_reachable_penalty
        if stop == "heuristic":
            penalty = tf.pow(tf.cast(tf.maximum(step, 1), tf.float32), alpha)
        best_reachable = tf.reduce_max(alive["log_probs"], axis=1) / penalty
        done = worst_finished >= best_reachable
        return tf.logical_and(
            step < max_length, tf.logical_not(tf.reduce_all(done))
        )

    def body(step, last, cache, alive, finished):
        _, masked, cache, step_attention = next_log_probs(
            model, last, cache, encoded, step
        )
        vocab = tf.shape(masked)[-1]
        candidates = alive["log_probs"][:, :, None] + tf.reshape(
            masked, [batch, beam, vocab]
        )
        top_log_probs, top_index = tf.math.top_k(
            tf.reshape(candidates, [batch, beam * vocab]), k=2 * beam
        )
        parent = top_index // vocab
        token = top_index % vocab
        tokens = write_step(
            tf.gather(alive["tokens"], parent, batch_dims=1),
            step,
            token,
            max_length,
        )
        step_attention = tf.reshape(
            step_attention, [batch, beam, source_length]
        )

        def extend_attention(parents):
            if not return_attention:
                return alive["attention"]
            return write_step(
                tf.gather(alive["attention"], parents, batch_dims=1),
                step,
                tf.gather(step_attention, parents, batch_dims=1),
                max_length,
                1,
            )

        # Finished: the candidates among the first `beam` that end in eos
        # (all of the first `beam` at the last step).
        is_eos = tf.equal(token, eos)
        finishing = tf.logical_or(is_eos[:, :beam], step >= last_step)
        length = step + 1
        new_scores = tf.where(
            finishing,
            length_normalized_score(top_log_probs[:, :beam], length, alpha),
            _NEG_INF,
        )
        pool = {
            "tokens": tf.concat([finished["tokens"], tokens[:, :beam]], 1),
            "scores": tf.concat([finished["scores"], new_scores], 1),
            "log_probs": tf.concat(
                [finished["log_probs"], top_log_probs[:, :beam]], 1
            ),
            "lengths": tf.concat(
                [finished["lengths"], tf.fill([batch, beam], length)], 1
            ),
            "attention": tf.concat(
                [finished["attention"], extend_attention(parent[:, :beam])],
                1,
            ),
        }
        # top_k is stable: on ties the hypotheses already finished stay.
        _, keep = tf.math.top_k(pool["scores"], k=beam)
        finished = {
            key: tf.gather(value, keep, batch_dims=1)
            for key, value in pool.items()
        }

        # Alive: the best `beam` candidates that do not end in eos.
        alive_log_probs, keep = tf.math.top_k(
            tf.where(is_eos, _NEG_INF, top_log_probs), k=beam
        )
        alive_parent = tf.gather(parent, keep, batch_dims=1)
        alive = {
            "tokens": tf.gather(tokens, keep, batch_dims=1),
            "log_probs": alive_log_probs,
            "attention": extend_attention(alive_parent),
        }
        rows = tf.reshape(alive_parent + batch_offsets, [-1])
        cache = tf.nest.map_structure(
            lambda x: tf.gather(x, rows, axis=0), cache
        )
        last = tf.reshape(tf.gather(token, keep, batch_dims=1), [-1])
        return step + 1, last, cache, alive, finished

    # Only the first beam is alive at the start: the others would repeat it.
    first_alive = tf.concat(
        [tf.zeros([batch, 1]), tf.fill([batch, beam - 1], _NEG_INF)], 1
    )
    # Without attention a (batch, beam, 1, 1) placeholder rides along.
    attention_shape = (
        [batch, beam, max_length, source_length]
        if return_attention
        else [batch, beam, 1, 1]
    )
    alive = {
        "tokens": tf.zeros([batch, beam, max_length], tf.int32),
        "log_probs": first_alive,
        "attention": tf.zeros(attention_shape, tf.float32),
    }
    finished = {
        "tokens": tf.zeros([batch, beam, max_length], tf.int32),
        "scores": tf.fill([batch, beam], _NEG_INF),
        "log_probs": tf.fill([batch, beam], _NEG_INF),
        "lengths": tf.zeros([batch, beam], tf.int32),
        "attention": tf.zeros(attention_shape, tf.float32),
    }
    state = (
        tf.constant(0, tf.int32),
        tf.fill([batch * beam], tf.constant(model.bos_id, tf.int32)),
        cache,
        alive,
        finished,
    )
    finished = tf.while_loop(cond, body, state)[-1]
    if not return_attention:
        finished.pop("attention")
    return {key: value[:, :num_return] for key, value in finished.items()}
