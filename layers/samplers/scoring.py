"""The cheatsheet's length-normalized objective, and scoring given targets.

Beam search ranks hypotheses by the length-normalized log-likelihood

    score(y) = 1 / Ty^alpha * sum_{t=1..Ty} log p(y<t> | x, y<1..t-1>)

where `Ty` counts the output tokens *including* the end-of-sentence token
(not `bos`, not padding). `alpha = 0` is the raw log-likelihood, `alpha = 1`
the mean log-probability per token; 0.6 to 0.7 is usual.
`sequence_log_prob` gives the sum of that formula for given targets
(teacher forcing), with the model of `layers.samplers.interface`.
"""

import tensorflow as tf

from layers.samplers.interface import encode_source
from layers.samplers.interface import next_log_probs


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


def sequence_log_prob(model, source_ids, target_ids):
    """Sum of log-probabilities of given targets (teacher forcing).

    Feeds `bos` then each target token to `model.next`, step by step, and
    adds `log p(y<t> | x, y<1..t-1>)` over the non-padding positions.

    Args:
        model: a model with the interface of `layers.samplers.interface`.
        source_ids: `(batch, S)` int source ids, 0-padded.
        target_ids: `(batch, T)` int target ids without `bos`, ending in
            `eos` (as the decoders return them), 0-padded.

    Returns:
        `(batch,)` float32 sums of log-probabilities.
    """
    source_ids, encoded, batch, _ = encode_source(model, source_ids)
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
        log_probs, _, cache, _ = next_log_probs(
            model, inputs[:, step], cache, encoded, step
        )
        target = target_ids[:, step]
        picked = tf.gather(log_probs, target, batch_dims=1)
        total = total + tf.where(target != 0, picked, 0.0)
        return step + 1, cache, total

    state = (tf.constant(0, tf.int32), cache, tf.zeros([batch], tf.float32))
    return tf.while_loop(cond, body, state)[-1]
