"""The training callbacks: time budget, early stopping, best checkpoint."""

import dataclasses
import itertools
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.common import callbacks
from apps.common import optimizers
from apps.common import training
from apps.common.config import ConfigError
from apps.common.config import resolve
from apps.common.sections import OptimizerConfig
from apps.common.sections import TrainConfig
from apps.common.sections import validate_common


def _ds(x, y):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def _tiny_model():
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(1)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model


def _budget_run(tmp_path, clock, *, epochs=100, extra=()):
    """A tiny model (4 steps an epoch, 1 warm-up epoch) under a 1 minute
    budget, with a fake clock."""
    model = _tiny_model()
    model.compile(
        optimizers.make_optimizer(
            OptimizerConfig(learning_rate=0.01, warmup_epochs=1.0),
            total_steps=4 * epochs,
            steps_per_epoch=4,
        ),
        "mse",
    )
    x = np.random.default_rng(0).random((32, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    cfg = TrainConfig(
        epochs=epochs, batch_size=8, verbose=0, time_budget_minutes=1.0
    )
    history = training.fit(
        model,
        _ds(x, y),
        _ds(x, y),
        cfg,
        tmp_path,
        extra_callbacks=extra,
        clock=clock,
    )
    return model, history


def test_time_budget_stops_and_ends_the_schedule_on_its_floor(tmp_path):
    # Every epoch takes 10 s of a 60 s budget: 6 epochs fit, the 7th not.
    ticks = itertools.count(0.0, 10.0)
    model, history = _budget_run(tmp_path, lambda: next(ticks))
    assert len(history.history["loss"]) == 6
    optimizer = model.optimizer
    assert int(optimizer.iterations) == 24
    schedule = optimizers.adjustable_schedule(optimizer)
    assert schedule.get_config()["decay_steps"] == 24 - 4  # 6 epochs
    # The learning rate reached the floor (alpha = 0.01) exactly at the end.
    assert float(optimizer.learning_rate) == pytest.approx(1e-4, rel=1e-4)
    assert float(schedule(12)) > 5e-3  # still high mid-run
    assert not (tmp_path / "backup").exists()


def test_time_budget_follows_a_slower_clock_and_saves(tmp_path):
    # 20 s epochs: 3 fit in 60 s; the .keras file keeps the fitted length.
    ticks = itertools.count(0.0, 20.0)
    model, history = _budget_run(tmp_path, lambda: next(ticks), epochs=50)
    assert len(history.history["loss"]) == 3
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    schedule = optimizers.adjustable_schedule(loaded.optimizer)
    assert isinstance(schedule, optimizers.AdjustableCosineDecay)
    assert schedule.get_config()["decay_steps"] == 12 - 4
    assert float(schedule(12)) == pytest.approx(1e-4, rel=1e-4)


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 3:
            raise KeyboardInterrupt("killed")


def test_time_budget_counts_the_time_of_a_resumed_run(tmp_path):
    ticks = itertools.count(0.0, 10.0)
    with pytest.raises(KeyboardInterrupt):
        _budget_run(tmp_path, lambda: next(ticks), extra=[_Interrupt()])
    state = tmp_path / "backup" / callbacks.BUDGET_STATE_FILE
    assert json.loads(state.read_text())["seconds"] == 30.0
    # Resumed with a new clock: 30 s were spent, 3 more epochs fit.
    ticks = itertools.count(1000.0, 10.0)
    model, history = _budget_run(tmp_path, lambda: next(ticks))
    assert len(history.history["loss"]) == 3
    assert int(model.optimizer.iterations) == 24
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4, rel=1e-4)


def test_time_budget_must_be_positive():
    @dataclasses.dataclass
    class Root:
        train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

        def validate(self):
            validate_common(self)

    cfg = resolve(Root, sets=["train.time_budget_minutes=2.5"])
    assert cfg.train.time_budget_minutes == 2.5
    for bad in ("0", "-1"):
        with pytest.raises(ConfigError, match="train.time_budget_minutes"):
            resolve(Root, sets=[f"train.time_budget_minutes={bad}"])
    with pytest.raises(ValueError, match="minutes"):
        callbacks.TimeBudget(0, max_epochs=3)


def test_early_stopping_on_a_chosen_validation_metric(tmp_path):
    # The validation set gets worse every epoch (its targets move away),
    # so with patience 1 training stops after 2 epochs and the best
    # (first) epoch's weights come back.
    model = _tiny_model()
    model.compile(
        keras.optimizers.SGD(0.05),
        "mse",
        metrics=[keras.metrics.MeanAbsoluteError(name="mae")],
    )
    x = np.random.default_rng(0).random((32, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    val = _ds(x, -10 * y)  # learning the training targets hurts this
    cfg = TrainConfig(
        epochs=10,
        batch_size=8,
        verbose=0,
        early_stopping_patience=1,
        monitor="val_mae",
    )
    history = training.fit(model, _ds(x, y), val, cfg, tmp_path)
    maes = history.history["val_mae"]
    assert len(maes) == 2 and maes[1] > maes[0]
    best = keras.saving.load_model(tmp_path / "checkpoints" / "best.keras")
    for a, b in zip(best.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b)  # restored to the best epoch


def test_monitor_that_is_not_logged_is_a_clear_error(tmp_path):
    model = _tiny_model()
    x = np.random.rand(16, 3).astype("float32")
    cfg = TrainConfig(epochs=1, batch_size=8, verbose=0, monitor="val_bleu")
    with pytest.raises(
        ConfigError, match="train.monitor: 'val_bleu'.*val_loss"
    ):
        training.fit(model, _ds(x, x[:, :1]), _ds(x, x[:, :1]), cfg, tmp_path)


def _squared(y_true, y_pred):
    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


def _score(name):
    """A custom metric Keras knows no direction for (like `Perplexity`)."""
    return keras.metrics.MeanMetricWrapper(_squared, name=name)


def test_early_stopping_on_a_custom_metric_keras_cannot_orient(tmp_path):
    # Issue 21, bug 1: EarlyStopping was made without `mode`, and Keras
    # refuses "auto" for a metric whose direction it cannot tell.
    model = _tiny_model()
    model.compile(
        keras.optimizers.SGD(0.05), "mse", metrics=[_score("perplexity")]
    )
    x = np.random.default_rng(0).random((32, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    cfg = TrainConfig(
        epochs=3,
        batch_size=8,
        verbose=0,
        early_stopping_patience=1,
        monitor="val_perplexity",
    )
    history = training.fit(model, _ds(x, y), _ds(x, y), cfg, tmp_path)
    assert len(history.history["val_perplexity"]) >= 2


@pytest.mark.parametrize(
    "monitor, mode",
    [
        ("val_loss", "min"),
        ("val_perplexity", "min"),
        ("val_mape", "min"),  # mean absolute percentage error, not mAP
        ("val_mae", "min"),
        ("val_map50", "max"),
        ("val_map50_95", "max"),
        ("val_acc", "max"),
        ("val_sparse_categorical_accuracy", "max"),
        ("val_verification_accuracy", "max"),
        ("val_auc", "max"),
        ("val_bleu", "max"),
        ("val_f1", "max"),
    ],
)
def test_monitor_mode_reads_whole_words(monitor, mode):
    assert callbacks.monitor_mode(monitor) == mode


def test_best_checkpoint_minimises_an_error_named_mape(tmp_path):
    # Issue 21, bug 1: "map" inside "mape" made it maximised.
    best = callbacks.BestCheckpoint(tmp_path / "best.keras", monitor="val_mape")
    best.set_model(_tiny_model())
    saved = []
    for epoch, value in enumerate([5.0, 3.0, 4.0]):
        best.on_epoch_end(epoch, {"val_mape": value})
        saved.append(best.best)
    assert saved == [5.0, 3.0, 3.0]
