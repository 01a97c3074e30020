"""Detection splits from tensorflow-datasets builders (`voc`, `coco`).

Their examples hold a decoded `image` and `objects` with `bbox` as
normalized `(ymin, xmin, ymax, xmax)` and integer `label`s (class names
in `info.features["objects"]["label"].names`); `coco` adds `is_crowd`
(skipped and counted), `voc` adds `is_difficult` (kept and counted).
`example_to_sample` converts one example and is pure: tests feed it
hand-made dicts, so nothing is downloaded. tensorflow-datasets is
imported only when a builder is needed.
"""

from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipelines.datasets.records import ReadReport
from pipelines.datasets.records import letterbox_sample
from pipelines.datasets.records import stack_samples
from pipelines.errors import DataError


def example_to_sample(
    example: Mapping,
    *,
    num_classes: int,
    image_size: int,
    max_boxes: int,
    report: ReadReport,
    where: str = "example",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Converts one tfds detection example (numpy) to a padded sample.

    Args:
        example: `{"image": (H, W, 3) uint8, "objects": {"bbox": (n, 4)
            normalized ymin, xmin, ymax, xmax, "label": (n,) int,
            optional "is_crowd" / "is_difficult": (n,) bool}}`.
        num_classes: labels must lie in `0..num_classes - 1`.
        image_size: side S of the letterboxed square.
        max_boxes: rows of the padded box array.
        report: counts, updated in place.
        where: the example's name, for messages.

    Returns:
        `(square, boxes, classes)` as
        `pipelines.datasets.records.letterbox_sample`.

    Raises:
        DataError: an image that is not `(H, W, 1 or 3)`, `bbox` and
            `label` of different lengths, or a label out of range.
    """
    image = np.asarray(example["image"])
    if image.ndim != 3 or image.shape[-1] not in (1, 3) or 0 in image.shape:
        raise DataError(f"{where}: unexpected image shape {image.shape}")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    objects = example.get("objects", {})
    bbox = np.asarray(objects.get("bbox", np.zeros((0, 4))), np.float64)
    label = np.asarray(objects.get("label", np.zeros((0,))), np.int64)
    bbox = bbox.reshape(-1, 4)
    if len(bbox) != len(label):
        raise DataError(f"{where}: {len(bbox)} boxes but {len(label)} labels")
    if label.size and (label.min() < 0 or label.max() >= num_classes):
        raise DataError(
            f"{where}: label out of range 0..{num_classes - 1}: "
            f"{label.tolist()}"
        )
    keep = np.ones(len(label), bool)
    if "is_crowd" in objects:
        crowd = np.asarray(objects["is_crowd"], bool).reshape(-1)
        report.crowd_boxes += int(crowd.sum())
        keep &= ~crowd
    difficult = None
    if "is_difficult" in objects:
        difficult = np.asarray(objects["is_difficult"], bool).reshape(-1)
        difficult = difficult[keep].tolist()
    height, width = image.shape[:2]
    scale = np.array([height, width, height, width], np.float64)
    ymin, xmin, ymax, xmax = (bbox[keep] * scale).T
    boxes = list(zip(xmin, ymin, xmax, ymax))
    return letterbox_sample(
        image.astype(np.uint8),
        boxes,
        label[keep].tolist(),
        image_size=image_size,
        max_boxes=max_boxes,
        report=report,
        difficult=difficult,
    )


def examples_to_arrays(
    examples: Iterable[Mapping],
    class_names: list[str],
    *,
    image_size: int,
    max_boxes: int,
    progress: bool = False,
    desc: str = "tfds",
) -> tuple[dict[str, np.ndarray], list[str], ReadReport]:
    """Converts an iterable of numpy examples; see `example_to_sample`.

    Returns:
        `(arrays, class_names, report)` as every reader.
    """
    report = ReadReport()
    samples = [
        example_to_sample(
            example,
            num_classes=len(class_names),
            image_size=image_size,
            max_boxes=max_boxes,
            report=report,
            where=f"{desc}[{i}]",
        )
        for i, example in enumerate(
            tqdm(examples, desc=desc, disable=not progress)
        )
    ]
    return stack_samples(samples, desc), list(class_names), report


def _builder(name: str, data_dir: str | Path | None):
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(
            name, data_dir=None if data_dir is None else str(data_dir)
        )
    except Exception as err:  # DatasetNotFoundError and friends
        detail = " ".join(str(err).split()).split(" Available")[0][:200]
        raise DataError(f"tfds {name!r}: no such dataset ({detail})")


def _label_names(builder, name: str) -> list[str]:
    try:
        return list(builder.info.features["objects"]["label"].names)
    except (KeyError, AttributeError, TypeError):
        raise DataError(
            f"tfds {name!r}: expected an 'objects/label' class feature "
            "(a detection dataset such as voc or coco)"
        )


def tfds_class_names(
    name: str, data_dir: str | Path | None = None
) -> list[str]:
    """The class names of a tfds detection builder (`objects/label`)."""
    return _label_names(_builder(name, data_dir), name)


def load_tfds_split(
    name: str,
    split: str,
    *,
    image_size: int,
    max_boxes: int,
    data_dir: str | Path | None = None,
    download: bool = False,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], list[str], ReadReport]:
    """Reads a split of a tfds detection dataset into padded arrays.

    Args:
        name: builder name, e.g. `"voc/2007"` or `"coco/2017"`.
        split: tfds split, e.g. `"train"`, `"validation"`, `"test"` or a
            slice such as `"validation[:100]"`.
        image_size: side of the letterboxed square.
        max_boxes: rows per image; extra boxes are dropped and counted.
        data_dir: tfds data folder (default: tfds' own,
            `~/tensorflow_datasets`).
        download: download and prepare the dataset when it is missing;
            otherwise a missing dataset is a `DataError`.
        progress: show a tqdm bar.

    Returns:
        `(arrays, class_names, report)` as every reader.

    Example:

    >>> arrays, names, report = load_tfds_split(
    ...     "voc/2007", "validation", image_size=320, max_boxes=42)
    """
    builder = _builder(name, data_dir)
    names = _label_names(builder, name)
    if download:
        builder.download_and_prepare()
    elif not builder.is_prepared():
        raise DataError(
            f"tfds {name!r}: not prepared in {builder.data_dir} (prepare it "
            f"with `tfds build {name}`, or pass download=True)"
        )
    import tensorflow_datasets as tfds

    try:
        dataset = builder.as_dataset(split=split, shuffle_files=False)
    except Exception as err:  # unknown split names
        detail = " ".join(str(err).split())[:200]
        raise DataError(
            f"tfds {name!r}: cannot read split {split!r} ({detail})"
        )
    return examples_to_arrays(
        tfds.as_numpy(dataset),
        names,
        image_size=image_size,
        max_boxes=max_boxes,
        progress=progress,
        desc=f"{name} {split}",
    )
