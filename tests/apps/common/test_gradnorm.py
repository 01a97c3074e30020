"""The global gradient norm recorded by the optimizer and logged per
epoch (`apps.common.gradnorm`)."""

import csv

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.common import optimizers
from apps.common import training
from apps.common.gradnorm import GradientNormLog
from apps.common.gradnorm import gradient_norm_stats
from apps.common.sections import OptimizerConfig
from apps.common.sections import TrainConfig


def _linear_model(optimizer, w0=(1.0, -2.0, 0.5)):
    inputs = keras.Input((3,))
    dense = keras.layers.Dense(
        1,
        use_bias=False,
        kernel_initializer=keras.initializers.Constant(np.array(w0)[:, None]),
    )
    model = keras.Model(inputs, dense(inputs))
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _batches():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    y = rng.normal(size=(2, 4, 1)).astype("float32")
    return x, y


def _numpy_norms(x, y, w):
    """||dL/dw|| of the MSE loss per batch: 2/N X^T (X w - y)."""
    norms = []
    for xb, yb in zip(x, y):
        grad = 2.0 / len(xb) * xb.T @ (xb @ w - yb)
        norms.append(float(np.linalg.norm(grad)))
    return norms


def test_logged_norm_is_the_pre_clipping_gradient_norm(tmp_path):
    # SGD with a learning rate so small the weights do not move: each
    # step's norm is the numpy one at the initial weights.
    cfg = OptimizerConfig(
        name="sgd",
        learning_rate=1e-12,
        momentum=0.0,
        global_clipnorm=0.01,  # far below the norm: logged before clipping
        schedule="constant",
    )
    model = _linear_model(optimizers.make_optimizer(cfg))
    x, y = _batches()
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    history = model.fit(ds, epochs=2, verbose=0, callbacks=[GradientNormLog()])
    expected = _numpy_norms(x, y, np.array([[1.0], [-2.0], [0.5]]))
    assert min(expected) > 0.01
    for epoch in range(2):
        np.testing.assert_allclose(
            history.history["grad_norm"][epoch], np.mean(expected), rtol=1e-5
        )
        np.testing.assert_allclose(
            history.history["grad_norm_max"][epoch], max(expected), rtol=1e-5
        )


def test_statistics_reset_each_epoch(tmp_path):
    opt = optimizers.make_optimizer(
        OptimizerConfig(name="adam", learning_rate=0.1, schedule="constant")
    )
    model = _linear_model(opt)
    x, y = _batches()
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    model.fit(ds, epochs=1, verbose=0, callbacks=[GradientNormLog()])
    # Two steps in the epoch, not an accumulation over every epoch.
    assert float(gradient_norm_stats(opt).numpy()[1]) == 2.0


def test_fit_writes_grad_norm_to_history_csv(tmp_path):
    opt = optimizers.make_optimizer(
        OptimizerConfig(name="adam", learning_rate=0.01, schedule="constant")
    )
    model = _linear_model(opt)
    x, y = _batches()
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    training.fit(model, ds, None, TrainConfig(epochs=2, verbose=0), tmp_path)
    with open(tmp_path / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    for row in rows:
        assert float(row["grad_norm"]) > 0
        assert float(row["grad_norm_max"]) >= float(row["grad_norm"])
        assert float(row["learning_rate"]) == pytest.approx(0.01)


def test_learning_rate_log_follows_the_schedule(tmp_path):
    cfg = OptimizerConfig(name="adam", learning_rate=0.1, schedule="cosine")
    opt = optimizers.make_optimizer(cfg, total_steps=4, steps_per_epoch=2)
    model = _linear_model(opt)
    x, y = _batches()
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    history = training.fit(
        model, ds, None, TrainConfig(epochs=2, verbose=0), tmp_path
    )
    schedule = keras.optimizers.schedules.CosineDecay(0.1, 4, alpha=0.01)
    # After epoch 1 (2 steps) and epoch 2 (4 steps).
    want = [float(schedule(2)), float(schedule(4))]
    np.testing.assert_allclose(
        history.history["learning_rate"], want, rtol=1e-5
    )


def test_plain_keras_optimizer_logs_nothing():
    model = _linear_model(keras.optimizers.SGD(0.01))
    x, y = _batches()
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    history = model.fit(ds, epochs=1, verbose=0, callbacks=[GradientNormLog()])
    assert "grad_norm" not in history.history


def test_training_curves_put_the_largest_norm_beside_the_mean(tmp_path):
    from PIL import Image

    from apps.common.plots import plot_history

    history = tmp_path / "history.csv"
    history.write_text(
        "epoch,grad_norm,grad_norm_max,loss,val_loss\n"
        "0,2.0,5.0,1.0,1.1\n1,1.5,3.0,0.8,0.9\n"
    )
    png = plot_history(history, tmp_path / "curves.png")
    # Two panels (loss; grad_norm with its max), 450 px each at 100 dpi.
    assert Image.open(png).size[0] == 900
