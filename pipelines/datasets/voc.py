"""Pascal VOC XML detection datasets, in the two layouts people have.

Devkit layout (Pascal VOC, BCCD):

```
root/Annotations/<id>.xml  root/JPEGImages/<id>.jpg
root/ImageSets/Main/<split>.txt        one id per line
```

Flat layout (LabelImg, the raccoon dataset): XML files beside their
images, or `root/annotations/*.xml` with `root/images/*`, and an optional
split file: a `.txt` with one id or file name per line, or a `.csv` with a
`filename` column (one row per box is fine: names are de-duplicated).

Coordinates: VOC `<bndbox>` values are 1-based pixel indices with the
maximum inclusive, so a box is read as `(x_min - 1, y_min - 1, x_max,
y_max)` in 0-based pixel edges, as Detectron2 and the VOC devkit do.
A box whose file coordinates have `x_max <= x_min` or `y_max <= y_min`
(an annotation click without a drag, e.g. BCCD's two zero-area boxes) is
kept as written, so the shared reader drops and counts it.

XML is parsed with the standard library's expat (as `xml.etree` does),
with element line numbers kept for messages. `defusedxml` is not
installed here, so entity declarations (the "billion laughs" and external
entity attacks) are refused outright, which is what `defusedxml` does by
default; VOC files never need them.
"""

import csv
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

import numpy as np

from pipelines.datasets.records import ReadReport
from pipelines.datasets.records import Record
from pipelines.datasets.records import records_to_arrays
from pipelines.datasets.records import resolve_inside
from pipelines.errors import DataError
from pipelines.images import IMAGE_EXTENSIONS

LAYOUTS = ("auto", "devkit", "flat")
_FIELDS = ("xmin", "ymin", "xmax", "ymax")


@dataclass
class VocObject:
    """One `<object>`: class name, box as written, flags, line."""

    name: str
    box: tuple[float, float, float, float]
    difficult: bool
    line: int


@dataclass
class VocAnnotation:
    """One parsed XML file."""

    path: Path
    filename: str
    objects: list[VocObject]


