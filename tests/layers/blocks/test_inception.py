"""Tests of layers/blocks/inception.py."""

import keras
import numpy as np
import pytest

from layers.blocks.inception import bottleneck_saving
from layers.blocks.inception import conv_params
from layers.blocks.inception import inception_block
from tests.helpers import check_layer_gradients

SPEC = dict(
    filters_1x1=4,
    reduce_3x3=3,
    filters_3x3=5,
    reduce_5x5=2,
    filters_5x5=3,
    pool_proj=2,
)


def block_model(channels=6, size=8, **spec):
    inputs = keras.Input((size, size, channels))
    outputs = inception_block(inputs, name="inc", **(spec or SPEC))
    return keras.Model(inputs, outputs)


def test_output_shape_concatenates_branches():
    model = block_model()
    assert tuple(model.output.shape) == (None, 8, 8, 4 + 5 + 3 + 2)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 6)).astype("float32")
    assert model(x).shape == (2, 8, 8, 14)


def test_parameter_count_by_hand():
    # Convolutions have no bias (BN follows): F*F*C*K weights each, and
    # each BN has 4 values per channel (gamma, beta, mean, variance).
    c = 6
    convs = [
        (1, c, 4),  # 1x1
        (1, c, 3),  # 3x3 reduce
        (3, 3, 5),  # 3x3
        (1, c, 2),  # 5x5 reduce
        (3, 2, 3),  # 5x5 as two 3x3
        (3, 3, 3),
        (1, c, 2),  # pool projection
    ]
    expected = sum(f * f * cin * k + 4 * k for f, cin, k in convs)
    assert block_model().count_params() == expected


def test_bottleneck_saving_googlenet_example():
    # GoogLeNet inception (3a), 5x5 branch: 192 channels in, 16 after
    # the 1x1 reduction, 32 out. Counted with the cheatsheet's rule
    # (F x F x C + 1) x K.
    saving = bottleneck_saving(192, 5, 32, 16)
    assert saving["direct"] == (5 * 5 * 192 + 1) * 32 == 153_632
    assert saving["reduced"] == (192 + 1) * 16 + (5 * 5 * 16 + 1) * 32
    assert saving["direct"] / saving["reduced"] > 9.6


def test_conv_params_matches_keras():
    inputs = keras.Input((7, 7, 3))
    conv = keras.layers.Conv2D(4, 3)
    keras.Model(inputs, conv(inputs))
    assert conv.count_params() == conv_params(3, 3, 4) == 112


def test_rejects_bad_widths():
    with pytest.raises(ValueError, match="reduce_3x3"):
        block_model(**{**SPEC, "reduce_3x3": 0})


def test_gradients_of_tiny_float64_model():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        inputs = keras.Input((4, 4, 2), dtype="float64")
        outputs = inception_block(
            inputs,
            filters_1x1=1,
            reduce_3x3=1,
            filters_3x3=1,
            reduce_5x5=1,
            filters_5x5=1,
            pool_proj=1,
            name="g",
            activation="tanh",
        )
        model = keras.Model(inputs, outputs, dtype="float64")
        x = np.random.default_rng(3).normal(size=(1, 4, 4, 2))
        error = check_layer_gradients(model, x, eps=1e-5, rtol=1e-4, atol=1e-7)
    finally:
        keras.config.set_dtype_policy(previous)
    assert error < 1e-6
