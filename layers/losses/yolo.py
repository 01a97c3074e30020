"""The YOLO loss: objectness, coordinates and classes on the anchor grid.

Formula, per image, summed over every cell `(i, j)` and anchor `a` of the
`G x G x k` grid (`1obj` = the target's `pc`, `1noobj = 1 - pc`):

    L = lambda_coord * sum 1obj * [(sig(tx) - bx)^2 + (sig(ty) - by)^2
                                   + (th - log(bh / ah))^2
                                   + (tw - log(bw / aw))^2]
      + sum 1obj * BCE(pc, sig(to))
      + lambda_noobj * sum 1noobj * BCE(0, sig(to))
      + sum 1obj * CE(c, softmax(l))

This is YOLOv2's parameterisation (see `layers.boxes.yolo_codec`) with the
YOLOv1 weights: `lambda_coord = 5` and `lambda_noobj = 0.5` for the many
cells without an object. The class term is the softmax cross-entropy of the
cheatsheet's `c1..cp`.
"""

import keras
import tensorflow as tf

from layers.boxes.yolo_codec import check_yolo_args
from layers.serialization import register


def yolo_loss(
    y_true,
    y_pred,
    *,
    anchors,
    num_classes: int,
    lambda_coord: float = 5.0,
    lambda_noobj: float = 0.5,
):
    """Per-image YOLO loss.

    Args:
        y_true: `(batch, G, G, k * (5 + p))` targets from
            `encode_yolo_targets`.
        y_pred: `(batch, G, G, k * (5 + p))` raw head outputs.
        anchors: `(k, 2)` anchor (height, width) pairs.
        num_classes: p.
        lambda_coord: weight of the coordinate term.
        lambda_noobj: weight of the objectness term where there is no object.

    Returns:
        `(batch,)` loss values.
    """
    y_pred = tf.convert_to_tensor(y_pred)
    dtype = y_pred.dtype
    y_true = tf.cast(y_true, dtype)
    anchors = tf.cast(tf.convert_to_tensor(anchors), dtype)
    k = anchors.shape[0]
    shape = tf.shape(y_pred)
    new_shape = (shape[0], shape[1], shape[2], k, 5 + num_classes)
    t = tf.reshape(y_true, new_shape)
    p = tf.reshape(y_pred, new_shape)

    obj = t[..., 0]
    noobj = 1.0 - obj
    eps = tf.constant(1e-9, dtype)
    target_th = tf.math.log(tf.maximum(t[..., 3], eps) / anchors[:, 0])
    target_tw = tf.math.log(tf.maximum(t[..., 4], eps) / anchors[:, 1])
    coord = (
        tf.square(tf.sigmoid(p[..., 1]) - t[..., 1])
        + tf.square(tf.sigmoid(p[..., 2]) - t[..., 2])
        + tf.square(p[..., 3] - target_th)
        + tf.square(p[..., 4] - target_tw)
    )
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=obj, logits=p[..., 0])
    ce = tf.nn.softmax_cross_entropy_with_logits(
        labels=t[..., 5:], logits=p[..., 5:]
    )
    per_slot = (
        lambda_coord * obj * coord
        + obj * bce
        + lambda_noobj * noobj * bce
        + obj * ce
    )
    return tf.reduce_sum(per_slot, axis=[1, 2, 3])


@register
class YoloLoss(keras.losses.Loss):
    """The YOLO loss as a Keras `Loss` (see `yolo_loss` for the formula).

    Args:
        anchors: `(k, 2)` anchor (height, width) pairs as nested lists.
        num_classes: p.
        lambda_coord: weight of the coordinate term.
        lambda_noobj: weight of the no-object objectness term.

    Example:
        >>> loss = YoloLoss(anchors=[[0.2, 0.2]], num_classes=3)
    """

    def __init__(
        self,
        anchors,
        num_classes,
        lambda_coord=5.0,
        lambda_noobj=0.5,
        name="yolo_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.anchors, self.num_classes = check_yolo_args(anchors, num_classes)
        for key, value in (
            ("lambda_coord", lambda_coord),
            ("lambda_noobj", lambda_noobj),
        ):
            if not float(value) >= 0:
                raise ValueError(
                    f"Expected {key} >= 0. Received: {key}={value}"
                )
        self.lambda_coord = float(lambda_coord)
        self.lambda_noobj = float(lambda_noobj)

    def call(self, y_true, y_pred):
        return yolo_loss(
            y_true,
            y_pred,
            anchors=self.anchors,
            num_classes=self.num_classes,
            lambda_coord=self.lambda_coord,
            lambda_noobj=self.lambda_noobj,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            anchors=self.anchors,
            num_classes=self.num_classes,
            lambda_coord=self.lambda_coord,
            lambda_noobj=self.lambda_noobj,
        )
        return config
