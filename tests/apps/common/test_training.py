"""Optimizers, clipping, regularizers and the training callbacks."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.common import training
from apps.common.config import ConfigError
from apps.common.config import OptimizerConfig
from apps.common.config import RegularizationConfig
from apps.common.config import TrainConfig


@pytest.mark.parametrize(
    "name, cls",
    [
        ("sgd", keras.optimizers.SGD),
        ("rmsprop", keras.optimizers.RMSprop),
        ("adam", keras.optimizers.Adam),
    ],
)
def test_optimizer_choice_and_clipping(name, cls):
    opt = training.make_optimizer(
        OptimizerConfig(name=name, global_clipnorm=1.0, schedule="constant")
    )
    assert isinstance(opt, cls)
    assert opt.global_clipnorm == 1.0
    opt = training.make_optimizer(
        OptimizerConfig(
            name=name, clipnorm=0.5, global_clipnorm=None, schedule="constant"
        )
    )
    assert opt.clipnorm == 0.5


def test_global_clipnorm_bounds_the_update():
    # One SGD step with lr 1 on loss = 1000 * sum(w): the gradient norm is
    # 1000 * sqrt(4) = 2000; clipped to 1, the update has norm exactly 1.
    opt = training.make_optimizer(
        OptimizerConfig(
            name="sgd",
            learning_rate=1.0,
            momentum=0.0,
            global_clipnorm=1.0,
            schedule="constant",
        )
    )
    w = keras.Variable(np.zeros(4, "float32"))
    grads = [keras.ops.ones(4) * 1000.0]
    opt.apply_gradients(zip(grads, [w]))
    assert np.linalg.norm(w.numpy()) == pytest.approx(1.0, rel=1e-5)


def test_weight_decay_gives_adamw_and_bad_names_fail():
    opt = training.make_optimizer(OptimizerConfig(weight_decay=1e-4))
    assert isinstance(opt, keras.optimizers.AdamW)
    with pytest.raises(ConfigError, match="optimizer.name"):
        training.make_optimizer(OptimizerConfig(name="adagrad"))
    with pytest.raises(ConfigError, match="not both"):
        training.make_optimizer(OptimizerConfig(clipnorm=1.0))


def test_cosine_schedule_with_warmup():
    schedule = training.make_learning_rate(
        OptimizerConfig(learning_rate=0.1, warmup_epochs=1.0), 100, 10
    )
    assert float(schedule(10)) == pytest.approx(0.1, rel=1e-3)  # peak
    assert float(schedule(0)) < 0.01  # warming up
    assert float(schedule(100)) == pytest.approx(0.001, rel=1e-2)  # alpha


def test_regularizers():
    assert training.make_regularizer(RegularizationConfig()) is None
    l1 = training.make_regularizer(RegularizationConfig(l1=0.1))
    l2 = training.make_regularizer(RegularizationConfig(l2=0.1))
    both = training.make_regularizer(RegularizationConfig(l1=0.1, l2=0.1))
    w = keras.ops.convert_to_tensor(np.array([1.0, -2.0], "float32"))
    assert float(l1(w)) == pytest.approx(0.3)  # 0.1 * (1 + 2)
    assert float(l2(w)) == pytest.approx(0.5)  # 0.1 * (1 + 4)
    assert float(both(w)) == pytest.approx(0.8)  # elastic net
    with pytest.raises(ConfigError):
        training.make_regularizer(RegularizationConfig(l1=-1.0))


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
