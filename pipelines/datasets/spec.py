"""Dataset YAML files, in the style of Ultralytics' `data.yaml`.

```
path: $DLSUITE_DATA/bccd   # dataset root; relative to this file's folder
format: voc                # voc | coco | yolo | manifest (default yolo)
train: train               # per format, see below
val: val
test: test                 # optional
names: [RBC, WBC, Platelets]   # or {0: RBC, 1: WBC, 2: Platelets}
```

What a split entry names, relative to `path`:
- `voc`: devkit split name in `ImageSets/Main`, or a split file (`.txt`
  ids, `.csv` with a `filename` column), or a folder of XML files; extra
  keys `layout` (`auto`, `devkit`, `flat`), `images`, `annotations` and
  `drop_difficult` (see `pipelines.datasets.voc.read_voc`).
- `coco`: the annotation JSON, or `{annotations: ..., images: ...}`; a
  top-level `images` key is the image folder of every split (default:
  each JSON's folder).
- `yolo`: an image folder, a `.txt` list of images, or a list of those.
- `manifest`: a `pipelines.manifest` JSON file.

`$DLSUITE_DATA` (or `${DLSUITE_DATA}`) in `path` is the shared data
folder: the `data_root` argument, else `default_data_root()`. Other
`$VARS` and `~` expand from the environment.
"""

import dataclasses
import difflib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pipelines.datasets.coco import read_coco
from pipelines.datasets.records import ReadReport
from pipelines.datasets.records import check_class_names
from pipelines.datasets.voc import LAYOUTS
from pipelines.datasets.voc import read_voc
from pipelines.datasets.yolo_txt import read_yolo
from pipelines.errors import DataError
from pipelines.manifest import read_manifest

FORMATS = ("voc", "coco", "yolo", "manifest")
SPLITS = ("train", "val", "test")
DATA_ROOT_VARIABLE = "DLSUITE_DATA"
_COMMON_KEYS = ("path", "format", "names", "nc", *SPLITS)
_FORMAT_KEYS = {
    "voc": ("layout", "images", "annotations", "drop_difficult"),
    "coco": ("images",),
    "yolo": (),
    "manifest": (),
}
# Keys of Ultralytics' files that mean nothing here, accepted and ignored.
_IGNORED_KEYS = ("download", "yaml_file", "kpt_shape", "flip_idx", "channels")
_VARIABLE = re.compile(r"\$(\{DLSUITE_DATA\}|DLSUITE_DATA\b)")


def default_data_root() -> Path | None:
    """The shared data folder: `$DLSUITE_DATA` when set, else
    `<repo>/../shared/data` when that folder exists, else None."""
    value = os.environ.get(DATA_ROOT_VARIABLE, "")
    if value:
        return Path(value).expanduser()
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return shared if shared.is_dir() else None


@dataclasses.dataclass
class DatasetSpec:
    """A parsed dataset YAML.

    Attributes:
        file: the YAML file.
        root: the dataset folder (`path`, resolved).
        format: one of `FORMATS`.
        names: class names, in index order.
        splits: the raw entry of each split present (`train`, `val`,
            `test`).
        options: the format's extra keys (e.g. `layout` for voc).
    """

    file: Path
    root: Path
    format: str
    names: list[str]
    splits: dict[str, Any]
    options: dict[str, Any]


def _line(node_map: dict, key: str) -> str:
    line = node_map.get(key)
    return f":{line}" if line else ""


