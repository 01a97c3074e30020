"""`fit` with the standard callbacks: logs, checkpoints, a NaN stop."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.common import training
from apps.common.sections import TrainConfig


def _ds(x, y):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def _tiny_model():
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(1)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model


def test_nan_loss_stops_with_step_and_checkpoint(tmp_path):
    model = _tiny_model()
    model.compile(keras.optimizers.SGD(1e12), "mse")  # diverges
    x = np.ones((64, 3), "float32") * 100
    y = np.ones((64, 1), "float32")
    with pytest.raises(training.TrainingDiverged) as err:
        training.fit(
            model,
            _ds(x, y),
            None,
            TrainConfig(epochs=5, batch_size=8, verbose=0),
            tmp_path,
            steps_per_epoch=None,
        )
    msg = str(err.value)
    assert "epoch" in msg and "step" in msg and "checkpoint" in msg
    last = tmp_path / "checkpoints" / "last.keras"
    if last.exists():  # only finite epochs are ever saved
        weights = keras.saving.load_model(last).get_weights()
        assert all(np.isfinite(w).all() for w in weights)


def test_fit_writes_logs_and_checkpoints(tmp_path):
    model = _tiny_model()
    x = np.random.rand(32, 3).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    history = training.fit(
        model,
        _ds(x, y),
        _ds(x, y),
        TrainConfig(epochs=2, batch_size=8, verbose=0),
        tmp_path,
    )
    assert len(history.history["loss"]) == 2
    assert math.isfinite(history.history["val_loss"][-1])
    assert (tmp_path / "checkpoints" / "last.keras").is_file()
    assert (tmp_path / "checkpoints" / "best.keras").is_file()
    assert len((tmp_path / "history.csv").read_text().splitlines()) == 3
    assert any((tmp_path / "logs").rglob("*tfevents*"))
    assert not (tmp_path / "backup").exists()  # removed after success
