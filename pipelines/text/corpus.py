"""Streaming corpora and vocabularies for word embeddings and language
models.

A corpus is one or more text files, plain or gzipped (detected by their
magic bytes, not their name), with one sentence or paragraph per line. It
is read one line at a time and never held as text: `encode_corpus` turns
it into two int32 arrays, the word ids and, per word, the index of its
line (so skip-gram windows never cross a sentence).

Two tokenizers: `text8` (lower case, tokens are runs of `a-z`, as text8
and `realmix` are normalised) and `whitespace` (split on spaces, case
kept; PTB, where `<unk>` and `N` are tokens). `eos` appends a token to
every line (PTB's `<eos>`, needed for its standard 10k vocabulary).

The embedded default corpus needs no download: the docstrings of the
Python standard library of the running interpreter (`python_docs_lines`),
about 260 k words on Python 3.11, one paragraph a line.
"""

import ast
import collections
import dataclasses
import gzip
import itertools
import re
import sysconfig
from collections import Counter
from collections.abc import Iterable
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pipelines.errors import DataError

TOKENIZERS = ("text8", "whitespace")
_GZIP_MAGIC = b"\x1f\x8b"
_WORD = re.compile(r"[a-z]+")
_PARAGRAPH = re.compile(r"\n\s*\n")
_SKIPPED_PARTS = {"test", "tests", "idlelib", "site-packages", "turtledemo"}


def tokenize(line: str, tokenizer: str = "text8") -> list[str]:
    """Splits one line into tokens.

    Args:
        line: the text.
        tokenizer: `text8` (lower-cased runs of a-z) or `whitespace`.

    Returns:
        The tokens, possibly none.
    """
    if tokenizer == "text8":
        return _WORD.findall(line.lower())
    if tokenizer == "whitespace":
        return line.split()
    raise ValueError(
        f"Expected `tokenizer` to be one of {TOKENIZERS}. "
        f"Received: tokenizer={tokenizer!r}"
    )


def iter_lines(path: str | Path) -> Iterator[str]:
    """Yields the lines of a plain or gzipped UTF-8 file, one at a time.

    Raises:
        DataError: the file is missing, or a line is not UTF-8 (the message
            names the file and the 1-based line).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: corpus file not found")
    with path.open("rb") as probe:
        gzipped = probe.read(2) == _GZIP_MAGIC
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise DataError(f"{path}:{number}: not valid UTF-8")
    except (OSError, EOFError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{path}: cannot read ({err})")


def python_docs_lines() -> Iterator[str]:
    """The embedded corpus: every docstring (module, class, function) of
    the standard library's `.py` files, one paragraph a line, in sorted
    file order (tests, idlelib and site-packages left out)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        p
        for p in root.rglob("*.py")
        if not _SKIPPED_PARTS.intersection(p.relative_to(root).parts)
    )
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for path in files:
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, kinds):
                doc = ast.get_docstring(node)
                if doc:
                    for paragraph in _PARAGRAPH.split(doc):
                        text = " ".join(paragraph.split())
                        if text:
                            yield text


def iter_sentences(
    sources: Iterable[str | Path] | None,
    *,
    tokenizer: str = "text8",
    eos: str = "",
) -> Iterator[list[str]]:
    """Yields the token list of each non-empty line of the corpus.

    Args:
        sources: corpus files (plain or gzip), read in order; None reads
            the embedded Python-docs corpus.
        tokenizer: `text8` or `whitespace`.
        eos: if not empty, a token appended to every line.
    """
    if sources is None:
        streams = [python_docs_lines()]
    else:
        streams = (iter_lines(p) for p in sources)
    for lines in streams:
        for line in lines:
            tokens = tokenize(line, tokenizer)
            if tokens:
                if eos:
                    tokens.append(eos)
                yield tokens


