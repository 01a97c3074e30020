"""Complete IoU (CIoU, Zheng et al. 2020) and the CIoU box-regression loss.

For boxes `A` and `B` (`"xyxy"`):

    CIoU = IoU - rho^2 / c^2 - alpha * v
    v     = 4 / pi^2 * (atan(w_A / h_A) - atan(w_B / h_B))^2
    alpha = v / ((1 - IoU) + v)
    loss  = 1 - CIoU

`rho` is the distance between the two centres, `c` the diagonal of the
smallest box enclosing both. As in the paper's code and in Ultralytics,
`alpha` is a trade-off weight, not differentiated through
(`stop_gradient`): the gradient is that of `IoU - rho^2/c^2 - alpha v` at
fixed `alpha`. CIoU lies in `[-1.5, 1]`; it is 1 for identical boxes.
"""

import math

import keras
import tensorflow as tf

from layers.boxes.iou import elementwise_iou
from layers.serialization import register


def ciou(boxes_a, boxes_b, *, eps: float = 1e-7):
    """Elementwise complete IoU of corresponding `"xyxy"` boxes.

    See the module docstring for the formula. `eps` keeps the aspect ratio
    (`w / (h + eps)`), `rho^2 / (c^2 + eps)` and `alpha` finite for
    degenerate boxes.

    Args:
        boxes_a: float tensor of shape `(..., 4)`, `"xyxy"`.
        boxes_b: float tensor of shape `(..., 4)`, `"xyxy"`, same dtype;
            broadcasts against `boxes_a`.
        eps: small positive constant.

    Returns:
        A tensor of shape `(...)`, the CIoU of each pair.

    Example:

    >>> ciou([[0.0, 0.0, 2.0, 2.0]], [[0.0, 0.0, 2.0, 2.0]])
    <tf.Tensor: shape=(1,), dtype=float32, numpy=array([1.], dtype=float32)>
    """
    boxes_a = tf.convert_to_tensor(boxes_a)
    boxes_b = tf.convert_to_tensor(boxes_b, dtype=boxes_a.dtype)
    dtype = boxes_a.dtype
    eps = tf.constant(eps, dtype)
    iou = elementwise_iou(boxes_a, boxes_b)
    ax0, ay0, ax1, ay1 = tf.unstack(boxes_a, 4, axis=-1)
    bx0, by0, bx1, by1 = tf.unstack(boxes_b, 4, axis=-1)
    # Squared diagonal of the smallest enclosing box.
    cw = tf.maximum(ax1, bx1) - tf.minimum(ax0, bx0)
    ch = tf.maximum(ay1, by1) - tf.minimum(ay0, by0)
    c2 = tf.square(cw) + tf.square(ch) + eps
    # Squared distance between the centres.
    rho2 = (
        tf.square(bx0 + bx1 - ax0 - ax1) + tf.square(by0 + by1 - ay0 - ay1)
    ) / 4
    # Aspect-ratio consistency.
    atan_a = tf.atan((ax1 - ax0) / (ay1 - ay0 + eps))
    atan_b = tf.atan((bx1 - bx0) / (by1 - by0 + eps))
    v = (4 / math.pi**2) * tf.square(atan_b - atan_a)
    alpha = tf.stop_gradient(v / (v - iou + (1 + eps)))
    return iou - rho2 / c2 - alpha * v


def ciou_loss(y_true, y_pred):
    """CIoU loss `1 - CIoU(y_true, y_pred)` of corresponding boxes.

    Args:
        y_true: `(..., 4)` target boxes, `"xyxy"`.
        y_pred: `(..., 4)` predicted boxes, `"xyxy"`.

    Returns:
        `(...)` loss values in `[0, 2.5]`; 0 for identical boxes.
    """
    y_pred = tf.convert_to_tensor(y_pred)
    y_true = tf.cast(y_true, y_pred.dtype)
    return 1.0 - ciou(y_true, y_pred)


@register
class CIoULoss(keras.losses.Loss):
    """The CIoU loss as a Keras `Loss` (see `ciou_loss` for the formula).

    Call arguments:
        y_true: `(batch, ..., 4)` target boxes, `"xyxy"`.
        y_pred: `(batch, ..., 4)` predicted boxes, `"xyxy"`.

    Example:

    >>> CIoULoss()([[0.0, 0.0, 2.0, 2.0]], [[0.0, 0.0, 2.0, 2.0]])
    <tf.Tensor: shape=(), dtype=float32, numpy=0.0>
    """

    def __init__(self, name="ciou_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return ciou_loss(y_true, y_pred)
