"""ArcFace (Deng et al. 2019): additive angular margin logits.

The alternative to the triplet loss for face embeddings: a classifier over
the training identities whose logits are cosines, trained with softmax
cross-entropy, with the target class pushed an angle `m` further away.
With `e` the L2-normalised embedding and `w_j` the L2-normalised column
`j` of the kernel, `cos(theta_j) = e . w_j` and the logits are

    logit_j = s * cos(theta_j)         for j != y
    logit_y = s * cos(theta_y + m)     for the target class y

computed as `cos(theta) cos(m) - sin(theta) sin(m)` with `sin(theta) =
sqrt(1 - cos^2(theta))` (zero gradient, not NaN, at `cos = +-1`).
`cos(theta + m)` stops decreasing once `theta + m > pi`, which would
reward pushing the target away; the target logit then follows the
InsightFace fallback:

- default (`easy_margin=False`): when `cos(theta) <= cos(pi - m)` (that is
  `theta + m >= pi`) the target uses `cos(theta) - m sin(m)`, a linear
  penalty that keeps decreasing with `theta`;
- `easy_margin=True`: the margin applies only while `cos(theta) > 0`
  (`theta < pi / 2`); otherwise the target keeps the plain
  `cos(theta)`.

The margin needs the labels: with `training=False` (`predict`,
`evaluate`) or without labels the logits are the plain `s * cos(theta_j)`
for every class, so inference never depends on labels. Called with
`training=None` and labels (a plain eager call), the margin applies.
"""

import math
import numbers

import keras
import tensorflow as tf

from layers.serialization import register


def _check_arcface_args(scale, margin, num_classes=None):
    if num_classes is not None and (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, numbers.Integral)
        or num_classes < 2
    ):
        raise ValueError(
            "Expected num_classes to be an integer >= 2. "
            f"Received: num_classes={num_classes!r}"
        )
    if (
        isinstance(scale, bool)
        or not isinstance(scale, numbers.Real)
        or not scale > 0
    ):
        raise ValueError(
            f"Expected scale to be a number > 0. Received: scale={scale!r}"
        )
    if (
        isinstance(margin, bool)
        or not isinstance(margin, numbers.Real)
        or not 0 <= margin < math.pi / 2
    ):
        raise ValueError(
            "Expected margin to be a number in [0, pi/2) radians. "
            f"Received: margin={margin!r}"
        )


def cosine_logits(embeddings, kernel):
    """`cos(theta)` between every embedding and every kernel column.

    Args:
        embeddings: float tensor of shape `(batch, dim)`.
        kernel: float tensor of shape `(dim, num_classes)`.

    Returns:
        A `(batch, num_classes)` tensor of cosines in `[-1, 1]`.
    """
    embeddings = tf.convert_to_tensor(embeddings)
    kernel = tf.cast(kernel, embeddings.dtype)
    unit_embeddings = tf.math.l2_normalize(embeddings, axis=-1)
    unit_kernel = tf.math.l2_normalize(kernel, axis=0)
    cosine = tf.matmul(unit_embeddings, unit_kernel)
    return tf.clip_by_value(cosine, -1.0, 1.0)


