"""YOLOv8's anchor-free, decoupled head and its distribution (DFL) decoding.

Every cell of every level is one anchor point at the cell centre. Per
point the head predicts `4 * reg_max` box logits and `p` class logits:
for each side `(left, top, right, bottom)` a distribution over the
distances `0, 1, ..., reg_max - 1` (in units of the level's stride), and
one sigmoid logit per class. Channel `k * reg_max + j` is the logit of
distance `j` for side `k`.

Decoding (distribution focal loss, Li et al. 2020): the distance of side
`k` is the expectation `d_k = sum_j j * softmax(logits_k)_j`, and the box
around the point `(x, y)` at stride `s` is
`(x - s d_left, y - s d_top, x + s d_right, y + s d_bottom)`.
"""

import math
import numbers

import keras
import numpy as np
import tensorflow as tf

from layers.blocks.residual import conv_bn_act
from layers.serialization import register


def _image_hw(image_size) -> tuple[int, int]:
    if isinstance(image_size, numbers.Integral) and not isinstance(
        image_size, bool
    ):
        hw = (int(image_size), int(image_size))
    elif isinstance(image_size, (list, tuple)) and len(image_size) == 2:
        hw = tuple(int(v) for v in image_size)
    else:
        hw = None
    if hw is None or min(hw) < 1:
        raise ValueError(
            "Expected image_size to be a positive int or a (height, width) "
            f"pair. Received: image_size={image_size}"
        )
    return hw


def _check_strides(strides) -> tuple[int, ...]:
    ok = isinstance(strides, (list, tuple)) and len(strides) > 0
    ok = ok and all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
        for s in strides
    )
    if not ok:
        raise ValueError(
            "Expected strides to be a non-empty list of positive integers. "
            f"Received: strides={strides}"
        )
    return tuple(int(s) for s in strides)