def _key_lines(text: str) -> dict[str, int]:
    """1-based line of each top-level key, for messages."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {
        str(k.value): k.start_mark.line + 1
        for k, _ in node.value
        if isinstance(k, yaml.ScalarNode)
    }


def _names(value, where: str) -> list[str]:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (not isinstance(k, int), k))
        if keys != list(range(len(keys))):
            raise DataError(
                f"{where}: names expected ids 0..{len(keys) - 1}, received "
                f"{keys}"
            )
        value = [value[k] for k in keys]
    if not isinstance(value, list) or not all(
        isinstance(n, (str, int)) and not isinstance(n, bool) for n in value
    ):
        raise DataError(
            f"{where}: names expected a list of class names or "
            "{id: name}, received " + repr(value)
        )
    return check_class_names(value, where)


def expand_data_path(path: str, where: str) -> str:
    """Expands `$DLSUITE_DATA`, `~` and environment variables in a path
    from a config; `where` (e.g. `data.path`) names it in errors.

    Raises:
        DataError: a variable is unset (and no shared data folder exists).
    """
    return _expand(path, where, None)


def _expand(path: str, file: Path | str, data_root: Path | None) -> str:
    if _VARIABLE.search(path):
        root = data_root if data_root is not None else default_data_root()
        if root is None:
            raise DataError(
                f"{file}: path {path!r} uses ${DATA_ROOT_VARIABLE}, which is "
                "not set, and no ../shared/data folder exists beside the "
                "repository"
            )
        path = _VARIABLE.sub(lambda _: str(root).replace("\\", "/"), path)
    expanded = os.path.expandvars(os.path.expanduser(path))
    if "$" in expanded:
        raise DataError(
            f"{file}: path {path!r} uses an unset environment variable"
        )
    return expanded


def read_dataset_spec(
    yaml_path: str | Path, *, data_root: str | Path | None = None
) -> DatasetSpec:
    """Reads and checks a dataset YAML (see the module docstring).

    Args:
        yaml_path: the YAML file.
        data_root: what `$DLSUITE_DATA` means (default:
            `default_data_root()`).

    Returns:
        A `DatasetSpec`.

    Raises:
        DataError: `"<file>:<line>: ..."` for invalid YAML, an unknown key
            (naming the nearest valid one), a bad `format`, `names` or
            `nc`, or an unresolvable `path`.
    """
    file = Path(yaml_path)
    if not file.is_file():
        raise DataError(f"{file}: dataset YAML not found")
    text = file.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise DataError(f"{file}{line}: not valid YAML ({problem})")
    if not isinstance(data, dict):
        raise DataError(f"{file}: expected a mapping of keys at the top")
    lines = _key_lines(text)
    fmt = data.get("format", "yolo")
    if fmt not in FORMATS:
        raise DataError(
            f"{file}{_line(lines, 'format')}: format expected one of "
            f"{', '.join(FORMATS)}, received {fmt!r}"
        )
    valid = _COMMON_KEYS + _FORMAT_KEYS[fmt]
    for key in data:
        if key in valid or key in _IGNORED_KEYS:
            continue
        near = difflib.get_close_matches(str(key), valid, n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise DataError(
            f"{file}{_line(lines, key)}: unknown key {key!r} for format "
            f"{fmt}{hint}"
        )
    if "names" not in data:
        raise DataError(f"{file}: missing 'names' (the class names)")
    names = _names(data["names"], f"{file}{_line(lines, 'names')}")
    if "nc" in data and data["nc"] != len(names):
        raise DataError(
            f"{file}{_line(lines, 'nc')}: nc is {data['nc']!r} but names "
            f"has {len(names)} classes"
        )
    raw = data.get("path") or "."
    if not isinstance(raw, str):
        raise DataError(f"{file}{_line(lines, 'path')}: path expected text")
    data_root = Path(data_root) if data_root is not None else None
    root = Path(_expand(raw, file, data_root))
    root = root if root.is_absolute() else file.parent / root
    options = {k: data[k] for k in _FORMAT_KEYS[fmt] if k in data}
    if fmt == "voc" and options.get("layout", "auto") not in LAYOUTS:
        raise DataError(
            f"{file}{_line(lines, 'layout')}: layout expected one of "
            f"{', '.join(LAYOUTS)}, received {options['layout']!r}"
        )
    splits = {s: data[s] for s in SPLITS if data.get(s) not in (None, "")}
    return DatasetSpec(file, root, fmt, names, splits, options)


def _join(root: Path, entry, where: str) -> Path:
    if not isinstance(entry, str):
        raise DataError(f"{where}: expected a path, received {entry!r}")
    return root / os.path.expanduser(entry)


def load_dataset_split(
    yaml_path: str | Path,
    split: str,
    *,
    image_size: int,
    max_boxes: int,
    strict: bool = False,
    progress: bool = True,
    data_root: str | Path | None = None,
) -> tuple[dict[str, np.ndarray], list[str], ReadReport]:
    """Reads one split of the dataset a YAML file describes.

    Args:
        yaml_path: the dataset YAML.
        split: `"train"`, `"val"` or `"test"`.
        image_size: side of the letterboxed square.
        max_boxes: rows per image; extra boxes are dropped and counted.
        strict: fail on the first unreadable image instead of skipping it.
        progress: show a tqdm bar.
        data_root: what `$DLSUITE_DATA` means (default:
            `default_data_root()`).

    Returns:
        `(arrays, class_names, report)` as every reader; class names are
        the YAML's `names`.

    Raises:
        DataError: a bad YAML (see `read_dataset_spec`), a split the YAML
            does not list, or any error of the format's reader.

    Example:

    >>> arrays, names, report = load_dataset_split(
    ...     "apps/detect/configs/datasets/bccd.yaml", "train",
    ...     image_size=320, max_boxes=64)
    >>> print(report.summary("train"))
    """
    spec = read_dataset_spec(yaml_path, data_root=data_root)
    if split not in spec.splits:
        have = ", ".join(spec.splits) or "none"
        raise DataError(
            f"{spec.file}: no '{split}' entry (splits listed: {have})"
        )
    if not spec.root.is_dir():
        raise DataError(f"{spec.file}: dataset folder {spec.root} not found")
    entry = spec.splits[split]
    where = f"{spec.file}: {split}"
    common = dict(
        image_size=image_size,
        max_boxes=max_boxes,
        class_names=spec.names,
        strict=strict,
        progress=progress,
    )
    opts = spec.options
    if spec.format == "manifest":
        arrays, _, report = read_manifest(
            _join(spec.root, entry, where), **common
        )
    elif spec.format == "voc":
        if not isinstance(entry, str):
            raise DataError(f"{where}: expected a split name or path")
        arrays, _, report = read_voc(
            spec.root,
            entry,
            layout=opts.get("layout", "auto"),
            images=opts.get("images"),
            annotations=opts.get("annotations"),
            drop_difficult=bool(opts.get("drop_difficult", False)),
            **common,
        )
    elif spec.format == "coco":
        images = opts.get("images")
        if isinstance(entry, dict):
            images = entry.get("images", images)
            entry = entry.get("annotations")
        arrays, _, report = read_coco(
            _join(spec.root, entry, where),
            images_dir=_join(spec.root, images, where) if images else None,
            **common,
        )
    else:
        entries = entry if isinstance(entry, list) else [entry]
        arrays, _, report = read_yolo(
            [_join(spec.root, e, where) for e in entries],
            root=spec.root,
            **common,
        )
    return arrays, spec.names, report
