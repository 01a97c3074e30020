"""The per-image work every detection reader shares.

A reader only parses its format into `Record`s (an image file, its boxes
in pixels and their class names, and where they came from for error
messages). `records_to_arrays` does the rest the same way for every
format: it checks the class names, decodes each image, clips boxes to the
image, drops zero-area and reversed boxes, truncates beyond `max_boxes`,
letterboxes to the training size and pads. What it clipped, dropped or
skipped is counted in a `ReadReport`.
"""

import dataclasses
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipelines.errors import DataError
from pipelines.images import ImageReadError
from pipelines.images import decode_image_file
from pipelines.letterbox import letterbox

Box = tuple[float, float, float, float]


@dataclasses.dataclass
class ReadReport:
    """What reading a dataset found: counts and every problem, by file."""

    images: int = 0
    boxes: int = 0
    skipped_images: list[str] = dataclasses.field(default_factory=list)
    clipped_boxes: int = 0
    dropped_boxes: int = 0
    truncated_boxes: int = 0
    difficult_boxes: int = 0
    dropped_difficult: int = 0
    crowd_boxes: int = 0
    missing_labels: int = 0

    def summary(self, name: str) -> str:
        """One line for the user, printed before training."""
        line = f"{name}: {self.images} images, {self.boxes} boxes"
        extras = [
            f"{self.clipped_boxes} boxes clipped to the image",
            f"{self.dropped_boxes} zero-area boxes dropped",
            f"{self.truncated_boxes} boxes over max_boxes dropped",
            f"{len(self.skipped_images)} unreadable images skipped",
            f"{self.difficult_boxes} difficult boxes kept",
            f"{self.dropped_difficult} difficult boxes dropped",
            f"{self.crowd_boxes} crowd boxes skipped",
            f"{self.missing_labels} images without a label file",
        ]
        extras = [e for e in extras if not e.startswith("0 ")]
        return line + (f" ({'; '.join(extras)})" if extras else "")


@dataclasses.dataclass
class Record:
    """One image of a dataset, as a reader parsed it.

    Attributes:
        file: the image file.
        boxes: `(x_min, y_min, x_max, y_max)` per object, in pixels of the
            decoded image (or fractions of its width and height when
            `normalized`).
        labels: the class name of each box.
        where: where the image came from, for messages (e.g. the XML file,
            or `"coco.json: images[3]"`).
        box_where: where each box came from (e.g. `"a.xml:17: object[2]"`),
            for messages about one box; defaults to `where`.
        difficult: per box, whether it is marked difficult (VOC).
        normalized: boxes are fractions of the image size (YOLO txt).
    """

    file: Path
    boxes: list[Box]
    labels: list[str]
    where: str
    box_where: list[str] | None = None
    difficult: list[bool] | None = None
    normalized: bool = False


def resolve_inside(root: str | Path, name: str, where: str) -> Path:
    """Joins a file name from an annotation to its folder, or fails.

    The check is on the normalized path (`..` and absolute names), not on
    symlinks: a dataset folder may link to images stored elsewhere.

    Args:
        root: the folder the name is relative to, and may not leave.
        name: the name as written in the annotation.
        where: the annotation's location, for the message.

    Returns:
        The absolute, normalized path.

    Raises:
        DataError: `"<where>: path '<name>' leaves the dataset folder ..."`.
    """
    base = os.path.normpath(os.path.abspath(root))
    path = os.path.normpath(os.path.join(base, name))
    if os.path.commonpath([base, path]) != base:
        raise DataError(
            f"{where}: path {name!r} leaves the dataset folder {base}"
        )
    return Path(path)


