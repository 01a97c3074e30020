"""WordPiece vocabularies and in-graph tokenizers (tensorflow-text).

Token ids shared with the models: 0 `[PAD]`, 1 `[START]`, 2 `[END]`,
3 `[UNK]`; every vocabulary starts with these four, in that order.

`TextTokenizer` wraps `tensorflow_text.FastBertTokenizer`: its WordPiece
model is a constant inside the graph (no lookup table, no vocab file
asset), so a SavedModel that holds the tokenizer takes raw strings and
needs only `import tensorflow_text` to load.

Normalization, the same when learning the vocabulary and tokenizing:
- format characters (`\\p{Cf}`, e.g. zero-width spaces) removed; runs of
  whitespace, separators (`\\p{Z}`, e.g. no-break spaces) and control
  characters made one space; both ends stripped.
- `lower_case=True`: Unicode lower-casing (`tf.strings.lower` on UTF-8:
  `Ä -> ä`, and `ß` is kept, unlike case folding).
- Unicode NFC, so composed and decomposed accents give the same ids.
- `strip_accents=False` by default: accents carry meaning in German and
  Spanish (`Mann`/`man`, `está`/`esta`). With True, NFD and every
  nonspacing mark (`\\p{Mn}`) removed, as BERT's uncased models do.

The pre-tokenizer splits on whitespace and punctuation (BERT's rule), so
detokenization puts a space around every punctuation mark; with
`clean_punctuation=True` (default) `detokenize` removes the usual ones:

- no space before `. , ! ? ; : % ) ] }` and none after `( [ { ¿ ¡`;
- `'` and `-` between two letters or digits are joined (`don't`,
  `well-known`, `1998-03-03`); `. , : /` between two digits too (`3.5`,
  `10,000`, `10:30`, `3/3/98`, but also a list `1, 2` as `1,2`);
- no space inside a pair of `"..."`, `„...“` or `«...»` quotes;
- whitespace collapsed to single spaces, none at either end.

So `detokenize(tokenize(x)) == x` exactly for normalized text written
with that spacing whose words are all in the vocabulary; other text comes
back with the spacing above and an out-of-vocabulary word as `[UNK]`.
With a vocabulary learned on it, Multi30k val comes back exactly for
1,008 of 1,014 German and 1,011 of 1,014 English sentences; the others
differ in spacing only (`Obst- und` -> `obst-und`, `J.P.` -> `j. p.`,
`now ...` -> `now...`, `4' in` -> `4'in`, a no-break space -> a space).
"""

import time
from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf
import tensorflow_text as tf_text

RESERVED_TOKENS = ("[PAD]", "[START]", "[END]", "[UNK]")
PAD_ID = 0
START_ID = 1
END_ID = 2
UNK_ID = 3
SUFFIX = "##"

# (pattern, replacement) applied in order by `clean_spacing` (RE2 syntax).
_CLEANUPS = (
    (r"(\d) ([.,:/]) (\d)", r"\1\2\3"),
    (r"([\pL\pN]) (['-]) ([\pL\pN])", r"\1\2\3"),
    (r" ([.,!?;:%)\]}])", r"\1"),
    (r"([(\[{¿¡]) ", r"\1"),
    (r'" ([^"]*) "', r'"\1"'),
    (r"„ ([^“]*) “", r"„\1“"),
    (r"« ([^»]*) »", r"«\1»"),
    (r"\s+", " "),
)


def normalize_text(strings, *, lower_case=True, strip_accents=False):
    """Normalizes UTF-8 strings in the graph (see the module docstring).

    Args:
        strings: string tensor of any shape.
        lower_case: lower-case with Unicode rules.
        strip_accents: remove accents (NFD, drop nonspacing marks).

    Returns:
        String tensor of the same shape, in NFC, single-spaced.
    """
    strings = tf.convert_to_tensor(strings, tf.string)
    strings = tf.strings.regex_replace(strings, r"\p{Cf}", "")
    strings = tf.strings.regex_replace(strings, r"[\s\p{Z}\p{Cc}]+", " ")
    strings = tf.strings.strip(strings)
    if lower_case:
        strings = tf.strings.lower(strings, encoding="utf-8")
    if strip_accents:
        strings = tf_text.normalize_utf8(strings, "NFD")
        strings = tf.strings.regex_replace(strings, r"\p{Mn}", "")
    return tf_text.normalize_utf8(strings, "NFC")


def clean_spacing(strings):
    """Removes the spaces that pre-tokenization put around punctuation.

    Args:
        strings: string tensor of any shape, tokens joined by spaces.

    Returns:
        String tensor of the same shape (rules in the module docstring).
    """
    strings = tf.convert_to_tensor(strings, tf.string)
    for pattern, replacement in _CLEANUPS:
        # Twice: RE2 replaces non-overlapping matches (`1 . 2 . 3`).
        for _ in range(2 if pattern.startswith("(") else 1):
            strings = tf.strings.regex_replace(strings, pattern, replacement)
    return tf.strings.strip(strings)