def _parse_xml(path: Path) -> tuple[ET.Element, dict[ET.Element, int]]:
    """Parses with expat, keeping each element's line; no entities."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})")
    parser = expat.ParserCreate()
    builder = ET.TreeBuilder()
    lines: dict[ET.Element, int] = {}

    def start(tag, attrs):
        lines[builder.start(tag, attrs)] = parser.CurrentLineNumber

    def refuse(*_):
        raise DataError(
            f"{path}:{parser.CurrentLineNumber}: XML entity declarations "
            "are not allowed"
        )

    parser.StartElementHandler = start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    try:
        parser.Parse(data, True)
    except expat.ExpatError as err:
        raise DataError(
            f"{path}:{err.lineno}: malformed XML "
            f"({expat.ErrorString(err.code)}, column {err.offset + 1})"
        )
    return builder.close(), lines


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def parse_voc_xml(path: str | Path) -> VocAnnotation:
    """Reads one VOC annotation file, checking every field it uses.

    Args:
        path: the XML file.

    Returns:
        A `VocAnnotation` with the boxes exactly as written.

    Raises:
        DataError: `"<file>:<line>: ..."` for malformed XML, a missing
            `<name>`, `<bndbox>` or coordinate, or a coordinate that is not
            a number (naming the object index).
    """
    path = Path(path)
    root, lines = _parse_xml(path)
    if root.tag != "annotation":
        raise DataError(
            f"{path}:{lines.get(root, 1)}: expected <annotation> at the top, "
            f"received <{root.tag}>"
        )
    objects = []
    for k, obj in enumerate(root.findall("object")):
        line = lines.get(obj, 0)
        where = f"{path}:{line}: object[{k}]"
        name = _text(obj.find("name"))
        if not name:
            raise DataError(f"{where}: missing <name>")
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise DataError(f"{where}: missing <bndbox>")
        box = []
        for field in _FIELDS:
            element = bndbox.find(field)
            text = _text(element)
            if element is None or not text:
                raise DataError(f"{where}: missing <bndbox>/<{field}>")
            try:
                box.append(float(text))
            except ValueError:
                raise DataError(
                    f"{path}:{lines.get(element, line)}: object[{k}]: "
                    f"<{field}> expected a number, received {text!r}"
                )
        flag = _text(obj.find("difficult"))
        objects.append(
            VocObject(
                name=name,
                box=tuple(box),
                difficult=flag not in ("", "0", "0.0", "false", "False"),
                line=line,
            )
        )
    return VocAnnotation(
        path=path, filename=_text(root.find("filename")), objects=objects
    )


def voc_box_to_pixels(box: tuple[float, float, float, float]):
    """`(x_min - 1, y_min - 1, x_max, y_max)`: 1-based inclusive indices to
    0-based pixel edges; degenerate boxes are returned unchanged."""
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return (x0, y0, x1, y1)
    return (x0 - 1.0, y0 - 1.0, x1, y1)


def read_split_file(path: Path) -> list[str]:
    """Ids or file names, in order, without repeats: a `.csv` with a
    `filename` column (else its first column), or one per line (first
    word; `#` comments and blank lines skipped)."""
    if not path.is_file():
        raise DataError(f"{path}: split file not found")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        rows = list(csv.reader(text.splitlines()))
        if not rows:
            raise DataError(f"{path}: empty split file")
        header = [h.strip().lower() for h in rows[0]]
        column = header.index("filename") if "filename" in header else 0
        names = [r[column].strip() for r in rows[1:] if len(r) > column]
    else:
        names = [
            line.split()[0]
            for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    names = list(dict.fromkeys(n for n in names if n))
    if not names:
        raise DataError(f"{path}: empty split file")
    return names


def _find_image(images: Path, filename: str, stem: str, where: str) -> Path:
    """The image of an annotation: `<filename>` in the image folder, else
    `<stem>.<ext>` for a known extension; the first guess if none exists.
    """
    guesses = []
    if filename:
        guesses.append(filename)
        if not Path(filename).suffix:
            guesses += [filename + ext for ext in IMAGE_EXTENSIONS]
    guesses += [stem + ext for ext in IMAGE_EXTENSIONS]
    guesses += [stem + ext.upper() for ext in IMAGE_EXTENSIONS]
    paths = [resolve_inside(images, g, f"{where}: <filename>") for g in guesses]
    return next((p for p in paths if p.is_file()), paths[0])


def _folders(root: Path, layout: str, annotations, images):
    """The XML folder and the image folder of a layout."""
    if layout == "devkit":
        return root / (annotations or "Annotations"), root / (
            images or "JPEGImages"
        )
    ann = root / (annotations or "annotations")
    ann = ann if annotations or ann.is_dir() else root
    img = root / (images or "images")
    img = img if images or img.is_dir() else ann
    return ann, img


def _xml_files(
    root: Path, layout: str, split, annotations, images
) -> tuple[list[Path], Path]:
    """The XML files of a split and the image folder, per layout."""
    ann, img = _folders(root, layout, annotations, images)
    if split is None or split == "":
        files = sorted(ann.glob("*.xml"))
        if not files:
            raise DataError(f"{ann}: no .xml annotation files")
        return files, img
    split = str(split)
    split_path = root / split
    named = root / "ImageSets" / "Main" / f"{split}.txt"
    if layout == "devkit" and "/" not in split and named.is_file():
        split_path = named
    elif split_path.is_dir():
        files = sorted(split_path.glob("*.xml"))
        if not files:
            raise DataError(f"{split_path}: no .xml annotation files")
        beside = any(
            p.suffix.lower() in IMAGE_EXTENSIONS for p in split_path.iterdir()
        )
        return files, split_path if images is None and beside else img
    elif not split_path.is_file():
        found = sorted(p.stem for p in named.parent.glob("*.txt"))
        hint = f" (ImageSets/Main has: {', '.join(found)})" if found else ""
        raise DataError(
            f"{root}: split {split!r} is neither a split file nor a "
            f"folder{hint}"
        )
    files = []
    for name in read_split_file(split_path):
        stem = name
        if Path(name).suffix.lower() in (*IMAGE_EXTENSIONS, ".xml"):
            stem = name[: -len(Path(name).suffix)]
        xml = resolve_inside(ann, stem + ".xml", str(split_path))
        if not xml.is_file():
            raise DataError(f"{split_path}: {name!r} has no annotation {xml}")
        files.append(xml)
    return files, img


def read_voc(
    root: str | Path,
    split: str | None = None,
    *,
    image_size: int,
    max_boxes: int,
    class_names: list[str] | None = None,
    strict: bool = False,
    progress: bool = True,
    layout: str = "auto",
    images: str | None = None,
    annotations: str | None = None,
    drop_difficult: bool = False,
) -> tuple[dict[str, np.ndarray], list[str], ReadReport]:
    """Reads a Pascal VOC dataset (devkit or flat layout) into arrays.

    Args:
        root: the dataset folder.
        split: devkit: a name in `ImageSets/Main` (`"train"`, `"test"`);
            either layout: a split file (`.txt` ids or names, `.csv` with a
            `filename` column) or a folder of XML files, relative to
            `root`; None for every XML file.
        image_size: side of the letterboxed square.
        max_boxes: rows per image; extra boxes are dropped and counted.
        class_names: the classes, in index order; unknown names in the
            XML fail. By default the sorted names found in the split.
        strict: fail on the first unreadable image instead of skipping it.
        progress: show a tqdm bar.
        layout: `"devkit"`, `"flat"` or `"auto"` (devkit when
            `Annotations/` and `JPEGImages/` exist).
        images: image folder relative to `root` (default per layout).
        annotations: XML folder relative to `root` (default per layout).
        drop_difficult: drop `<difficult>1</difficult>` objects (counted
            in `report.dropped_difficult`); by default they are kept and
            counted in `report.difficult_boxes`.

    Returns:
        `(arrays, class_names, report)` as `pipelines.manifest`.

    Raises:
        DataError: naming the XML file and line (and object index) for
            malformed XML, missing fields or unknown classes; a split that
            does not exist; paths leaving the dataset folder.

    Example:

    >>> arrays, names, report = read_voc(
    ...     "data/bccd", "train", image_size=320, max_boxes=64)
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: VOC dataset folder not found")
    if layout not in LAYOUTS:
        raise DataError(
            f"{root}: layout expected one of {LAYOUTS}, received {layout!r}"
        )
    if layout == "auto":
        devkit = (root / "Annotations").is_dir() and (
            root / "JPEGImages"
        ).is_dir()
        layout = "devkit" if devkit else "flat"
    files, image_dir = _xml_files(root, layout, split, annotations, images)
    parsed = [parse_voc_xml(f) for f in files]
    names = list(
        class_names or sorted({o.name for a in parsed for o in a.objects})
    )
    records, dropped = [], 0
    for ann in parsed:
        objects = list(enumerate(ann.objects))
        if drop_difficult:
            dropped += sum(o.difficult for _, o in objects)
            objects = [(k, o) for k, o in objects if not o.difficult]
        records.append(
            Record(
                file=_find_image(
                    image_dir, ann.filename, ann.path.stem, str(ann.path)
                ),
                boxes=[voc_box_to_pixels(o.box) for _, o in objects],
                labels=[o.name for _, o in objects],
                where=str(ann.path),
                box_where=[
                    f"{ann.path}:{o.line}: object[{k}]" for k, o in objects
                ],
                difficult=[o.difficult for _, o in objects],
            )
        )
    arrays, report = records_to_arrays(
        records,
        names,
        image_size=image_size,
        max_boxes=max_boxes,
        strict=strict,
        progress=progress,
        desc=f"{root.name} {split or ''}".strip(),
        source=root,
    )
    report.dropped_difficult = dropped
    return arrays, names, report
