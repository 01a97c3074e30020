"""keras-tuner HyperModel for the detector: it calls `app.build_model`, the
same build function as `train`, on a config with the trial's values."""

import dataclasses

import keras_tuner

from apps.detect import app
from apps.detect.config import DetectConfig


class DetectHyperModel(keras_tuner.HyperModel):
    """Searches learning rate, width, anchors per cell, augmentation.

    The objective is the validation mAP@0.5 (`val_map50`), since the YOLO
    loss of runs with different anchor counts is not comparable.
    """

    def __init__(self, cfg: DetectConfig, train_source, val_source):
        super().__init__(name="detect")
        self.cfg = cfg
        self.train_source = train_source
        self.val_source = val_source

    def config_for(self, hp) -> DetectConfig:
        """The base config with this trial's hyperparameters applied."""
        cfg = self.cfg
        lr = hp.Float("learning_rate", 3e-4, 3e-3, sampling="log")
        width = hp.Choice("width", [0.5, 0.75, 1.0])
        anchors = hp.Int("num_anchors", 1, 3)
        strength = hp.Choice("augment_strength", [0.0, 0.5, 1.0, 1.5])
        cfg = dataclasses.replace(
            cfg,
            optimizer=dataclasses.replace(cfg.optimizer, learning_rate=lr),
            model=dataclasses.replace(
                cfg.model, width=width, num_anchors=anchors, anchors=[]
            ),
            data=dataclasses.replace(cfg.data, augment_strength=strength),
        )
        return app.with_anchors(cfg, self.train_source)

    def best_config(self, hp) -> DetectConfig:
        """The config to write for the best trial: anchors are refitted by
        `train` on its own data, so none are pinned."""
        best = self.config_for(hp)
        return dataclasses.replace(
            best, model=dataclasses.replace(best.model, anchors=[])
        )

    def build(self, hp):
        cfg = self.config_for(hp)
        cfg = dataclasses.replace(
            cfg, train=dataclasses.replace(cfg.train, epochs=cfg.tune.epochs)
        )
        steps = len(self.train_source["images"]) // cfg.train.batch_size
        return app.build_model(cfg, steps_per_epoch=steps)

    def fit(
        self, hp, model, *args, epochs=1, callbacks=None, verbose=1, **kwargs
    ):
        cfg = self.config_for(hp)
        cfg = dataclasses.replace(
            cfg, train=dataclasses.replace(cfg.train, epochs=epochs)
        )
        train_ds, val_ds = app.make_datasets(
            cfg, self.train_source, self.val_source
        )
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,
        )
        result = app.score_source(cfg, model, self.val_source)
        return {"val_map50": result["map50"]}
