"""Corpora of `apps.embed`: where the text comes from, its splits, and
the datasets of the methods trained with Keras' `fit`."""

import dataclasses
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.embed.config import LM_METHODS
from apps.embed.config import DataConfig
from apps.embed.config import EmbedConfig
from pipelines.datasets.spec import expand_data_path
from pipelines.text.corpus import EncodedCorpus
from pipelines.text.corpus import Vocabulary
from pipelines.text.corpus import encode_corpus
from pipelines.text.corpus import iter_sentences
from pipelines.text.corpus import read_encoded
from pipelines.text.skipgram import iter_chunks

# The vocabulary of a run, written into its folder by `train`.
VOCAB_FILE = "vocab.tsv"


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


@dataclasses.dataclass
class Corpus:
    """What `train` reads once: the vocabulary, the encoded splits
    (`train`, and for the language models `valid` and `test`), the
    seconds reading took, and (`softmax` only) the skip-gram `pairs`
    `(centers, contexts)` of one subsampling draw."""

    vocab: Vocabulary
    splits: dict[str, EncodedCorpus]
    read_seconds: float
    pairs: tuple[np.ndarray, np.ndarray] | None = None

    def summary(self) -> dict:
        """What every method's training summary ends with."""
        return {
            "vocabulary": len(self.vocab),
            "corpus_words": self.splits["train"].raw_words,
            "read_seconds": round(self.read_seconds, 1),
        }


def read_corpus(cfg: EmbedConfig, *, progress: bool = False) -> Corpus:
    """The corpus of `cfg.data`, with held-out splits for the language
    models; with `progress`, prints its size and the reading time."""
    start = time.time()
    vocab, splits = load_corpus(
        cfg.data, held_out=cfg.model.method in LM_METHODS
    )
    seconds = time.time() - start
    if progress:
        train = splits["train"]
        print(
            f"{train.raw_words:,} words in {train.num_sentences:,} lines, "
            f"vocabulary {len(vocab):,} (min_count {cfg.data.min_count}), "
            f"read in {seconds:.1f} s"
        )
    return Corpus(vocab, splits, seconds)


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


def lm_steps(num_tokens: int, length: int, batch_size: int) -> int:
    """Batches in one epoch of `lm_dataset` over `num_tokens` ids."""
    rows = max(1, -(-max(num_tokens - 1, 0) // length))
    return -(-rows // batch_size)


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


def skipgram_pairs(
    cfg: EmbedConfig, vocab: Vocabulary, corpus: EncodedCorpus
) -> tuple[np.ndarray, np.ndarray]:
    """`(centers, contexts)`, each `(pairs,)`: the skip-gram pairs of one
    subsampling draw over the whole corpus (for `softmax`)."""
    m = cfg.model
    centers, contexts = [], []
    for c, t, _, _ in iter_chunks(
        corpus,
        vocab.counts,
        window=m.window,
        sample=m.sample,
        seed=cfg.runtime.seed,
    ):
        centers.append(c)
        contexts.append(t)
    return np.concatenate(centers), np.concatenate(contexts)


def pair_dataset(
    pairs: tuple[np.ndarray, np.ndarray], batch_size: int, *, seed: int = 0
) -> tf.data.Dataset:
    """Shuffled `(center, context)` batches of `skipgram_pairs`."""
    centers, contexts = pairs
    return (
        tf.data.Dataset.from_tensor_slices((centers, contexts))
        .shuffle(min(len(centers), 1 << 20), seed=seed)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def read_word_list(path: str | Path) -> list[str]:
    """Words of a file, one or more a line (for `plot --words-file`)."""
    return Path(path).read_text(encoding="utf-8").split()
