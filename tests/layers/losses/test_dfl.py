"""Tests of layers/losses/dfl.py: distribution focal loss (Li et al. 2020)."""

import keras
import numpy as np
import pytest

from layers.losses.dfl import DistributionFocalLoss
from layers.losses.dfl import distribution_focal_loss
from tests.helpers import check_gradients


def numpy_dfl(y, logits):
    """Per-distance DFL by the paper's formula, float64 loops."""
    y = np.asarray(y, np.float64)
    logits = np.asarray(logits, np.float64)
    n = logits.shape[-1]
    out = np.zeros(y.shape)
    for index in np.ndindex(y.shape):
        z = logits[index]
        log_s = z - z.max() - np.log(np.sum(np.exp(z - z.max())))
        t = min(max(y[index], 0.0), n - 1)
        left = min(int(np.floor(t)), n - 2)
        right = left + 1
        out[index] = -((right - t) * log_s[left] + (t - left) * log_s[right])
    return out


def test_hand_value():
    # S = (1/4, 1/2, 1/4), y = 0.5: -(0.5 log 1/4 + 0.5 log 1/2).
    logits = np.log([[[0.25, 0.5, 0.25]]])
    got = float(distribution_focal_loss([[0.5]], logits)[0])
    assert got == pytest.approx(-(0.5 * np.log(0.25) + 0.5 * np.log(0.5)))


def test_integer_targets_and_ends():
    logits = np.log([[[0.1, 0.2, 0.3, 0.4]] * 4])
    got = distribution_focal_loss(np.array([[0.0]]), logits[:, :1]).numpy()
    assert got[0] == pytest.approx(-np.log(0.1))
    # y = n - 1 uses the last bin alone; beyond is clipped to it.
    for y in (3.0, 7.5):
        got = distribution_focal_loss([[y]], logits[:, :1]).numpy()
        assert got[0] == pytest.approx(-np.log(0.4), rel=1e-6)
    got = distribution_focal_loss([[-2.0]], logits[:, :1]).numpy()
    assert got[0] == pytest.approx(-np.log(0.1), rel=1e-6)
    # Mean over the last axis of y_true.
    y = np.array([[0.0, 1.0, 2.0, 3.0]])
    want = -np.mean(np.log([0.1, 0.2, 0.3, 0.4]))
    got = distribution_focal_loss(y, logits).numpy()
    assert got.shape == (1,) and got[0] == pytest.approx(want, rel=1e-6)


def test_minimum_is_the_two_bin_distribution():
    # Among distributions, DFL(y = 2.3) is smallest at S_2 = 0.7, S_3 = 0.3,
    # whose expectation is 2.3.
    best = np.full(8, 1e-9)
    best[2], best[3] = 0.7, 0.3
    at_best = float(distribution_focal_loss([[2.3]], np.log([[best]]))[0])
    rng = np.random.default_rng(0)
    others = rng.normal(size=(50, 1, 8))
    values = distribution_focal_loss(np.full((50, 1), 2.3), others).numpy()
    assert np.all(values > at_best)


def test_random_against_numpy():
    rng = np.random.default_rng(1)
    y = rng.uniform(0, 15, size=(3, 5, 4))
    logits = rng.normal(size=(3, 5, 4, 16))
    want = numpy_dfl(y, logits).mean(-1)
    got = distribution_focal_loss(y, logits).numpy()
    assert got.shape == (3, 5)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    got32 = distribution_focal_loss(
        y.astype("float32"), logits.astype("float32")
    )
    np.testing.assert_allclose(got32.numpy(), want, rtol=1e-5)


def test_gradients_wrt_logits_and_targets():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 4, 6))
    # Away from integers, where DFL is linear in y.
    y = rng.integers(0, 5, size=(2, 4)) + rng.uniform(0.1, 0.9, size=(2, 4))
    error = check_gradients(
        lambda t, z: distribution_focal_loss(t, z),
        [y, logits],
        eps=1e-6,
        rtol=1e-5,
        atol=1e-8,
    )
    assert error < 1e-7


def test_loss_class():
    loss = DistributionFocalLoss(name="dfl")
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, DistributionFocalLoss) and clone.name == "dfl"
    rng = np.random.default_rng(3)
    y = rng.uniform(0, 15, size=(4, 4)).astype("float32")
    logits = rng.normal(size=(4, 4, 16)).astype("float32")
    want = numpy_dfl(y, logits).mean()
    assert float(clone(y, logits)) == pytest.approx(want, rel=1e-5)
    assert float(loss([[3.5]], np.zeros((1, 1, 16)))) == pytest.approx(
        np.log(16), rel=1e-6
    )
