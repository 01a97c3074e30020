"""The config tree of `apps.embed`."""

import dataclasses

from apps.common.config import check
from apps.common.sections import OptimizerConfig
from apps.common.sections import RegularizationConfig
from apps.common.sections import RuntimeConfig
from apps.common.sections import TrainConfig
from apps.common.sections import TuneConfig
from apps.common.sections import search
from apps.common.sections import validate_common

SOURCES = ("python_docs", "files")
TOKENIZERS = ("text8", "whitespace")
METHODS = ("sgns", "cbow", "softmax", "glove", "ngram", "rnnlm")
EMBEDDING_METHODS = ("sgns", "cbow", "softmax", "glove")
LM_METHODS = ("ngram", "rnnlm")
SIMILARITY = "$DLSUITE_DATA/word_similarity"


@dataclasses.dataclass
class DataConfig:
    """The corpus: one sentence or paragraph a line, plain or gzip.

    `source: python_docs` is the embedded corpus (the standard library's
    docstrings, no download); `files` reads `train_files` (and, for the
    language models, `valid_files` and `test_files`; without them the
    last `holdout` fraction of the lines is held out, half for validation
    and half for test). `max_words` stops reading after that many tokens
    (0: all). `unk` maps rare words to a token (language models) instead
    of dropping them (embeddings); `eos` ends every line with a token.
    """

    source: str = "python_docs"
    train_files: list[str] = dataclasses.field(default_factory=list)
    valid_files: list[str] = dataclasses.field(default_factory=list)
    test_files: list[str] = dataclasses.field(default_factory=list)
    tokenizer: str = "text8"
    eos: str = ""
    unk: str = ""
    min_count: int = 5
    max_vocab: int = 0
    max_words: int = 0
    holdout: float = 0.1


@dataclasses.dataclass
class ModelConfig:
    """What to train and its hyperparameters.

    `method`: `sgns` (skip-gram, negative sampling), `cbow`, `softmax`
    (skip-gram with a full softmax over the vocabulary, trained with
    `fit`: only for small vocabularies, to show why negative sampling
    exists), `glove`, `ngram` (Kneser-Ney) or `rnnlm` (GRU/LSTM language
    model). word2vec: `dim`, `window` (dynamic), `negative` (`k`),
    `shared_negatives` (`S` per batch), `sample` (subsampling threshold),
    `learning_rate` decaying linearly to `min_learning_rate`, `batch_size`
    pairs per sparse update, `row_cap`, `workers` Hogwild threads,
    `jit_compile` (XLA for the sparse step),
    `chunk_tokens` corpus positions per graph call. GloVe: `glove_window`,
    `x_max`, `alpha`, `glove_learning_rate` (AdaGrad). n-gram: `order`.
    RNN: `cell`, `embedding_dim`, `units`, `sequence_length`, `dropout`.
    """

    method: str = "sgns"
    dim: int = 100
    window: int = 5
    negative: int = 5
    shared_negatives: int = 32
    sample: float = 1e-3
    learning_rate: float = 0.025
    min_learning_rate: float = 1e-4
    batch_size: int = 4096
    row_cap: float = 16.0
    workers: int = 2
    jit_compile: bool = True
    chunk_tokens: int = 1048576
    softmax_max_vocab: int = 20000
    glove_window: int = 10
    x_max: float = 100.0
    alpha: float = 0.75
    glove_learning_rate: float = 0.05
    order: int = 5
    cell: str = "lstm"
    embedding_dim: int = 200
    units: int = 200
    sequence_length: int = 35
    dropout: float = 0.2


@dataclasses.dataclass
class EvaluationConfig:
    """Word-similarity files (`$DLSUITE_DATA` expands; a missing file is
    skipped with a note) and the analogy search: `restrict_vocab` most
    frequent words are the candidate answers (gensim's default 300000)."""

    analogies: str = f"{SIMILARITY}/questions-words.txt"
    word_pairs: list[str] = dataclasses.field(
        default_factory=lambda: [
            f"{SIMILARITY}/wordsim353.tsv",
            f"{SIMILARITY}/simlex999.txt",
        ]
    )
    restrict_vocab: int = 300000
    top_k: int = 10


@dataclasses.dataclass
class EmbedConfig:
    """Root config of `python -m apps.embed`."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    evaluation: EvaluationConfig = dataclasses.field(
        default_factory=EvaluationConfig
    )
    optimizer: OptimizerConfig = dataclasses.field(
        default_factory=lambda: OptimizerConfig(
            learning_rate=2e-3, global_clipnorm=1.0
        )
    )
    regularization: RegularizationConfig = dataclasses.field(
        default_factory=RegularizationConfig
    )
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(epochs=5, batch_size=32)
    )
    # What `tune` searches (the rnnlm): half and all of the default
    # `model.units`, the cell, dropout and a log-uniform learning rate.
    tune: TuneConfig = dataclasses.field(
        default_factory=lambda: TuneConfig(
            space=[
                search("units", "model.units", values=[100, 200]),
                search("cell", "model.cell", values=["gru", "lstm"]),
                search("dropout", "model.dropout", values=[0.0, 0.2, 0.4]),
                search(
                    "learning_rate",
                    "optimizer.learning_rate",
                    low=5e-4,
                    high=5e-3,
                    sampling="log",
                ),
            ]
        )
    )
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)

    def validate(self) -> None:
        """Range checks that types alone cannot express."""
        validate_common(self)
        d, m = self.data, self.model
        check(d.source in SOURCES, "data.source", f"one of {SOURCES}", d.source)
        if d.source == "files":
            check(
                bool(d.train_files),
                "data.train_files",
                "at least one corpus file for data.source=files",
                d.train_files,
            )
        check(
            d.tokenizer in TOKENIZERS,
            "data.tokenizer",
            f"one of {TOKENIZERS}",
            d.tokenizer,
        )
        check(d.min_count >= 1, "data.min_count", ">= 1", d.min_count)
        check(d.max_vocab >= 0, "data.max_vocab", ">= 0", d.max_vocab)
        check(d.max_words >= 0, "data.max_words", ">= 0", d.max_words)
        check(0 < d.holdout < 1, "data.holdout", "in (0, 1)", d.holdout)
        check(
            m.method in METHODS, "model.method", f"one of {METHODS}", m.method
        )
        for key in (
            "dim",
            "window",
            "negative",
            "shared_negatives",
            "batch_size",
            "workers",
            "chunk_tokens",
            "glove_window",
            "order",
            "embedding_dim",
            "units",
            "sequence_length",
        ):
            check(getattr(m, key) >= 1, f"model.{key}", ">= 1", getattr(m, key))
        check(m.sample >= 0, "model.sample", ">= 0", m.sample)
        check(
            m.learning_rate > 0, "model.learning_rate", "> 0", m.learning_rate
        )
        check(
            0 <= m.min_learning_rate <= m.learning_rate,
            "model.min_learning_rate",
            f"in [0, model.learning_rate={m.learning_rate}]",
            m.min_learning_rate,
        )
        check(m.row_cap > 0, "model.row_cap", "> 0", m.row_cap)
        check(m.x_max > 0, "model.x_max", "> 0", m.x_max)
        check(m.alpha > 0, "model.alpha", "> 0", m.alpha)
        check(m.cell in ("gru", "lstm"), "model.cell", "gru or lstm", m.cell)
        check(0 <= m.dropout < 1, "model.dropout", "in [0, 1)", m.dropout)
        check(
            self.evaluation.top_k >= 1,
            "evaluation.top_k",
            ">= 1",
            self.evaluation.top_k,
        )