def arcface_logits(
    embeddings,
    kernel,
    labels,
    *,
    scale: float,
    margin: float,
    easy_margin: bool = False,
):
    """ArcFace logits (see the module docstring for the formula).

    Args:
        embeddings: float tensor of shape `(batch, dim)`; normalised here.
        kernel: float tensor of shape `(dim, num_classes)`; its columns
            are normalised here.
        labels: int tensor of shape `(batch,)` or `(batch, 1)`, the target
            classes; `None` gives the plain `scale * cos(theta)`.
        scale: s, a number > 0.
        margin: m in radians, in `[0, pi/2)`.
        easy_margin: the fallback rule when `theta + m` passes `pi`.

    Returns:
        A `(batch, num_classes)` tensor of logits, in the embeddings'
        dtype.

    Example:

    >>> arcface_logits(
    ...     [[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], [0],
    ...     scale=2.0, margin=math.pi / 3,
    ... )
    <tf.Tensor: shape=(1, 2), dtype=float32, numpy=array([[1., 0.]],
    dtype=float32)>
    """
    _check_arcface_args(scale, margin)
    cosine = cosine_logits(embeddings, kernel)
    dtype = cosine.dtype
    if labels is None:
        return scale * cosine
    sine2 = 1.0 - tf.square(cosine)
    positive = sine2 > 0.0
    sine = tf.where(
        positive,
        tf.sqrt(tf.where(positive, sine2, tf.ones_like(sine2))),
        tf.zeros_like(sine2),
    )
    shifted = cosine * math.cos(margin) - sine * math.sin(margin)
    if easy_margin:
        target = tf.where(cosine > 0.0, shifted, cosine)
    else:
        target = tf.where(
            cosine > math.cos(math.pi - margin),
            shifted,
            cosine - margin * math.sin(margin),
        )
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    is_target = tf.cast(
        tf.one_hot(labels, tf.shape(cosine)[-1], dtype=tf.int32), tf.bool
    )
    logits = tf.where(is_target, target, cosine)
    return tf.cast(scale, dtype) * logits


@register
class ArcFace(keras.layers.Layer):
    """ArcFace additive angular margin head.

    Holds one weight, `kernel` of shape `(dim, num_classes)` (one class
    centre per column, compared by cosine), and returns the logits of
    `arcface_logits` for softmax cross-entropy (sparse labels,
    `from_logits=True`). See the module docstring for the formula, the
    fallback and when the margin applies. Under mixed precision give the
    layer `dtype="float32"`.

    Args:
        num_classes: number of training identities, >= 2.
        scale: s, the logit scale (> 0). Defaults to `30.0`.
        margin: m, the additive angular margin in radians, in
            `[0, pi/2)`. Defaults to `0.5`.
        easy_margin: use the `cos(theta) > 0` fallback instead of
            InsightFace's default `cos(theta) - m sin(m)`. Defaults to
            `False`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: a list `[embeddings, labels]`: `(batch, dim)` float
            embeddings and `(batch,)` or `(batch, 1)` int classes; or the
            embeddings alone (or `[embeddings]`) for plain cosine logits.
        training: `False` gives plain `scale * cos(theta)` logits even with
            labels.

    Returns:
        `(batch, num_classes)` logits.

    Example:

    >>> embeddings = keras.Input((8,))
    >>> labels = keras.Input((), dtype="int32")
    >>> ArcFace(10)([embeddings, labels]).shape
    (None, 10)
    """

    def __init__(
        self,
        num_classes,
        *,
        scale=30.0,
        margin=0.5,
        easy_margin=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_arcface_args(scale, margin, num_classes)
        self.num_classes = int(num_classes)
        self.scale = float(scale)
        self.margin = float(margin)
        self.easy_margin = bool(easy_margin)

    @staticmethod
    def _embedding_shape(input_shape):
        if (
            isinstance(input_shape, (list, tuple))
            and input_shape
            and isinstance(input_shape[0], (list, tuple))
        ):
            return tuple(input_shape[0])
        return tuple(input_shape)

    def build(self, input_shape):
        shape = self._embedding_shape(input_shape)
        if len(shape) != 2 or shape[-1] is None:
            raise ValueError(
                "Expected embeddings of shape (batch, dim) with a known dim. "
                f"Received: input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(shape[-1], self.num_classes),
            initializer="glorot_uniform",
            trainable=True,
        )

    def call(self, inputs, training=None):
        if isinstance(inputs, (list, tuple)):
            embeddings = inputs[0]
            labels = inputs[1] if len(inputs) > 1 else None
        else:
            embeddings, labels = inputs, None
        if training is False:
            labels = None
        return arcface_logits(
            embeddings,
            self.kernel,
            labels,
            scale=self.scale,
            margin=self.margin,
            easy_margin=self.easy_margin,
        )

    def compute_output_shape(self, input_shape):
        return (self._embedding_shape(input_shape)[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            scale=self.scale,
            margin=self.margin,
            easy_margin=self.easy_margin,
        )
        return config
