"""The costs of neural style transfer (Gatys et al. 2016), as the cheatsheet
writes them.

With `a[l](X)` the activations of layer `l` of a fixed network on image
`X`, of shape `n_H x n_W x n_C`, a content image `C`, a style image `S`
and the generated image `G`:

- content cost: `J_content(C, G) = 1/2 ||a[l](C) - a[l](G)||^2`;
- style (Gram) matrix: `G[l]_kk' = sum_i sum_j a[l]_ijk a[l]_ijk'`, the
  correlation of channels `k` and `k'` over all positions;
- style cost of one layer: `J_style[l](S, G) = 1 / (2 n_H n_W n_C)^2
  sum_k sum_k' (G[l](S)_kk' - G[l](G)_kk')^2`;
- style cost over layers: `J_style(S, G) = sum_l lambda[l] J_style[l]`;
- overall cost: `J(G) = alpha J_content(C, G) + beta J_style(S, G)`, plus
  an optional total variation term `gamma TV(G)` that favours smooth
  images (Mahendran & Vedaldi 2015).

Each cost is a pure function returning one value per sample, `(batch,)`,
and a thin `keras.losses.Loss` class. The Gram matrices and costs are
computed in float32 at least (float16 activations are cast up: the Gram
sums overflow float16).
"""

import numbers

import keras
import tensorflow as tf

from layers.serialization import register


def _float(x):
    x = tf.convert_to_tensor(x)
    if x.dtype in (tf.float16, tf.bfloat16) or not x.dtype.is_floating:
        x = tf.cast(x, tf.float32)
    return x


def _check_nonnegative(name, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not value >= 0
    ):
        raise ValueError(
            f"Expected {name} to be a number >= 0. Received: {name}={value!r}"
        )
    return float(value)


def _check_weights(weights, count):
    weights = [_check_nonnegative("style_weights[i]", w) for w in weights]
    if len(weights) != count:
        raise ValueError(
            f"Expected one style weight per style layer ({count}). "
            f"Received: style_weights={weights}"
        )
    return weights


def content_cost(a_content, a_generated):
    """The cheatsheet's `J_content(C, G) = 1/2 ||a[l](C) - a[l](G)||^2`.

    Args:
        a_content: `(batch, n_H, n_W, n_C)` activations of the content image.
        a_generated: activations of the generated image, same shape.

    Returns:
        `(batch,)` content cost per sample.

    Example:

    >>> content_cost(tf.ones((1, 2, 2, 1)), tf.zeros((1, 2, 2, 1)))
    <tf.Tensor: shape=(1,), dtype=float32, numpy=array([2.], ...)>
    """
    a_content = _float(a_content)
    a_generated = tf.cast(_float(a_generated), a_content.dtype)
    diff = a_content - a_generated
    axes = list(range(1, len(diff.shape)))
    return 0.5 * tf.reduce_sum(tf.square(diff), axis=axes)


def gram_matrix(activations):
    """The style matrix `G_kk' = sum_i sum_j a_ijk a_ijk'`.

    Args:
        activations: `(batch, n_H, n_W, n_C)` activations of one layer.

    Returns:
        `(batch, n_C, n_C)` Gram matrices (not normalised).
    """
    a = _float(activations)
    return tf.einsum("bijk,bijl->bkl", a, a)


def layer_style_cost(a_style, a_generated):
    """The cheatsheet's style cost of one layer.

    `J_style[l](S, G) = 1 / (2 n_H n_W n_C)^2 sum_k sum_k'
    (G[l](S)_kk' - G[l](G)_kk')^2`. `a_style` may also be the style
    image's precomputed Gram matrix `(batch or 1, n_C, n_C)`, which is
    what an optimisation loop over `G` wants (S does not change).

    Args:
        a_style: `(batch, n_H, n_W, n_C)` activations of the style image,
            or its `(batch, n_C, n_C)` Gram matrix.
        a_generated: `(batch, n_H, n_W, n_C)` activations of the generated
            image.

    Returns:
        `(batch,)` style cost of the layer per sample.
    """
    a_generated = _float(a_generated)
    a_style = tf.cast(_float(a_style), a_generated.dtype)
    gram_s = gram_matrix(a_style) if len(a_style.shape) == 4 else a_style
    gram_g = gram_matrix(a_generated)
    shape = tf.shape(a_generated)
    size = tf.cast(2 * shape[1] * shape[2] * shape[3], a_generated.dtype)
    return tf.reduce_sum(tf.square(gram_s - gram_g), axis=[1, 2]) / tf.square(
        size
    )


def style_cost(styles, generated, style_weights=None):
    """`J_style(S, G) = sum_l lambda[l] J_style[l](S, G)`.

    Args:
        styles: list of the style image's activations (or Gram matrices),
            one per layer.
        generated: list of the generated image's activations, same layers.
        style_weights: `lambda[l]`, one per layer; equal weights `1 / L`
            when None.

    Returns:
        `(batch,)` weighted style cost per sample.
    """
    styles, generated = list(styles), list(generated)
    if len(styles) != len(generated) or not styles:
        raise ValueError(
            "Expected as many style as generated activations (at least "
            f"one). Received: {len(styles)} and {len(generated)}"
        )
    if style_weights is None:
        style_weights = [1.0 / len(styles)] * len(styles)
    weights = _check_weights(style_weights, len(styles))
    terms = [
        w * layer_style_cost(s, g)
        for w, s, g in zip(weights, styles, generated)
    ]
    return tf.add_n(terms)


