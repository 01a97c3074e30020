"""Tests of layers/blocks/residual.py."""

import keras
import numpy as np
import pytest

from layers.blocks.residual import conv_bn_act
from layers.blocks.residual import residual_block
from tests.helpers import check_layer_gradients


def block_model(in_channels, filters, name="res1", activation="silu"):
    inputs = keras.Input((6, 6, in_channels))
    outputs = residual_block(inputs, filters, name=name, activation=activation)
    return keras.Model(inputs, outputs)


def zero_second_bn(model, name="res1"):
    bn = model.get_layer(f"{name}_b_bn")
    bn.gamma.assign(np.zeros(bn.gamma.shape))
    bn.beta.assign(np.zeros(bn.beta.shape))


def test_identity_skip_when_z_is_zero():
    # a[l+2] = g(a[l] + z[l+2]); with the second BN's gamma = beta = 0,
    # z[l+2] = 0 and a[l+2] = g(a[l]).
    model = block_model(4, 4)
    zero_second_bn(model)
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 4)).astype("float32")
    got = model(x, training=False).numpy()
    silu = x / (1.0 + np.exp(-x))
    np.testing.assert_allclose(got, silu, rtol=1e-5, atol=1e-6)


def test_identity_skip_relu():
    model = block_model(3, 3, activation="relu")
    zero_second_bn(model)
    x = np.random.default_rng(1).normal(size=(1, 6, 6, 3)).astype("float32")
    np.testing.assert_allclose(
        model(x, training=False).numpy(), np.maximum(x, 0.0), atol=1e-6
    )


def test_residual_adds_z():
    # Untouched BN: the output is g(a[l] + z) with z the conv branch.
    model = block_model(4, 4)
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 4)).astype("float32")
    branch = keras.Model(model.input, model.get_layer("res1_b_bn").output)
    z = branch(x, training=False).numpy()
    assert np.abs(z).max() > 1e-2
    s = x + z
    np.testing.assert_allclose(
        model(x, training=False).numpy(),
        s / (1.0 + np.exp(-s)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_projection_shortcut_when_channels_differ():
    model = block_model(3, 5)
    assert model.output.shape == (None, 6, 6, 5)
    names = {layer.name for layer in model.layers}
    assert {"res1_proj_conv", "res1_proj_bn"} <= names
    assert "res1_proj_act" not in names
    assert model.get_layer("res1_proj_conv").kernel.shape == (1, 1, 3, 5)
    # The skip path is the projection: zeroing z leaves g(BN(conv1x1(x))).
    zero_second_bn(model)
    x = np.random.default_rng(3).normal(size=(1, 6, 6, 3)).astype("float32")
    proj = keras.Model(model.input, model.get_layer("res1_proj_bn").output)
    p = proj(x, training=False).numpy()
    np.testing.assert_allclose(
        model(x, training=False).numpy(),
        p / (1.0 + np.exp(-p)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_no_projection_when_channels_equal():
    model = block_model(4, 4)
    names = [layer.name for layer in model.layers]
    assert not any("proj" in n for n in names)
    # Input + 2 x (conv, bn) + act between + add + out.
    assert len(names) == 1 + 4 + 1 + 2


def test_every_layer_name_carries_prefix():
    inputs = keras.Input((8, 8, 3), name="image")
    x = conv_bn_act(inputs, 4, 3, 2, name="stem")
    x = residual_block(x, 4, name="stage1_block1")
    x = residual_block(x, 6, name="stage1_block2")
    model = keras.Model(inputs, x)
    assert model.output.shape == (None, 4, 4, 6)
    names = [layer.name for layer in model.layers[1:]]
    prefixes = ("stem_", "stage1_block1_", "stage1_block2_")
    assert all(n.startswith(prefixes) for n in names), names
    assert sum(n.startswith("stage1_block1_") for n in names) == 7
    assert sum(n.startswith("stage1_block2_") for n in names) == 9
    assert sorted(names) == sorted(set(names))


def test_conv_bn_act_stride_and_regularizer():
    inputs = keras.Input((7, 7, 2))
    out = conv_bn_act(
        inputs,
        3,
        3,
        2,
        name="c",
        activation=None,
        kernel_regularizer=keras.regularizers.L2(0.1),
    )
    model = keras.Model(inputs, out)
    assert out.shape == (None, 4, 4, 3)
    assert [layer.name for layer in model.layers[1:]] == ["c_conv", "c_bn"]
    assert model.get_layer("c_conv").bias is None
    kernel = model.get_layer("c_conv").kernel.numpy()
    np.testing.assert_allclose(
        float(sum(model.losses)), 0.1 * np.square(kernel).sum(), rtol=1e-5
    )


def test_gradients_of_tiny_float64_model():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        inputs = keras.Input((3, 3, 2), dtype="float64")
        outputs = residual_block(inputs, 3, name="g")
        model = keras.Model(inputs, outputs, dtype="float64")
        assert all(w.dtype == "float64" for w in model.weights)
        x = np.random.default_rng(4).normal(size=(1, 3, 3, 2))
        error = check_layer_gradients(model, x, eps=1e-5, rtol=1e-4, atol=1e-7)
    finally:
        keras.config.set_dtype_policy(previous)
    assert error < 1e-6


@pytest.mark.parametrize(
    "norm, names, bias",
    [
        ("before", ["c_conv", "c_bn", "c_act"], False),
        ("after", ["c_conv", "c_act", "c_bn"], True),
        ("none", ["c_conv", "c_act"], True),
    ],
)
def test_conv_bn_act_places_batch_norm(norm, names, bias):
    inputs = keras.Input((8, 8, 3))
    outputs = conv_bn_act(inputs, 4, 3, name="c", activation="relu", norm=norm)
    model = keras.Model(inputs, outputs)
    assert [layer.name for layer in model.layers[1:]] == names
    assert model.get_layer("c_conv").use_bias is bias
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    y = model(x, training=True).numpy()
    if norm == "after":  # batch norm last: each channel has mean 0
        np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-3)
    else:  # ReLU last: nothing negative
        assert y.min() >= 0.0


def test_conv_bn_act_rejects_unknown_norm():
    with pytest.raises(ValueError, match="norm"):
        conv_bn_act(keras.Input((8, 8, 3)), 4, name="c", norm="sideways")


@pytest.mark.parametrize("initializer", ["glorot_uniform", "he_normal"])
def test_kernel_initializer_sets_the_variance(initializer):
    # Glorot (Xavier): Var = 2 / (fan_in + fan_out); He: Var = 2 / fan_in.
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 64))
    outputs = conv_bn_act(
        inputs, 128, 3, name="c", kernel_initializer=initializer
    )
    kernel = keras.Model(inputs, outputs).get_layer("c_conv").kernel.numpy()
    fan_in, fan_out = 3 * 3 * 64, 3 * 3 * 128
    if initializer == "glorot_uniform":
        want = 2.0 / (fan_in + fan_out)
    else:
        want = 2.0 / fan_in
    assert kernel.var() == pytest.approx(want, rel=0.05)
