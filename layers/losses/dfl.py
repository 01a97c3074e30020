"""Distribution focal loss (DFL, Li et al. 2020, Generalized Focal Loss).

A distance `y` in `[0, n - 1]` is predicted as a distribution `S` over the
`n` bins `0, 1, ..., n - 1` (softmax of `n` logits). With
`y_l = floor(y)` and `y_r = y_l + 1`, DFL pushes the probability mass onto
the two bins around `y`, in proportion to their closeness:

    DFL(S, y) = -((y_r - y) log S_{y_l} + (y - y_l) log S_{y_r})

At `y = n - 1`, `y_l = n - 2` and `y_r = n - 1`, so that DFL is
`-log S_{n-1}`. Its minimum over `S` is reached at `S_{y_l} = y_r - y`,
`S_{y_r} = y - y_l`, where the expectation `sum_j j S_j` equals `y`.
"""

import keras
import tensorflow as tf

from layers.serialization import register


def distribution_focal_loss(y_true, y_pred):
    """Distribution focal loss, averaged over the last axis of `y_true`.

    See the module docstring for the formula. Targets outside
    `[0, n - 1]` are clipped into it (`n = y_pred.shape[-1]`, the number
    of bins); no gradient flows to `y_true` through the bin indices.

    Args:
        y_true: `(..., m)` target distances in bin units (e.g. the 4 sides
            `(l, t, r, b)` of a box, in stride units).
        y_pred: `(..., m, n)` logits of the `n` bins for each distance.

    Returns:
        `(...)` the mean DFL of the `m` distances.

    Example:

    >>> logits = tf.math.log([[[0.25, 0.5, 0.25]]])
    >>> distribution_focal_loss([[0.5]], logits)  # -(0.5 log .25 + .5 log .5)
    <tf.Tensor: shape=(1,), dtype=float32, numpy=array([1.0397208], ...)>
    """
    y_pred = tf.convert_to_tensor(y_pred)
    y_true = tf.cast(y_true, y_pred.dtype)
    bins = tf.shape(y_pred)[-1]
    top = tf.cast(bins - 1, y_pred.dtype)
    y = tf.clip_by_value(y_true, tf.zeros_like(top), top)
    left = tf.minimum(tf.floor(y), top - 1)
    weight_left = tf.stop_gradient(left + 1) - y
    weight_right = 1 - weight_left
    # DFL is the cross-entropy with a "two-hot" target on y_l and y_r.
    left = tf.stop_gradient(tf.cast(left, tf.int32))
    target = weight_left[..., None] * tf.one_hot(
        left, bins, dtype=y_pred.dtype
    ) + weight_right[..., None] * tf.one_hot(left + 1, bins, dtype=y_pred.dtype)
    log_probs = tf.nn.log_softmax(y_pred, axis=-1)
    per_distance = -tf.reduce_sum(target * log_probs, axis=-1)
    return tf.reduce_mean(per_distance, axis=-1)


@register
class DistributionFocalLoss(keras.losses.Loss):
    """Distribution focal loss as a Keras `Loss`.

    See `distribution_focal_loss` for the formula and shapes.

    Call arguments:
        y_true: `(batch, ..., m)` target distances in bin units.
        y_pred: `(batch, ..., m, n)` bin logits.

    Example:

    >>> loss = DistributionFocalLoss()
    >>> loss([[3.5]], tf.zeros((1, 1, 16)))  # log(16)
    <tf.Tensor: shape=(), dtype=float32, numpy=2.7725887>
    """

    def __init__(self, name="distribution_focal_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return distribution_focal_loss(y_true, y_pred)
