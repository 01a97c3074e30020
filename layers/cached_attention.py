"""Causal multi-head self-attention with a key/value cache.

The Transformer decoder's self-attention (`layers.seq2seq.transformer_block`):
`softmax(Q K^T / sqrt(key_dim)) V` per head with the positions after the
query masked (`masked_softmax` of `layers.attention`). Its `step` attends
from one position through a cache preallocated to the longest output, so
decoding one token at a time inside `tf.while_loop` gives the numbers of
the teacher-forced `call`.
"""

import math

import keras
import tensorflow as tf

from layers.attention import masked_softmax
from layers.serialization import register


def _check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"Expected {name} to be an integer >= {minimum}. "
            f"Received: {name}={value!r}"
        )


@register
class CachedSelfAttention(keras.layers.Layer):
    """Causal multi-head self-attention with a key/value cache.

    `softmax(Q K^T / sqrt(key_dim)) V` per head, each position attending
    to itself and the positions before it, then an output projection.
    `call` attends over a whole sequence; `step` attends from one
    position, writing its key and value into a cache preallocated to `L`
    positions (`tf.tensor_scatter_nd_update`, so the step may be a
    dynamic tensor inside `tf.while_loop`) and masking the positions after
    it. Both give the same numbers.

    Args:
        num_heads: number of heads H.
        key_dim: size of each head K.
        dropout: dropout rate on the attention weights. Defaults to `0.0`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: `(B, T, D)` sequence.
        training: whether dropout is active.

    Returns:
        `(B, T, D)` attended sequence.
    """

    def __init__(self, num_heads, key_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        _check_int("num_heads", num_heads)
        _check_int("key_dim", key_dim)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"Expected dropout in [0, 1). Received: dropout={dropout!r}"
            )
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.dropout = float(dropout)
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy
        )

    def build(self, input_shape):
        d, heads = input_shape[-1], (self.num_heads, self.key_dim)
        # No key bias: it adds `q . b_k` to every score of a query, which
        # the softmax cancels (its gradient is zero).
        for name in ("query", "key", "value"):
            setattr(
                self,
                f"{name}_kernel",
                self.add_weight(
                    name=f"{name}_kernel",
                    shape=(d, *heads),
                    initializer="glorot_uniform",
                ),
            )
        self.query_bias = self.add_weight(
            name="query_bias", shape=heads, initializer="zeros"
        )
        self.value_bias = self.add_weight(
            name="value_bias", shape=heads, initializer="zeros"
        )
        self.output_kernel = self.add_weight(
            name="output_kernel",
            shape=(*heads, d),
            initializer="glorot_uniform",
        )
        self.output_bias = self.add_weight(
            name="output_bias", shape=(d,), initializer="zeros"
        )

    def _weight(self, name, dtype):
        # Explicit casts: `step` runs outside `__call__`'s autocast scope.
        return tf.cast(getattr(self, name), dtype)

    def _project(self, inputs, name):
        kernel = self._weight(f"{name}_kernel", inputs.dtype)
        projected = tf.einsum("btd,dhk->bthk", inputs, kernel)
        if name == "key":
            return projected
        return projected + self._weight(f"{name}_bias", inputs.dtype)

    def _attend(self, query, keys, values, mask, training):
        scores = tf.einsum("bqhk,bvhk->bhqv", query, keys)
        scores = scores / tf.cast(math.sqrt(self.key_dim), scores.dtype)
        weights = masked_softmax(scores, mask)
        weights = self.dropout_layer(weights, training=training)
        attended = tf.einsum("bhqv,bvhk->bqhk", weights, values)
        dtype = attended.dtype
        outputs = tf.einsum(
            "bqhk,hkd->bqd", attended, self._weight("output_kernel", dtype)
        )
        return outputs + self._weight("output_bias", dtype)

    def call(self, inputs, training=False):
        length = tf.shape(inputs)[1]
        positions = tf.range(length)
        causal = positions[:, None] >= positions[None, :]
        return self._attend(
            self._project(inputs, "query"),
            self._project(inputs, "key"),
            self._project(inputs, "value"),
            causal[None, None],
            training,
        )

    def step(self, inputs, key_cache, value_cache, step):
        """Attends from one position, writing its key and value first.

        Args:
            inputs: `(B, 1, D)` input at position `step`.
            key_cache: `(B, L, H, K)` keys of the positions so far.
            value_cache: `(B, L, H, K)` values of the positions so far.
            step: int32 scalar position, `0 <= step < L`.

        Returns:
            `(outputs, key_cache, value_cache)`: `(B, 1, D)` outputs and
            the caches with position `step` written.
        """
        step = tf.cast(step, tf.int32)
        batch = tf.shape(inputs)[0]
        indices = tf.stack([tf.range(batch), tf.fill([batch], step)], axis=1)
        key_cache = tf.tensor_scatter_nd_update(
            key_cache, indices, self._project(inputs, "key")[:, 0]
        )
        value_cache = tf.tensor_scatter_nd_update(
            value_cache, indices, self._project(inputs, "value")[:, 0]
        )
        visible = tf.range(tf.shape(key_cache)[1]) <= step
        outputs = self._attend(
            self._project(inputs, "query"),
            key_cache,
            value_cache,
            visible[None, None, None],
            False,
        )
        return outputs, key_cache, value_cache

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads, key_dim=self.key_dim, dropout=self.dropout
        )
        return config
