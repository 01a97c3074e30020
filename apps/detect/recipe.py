"""What the shared lifecycle (`apps.common.lifecycle`) needs from detect:
its data, its compiled model, its datasets and its tuning objective."""

import dataclasses

from apps.common.config import ConfigError
from apps.common.lifecycle import Recipe
from apps.detect.config import DetectConfig
from apps.detect.data import class_names
from apps.detect.data import load_split
from apps.detect.data import with_anchors
from apps.detect.inference import score_source
from apps.detect.model import GRID_STRIDE
from apps.detect.model import build_model
from pipelines.detection import box_targets
from pipelines.detection import build_detection_dataset


def grid_size(cfg: DetectConfig) -> int:
    """G of the YOLO grid for the configured image size."""
    return cfg.data.image_size // GRID_STRIDE


def make_datasets(cfg: DetectConfig, train_source, val_source):
    """`(train_ds, val_ds)` for `fit`."""
    common = dict(batch_size=cfg.train.batch_size)
    if cfg.model.head == "anchor_free":
        common["encode"] = box_targets
    else:
        common.update(
            grid_size=grid_size(cfg),
            anchors=cfg.model.anchors,
            num_classes=len(class_names(cfg.data)),
        )
    train_ds = build_detection_dataset(
        train_source,
        training=True,
        augment_strength=cfg.data.augment_strength,
        mosaic=cfg.data.mosaic,
        scale_jitter=cfg.data.scale_jitter,
        seed=cfg.runtime.seed,
        **common,
    )
    val_ds = build_detection_dataset(val_source, training=False, **common)
    return train_ds, val_ds


class DetectRecipe(Recipe):
    """Boxes from `data.source`; k-means anchors and class names filled
    in from the training split; the tuner scores validation mAP@0.5."""

    app = "detect"
    config_cls = DetectConfig

    def load(self, cfg, splits, *, progress=False):
        return {s: load_split(cfg.data, s, progress=progress) for s in splits}

    def complete(self, cfg, data):
        m = cfg.model
        if m.anchors and len(m.anchors) != m.num_anchors:
            # A sweep changed the anchor count: refit them to the data.
            cfg = dataclasses.replace(
                cfg, model=dataclasses.replace(m, anchors=[])
            )
        cfg = with_anchors(cfg, data["train"])
        return dataclasses.replace(
            cfg,
            data=dataclasses.replace(
                cfg.data, class_names=class_names(cfg.data)
            ),
        )

    def steps_per_epoch(self, cfg, data):
        steps = len(data["train"]["images"]) // cfg.train.batch_size
        if cfg.train.steps_per_epoch:
            steps = min(steps, cfg.train.steps_per_epoch)
        if steps < 1:
            raise ConfigError(
                f"train.batch_size: expected at most data.num_train="
                f"{cfg.data.num_train}, received {cfg.train.batch_size}"
            )
        return steps

    def build(self, cfg, data, *, steps_per_epoch=None):
        return build_model(
            cfg,
            num_classes=len(class_names(cfg.data)),
            steps_per_epoch=steps_per_epoch,
            num_train_images=len(data["train"]["images"]),
        )

    def datasets(self, cfg, data):
        train_ds, val_ds = make_datasets(cfg, data["train"], data["val"])
        return train_ds.repeat(), val_ds

    def describe(self, cfg, data, model, steps):
        return (
            f"Training {model.count_params():,} parameters on "
            f"{len(data['train']['images'])} images, {cfg.train.epochs} "
            "epochs"
        )

    def score(self, cfg, model, data):
        return {"val_map50": score_source(cfg, model, data["val"])["map50"]}
