"""A JSON manifest detection dataset: the simplest format a user can write.

```
{"classes": ["circle", "square", "triangle"],
 "images": [{"file": "a.png", "boxes": [[x_min, y_min, x_max, y_max], ...],
             "classes": ["square", ...]}, ...]}
```

Paths are relative to the manifest's folder and may not leave it; boxes are
in pixels of the image file. `pipelines.synthetic.shapes.write_shapes_folder`
writes this format. Images are letterboxed to the training size while
reading, so every sample is an `(S, S, 3)` uint8 array with normalized xyxy
boxes, padded like every other source.
"""

import dataclasses
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipelines.errors import DataError
from pipelines.images import ImageReadError
from pipelines.images import decode_image_file
from pipelines.letterbox import letterbox


@dataclasses.dataclass
class ReadReport:
    """What reading a dataset found: counts and every problem, by file."""

    images: int = 0
    boxes: int = 0
    skipped_images: list[str] = dataclasses.field(default_factory=list)
    clipped_boxes: int = 0
    dropped_boxes: int = 0
    truncated_boxes: int = 0

    def summary(self, name: str) -> str:
        """One line for the user, printed before training."""
        line = f"{name}: {self.images} images, {self.boxes} boxes"
        extras = [
            f"{self.clipped_boxes} boxes clipped to the image",
            f"{self.dropped_boxes} zero-area boxes dropped",
            f"{self.truncated_boxes} boxes over max_boxes dropped",
            f"{len(self.skipped_images)} unreadable images skipped",
        ]
        extras = [e for e in extras if not e.startswith("0 ")]
        return line + (f" ({'; '.join(extras)})" if extras else "")


def _field(entry, key, kind, where):
    if key not in entry:
        raise DataError(f"{where}: missing field '{key}'")
    value = entry[key]
    if not isinstance(value, kind):
        raise DataError(
            f"{where}.{key}: expected {kind.__name__}, received {value!r}"
        )
    return value


def _inside(root: Path, name: str, where: str) -> Path:
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise DataError(
            f"{where}.file: path {name!r} leaves the dataset folder"
        )
    return path


def read_manifest(
    path: str | Path,
    *,
    image_size: int,
    max_boxes: int,
    class_names: list[str] | None = None,
    strict: bool = False,
    progress: bool = True,
) -> tuple[dict[str, np.ndarray], list[str], ReadReport]:
    """Reads a manifest into padded arrays.

    Args:
        path: the manifest JSON file.
        image_size: side of the letterboxed square.
        max_boxes: rows per image; extra boxes are dropped and counted.
        class_names: expected class names (e.g. the training set's); by
            default the manifest's own `classes`.
        strict: fail on the first unreadable image instead of skipping it.
        progress: show a tqdm bar.

    Returns:
        `(arrays, class_names, report)`; arrays as in
        `pipelines.synthetic.shapes.make_shapes_arrays`.

    Raises:
        DataError: naming the file and field, for malformed manifests,
            unknown class names, paths leaving the folder, or (with
            `strict`) unreadable images.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: manifest not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err})")
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object at the top level")
    names = _field(data, "classes", list, str(path))
    entries = _field(data, "images", list, str(path))
    names = list(class_names or names)
    index = {name: i for i, name in enumerate(names)}
    report = ReadReport()
    images, all_boxes, all_classes = [], [], []
    root = path.parent
    for i, entry in enumerate(
        tqdm(entries, desc=path.name, disable=not progress)
    ):
        where = f"{path}: images[{i}]"
        if not isinstance(entry, dict):
            raise DataError(f"{where}: expected an object")
        file = _inside(root, _field(entry, "file", str, where), where)
        boxes = _field(entry, "boxes", list, where)
        labels = _field(entry, "classes", list, where)
        if len(boxes) != len(labels):
            raise DataError(
                f"{where}: {len(boxes)} boxes but {len(labels)} classes"
            )
        try:
            image = decode_image_file(file)
        except ImageReadError:
            if strict:
                raise
            report.skipped_images.append(str(file))
            continue
        height, width = image.shape[:2]
        rows = []
        for j, (box, label) in enumerate(zip(boxes, labels)):
            if label not in index:
                raise DataError(
                    f"{where}.classes[{j}]: unknown class {label!r} "
                    f"(expected one of {', '.join(names)})"
                )
            if (
                not isinstance(box, list)
                or len(box) != 4
                or not all(isinstance(v, (int, float)) for v in box)
            ):
                raise DataError(
                    f"{where}.boxes[{j}]: expected [x_min, y_min, x_max, "
                    f"y_max] numbers, received {box!r}"
                )
            x0, y0, x1, y1 = (float(v) for v in box)
            clipped = (
                min(max(x0, 0), width),
                min(max(y0, 0), height),
                min(max(x1, 0), width),
                min(max(y1, 0), height),
            )
            if clipped != (x0, y0, x1, y1):
                report.clipped_boxes += 1
            x0, y0, x1, y1 = clipped
            if x1 <= x0 or y1 <= y0:
                report.dropped_boxes += 1
                continue
            rows.append((x0, y0, x1, y1, index[label]))
        if len(rows) > max_boxes:
            report.truncated_boxes += len(rows) - max_boxes
            rows = rows[:max_boxes]
        square, scale, offset = letterbox(image, image_size)
        padded = np.zeros((max_boxes, 4), np.float32)
        classes = np.full((max_boxes,), -1, np.int32)
        if rows:
            arr = np.array(rows, np.float32)
            shift = np.tile(offset.numpy(), 2)
            padded[: len(rows)] = (arr[:, :4] * float(scale) + shift) / (
                image_size
            )
            classes[: len(rows)] = arr[:, 4].astype(np.int32)
        images.append(np.clip(np.rint(square.numpy()), 0, 255).astype(np.uint8))
        all_boxes.append(padded)
        all_classes.append(classes)
        report.images += 1
        report.boxes += len(rows)
    if not images:
        raise DataError(f"{path}: no readable images")
    arrays = {
        "images": np.stack(images),
        "boxes": np.stack(all_boxes),
        "classes": np.stack(all_classes),
    }
    return arrays, names, report
