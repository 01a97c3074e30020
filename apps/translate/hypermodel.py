"""keras-tuner HyperModel for translation: it calls `app.build_model`, the
same build function as `train`, on a config with the trial's values."""

import dataclasses

import keras_tuner

from apps.translate import app
from apps.translate.config import TranslateConfig


class TranslateHyperModel(keras_tuner.HyperModel):
    """Searches the architecture (RNN + attention or Transformer), its
    width, the learning rate and label smoothing; objective `val_loss`
    (the summed sequence cross-entropy, comparable across models)."""

    def __init__(self, cfg: TranslateConfig, pairs, tokenizers):
        super().__init__(name="translate")
        self.cfg = cfg
        self.tokenizers = tokenizers
        # No trial changes the data or the batch size: tokenize and batch
        # once for the whole sweep.
        self.train_ds, _ = app.make_dataset(
            cfg, pairs["train"], tokenizers, shuffle=True
        )
        self.val_ds, _ = app.make_dataset(
            cfg, pairs["val"], tokenizers, shuffle=False
        )

    def config_for(self, hp) -> TranslateConfig:
        """The base config with this trial's hyperparameters applied."""
        cfg = self.cfg
        architecture = hp.Choice("architecture", ["rnn", "transformer"])
        width = hp.Choice("width", [64, 128])
        model = dataclasses.replace(
            cfg.model,
            architecture=architecture,
            units=width,
            d_model=width,
            ff_dim=2 * width,
            label_smoothing=hp.Choice("label_smoothing", [0.0, 0.1]),
        )
        lr = hp.Float("learning_rate", 5e-4, 3e-3, sampling="log")
        return dataclasses.replace(
            cfg,
            model=model,
            optimizer=dataclasses.replace(cfg.optimizer, learning_rate=lr),
        )

    def build(self, hp):
        cfg = self.config_for(hp)
        return app.build_model(
            cfg, self.tokenizers[0].vocab_size, self.tokenizers[1].vocab_size
        )

    def fit(self, hp, model, *args, epochs=1, callbacks=None, verbose=1, **kw):
        return model.fit(
            self.train_ds,
            validation_data=self.val_ds,
            epochs=epochs,
            callbacks=callbacks,
            verbose=verbose,
        )
