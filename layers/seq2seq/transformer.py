"""A small pre-LN Transformer encoder-decoder (Vaswani et al. 2017).

Two stacks of `TransformerBlock` (`layers.seq2seq.transformer_block`):
each sub-layer is `x + Dropout(F(LayerNorm(x)))` (pre-LN, Xiong et al.
2020), with a final LayerNorm after each stack. Token embeddings are
scaled by `sqrt(d_model)` and added to sinusoidal positions
(`PE(p, 2i) = sin(p / 10000^(2i/d))`, `PE(p, 2i+1) = cos(...)`) or to
learned ones (positions below `max_length`). The encoder's self-attention
and the decoder's cross-attention are `keras.layers.MultiHeadAttention`
with the source padding masked; the decoder's causal self-attention is
`CachedSelfAttention`, whose `step` writes one position's key and value
into a cache preallocated to `max_length` positions, so `call` (teacher
forcing) and `next` (one position) give the same numbers.
"""

import math

import keras
import tensorflow as tf

from layers.seq2seq.transformer_block import LAYER_NORM_EPSILON
from layers.seq2seq.transformer_block import TransformerBlock
from layers.seq2seq.transformer_block import check_heads
from layers.serialization import register


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"Expected {name} to be an integer >= {minimum}. "
            f"Received: {name}={value!r}"
        )


