"""Greedy decoding: the most likely token at every step.

Works with any model of the decoding interface (`layers.samplers.interface`);
one `model.next` call per step inside one `tf.while_loop`.
"""

import tensorflow as tf

from layers.samplers.interface import check_max_length
from layers.samplers.interface import encode_source
from layers.samplers.interface import next_log_probs
from layers.samplers.interface import write_step


def greedy_decode(model, source_ids, *, max_length):
    """Greedy decoding: the most likely token at every step.

    Args:
        model: a model with the interface of `layers.samplers.interface`.
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
    max_length = check_max_length(max_length)
    source_ids, encoded, batch, source_length = encode_source(model, source_ids)
    cache = model.initial_cache(encoded, max_length)
    eos = tf.constant(model.eos_id, tf.int32)

    def cond(step, last, cache, tokens, attention, scores, lengths, done):
        return tf.logical_and(
            step < max_length, tf.logical_not(tf.reduce_all(done))
        )

    def body(step, last, cache, tokens, attention, scores, lengths, done):
        _, masked, cache, step_attention = next_log_probs(
            model, last, cache, encoded, step
        )
        token = tf.argmax(masked, axis=-1, output_type=tf.int32)
        token_log_prob = tf.reduce_max(masked, axis=-1)
        active = tf.logical_not(done)
        tokens = write_step(
            tokens, step, tf.where(active, token, 0), max_length
        )
        step_attention = tf.where(active[:, None], step_attention, 0.0)
        attention = write_step(attention, step, step_attention, max_length, 1)
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
