"""COCO JSON detection datasets (`instances_*.json`, Roboflow exports).

```
{"images": [{"id": 1, "file_name": "a.jpg", ...}, ...],
 "annotations": [{"image_id": 1, "category_id": 3,
                  "bbox": [x, y, width, height], "iscrowd": 0}, ...],
 "categories": [{"id": 3, "name": "cat"}, ...]}
```

`bbox` is `[x, y, width, height]` in pixels (0-based edges), read as
`(x, y, x + width, y + height)`. Category ids map to contiguous class
indices in ascending id order (the order of the official files, as
Detectron2 does), unless class names are given, then by name. `iscrowd`
annotations are skipped and counted (`report.crowd_boxes`), as COCO
evaluation ignores them; images without annotations are kept as
background. File names are relative to the image folder (by default the
JSON's folder, as in Roboflow exports) and may not leave it.
"""

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from pipelines.datasets.records import ReadReport
from pipelines.datasets.records import Record
from pipelines.datasets.records import records_to_arrays
from pipelines.datasets.records import resolve_inside
from pipelines.errors import DataError


def load_json(path: Path):
    """Parses a JSON file; errors name the file, line and column."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}:{err.lineno}:{err.colno}: not valid JSON ({err.msg})"
        )
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason})")


def _list(data: dict, key: str, where: str, required: bool = True) -> list:
    if key not in data:
        if required:
            raise DataError(f"{where}: missing field '{key}'")
        return []
    if not isinstance(data[key], list):
        raise DataError(f"{where}.{key}: expected a list")
    return data[key]


def _get(entry, key: str, kinds, where: str):
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected an object")
    if key not in entry:
        raise DataError(f"{where}: missing field '{key}'")
    value = entry[key]
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise DataError(f"{where}.{key}: unexpected value {value!r}")
    return value


def coco_category_names(data: dict, where: str) -> dict[int, str]:
    """`{category id: name}` in ascending id order."""
    names = {}
    for i, cat in enumerate(_list(data, "categories", where)):
        at = f"{where}: categories[{i}]"
        cat_id = _get(cat, "id", int, at)
        if cat_id in names:
            raise DataError(f"{at}: category id {cat_id} appears twice")
        names[cat_id] = str(_get(cat, "name", str, at))
    return dict(sorted(names.items()))


def read_coco(
    path: str | Path,
    *,
    image_size: int,
    max_boxes: int,
    images_dir: str | Path | None = None,
    class_names: list[str] | None = None,
    strict: bool = False,
    progress: bool = True,
) -> tuple[dict[str, np.ndarray], list[str], ReadReport]:
    """Reads a COCO annotation file into padded arrays.

    Args:
        path: the COCO JSON file.
        image_size: side of the letterboxed square.
        max_boxes: rows per image; extra boxes are dropped and counted.
        images_dir: folder that `file_name`s are relative to (default:
            the JSON's folder).
        class_names: the classes in index order, matched to category
            names; by default the category names in ascending id order.
        strict: fail on the first unreadable image instead of skipping it.
        progress: show a tqdm bar.

    Returns:
        `(arrays, class_names, report)` as `pipelines.manifest`.

    Raises:
        DataError: malformed JSON (file, line and column), a missing or
            mistyped field (naming `images[i]`, `annotations[i]` or
            `categories[i]`), an unknown image or category id, an unknown
            class name, or a path leaving the image folder.

    Example:

    >>> arrays, names, report = read_coco(
    ...     "coco/annotations/instances_val2017.json",
    ...     images_dir="coco/val2017", image_size=320, max_boxes=100)
    """
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object at the top level")
    where = str(path)
    categories = coco_category_names(data, where)
    names = list(class_names or categories.values())
    folder = Path(images_dir) if images_dir is not None else path.parent
    files, order = {}, []
    for i, entry in enumerate(_list(data, "images", where)):
        at = f"{where}: images[{i}]"
        image_id = _get(entry, "id", (int, str), at)
        if image_id in files:
            raise DataError(f"{at}: image id {image_id!r} appears twice")
        name = _get(entry, "file_name", str, at)
        files[image_id] = (resolve_inside(folder, name, f"{at}.file_name"), at)
        order.append(image_id)
    boxes = defaultdict(list)
    crowd = 0
    annotations = _list(data, "annotations", where, required=False)
    for i, ann in enumerate(annotations):
        at = f"{where}: annotations[{i}]"
        image_id = _get(ann, "image_id", (int, str), at)
        if image_id not in files:
            raise DataError(f"{at}: unknown image_id {image_id!r}")
        cat_id = _get(ann, "category_id", int, at)
        if cat_id not in categories:
            raise DataError(f"{at}: unknown category_id {cat_id}")
        if ann.get("iscrowd", 0):
            crowd += 1
            continue
        bbox = _get(ann, "bbox", list, at)
        if len(bbox) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for v in bbox
        ):
            raise DataError(
                f"{at}.bbox: expected [x, y, width, height] numbers, "
                f"received {bbox!r}"
            )
        x, y, w, h = (float(v) for v in bbox)
        boxes[image_id].append(((x, y, x + w, y + h), categories[cat_id], at))
    records = []
    for image_id in order:
        file, at = files[image_id]
        items = boxes[image_id]
        records.append(
            Record(
                file=file,
                boxes=[box for box, _, _ in items],
                labels=[label for _, label, _ in items],
                where=at,
                box_where=[a for _, _, a in items],
            )
        )
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
    report.crowd_boxes = crowd
    return arrays, names, report