def sinusoidal_encoding(positions, d_model):
    """Sinusoidal position encodings.

    Args:
        positions: int or float tensor of positions, any shape `P`.
        d_model: even feature size.

    Returns:
        float32 tensor of shape `P + (d_model,)`: `sin(p / 10000^(2i /
        d_model))` at feature `2i`, the cosine at feature `2i + 1`.
    """
    positions = tf.cast(positions, tf.float32)
    rates = tf.pow(
        10000.0, -2.0 * tf.range(d_model // 2, dtype=tf.float32) / d_model
    )
    angles = positions[..., None] * rates
    encoding = tf.stack([tf.sin(angles), tf.cos(angles)], axis=-1)
    shape = tf.concat([tf.shape(positions), [d_model]], axis=0)
    return tf.reshape(encoding, shape)


@register
class TransformerSeq2Seq(keras.Model):
    """Pre-LN Transformer encoder-decoder for translation.

    Implements the decoding interface of `layers.seq2seq` (`call`,
    `encode`, `initial_cache`, `next`); see the module docstring for the
    architecture. The model is built on construction.

    Args:
        source_vocab_size: source vocabulary size, padding id 0 included.
        target_vocab_size: target vocabulary size V, padding id 0 included.
        num_layers: encoder layers, and decoder layers. Defaults to `2`.
        d_model: model width D; a multiple of `num_heads`, even. Defaults
            to `128`.
        num_heads: attention heads H. Defaults to `4`.
        ff_dim: feed-forward hidden size. Defaults to `512`.
        dropout: dropout rate (embeddings, residuals, attention weights,
            feed-forward), in `[0, 1)`. Defaults to `0.1`.
        max_length: number of learned positions (source and target each);
            unused by sinusoidal positions. Defaults to `256`.
        positions: `"sinusoidal"` or `"learned"`. Defaults to
            `"sinusoidal"`.
        tie_embeddings: compute the logits with the transposed target
            embedding instead of a separate output layer. Defaults to
            `False`.
        bos_id: id of the beginning-of-sentence token. Defaults to `1`.
        eos_id: id of the end-of-sentence token. Defaults to `2`.
        **kwargs: base model keyword arguments, such as `name`.

    Call arguments:
        inputs: a tuple `(source_ids, target_in)` of `(B, S)` and `(B, T)`
            int ids, `target_in` starting with `bos_id`.
        training: whether dropout is active.

    Returns:
        `(B, T, target_vocab_size)` logits for the next token.

    Example:

    >>> model = TransformerSeq2Seq(
    ...     source_vocab_size=20, target_vocab_size=30, d_model=16,
    ...     num_heads=2, ff_dim=32)
    >>> model((tf.ones((2, 7), "int32"), tf.ones((2, 5), "int32"))).shape
    TensorShape([2, 5, 30])
    """

    def __init__(
        self,
        *,
        source_vocab_size,
        target_vocab_size,
        num_layers=2,
        d_model=128,
        num_heads=4,
        ff_dim=512,
        dropout=0.1,
        max_length=256,
        positions="sinusoidal",
        tie_embeddings=False,
        bos_id=1,
        eos_id=2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value, minimum in (
            ("source_vocab_size", source_vocab_size, 2),
            ("target_vocab_size", target_vocab_size, 3),
            ("num_layers", num_layers, 1),
            ("d_model", d_model, 2),
            ("num_heads", num_heads, 1),
            ("ff_dim", ff_dim, 1),
            ("max_length", max_length, 1),
            ("bos_id", bos_id, 1),
            ("eos_id", eos_id, 1),
        ):
            _check_int(name, value, minimum)
        check_heads(d_model, num_heads)
        if d_model % 2:
            raise ValueError(f"Expected an even d_model. Received: {d_model}")
        if positions not in ("sinusoidal", "learned"):
            raise ValueError(
                "Expected positions to be 'sinusoidal' or 'learned'. "
                f"Received: positions={positions!r}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"Expected dropout in [0, 1). Received: dropout={dropout!r}"
            )
        self.source_vocab_size = source_vocab_size
        self.target_vocab_size = target_vocab_size
        self.num_layers = num_layers
        self.d_model = d_model
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.dropout = float(dropout)
        self.max_length = max_length
        self.positions = positions
        self.tie_embeddings = bool(tie_embeddings)
        self.bos_id = bos_id
        self.eos_id = eos_id

        self.source_embedding = keras.layers.Embedding(
            source_vocab_size, d_model, name="source_embedding"
        )
        self.target_embedding = keras.layers.Embedding(
            target_vocab_size, d_model, name="target_embedding"
        )
        self.source_positions = self.target_positions = None
        if positions == "learned":
            self.source_positions = keras.layers.Embedding(
                max_length, d_model, name="source_positions"
            )
            self.target_positions = keras.layers.Embedding(
                max_length, d_model, name="target_positions"
            )
        block_args = (d_model, num_heads, ff_dim, dropout)
        self.encoder_blocks = [
            TransformerBlock(*block_args, name=f"encoder_{i}")
            for i in range(num_layers)
        ]
        self.decoder_blocks = [
            TransformerBlock(*block_args, decoder=True, name=f"decoder_{i}")
            for i in range(num_layers)
        ]
        self.encoder_norm = keras.layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, name="encoder_norm"
        )
        self.decoder_norm = keras.layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, name="decoder_norm"
        )
        self.dropout_layer = keras.layers.Dropout(dropout, name="dropout")
        self.output_layer = None
        if not self.tie_embeddings:
            self.output_layer = keras.layers.Dense(
                target_vocab_size, name="output_layer"
            )
        self.build(((None, None), (None, None)))

    def build(self, input_shape=None):
        if self.built:
            return
        sequence = (None, None, self.d_model)
        for embedding in (
            self.source_embedding,
            self.target_embedding,
            self.source_positions,
            self.target_positions,
        ):
            if embedding is not None:
                embedding.build((None, None))
        for block in self.encoder_blocks:
            block.build(sequence)
        for block in self.decoder_blocks:
            block.build(sequence, sequence)
        self.encoder_norm.build(sequence)
        self.decoder_norm.build(sequence)
        if self.output_layer is not None:
            self.output_layer.build(sequence)

    def _embed(self, ids, positions, side, training):
        """`sqrt(d_model) * embedding(ids) + PE(positions)`, dropout."""
        x = getattr(self, f"{side}_embedding")(ids)
        x = x * tf.cast(math.sqrt(self.d_model), x.dtype)
        position_embedding = getattr(self, f"{side}_positions")
        if position_embedding is None:
            x = x + tf.cast(
                sinusoidal_encoding(positions, self.d_model), x.dtype
            )
        else:
            x = x + position_embedding(positions)
        return self.dropout_layer(x, training=training)

    def _logits(self, x):
        if self.output_layer is not None:
            return self.output_layer(x)
        embeddings = tf.cast(self.target_embedding.embeddings, x.dtype)
        return tf.matmul(x, embeddings, transpose_b=True)

    def encode(self, source_ids, training=False):
        """Runs the encoder.

        Args:
            source_ids: `(B, S)` int source ids, 0 for padding.
            training: whether dropout is active.

        Returns:
            A dict: `"memory"` `(B, S, d_model)` encoder output and
            `"mask"` `(B, S)` bool, `True` for real tokens.
        """
        source_ids = tf.convert_to_tensor(source_ids)
        mask = tf.not_equal(source_ids, 0)
        positions = tf.range(tf.shape(source_ids)[1])
        x = self._embed(source_ids, positions, "source", training)
        for block in self.encoder_blocks:
            x = block(x, padding_mask=mask, training=training)
        return {"memory": self.encoder_norm(x), "mask": mask}

    def initial_cache(self, encoded, max_length):
        """Empty self-attention caches for `max_length` target positions.

        Args:
            encoded: the dict from `encode`.
            max_length: the number of positions `next` may write (steps
                `0 .. max_length - 1`); an int.

        Returns:
            A dict with `"key_{i}"` and `"value_{i}"`, for each decoder
            layer i, of zeros of shape `(B, max_length, num_heads,
            d_model // num_heads)`.
        """
        memory = encoded["memory"]
        zeros = tf.zeros(
            [
                tf.shape(memory)[0],
                max_length,
                self.num_heads,
                self.d_model // self.num_heads,
            ],
            memory.dtype,
        )
        cache = {}
        for i in range(self.num_layers):
            cache[f"key_{i}"] = cache[f"value_{i}"] = zeros
        return cache

    def call(self, inputs, training=False):
        source_ids, target_in = inputs
        encoded = self.encode(source_ids, training=training)
        target_in = tf.convert_to_tensor(target_in)
        positions = tf.range(tf.shape(target_in)[1])
        x = self._embed(target_in, positions, "target", training)
        for block in self.decoder_blocks:
            x = block(
                x,
                encoded["memory"],
                padding_mask=encoded["mask"],
                training=training,
            )
        return self._logits(self.decoder_norm(x))

    def next(self, token_ids, cache, encoded, step):
        """One decoder step (teacher forcing's `call`, one position).

        Args:
            token_ids: `(B,)` int ids of the tokens at position `step`
                (`bos_id` at step 0).
            cache: the dict from `initial_cache` or the previous `next`.
            encoded: the dict from `encode`.
            step: int32 scalar position, `0 <= step < max_length` of the
                cache.

        Returns:
            `(logits, new_cache, attention)`: `(B, target_vocab_size)`
            logits for the following token, the cache with position
            `step` written, and the `(B, S)` cross-attention weights of
            the last decoder layer, averaged over heads.
        """
        step = tf.cast(step, tf.int32)
        token_ids = tf.convert_to_tensor(token_ids)[:, None]
        x = self._embed(token_ids, step[None], "target", False)
        new_cache = {}
        for i, block in enumerate(self.decoder_blocks):
            x, keys, values, weights = block.step(
                x,
                encoded["memory"],
                encoded["mask"],
                cache[f"key_{i}"],
                cache[f"value_{i}"],
                step,
            )
            new_cache[f"key_{i}"] = keys
            new_cache[f"value_{i}"] = values
        logits = self._logits(self.decoder_norm(x))[:, 0]
        return logits, new_cache, tf.reduce_mean(weights, axis=1)[:, 0]

    def get_config(self):
        config = super().get_config()
        config.update(
            source_vocab_size=self.source_vocab_size,
            target_vocab_size=self.target_vocab_size,
            num_layers=self.num_layers,
            d_model=self.d_model,
            num_heads=self.num_heads,
            ff_dim=self.ff_dim,
            dropout=self.dropout,
            max_length=self.max_length,
            positions=self.positions,
            tie_embeddings=self.tie_embeddings,
            bos_id=self.bos_id,
            eos_id=self.eos_id,
        )
        return config
