"""Where the standard parallel corpora lie in the shared data folder.

```
<data root>/multi30k/task1/raw/{split}.{lang}.gz    Multi30k task 1
<data root>/spa_eng/spa-eng.zip                    Anki/Tatoeba spa-eng
```

The data root is `pipelines.datasets.spec.default_data_root` (the
`DLSUITE_DATA` folder); every function also takes an explicit `root`. The
paths feed `pipelines.text.parallel.read_parallel_files` and
`read_tsv_pairs`.
"""

from pathlib import Path

from pipelines.datasets.spec import default_data_root
from pipelines.errors import DataError

MULTI30K_SPLITS = (
    "train",
    "val",
    "test_2016_flickr",
    "test_2017_flickr",
    "test_2017_mscoco",
    "test_2018_flickr",
)
_SPLIT_ALIASES = {
    "valid": "val",
    "validation": "val",
    "test": "test_2016_flickr",
}


def _shared(folder: str, root: str | Path | None) -> Path:
    if root is not None:
        return Path(root).expanduser()
    data = default_data_root()
    if data is None:
        raise DataError(
            f"no data root: set DLSUITE_DATA or pass root= (the {folder} "
            "folder)"
        )
    return data / folder


def multi30k_paths(
    root: str | Path | None,
    split: str,
    src: str = "en",
    tgt: str = "de",
) -> tuple[Path, Path]:
    """The source and target files of a Multi30k task-1 split.

    Args:
        root: the `multi30k` folder (holding `task1/raw/`), or the raw
            folder itself; None means `<data root>/multi30k`.
        split: one of `MULTI30K_SPLITS`, or `valid`/`validation` (`val`)
            or `test` (`test_2016_flickr`, the standard test set).
        src: source language code.
        tgt: target language code.

    Returns:
        `(source_path, target_path)`: `{split}.{lang}.gz`, or the
        uncompressed `{split}.{lang}` when only that exists.

    Raises:
        DataError: an unknown split, or a file that does not exist.
    """
    split = _SPLIT_ALIASES.get(split, split)
    if split not in MULTI30K_SPLITS:
        raise DataError(
            f"multi30k: unknown split {split!r}; expected one of "
            f"{', '.join(MULTI30K_SPLITS)}"
        )
    base = _shared("multi30k", root)
    raw = base / "task1" / "raw"
    folder = raw if raw.is_dir() else base
    paths = []
    for lang in (src, tgt):
        path = folder / f"{split}.{lang}.gz"
        if not path.is_file() and (folder / f"{split}.{lang}").is_file():
            path = folder / f"{split}.{lang}"
        if not path.is_file():
            raise DataError(f"{path}: Multi30k file not found")
        paths.append(path)
    return paths[0], paths[1]


def spa_eng_path(root: str | Path | None = None) -> str:
    """`"<root>/spa-eng.zip:spa-eng/spa.txt"` for `read_tsv_pairs`.

    Args:
        root: the `spa_eng` folder; None means `<data root>/spa_eng`.

    Raises:
        DataError: the zip does not exist.
    """
    path = _shared("spa_eng", root) / "spa-eng.zip"
    if not path.is_file():
        raise DataError(f"{path}: spa-eng zip not found")
    return f"{path}:spa-eng/spa.txt"
