"""Tests of layers/attention.py: Bahdanau and Luong attention against a
numpy transcription of the cheatsheet's formulas, masking (including a
fully masked row), the Keras layer checks and gradient checking."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.attention import BahdanauAttention
from layers.attention import LuongAttention
from layers.attention import ScoreAttention
from layers.attention import masked_softmax
from tests.helpers import check_gradients
from tests.helpers import check_layer
from tests.helpers import check_layer_gradients


def numpy_attention(scores, values, mask):
    """The cheatsheet: alpha = softmax over t' of e<t,t'> (masked entries
    excluded), c<t> = sum_t' alpha<t,t'> a<t'>; a fully masked row gives
    zero weights. `scores (B, Tq, Tv)`, `values (B, Tv, Dv)`, `mask (B,
    Tv)`."""
    keep = np.broadcast_to(mask[:, None, :], scores.shape)
    weights = np.zeros_like(scores)
    for index in np.ndindex(scores.shape[:2]):
        kept = keep[index]
        if kept.any():
            e = np.exp(scores[index][kept] - scores[index][kept].max())
            weights[index][kept] = e / e.sum()
    return np.einsum("bqv,bvd->bqd", weights, values), weights


def numpy_bahdanau_scores(query, values, w1, w2, v):
    """e<t,t'> = v^T tanh(W1 s<t> + W2 a<t'>), one pair at a time."""
    b, tq, tv = query.shape[0], query.shape[1], values.shape[1]
    scores = np.zeros((b, tq, tv))
    for i, t, u in np.ndindex(b, tq, tv):
        scores[i, t, u] = v @ np.tanh(query[i, t] @ w1 + values[i, u] @ w2)
    return scores


def problem(seed=0, batch=2, tq=3, tv=5, dq=4, dv=3):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(batch, tq, dq)).astype("float32")
    values = rng.normal(size=(batch, tv, dv)).astype("float32")
    mask = np.ones((batch, tv), bool)
    mask[0, 3:] = False
    mask[1, 0] = False
    return query, values, mask


# ------------------------------------------------------------ the formula


@pytest.mark.parametrize("single_step", [False, True])
def test_bahdanau_against_numpy(single_step):
    query, values, mask = problem()
    if single_step:
        query = query[:, 0]
    layer = BahdanauAttention(6)
    context, weights = layer(query, values, mask=mask)
    w1, w2, v = (w.numpy() for w in layer.weights)
    q = query[:, None] if single_step else query
    scores = numpy_bahdanau_scores(q, values, w1, w2, v)
    want_context, want_weights = numpy_attention(scores, values, mask)
    if single_step:
        want_context, want_weights = want_context[:, 0], want_weights[:, 0]
    assert context.shape == want_context.shape
    assert weights.shape == want_weights.shape
    np.testing.assert_allclose(weights.numpy(), want_weights, atol=1e-6)
    np.testing.assert_allclose(context.numpy(), want_context, atol=1e-5)


@pytest.mark.parametrize("mode", ["general", "dot"])
def test_luong_against_numpy(mode):
    query, values, mask = problem(dq=3)
    layer = LuongAttention(mode, scale=True)
    context, weights = layer(query, values, mask=mask)
    layer.scale_factor.assign(0.5)
    context, weights = layer(query, values, mask=mask)
    kernel = layer.kernel.numpy() if mode == "general" else np.eye(3)
    scores = 0.5 * np.einsum("bqd,de,bve->bqv", query, kernel, values)
    want_context, want_weights = numpy_attention(scores, values, mask)
    np.testing.assert_allclose(weights.numpy(), want_weights, atol=1e-6)
    np.testing.assert_allclose(context.numpy(), want_context, atol=1e-5)


def test_weights_sum_to_one_and_vanish_on_masked_positions():
    query, values, mask = problem(seed=3, tq=4, tv=7)
    mask = np.random.default_rng(3).random((2, 7)) > 0.4
    mask[:, 2] = True
    for layer in (BahdanauAttention(5), LuongAttention()):
        _, weights = layer(query, values, mask=mask)
        weights = weights.numpy()
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
        assert np.all(
            weights[np.broadcast_to(~mask[:, None], weights.shape)] == 0
        )
        assert np.all(
            weights[np.broadcast_to(mask[:, None], weights.shape)] > 0
        )


def test_rank3_mask_per_query():
    query, values, _ = problem()
    mask = np.tril(np.ones((3, 5), bool))[None].repeat(2, 0)
    _, weights = LuongAttention()(query, values, mask=mask)
    np.testing.assert_array_equal(weights.numpy() > 0, mask)


def test_fully_masked_row_gives_zero_weights_and_context():
    # Documented behaviour: nothing to attend to -> all-zero weights and a
    # zero context, finite gradients (not NaN, not a uniform average).
    query, values, mask = problem()
    mask[1] = False
    layer = BahdanauAttention(4)
    with tf.GradientTape() as tape:
        q = tf.constant(query)
        tape.watch(q)
        context, weights = layer(q, values, mask=mask)
        total = tf.reduce_sum(context) + tf.reduce_sum(weights)
    gradients = tape.gradient(total, [q, *layer.trainable_weights])
    np.testing.assert_array_equal(weights.numpy()[1], 0.0)
    np.testing.assert_array_equal(context.numpy()[1], 0.0)
    np.testing.assert_allclose(weights.numpy()[0].sum(-1), 1.0, atol=1e-6)
    assert all(np.all(np.isfinite(g.numpy())) for g in gradients)
    np.testing.assert_array_equal(
        masked_softmax(tf.zeros((2, 3)), tf.zeros((2, 3), bool)).numpy(), 0.0
    )


def test_masked_softmax_values():
    got = masked_softmax([[0.0, np.log(3.0), 5.0]], [[True, True, False]])
    np.testing.assert_allclose(got.numpy(), [[0.25, 0.75, 0.0]], atol=1e-6)
    np.testing.assert_allclose(
        masked_softmax([[0.0, np.log(3.0)]]).numpy(), [[0.25, 0.75]], atol=1e-6
    )


def test_return_weights_false_and_symbolic_shapes():
    query, values, mask = problem()
    layer = LuongAttention()
    context = layer(query, values, mask=mask, return_weights=False)
    np.testing.assert_allclose(
        context.numpy(), layer(query, values, mask=mask)[0].numpy()
    )
    q = keras.Input((None, 4))
    v = keras.Input((7, 3))
    out = BahdanauAttention(2)(q, v, return_weights=False)
    assert tuple(out.shape) == (None, None, 3)
    context, weights = BahdanauAttention(2)(keras.Input((4,)), v)
    assert tuple(context.shape) == (None, 3)
    assert tuple(weights.shape) == (None, 7)


# -------------------------------------------------------- keras machinery


@pytest.mark.parametrize(
    "layer_cls, kwargs",
    [
        (BahdanauAttention, {"units": 6}),
        (LuongAttention, {"mode": "general", "scale": False}),
        (LuongAttention, {"mode": "dot", "scale": True}),
    ],
)
def test_check_layer(layer_cls, kwargs):
    check_layer(
        layer_cls,
        kwargs,
        [(4, 3, 5), (4, 6, 5)],
        expected_output_shape=[(4, 3, 5), (4, 3, 6)],
    )


def test_check_layer_single_step_query():
    check_layer(
        BahdanauAttention,
        {"units": 3},
        [(4, 2), (4, 6, 5)],
        expected_output_shape=[(4, 5), (4, 6)],
    )


def test_layer_gradients_float64():
    query, values, _ = problem()
    for layer in (
        BahdanauAttention(3, dtype="float64"),
        LuongAttention(scale=True, dtype="float64"),
    ):
        error = check_layer_gradients(layer, [query[:, :2], values])
        assert error < 1e-6


def test_gradients_with_mask_float64():
    query, values, mask = problem(tq=2)
    layer = BahdanauAttention(3, dtype="float64")
    layer(query, values)
    projection = np.random.default_rng(1).normal(size=(2, 2, 3))
    relative = check_gradients(
        lambda q, a: tf.reduce_sum(layer(q, a, mask=mask)[0] * projection),
        [query, values],
    )
    assert relative < 1e-6


def test_argument_errors():
    with pytest.raises(ValueError, match="units"):
        BahdanauAttention(0)
    with pytest.raises(ValueError, match="mode"):
        LuongAttention("concat")
    with pytest.raises(ValueError, match="equal query and values"):
        LuongAttention("dot")(tf.zeros((2, 3)), tf.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match="rank"):
        BahdanauAttention(2)(tf.zeros((2, 3, 4, 5)), tf.zeros((2, 4, 5)))
    with pytest.raises(NotImplementedError):
        ScoreAttention()(tf.zeros((2, 3)), tf.zeros((2, 4, 5)))
