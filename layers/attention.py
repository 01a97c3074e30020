"""The cheatsheet's attention: a context vector as a weighted sum.

For a decoder state `s<t-1>` (the query) and encoder activations `a<t'>`
(the values), the attention weights and the context are

    alpha<t,t'> = exp(e<t,t'>) / sum_t'' exp(e<t,t''>)
    e<t,t'>     = score(s<t-1>, a<t'>)
    c<t>        = sum_t' alpha<t,t'> a<t'>

Masked value positions (padding) get weight exactly 0. A query whose every
value is masked gets all-zero weights and a zero context (not a uniform
average, not NaN): there is nothing to attend to.

`ScoreAttention` does the masking, the softmax and the weighted sum; its
subclasses only define the score:

- `BahdanauAttention` (additive): `score(q, a) = v^T tanh(W1 q + W2 a)`.
- `LuongAttention` (multiplicative): `q^T W a` ("general") or `q^T a`
  ("dot"), optionally times a learned scalar `g` (`scale=True`).

The Transformer decoder's causal multi-head self-attention, with its
key/value cache, is `layers.cached_attention.CachedSelfAttention`.
"""

import keras
import tensorflow as tf

from layers.serialization import register


def _check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"Expected {name} to be an integer >= {minimum}. "
            f"Received: {name}={value!r}"
        )


def masked_softmax(scores, mask=None):
    """Softmax over the last axis where masked entries get weight 0.

    Args:
        scores: float tensor `(..., Tv)`.
        mask: optional tensor broadcastable to `scores`; nonzero (or
            `True`) keeps an entry. A row with no kept entry gives zeros.

    Returns:
        Weights of the shape of `scores`, summing to 1 over kept entries
        (0 for a fully masked row).
    """
    scores = tf.convert_to_tensor(scores)
    if mask is None:
        return tf.nn.softmax(scores, axis=-1)
    keep = tf.cast(mask, tf.bool)
    lowest = tf.constant(scores.dtype.min, scores.dtype)
    weights = tf.nn.softmax(tf.where(keep, scores, lowest), axis=-1)
    # A fully masked row softmaxes to uniform weights; zero them.
    return weights * tf.cast(keep, weights.dtype)


@register
class ScoreAttention(keras.layers.Layer):
    """Attention with a pluggable score: softmax, mask and weighted sum.

    Subclasses implement `score(query, values)` returning `(batch, Tq,
    Tv)` scores and create its weights in `build`. See the module
    docstring for the formula and the fully masked case.

    Args:
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        query: `(batch, Tq, Dq)` queries, or `(batch, Dq)` for one step.
        values: `(batch, Tv, Dv)` values (the encoder activations).
        mask: optional `(batch, Tv)` (or `(batch, Tq, Tv)` for a rank-3
            query) bool tensor, `True` for the values to attend to.
        return_weights: whether to return the weights too. Defaults to
            `True`.

    Returns:
        `(context, weights)`: context `(batch, Tq, Dv)` and weights
        `(batch, Tq, Tv)`, or `(batch, Dv)` and `(batch, Tv)` for a rank-2
        query; only the context when `return_weights=False`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # The mask is a call argument for the values; the outputs carry
        # none (see `compute_mask`).
        self.supports_masking = True

    def score(self, query, values):
        """The hook: `(batch, Tq, Dq)` and `(batch, Tv, Dv)` queries and
        values to `(batch, Tq, Tv)` scores."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement score(query, values)."
        )

    @staticmethod
    def _check_shapes(query_shape, values_shape):
        if len(query_shape) not in (2, 3) or len(values_shape) != 3:
            raise ValueError(
                "Expected query of rank 2 or 3 and values of rank 3. "
                f"Received: query_shape={query_shape}, "
                f"values_shape={values_shape}"
            )

    def build(self, query_shape, values_shape):
        self._check_shapes(query_shape, values_shape)

    def call(self, query, values, mask=None, return_weights=True):
        single_step = len(query.shape) == 2
        if single_step:
            query = query[:, None, :]
        scores = self.score(query, values)
        if mask is not None:
            mask = tf.cast(mask, tf.bool)
            if len(mask.shape) == 2:
                mask = mask[:, None, :]
        weights = masked_softmax(scores, mask)
        context = tf.matmul(weights, tf.cast(values, weights.dtype))
        if single_step:
            context, weights = context[:, 0], weights[:, 0]
        if return_weights:
            return context, weights
        return context

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def compute_output_shape(self, query_shape, values_shape):
        self._check_shapes(query_shape, values_shape)
        batch, tv, dv = values_shape
        if len(query_shape) == 2:
            return (query_shape[0], dv), (query_shape[0], tv)
        return (query_shape[0], query_shape[1], dv), (
            query_shape[0],
            query_shape[1],
            tv,
        )

    def compute_output_spec(
        self, query, values, mask=None, return_weights=True
    ):
        context, weights = self.compute_output_shape(query.shape, values.shape)
        context = keras.KerasTensor(context, dtype=self.compute_dtype)
        if not return_weights:
            return context
        return context, keras.KerasTensor(weights, dtype=self.compute_dtype)


