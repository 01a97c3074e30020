"""The YOLOv8 loss: task-aligned assignment, then BCE + CIoU + DFL.

Per image `i`, with the targets of `task_aligned_assign` (no gradient
through the assignment): target scores `T_ac` (the normalized alignment on
the assigned class, 0 elsewhere), target boxes, foreground anchors `fg`,
and per-anchor weights `w_a = sum_c T_ac`:

    cls_i = sum_{a, c} BCE(T_ac, sigmoid(cls_logit_ac))
    box_i = sum_{a in fg} w_a * (1 - CIoU(pred_box_a, target_box_a))
    dfl_i = sum_{a in fg} w_a * mean_{side} DFL(target_distance, logits)
    L_i   = (7.5 box_i + 0.5 cls_i + 1.5 dfl_i) * B / max(sum_{i, a, c} T, 1)

The boxes and distances are in stride units of each anchor's level;
`pred_box_a` comes from the expected DFL distances (see
`layers.heads.anchor_free`).

Normalisation (`normalization="batch"`, the default) is Ultralytics': the
sum of target scores over the whole batch, `S`. Each image's loss is
multiplied by the batch size `B`, so that the batch mean Keras takes
(`sum_over_batch_size`) equals `sum_i (...) / S`, the number Ultralytics
logs (its `loss_items`; its backward pass uses `B` times that).
`normalization="image"` divides each image by its own `max(S_i, 1)`
instead: per-image losses that do not depend on the rest of the batch.
"""

import numbers

import keras
import numpy as np
import tensorflow as tf

from layers.assigners.task_aligned import task_aligned_assign
from layers.heads.anchor_free import check_head_args
from layers.heads.anchor_free import dfl_distances
from layers.heads.anchor_free import distances_to_boxes
from layers.heads.anchor_free import make_anchor_points
from layers.losses.box import ciou
from layers.losses.dfl import distribution_focal_loss
from layers.serialization import register

NORMALIZATIONS = ("batch", "image")


def _check_args(num_classes, reg_max, normalization, weights):
    check_head_args(num_classes, reg_max)
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"Expected normalization one of {NORMALIZATIONS}. "
            f"Received: normalization={normalization!r}"
        )
    for key, value in weights.items():
        if isinstance(value, bool) or not (
            isinstance(value, numbers.Real) and value >= 0
        ):
            raise ValueError(f"Expected {key} >= 0. Received: {key}={value}")


def _anchors(image_size, strides, dtype):
    """`(A, 2)` points, `(A, 1)` strides and `(4,)` pixel scale."""
    points, point_strides = make_anchor_points(image_size, strides)
    if isinstance(image_size, numbers.Integral):
        height = width = int(image_size)
    else:
        height, width = (int(v) for v in image_size)
    scale = np.array([width, height, width, height], np.float32)
    return (
        tf.constant(points, dtype),
        tf.constant(point_strides, dtype),
        tf.constant(scale, dtype),
    )


def _split(y_pred, num_classes, reg_max, num_anchors):
    depth = 4 * reg_max + num_classes
    if y_pred.shape.rank is not None and (
        y_pred.shape.rank != 3
        or y_pred.shape[-1] not in (depth, None)
        or y_pred.shape[1] not in (num_anchors, None)
    ):
        raise ValueError(
            f"Expected y_pred of shape (batch, {num_anchors}, {depth}) "
            "(A anchors for image_size and strides, 4 * reg_max + "
            f"num_classes channels). Received: y_pred.shape={y_pred.shape}"
        )
    return y_pred[..., : 4 * reg_max], y_pred[..., 4 * reg_max :]


def assign_yolov8_targets(
    y_true,
    y_pred,
    *,
    num_classes: int,
    image_size,
    reg_max: int = 16,
    strides=(8, 16, 32),
    topk: int = 10,
    alpha: float = 0.5,
    beta: float = 6.0,
):
    """The task-aligned targets of the YOLOv8 loss (no gradient).

    Args:
        y_true: `(batch, max_boxes, 5)` rows `[class, x0, y0, x1, y1]`,
            coordinates normalized to `[0, 1]`, class `-1` for padding.
        y_pred: `(batch, A, 4 * reg_max + p)` output of `anchor_free_head`.
        num_classes: p.
        image_size: int, or `(height, width)`, in pixels.
        reg_max: number of distance bins per side.
        strides: the head's strides.
        topk: see `task_aligned_assign`.
        alpha: see `task_aligned_assign`.
        beta: see `task_aligned_assign`.

    Returns:
        A dict of tensors in the dtype of `y_pred`: `"boxes"` `(batch, A,
        4)` target boxes in pixels (zeros on background), `"scores"`
        `(batch, A, p)` target scores, `"foreground"` `(batch, A)` bool.
    """
    y_pred = tf.stop_gradient(tf.convert_to_tensor(y_pred))
    dtype = y_pred.dtype
    points, point_strides, scale = _anchors(image_size, strides, dtype)
    box_logits, cls_logits = _split(
        y_pred, num_classes, reg_max, points.shape[0]
    )
    distances = dfl_distances(box_logits, reg_max) * point_strides
    pred_boxes = distances_to_boxes(points, distances)
    y_true = tf.cast(y_true, dtype)
    boxes, scores, foreground = task_aligned_assign(
        tf.sigmoid(cls_logits),
        pred_boxes,
        points,
        y_true[..., 1:5] * scale,
        tf.cast(tf.round(y_true[..., 0]), tf.int32),
        topk=topk,
        alpha=alpha,
        beta=beta,
    )
    return {"boxes": boxes, "scores": scores, "foreground": foreground}