def _check_vocab(vocab: Sequence[str], reserved: Sequence[str]) -> None:
    if tuple(vocab[: len(reserved)]) != tuple(reserved):
        raise ValueError(
            f"The vocabulary must start with {list(reserved)}. Received: "
            f"first tokens {list(vocab[: len(reserved)])}"
        )
    bad = [t for t in vocab if not t or any(c.isspace() for c in t)]
    seen = set()
    dupes = [t for t in vocab if t in seen or seen.add(t)]
    if bad or dupes:
        raise ValueError(
            "Vocabulary tokens must be distinct, non-empty and without "
            f"spaces. Received: bad={bad[:5]}, duplicated={dupes[:5]}"
        )


def build_wordpiece_vocab(
    texts: Iterable[str],
    *,
    vocab_size: int,
    lower_case: bool = True,
    strip_accents: bool = False,
    reserved: Sequence[str] = RESERVED_TOKENS,
    min_count: int = 2,
    batch_size: int = 1024,
    verbose: bool = True,
) -> list[str]:
    """Learns a WordPiece vocabulary with tensorflow-text's
    `bert_vocab_from_dataset` (offline).

    The texts are normalized exactly as `TextTokenizer` does with the same
    `lower_case` and `strip_accents`, then split on whitespace and
    punctuation. The learner picks a count threshold that gives about
    `vocab_size` tokens, never below `min_count`; every character seen
    (up to 1,000 distinct) gets a token, so a small corpus may give fewer
    tokens, a large alphabet more. The learner is pure Python: about one
    to three minutes for one side of Multi30k (29k sentences) on two
    busy CPU cores, so save the result (`TextTokenizer.save_vocab`).

    Args:
        texts: the training sentences of one language.
        vocab_size: the wanted size, reserved tokens included.
        lower_case: lower-case before learning.
        strip_accents: remove accents before learning.
        reserved: tokens put first, in order (ids `0..len - 1`).
        min_count: the lowest count threshold the learner may try (its
            own default, 10, gives about 3,500 tokens on Multi30k even
            when 8,000 are asked).
        batch_size: sentences per batch fed to the learner.
        verbose: print a one-line summary (size, texts, seconds).

    Returns:
        The tokens, reserved first; word-inner pieces start with `##`.

    Example:

    >>> vocab = build_wordpiece_vocab(corpus.targets, vocab_size=8000)
    >>> vocab[:4]
    ['[PAD]', '[START]', '[END]', '[UNK]']
    """
    from tensorflow_text.tools.wordpiece_vocab import (
        bert_vocab_from_dataset as bert_vocab,
    )

    if vocab_size <= len(reserved):
        raise ValueError(
            "vocab_size must exceed the number of reserved tokens. "
            f"Received: vocab_size={vocab_size}, reserved={list(reserved)}"
        )
    texts = list(texts)
    if not texts:
        raise ValueError("texts must not be empty. Received: texts=[]")
    start = time.perf_counter()
    dataset = (
        tf.data.Dataset.from_tensor_slices(tf.constant(texts, tf.string))
        .batch(batch_size)
        .map(
            lambda s: normalize_text(
                s, lower_case=lower_case, strip_accents=strip_accents
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .prefetch(tf.data.AUTOTUNE)
    )
    vocab = bert_vocab.bert_vocab_from_dataset(
        dataset,
        vocab_size=vocab_size,
        reserved_tokens=list(reserved),
        bert_tokenizer_params={"lower_case": False},
        learn_params={
            "lower_thresh": min_count,
            # Any count is below the number of words: fewer search steps.
            "upper_thresh": max(
                2 * min_count, sum(len(t.split()) for t in texts)
            ),
        },
    )
    _check_vocab(vocab, reserved)
    if verbose:
        print(
            f"wordpiece vocabulary: {len(vocab):,} tokens (asked "
            f"{vocab_size:,}) from {len(texts):,} texts in "
            f"{time.perf_counter() - start:.1f} s"
        )
    return list(vocab)


class TextTokenizer(tf.Module):
    """WordPiece tokenizer that lives in the graph (FastBertTokenizer).

    Args:
        vocab: tokens, starting with `RESERVED_TOKENS`; word-inner pieces
            start with `##`.
        lower_case: lower-case the input (Unicode).
        strip_accents: remove accents; default False (see module doc).
        clean_punctuation: `detokenize` removes the spaces around
            punctuation (see module doc); False joins tokens with spaces.
        name: module name.

    Call arguments (`tokenize`):
        strings: `(batch,)` string tensor of raw UTF-8 text.

    Returns (`tokenize`):
        `(batch, None)` int32 `tf.RaggedTensor` of ids, no `[START]` or
        `[END]` added; unknown words are `[UNK]` (id 3).

    A SavedModel of this module has two functions: `tokenize` (strings
    `(batch,)`) and `detokenize_ids` (int32 `(batch, length)`, 0-padded).

    Example:

    >>> tokenizer = TextTokenizer(vocab)
    >>> ids = tokenizer.tokenize(tf.constant(["A man, sitting."]))
    >>> tokenizer.detokenize(ids).numpy()
    array([b'a man, sitting.'], dtype=object)
    """

    def __init__(
        self,
        vocab: Sequence[str],
        *,
        lower_case: bool = True,
        strip_accents: bool = False,
        clean_punctuation: bool = True,
        name: str | None = None,
    ):
        super().__init__(name=name)
        vocab = [str(t) for t in vocab]
        _check_vocab(vocab, RESERVED_TOKENS)
        self._vocab = tuple(vocab)
        self.lower_case = bool(lower_case)
        self.strip_accents = bool(strip_accents)
        self.clean_punctuation = bool(clean_punctuation)
        self._tokenizer = tf_text.FastBertTokenizer(
            vocab=vocab,
            suffix_indicator=SUFFIX,
            token_out_type=tf.int32,
            unknown_token=RESERVED_TOKENS[UNK_ID],
            support_detokenization=True,
            lower_case_nfd_strip_accents=False,
        )

    @classmethod
    def characters(cls, alphabet: Iterable[str], **kwargs) -> "TextTokenizer":
        """A character-level tokenizer: one token per character (and its
        `##` word-inner form), e.g. for the dates task.

        Args:
            alphabet: the characters (or texts to take them from);
                whitespace is ignored.
            **kwargs: as `TextTokenizer` (`lower_case` applies to input
                only: give a lower-case alphabet with it).
        """
        chars = sorted({c for text in alphabet for c in text if c.strip()})
        vocab = list(RESERVED_TOKENS) + chars + [SUFFIX + c for c in chars]
        return cls(vocab, **kwargs)

    @classmethod
    def from_vocab_file(cls, path: str | Path, **kwargs) -> "TextTokenizer":
        """Reads a vocabulary written by `save_vocab` (one token a line).

        Args:
            path: the vocabulary file.
            **kwargs: normalization options, as `TextTokenizer` (they are
                not stored in the file: keep `get_config()` beside it).

        Raises:
            FileNotFoundError: no such file.
            ValueError: a vocabulary that does not start with the
                reserved tokens.
        """
        text = Path(path).read_text(encoding="utf-8")
        return cls([t for t in text.split("\n") if t], **kwargs)

    def save_vocab(self, path: str | Path) -> Path:
        """Writes the vocabulary, one token a line, UTF-8 (BERT's
        `vocab.txt` format); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self._vocab) + "\n", encoding="utf-8")
        return path

    def get_config(self) -> dict:
        """The normalization options (to rebuild with `from_vocab_file`)."""
        return {
            "lower_case": self.lower_case,
            "strip_accents": self.strip_accents,
            "clean_punctuation": self.clean_punctuation,
        }

    @property
    def vocab(self) -> tuple[str, ...]:
        """The tokens; `vocab[i]` has id `i`."""
        return self._vocab

    @property
    def vocab_size(self) -> int:
        """Number of tokens (the models' embedding and output size)."""
        return len(self._vocab)

    def normalize(self, strings):
        """`normalize_text` with this tokenizer's options."""
        return normalize_text(
            strings,
            lower_case=self.lower_case,
            strip_accents=self.strip_accents,
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, strings):
        """`(batch,)` strings -> `(batch, None)` int32 ragged ids."""
        return self._tokenizer.tokenize(self.normalize(strings))

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def detokenize_ids(self, ids):
        """`(batch, length)` int32 ids -> `(batch,)` strings.

        Everything from the first `[END]` on is dropped, then `[PAD]` and
        `[START]`; `[UNK]` stays as the text `[UNK]`.
        """
        ended = tf.cumsum(tf.cast(tf.equal(ids, END_ID), tf.int32), axis=1)
        keep = tf.logical_and(tf.equal(ended, 0), ids > END_ID)
        ids = tf.ragged.boolean_mask(ids, keep)
        strings = self._tokenizer.detokenize(ids)
        strings = tf.reshape(strings, [-1])
        if self.clean_punctuation:
            return clean_spacing(strings)
        return tf.strings.strip(tf.strings.regex_replace(strings, r"\s+", " "))

    def detokenize(self, ids):
        """Ids back to text.

        Args:
            ids: `(batch, length)` ids, a dense tensor or array (padded
                with 0) or a `tf.RaggedTensor`, int32 or int64.

        Returns:
            `(batch,)` string tensor (see `detokenize_ids`).
        """
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(default_value=PAD_ID)
        ids = tf.cast(tf.convert_to_tensor(ids), tf.int32)
        return self.detokenize_ids(ids)
