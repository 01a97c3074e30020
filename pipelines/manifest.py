"""A JSON manifest detection dataset: the simplest format a user can write.

```
{"classes": ["circle", "square", "triangle"],
 "images": [{"file": "a.png", "boxes": [[x_min, y_min, x_max, y_max], ...],
             "classes": ["square", ...]}, ...]}
```

Paths are relative to the manifest's folder and may not leave it; boxes are
in pixels of the image file. `pipelines.synthetic.shapes.write_shapes_folder`
writes this format. Images are letterboxed to the training size while
reading (`pipelines.datasets.records`), so every sample is an `(S, S, 3)`
uint8 array with normalized xyxy boxes, padded like every other source.
"""

import json
from pathlib import Path

import numpy as np

from pipelines.datasets.records import ReadReport
from pipelines.datasets.records import Record
from pipelines.datasets.records import records_to_arrays
from pipelines.datasets.records import resolve_inside
from pipelines.errors import DataError

__all__ = ["ReadReport", "read_manifest"]


def _field(entry, key, kind, where):
    if key not in entry:
        raise DataError(f"{where}: missing field '{key}'")
    value = entry[key]
    if not isinstance(value, kind):
        raise DataError(
            f"{where}.{key}: expected {kind.__name__}, received {value!r}"
        )
    return value


def _record(entry, root: Path, where: str) -> Record:
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected an object")
    name = _field(entry, "file", str, where)
    file = resolve_inside(root, name, f"{where}.file")
    boxes = _field(entry, "boxes", list, where)
    labels = _field(entry, "classes", list, where)
    if len(boxes) != len(labels):
        raise DataError(
            f"{where}: {len(boxes)} boxes but {len(labels)} classes"
        )
    for j, box in enumerate(boxes):
        if (
            not isinstance(box, list)
            or len(box) != 4
            or not all(isinstance(v, (int, float)) for v in box)
        ):
            raise DataError(
                f"{where}.boxes[{j}]: expected [x_min, y_min, x_max, "
                f"y_max] numbers, received {box!r}"
            )
    return Record(
        file=file,
        boxes=[tuple(float(v) for v in box) for box in boxes],
        labels=labels,
        where=where,
        box_where=[f"{where}.classes[{j}]" for j in range(len(boxes))],
    )


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
    records = [
        _record(entry, path.parent, f"{path}: images[{i}]")
        for i, entry in enumerate(entries)
    ]
    arrays, report = records_to_arrays(
        records,
        names,
        image_size=image_size,
        max_boxes=max_boxes,
        strict=strict,
        progress=progress,
        desc=path.name,
        source=path,
    )
    return arrays, names, report