def yolov8_loss_components(
    targets,
    y_pred,
    *,
    num_classes: int,
    image_size,
    reg_max: int = 16,
    strides=(8, 16, 32),
    box_weight: float = 7.5,
    cls_weight: float = 0.5,
    dfl_weight: float = 1.5,
    normalization: str = "batch",
):
    """The three weighted, normalized terms of the YOLOv8 loss per image.

    Gradients flow to `y_pred` only; `targets` are constants.

    Args:
        targets: the dict of `assign_yolov8_targets`.
        y_pred: `(batch, A, 4 * reg_max + p)` output of `anchor_free_head`.
        num_classes: p.
        image_size: int, or `(height, width)`, in pixels.
        reg_max: number of distance bins per side.
        strides: the head's strides.
        box_weight: weight of the CIoU term.
        cls_weight: weight of the BCE term.
        dfl_weight: weight of the DFL term.
        normalization: `"batch"` or `"image"` (see the module docstring).

    Returns:
        A dict `"box"`, `"cls"`, `"dfl"` of `(batch,)` tensors whose sum
        is `yolov8_loss`.
    """
    _check_args(
        num_classes,
        reg_max,
        normalization,
        dict(
            box_weight=box_weight, cls_weight=cls_weight, dfl_weight=dfl_weight
        ),
    )
    y_pred = tf.convert_to_tensor(y_pred)
    dtype = y_pred.dtype
    points, point_strides, _ = _anchors(image_size, strides, dtype)
    box_logits, cls_logits = _split(
        y_pred, num_classes, reg_max, points.shape[0]
    )
    target_scores = tf.stop_gradient(tf.cast(targets["scores"], dtype))
    foreground = tf.cast(targets["foreground"], dtype)
    # Everything box-related in stride units of each anchor's level.
    grid_points = points / point_strides
    target_boxes = tf.cast(targets["boxes"], dtype) / point_strides
    # Background anchors get a harmless box (their terms are multiplied by
    # 0, but a degenerate box could make a 0 * inf = NaN gradient).
    placeholder = tf.concat([grid_points - 1, grid_points + 1], axis=-1)
    target_boxes = tf.where(
        foreground[..., None] > 0, target_boxes, placeholder
    )
    target_boxes = tf.stop_gradient(target_boxes)
    pred_boxes = distances_to_boxes(
        grid_points, dfl_distances(box_logits, reg_max)
    )
    weight = tf.reduce_sum(target_scores, axis=-1) * foreground  # (b, A)

    bce = tf.nn.sigmoid_cross_entropy_with_logits(
        labels=target_scores, logits=cls_logits
    )
    cls_sum = tf.reduce_sum(bce, axis=[1, 2])
    box_sum = tf.reduce_sum(
        weight * (1.0 - ciou(pred_boxes, target_boxes)), axis=1
    )
    target_distances = tf.concat(
        [
            grid_points - target_boxes[..., :2],
            target_boxes[..., 2:] - grid_points,
        ],
        axis=-1,
    )
    shape = tf.shape(box_logits)
    dist_logits = tf.reshape(
        box_logits, tf.concat([shape[:-1], [4, reg_max]], axis=0)
    )
    dfl_sum = tf.reduce_sum(
        weight * distribution_focal_loss(target_distances, dist_logits),
        axis=1,
    )

    per_image = tf.reduce_sum(target_scores, axis=[1, 2])
    if normalization == "batch":
        batch = tf.cast(tf.shape(y_pred)[0], dtype)
        scale = batch / tf.maximum(tf.reduce_sum(per_image), 1.0)
    else:
        scale = 1.0 / tf.maximum(per_image, 1.0)
    return {
        "box": box_weight * box_sum * scale,
        "cls": cls_weight * cls_sum * scale,
        "dfl": dfl_weight * dfl_sum * scale,
    }


