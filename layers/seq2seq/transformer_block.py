"""One pre-LN Transformer layer (Vaswani et al. 2017), encoder or decoder.

Each sub-layer is `x + Dropout(F(LayerNorm(x)))` (pre-LN, Xiong et al.
2020). The encoder's self-attention and the decoder's cross-attention are
`keras.layers.MultiHeadAttention` with the source padding masked; the
decoder's causal self-attention is `CachedSelfAttention`, whose `step`
writes one position's key and value into a cache preallocated to
`max_length` positions, so a decoder's `call` (teacher forcing) and `step`
(one position) give the same numbers. `layers.seq2seq.transformer` stacks
these layers into the encoder-decoder.
"""

import keras

from layers.cached_attention import CachedSelfAttention
from layers.serialization import register

LAYER_NORM_EPSILON = 1e-5


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"Expected {name} to be an integer >= {minimum}. "
            f"Received: {name}={value!r}"
        )


def check_heads(d_model, num_heads):
    """Checks that `num_heads` divides `d_model` (the width of each head).

    Args:
        d_model: feature size D.
        num_heads: number of heads H.

    Raises:
        ValueError: when `d_model % num_heads` is not 0.
    """
    if d_model % num_heads:
        raise ValueError(
            "Expected d_model to be a multiple of num_heads. "
            f"Received: d_model={d_model}, num_heads={num_heads}"
        )


@register
class TransformerBlock(keras.layers.Layer):
    """One pre-LN Transformer layer, encoder or decoder.

    Encoder (`decoder=False`): self-attention over the unmasked positions
    (`keras.layers.MultiHeadAttention`), then the feed-forward network
    `Dense(ff_dim, relu) -> Dense(d_model)`. Decoder: causal
    `CachedSelfAttention`, cross-attention over the memory
    (`MultiHeadAttention`), then the feed-forward network. Each sub-layer
    is `x + Dropout(F(LayerNorm(x)))`.

    Args:
        d_model: feature size D.
        num_heads: number of heads; must divide `d_model`.
        ff_dim: hidden size of the feed-forward network.
        dropout: dropout rate. Defaults to `0.0`.
        decoder: a decoder layer. Defaults to `False`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: `(B, T, D)` sequence.
        memory: `(B, S, D)` encoder output; decoder only.
        padding_mask: optional bool mask, `True` for real tokens: `(B, T)`
            of `inputs` for an encoder, `(B, S)` of `memory` for a decoder.
        training: whether dropout is active.

    Returns:
        `(B, T, D)` sequence.
    """

    def __init__(
        self, d_model, num_heads, ff_dim, dropout=0.0, decoder=False, **kwargs
    ):
        super().__init__(**kwargs)
        _check_int("d_model", d_model, 1)
        _check_int("num_heads", num_heads, 1)
        _check_int("ff_dim", ff_dim, 1)
        check_heads(d_model, num_heads)
        self.d_model = d_model
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.dropout = float(dropout)
        self.decoder = bool(decoder)
        key_dim = d_model // num_heads
        dtype = self.dtype_policy
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=dtype)
        self.self_norm = keras.layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, dtype=dtype
        )
        attention_class = (
            CachedSelfAttention
            if self.decoder
            else keras.layers.MultiHeadAttention
        )
        self.self_attention = attention_class(
            num_heads, key_dim, dropout=dropout, dtype=dtype
        )
        if self.decoder:
            self.cross_norm = keras.layers.LayerNormalization(
                epsilon=LAYER_NORM_EPSILON, dtype=dtype
            )
            self.cross_attention = keras.layers.MultiHeadAttention(
                num_heads, key_dim, dropout=dropout, dtype=dtype
            )
        self.ffn_norm = keras.layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, dtype=dtype
        )
        self.ffn_inner = keras.layers.Dense(
            ff_dim, activation="relu", dtype=dtype
        )
        self.ffn_outer = keras.layers.Dense(d_model, dtype=dtype)

    def build(self, inputs_shape, memory_shape=None):
        self.self_norm.build(inputs_shape)
        if self.decoder:
            if memory_shape is None:
                raise ValueError("A decoder TransformerBlock needs a memory.")
            self.self_attention.build(inputs_shape)
            self.cross_norm.build(inputs_shape)
            self.cross_attention.build(inputs_shape, memory_shape)
        else:
            self.self_attention.build(inputs_shape, inputs_shape)
        self.ffn_norm.build(inputs_shape)
        self.ffn_inner.build(inputs_shape)
        self.ffn_outer.build((*inputs_shape[:-1], self.ff_dim))

    def _residual(self, x, h, training):
        return x + self.dropout_layer(h, training=training)

    def _cross(self, x, memory, padding_mask, training):
        mask = None if padding_mask is None else padding_mask[:, None, :]
        h, weights = self.cross_attention(
            self.cross_norm(x),
            memory,
            attention_mask=mask,
            return_attention_scores=True,
            training=training,
        )
        return self._residual(x, h, training), weights

    def _feed_forward(self, x, training):
        h = self.ffn_inner(self.ffn_norm(x))
        h = self.ffn_outer(self.dropout_layer(h, training=training))
        return self._residual(x, h, training)

    def call(self, inputs, memory=None, padding_mask=None, training=False):
        h = self.self_norm(inputs)
        if self.decoder:
            h = self.self_attention(h, training=training)
            x = self._residual(inputs, h, training)
            x, _ = self._cross(x, memory, padding_mask, training)
        else:
            mask = None if padding_mask is None else padding_mask[:, None, :]
            h = self.self_attention(
                h, h, attention_mask=mask, training=training
            )
            x = self._residual(inputs, h, training)
        return self._feed_forward(x, training)

    def step(self, inputs, memory, padding_mask, key_cache, value_cache, step):
        """A decoder's `call` for the one position `step`, through the
        self-attention cache (`CachedSelfAttention.step`).

        Returns:
            `(outputs (B, 1, D), key_cache, value_cache, weights)`, with
            the `(B, H, 1, S)` cross-attention weights.
        """
        h, key_cache, value_cache = self.self_attention.step(
            self.self_norm(inputs), key_cache, value_cache, step
        )
        x, weights = self._cross(inputs + h, memory, padding_mask, False)
        return self._feed_forward(x, False), key_cache, value_cache, weights

    def compute_output_shape(self, inputs_shape, memory_shape=None):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            d_model=self.d_model,
            num_heads=self.num_heads,
            ff_dim=self.ff_dim,
            dropout=self.dropout,
            decoder=self.decoder,
        )
        return config
