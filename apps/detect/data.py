"""Where the detector's samples come from, by `data.source`."""

import dataclasses
import json
from pathlib import Path

import numpy as np

from apps.detect.config import DataConfig
from apps.detect.config import DetectConfig
from layers.boxes.yolo_codec import kmeans_anchors
from pipelines.datasets.records import ReadReport
from pipelines.datasets.spec import load_dataset_split
from pipelines.datasets.spec import read_dataset_spec
from pipelines.datasets.tfds_source import load_tfds_split
from pipelines.datasets.tfds_source import tfds_class_names
from pipelines.detection import box_sizes
from pipelines.errors import DataError
from pipelines.manifest import read_manifest
from pipelines.synthetic.shapes import SHAPE_CLASSES
from pipelines.synthetic.shapes import make_shapes_arrays

SPLITS = ("train", "val", "test")
CONFIGS = Path(__file__).resolve().parent / "configs"
TFDS_SPLITS = {"train": "train", "val": "validation", "test": "test"}


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


def dataset_yaml(cfg: DataConfig) -> Path:
    """`data.dataset` as a path: as given when it exists (absolute, or
    relative to the current folder), else in `apps/detect/configs/`."""
    if not cfg.dataset:
        raise DataError(
            "data.dataset: expected a dataset YAML file for "
            "data.source=dataset, received nothing"
        )
    path = Path(cfg.dataset).expanduser()
    if path.is_absolute() or path.exists():
        return path
    bundled = CONFIGS / path
    if not bundled.exists():
        raise DataError(
            f"data.dataset: {path} not found (looked in the current folder "
            f"and in {CONFIGS})"
        )
    return bundled


def _tfds_name(cfg: DataConfig) -> str:
    if not cfg.tfds_name:
        raise DataError(
            "data.tfds_name: expected a tfds builder name (e.g. voc/2007) "
            "for data.source=tfds, received nothing"
        )
    return cfg.tfds_name


def _print_report(report: ReadReport, split: str) -> None:
    print(report.summary(split))
    for skipped in report.skipped_images:
        print(f"  skipped unreadable image: {skipped}")


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
    if cfg.source == "dataset":
        return read_dataset_spec(dataset_yaml(cfg)).names
    if cfg.source == "tfds":
        return tfds_class_names(_tfds_name(cfg))
    return list(SHAPE_CLASSES)


def load_split(
    cfg: DataConfig, split: str, *, progress: bool = False
) -> dict[str, np.ndarray]:
    """Padded arrays (`images`, `boxes`, `classes`) of one split.

    The synthetic splits are disjoint by construction: each split draws from
    its own seed. A manifest, dataset-YAML or tfds split is read, checked
    and letterboxed; what was clipped, dropped or skipped is printed in one
    summary line.
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
        _print_report(report, split)
        return arrays
    if cfg.source == "dataset":
        path = dataset_yaml(cfg)
        spec = read_dataset_spec(path)
        if cfg.class_names and list(cfg.class_names) != spec.names:
            raise DataError(
                f"{path}: names {spec.names} differ from data.class_names "
                f"{list(cfg.class_names)}"
            )
        # Like the manifest source, test falls back to val.
        name = "val" if split == "test" and "test" not in spec.splits else split
        arrays, _, report = load_dataset_split(
            path,
            name,
            image_size=cfg.image_size,
            max_boxes=cfg.max_boxes,
            strict=cfg.strict,
            progress=progress,
        )
        _print_report(report, split)
        return arrays
    if cfg.source == "tfds":
        arrays, names, report = load_tfds_split(
            _tfds_name(cfg),
            TFDS_SPLITS[split],
            image_size=cfg.image_size,
            max_boxes=cfg.max_boxes,
            progress=progress,
        )
        if cfg.class_names and list(cfg.class_names) != names:
            raise DataError(
                f"tfds {cfg.tfds_name!r}: class names differ from "
                "data.class_names"
            )
        _print_report(report, split)
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


def with_anchors(cfg: DetectConfig, train_source) -> DetectConfig:
    """Fills `model.anchors` by k-means on the training boxes when empty
    (the anchor grid head only)."""
    if cfg.model.anchors or cfg.model.head != "yolo":
        return cfg
    anchors = kmeans_anchors(
        box_sizes(train_source), cfg.model.num_anchors, seed=cfg.data.seed
    )
    anchors = [[round(float(v), 4) for v in pair] for pair in anchors]
    return dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model, anchors=anchors)
    )
