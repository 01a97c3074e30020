"""What the shared lifecycle (`apps.common.lifecycle`) needs from
translate: its sentence pairs and tokenizers, its compiled model, its
batches and its summary."""

import dataclasses
from pathlib import Path

from apps.common.lifecycle import Recipe
from apps.translate.config import TranslateConfig
from apps.translate.config import with_width
from apps.translate.data import build_tokenizers
from apps.translate.data import load_pairs
from apps.translate.data import load_tokenizers
from apps.translate.data import make_dataset
from apps.translate.data import save_tokenizers
from apps.translate.model import build_model


@dataclasses.dataclass
class Corpus:
    """What `TranslateRecipe` trains on.

    Attributes:
        pairs: `{split: (sources, targets)}`.
        tokenizers: `(source, target)` tokenizers (once attached).
        batched: `(train, val)` datasets with the train split's
            `TranslationReport`, built once per batch size, length limit
            and seed (a sweep tokenizes and batches once).
    """

    pairs: dict
    tokenizers: tuple = ()
    batched: dict = dataclasses.field(default_factory=dict)


class TranslateRecipe(Recipe):
    """Sentence pairs from `data.source`; tokenizers learned from the
    training pairs and kept in the run folder; the learning-rate schedule
    counts `ceil(kept pairs / batch)` steps an epoch while `fit` makes one
    pass over the bucketed batches; the tuner's objective is `val_loss`
    (the summed sequence cross-entropy, comparable across models)."""

    app = "translate"
    config_cls = TranslateConfig

    def describe_data(self, cfg):
        return f"Preparing sentence pairs ({cfg.data.source})"

    def load(self, cfg, splits, *, progress=False):
        return Corpus(pairs=load_pairs(cfg.data, splits))

    def complete(self, cfg, data):
        return with_width(cfg)

    def attach(self, cfg, data, run_dir, *, resuming):
        run_dir = Path(run_dir)
        if resuming and (run_dir / "source_vocab.txt").exists():
            tokenizers = load_tokenizers(run_dir, cfg.data)
        else:
            tokenizers = build_tokenizers(cfg.data, *data.pairs["train"])
            save_tokenizers(run_dir, tokenizers)
        return dataclasses.replace(data, tokenizers=tokenizers)

    def batches(self, cfg, data: Corpus):
        """`(train_ds, val_ds, report)`, built on first use."""
        key = (cfg.train.batch_size, cfg.data.max_length, cfg.data.seed)
        if key not in data.batched:
            train_ds, report = make_dataset(
                cfg, data.pairs["train"], data.tokenizers, shuffle=True
            )
            val_ds, _ = make_dataset(
                cfg, data.pairs["val"], data.tokenizers, shuffle=False
            )
            data.batched[key] = (train_ds, val_ds, report)
        return data.batched[key]

    def steps_per_epoch(self, cfg, data):
        report = self.batches(cfg, data)[2]
        return max(1, -(-report.kept // cfg.train.batch_size))

    def fit_steps(self, cfg, steps):
        return None

    def build(self, cfg, data, *, steps_per_epoch=None):
        source_tok, target_tok = data.tokenizers
        return build_model(
            cfg,
            source_tok.vocab_size,
            target_tok.vocab_size,
            steps_per_epoch=steps_per_epoch,
        )

    def datasets(self, cfg, data):
        train_ds, val_ds, _ = self.batches(cfg, data)
        return train_ds, val_ds

    def describe(self, cfg, data, model, steps):
        report = self.batches(cfg, data)[2]
        source_tok, target_tok = data.tokenizers
        return (
            f"Training a {cfg.model.architecture} translator "
            f"({model.count_params():,} parameters) on {report.kept:,} pairs "
            f"({report.too_long} too long, {report.empty} empty dropped), "
            f"{report.target_tokens:,} target tokens an epoch, vocabularies "
            f"{source_tok.vocab_size} / {target_tok.vocab_size}"
        )

    def summary(self, cfg, data, history, seconds):
        report = self.batches(cfg, data)[2]
        epochs = len(history.history.get("loss", []))
        return {
            "epochs_run": epochs,
            "final_loss": float(history.history["loss"][-1]),
            "final_val_perplexity": float(
                history.history.get("val_perplexity", [float("nan")])[-1]
            ),
            "train_seconds": round(seconds, 1),
            "target_tokens_per_second": round(
                report.target_tokens * epochs / max(seconds, 1e-9)
            ),
        }
