"""Face datasets on disk: one folder per identity, or flat named files.

Two layouts are read:

```
root/<identity>/<image>        LFW (name/*.jpg), ORL/AT&T (s1/1.pgm), ...
root/<identity>.<condition>    Yale (subject01.happy: GIF, no extension)
```

`read_faces` picks the layout. Every reader returns a
`pipelines.faces.index.FaceIndex` (paths, labels `0..n-1`, identity names,
and the files it skipped with the reason), sorted in natural order (`s2`
before `s10`), so the same folder always gives the same labels. Nothing is
decoded into memory here: `pipelines.faces.dataset.load_face_arrays` does
that.
"""

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipelines.errors import DataError
from pipelines.faces.index import FaceIndex
from pipelines.faces.index import natural_key
from pipelines.images import IMAGE_EXTENSIONS
from pipelines.images import ImageReadError
from pipelines.images import decode_image_file

FACE_EXTENSIONS = (*IMAGE_EXTENSIONS, ".pgm", ".ppm", ".pnm", ".tif", ".tiff")
YALE_PATTERN = r"^(subject\d+)\."
_EXPECTED = (
    "one sub-folder of images per identity (root/<name>/*.jpg|png|pgm...) "
    "or flat files named <identity>.<anything>"
)


def _visible(folder: Path) -> tuple[list[Path], list[Path]]:
    """Sub-folders and files of a folder, hidden names left out."""
    entries = sorted(
        (p for p in folder.iterdir() if not p.name.startswith(".")),
        key=lambda p: natural_key(p.name),
    )
    return [p for p in entries if p.is_dir()], [
        p for p in entries if p.is_file()
    ]


def _problem(path: Path, verify: bool) -> str | None:
    """Why a file cannot be used as an image, or None when it can."""
    if not verify:
        from PIL import Image

        try:
            with Image.open(path):
                return None
        except Exception:
            return "unknown or unsupported format"
    try:
        decode_image_file(path, exif_transpose=False)
    except ImageReadError as error:
        return error.reason
    return None


def _problems(paths: list[Path], verify: bool) -> list[str | None]:
    if len(paths) < 16:
        return [_problem(p, verify) for p in paths]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda p: _problem(p, verify), paths))


def _build(
    root: Path,
    groups: dict[str, list[Path]],
    skipped: list[tuple[str, str]],
    *,
    min_images: int,
    strict: bool,
    verify: bool,
) -> FaceIndex:
    """Checks the candidate files of each identity and assigns labels."""
    if not isinstance(min_images, int) or min_images < 1:
        raise ValueError(
            f"min_images must be an int >= 1. Received: {min_images=}"
        )
    candidates = [p for files in groups.values() for p in files]
    problems = dict(zip(candidates, _problems(candidates, verify)))
    for path in candidates:
        if problems[path] is not None:
            skipped.append((str(path), problems[path]))
    if strict and skipped:
        path, reason = skipped[0]
        raise DataError(f"{path}: {reason}")
    paths, labels, names = [], [], []
    for name in sorted(groups, key=natural_key):
        good = [p for p in groups[name] if problems[p] is None]
        if len(good) < min_images:
            skipped.append(
                (
                    str(root / name),
                    f"identity {name!r} has {len(good)} readable images, "
                    f"fewer than min_images={min_images}",
                )
            )
            continue
        paths.extend(str(p) for p in good)
        labels.extend([len(names)] * len(good))
        names.append(name)
    if not names:
        raise DataError(
            f"{root}: no identity with at least {min_images} readable "
            f"image(s) ({len(skipped)} skipped); expected {_EXPECTED}"
        )
    return FaceIndex(tuple(paths), tuple(labels), tuple(names), tuple(skipped))


def _check_root(root) -> Path:
    root = Path(root)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "not found"
        raise DataError(
            f"{root}: face dataset folder {what}; expected {_EXPECTED}"
        )
    return root


