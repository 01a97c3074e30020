"""Bounding-box formats and conversions between them.

Every function takes a tensor whose last dimension is 4 and works for any
number of leading dimensions, in eager mode, in `tf.function` and in
`tf.data`. Supported formats:

- `"xyxy"`: `(x_min, y_min, x_max, y_max)`, the format used inside dlsuite.
- `"xywh"`: `(x_min, y_min, width, height)`, the COCO format.
- `"cxcywh"`: `(center_x, center_y, width, height)`, the YOLO format.
"""

import tensorflow as tf

FORMATS = ("xyxy", "xywh", "cxcywh")


def _check_format(value: str, arg_name: str) -> None:
    if value not in FORMATS:
        raise ValueError(
            f"Expected format one of {FORMATS}. Received: {arg_name}={value!r}"
        )


def _to_xyxy(boxes, source: str):
    if source == "xyxy":
        return boxes
    a, b, c, d = tf.split(boxes, 4, axis=-1)
    if source == "xywh":
        return tf.concat([a, b, a + c, b + d], axis=-1)
    # cxcywh
    half_w = c / 2
    half_h = d / 2
    return tf.concat([a - half_w, b - half_h, a + half_w, b + half_h], axis=-1)


def _from_xyxy(boxes, target: str):
    if target == "xyxy":
        return boxes
    x_min, y_min, x_max, y_max = tf.split(boxes, 4, axis=-1)
    width = x_max - x_min
    height = y_max - y_min
    if target == "xywh":
        return tf.concat([x_min, y_min, width, height], axis=-1)
    # cxcywh
    return tf.concat(
        [x_min + width / 2, y_min + height / 2, width, height], axis=-1
    )


def convert_format(boxes, source: str, target: str) -> tf.Tensor:
    """Converts boxes from one format to another.

    Args:
        boxes: float tensor of shape `(..., 4)` in the `source` format.
        source: one of `"xyxy"`, `"xywh"`, `"cxcywh"`.
        target: one of `"xyxy"`, `"xywh"`, `"cxcywh"`.

    Returns:
        A tensor of the same shape and dtype as `boxes`, in the `target`
        format.

    Example:

    >>> convert_format([[1.0, 2.0, 4.0, 6.0]], "xywh", "xyxy")
    <tf.Tensor: shape=(1, 4), dtype=float32,
    numpy=array([[1., 2., 5., 8.]], dtype=float32)>
    """
    _check_format(source, "source")
    _check_format(target, "target")
    boxes = tf.convert_to_tensor(boxes)
    if source == target:
        return boxes
    return _from_xyxy(_to_xyxy(boxes, source), target)


def _scale(boxes, height, width):
    boxes = tf.convert_to_tensor(boxes)
    height = tf.cast(height, boxes.dtype)
    width = tf.cast(width, boxes.dtype)
    return boxes, tf.stack([width, height, width, height], axis=-1)


def to_pixels(boxes, height, width) -> tf.Tensor:
    """Scales normalized boxes (coordinates in `[0, 1]`) to pixels.

    Written for `"xyxy"`, and equally correct for `"xywh"` and `"cxcywh"`
    since every format has x-like values at positions 0 and 2 and y-like
    values at positions 1 and 3.

    Args:
        boxes: float tensor of shape `(..., 4)`, normalized.
        height: image height in pixels: a number, or a tensor that
            broadcasts against `boxes[..., 0]` (e.g. `(batch, 1)` for
            boxes of shape `(batch, N, 4)`).
        width: image width in pixels, same rules as `height`.

    Returns:
        A tensor like `boxes`, in pixels.

    Example:

    >>> to_pixels([[0.5, 0.25, 1.0, 1.0]], height=100, width=200)
    <tf.Tensor: shape=(1, 4), dtype=float32,
    numpy=array([[100.,  25., 200., 100.]], dtype=float32)>
    """
    boxes, scale = _scale(boxes, height, width)
    return boxes * scale


def to_normalized(boxes, height, width) -> tf.Tensor:
    """Scales pixel boxes to normalized coordinates (the inverse of
    `to_pixels`).

    Args:
        boxes: float tensor of shape `(..., 4)`, in pixels.
        height: image height in pixels: a number, or a tensor that
            broadcasts against `boxes[..., 0]`.
        width: image width in pixels, same rules as `height`.

    Returns:
        A tensor like `boxes`, with coordinates relative to the image size.

    Example:

    >>> to_normalized([[100.0, 25.0, 200.0, 100.0]], height=100, width=200)
    <tf.Tensor: shape=(1, 4), dtype=float32,
    numpy=array([[0.5 , 0.25, 1.  , 1.  ]], dtype=float32)>
    """
    boxes, scale = _scale(boxes, height, width)
    return boxes / scale


def clip_boxes(boxes) -> tf.Tensor:
    """Clips normalized `"xyxy"` boxes to the image, i.e. to `[0, 1]`.

    Args:
        boxes: float tensor of shape `(..., 4)`, normalized `"xyxy"`.

    Returns:
        A tensor like `boxes` with every coordinate in `[0, 1]`. A box lying
        fully outside the image becomes a zero-area box on its border.

    Example:

    >>> clip_boxes([[-0.1, 0.2, 1.3, 0.9]])
    <tf.Tensor: shape=(1, 4), dtype=float32,
    numpy=array([[0. , 0.2, 1. , 0.9]], dtype=float32)>
    """
    boxes = tf.convert_to_tensor(boxes)
    return tf.clip_by_value(boxes, 0.0, 1.0)
