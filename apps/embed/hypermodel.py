"""keras-tuner HyperModel for the RNN language model: it calls
`model.build_rnnlm`, the same build function as `train`, on a config with
the trial's values."""

import dataclasses

import keras_tuner

from apps.embed.config import EmbedConfig
from apps.embed.data import lm_dataset
from apps.embed.model import build_rnnlm


class EmbedHyperModel(keras_tuner.HyperModel):
    """Searches the cell, its width, dropout and the learning rate;
    objective `val_loss` (mean cross-entropy, i.e. log perplexity)."""

    def __init__(self, cfg: EmbedConfig, vocab, splits):
        super().__init__(name="rnnlm")
        self.cfg = cfg
        self.vocab_size = len(vocab)
        m = cfg.model
        batch = cfg.train.batch_size
        self.train_ds = lm_dataset(
            splits["train"].ids,
            m.sequence_length,
            batch,
            shuffle=True,
            seed=cfg.runtime.seed,
        )
        self.val_ds = lm_dataset(
            splits["valid"].ids, m.sequence_length, batch, shuffle=False
        )

    def config_for(self, hp) -> EmbedConfig:
        """The base config with this trial's hyperparameters applied."""
        cfg = self.cfg
        width = hp.Choice("units", [cfg.model.units // 2, cfg.model.units])
        model = dataclasses.replace(
            cfg.model,
            cell=hp.Choice("cell", ["gru", "lstm"]),
            units=width,
            dropout=hp.Choice("dropout", [0.0, 0.2, 0.4]),
        )
        lr = hp.Float("learning_rate", 5e-4, 5e-3, sampling="log")
        return dataclasses.replace(
            cfg,
            model=model,
            optimizer=dataclasses.replace(cfg.optimizer, learning_rate=lr),
        )

    def build(self, hp):
        return build_rnnlm(self.config_for(hp), self.vocab_size)

    def fit(self, hp, model, *args, epochs=1, callbacks=None, verbose=1, **kw):
        return model.fit(
            self.train_ds,
            validation_data=self.val_ds,
            epochs=epochs,
            callbacks=callbacks,
            verbose=verbose,
        )
