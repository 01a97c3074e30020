"""Greedy decoding, beam search with length normalization, error analysis.

Every function works with any model that exposes (token ids are int32, id 0
is padding, `model.bos_id` and `model.eos_id` are ints):

- `encoded = model.encode(source_ids, training=False)`: a dict of tensors
  with the batch on axis 0, from `(batch, S)` source ids;
- `cache = model.initial_cache(encoded, max_length)`: a dict of tensors
  with the batch on axis 0, whose shapes do not change from step to step
  (preallocate for `max_length`);
- `logits, cache, attention = model.next(token_ids, cache, encoded, step)`:
  `(batch, V)` logits of the next token, the updated cache and the
  `(batch, S)` attention weights, from the `(batch,)` previous tokens
  (`bos_id` at `step` 0) and an int32 scalar `step`.

Beam search ranks hypotheses by the cheatsheet's length-normalized
log-likelihood

    score(y) = 1 / Ty^alpha * sum_{t=1..Ty} log p(y<t> | x, y<1..t-1>)

where `Ty` counts the output tokens *including* the end-of-sentence token
(not `bos`, not padding). `alpha = 0` is the raw log-likelihood, `alpha = 1`
the mean log-probability per token; 0.6 to 0.7 is usual. A hypothesis that
reaches `max_length` tokens without `eos` is kept truncated, `Ty =
max_length`. Decoders never emit the padding id 0 (its column is masked
before the choice); the log-probabilities they add up are the model's own
(`log_softmax` over the full vocabulary), so they agree with
`sequence_log_prob`.

The functions are plain TensorFlow: each decoding step is one call of
`model.next` inside one `tf.while_loop`. They run eagerly, but wrap them in
`tf.function` for speed (see `beam_search`).
"""

import numpy as np
import tensorflow as tf

_NEG_INF = float("-inf")


def length_normalized_score(log_prob_sum, length, alpha):
    """The cheatsheet's objective `log_prob_sum / length^alpha`.

    Args:
        log_prob_sum: float tensor of any shape, `sum_t log p(y<t> | ...)`.
        length: `Ty`, same shape (or broadcastable), number of output
            tokens including `eos`.
        alpha: length-normalization exponent; 0 leaves the sum unchanged,
            1 gives the mean log-probability per token.

    Returns:
        A float tensor, the normalized scores.

    Example:

    >>> length_normalized_score(-4.0, 4, 1.0)
    <tf.Tensor: shape=(), dtype=float32, numpy=-1.0>
    """
    log_prob_sum = tf.convert_to_tensor(log_prob_sum)
    if not log_prob_sum.dtype.is_floating:
        log_prob_sum = tf.cast(log_prob_sum, tf.float32)
    dtype = log_prob_sum.dtype
    penalty = tf.pow(tf.cast(length, dtype), tf.cast(alpha, dtype))
    return log_prob_sum / penalty


def _check_max_length(max_length):
    if isinstance(max_length, (int, np.integer)):
        if isinstance(max_length, bool) or max_length < 1:
            raise ValueError(
                "Expected `max_length` to be a positive int or an int32 "
                f"scalar tensor. Received: max_length={max_length}"
            )
        return int(max_length)
    return tf.cast(max_length, tf.int32)


def _start(model, source_ids):
    source_ids = tf.convert_to_tensor(source_ids)
    source_ids = tf.cast(source_ids, tf.int32)
    encoded = model.encode(source_ids, training=False)
    batch = tf.shape(source_ids)[0]
    source_length = source_ids.shape[1]
    if source_length is None:
        source_length = tf.shape(source_ids)[1]
    return source_ids, encoded, batch, source_length


def _next_log_probs(model, tokens, cache, encoded, step):
    """One decoder step: `(log_probs, masked, cache, attention)`.

    `log_probs` is the model's `log_softmax`; `masked` the same with the
    padding column set to `-inf`, for choosing tokens.
    """
    logits, cache, attention = model.next(tokens, cache, encoded, step)
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    vocab = tf.shape(log_probs)[-1]
    padding = tf.where(tf.range(vocab) == 0, _NEG_INF, 0.0)
    return log_probs, log_probs + padding, cache, tf.cast(attention, tf.float32)


