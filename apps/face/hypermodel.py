"""keras-tuner HyperModel for faces: it calls `app.build_model`, the same
build function as `train`, on a config with the trial's values."""

import dataclasses

import keras_tuner

from apps.face import app
from apps.face.config import FaceConfig


class FaceHyperModel(keras_tuner.HyperModel):
    """Searches the loss (triplet against ArcFace), the margin of each,
    the learning rate and the embedding size.

    The objective is the verification accuracy on the validation people
    (`val_verification_accuracy`): triplet and ArcFace losses are not
    comparable with each other, accuracy is.
    """

    def __init__(self, cfg: FaceConfig, train_faces, val_faces):
        super().__init__(name="face")
        self.cfg = cfg
        self.train_faces = train_faces
        self.val_faces = val_faces

    def config_for(self, hp) -> FaceConfig:
        """The base config with this trial's hyperparameters applied."""
        cfg = self.cfg
        loss = hp.Choice("loss", ["triplet", "arcface"])
        model = dataclasses.replace(
            cfg.model,
            loss=loss,
            embedding_dim=hp.Choice("embedding_dim", [32, 64, 128]),
        )
        if loss == "triplet":
            model = dataclasses.replace(
                model,
                margin=hp.Choice(
                    "margin",
                    [0.1, 0.2, 0.5],
                    parent_name="loss",
                    parent_values=["triplet"],
                ),
            )
        else:
            model = dataclasses.replace(
                model,
                arcface_margin=hp.Choice(
                    "arcface_margin",
                    [0.2, 0.3, 0.5],
                    parent_name="loss",
                    parent_values=["arcface"],
                ),
            )
        lr = hp.Float("learning_rate", 5e-4, 5e-3, sampling="log")
        return dataclasses.replace(
            cfg,
            model=model,
            optimizer=dataclasses.replace(cfg.optimizer, learning_rate=lr),
        )

    def _with_epochs(self, cfg: FaceConfig, epochs: int) -> FaceConfig:
        return dataclasses.replace(
            cfg, train=dataclasses.replace(cfg.train, epochs=epochs)
        )

    def build(self, hp):
        cfg = self._with_epochs(self.config_for(hp), self.cfg.tune.epochs)
        return app.build_model(
            cfg,
            num_classes=len(self.train_faces.names),
            steps_per_epoch=app.steps_per_epoch(cfg, len(self.train_faces)),
        )

    def fit(
        self, hp, model, *args, epochs=1, callbacks=None, verbose=1, **kwargs
    ):
        cfg = self._with_epochs(self.config_for(hp), epochs)
        train_ds, _ = app.make_datasets(cfg, self.train_faces, None)
        model.fit(
            train_ds,
            epochs=epochs,
            steps_per_epoch=app.steps_per_epoch(cfg, len(self.train_faces)),
            callbacks=callbacks,
            verbose=verbose,
        )
        accuracy = app.val_verification_accuracy(cfg, model, self.val_faces)
        return {"val_verification_accuracy": accuracy}
