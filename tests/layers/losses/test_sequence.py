"""Tests of layers/losses/sequence.py against a numpy reference."""

import keras
import numpy as np
import pytest

from layers.losses.sequence import SequenceCrossEntropy
from layers.losses.sequence import sequence_cross_entropy
from tests.helpers import check_gradients


def reference(y, z, eps, pad=0):
    z = z - z.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    b, t, v = z.shape
    out = np.zeros(b)
    for i in range(b):
        for j in range(t):
            if y[i, j] == pad:
                continue
            target = np.full(v, eps / v)
            target[y[i, j]] += 1 - eps
            out[i] += -(target * logp[i, j]).sum()
    return out


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_matches_numpy(eps):
    rng = np.random.default_rng(0)
    y = np.array([[3, 1, 2, 0], [4, 4, 0, 0]])
    z = rng.normal(size=(2, 4, 5))
    got = sequence_cross_entropy(y, z, label_smoothing=eps).numpy()
    np.testing.assert_allclose(got, reference(y, z, eps), rtol=1e-6)


def test_uniform_logits_give_length_times_log_v():
    # Summed over time: 3 real tokens at uniform p = 1/8 -> 3 log 8.
    got = sequence_cross_entropy([[1, 2, 3, 0, 0]], np.zeros((1, 5, 8)))
    np.testing.assert_allclose(got.numpy(), [3 * np.log(8)], rtol=1e-6)


def test_padding_only_row_is_zero():
    got = sequence_cross_entropy([[0, 0]], np.ones((1, 2, 3)))
    assert got.numpy().tolist() == [0.0]


def test_gradients():
    y = np.array([[2, 1, 0]])
    z = np.random.default_rng(1).normal(size=(1, 3, 4))
    error = check_gradients(
        lambda logits: sequence_cross_entropy(y, logits, label_smoothing=0.1),
        [z],
    )
    assert error < 1e-6


def test_loss_class_config_and_bad_value():
    loss = SequenceCrossEntropy(label_smoothing=0.2, pad_id=0)
    again = SequenceCrossEntropy.from_config(loss.get_config())
    assert again.label_smoothing == 0.2
    y = np.array([[1, 2], [3, 0]])
    z = np.random.default_rng(2).normal(size=(2, 2, 4)).astype("float32")
    np.testing.assert_allclose(
        float(loss(y, z)), reference(y, z, 0.2).mean(), rtol=1e-5
    )
    with pytest.raises(ValueError, match="label_smoothing"):
        SequenceCrossEntropy(label_smoothing=1.0)
    assert (
        keras.losses.get(
            keras.saving.serialize_keras_object(loss)
        ).label_smoothing
        == 0.2
    )
