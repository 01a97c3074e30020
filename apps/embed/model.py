"""Keras models of `apps.embed`: the shared embedding matrix, the
full-softmax skip-gram and the RNN language model.

Every embedding method ends in the same artifact, the cheatsheet's
embedding matrix `E` (`e_w = E o_w`, a row lookup) as the single
`Embedding` layer of `embedding_model`, saved as the run's `model.keras`.
"""

import keras
import numpy as np

from apps.common import optimizers
from apps.common.config import ConfigError
from apps.embed.config import EmbedConfig
from layers.metrics.text import Perplexity

# The vocabulary size `apps.inspect` assumes when `data.max_vocab` is 0.
INSPECT_VOCAB = 10000


def embedding_model(vectors: np.ndarray) -> keras.Model:
    """`(batch, n)` word ids -> `(batch, n, d)` rows of `E = vectors`."""
    vocab_size, dim = vectors.shape
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    layer = keras.layers.Embedding(vocab_size, dim, name="embedding")
    model = keras.Model(ids, layer(ids), name="embeddings")
    layer.set_weights([np.asarray(vectors, np.float32)])
    return model


def embedding_matrix(model: keras.Model) -> np.ndarray:
    """`E` of a model with an `embedding` layer."""
    return np.asarray(model.get_layer("embedding").embeddings.numpy())


def build_softmax_skipgram(
    cfg: EmbedConfig, vocab_size: int, *, steps_per_epoch: int | None = None
) -> keras.Model:
    """Skip-gram with a full softmax: `P(t | c) = softmax(Theta e_c)_t`
    over the whole vocabulary, `V * d` multiply-adds per pair (negative
    sampling needs `(k + 1) * d`). Compiled with sparse cross-entropy."""
    center = keras.Input(shape=(), dtype="int32", name="center")
    e = keras.layers.Embedding(vocab_size, cfg.model.dim, name="embedding")(
        center
    )
    logits = keras.layers.Dense(vocab_size, name="softmax")(e)
    model = keras.Model(center, logits, name="softmax_skipgram")
    model.compile(
        optimizer=optimizers.run_optimizer(cfg, steps_per_epoch),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[Perplexity(padding_id=None)],
    )
    return model


def build_rnnlm(
    cfg: EmbedConfig, vocab_size: int, *, steps_per_epoch: int | None = None
) -> keras.Model:
    """A word-level GRU/LSTM language model, `(batch, T)` ids ->
    `(batch, T, V)` next-word logits, compiled with cross-entropy and the
    perplexity metric (padding id 0 is a real word here: masking comes
    from `sample_weight`)."""
    m = cfg.model
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    x = keras.layers.Embedding(vocab_size, m.embedding_dim, name="embedding")(
        ids
    )
    x = keras.layers.Dropout(m.dropout, name="embedding_dropout")(x)
    rnn = keras.layers.LSTM if m.cell == "lstm" else keras.layers.GRU
    x = rnn(m.units, return_sequences=True, name=m.cell)(x)
    x = keras.layers.Dropout(m.dropout, name="rnn_dropout")(x)
    logits = keras.layers.Dense(vocab_size, name="logits")(x)
    model = keras.Model(ids, logits, name="rnnlm")
    model.compile(
        optimizer=optimizers.run_optimizer(cfg, steps_per_epoch),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[Perplexity(padding_id=None)],
    )
    return model


def inspect_model(cfg: EmbedConfig) -> tuple[keras.Model, list[str]]:
    """The untrained Keras model of `model.method`, for `python -m
    apps.inspect`: `build_softmax_skipgram` or `build_rnnlm`, or, for the
    methods trained outside Keras (`sgns`, `cbow`, `glove`), the
    `embedding_model` they save. The vocabulary size comes from the
    corpus; `data.max_vocab` (or `INSPECT_VOCAB` when 0) stands in.

    Returns:
        `(model, notes)`: the model and notes on what was assumed.

    Raises:
        ConfigError: for `ngram`, which has no Keras model.
    """
    m = cfg.model
    if m.method == "ngram":
        raise ConfigError(
            "--app embed: model.method=ngram is a Kneser-Ney count model "
            "with no Keras model to inspect (try model.method=rnnlm)"
        )
    vocab = cfg.data.max_vocab or INSPECT_VOCAB
    notes = [
        f"a vocabulary of {vocab:,} words (data.max_vocab, or "
        f"{INSPECT_VOCAB:,} when 0; the real size comes from the corpus)"
    ]
    if m.method == "softmax":
        return build_softmax_skipgram(cfg, vocab), notes
    if m.method == "rnnlm":
        return build_rnnlm(cfg, vocab), notes
    notes.append(
        f"model.method={m.method} trains outside Keras; shown is the model "
        "it saves, the embedding matrix E as one Embedding layer"
    )
    return embedding_model(np.zeros((vocab, m.dim), np.float32)), notes
