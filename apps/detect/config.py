"""The config tree of `apps.detect`."""

import dataclasses

from apps.common.config import check
from apps.common.sections import OptimizerConfig
from apps.common.sections import RegularizationConfig
from apps.common.sections import RuntimeConfig
from apps.common.sections import TrainConfig
from apps.common.sections import TuneConfig
from apps.common.sections import check_conv_options
from apps.common.sections import search
from apps.common.sections import validate_common

HEADS = ("yolo", "anchor_free")
SIZES = ("n", "s")
SOURCES = ("shapes", "manifest", "dataset", "tfds")


@dataclasses.dataclass
class DataConfig:
    """Where images come from and how they are augmented.

    `source: shapes` is the embedded synthetic dataset (circles, squares and
    triangles, generated from `seed`): no download, same data everywhere.
    `source: manifest` reads JSON manifests (`pipelines.manifest`) from
    `train_path`, `val_path` and `test_path` (defaults to `val_path`);
    unreadable images are skipped and listed unless `strict`.
    `source: dataset` reads the dataset YAML `dataset` (VOC, COCO, YOLO txt
    or manifest; see `pipelines.datasets.spec`); a relative path is looked
    up in the current folder, then in `apps/detect/configs/`.
    `source: tfds` reads the tensorflow-datasets detection builder
    `tfds_name` (e.g. `voc/2007`), which must already be downloaded.
    `mosaic` and `scale_jitter` are the probabilities of YOLOv4-style
    mosaic and of a random zoom, on top of the cheatsheet's augmentations
    scaled by `augment_strength`.
    `class_names` is filled in by `train` so a run never needs its data to
    name what it detects.
    """

    source: str = "shapes"
    train_path: str = ""
    val_path: str = ""
    test_path: str = ""
    dataset: str = ""
    tfds_name: str = ""
    strict: bool = False
    class_names: list[str] = dataclasses.field(default_factory=list)
    image_size: int = 96
    num_train: int = 2000
    num_val: int = 200
    num_test: int = 200
    max_boxes: int = 8
    seed: int = 0
    augment_strength: float = 1.0
    mosaic: float = 0.0
    scale_jitter: float = 0.0


@dataclasses.dataclass
class ModelConfig:
    """The detector: head, backbone size, anchors.

    `head: yolo` is the cheatsheet's anchor grid on a residual backbone
    (`width`, `depth` multipliers, `num_anchors`, `anchors`); `head:
    anchor_free` is YOLOv8-style (CSP backbone, PAN neck, DFL head, CIoU +
    DFL + BCE with the task-aligned assigner) in size `n` or `s`.

    `anchors` is a list of (height, width) fractions of the image, or empty
    to fit `num_anchors` anchors to the training boxes with k-means (YOLOv2's
    dimension clusters).

    `initializer` sets every convolution kernel's initializer (Xavier /
    Glorot, Keras' default, or He, made for ReLU-like activations); `norm`
    puts batch norm `before` the activation (the default), `after` it, or
    nowhere (`none`).
    """

    head: str = "yolo"
    size: str = "n"
    width: float = 1.0
    depth: float = 1.0
    num_anchors: int = 3
    anchors: list[list[float]] = dataclasses.field(default_factory=list)
    activation: str = "silu"
    initializer: str = "glorot_uniform"
    norm: str = "before"
    lambda_coord: float = 5.0
    lambda_noobj: float = 0.5
    backbone_weights: str = ""
    freeze: str = "auto"


@dataclasses.dataclass
class DetectionConfig:
    """The cheatsheet's NMS: drop p < score_threshold, then suppress boxes
    with IoU >= iou_threshold with a kept box. Evaluation uses
    `eval_score_threshold` so the precision-recall curve is complete."""

    score_threshold: float = 0.6
    iou_threshold: float = 0.5
    max_detections: int = 100
    eval_score_threshold: float = 0.01


@dataclasses.dataclass
class DetectConfig:
    """Root config of `python -m apps.detect`."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    detection: DetectionConfig = dataclasses.field(
        default_factory=DetectionConfig
    )
    optimizer: OptimizerConfig = dataclasses.field(
        default_factory=lambda: OptimizerConfig(learning_rate=2e-3)
    )
    regularization: RegularizationConfig = dataclasses.field(
        default_factory=RegularizationConfig
    )
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(epochs=16, batch_size=32)
    )
    tune: TuneConfig = dataclasses.field(
        default_factory=lambda: TuneConfig(
            objective="val_map50",
            direction="max",
            space=[
                search(
                    "learning_rate",
                    "optimizer.learning_rate",
                    low=3e-4,
                    high=3e-3,
                    sampling="log",
                ),
                search("width", "model.width", values=[0.5, 0.75, 1.0]),
                search(
                    "num_anchors",
                    "model.num_anchors",
                    low=1,
                    high=3,
                    kind="int",
                ),
                search(
                    "augment_strength",
                    "data.augment_strength",
                    values=[0.0, 0.5, 1.0, 1.5],
                ),
            ],
        )
    )
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)

    def validate(self) -> None:
        """Range checks that types alone cannot express."""
        validate_common(self)
        check_conv_options(self.model)
        d, m, det = self.data, self.model, self.detection
        check(d.source in SOURCES, "data.source", f"one of {SOURCES}", d.source)
        check(
            d.image_size >= 32 and d.image_size % 16 == 0,
            "data.image_size",
            "a multiple of 16, at least 32",
            d.image_size,
        )
        for key in ("num_train", "num_val", "num_test", "max_boxes"):
            value = getattr(d, key)
            check(value >= 1, f"data.{key}", ">= 1", value)
        check(
            d.augment_strength >= 0,
            "data.augment_strength",
            ">= 0",
            d.augment_strength,
        )
        check(m.head in HEADS, "model.head", f"one of {HEADS}", m.head)
        if m.head == "anchor_free":
            check(
                d.image_size % 32 == 0,
                "data.image_size",
                "a multiple of 32 for model.head=anchor_free",
                d.image_size,
            )
            check(
                m.size in SIZES, "model.size", f"one of {sorted(SIZES)}", m.size
            )
        check(
            m.freeze in ("auto", "none", "backbone", "early"),
            "model.freeze",
            "one of auto, none, backbone, early",
            m.freeze,
        )
        check(m.width > 0, "model.width", "> 0", m.width)
        check(m.depth >= 0, "model.depth", ">= 0", m.depth)
        check(m.num_anchors >= 1, "model.num_anchors", ">= 1", m.num_anchors)
        check(
            all(len(a) == 2 and min(a) > 0 for a in m.anchors),
            "model.anchors",
            "(height, width) pairs > 0",
            m.anchors,
        )
        check(
            not m.anchors or len(m.anchors) == m.num_anchors,
            "model.anchors",
            f"{m.num_anchors} pairs (model.num_anchors)",
            m.anchors,
        )
        check(
            0 <= det.score_threshold <= 1,
            "detection.score_threshold",
            "in [0, 1]",
            det.score_threshold,
        )
        check(
            0 < det.iou_threshold <= 1,
            "detection.iou_threshold",
            "in (0, 1]",
            det.iou_threshold,
        )
        check(
            det.max_detections >= 1,
            "detection.max_detections",
            ">= 1",
            det.max_detections,
        )
        check(
            0 <= det.eval_score_threshold <= 1,
            "detection.eval_score_threshold",
            "in [0, 1]",
            det.eval_score_threshold,
        )
