"""The config tree of `apps.translate`."""

import dataclasses

from apps.common.config import check
from apps.common.sections import OptimizerConfig
from apps.common.sections import RegularizationConfig
from apps.common.sections import RuntimeConfig
from apps.common.sections import TrainConfig
from apps.common.sections import TuneConfig
from apps.common.sections import search
from apps.common.sections import validate_common

SOURCES = ("dates", "parallel", "tsv", "multi30k", "tfds")
TOKENIZERS = ("wordpiece", "characters")
ARCHITECTURES = ("rnn", "transformer")


@dataclasses.dataclass
class DataConfig:
    """Where sentence pairs come from and how they become tokens.

    `source: dates` is the embedded task (human-written dates in many
    formats -> ISO dates, generated from `seed`; it needs attention).
    `parallel` reads line-aligned `train_source`/`train_target` files (and
    `val_*`, `test_*`), gzipped or not; `tsv` reads Anki/Tatoeba pairs from
    `tsv_path` (`file.zip:member` works) and splits them by `seed`;
    `multi30k` reads `$DLSUITE_DATA/multi30k` (`source_lang` ->
    `target_lang`, test_2016_flickr as test); `tfds` reads the
    tensorflow-datasets builder `tfds_name` (e.g.
    `ted_hrlr_translate/pt_to_en`, `wmt14_translate/de-en`; its `train`,
    `validation` and `test` splits), downloading it on first use into
    `tfds_data_dir` (tfds' default folder when empty).

    `lower_case` lower-cases the source side; the target keeps its case
    unless `target_lower_case` (sacreBLEU compares cased text: a
    lower-cased German output loses every capitalised noun).
    """

    source: str = "dates"
    train_source: str = ""
    train_target: str = ""
    val_source: str = ""
    val_target: str = ""
    test_source: str = ""
    test_target: str = ""
    tsv_path: str = ""
    tfds_name: str = ""
    tfds_data_dir: str = ""
    source_lang: str = "en"
    target_lang: str = "de"
    num_train: int = 8000
    num_val: int = 300
    num_test: int = 500
    max_pairs: int = 0
    tokenizer: str = "characters"
    vocab_size: int = 8000
    lower_case: bool = True
    target_lower_case: bool = False
    max_length: int = 48
    strict: bool = False
    seed: int = 0


@dataclasses.dataclass
class ModelConfig:
    """`rnn`: encoder-decoder GRU/LSTM with the cheatsheet's attention
    (`attention: bahdanau|luong`); `transformer`: a small pre-LN
    Transformer with a key/value cache for decoding.

    `width`, when not 0, sizes both: `units = d_model = width` and
    `ff_dim = 2 * width` (the one size knob of `tune`'s default space);
    `train` records the spelled-out sizes (`with_width`).
    """

    architecture: str = "rnn"
    cell: str = "gru"
    embedding_dim: int = 64
    units: int = 128
    encoder_layers: int = 1
    bidirectional: bool = True
    attention: str = "bahdanau"
    num_layers: int = 2
    d_model: int = 128
    num_heads: int = 4
    ff_dim: int = 256
    dropout: float = 0.1
    label_smoothing: float = 0.1
    width: int = 0


@dataclasses.dataclass
class DecodingConfig:
    """Beam search with the cheatsheet's length normalization: maximise
    `1 / Ty^alpha * sum log p`; `beam_size: 1` is greedy. Outputs stop at
    `max_length_a * source_tokens + max_length_b` tokens.

    `stop: exact` ends the search only when no alive hypothesis can still
    win (the same result as running to the maximum length); `heuristic`
    ends it when none beats the finished ones at its current length
    (faster, as Hugging Face does; `analyze` counts what it misses as
    search errors).
    """

    beam_size: int = 4
    alpha: float = 0.6
    num_return: int = 1
    max_length_a: float = 1.5
    max_length_b: int = 10
    stop: str = "exact"