def letterbox_sample(
    image: np.ndarray,
    boxes: Sequence[Box],
    class_ids: Sequence[int],
    *,
    image_size: int,
    max_boxes: int,
    report: ReadReport,
    difficult: Sequence[bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cleans one image's boxes and letterboxes it; counts into `report`.

    Boxes are clipped to the image (counted in `clipped_boxes`), boxes with
    `x_max <= x_min` or `y_max <= y_min` after clipping are dropped
    (`dropped_boxes`), and boxes beyond `max_boxes` are dropped
    (`truncated_boxes`), in that order.

    Args:
        image: `(H, W, 3)` uint8 pixels.
        boxes: pixel `(x_min, y_min, x_max, y_max)` per object.
        class_ids: class index per box.
        image_size: side S of the letterboxed square.
        max_boxes: rows of the padded box array.
        report: updated in place (`images`, `boxes` and the counts above;
            `difficult_boxes` for kept boxes flagged in `difficult`).
        difficult: optional per-box difficult flags.

    Returns:
        `(square, boxes, classes)`: `(S, S, 3)` uint8, `(max_boxes, 4)`
        float32 normalized xyxy on the square (zero padded) and
        `(max_boxes,)` int32 (padded with -1).
    """
    height, width = image.shape[:2]
    rows, flags = [], []
    for j, (box, class_id) in enumerate(zip(boxes, class_ids)):
        x0, y0, x1, y1 = (float(v) for v in box)
        clipped = (
            min(max(x0, 0.0), width),
            min(max(y0, 0.0), height),
            min(max(x1, 0.0), width),
            min(max(y1, 0.0), height),
        )
        if clipped != (x0, y0, x1, y1):
            report.clipped_boxes += 1
        x0, y0, x1, y1 = clipped
        if x1 <= x0 or y1 <= y0:
            report.dropped_boxes += 1
            continue
        rows.append((x0, y0, x1, y1, class_id))
        flags.append(bool(difficult[j]) if difficult is not None else False)
    if len(rows) > max_boxes:
        report.truncated_boxes += len(rows) - max_boxes
        rows, flags = rows[:max_boxes], flags[:max_boxes]
    square, scale, offset = letterbox(image, image_size)
    padded = np.zeros((max_boxes, 4), np.float32)
    classes = np.full((max_boxes,), -1, np.int32)
    if rows:
        arr = np.array(rows, np.float32)
        shift = np.tile(offset.numpy(), 2)
        padded[: len(rows)] = (arr[:, :4] * float(scale) + shift) / (image_size)
        classes[: len(rows)] = arr[:, 4].astype(np.int32)
    report.images += 1
    report.boxes += len(rows)
    report.difficult_boxes += sum(flags)
    pixels = np.clip(np.rint(square.numpy()), 0, 255).astype(np.uint8)
    return pixels, padded, classes


def stack_samples(
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]], source: str
) -> dict[str, np.ndarray]:
    """Stacks `letterbox_sample` results into the padded arrays.

    Raises:
        DataError: `"<source>: no readable images"` when `samples` is empty.
    """
    if not samples:
        raise DataError(f"{source}: no readable images")
    images, boxes, classes = zip(*samples)
    return {
        "images": np.stack(images),
        "boxes": np.stack(boxes),
        "classes": np.stack(classes),
    }


def check_class_names(class_names: Sequence[str], source: str) -> list[str]:
    """The names as a list; fails on an empty list or a repeated name."""
    names = [str(n) for n in class_names]
    if not names:
        raise DataError(f"{source}: expected at least one class name")
    seen = set()
    for name in names:
        if name in seen:
            raise DataError(f"{source}: class name {name!r} appears twice")
        seen.add(name)
    return names


def _check_record(record: Record, index: dict[str, int], names: list[str]):
    """Checks labels and box numbers before any image is decoded."""
    if len(record.boxes) != len(record.labels):
        raise DataError(
            f"{record.where}: {len(record.boxes)} boxes but "
            f"{len(record.labels)} labels"
        )
    wheres = record.box_where or [record.where] * len(record.boxes)
    for box, label, where in zip(record.boxes, record.labels, wheres):
        if label not in index:
            raise DataError(
                f"{where}: unknown class {label!r} "
                f"(expected one of {', '.join(names)})"
            )
        if len(box) != 4 or not all(
            isinstance(v, (int, float)) and math.isfinite(v) for v in box
        ):
            raise DataError(
                f"{where}: expected 4 finite box coordinates, received "
                f"{list(box)!r}"
            )


def records_to_arrays(
    records: Sequence[Record],
    class_names: Sequence[str],
    *,
    image_size: int,
    max_boxes: int,
    strict: bool = False,
    progress: bool = True,
    desc: str = "",
    source: str | Path = "",
) -> tuple[dict[str, np.ndarray], ReadReport]:
    """Decodes, cleans, letterboxes and pads the images of `records`.

    Every label and box is checked before the first image is decoded, so a
    typo in a class name fails in a second, not after minutes of decoding.

    Args:
        records: the images to read, in order.
        class_names: class `i` is `class_names[i]`; labels are looked up by
            name.
        image_size: side S of the letterboxed square.
        max_boxes: rows per image; extra boxes are dropped and counted.
        strict: raise on the first unreadable image instead of skipping it
            (skipped images are listed in `report.skipped_images`).
        progress: show a tqdm bar.
        desc: label of the progress bar.
        source: the dataset (file or folder) for messages about all of it.

    Returns:
        `(arrays, report)`: `images (N, S, S, 3)` uint8, `boxes
        (N, max_boxes, 4)` float32 normalized xyxy on the square and
        `classes (N, max_boxes)` int32 padded with -1.

    Raises:
        DataError: an unknown class name or bad box (naming the box's
            location), no records, or no readable image.
        ImageReadError: with `strict`, the first unreadable image.
    """
    source = str(source or desc or "dataset")
    names = check_class_names(class_names, source)
    index = {name: i for i, name in enumerate(names)}
    if not records:
        raise DataError(f"{source}: no images")
    for record in records:
        _check_record(record, index, names)
    report = ReadReport()
    samples = []
    for record in tqdm(records, desc=desc or None, disable=not progress):
        try:
            image = decode_image_file(record.file)
        except ImageReadError:
            if strict:
                raise
            report.skipped_images.append(str(record.file))
            continue
        boxes = record.boxes
        if record.normalized:
            height, width = image.shape[:2]
            boxes = [
                (x0 * width, y0 * height, x1 * width, y1 * height)
                for x0, y0, x1, y1 in boxes
            ]
        samples.append(
            letterbox_sample(
                image,
                boxes,
                [index[label] for label in record.labels],
                image_size=image_size,
                max_boxes=max_boxes,
                report=report,
                difficult=record.difficult,
            )
        )
    return stack_samples(samples, source), report