def read_identity_folders(
    root: str | Path,
    *,
    min_images: int = 1,
    strict: bool = False,
    verify: bool = True,
) -> FaceIndex:
    """Reads `root/<identity>/<image>` (LFW, ORL/AT&T, your own photos).

    Image files are picked by extension (`FACE_EXTENSIONS`, any case) and
    checked with PIL. Non-image files, unreadable or corrupt images, nested
    folders and images lying directly in `root` are skipped and listed in
    `skipped`; other files in `root` (READMEs) are ignored. Hidden names
    are ignored.

    Args:
        root: the dataset folder.
        min_images: identities with fewer readable images are dropped
            (listed in `skipped`; not an error, even when `strict`).
        strict: raise on the first skipped file instead.
        verify: decode every image to catch truncated files (about 1 ms
            per small image); `False` only reads the headers.

    Returns:
        A `FaceIndex`.

    Raises:
        DataError: `root` missing, no identity left, or (`strict`) a file
            that is not a readable image; the message names the path.

    Example:

    >>> index = read_identity_folders("data/att_faces")
    >>> index.num_identities, len(index)
    (40, 400)
    """
    root = _check_root(root)
    folders, files = _visible(root)
    skipped = [
        (str(p), "image outside any identity folder")
        for p in files
        if p.suffix.lower() in FACE_EXTENSIONS
    ]
    if not folders:
        raise DataError(
            f"{root}: no identity folder found; expected {_EXPECTED}"
        )
    groups = {}
    for folder in folders:
        subfolders, entries = _visible(folder)
        groups[folder.name] = []
        for path in entries:
            suffix = path.suffix.lower()
            if suffix in FACE_EXTENSIONS:
                groups[folder.name].append(path)
            else:
                reason = f"not an image file (extension {suffix or 'none'!r})"
                skipped.append((str(path), reason))
        skipped.extend(
            (str(p), "folder inside an identity folder, not searched")
            for p in subfolders
        )
    return _build(
        root,
        groups,
        skipped,
        min_images=min_images,
        strict=strict,
        verify=verify,
    )


def read_flat_faces(
    root: str | Path,
    *,
    pattern: str = YALE_PATTERN,
    min_images: int = 1,
    strict: bool = False,
    verify: bool = True,
) -> FaceIndex:
    """Reads flat files whose name holds the identity (Yale faces).

    No extension is needed: every file whose name matches `pattern` is
    opened with PIL, which tells the format from the content (the Yale
    files are GIFs named `subject01.happy`). Files whose name does not
    match, or that are not readable images, are listed in `skipped`.

    Args:
        root: the folder holding the files.
        pattern: regular expression searched in each file name; its first
            group (or the whole match, without a group) is the identity.
        min_images: as in `read_identity_folders`.
        strict: as in `read_identity_folders`.
        verify: as in `read_identity_folders`.

    Returns:
        A `FaceIndex`.

    Raises:
        DataError: as `read_identity_folders`; also when no file matches.

    Example:

    >>> index = read_flat_faces("data/yalefaces/images")
    >>> index.names[:2]
    ('subject01', 'subject02')
    """
    root = _check_root(root)
    regex = re.compile(pattern)
    groups, skipped = {}, []
    for path in _visible(root)[1]:
        match = regex.search(path.name)
        if match is None:
            skipped.append((str(path), f"name does not match {pattern!r}"))
            continue
        name = match.group(1) if regex.groups else match.group(0)
        groups.setdefault(name, []).append(path)
    if not groups:
        raise DataError(
            f"{root}: no file name matches {pattern!r}; expected {_EXPECTED}"
        )
    return _build(
        root,
        groups,
        skipped,
        min_images=min_images,
        strict=strict,
        verify=verify,
    )


def _wrapper_child(folder: Path, regex) -> Path | None:
    """The single sub-folder to descend into (`lfw/`, `yalefaces/images/`)."""
    folders, files = _visible(folder)
    if len(folders) != 1 or any(
        p.suffix.lower() in FACE_EXTENSIONS or regex.search(p.name)
        for p in files
    ):
        return None
    inner_folders, inner_files = _visible(folders[0])
    if inner_folders or any(regex.search(p.name) for p in inner_files):
        return folders[0]
    return None


def read_faces(root: str | Path, **kwargs) -> FaceIndex:
    """Reads a face dataset in either layout.

    Flat files matching `pattern` (default Yale's) give `read_flat_faces`;
    sub-folders give `read_identity_folders`. A lone wrapper folder (a
    `lfw/` from the tarball, `yalefaces/images/`) is entered first.

    Args:
        root: the dataset folder.
        **kwargs: `pattern`, `min_images`, `strict`, `verify`.

    Returns:
        A `FaceIndex`.

    Raises:
        DataError: as the reader it calls.

    Example:

    >>> read_faces("data/yalefaces").num_identities
    15
    """
    root = _check_root(root)
    pattern = kwargs.pop("pattern", YALE_PATTERN)
    regex = re.compile(pattern)
    for _ in range(3):
        child = _wrapper_child(root, regex)
        if child is None:
            break
        root = child
    folders, files = _visible(root)
    if folders and not any(regex.search(p.name) for p in files):
        return read_identity_folders(root, **kwargs)
    return read_flat_faces(root, pattern=pattern, **kwargs)
