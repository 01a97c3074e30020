"""Assembles the YOLO detector from `layers/`: backbone, neck, head, loss.

Two heads share decoding-to-boxes and NMS:
- `yolo`: the cheatsheet's anchor grid (G x G x k(5+p)) on a residual
  backbone with batch norm, trained with `layers.losses.yolo.YoloLoss`;
- `anchor_free`: a YOLOv8-style decoupled head with distribution focal
  regression on a CSP backbone and PAN neck, trained with CIoU + DFL + BCE
  and the task-aligned assigner (`layers.losses.yolov8.YoloV8Loss`).
"""

import dataclasses

import keras

from apps.common import optimizers
from apps.common import transfer
from apps.detect.config import DetectConfig
from apps.detect.data import class_names
from layers.blocks.csp import SIZES
from layers.blocks.csp import csp_backbone
from layers.blocks.csp import pan_neck
from layers.blocks.residual import conv_bn_act
from layers.blocks.residual import residual_block
from layers.boxes.nms import DetectionNMS
from layers.heads.anchor_free import DFLDecode
from layers.heads.anchor_free import anchor_free_head
from layers.heads.yolo import YoloDecode
from layers.heads.yolo import yolo_head
from layers.losses.yolo import YoloLoss
from layers.losses.yolov8 import YoloV8Loss

GRID_STRIDE = 8  # the anchor-grid head predicts on stride-8 features
REG_MAX = 16
STRIDES = (8, 16, 32)
# Layer-name prefixes for transfer learning (apps.common.transfer).
BACKBONE_PREFIXES = ("stage", "backbone")
EARLY_PREFIXES = (
    "stage1_",
    "stage2_",
    "backbone_stem",
    "backbone_down2",
    "backbone_c2f2",
    "backbone_down3",
    "backbone_c2f3",
)
BASE_WIDTHS = (16, 32, 64, 128)
BASE_DEPTHS = (0, 1, 2, 2)


def stage_widths(width: float) -> list[int]:
    """Channel counts of the four stages for a width multiplier."""
    return [max(8, int(round(c * width / 8)) * 8) for c in BASE_WIDTHS]


def stage_depths(depth: float) -> list[int]:
    """Residual blocks per stage for a depth multiplier."""
    return [int(round(d * depth)) for d in BASE_DEPTHS]


def build_detector(
    *,
    image_size: int,
    num_classes: int,
    anchors: list[list[float]],
    width: float = 1.0,
    depth: float = 1.0,
    dropout: float = 0.0,
    activation: str = "silu",
    kernel_regularizer=None,
    kernel_initializer="glorot_uniform",
    norm: str = "before",
) -> keras.Model:
    """Builds the training model: pixels in, raw YOLO grid out.

    A residual backbone with batch norm downsamples four times (stride 16);
    a small top-down neck upsamples the stride-16 features and joins them
    with the stride-8 ones, so the grid is `G = image_size / 8` while the
    receptive field covers the largest objects.

    Args:
        image_size: the square input size; a multiple of 16.
        num_classes: p.
        anchors: `(k, 2)` anchor (height, width) pairs.
        width: channel multiplier.
        depth: residual-block multiplier.
        dropout: spatial dropout rate before the head.
        activation: activation of every block.
        kernel_regularizer: optional Keras regularizer on every kernel.
        kernel_initializer: every kernel's initializer (`conv_bn_act`).
        norm: the batch norm's place (`conv_bn_act`).

    Returns:
        A Functional `keras.Model` mapping `(batch, S, S, 3)` float pixels in
        [0, 255] to `(batch, S/8, S/8, k * (5 + p))` raw predictions.
    """
    if image_size % 16:
        raise ValueError(
            "Expected image_size to be a multiple of 16. "
            f"Received: image_size={image_size}"
        )
    widths = stage_widths(width)
    depths = stage_depths(depth)
    reg = kernel_regularizer
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    features = []
    for s, (filters, blocks) in enumerate(zip(widths, depths), start=1):
        x = conv_bn_act(
            x,
            filters,
            3,
            2,
            name=f"stage{s}_down",
            activation=activation,
            kernel_regularizer=reg,
            kernel_initializer=kernel_initializer,
            norm=norm,
        )
        for b in range(blocks):
            x = residual_block(
                x,
                filters,
                name=f"stage{s}_block{b + 1}",
                activation=activation,
                kernel_regularizer=reg,
                kernel_initializer=kernel_initializer,
                norm=norm,
            )
        features.append(x)
    p8, p16 = features[2], features[3]
    up = keras.layers.UpSampling2D(2, name="neck_up")(p16)
    x = keras.layers.Concatenate(name="neck_concat")([p8, up])
    x = conv_bn_act(
        x,
        widths[2],
        1,
        name="neck_reduce",
        activation=activation,
        kernel_regularizer=reg,
        kernel_initializer=kernel_initializer,
        norm=norm,
    )
    x = residual_block(
        x,
        widths[2],
        name="neck_block",
        activation=activation,
        kernel_regularizer=reg,
        kernel_initializer=kernel_initializer,
        norm=norm,
    )
    if dropout:
        x = keras.layers.SpatialDropout2D(dropout, name="head_dropout")(x)
    outputs = yolo_head(
        x, len(anchors), num_classes, name="yolo_head", kernel_regularizer=reg
    )
    return keras.Model(inputs, outputs, name="yolo_detector")


