"""Tests of layers/cached_attention.py: the cached causal self-attention
(step by step equals the full call), the Keras layer checks and gradient
checking."""

import numpy as np
import tensorflow as tf

from layers.cached_attention import CachedSelfAttention
from tests.helpers import check_layer
from tests.helpers import check_layer_gradients


def test_cached_self_attention_is_causal_and_steps_match_call():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 8)).astype("float32")
    layer = CachedSelfAttention(2, 3)
    full = layer(x).numpy()
    # Changing the last position leaves the earlier outputs unchanged.
    changed = x.copy()
    changed[:, -1] += 1.0
    np.testing.assert_allclose(layer(changed).numpy()[:, :-1], full[:, :-1])
    # One position at a time through a cache of 7 > 5 positions.
    keys = values = tf.zeros((2, 7, 2, 3))
    for step in range(5):
        out, keys, values = layer.step(
            x[:, step : step + 1], keys, values, step
        )
        np.testing.assert_allclose(out.numpy()[:, 0], full[:, step], atol=1e-5)
    np.testing.assert_array_equal(keys.numpy()[:, 5:], 0.0)
    # Position 0 attends to itself only: its value, projected.
    want = (
        np.einsum("bd,dhk->bhk", x[:, 0], layer.value_kernel.numpy())
        + layer.value_bias.numpy()
    )
    want = np.einsum("bhk,hkd->bd", want, layer.output_kernel.numpy())
    want = want + layer.output_bias.numpy()
    np.testing.assert_allclose(full[:, 0], want, atol=1e-5)


def test_cached_self_attention_check_layer_and_gradients():
    check_layer(
        CachedSelfAttention,
        {"num_heads": 2, "key_dim": 3, "dropout": 0.0},
        (2, 4, 6),
        expected_output_shape=(2, 4, 6),
    )
    layer = CachedSelfAttention(2, 2, dtype="float64")
    x = np.random.default_rng(2).normal(size=(1, 3, 4))
    assert check_layer_gradients(layer, x) < 1e-6