@register
class BahdanauAttention(ScoreAttention):
    """Additive attention (Bahdanau et al. 2015).

    `score(q, a) = v^T tanh(W1 q + W2 a)`, with `W1: (Dq, units)`, `W2:
    (Dv, units)` and `v: (units,)`, no biases. Call arguments and returns
    as `ScoreAttention`.

    Args:
        units: size of the hidden layer of the score, >= 1.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> attention = BahdanauAttention(8)
    >>> context, weights = attention(tf.zeros((2, 4)), tf.zeros((2, 5, 3)))
    >>> context.shape, weights.shape
    (TensorShape([2, 3]), TensorShape([2, 5]))
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        _check_int("units", units)
        self.units = units

    def build(self, query_shape, values_shape):
        self._check_shapes(query_shape, values_shape)
        self.query_kernel = self.add_weight(
            name="query_kernel",
            shape=(query_shape[-1], self.units),
            initializer="glorot_uniform",
        )
        self.values_kernel = self.add_weight(
            name="values_kernel",
            shape=(values_shape[-1], self.units),
            initializer="glorot_uniform",
        )
        self.score_vector = self.add_weight(
            name="score_vector",
            shape=(self.units,),
            initializer="glorot_uniform",
        )

    def score(self, query, values):
        q = tf.einsum("bqd,du->bqu", query, self.query_kernel)
        a = tf.einsum("bvd,du->bvu", values, self.values_kernel)
        hidden = tf.tanh(q[:, :, None, :] + a[:, None, :, :])
        return tf.einsum("bqvu,u->bqv", hidden, self.score_vector)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config


@register
class LuongAttention(ScoreAttention):
    """Multiplicative attention (Luong et al. 2015).

    `score(q, a) = g q^T W a` (`mode="general"`, `W: (Dq, Dv)`) or
    `g q^T a` (`mode="dot"`, needs `Dq == Dv`), where `g` is a learned
    scalar initialised to 1 when `scale=True` and the constant 1
    otherwise. Call arguments and returns as `ScoreAttention`.

    Args:
        mode: `"general"` or `"dot"`. Defaults to `"general"`.
        scale: learn the scalar `g`. Defaults to `False`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> attention = LuongAttention("dot")
    >>> context, weights = attention(tf.zeros((2, 3, 4)), tf.zeros((2, 5, 4)))
    >>> context.shape, weights.shape
    (TensorShape([2, 3, 4]), TensorShape([2, 3, 5]))
    """

    def __init__(self, mode="general", scale=False, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("general", "dot"):
            raise ValueError(
                "Expected mode to be 'general' or 'dot'. "
                f"Received: mode={mode!r}"
            )
        self.mode = mode
        self.scale = bool(scale)

    def build(self, query_shape, values_shape):
        self._check_shapes(query_shape, values_shape)
        if self.mode == "general":
            self.kernel = self.add_weight(
                name="kernel",
                shape=(query_shape[-1], values_shape[-1]),
                initializer="glorot_uniform",
            )
        elif query_shape[-1] != values_shape[-1]:
            raise ValueError(
                "Expected equal query and values sizes for mode='dot'. "
                f"Received: query_shape={query_shape}, "
                f"values_shape={values_shape}"
            )
        if self.scale:
            self.scale_factor = self.add_weight(
                name="scale_factor", shape=(), initializer="ones"
            )

    def score(self, query, values):
        if self.mode == "general":
            query = tf.einsum("bqd,de->bqe", query, self.kernel)
        scores = tf.matmul(query, values, transpose_b=True)
        if self.scale:
            scores = scores * self.scale_factor
        return scores

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, scale=self.scale)
        return config