def build_anchor_free_detector(
    *,
    image_size: int,
    num_classes: int,
    size: str = "n",
    activation: str = "silu",
    kernel_regularizer=None,
    kernel_initializer="glorot_uniform",
    norm: str = "before",
) -> keras.Model:
    """Builds the YOLOv8-style training model: pixels in, raw head out.

    Args:
        image_size: the square input size; a multiple of 32.
        num_classes: p.
        size: `n` or `s` (depth and width multipliers of YOLOv8).
        activation: activation of every block.
        kernel_regularizer: optional Keras regularizer on every kernel.
        kernel_initializer: every kernel's initializer (`conv_bn_act`).
        norm: the batch norm's place (`conv_bn_act`).

    Returns:
        A Functional `keras.Model` mapping `(batch, S, S, 3)` float pixels in
        [0, 255] to `(batch, A, 4 * 16 + p)` raw predictions over the
        anchor points of strides 8, 16 and 32.
    """
    if image_size % 32:
        raise ValueError(
            "Expected image_size to be a multiple of 32. "
            f"Received: image_size={image_size}"
        )
    if size not in SIZES:
        raise ValueError(
            f"Expected size in {sorted(SIZES)}. Received: size={size!r}"
        )
    depth, width = SIZES[size]
    common = dict(
        activation=activation,
        kernel_regularizer=kernel_regularizer,
        kernel_initializer=kernel_initializer,
        norm=norm,
    )
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    features = csp_backbone(x, width=width, depth=depth, **common)
    features = pan_neck(features, width=width, depth=depth, **common)
    outputs = anchor_free_head(features, num_classes, reg_max=REG_MAX, **common)
    return keras.Model(inputs, outputs, name=f"yolov8{size}_detector")


def decoder(
    head: str, *, anchors, num_classes: int, image_size: int
) -> keras.layers.Layer:
    """The layer turning raw head outputs into `(boxes, scores)`."""
    if head == "anchor_free":
        return DFLDecode(
            num_classes,
            image_size,
            reg_max=REG_MAX,
            strides=STRIDES,
            name="decode",
        )
    return YoloDecode(anchors, num_classes, name="decode")


def build_inference_model(
    detector: keras.Model,
    *,
    head: str = "yolo",
    anchors: list[list[float]],
    num_classes: int,
    score_threshold: float,
    iou_threshold: float,
    max_detections: int,
) -> keras.Model:
    """Wraps the training model with decoding and class-aware NMS.

    Returns:
        A Functional model mapping pixels to the dict `boxes` (normalized
        xyxy), `scores`, `classes` and `num_detections`.
    """
    raw = detector.output
    image_size = detector.input_shape[1]
    boxes, scores = decoder(
        head, anchors=anchors, num_classes=num_classes, image_size=image_size
    )(raw)
    boxes = keras.ops.clip(boxes, 0.0, 1.0)
    detections = DetectionNMS(
        score_threshold=score_threshold,
        iou_threshold=iou_threshold,
        max_detections=max_detections,
        name="nms",
    )(boxes, scores)
    return keras.Model(detector.input, detections, name="yolo_inference")


def inspect_model(cfg: DetectConfig) -> tuple[keras.Model, list[str]]:
    """The untrained training model of `cfg`, for `python -m apps.inspect`.

    Built without data: an empty `model.anchors` (fitted to the training
    boxes by k-means in `train`) gets placeholder anchors, whose values
    enter no shape or parameter count.

    Returns:
        `(model, notes)`: the model and notes on what was assumed (none).
    """
    m = cfg.model
    if m.head == "yolo" and not m.anchors:
        anchors = [[0.1 * (i + 1)] * 2 for i in range(m.num_anchors)]
        cfg = dataclasses.replace(
            cfg, model=dataclasses.replace(m, anchors=anchors)
        )
    return build_model(cfg, num_classes=len(class_names(cfg.data))), []


def build_model(
    cfg: DetectConfig,
    *,
    num_classes: int,
    steps_per_epoch: int | None = None,
    num_train_images: int = 0,
) -> keras.Model:
    """The compiled training model of `num_classes` classes; `train`, the
    tuner and the probes all call this.

    With `model.backbone_weights`, pretrained weights are loaded by layer
    name and layers are frozen by `model.freeze` before compiling.
    """
    m = cfg.model
    regularizer = optimizers.make_regularizer(cfg.regularization)
    if m.head == "anchor_free":
        detector = build_anchor_free_detector(
            image_size=cfg.data.image_size,
            num_classes=num_classes,
            size=m.size,
            activation=m.activation,
            kernel_initializer=m.initializer,
            norm=m.norm,
            kernel_regularizer=regularizer,
        )
        loss = YoloV8Loss(
            num_classes,
            cfg.data.image_size,
            reg_max=REG_MAX,
            strides=STRIDES,
        )
    else:
        detector = build_detector(
            image_size=cfg.data.image_size,
            num_classes=num_classes,
            anchors=m.anchors,
            width=m.width,
            depth=m.depth,
            dropout=cfg.regularization.dropout,
            activation=m.activation,
            kernel_initializer=m.initializer,
            norm=m.norm,
            kernel_regularizer=regularizer,
        )
        loss = YoloLoss(
            m.anchors,
            num_classes,
            lambda_coord=m.lambda_coord,
            lambda_noobj=m.lambda_noobj,
        )
    transfer.transfer(
        detector,
        m,
        num_train_images,
        backbone=BACKBONE_PREFIXES,
        early=EARLY_PREFIXES,
    )
    detector.compile(
        optimizer=optimizers.run_optimizer(cfg, steps_per_epoch),
        loss=loss,
    )
    return detector
