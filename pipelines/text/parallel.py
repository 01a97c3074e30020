"""Parallel corpora (source and target sentences) read from files.

Two file layouts are read into one `ParallelCorpus`:

```
train.en.gz + train.de.gz    line-aligned files, plain or gzip (Multi30k)
spa-eng.zip:spa-eng/spa.txt  tab-separated pairs, plain, gzip or in a zip
```

`pipelines.text.parallel_tfds` reads tensorflow-datasets translation
builders into the same record, and `pipelines.text.parallel_paths` knows
where Multi30k and spa-eng lie in the shared data folder.

Lines are read one at a time (a 100 MB file is never held twice), decoded
as UTF-8 and stripped of surrounding whitespace (`decode_line`). A line
that is not valid UTF-8, an empty line on either side, or a TSV line with
too few columns is skipped and listed in `ParallelCorpus.skipped` as
`(file, line, reason)` with a 1-based line number; with `strict=True` the
first one raises a `DataError` naming the file and line instead.
"""

import dataclasses
import gzip
import re
import zipfile
from collections import Counter
from contextlib import contextmanager
from itertools import zip_longest
from pathlib import Path

from pipelines.errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MEMBER = re.compile(r"^(?P<zip>.+\.zip):(?P<member>[^\\:]+)$", re.I)


@dataclasses.dataclass
class ParallelCorpus:
    """Aligned sentence pairs.

    Attributes:
        sources: source sentences, stripped, never empty.
        targets: target sentences, `targets[i]` translates `sources[i]`.
        skipped: `(file, line, reason)` of each line left out; `line` is
            1-based (the example number for tfds sources).
    """

    sources: list[str]
    targets: list[str]
    skipped: list[tuple[str, int, str]] = dataclasses.field(
        default_factory=list
    )

    def __post_init__(self):
        if len(self.sources) != len(self.targets):
            raise ValueError(
                "sources and targets must have the same length. Received: "
                f"{len(self.sources)} sources, {len(self.targets)} targets"
            )

    def __len__(self) -> int:
        return len(self.sources)


@contextmanager
def _open_binary(path: Path):
    """Opens a plain or gzip file (by suffix or magic bytes) for reading."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, "rb") as raw:
        gzipped = path.suffix == ".gz" or raw.read(2) == _GZIP_MAGIC
    opener = gzip.open if gzipped else open
    with opener(path, "rb") as stream:
        yield stream


def decode_line(raw: bytes, line: int) -> tuple[str | None, str]:
    """Decodes one raw line of a corpus as UTF-8.

    Args:
        raw: the line's bytes, its line ending included or not.
        line: its 1-based number; a byte-order mark is dropped on line 1.

    Returns:
        `(text without its line ending, "")` for a usable line, else
        `(None, reason)`: invalid UTF-8 (naming the byte and offset) or an
        empty line.

    Example:

    >>> decode_line(b"Hallo.\\n", 2)
    ('Hallo.', '')
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = raw[err.start : err.start + 1].hex()
        return None, f"invalid UTF-8 (byte 0x{bad} at offset {err.start})"
    if line == 1:
        text = text.lstrip("\ufeff")
    if not text.strip():
        return None, "empty line"
    return text.rstrip("\r\n"), ""


def _skip(
    skipped: list, file: str, line: int, reason: str, strict: bool
) -> None:
    if strict:
        raise DataError(f"{file}:{line}: {reason}")
    skipped.append((file, line, reason))


def read_parallel_files(
    source_path: str | Path,
    target_path: str | Path,
    *,
    max_pairs: int | None = None,
    strict: bool = False,
) -> ParallelCorpus:
    """Reads two line-aligned files (line i of one translates line i of
    the other), plain or gzip, UTF-8.

    Args:
        source_path: the source-language file.
        target_path: the target-language file.
        max_pairs: stop after this many kept pairs (the line counts are
            then not compared past that point).
        strict: raise on the first bad line instead of skipping it.

    Returns:
        A `ParallelCorpus`; a pair is skipped when either side is invalid
        UTF-8 or empty, and each bad side is listed by its file and line.

    Raises:
        DataError: a file is missing; the files have different numbers of
            lines (naming both files and both counts); with `strict`, the
            first bad line (`"<file>:<line>: <reason>"`).

    Example:

    >>> corpus = read_parallel_files("val.en.gz", "val.de.gz")
    >>> len(corpus), corpus.sources[0]
    """
    source_path, target_path = Path(source_path), Path(target_path)
    files = (str(source_path), str(target_path))
    sources, targets, skipped = [], [], []
    with _open_binary(source_path) as src, _open_binary(target_path) as tgt:
        counts = [0, 0]
        pairs = zip_longest(src, tgt)
        for number, (raw_src, raw_tgt) in enumerate(pairs, start=1):
            if raw_src is None or raw_tgt is None:
                counts = [number - 1, number - 1]
                longer = 0 if raw_tgt is None else 1
                counts[longer] = number + sum(1 for _ in pairs)
                raise DataError(
                    f"{files[0]} has {counts[0]} lines but {files[1]} has "
                    f"{counts[1]}: line-aligned files must have the same "
                    "number of lines"
                )
            texts = []
            for file, raw in zip(files, (raw_src, raw_tgt)):
                text, reason = decode_line(raw, number)
                if text is None:
                    _skip(skipped, file, number, reason, strict)
                texts.append(text and text.strip())
            if None in texts:
                continue
            sources.append(texts[0])
            targets.append(texts[1])
            if max_pairs is not None and len(sources) >= max_pairs:
                break
    return ParallelCorpus(sources, targets, skipped)


