"""Tests of pipelines/text/corpus.py: reading plain and gzipped files,
tokenizers, vocabularies (min_count, unk, ordering), the one-pass
encoder against the two-pass one, held-out splits and bad input."""

import gzip
import itertools

import numpy as np
import pytest

from pipelines.errors import DataError
from pipelines.text.corpus import Vocabulary
from pipelines.text.corpus import build_vocabulary
from pipelines.text.corpus import encode_corpus
from pipelines.text.corpus import iter_sentences
from pipelines.text.corpus import python_docs_lines
from pipelines.text.corpus import read_encoded
from pipelines.text.corpus import tokenize

TEXT = "The cat sat.\n\nthe dog sat on the mat!\nA cat, a dog.\n"


def test_tokenizers():
    assert tokenize("It's 3 o'clock, Mr. Bean") == [
        "it",
        "s",
        "o",
        "clock",
        "mr",
        "bean",
    ]
    assert tokenize("the <unk> rose N %", "whitespace") == [
        "the",
        "<unk>",
        "rose",
        "N",
        "%",
    ]
    with pytest.raises(ValueError, match="tokenizer"):
        tokenize("x", "bpe")


def test_plain_and_gzip_read_the_same(tmp_path):
    plain = tmp_path / "c.txt"
    plain.write_text(TEXT)
    packed = tmp_path / "c.bin"  # gzip detected by content, not by name
    packed.write_bytes(gzip.compress(TEXT.encode()))
    a = list(iter_sentences([plain]))
    b = list(iter_sentences([packed], eos="</s>"))
    assert a == [
        ["the", "cat", "sat"],
        ["the", "dog", "sat", "on", "the", "mat"],
        ["a", "cat", "a", "dog"],
    ]
    assert b == [s + ["</s>"] for s in a]


def test_bad_files_raise_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        list(iter_sentences([tmp_path / "missing.txt"]))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\n\xff\xfe broken\n")
    with pytest.raises(DataError, match=r"bad.txt:2: not valid UTF-8"):
        list(iter_sentences([bad]))


def test_vocabulary_order_min_count_and_unk(tmp_path):
    sentences = [["b", "a", "c"], ["a", "b", "a"], ["d"]]
    vocab = build_vocabulary(sentences, min_count=2)
    assert vocab.words == ["a", "b"]
    assert vocab.counts.tolist() == [3, 2]
    assert vocab.encode(["a", "zz", "b"]) == [0, 1]  # unknown dropped
    with_unk = build_vocabulary(sentences, min_count=2, unk="<unk>")
    assert with_unk.words == ["a", "<unk>", "b"]  # unk counts c and d: 2
    assert with_unk.encode(["zz", "b"]) == [1, 2]
    with_unk.save(tmp_path / "v.tsv")
    again = Vocabulary.load(tmp_path / "v.tsv")
    assert again.words == with_unk.words and again.unk == "<unk>"
    assert again.counts.tolist() == with_unk.counts.tolist()


def test_empty_and_one_word_corpora_are_refused(tmp_path):
    with pytest.raises(DataError, match="empty"):
        build_vocabulary([[], []], where="empty.txt")
    with pytest.raises(DataError, match="expected at least 2"):
        build_vocabulary([["word"] * 10], min_count=1)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(DataError, match="empty"):
        read_encoded(iter_sentences([empty]), where=str(empty))


def test_one_pass_encoder_matches_two_passes():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    sentences = [
        list(rng.choice(words, size=rng.integers(1, 12), p=None))
        for _ in range(200)
    ]
    vocab, splits = read_encoded(iter(sentences), min_count=3)
    reference = build_vocabulary(sentences, min_count=3)
    assert vocab.words == reference.words
    assert vocab.counts.tolist() == reference.counts.tolist()
    encoded = encode_corpus(sentences, reference)
    np.testing.assert_array_equal(splits["train"].ids, encoded.ids)
    np.testing.assert_array_equal(splits["train"].sentence, encoded.sentence)
    assert splits["train"].raw_words == sum(len(s) for s in sentences)


def test_holdout_and_max_words():
    sentences = [["a", "b", "c", "a"]] * 18 + [["new", "a"], ["b", "zz"]]
    vocab, splits = read_encoded(
        iter(sentences), min_count=1, unk="<unk>", holdout=0.1
    )
    assert "new" not in vocab and "zz" not in vocab  # held-out words
    assert len(splits["train"].ids) == 18 * 4
    assert splits["valid"].ids.tolist() == vocab.encode(["new", "a"])
    assert splits["test"].ids.tolist() == vocab.encode(["b", "zz"])
    assert splits["valid"].ids[0] == vocab.unk_id
    _, capped = read_encoded(iter(sentences), min_count=1, max_words=9)
    assert capped["train"].raw_words == 12  # stops after the 9th word's line


def test_python_docs_corpus_is_there():
    lines = list(itertools.islice(python_docs_lines(), 50))
    assert len(lines) == 50
    words = sum(len(tokenize(line)) for line in lines)
    assert words > 200
