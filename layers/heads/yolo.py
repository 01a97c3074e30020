"""The YOLO head: a 1x1 convolution to `k * (5 + p)` channels, and decoding."""

import math

import keras

from layers.boxes.yolo_codec import check_yolo_args
from layers.boxes.yolo_codec import decode_yolo_predictions
from layers.serialization import register


def yolo_head(
    x,
    num_anchors: int,
    num_classes: int,
    *,
    name: str,
    prior_probability: float = 0.01,
    kernel_regularizer=None,
):
    """Projects features to the YOLO grid of raw predictions.

    The objectness bias starts at `log(p / (1 - p))` with p=0.01 (the
    RetinaNet prior) so that the many empty cells do not swamp the first
    steps of training.

    Args:
        x: `(batch, G, G, C)` features.
        num_anchors: k.
        num_classes: p.
        name: the layer's name.
        prior_probability: initial objectness probability.
        kernel_regularizer: optional Keras regularizer.

    Returns:
        `(batch, G, G, k * (5 + p))` raw predictions.
    """
    depth = 5 + num_classes
    bias = [0.0] * (num_anchors * depth)
    prior = math.log(prior_probability / (1.0 - prior_probability))
    for a in range(num_anchors):
        bias[a * depth] = prior
    conv = keras.layers.Conv2D(
        num_anchors * depth,
        1,
        kernel_regularizer=kernel_regularizer,
        bias_initializer=keras.initializers.Constant(0.0),
        name=name,
    )
    y = conv(x)
    conv.bias.assign(bias)
    return y


@register
class YoloDecode(keras.layers.Layer):
    """Decodes raw YOLO predictions into boxes and per-class scores.

    Args:
        anchors: `(k, 2)` anchor (height, width) pairs, fractions of the image.
        num_classes: p.

    Call arguments:
        raw: `(batch, G, G, k * (5 + p))` raw predictions.

    Returns:
        A tuple `(boxes, scores)`: `(batch, G*G*k, 4)` normalized xyxy boxes
        and `(batch, G*G*k, p)` scores.

    Example:
        >>> boxes, scores = YoloDecode([[0.2, 0.2]], 3)(raw)
    """

    def __init__(self, anchors, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.anchors, self.num_classes = check_yolo_args(anchors, num_classes)

    def call(self, raw):
        return decode_yolo_predictions(
            raw, anchors=self.anchors, num_classes=self.num_classes
        )

    def compute_output_shape(self, input_shape):
        batch, rows, cols = input_shape[0], input_shape[1], input_shape[2]
        n = None
        if rows is not None and cols is not None:
            n = rows * cols * len(self.anchors)
        return (batch, n, 4), (batch, n, self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(anchors=self.anchors, num_classes=self.num_classes)
        return config
