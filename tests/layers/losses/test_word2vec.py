"""Tests of layers/losses/word2vec.py: the SGNS loss against a numpy
reference written from the cheatsheet's sigma(theta_t^T e_c), the
written-out gradients against automatic and numerical differentiation,
and the Keras Loss class round trip."""

import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.losses.word2vec import SkipGramNegativeSampling
from layers.losses.word2vec import sgns_gradients
from layers.losses.word2vec import sgns_loss
from layers.losses.word2vec import sgns_scores
from tests.helpers import check_gradients


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_sgns(center, context, negatives, weight=1.0):
    """Per pair: -log s(t.c) - w sum_j log s(-n_j.c), loops only."""
    out = []
    for b in range(len(center)):
        loss = -np.log(sigmoid(context[b] @ center[b]))
        negs = negatives if negatives.ndim == 2 else negatives[b]
        for n in negs:
            loss -= weight * np.log(sigmoid(-(n @ center[b])))
        out.append(loss)
    return np.array(out)


def _data(seed=0, b=3, k=4, d=5):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(b, d)),
        rng.normal(size=(b, d)),
        rng.normal(size=(b, k, d)),
        rng.normal(size=(k, d)),
    )


def test_loss_matches_numpy_per_pair_and_shared():
    center, context, per_pair, shared = _data()
    pos, neg = sgns_scores(
        tf.constant(center), tf.constant(context), tf.constant(per_pair)
    )
    np.testing.assert_allclose(
        sgns_loss(pos, neg).numpy(),
        numpy_sgns(center, context, per_pair),
        rtol=1e-10,
    )
    pos, neg = sgns_scores(
        tf.constant(center), tf.constant(context), tf.constant(shared)
    )
    np.testing.assert_allclose(
        sgns_loss(pos, neg, 0.25).numpy(),
        numpy_sgns(center, context, shared, 0.25),
        rtol=1e-10,
    )


def test_loss_at_zero_is_k_plus_one_log_two():
    # sigma(0) = 1/2: every term costs log 2.
    loss = sgns_loss(tf.zeros([2]), tf.zeros([2, 5]))
    np.testing.assert_allclose(loss.numpy(), 6 * np.log(2.0), rtol=1e-6)


def test_large_scores_do_not_overflow():
    loss = sgns_loss(tf.constant([-1e4, 1e4]), tf.constant([[1e4], [-1e4]]))
    np.testing.assert_allclose(loss.numpy(), [2e4, 0.0], atol=1e-3)


def test_written_out_gradients_match_autodiff():
    center, context, _, shared = _data(seed=1, b=4, k=6, d=3)
    tensors = [tf.constant(v) for v in (center, context, shared)]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        pos, neg = sgns_scores(*tensors)
        total = tf.reduce_sum(sgns_loss(pos, neg, 5 / 6))
    auto = tape.gradient(total, tensors)
    loss, *manual = sgns_gradients(*tensors, 5 / 6)
    np.testing.assert_allclose(float(tf.reduce_sum(loss)), float(total))
    for a, m in zip(auto, manual):
        np.testing.assert_allclose(m.numpy(), a.numpy(), rtol=1e-9, atol=1e-12)


def test_gradient_check():
    center, context, per_pair, shared = _data(seed=2, b=2, k=3, d=3)

    def per_pair_fn(c, t, n):
        return sgns_loss(*sgns_scores(c, t, n))

    def shared_fn(c, t, n):
        return sgns_gradients(c, t, n, 0.5)[0]

    assert check_gradients(per_pair_fn, [center, context, per_pair]) < 1e-6
    assert check_gradients(shared_fn, [center, context, shared]) < 1e-6


def test_loss_class_and_keras_round_trip():
    scores = np.array([[2.0, -1.0, 0.5], [-0.3, 0.2, 1.5]], np.float32)
    loss = SkipGramNegativeSampling(negative_weight=0.5)
    # Column 0 is the true pair's score, the others the negatives'.
    expected = np.mean(
        -np.log(sigmoid(scores[:, 0]))
        - 0.5 * np.log(sigmoid(-scores[:, 1:])).sum(axis=1)
    )
    assert float(loss(np.zeros(2), scores)) == pytest.approx(expected, 1e-5)
    again = SkipGramNegativeSampling.from_config(loss.get_config())
    assert again.negative_weight == 0.5
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    model.compile(loss=loss)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    before = model.evaluate(x, np.zeros(4), verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert type(loaded.loss).__name__ == "SkipGramNegativeSampling"
    assert loaded.evaluate(x, np.zeros(4), verbose=0) == pytest.approx(before)


def test_bad_weight_is_refused():
    with pytest.raises(ValueError, match="negative_weight"):
        SkipGramNegativeSampling(negative_weight=0)
