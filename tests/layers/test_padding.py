"""Tests of layers/padding.py: the cheatsheet's full padding."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.padding import FullPadding2D
from layers.padding import full_padding
from tests.helpers import check_layer
from tests.helpers import check_layer_gradients


def test_check_layer():
    check_layer(
        FullPadding2D,
        {"kernel_size": (3, 3)},
        (2, 5, 4, 3),
        expected_output_shape=(2, 9, 8, 3),
    )


def test_rectangular_and_dilated():
    check_layer(
        FullPadding2D,
        {"kernel_size": (3, 2), "dilation_rate": (1, 2)},
        (2, 4, 4, 1),
        expected_output_shape=(2, 8, 8, 1),
    )
    assert full_padding((3, 2), (1, 2)) == (2, 2)
    assert full_padding(5, 2) == (8, 8)


@pytest.mark.parametrize("size, f, s", [(5, 3, 1), (6, 3, 2), (7, 4, 3)])
def test_output_size_is_the_cheatsheet_formula(size, f, s):
    # O = (I - F + P_start + P_end) / S + 1 with P_start = P_end = F - 1.
    inputs = keras.Input((size, size, 1))
    x = FullPadding2D(f)(inputs)
    x = keras.layers.Conv2D(1, f, strides=s, padding="valid")(x)
    expected = (size - f + 2 * (f - 1)) // s + 1
    assert x.shape[1] == x.shape[2] == expected
    if s == 1:
        assert expected == size + f - 1


def test_full_correlation_matches_scipy():
    # A valid correlation over the full-padded input is scipy's full
    # correlation: O = I + F - 1 on each axis.
    from scipy.signal import correlate2d

    rng = np.random.default_rng(0)
    image = rng.normal(size=(4, 5))
    kernel = rng.normal(size=(3, 2))
    x = FullPadding2D((3, 2), dtype="float64")(image[None, :, :, None])
    got = tf.nn.conv2d(
        x, kernel[:, :, None, None], strides=1, padding="VALID"
    ).numpy()[0, :, :, 0]
    want = correlate2d(image, kernel, mode="full")
    assert got.shape == want.shape == (6, 6)
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_gradients():
    layer = FullPadding2D(2, dtype="float64")
    x = np.random.default_rng(1).normal(size=(1, 3, 2, 2))
    assert check_layer_gradients(layer, x, eps=1e-6) < 1e-8


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, (3,), "3"])
def test_rejects_bad_kernel_size(bad):
    with pytest.raises(ValueError, match="kernel_size"):
        FullPadding2D(bad)
