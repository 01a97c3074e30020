"""Ultralytics YOLO txt detection datasets.

```
root/images/train/a.jpg   root/labels/train/a.txt
```

Each label line is `class x_center y_center width height`, normalized to
the image size; a line with more pairs (`class x1 y1 x2 y2 ...`, a
segmentation polygon) gives the polygon's bounding box, as Ultralytics
does. The label file of an image replaces the last `images` folder of its
path with `labels` and the extension with `.txt` (beside the image when
the path has no `images` folder). An image without a label file is
background (counted in `report.missing_labels`).

A split is an image folder (searched recursively), a `.txt` list of image
paths (relative to the list's folder; `./` prefixes allowed), or a list of
those. Listed paths may not leave the dataset root.
"""

from pathlib import Path

import numpy as np

from pipelines.datasets.records import ReadReport
from pipelines.datasets.records import Record
from pipelines.datasets.records import records_to_arrays
from pipelines.datasets.records import resolve_inside
from pipelines.errors import DataError
from pipelines.images import IMAGE_EXTENSIONS


def label_path(image: Path) -> Path:
    """`.../images/x/a.jpg` -> `.../labels/x/a.txt` (Ultralytics' rule)."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def parse_label_line(
    line: str, num_classes: int, where: str
) -> tuple[int, tuple[float, float, float, float]] | None:
    """One label line -> `(class, normalized xyxy)`, None when blank.

    Raises:
        DataError: `"<file>:<line>: ..."` for a wrong field count, a
            non-number, or a class outside `0..num_classes - 1`.
    """
    fields = line.split()
    if not fields:
        return None
    if not (len(fields) == 5 or (len(fields) >= 7 and len(fields) % 2)):
        raise DataError(
            f"{where}: expected 'class x_center y_center width height', "
            f"received {line.strip()!r}"
        )
    try:
        number = float(fields[0])
        values = [float(v) for v in fields[1:]]
    except ValueError:
        raise DataError(f"{where}: expected numbers, received {line.strip()!r}")
    if number != int(number) or not 0 <= number < num_classes:
        raise DataError(
            f"{where}: class {fields[0]} out of range (expected an "
            f"integer in 0..{num_classes - 1})"
        )
    if len(values) == 4:
        cx, cy, w, h = values
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    else:
        xs, ys = values[0::2], values[1::2]
        box = (min(xs), min(ys), max(xs), max(ys))
    return int(number), box


def _image_files(entry: Path, root: Path) -> list[Path]:
    if entry.is_dir():
        return sorted(
            p
            for p in entry.rglob("*")
            if p.is_file()
            and not p.name.startswith(".")
            and p.suffix.lower() in IMAGE_EXTENSIONS
        )
    if entry.is_file() and entry.suffix == ".txt":
        files = []
        lines = entry.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines, start=1):
            name = line.strip()
            if not name or name.startswith("#"):
                continue
            base = entry.parent
            path = Path(name) if Path(name).is_absolute() else base / name
            files.append(resolve_inside(root, str(path), f"{entry}:{n}"))
        return files
    raise DataError(
        f"{entry}: expected an image folder or a .txt list of images"
    )


def read_yolo(
    source: str | Path | list[str | Path],
    *,
    class_names: list[str],
    image_size: int,
    max_boxes: int,
    root: str | Path | None = None,
    strict: bool = False,
    progress: bool = True,
) -> tuple[dict[str, np.ndarray], list[str], ReadReport]:
    """Reads a YOLO txt split into padded arrays.

    Args:
        source: an image folder, a `.txt` list of images, or a list of
            those.
        class_names: the classes; label class `i` is `class_names[i]`.
        image_size: side of the letterboxed square.
        max_boxes: rows per image; extra boxes are dropped and counted.
        root: the dataset folder listed paths may not leave (default: the
            folder of the first source).
        strict: fail on the first unreadable image instead of skipping it.
        progress: show a tqdm bar.

    Returns:
        `(arrays, class_names, report)` as `pipelines.manifest`.

    Raises:
        DataError: naming `file:line` for a malformed label line or a
            class out of range; no images found; no label file at all;
            a listed path leaving `root`.

    Example:

    >>> arrays, names, report = read_yolo(
    ...     "coco8/images/val", class_names=["person", ...],
    ...     image_size=320, max_boxes=32)
    """
    sources = source if isinstance(source, (list, tuple)) else [source]
    sources = [Path(s) for s in sources]
    if not sources:
        raise DataError("YOLO dataset: no image folder or list given")
    base = Path(root) if root is not None else sources[0]
    base = base if base.is_dir() else base.parent
    names = list(class_names or [])
    if not names:
        raise DataError(f"{sources[0]}: YOLO labels need class names")
    files = [f for s in sources for f in _image_files(s, base)]
    if not files:
        raise DataError(f"{sources[0]}: no images found")
    records, missing = [], 0
    for file in files:
        labels = label_path(file)
        boxes, ids, wheres = [], [], []
        if labels.is_file():
            text = labels.read_text(encoding="utf-8")
            for n, line in enumerate(text.splitlines(), start=1):
                parsed = parse_label_line(line, len(names), f"{labels}:{n}")
                if parsed is not None:
                    ids.append(parsed[0])
                    boxes.append(parsed[1])
                    wheres.append(f"{labels}:{n}")
        else:
            missing += 1
        records.append(
            Record(
                file=file,
                boxes=boxes,
                labels=[names[i] for i in ids],
                where=str(labels),
                box_where=wheres,
                normalized=True,
            )
        )
    if missing == len(files):
        raise DataError(
            f"{sources[0]}: no label files (looked for e.g. "
            f"{label_path(files[0])})"
        )
    arrays, report = records_to_arrays(
        records,
        names,
        image_size=image_size,
        max_boxes=max_boxes,
        strict=strict,
        progress=progress,
        desc=sources[0].name,
        source=sources[0],
    )
    report.missing_labels = missing
    return arrays, names, report