def yolov8_loss(
    y_true,
    y_pred,
    *,
    num_classes: int,
    image_size,
    reg_max: int = 16,
    strides=(8, 16, 32),
    box_weight: float = 7.5,
    cls_weight: float = 0.5,
    dfl_weight: float = 1.5,
    normalization: str = "batch",
    topk: int = 10,
    alpha: float = 0.5,
    beta: float = 6.0,
):
    """Per-image YOLOv8 loss (formula and normalisation: module docstring).

    Args:
        y_true: `(batch, max_boxes, 5)` rows `[class, x0, y0, x1, y1]`,
            coordinates normalized to `[0, 1]`, class `-1` for padding
            (an image may have no box at all).
        y_pred: `(batch, A, 4 * reg_max + p)` output of `anchor_free_head`,
            `A` the anchor count of `make_anchor_points(image_size,
            strides)`.
        num_classes: p.
        image_size: int, or `(height, width)`, the input size in pixels.
        reg_max: number of distance bins per side.
        strides: the head's strides.
        box_weight: weight of the CIoU term.
        cls_weight: weight of the BCE term.
        dfl_weight: weight of the DFL term.
        normalization: `"batch"` (Ultralytics) or `"image"`.
        topk: anchors considered per box by the assigner.
        alpha: score exponent of the assigner's alignment metric.
        beta: IoU exponent of the assigner's alignment metric.

    Returns:
        `(batch,)` loss values, in the dtype of `y_pred`.
    """
    _check_args(
        num_classes,
        reg_max,
        normalization,
        dict(
            box_weight=box_weight, cls_weight=cls_weight, dfl_weight=dfl_weight
        ),
    )
    common = dict(
        num_classes=num_classes,
        image_size=image_size,
        reg_max=reg_max,
        strides=strides,
    )
    targets = assign_yolov8_targets(
        y_true, y_pred, topk=topk, alpha=alpha, beta=beta, **common
    )
    terms = yolov8_loss_components(
        targets,
        y_pred,
        box_weight=box_weight,
        cls_weight=cls_weight,
        dfl_weight=dfl_weight,
        normalization=normalization,
        **common,
    )
    return terms["box"] + terms["cls"] + terms["dfl"]


@register
class YoloV8Loss(keras.losses.Loss):
    """The YOLOv8 loss as a Keras `Loss` (see `yolov8_loss`).

    Args:
        num_classes: p.
        image_size: int, or `(height, width)`, the input size in pixels.
        reg_max: number of distance bins per side. Defaults to `16`.
        strides: the head's strides. Defaults to `(8, 16, 32)`.
        box_weight: weight of the CIoU term. Defaults to `7.5`.
        cls_weight: weight of the BCE term. Defaults to `0.5`.
        dfl_weight: weight of the DFL term. Defaults to `1.5`.
        normalization: `"batch"` (default) or `"image"`.
        topk: anchors considered per box by the assigner. Defaults to `10`.
        alpha: score exponent of the alignment metric. Defaults to `0.5`.
        beta: IoU exponent of the alignment metric. Defaults to `6.0`.

    Call arguments:
        y_true: `(batch, max_boxes, 5)` rows `[class, x0, y0, x1, y1]`,
            normalized, class `-1` for padding.
        y_pred: `(batch, A, 4 * reg_max + p)` raw head output.

    Example:

    >>> loss = YoloV8Loss(num_classes=3, image_size=320)
    """

    def __init__(
        self,
        num_classes,
        image_size,
        reg_max=16,
        strides=(8, 16, 32),
        box_weight=7.5,
        cls_weight=0.5,
        dfl_weight=1.5,
        normalization="batch",
        topk=10,
        alpha=0.5,
        beta=6.0,
        name="yolov8_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        _check_args(
            num_classes,
            reg_max,
            normalization,
            dict(
                box_weight=box_weight,
                cls_weight=cls_weight,
                dfl_weight=dfl_weight,
            ),
        )
        # Validates image_size and strides.
        make_anchor_points(image_size, strides)
        self.num_classes = int(num_classes)
        self.image_size = (
            int(image_size)
            if isinstance(image_size, numbers.Integral)
            else [int(v) for v in image_size]
        )
        self.reg_max = int(reg_max)
        self.strides = [int(s) for s in strides]
        self.box_weight = float(box_weight)
        self.cls_weight = float(cls_weight)
        self.dfl_weight = float(dfl_weight)
        self.normalization = normalization
        self.topk = int(topk)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, y_true, y_pred):
        return yolov8_loss(
            y_true,
            y_pred,
            num_classes=self.num_classes,
            image_size=self.image_size,
            reg_max=self.reg_max,
            strides=self.strides,
            box_weight=self.box_weight,
            cls_weight=self.cls_weight,
            dfl_weight=self.dfl_weight,
            normalization=self.normalization,
            topk=self.topk,
            alpha=self.alpha,
            beta=self.beta,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            image_size=self.image_size,
            reg_max=self.reg_max,
            strides=self.strides,
            box_weight=self.box_weight,
            cls_weight=self.cls_weight,
            dfl_weight=self.dfl_weight,
            normalization=self.normalization,
            topk=self.topk,
            alpha=self.alpha,
            beta=self.beta,
        )
        return config
