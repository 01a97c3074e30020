"""Corpora of `apps.embed`: where the text comes from and its splits."""

from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.embed.config import DataConfig
from pipelines.datasets.spec import expand_data_path
from pipelines.text.corpus import EncodedCorpus
from pipelines.text.corpus import Vocabulary
from pipelines.text.corpus import encode_corpus
from pipelines.text.corpus import iter_sentences
from pipelines.text.corpus import read_encoded


def _paths(files: list[str], key: str) -> list[str]:
    return [
        expand_data_path(f, f"data.{key}[{i}]") for i, f in enumerate(files)
    ]


def _sentences(d: DataConfig, files: list[str] | None):
    return iter_sentences(files, tokenizer=d.tokenizer, eos=d.eos)


def corpus_name(d: DataConfig) -> str:
    """What the corpus is called in messages."""
    if d.source == "python_docs":
        return "the embedded Python-docs corpus"
    return ", ".join(d.train_files)


def load_corpus(
    d: DataConfig, *, held_out: bool = False
) -> tuple[Vocabulary, dict[str, EncodedCorpus]]:
    """The vocabulary and encoded splits (`train`, and with `held_out`
    also `valid` and `test`, from files or the last lines)."""
    files = (
        None
        if d.source == "python_docs"
        else _paths(d.train_files, "train_files")
    )
    explicit = held_out and d.valid_files and d.test_files
    vocab, splits = read_encoded(
        _sentences(d, files),
        min_count=d.min_count,
        max_size=d.max_vocab,
        unk=d.unk,
        max_words=d.max_words,
        holdout=d.holdout if held_out and not explicit else 0.0,
        where=corpus_name(d),
    )
    if explicit:
        for split, key in (("valid", "valid_files"), ("test", "test_files")):
            splits[split] = encode_corpus(
                _sentences(d, _paths(getattr(d, key), key)), vocab
            )
    return vocab, splits


def held_out_split(
    d: DataConfig, vocab: Vocabulary, split: str
) -> EncodedCorpus:
    """`valid` or `test` of a trained run, encoded with its vocabulary."""
    key = f"{split}_files"
    if (
        d.source == "files"
        and getattr(d, key)
        and d.valid_files
        and (d.test_files)
    ):
        return encode_corpus(_sentences(d, _paths(getattr(d, key), key)), vocab)
    _, splits = load_corpus(d, held_out=True)
    return splits[split]


def lm_sequences(
    ids: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cuts a token stream into `(inputs, targets, weights)`, each
    `(n, length)`: targets are the inputs shifted by one; the last row is
    padded with weight 0, so every token but the first is predicted
    exactly once."""
    ids = np.asarray(ids, np.int32)
    count = max(len(ids) - 1, 0)
    rows = max(1, -(-count // length))
    inputs = np.zeros(rows * length, np.int32)
    targets = np.zeros(rows * length, np.int32)
    weights = np.zeros(rows * length, np.float32)
    inputs[:count] = ids[:-1]
    targets[:count] = ids[1:]
    weights[:count] = 1.0
    shape = (rows, length)
    return inputs.reshape(shape), targets.reshape(shape), weights.reshape(shape)


def lm_dataset(
    ids: np.ndarray,
    length: int,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
) -> tf.data.Dataset:
    """`(inputs, targets, weights)` batches of `lm_sequences`."""
    inputs, targets, weights = lm_sequences(ids, length)
    ds = tf.data.Dataset.from_tensor_slices((inputs, targets, weights))
    if shuffle:
        ds = ds.shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def read_word_list(path: str | Path) -> list[str]:
    """Words of a file, one or more a line (for `plot --words-file`)."""
    return Path(path).read_text(encoding="utf-8").split()
