"""Where the detector's samples come from, by `data.source`."""

import json
from pathlib import Path

import numpy as np

from apps.detect.config import DataConfig
from pipelines.errors import DataError
from pipelines.manifest import read_manifest
from pipelines.synthetic.shapes import SHAPE_CLASSES
from pipelines.synthetic.shapes import make_shapes_arrays

SPLITS = ("train", "val", "test")


def _manifest_path(cfg: DataConfig, split: str) -> Path:
    paths = {
        "train": cfg.train_path,
        "val": cfg.val_path,
        "test": cfg.test_path or cfg.val_path,
    }
    if not paths[split]:
        raise DataError(
            f"data.{split}_path: expected a manifest JSON file for "
            "data.source=manifest, received nothing"
        )
    return Path(paths[split])


def class_names(cfg: DataConfig) -> list[str]:
    """The class names of the configured source."""
    if cfg.class_names:
        return list(cfg.class_names)
    if cfg.source == "manifest":
        path = _manifest_path(cfg, "train")
        try:
            names = json.loads(path.read_text(encoding="utf-8"))["classes"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DataError(f"{path}: cannot read 'classes' ({err})")
        return [str(n) for n in names]
    return list(SHAPE_CLASSES)


def load_split(
    cfg: DataConfig, split: str, *, progress: bool = False
) -> dict[str, np.ndarray]:
    """Padded arrays (`images`, `boxes`, `classes`) of one split.

    The synthetic splits are disjoint by construction: each split draws from
    its own seed. A manifest split is read, checked and letterboxed; what
    was clipped, dropped or skipped is printed in one summary line.
    """
    if split not in SPLITS:
        raise ValueError(f"Expected split in {SPLITS}. Received: {split!r}")
    if cfg.source == "manifest":
        arrays, _, report = read_manifest(
            _manifest_path(cfg, split),
            image_size=cfg.image_size,
            max_boxes=cfg.max_boxes,
            class_names=class_names(cfg),
            strict=cfg.strict,
            progress=progress,
        )
        print(report.summary(split))
        for skipped in report.skipped_images:
            print(f"  skipped unreadable image: {skipped}")
        return arrays
    count = {"train": cfg.num_train, "val": cfg.num_val, "test": cfg.num_test}
    return make_shapes_arrays(
        count[split],
        cfg.image_size,
        seed=cfg.seed * 1000 + SPLITS.index(split),
        max_boxes=cfg.max_boxes,
        max_objects=min(6, cfg.max_boxes),
        progress=progress,
    )
