"""Where the detector's samples come from, by `data.source`."""

import numpy as np

from apps.detect.config import DataConfig
from pipelines.synthetic.shapes import SHAPE_CLASSES
from pipelines.synthetic.shapes import make_shapes_arrays

SPLITS = ("train", "val", "test")


def class_names(cfg: DataConfig) -> list[str]:
    """The class names of the configured source."""
    return list(SHAPE_CLASSES)


def load_split(
    cfg: DataConfig, split: str, *, progress: bool = False
) -> dict[str, np.ndarray]:
    """Padded arrays (`images`, `boxes`, `classes`) of one split.

    The synthetic splits are disjoint by construction: each split draws from
    its own seed (`data.seed`, `+1`, `+2`).
    """
    if split not in SPLITS:
        raise ValueError(f"Expected split in {SPLITS}. Received: {split!r}")
    count = {"train": cfg.num_train, "val": cfg.num_val, "test": cfg.num_test}
    return make_shapes_arrays(
        count[split],
        cfg.image_size,
        seed=cfg.seed * 1000 + SPLITS.index(split),
        max_boxes=cfg.max_boxes,
        max_objects=min(6, cfg.max_boxes),
        progress=progress,
    )