def total_variation(images, *, squared: bool = False):
    """Total variation of images: the sum of differences of neighbours.

    `TV(G) = sum_ijc |G_i+1,j,c - G_ijc| + |G_i,j+1,c - G_ijc|` (as
    `tf.image.total_variation`), or the squared differences when
    `squared` (smoother, no kink at zero).

    Args:
        images: `(batch, H, W, C)` images.
        squared: sum squared instead of absolute differences.

    Returns:
        `(batch,)` total variation per image.
    """
    x = _float(images)
    dy = x[:, 1:, :, :] - x[:, :-1, :, :]
    dx = x[:, :, 1:, :] - x[:, :, :-1, :]
    fn = tf.square if squared else tf.abs
    return tf.reduce_sum(fn(dy), axis=[1, 2, 3]) + tf.reduce_sum(
        fn(dx), axis=[1, 2, 3]
    )


def neural_style_cost(
    content,
    generated_content,
    styles,
    generated_styles,
    image=None,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    style_weights=None,
    tv_weight: float = 0.0,
    tv_squared: bool = True,
):
    """The overall cost `J(G) = alpha J_content + beta J_style (+ gamma TV)`.

    Args:
        content: list of the content image's activations (content layers).
        generated_content: the generated image's activations, same layers;
            the content cost is summed over these layers (the cheatsheet
            uses one).
        styles: list of the style image's activations or Gram matrices.
        generated_styles: the generated image's activations, same layers.
        image: `(batch, H, W, C)` generated image, needed when
            `tv_weight > 0`.
        alpha: weight of the content cost.
        beta: weight of the style cost.
        style_weights: `lambda[l]` per style layer (equal when None).
        tv_weight: gamma, weight of the total variation of `image`.
        tv_squared: squared (True) or absolute differences in the TV term.

    Returns:
        `(batch,)` overall cost per sample.
    """
    alpha = _check_nonnegative("alpha", alpha)
    beta = _check_nonnegative("beta", beta)
    tv_weight = _check_nonnegative("tv_weight", tv_weight)
    j_content = tf.add_n(
        [content_cost(c, g) for c, g in zip(content, generated_content)]
    )
    cost = alpha * j_content + beta * style_cost(
        styles, generated_styles, style_weights
    )
    if tv_weight:
        if image is None:
            raise ValueError("Expected the generated image for tv_weight > 0.")
        cost = cost + tv_weight * total_variation(image, squared=tv_squared)
    return cost


@register
class ContentCost(keras.losses.Loss):
    """`content_cost` as a Keras loss: `y_true` is `a[l](C)`, `y_pred` is
    `a[l](G)` (mean over the batch)."""

    def __init__(self, name: str = "content_cost", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return content_cost(y_true, y_pred)


@register
class StyleCost(keras.losses.Loss):
    """`style_cost` as a Keras loss over a list of layers.

    `y_true` is the list of the style image's activations (or Gram
    matrices), `y_pred` the list of the generated image's activations; a
    single tensor each is one layer.

    Args:
        style_weights: `lambda[l]` per layer, or None for `1 / L` each.
    """

    def __init__(self, style_weights=None, name: str = "style_cost", **kwargs):
        super().__init__(name=name, **kwargs)
        if style_weights is not None:
            style_weights = [
                _check_nonnegative("style_weights[i]", w) for w in style_weights
            ]
        self.style_weights = style_weights

    def call(self, y_true, y_pred):
        if not isinstance(y_pred, (list, tuple)):
            y_true, y_pred = [y_true], [y_pred]
        return style_cost(y_true, y_pred, self.style_weights)

    def get_config(self):
        config = super().get_config()
        config.update(style_weights=self.style_weights)
        return config


@register
class TotalVariation(keras.losses.Loss):
    """`total_variation(y_pred)` as a Keras loss; `y_true` is ignored (pass
    `y_pred` or zeros: Keras refuses None).

    Args:
        squared: squared instead of absolute differences.
    """

    def __init__(
        self, squared: bool = False, name: str = "total_variation", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.squared = bool(squared)

    def call(self, y_true, y_pred):
        return total_variation(y_pred, squared=self.squared)

    def get_config(self):
        config = super().get_config()
        config.update(squared=self.squared)
        return config


@register
class NeuralStyleCost(keras.losses.Loss):
    """`neural_style_cost` as a Keras loss.

    `y_true` is `{"content": [a(C)...], "style": [a(S) or Gram...]}` and
    `y_pred` is `{"content": [a(G)...], "style": [a(G)...], "image": G}`
    (the image is used only when `tv_weight > 0`).

    Args:
        alpha: weight of the content cost.
        beta: weight of the style cost.
        style_weights: `lambda[l]` per style layer, or None for equal.
        tv_weight: gamma, weight of the total variation.
        tv_squared: squared differences in the TV term.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 1.0,
        style_weights=None,
        tv_weight: float = 0.0,
        tv_squared: bool = True,
        name: str = "neural_style_cost",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.alpha = _check_nonnegative("alpha", alpha)
        self.beta = _check_nonnegative("beta", beta)
        self.tv_weight = _check_nonnegative("tv_weight", tv_weight)
        if style_weights is not None:
            style_weights = [
                _check_nonnegative("style_weights[i]", w) for w in style_weights
            ]
        self.style_weights = style_weights
        self.tv_squared = bool(tv_squared)

    def call(self, y_true, y_pred):
        return neural_style_cost(
            y_true["content"],
            y_pred["content"],
            y_true["style"],
            y_pred["style"],
            y_pred.get("image"),
            alpha=self.alpha,
            beta=self.beta,
            style_weights=self.style_weights,
            tv_weight=self.tv_weight,
            tv_squared=self.tv_squared,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            alpha=self.alpha,
            beta=self.beta,
            style_weights=self.style_weights,
            tv_weight=self.tv_weight,
            tv_squared=self.tv_squared,
        )
        return config
