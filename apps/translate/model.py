"""Assembles the translator from `layers/`: the seq2seq network and its loss.

`rnn` is the encoder-decoder GRU/LSTM with attention
(`layers.seq2seq.rnn.AttentionSeq2Seq`); `transformer` the small pre-LN
Transformer (`layers.seq2seq.transformer.TransformerSeq2Seq`). Both are
trained with the label-smoothed sequence cross-entropy and report
perplexity; `train`, the tuner, `sanity` and `lr-find` all build here.
"""

import keras

from apps.common import optimizers
from apps.translate.config import TranslateConfig
from apps.translate.config import with_width
from layers.losses.sequence import SequenceCrossEntropy
from layers.metrics.text import Perplexity
from layers.seq2seq.rnn import AttentionSeq2Seq
from layers.seq2seq.transformer import TransformerSeq2Seq


def build_network(
    cfg: TranslateConfig, source_vocab: int, target_vocab: int
) -> keras.Model:
    """The uncompiled seq2seq network of `cfg.model`.

    Args:
        cfg: the config (`model` section; `model.width` already spelled
            out, see `apps.translate.config.with_width`).
        source_vocab: source vocabulary size.
        target_vocab: target vocabulary size.

    Returns:
        An `AttentionSeq2Seq` or a `TransformerSeq2Seq`.
    """
    m = cfg.model
    if m.architecture == "transformer":
        return TransformerSeq2Seq(
            source_vocab_size=source_vocab,
            target_vocab_size=target_vocab,
            num_layers=m.num_layers,
            d_model=m.d_model,
            num_heads=m.num_heads,
            ff_dim=m.ff_dim,
            dropout=m.dropout,
        )
    return AttentionSeq2Seq(
        source_vocab_size=source_vocab,
        target_vocab_size=target_vocab,
        embedding_dim=m.embedding_dim,
        units=m.units,
        encoder_layers=m.encoder_layers,
        bidirectional=m.bidirectional,
        cell=m.cell,
        attention=m.attention,
        dropout=m.dropout,
    )


def build_model(
    cfg: TranslateConfig,
    source_vocab: int,
    target_vocab: int,
    *,
    steps_per_epoch: int | None = None,
) -> keras.Model:
    """The compiled seq2seq model; `train` and the tuner both call this.

    Args:
        cfg: the config.
        source_vocab: source vocabulary size.
        target_vocab: target vocabulary size.
        steps_per_epoch: steps of one epoch, for the learning-rate
            schedule (None: a constant rate).

    Returns:
        The model compiled with `SequenceCrossEntropy` and `Perplexity`.
    """
    model = build_network(cfg, source_vocab, target_vocab)
    model.compile(
        optimizer=optimizers.run_optimizer(cfg, steps_per_epoch),
        loss=SequenceCrossEntropy(label_smoothing=cfg.model.label_smoothing),
        metrics=[Perplexity()],
    )
    return model


def compile_for_evaluation(model: keras.Model) -> keras.Model:
    """A loaded model compiled to measure perplexity (no smoothing)."""
    model.compile(
        loss=SequenceCrossEntropy(label_smoothing=0.0),
        metrics=[Perplexity()],
    )
    return model


def inspect_model(cfg: TranslateConfig) -> tuple[keras.Model, list[str]]:
    """The untrained translator of `cfg`, for `python -m apps.inspect`.

    Built without data: both vocabularies get `data.vocab_size` tokens
    (a character tokenizer's real size comes from the data).

    Returns:
        `(model, notes)`: the model and notes on what was assumed.
    """
    vocab = cfg.data.vocab_size
    model = build_model(with_width(cfg), vocab, vocab)
    return model, [
        f"vocabularies of data.vocab_size = {vocab} tokens each (a "
        "character tokenizer's real size comes from the data)"
    ]