def _write(tensor, step, values, max_length, trailing=0):
    """Writes `values` at position `step` of the time axis of `tensor`.

    The time axis is axis `-1 - trailing`; `values` lacks it.
    """
    at = tf.equal(tf.range(max_length), step)
    at = tf.reshape(at, [-1] + [1] * trailing)
    return tf.where(at, tf.expand_dims(values, -1 - trailing), tensor)


def greedy_decode(model, source_ids, *, max_length):
    """Greedy decoding: the most likely token at every step.

    Args:
        model: a model with the interface of the module docstring.
        source_ids: `(batch, S)` int source ids, 0-padded.
        max_length: the most output tokens (including `eos`), an int or an
            int32 scalar tensor (e.g. derived from `S`).

    Returns:
        A dict with `tokens` `(batch, max_length)` int32, 0 after `eos`;
        `scores` `(batch,)` the sum of log-probabilities of the tokens
        (including `eos`); `lengths` `(batch,)` int32, the number of tokens
        including `eos`; `attention` `(batch, max_length, S)`, zero after
        `eos`.
    """
    max_length = _check_max_length(max_length)
    source_ids, encoded, batch, source_length = _start(model, source_ids)
    cache = model.initial_cache(encoded, max_length)
    eos = tf.constant(model.eos_id, tf.int32)

    def cond(step, last, cache, tokens, attention, scores, lengths, done):
        return tf.logical_and(
            step < max_length, tf.logical_not(tf.reduce_all(done))
        )

    def body(step, last, cache, tokens, attention, scores, lengths, done):
        _, masked, cache, step_attention = _next_log_probs(
            model, last, cache, encoded, step
        )
        token = tf.argmax(masked, axis=-1, output_type=tf.int32)
        token_log_prob = tf.reduce_max(masked, axis=-1)
        active = tf.logical_not(done)
        tokens = _write(tokens, step, tf.where(active, token, 0), max_length)
        step_attention = tf.where(active[:, None], step_attention, 0.0)
        attention = _write(attention, step, step_attention, max_length, 1)
        scores = scores + tf.where(active, token_log_prob, 0.0)
        lengths = lengths + tf.cast(active, tf.int32)
        done = tf.logical_or(done, tf.equal(token, eos))
        return step + 1, token, cache, tokens, attention, scores, lengths, done

    state = (
        tf.constant(0, tf.int32),
        tf.fill([batch], tf.constant(model.bos_id, tf.int32)),
        cache,
        tf.zeros([batch, max_length], tf.int32),
        tf.zeros([batch, max_length, source_length], tf.float32),
        tf.zeros([batch], tf.float32),
        tf.zeros([batch], tf.int32),
        tf.zeros([batch], tf.bool),
    )
    _, _, _, tokens, attention, scores, lengths, _ = tf.while_loop(
        cond, body, state
    )
    return {
        "tokens": tokens,
        "scores": scores,
        "lengths": lengths,
        "attention": attention,
    }


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
    longer hypothesis that would have won (`error_analysis` counts such
    misses as search errors). At the last step the best
    `beam_size` extensions are finished as they are (truncated when they
    lack `eos`). With `beam_size=1` and `alpha=0` this is greedy decoding.

    Args:
        model: a model with the interface of the module docstring.
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
    max_length = _check_max_length(max_length)
    alpha = float(alpha)
    beam = int(beam_size)
    source_ids, encoded, batch, source_length = _start(model, source_ids)
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
        _, masked, cache, step_attention = _next_log_probs(
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
        tokens = _write(
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
            return _write(
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


def sequence_log_prob(model, source_ids, target_ids):
    """Sum of log-probabilities of given targets (teacher forcing).

    Feeds `bos` then each target token to `model.next`, step by step, and
    adds `log p(y<t> | x, y<1..t-1>)` over the non-padding positions.

    Args:
        model: a model with the interface of the module docstring.
        source_ids: `(batch, S)` int source ids, 0-padded.
        target_ids: `(batch, T)` int target ids without `bos`, ending in
            `eos` (as the decoders return them), 0-padded.

    Returns:
        `(batch,)` float32 sums of log-probabilities.
    """
    source_ids, encoded, batch, _ = _start(model, source_ids)
    target_ids = tf.cast(tf.convert_to_tensor(target_ids), tf.int32)
    target_length = target_ids.shape[1]
    if target_length is None:
        target_length = tf.shape(target_ids)[1]
    cache = model.initial_cache(encoded, target_length)
    inputs = tf.concat(
        [
            tf.fill([batch, 1], tf.constant(model.bos_id, tf.int32)),
            target_ids[:, :-1],
        ],
        axis=1,
    )

    def cond(step, cache, total):
        return step < target_length

    def body(step, cache, total):
        log_probs, _, cache, _ = _next_log_probs(
            model, inputs[:, step], cache, encoded, step
        )
        target = target_ids[:, step]
        picked = tf.gather(log_probs, target, batch_dims=1)
        total = total + tf.where(target != 0, picked, 0.0)
        return step + 1, cache, total

    state = (tf.constant(0, tf.int32), cache, tf.zeros([batch], tf.float32))
    return tf.while_loop(cond, body, state)[-1]


def _as_rows(ids):
    """A `(batch, T)` int array from a tensor, an array or ragged lists."""
    if isinstance(ids, (tf.Tensor, np.ndarray)):
        return np.asarray(ids, np.int32)
    rows = [list(row) for row in ids]
    width = max([len(row) for row in rows] + [1])
    out = np.zeros([len(rows), width], np.int32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def _strip(row):
    return tuple(int(t) for t in row if t != 0)


def error_analysis(model, source_ids, references, hypotheses, *, alpha=0.6):
    """The cheatsheet's error analysis: is the search or the model at fault?

    For each source `x`, human reference `y*` and model output `y_hat`, both
    are scored with the length-normalized log-likelihood of the same
    `alpha` as the search. If `P(y* | x) > P(y_hat | x)` the model prefers
    the reference, so beam search missed it: the search is at fault
    (a larger beam may help). Otherwise the model ranks a wrong output
    above the reference: the model (RNN) is at fault. Pairs where the
    output equals the reference are skipped.

    Args:
        model: a model with the interface of the module docstring.
        source_ids: `(batch, S)` int source ids, 0-padded.
        references: `(batch, T1)` int reference ids ending in `eos`,
            0-padded (an array, a tensor or ragged lists).
        hypotheses: `(batch, T2)` int model outputs ending in `eos`,
            0-padded, e.g. `beam_search(...)["tokens"][:, 0]`.
        alpha: the length-normalization exponent used by the search.

    Returns:
        A dict with `counts` (`search`, `model`, `skipped`), `shares`
        (`search`, `model`: fractions of the compared pairs, 0 when none)
        and `rows`: one dict per example with `index`, `fault` (`"search"`,
        `"model"` or `"equal"`), `reference_score`, `hypothesis_score`
        (normalized), `reference_log_prob`, `hypothesis_log_prob` and
        `reference_length`, `hypothesis_length`.
    """
    references = _as_rows(references)
    hypotheses = _as_rows(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError(
            "Expected one hypothesis per reference. Received: "
            f"{len(references)} references, {len(hypotheses)} hypotheses"
        )
    reference_log_probs = sequence_log_prob(model, source_ids, references)
    hypothesis_log_probs = sequence_log_prob(model, source_ids, hypotheses)
    reference_lengths = np.count_nonzero(references, axis=1)
    hypothesis_lengths = np.count_nonzero(hypotheses, axis=1)
    reference_scores = length_normalized_score(
        reference_log_probs, reference_lengths, alpha
    ).numpy()
    hypothesis_scores = length_normalized_score(
        hypothesis_log_probs, hypothesis_lengths, alpha
    ).numpy()
    counts = {"search": 0, "model": 0, "skipped": 0}
    rows = []
    for i in range(len(references)):
        if _strip(references[i]) == _strip(hypotheses[i]):
            fault = "equal"
            counts["skipped"] += 1
        elif reference_scores[i] > hypothesis_scores[i]:
            fault = "search"
            counts["search"] += 1
        else:
            fault = "model"
            counts["model"] += 1
        rows.append(
            {
                "index": i,
                "fault": fault,
                "reference_score": float(reference_scores[i]),
                "hypothesis_score": float(hypothesis_scores[i]),
                "reference_log_prob": float(reference_log_probs[i]),
                "hypothesis_log_prob": float(hypothesis_log_probs[i]),
                "reference_length": int(reference_lengths[i]),
                "hypothesis_length": int(hypothesis_lengths[i]),
            }
        )
    compared = counts["search"] + counts["model"]
    shares = {
        key: counts[key] / compared if compared else 0.0
        for key in ("search", "model")
    }
    return {"counts": counts, "shares": shares, "rows": rows}
