"""Tests of layers/losses/glove.py: the weighting function's defining
values, the cost against numpy, the written-out gradients against
automatic and numerical differentiation, the Keras Loss round trip."""

import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.losses.glove import GloVeLoss
from layers.losses.glove import glove_gradients
from layers.losses.glove import glove_loss
from layers.losses.glove import glove_weight
from tests.helpers import check_gradients


def test_weighting_function_values():
    x = tf.constant([0.0, 1.0, 50.0, 99.0, 100.0, 1000.0], tf.float64)
    expected = [0.0, 0.01**0.75, 0.5**0.75, 0.99**0.75, 1.0, 1.0]
    np.testing.assert_allclose(glove_weight(x).numpy(), expected, rtol=1e-12)
    # Other cut-offs and exponents.
    np.testing.assert_allclose(
        glove_weight(tf.constant([5.0, 20.0]), x_max=10.0, alpha=1.0).numpy(),
        [0.5, 1.0],
    )


def test_cost_matches_numpy_and_zero_entries_cost_nothing():
    rng = np.random.default_rng(0)
    x = np.array([0.0, 3.0, 120.0, 0.5])
    pred = rng.normal(size=4)
    f = np.where(x < 100, (x / 100) ** 0.75, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(x > 0, 0.5 * f * (pred - np.log(x)) ** 2, 0.0)
    got = glove_loss(tf.constant(x), tf.constant(pred)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got[0] == 0.0


def test_written_out_gradients_match_autodiff_and_numeric():
    rng = np.random.default_rng(1)
    w, c = rng.normal(size=(2, 4, 3))
    bw, bc = rng.normal(size=(2, 4))
    x = np.array([2.0, 0.0, 150.0, 7.0])
    tensors = [tf.constant(v) for v in (w, c, bw, bc)]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        pred = tf.reduce_sum(tensors[0] * tensors[1], -1)
        total = tf.reduce_sum(glove_loss(x, pred + tensors[2] + tensors[3]))
    auto = tape.gradient(total, tensors)
    cost, d_w, d_c, d_b = glove_gradients(*tensors, tf.constant(x))
    assert float(tf.reduce_sum(cost)) == pytest.approx(float(total))
    for got, want in zip((d_w, d_c, d_b, d_b), auto):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-12)

    def fn(w, c, bw, bc):
        return glove_gradients(w, c, bw, bc, tf.constant(x))[0]

    assert check_gradients(fn, [w, c, bw, bc]) < 1e-6


def test_loss_class_and_keras_round_trip():
    loss = GloVeLoss(x_max=50.0)
    assert GloVeLoss.from_config(loss.get_config()).x_max == 50.0
    inputs = keras.Input((2,))
    out = keras.layers.Dense(1)(inputs)
    model = keras.Model(inputs, keras.layers.Reshape(())(out))
    model.compile(loss=loss)
    x = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    y = np.array([1.0, 10.0, 60.0, 0.0], np.float32)
    before = model.evaluate(x, y, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(before)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="x_max"):
        GloVeLoss(x_max=0)
    with pytest.raises(ValueError, match="alpha"):
        glove_weight(tf.constant([1.0]), alpha=-1)
