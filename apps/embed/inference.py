"""A trained run of `apps.embed`, loaded: its config and vocabulary, its
Keras model, its word vectors, its language model's perplexity."""

import time
from pathlib import Path

import keras
import tensorflow as tf

from apps.common import config as config_lib
from apps.common import runs
from apps.common.config import ConfigError
from apps.embed.config import EmbedConfig
from apps.embed.data import VOCAB_FILE
from apps.embed.data import held_out_split
from apps.embed.data import lm_sequences
from apps.embed.lm import NGRAM_FILE
from apps.embed.lm import KneserNeyLM
from apps.embed.model import embedding_matrix
from apps.embed.query import WordVectors
from layers.metrics.text import perplexity
from pipelines.text.corpus import Vocabulary


def load_run(run_dir: Path) -> tuple[EmbedConfig, Vocabulary]:
    """The config and vocabulary of a trained run.

    Raises:
        RunError: the folder is missing, not a run, or not trained.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise runs.RunError(f"{run_dir}: run folder not found")
    if not (run_dir / runs.CONFIG_FILE).is_file():
        raise runs.RunError(f"{run_dir}: not a run folder (no config.yaml)")
    cfg = config_lib.resolve(
        EmbedConfig, config_file=run_dir / runs.CONFIG_FILE
    )
    artifact = NGRAM_FILE if cfg.model.method == "ngram" else runs.MODEL_FILE
    if (
        not (run_dir / artifact).is_file()
        or not (run_dir / VOCAB_FILE).is_file()
    ):
        raise runs.RunError(
            f"{run_dir}: run has no {artifact}; train it first (re-running "
            "train resumes an interrupted run)"
        )
    return cfg, Vocabulary.load(run_dir / VOCAB_FILE)


def keras_model(run_dir: Path) -> keras.Model:
    """The run's `model.keras` (uncompiled): the embedding matrix, or the
    RNN language model."""
    return keras.saving.load_model(
        Path(run_dir) / runs.MODEL_FILE, compile=False, safe_mode=True
    )


def load_vectors(run_dir: Path) -> tuple[EmbedConfig, WordVectors]:
    """The run's word vectors (any method but `ngram`)."""
    cfg, vocab = load_run(run_dir)
    if cfg.model.method == "ngram":
        raise ConfigError(
            f"{run_dir}: an n-gram model has no word vectors (train sgns, "
            "cbow, glove, softmax or rnnlm)"
        )
    vectors = embedding_matrix(keras_model(run_dir))
    lower = cfg.data.tokenizer == "text8"
    return cfg, WordVectors(vocab.words, vectors, lower=lower)


def lm_perplexity(run_dir: Path, cfg, vocab, split: str) -> dict:
    """Perplexity of the run's language model on a held-out split."""
    corpus = held_out_split(cfg.data, vocab, split)
    start = time.time()
    if cfg.model.method == "ngram":
        model = KneserNeyLM.load(Path(run_dir) / NGRAM_FILE)
        log_p, tokens = model.log_likelihood(corpus.ids)
        value = float(perplexity(-log_p, tokens))
    else:
        model = keras_model(run_dir)
        inputs, targets, weights = lm_sequences(
            corpus.ids, cfg.model.sequence_length
        )
        total = 0.0  # summed -log p, a batch at a time (logits are big)
        for first in range(0, len(inputs), 64):
            batch = slice(first, first + 64)
            nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=targets[batch],
                logits=model(inputs[batch], training=False),
            )
            total += float(tf.reduce_sum(nll * weights[batch]))
        tokens = int(weights.sum())
        value = float(perplexity(total, tokens))
    return {
        "perplexity": value,
        "tokens": int(tokens),
        "seconds": round(time.time() - start, 1),
    }