@dataclasses.dataclass
class TranslateConfig:
    """Root config of `python -m apps.translate`."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    decoding: DecodingConfig = dataclasses.field(default_factory=DecodingConfig)
    optimizer: OptimizerConfig = dataclasses.field(
        default_factory=lambda: OptimizerConfig(
            learning_rate=2e-3, global_clipnorm=1.0, warmup_epochs=0.5
        )
    )
    regularization: RegularizationConfig = dataclasses.field(
        default_factory=RegularizationConfig
    )
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(epochs=5, batch_size=64)
    )
    # The sweep: RNN vs Transformer, its width, label smoothing and the
    # learning rate; objective `val_loss` (the summed sequence
    # cross-entropy, comparable across models).
    tune: TuneConfig = dataclasses.field(
        default_factory=lambda: TuneConfig(
            space=[
                search(
                    "architecture",
                    "model.architecture",
                    values=["rnn", "transformer"],
                ),
                search("width", "model.width", values=[64, 128]),
                search(
                    "label_smoothing",
                    "model.label_smoothing",
                    values=[0.0, 0.1],
                ),
                search(
                    "learning_rate",
                    "optimizer.learning_rate",
                    low=5e-4,
                    high=3e-3,
                    sampling="log",
                ),
            ]
        )
    )
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)

    def validate(self) -> None:
        """Range checks that types alone cannot express."""
        validate_common(self)
        d, m, dec = self.data, self.model, self.decoding
        check(d.source in SOURCES, "data.source", f"one of {SOURCES}", d.source)
        if d.source == "parallel":
            check(
                bool(d.train_source and d.train_target),
                "data.train_source",
                "source and target files for data.source=parallel",
                d.train_source,
            )
        if d.source == "tsv":
            check(bool(d.tsv_path), "data.tsv_path", "a TSV file", d.tsv_path)
        if d.source == "tfds":
            check(
                bool(d.tfds_name),
                "data.tfds_name",
                "a tfds translation builder, e.g. ted_hrlr_translate/pt_to_en",
                d.tfds_name,
            )
        check(
            d.tokenizer in TOKENIZERS,
            "data.tokenizer",
            f"one of {TOKENIZERS}",
            d.tokenizer,
        )
        check(d.vocab_size >= 16, "data.vocab_size", ">= 16", d.vocab_size)
        check(d.max_length >= 4, "data.max_length", ">= 4", d.max_length)
        for key in ("num_train", "num_val", "num_test"):
            check(getattr(d, key) >= 1, f"data.{key}", ">= 1", getattr(d, key))
        check(
            m.architecture in ARCHITECTURES,
            "model.architecture",
            f"one of {ARCHITECTURES}",
            m.architecture,
        )
        check(m.cell in ("gru", "lstm"), "model.cell", "gru or lstm", m.cell)
        check(
            m.attention in ("bahdanau", "luong"),
            "model.attention",
            "bahdanau or luong",
            m.attention,
        )
        check(m.width >= 0, "model.width", ">= 0", m.width)
        d_model = with_width(self).model.d_model
        check(
            d_model % m.num_heads == 0,
            "model.num_heads",
            f"a divisor of model.d_model={d_model}",
            m.num_heads,
        )
        check(0 <= m.dropout < 1, "model.dropout", "in [0, 1)", m.dropout)
        check(
            0 <= m.label_smoothing < 1,
            "model.label_smoothing",
            "in [0, 1)",
            m.label_smoothing,
        )
        check(dec.beam_size >= 1, "decoding.beam_size", ">= 1", dec.beam_size)
        check(
            1 <= dec.num_return <= dec.beam_size,
            "decoding.num_return",
            f"in [1, decoding.beam_size={dec.beam_size}]",
            dec.num_return,
        )
        check(dec.alpha >= 0, "decoding.alpha", ">= 0", dec.alpha)
        check(
            dec.stop in ("exact", "heuristic"),
            "decoding.stop",
            "exact or heuristic",
            dec.stop,
        )
        check(
            dec.max_length_a > 0,
            "decoding.max_length_a",
            "> 0",
            dec.max_length_a,
        )


def with_width(cfg: TranslateConfig) -> TranslateConfig:
    """`cfg` with `model.width` spelled out: `units = d_model = width`,
    `ff_dim = 2 * width` and `width` back to 0 (unchanged when 0)."""
    width = cfg.model.width
    if not width:
        return cfg
    return dataclasses.replace(
        cfg,
        model=dataclasses.replace(
            cfg.model,
            units=width,
            d_model=width,
            ff_dim=2 * width,
            width=0,
        ),
    )