def _split_zip_path(path: str, member: str | None) -> tuple[Path, str | None]:
    match = _ZIP_MEMBER.match(path)
    if match and not Path(path).is_file():
        if member is not None and member != match["member"]:
            raise ValueError(
                "Give the zip member once, in the path or as member=. "
                f"Received: path={path!r}, member={member!r}"
            )
        return Path(match["zip"]), match["member"]
    return Path(path), member


@contextmanager
def _open_tsv(path: Path, member: str | None):
    """Yields `(name for messages, binary line stream)`."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if not zipfile.is_zipfile(path):
        if member is not None:
            raise DataError(f"{path}: not a zip file, cannot read {member!r}")
        with _open_binary(path) as stream:
            yield str(path), stream
        return
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if member is None and len(names) == 1:
            member = names[0]
        if member not in names:
            raise DataError(
                f"{path}: name the member to read as {path}:<member> or "
                f"member=; the zip holds {', '.join(sorted(names))}"
                + (f" (not {member!r})" if member else "")
            )
        with archive.open(member) as raw:
            stream = gzip.open(raw) if member.endswith(".gz") else raw
            yield f"{path}:{member}", stream


def read_tsv_pairs(
    path: str | Path,
    *,
    source_column: int = 0,
    target_column: int = 1,
    member: str | None = None,
    max_pairs: int | None = None,
    strict: bool = False,
) -> ParallelCorpus:
    """Reads tab-separated pairs, the Anki/Tatoeba format
    (`English<TAB>Spanish[<TAB>attribution]`).

    Args:
        path: a plain or gzip TSV file, a zip, or `archive.zip:member`.
        source_column: 0-based column of the source sentence.
        target_column: 0-based column of the target sentence.
        member: the file inside a zip (default: the zip's only file).
        max_pairs: stop after this many kept pairs.
        strict: raise on the first bad line instead of skipping it.

    Returns:
        A `ParallelCorpus`; lines with invalid UTF-8, too few columns or an
        empty source or target field are skipped and listed by line.

    Raises:
        DataError: a missing file or zip member (naming the members), or
            with `strict` the first bad line (`"<file>:<line>: ..."`).

    Example:

    >>> corpus = read_tsv_pairs("spa_eng/spa-eng.zip:spa-eng/spa.txt")
    >>> corpus.sources[0], corpus.targets[0]
    ('Go.', 'Ve.')
    """
    if min(source_column, target_column) < 0 or source_column == target_column:
        raise ValueError(
            "source_column and target_column must be distinct and >= 0. "
            f"Received: source_column={source_column}, "
            f"target_column={target_column}"
        )
    zip_path, member = _split_zip_path(str(path), member)
    needed = max(source_column, target_column) + 1
    sources, targets, skipped = [], [], []
    with _open_tsv(zip_path, member) as (name, stream):
        for number, raw in enumerate(stream, start=1):
            text, reason = decode_line(raw, number)
            if text is None:
                _skip(skipped, name, number, reason, strict)
                continue
            fields = [f.strip() for f in text.split("\t")]
            if len(fields) < needed:
                reason = (
                    f"expected at least {needed} tab-separated columns, "
                    f"found {len(fields)}"
                )
            elif not fields[source_column] or not fields[target_column]:
                reason = "empty source or target column"
            if reason:
                _skip(skipped, name, number, reason, strict)
                continue
            sources.append(fields[source_column])
            targets.append(fields[target_column])
            if max_pairs is not None and len(sources) >= max_pairs:
                break
    return ParallelCorpus(sources, targets, skipped)


def _side(texts: list[str]) -> str:
    words = [len(t.split()) for t in texts]
    total = sum(words)
    mean = total / len(words) if words else 0.0
    return (
        f"{total:,} words (mean {mean:.1f}, max {max(words, default=0)}), "
        f"{len(set(texts)):,} distinct"
    )


def summary(corpus: ParallelCorpus) -> str:
    """A few lines describing a corpus: pairs, words per side (whitespace
    split), and skipped lines by reason.

    Example:

    >>> print(summary(corpus))
    1,014 pairs
      source: 12,167 words (mean 12.0, max 38), 1,014 distinct
      target: 11,568 words (mean 11.4, max 36), 1,014 distinct
      skipped: none
    """
    reasons = Counter(
        re.sub(r"\(.*\)", "(...)", r.split(": ", 1)[-1])
        for _, _, r in corpus.skipped
    )
    skipped = (
        ", ".join(f"{n} {reason}" for reason, n in reasons.most_common())
        or "none"
    )
    return "\n".join(
        [
            f"{len(corpus):,} pairs",
            f"  source: {_side(corpus.sources)}",
            f"  target: {_side(corpus.targets)}",
            f"  skipped: {skipped}",
        ]
    )
