"""Intersection over union of `"xyxy"` boxes.

The cheatsheet's definition: `IoU(B_p, B_a) = area(B_p ∩ B_a) /
area(B_p ∪ B_a)`. A box with `x_max < x_min` or `y_max < y_min` counts as
empty. When the union is empty (two zero-area boxes) the IoU is 0, never
NaN, and so is its gradient.
"""

import tensorflow as tf


def _area(boxes):
    x_min, y_min, x_max, y_max = tf.unstack(boxes, 4, axis=-1)
    return tf.maximum(x_max - x_min, 0.0) * tf.maximum(y_max - y_min, 0.0)


def _iou(a, b):
    """IoU of boxes `a` and `b` that broadcast against each other."""
    inter_min = tf.maximum(a[..., :2], b[..., :2])
    inter_max = tf.minimum(a[..., 2:], b[..., 2:])
    inter_wh = tf.maximum(inter_max - inter_min, 0.0)
    intersection = inter_wh[..., 0] * inter_wh[..., 1]
    union = _area(a) + _area(b) - intersection
    return tf.math.divide_no_nan(intersection, union)


def pairwise_iou(boxes_a, boxes_b) -> tf.Tensor:
    """IoU of every box of `boxes_a` with every box of `boxes_b`.

    Args:
        boxes_a: float tensor of shape `(..., N, 4)`, `"xyxy"`.
        boxes_b: float tensor of shape `(..., M, 4)`, `"xyxy"`, same dtype;
            its leading dimensions broadcast against those of `boxes_a`.

    Returns:
        A tensor of shape `(..., N, M)` with values in `[0, 1]`; entry
        `[..., i, j]` is the IoU of `boxes_a[..., i, :]` and
        `boxes_b[..., j, :]`.

    Example:

    >>> pairwise_iou([[0.0, 0.0, 2.0, 2.0]], [[1.0, 1.0, 3.0, 3.0]])
    <tf.Tensor: shape=(1, 1), dtype=float32,
    numpy=array([[0.14285715]], dtype=float32)>
    """
    boxes_a = tf.convert_to_tensor(boxes_a)
    boxes_b = tf.convert_to_tensor(boxes_b, dtype=boxes_a.dtype)
    return _iou(boxes_a[..., :, None, :], boxes_b[..., None, :, :])


def elementwise_iou(boxes_a, boxes_b) -> tf.Tensor:
    """IoU of corresponding boxes: `boxes_a[i]` with `boxes_b[i]`.

    Args:
        boxes_a: float tensor of shape `(..., 4)`, `"xyxy"`.
        boxes_b: float tensor of shape `(..., 4)`, `"xyxy"`, same dtype;
            broadcasts against `boxes_a`.

    Returns:
        A tensor of shape `(...)` with values in `[0, 1]`.

    Example:

    >>> elementwise_iou([[0.0, 0.0, 2.0, 2.0]], [[0.0, 0.0, 2.0, 1.0]])
    <tf.Tensor: shape=(1,), dtype=float32, numpy=array([0.5], dtype=float32)>
    """
    boxes_a = tf.convert_to_tensor(boxes_a)
    boxes_b = tf.convert_to_tensor(boxes_b, dtype=boxes_a.dtype)
    return _iou(boxes_a, boxes_b)