def make_anchor_points(image_size, strides=(8, 16, 32)):
    """Anchor points at the cell centres of every level, in pixels.

    Levels come in the order of `strides`; within a level, cells are in
    row-major order (the order of reshaping a `(H, W, C)` map to
    `(H * W, C)`). A level of stride `s` has `ceil(H / s) x ceil(W / s)`
    cells, the size a stack of stride-2 `"same"` convolutions gives.

    Args:
        image_size: int, or `(height, width)`, in pixels.
        strides: the levels' strides.

    Returns:
        A tuple of float32 numpy arrays `(points, strides)`: `(A, 2)` the
        `(x, y)` pixel coordinates of the cell centres, and `(A, 1)` the
        stride of each point's level, with `A = sum_l H_l * W_l`.

    Example:

    >>> points, stride = make_anchor_points(16, strides=(8, 16))
    >>> points.tolist()
    [[4.0, 4.0], [12.0, 4.0], [4.0, 12.0], [12.0, 12.0], [8.0, 8.0]]
    >>> stride[:, 0].tolist()
    [8.0, 8.0, 8.0, 8.0, 16.0]
    """
    height, width = _image_hw(image_size)
    points, point_strides = [], []
    for s in _check_strides(strides):
        rows, cols = -(-height // s), -(-width // s)
        ys, xs = np.meshgrid(
            np.arange(rows, dtype=np.float64),
            np.arange(cols, dtype=np.float64),
            indexing="ij",
        )
        xy = np.stack([xs.ravel(), ys.ravel()], axis=-1)
        points.append((xy + 0.5) * s)
        point_strides.append(np.full((rows * cols, 1), s, np.float64))
    return (
        np.concatenate(points).astype(np.float32),
        np.concatenate(point_strides).astype(np.float32),
    )


def dfl_distances(box_logits, reg_max: int):
    """Expected distances from box logits (softmax over `reg_max` bins).

    Args:
        box_logits: `(..., 4 * reg_max)` logits.
        reg_max: number of bins per side.

    Returns:
        `(..., 4)` distances `(left, top, right, bottom)` in `[0, reg_max -
        1]`, in stride units.
    """
    box_logits = tf.convert_to_tensor(box_logits)
    shape = tf.shape(box_logits)
    logits = tf.reshape(
        box_logits, tf.concat([shape[:-1], [4, reg_max]], axis=0)
    )
    bins = tf.range(reg_max, dtype=box_logits.dtype)
    return tf.reduce_sum(tf.nn.softmax(logits, axis=-1) * bins, axis=-1)


def distances_to_boxes(points, distances):
    """Boxes `(x - l, y - t, x + r, y + b)` around points.

    Args:
        points: `(..., 2)` `(x, y)` points.
        distances: `(..., 4)` `(l, t, r, b)` distances, in the points' units.

    Returns:
        `(..., 4)` `"xyxy"` boxes.
    """
    return tf.concat(
        [points - distances[..., :2], points + distances[..., 2:]], axis=-1
    )


def check_head_args(num_classes, reg_max) -> None:
    """Validates the class count and the DFL bin count (head, decoder and
    loss share these checks)."""
    if isinstance(num_classes, bool) or not (
        isinstance(num_classes, numbers.Integral) and num_classes > 0
    ):
        raise ValueError(
            "Expected num_classes to be a positive integer. "
            f"Received: num_classes={num_classes}"
        )
    if isinstance(reg_max, bool) or not (
        isinstance(reg_max, numbers.Integral) and reg_max >= 2
    ):
        raise ValueError(
            "Expected reg_max to be an integer >= 2. "
            f"Received: reg_max={reg_max}"
        )


def anchor_free_head(
    features,
    num_classes: int,
    *,
    reg_max: int = 16,
    name: str = "head",
    activation: str = "silu",
    kernel_regularizer=None,
    kernel_initializer="glorot_uniform",
    norm: str = "before",
):
    """YOLOv8's decoupled detection head on every level, concatenated.

    Per level, two branches of two 3x3 conv-BN-activation and a 1x1 conv:
    the box branch (`max(16, C3 // 4, 4 * reg_max)` channels) ends in
    `4 * reg_max` logits whose bias starts at 1.0; the class branch
    (`max(C3, min(p, 100))` channels, `C3` the channels of the first
    level) ends in `p` logits whose bias starts at
    `log(5 / p / (H_l W_l))`: about 5 objects per image spread over the
    level's `H_l W_l` cells and the `p` classes. At 640 px that is
    YOLOv8's `log(5 / p / (640 / s)^2)`. A level of unknown size uses the
    cell count of a 640 px image at stride `8 * 2^l`.

    Args:
        features: list of `(batch, H_l, W_l, C_l)` tensors, finest first
            (`[N3, N4, N5]` from `pan_neck`).
        num_classes: p.
        reg_max: number of distance bins per side.
        name: prefix for every layer's name.
        activation: activation of the hidden convs.
        kernel_regularizer: optional Keras regularizer on every kernel.
        kernel_initializer: every kernel's initializer (`conv_bn_act`).
        norm: the batch norm's place (`conv_bn_act`).

    Returns:
        `(batch, A, 4 * reg_max + p)` raw predictions, `A = sum_l H_l W_l`,
        levels in order and cells row-major within a level (the order of
        `make_anchor_points`): box logits first, then class logits.
    """
    check_head_args(num_classes, reg_max)
    first = features[0].shape[-1]
    box_ch = max(16, first // 4, 4 * reg_max)
    cls_ch = max(first, min(num_classes, 100))
    conv = dict(
        activation=activation,
        kernel_regularizer=kernel_regularizer,
        kernel_initializer=kernel_initializer,
        norm=norm,
    )
    depth = 4 * reg_max + num_classes
    outputs = []
    for level, x in enumerate(features):
        tag = f"{name}_p{level + 3}"
        cells = None
        if x.shape[1] is not None and x.shape[2] is not None:
            cells = x.shape[1] * x.shape[2]
        if not cells:
            cells = (640 // (8 * 2**level)) ** 2
        cls_bias = math.log(5.0 / num_classes / cells)
        b = conv_bn_act(x, box_ch, 3, name=f"{tag}_box1", **conv)
        b = conv_bn_act(b, box_ch, 3, name=f"{tag}_box2", **conv)
        b = keras.layers.Conv2D(
            4 * reg_max,
            1,
            kernel_regularizer=kernel_regularizer,
            bias_initializer=keras.initializers.Constant(1.0),
            name=f"{tag}_box_out",
        )(b)
        c = conv_bn_act(x, cls_ch, 3, name=f"{tag}_cls1", **conv)
        c = conv_bn_act(c, cls_ch, 3, name=f"{tag}_cls2", **conv)
        c = keras.layers.Conv2D(
            num_classes,
            1,
            kernel_regularizer=kernel_regularizer,
            bias_initializer=keras.initializers.Constant(cls_bias),
            name=f"{tag}_cls_out",
        )(c)
        y = keras.layers.Concatenate(name=f"{tag}_concat")([b, c])
        outputs.append(keras.layers.Reshape((-1, depth), name=f"{tag}_flat")(y))
    if len(outputs) == 1:
        return outputs[0]
    return keras.layers.Concatenate(axis=1, name=f"{name}_concat")(outputs)


@register
class DFLDecode(keras.layers.Layer):
    """Decodes anchor-free head outputs into boxes and class scores.

    Distances are the expectations of the softmax over `reg_max` bins
    (see the module docstring), boxes are built around the anchor points
    of `make_anchor_points(image_size, strides)` (stored as constants, so
    the layer runs with any batch size, also in a SavedModel) and divided
    by the image width and height. Boxes are not clipped to the image.
    Scores are the sigmoid of the class logits.

    Args:
        num_classes: p.
        image_size: int, or `(height, width)`, the model's input size in
            pixels.
        reg_max: number of distance bins per side. Defaults to `16`.
        strides: the levels' strides. Defaults to `(8, 16, 32)`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        raw: `(batch, A, 4 * reg_max + p)` output of `anchor_free_head`.

    Returns:
        A tuple `(boxes, scores)`: `(batch, A, 4)` normalized `"xyxy"`
        boxes and `(batch, A, p)` sigmoid scores.

    Example:

    >>> raw = keras.Input((21, 4 * 16 + 3))
    >>> boxes, scores = DFLDecode(3, 32)(raw)
    >>> boxes.shape, scores.shape
    ((None, 21, 4), (None, 21, 3))
    """

    def __init__(
        self, num_classes, image_size, reg_max=16, strides=(8, 16, 32), **kwargs
    ):
        super().__init__(**kwargs)
        check_head_args(num_classes, reg_max)
        height, width = _image_hw(image_size)
        self.num_classes = int(num_classes)
        self.image_size = (
            int(image_size)
            if isinstance(image_size, numbers.Integral)
            else [height, width]
        )
        self.reg_max = int(reg_max)
        self.strides = list(_check_strides(strides))
        points, point_strides = make_anchor_points(image_size, self.strides)
        scale = np.array([width, height, width, height], np.float32)
        # Pixels -> normalized, folded into constants: box = centre +
        # distance * (stride / size), with centre = point / size.
        self._centres = np.concatenate([points, points], -1) / scale
        self._scales = point_strides / scale
        self._num_anchors = points.shape[0]

    @property
    def num_anchors(self) -> int:
        """A, the number of anchor points."""
        return self._num_anchors

    def build(self, input_shape):
        depth = 4 * self.reg_max + self.num_classes
        if len(input_shape) != 3 or input_shape[-1] not in (depth, None):
            raise ValueError(
                f"Expected raw predictions of shape (batch, A, {depth}). "
                f"Received: input_shape={input_shape}"
            )
        if input_shape[1] not in (self._num_anchors, None):
            raise ValueError(
                f"Expected A = {self._num_anchors} anchor points for "
                f"image_size={self.image_size} and strides={self.strides}. "
                f"Received: input_shape={input_shape}"
            )

    def call(self, raw):
        raw = tf.convert_to_tensor(raw)
        dtype = raw.dtype
        box_logits = raw[..., : 4 * self.reg_max]
        distances = dfl_distances(box_logits, self.reg_max)
        signs = tf.constant([-1.0, -1.0, 1.0, 1.0], dtype)
        boxes = tf.constant(
            self._centres, dtype
        ) + signs * distances * tf.constant(self._scales, dtype)
        scores = tf.sigmoid(raw[..., 4 * self.reg_max :])
        return boxes, scores

    def compute_output_shape(self, input_shape):
        batch, anchors = input_shape[0], input_shape[1]
        return (batch, anchors, 4), (batch, anchors, self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            image_size=self.image_size,
            reg_max=self.reg_max,
            strides=self.strides,
        )
        return config
