"""The decoding interface every decoder drives, and one step through it.

Every decoder works with any model that exposes (token ids are int32, id 0
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

Decoders never emit the padding id 0 (its column is masked before the
choice); the log-probabilities they add up are the model's own
(`log_softmax` over the full vocabulary), so they agree with
`sequence_log_prob` (`layers.samplers.scoring`).
"""

import numpy as np
import tensorflow as tf

_NEG_INF = float("-inf")


def check_max_length(max_length):
    """Validates a decoder's `max_length`.

    Args:
        max_length: the most output tokens, a positive Python int or an
            int32 scalar tensor.

    Returns:
        The Python int, or the tensor cast to int32.

    Raises:
        ValueError: for an int below 1 (or a bool).
    """
    if isinstance(max_length, (int, np.integer)):
        if isinstance(max_length, bool) or max_length < 1:
            raise ValueError(
                "Expected `max_length` to be a positive int or an int32 "
                f"scalar tensor. Received: max_length={max_length}"
            )
        return int(max_length)
    return tf.cast(max_length, tf.int32)


def encode_source(model, source_ids):
    """Encodes the source ids once, before the first decoder step.

    Args:
        model: a model with the interface of the module docstring.
        source_ids: `(batch, S)` int source ids, 0-padded.

    Returns:
        `(source_ids, encoded, batch, source_length)`: the ids as int32,
        the dict from `model.encode`, the dynamic batch size and `S` (a
        Python int when static, else a scalar tensor).
    """
    source_ids = tf.convert_to_tensor(source_ids)
    source_ids = tf.cast(source_ids, tf.int32)
    encoded = model.encode(source_ids, training=False)
    batch = tf.shape(source_ids)[0]
    source_length = source_ids.shape[1]
    if source_length is None:
        source_length = tf.shape(source_ids)[1]
    return source_ids, encoded, batch, source_length


def next_log_probs(model, tokens, cache, encoded, step):
    """One decoder step, as log-probabilities.

    Args:
        model: a model with the interface of the module docstring.
        tokens: `(batch,)` int32 ids of the tokens at position `step`.
        cache: the dict from `model.initial_cache` or the previous step.
        encoded: the dict from `model.encode`.
        step: int32 scalar position.

    Returns:
        `(log_probs, masked, cache, attention)`: `(batch, V)` float32
        `log_softmax` of the model's logits; the same with the padding
        column set to `-inf`, for choosing tokens; the updated cache; the
        `(batch, S)` float32 attention weights.
    """
    logits, cache, attention = model.next(tokens, cache, encoded, step)
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    vocab = tf.shape(log_probs)[-1]
    padding = tf.where(tf.range(vocab) == 0, _NEG_INF, 0.0)
    return log_probs, log_probs + padding, cache, tf.cast(attention, tf.float32)


def write_step(tensor, step, values, max_length, trailing=0):
    """Writes `values` at position `step` of the time axis of `tensor`.

    Args:
        tensor: a tensor whose time axis, of size `max_length`, is axis
            `-1 - trailing`.
        step: int32 scalar position on the time axis.
        values: a tensor of the shape of `tensor` without its time axis.
        max_length: the size of the time axis.
        trailing: the number of axes after the time axis. Defaults to `0`.

    Returns:
        `tensor` with `values` at position `step`.
    """
    at = tf.equal(tf.range(max_length), step)
    at = tf.reshape(at, [-1] + [1] * trailing)
    return tf.where(at, tf.expand_dims(values, -1 - trailing), tensor)
