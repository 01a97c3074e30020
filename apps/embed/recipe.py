"""What the shared lifecycle (`apps.common.lifecycle`) needs from embed's
Keras-trained methods: `rnnlm` (also what `tune` searches) and `softmax`.

Both read the corpus once (`load`), write its vocabulary into the run
folder (`attach`) and end with embed's training summary. The other
methods (sgns, cbow, glove, ngram) are not Keras `fit` and keep their own
loops (`apps.embed.methods`).
"""

import dataclasses
from pathlib import Path

from apps.common.config import ConfigError
from apps.common.lifecycle import Recipe
from apps.common.lifecycle import last
from apps.embed.config import EmbedConfig
from apps.embed.data import VOCAB_FILE
from apps.embed.data import Corpus
from apps.embed.data import corpus_name
from apps.embed.data import lm_dataset
from apps.embed.data import lm_steps
from apps.embed.data import pair_dataset
from apps.embed.data import read_corpus
from apps.embed.data import skipgram_pairs
from apps.embed.model import build_rnnlm
from apps.embed.model import build_softmax_skipgram
from apps.embed.model import embedding_matrix
from apps.embed.model import embedding_model


class EmbedRecipe(Recipe):
    """What both Keras-trained methods share: the corpus, its vocabulary
    in the run folder, and the summary's common keys. Each `fit` pass is
    one epoch over a finite dataset (`fit_steps` None); the learning-rate
    schedule counts its batches (`steps_per_epoch`)."""

    app = "embed"
    config_cls = EmbedConfig
    splits = ("train", "valid")

    def describe_data(self, cfg):
        return f"Reading {corpus_name(cfg.data)}"

    def load(self, cfg, splits=(), *, progress=False) -> Corpus:
        return read_corpus(cfg, progress=progress)

    def attach(self, cfg, data, run_dir, *, resuming):
        data.vocab.save(Path(run_dir) / VOCAB_FILE)
        return data

    def fit_steps(self, cfg, steps):
        return None

    def summary(self, cfg, data, history, seconds):
        logs = history.history
        return {
            "method": cfg.model.method,
            "epochs_run": len(logs.get("loss", [])),
            "final_loss": last(logs.get("loss")),
            **self.extra_summary(cfg, data, history, seconds),
            **data.summary(),
        }

    def extra_summary(self, cfg, data, history, seconds) -> dict:
        """The method's own summary keys (`train_seconds` among them)."""
        return {"train_seconds": round(seconds, 1)}


class RnnLmRecipe(EmbedRecipe):
    """A GRU/LSTM language model over the token stream; validation on the
    `valid` split (its perplexity in the summary); `tune` searches it by
    `val_loss` (mean cross-entropy, i.e. log perplexity)."""

    def steps_per_epoch(self, cfg, data):
        return lm_steps(
            len(data.splits["train"].ids),
            cfg.model.sequence_length,
            cfg.train.batch_size,
        )

    def build(self, cfg, data, *, steps_per_epoch=None):
        return build_rnnlm(
            cfg, len(data.vocab), steps_per_epoch=steps_per_epoch
        )

    def datasets(self, cfg, data):
        length, batch = cfg.model.sequence_length, cfg.train.batch_size
        train_ds = lm_dataset(
            data.splits["train"].ids,
            length,
            batch,
            shuffle=True,
            seed=cfg.runtime.seed,
        )
        val_ds = lm_dataset(
            data.splits["valid"].ids, length, batch, shuffle=False
        )
        return train_ds, val_ds

    def describe(self, cfg, data, model, steps):
        return (
            f"RNN language model: {model.count_params():,} parameters, "
            f"{len(data.splits['train'].ids):,} training tokens"
        )

    def extra_summary(self, cfg, data, history, seconds):
        epochs = len(history.history.get("loss", []))
        tokens = len(data.splits["train"].ids)
        return {
            "valid_perplexity": last(history.history.get("val_perplexity")),
            "train_seconds": round(seconds, 1),
            "tokens_per_second": round(tokens * epochs / max(seconds, 1e-9)),
        }


class SoftmaxRecipe(EmbedRecipe):
    """Skip-gram with a full softmax, trained on the pairs of one
    subsampling draw (small vocabularies only); the run keeps its
    embedding matrix as `model.keras`, like every embedding method."""

    def load(self, cfg, splits=(), *, progress=False):
        corpus = read_corpus(cfg, progress=progress)
        m = cfg.model
        if len(corpus.vocab) > m.softmax_max_vocab:
            raise ConfigError(
                f"model.method: softmax over {len(corpus.vocab):,} words is "
                f"too slow (model.softmax_max_vocab={m.softmax_max_vocab}); "
                "use sgns or raise data.min_count"
            )
        pairs = skipgram_pairs(cfg, corpus.vocab, corpus.splits["train"])
        return dataclasses.replace(corpus, pairs=pairs)

    def steps_per_epoch(self, cfg, data):
        return max(1, -(-len(data.pairs[0]) // cfg.train.batch_size))

    def build(self, cfg, data, *, steps_per_epoch=None):
        return build_softmax_skipgram(
            cfg, len(data.vocab), steps_per_epoch=steps_per_epoch
        )

    def datasets(self, cfg, data):
        ds = pair_dataset(
            data.pairs, cfg.train.batch_size, seed=cfg.runtime.seed
        )
        return ds, None

    def describe(self, cfg, data, model, steps):
        return (
            f"Skip-gram with a full softmax: {model.count_params():,} "
            f"parameters, {len(data.pairs[0]):,} pairs"
        )

    def trained(self, model):
        return embedding_model(embedding_matrix(model))

    def extra_summary(self, cfg, data, history, seconds):
        return {
            "pairs": int(len(data.pairs[0])),
            "train_seconds": round(seconds, 1),
        }


# The recipe of each Keras-trained `model.method`.
RECIPES = {"rnnlm": RnnLmRecipe(), "softmax": SoftmaxRecipe()}