@dataclasses.dataclass
class Vocabulary:
    """Words sorted by decreasing count (ties alphabetically), with counts.

    Attributes:
        words: id -> word.
        counts: `(V,)` int64 corpus counts, `counts[i]` of `words[i]`.
        unk: the unknown-word token, or "" when unknown words are dropped
            (word2vec, GloVe) rather than mapped to it (language models).
    """

    words: list[str]
    counts: np.ndarray
    unk: str = ""

    def __post_init__(self):
        self.counts = np.asarray(self.counts, np.int64)
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    @property
    def unk_id(self) -> int:
        """The id of `unk`, or -1 when unknown words are dropped."""
        return self.index.get(self.unk, -1) if self.unk else -1

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of `tokens`: unknown ones map to `unk`, or are dropped."""
        unk = self.unk_id
        get = self.index.get
        if unk < 0:
            return [i for i in (get(t, -1) for t in tokens) if i >= 0]
        return [get(t, unk) for t in tokens]

    def save(self, path: str | Path) -> None:
        """Writes `word<TAB>count` lines (the unk token first, marked)."""
        lines = [f"#unk\t{self.unk}\n"] + [
            f"{w}\t{c}\n" for w, c in zip(self.words, self.counts.tolist())
        ]
        Path(path).write_text("".join(lines), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        """Reads what `save` wrote."""
        words, counts, unk = [], [], ""
        for number, line in enumerate(
            Path(path).read_text(encoding="utf-8").splitlines(), start=1
        ):
            word, _, count = line.rpartition("\t")
            if number == 1 and word == "#unk":
                unk = count
                continue
            if not word or not count.isdigit():
                raise DataError(f"{path}:{number}: expected word<TAB>count")
            words.append(word)
            counts.append(int(count))
        return cls(words, np.array(counts, np.int64), unk)


def vocabulary_from_counts(
    counter: dict,
    *,
    min_count: int = 5,
    max_size: int = 0,
    unk: str = "",
    where: str = "corpus",
) -> Vocabulary:
    """Keeps the words seen at least `min_count` times.

    Args:
        counter: word -> count.
        min_count: the smallest count kept.
        max_size: keep at most this many words (0: no limit).
        unk: if set, a token for every other word (its count is theirs).
        where: names the corpus in errors.

    Returns:
        A `Vocabulary`.

    Raises:
        DataError: the corpus is empty, or fewer than 2 distinct words
            survive `min_count` (no context to learn from).
    """
    counter = {w: c for w, c in counter.items() if c > 0}
    if not counter:
        raise DataError(f"{where}: the corpus is empty (no words)")
    items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [(w, c) for w, c in items if c >= min_count and w != unk]
    if max_size:
        kept = kept[: max_size - (1 if unk else 0)]
    if len(kept) < 2:
        raise DataError(
            f"{where}: {len(counter)} distinct word(s), {len(kept)} with "
            f"count >= {min_count}; expected at least 2 (lower "
            "data.min_count or give a larger corpus)"
        )
    if unk:
        dropped = sum(counter.values()) - sum(c for _, c in kept)
        kept.append((unk, dropped))
        kept.sort(key=lambda kv: (-kv[1], kv[0]))
    words = [w for w, _ in kept]
    return Vocabulary(words, np.array([c for _, c in kept], np.int64), unk)


def build_vocabulary(sentences: Iterable[list[str]], **kwargs) -> Vocabulary:
    """Counts the words of token lists; `vocabulary_from_counts` keeps
    them (same keyword arguments)."""
    counter = Counter()
    for tokens in sentences:
        counter.update(tokens)
    return vocabulary_from_counts(counter, **kwargs)


@dataclasses.dataclass
class EncodedCorpus:
    """A corpus as ids.

    Attributes:
        ids: `(N,)` int32 word ids, lines concatenated.
        sentence: `(N,)` int32 line index of each word (non-decreasing).
        raw_words: tokens read, including words dropped as unknown (what
            gensim's "raw words per second" counts).
    """

    ids: np.ndarray
    sentence: np.ndarray
    raw_words: int

    @property
    def num_sentences(self) -> int:
        return int(self.sentence[-1]) + 1 if len(self.sentence) else 0


def encode_corpus(
    sentences: Iterable[list[str]],
    vocab: Vocabulary,
    *,
    block: int = 1 << 20,
) -> EncodedCorpus:
    """Encodes token lists into int32 arrays, a block at a time.

    Args:
        sentences: token lists.
        vocab: the vocabulary (unknown words map to its `unk` or are
            dropped).
        block: tokens gathered before they are turned into arrays.
    """
    ids_parts, sent_parts = [], []
    ids, sents = [], []
    raw = 0
    line = 0
    for tokens in sentences:
        raw += len(tokens)
        encoded = vocab.encode(tokens)
        if not encoded:
            continue
        ids.extend(encoded)
        sents.extend([line] * len(encoded))
        line += 1
        if len(ids) >= block:
            ids_parts.append(np.array(ids, np.int32))
            sent_parts.append(np.array(sents, np.int32))
            ids, sents = [], []
    ids_parts.append(np.array(ids, np.int32))
    sent_parts.append(np.array(sents, np.int32))
    return EncodedCorpus(
        np.concatenate(ids_parts), np.concatenate(sent_parts), raw
    )


def read_encoded(
    sentences: Iterable[list[str]],
    *,
    min_count: int = 5,
    max_size: int = 0,
    unk: str = "",
    max_words: int = 0,
    holdout: float = 0.0,
    where: str = "corpus",
) -> tuple[Vocabulary, dict[str, EncodedCorpus]]:
    """Reads a corpus once: counts and encodes in the same pass.

    Every new word gets a provisional id as it is met; the vocabulary is
    chosen from the counts at the end and the ids are remapped with one
    array lookup, so the text is tokenized only once.

    Args:
        sentences: token lists.
        min_count, max_size, unk: as in `vocabulary_from_counts`.
        max_words: stop after the line that reaches this many tokens (0:
            read everything).
        holdout: if > 0, the last `holdout` fraction of the lines is kept
            out of the vocabulary and returned as `valid` (first half) and
            `test` (second half); their unknown words map to `unk`.
        where: names the corpus in errors.

    Returns:
        `(vocab, splits)`: `splits["train"]` and, with `holdout`,
        `splits["valid"]`, `splits["test"]`.
    """
    index = collections.defaultdict(itertools.count().__next__)
    parts, lengths, block = [], [], []
    raw = 0
    for tokens in sentences:
        block.extend([index[t] for t in tokens])
        lengths.append(len(tokens))
        raw += len(tokens)
        if len(block) >= 1 << 20:
            parts.append(np.array(block, np.int32))
            block = []
        if max_words and raw >= max_words:
            break
    parts.append(np.array(block, np.int32))
    provisional = np.concatenate(parts)
    lengths = np.array(lengths, np.int64)
    lines = len(lengths)
    train_lines = lines
    if holdout > 0:
        train_lines = lines - max(2, int(round(lines * holdout)))
        if train_lines < 1:
            raise DataError(
                f"{where}: {lines} line(s), too few to hold out "
                f"{holdout:.0%} for validation and test"
            )
    train_tokens = int(lengths[:train_lines].sum())
    counts = np.bincount(provisional[:train_tokens], minlength=len(index))
    words = list(index)
    vocab = vocabulary_from_counts(
        dict(zip(words, counts.tolist())),
        min_count=min_count,
        max_size=max_size,
        unk=unk,
        where=where,
    )
    mapping = np.array(
        [vocab.index.get(w, vocab.unk_id) for w in words], np.int32
    )
    ids = mapping[provisional] if len(words) else provisional
    sentence = np.repeat(np.arange(lines, dtype=np.int32), lengths)

    def split(lo, hi):
        start, end = int(lengths[:lo].sum()), int(lengths[:hi].sum())
        part_ids, part_sentence = ids[start:end], sentence[start:end]
        keep = part_ids >= 0
        return EncodedCorpus(
            part_ids[keep], part_sentence[keep] - lo, end - start
        )

    splits = {"train": split(0, train_lines)}
    if holdout > 0:
        middle = train_lines + (lines - train_lines) // 2
        splits["valid"] = split(train_lines, middle)
        splits["test"] = split(middle, lines)
    return vocab, splits
