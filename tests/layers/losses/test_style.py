"""Tests of layers/losses/style.py: the cheatsheet's neural style transfer
costs against numpy, hand-computed values, the Keras NST example's style
loss `sum((S - G)^2) / (4 C^2 (H W)^2)`, tf.image.total_variation, and
gradient checking."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.losses.style import ContentCost
from layers.losses.style import NeuralStyleCost
from layers.losses.style import StyleCost
from layers.losses.style import TotalVariation
from layers.losses.style import content_cost
from layers.losses.style import gram_matrix
from layers.losses.style import layer_style_cost
from layers.losses.style import neural_style_cost
from layers.losses.style import style_cost
from layers.losses.style import total_variation
from tests.helpers import check_gradients

RNG = np.random.default_rng(0)


def acts(*shape):
    return RNG.normal(size=shape)


def numpy_gram(a):
    # The cheatsheet's unrolled form: A is (n_C, n_H n_W), G = A A^T.
    n_h, n_w, n_c = a.shape
    unrolled = a.reshape(n_h * n_w, n_c).T
    return unrolled @ unrolled.T


def keras_example_style_loss(a_s, a_g):
    # keras.io/examples/generative/neural_style_transfer: channels = C,
    # size = H * W, loss = sum((S - C)^2) / (4 channels^2 size^2).
    channels = a_s.shape[-1]
    size = a_s.shape[0] * a_s.shape[1]
    s, g = numpy_gram(a_s), numpy_gram(a_g)
    return np.sum((s - g) ** 2) / (4.0 * channels**2 * size**2)


def test_content_cost_by_hand_and_numpy():
    got = content_cost(np.ones((1, 2, 2, 1)), np.zeros((1, 2, 2, 1)))
    np.testing.assert_allclose(got.numpy(), [2.0])
    c, g = acts(2, 3, 4, 5), acts(2, 3, 4, 5)
    want = 0.5 * ((c - g) ** 2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(content_cost(c, g).numpy(), want, rtol=1e-6)


def test_gram_matrix_is_unrolled_product():
    a = acts(2, 3, 4, 5)
    got = gram_matrix(a).numpy()
    assert got.shape == (2, 5, 5)
    for b in range(2):
        np.testing.assert_allclose(got[b], numpy_gram(a[b]), rtol=1e-6)
    # By hand: one position, channels (1, 2): G = [[1, 2], [2, 4]].
    hand = gram_matrix(np.array([[[[1.0, 2.0]]]])).numpy()[0]
    np.testing.assert_allclose(hand, [[1, 2], [2, 4]])


def test_layer_style_cost_matches_keras_example():
    a_s, a_g = acts(2, 4, 3, 6), acts(2, 4, 3, 6)
    want = [keras_example_style_loss(a_s[b], a_g[b]) for b in range(2)]
    got = layer_style_cost(a_s, a_g).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # The style image's Gram matrix may be passed instead of activations.
    from_gram = layer_style_cost(gram_matrix(a_s), a_g).numpy()
    np.testing.assert_allclose(from_gram, got, rtol=1e-6)


def test_layer_style_cost_by_hand():
    # 1 x 1 x 2 activations: G(S) = [[1, 0], [0, 0]], G(G) = 0; the sum of
    # squares is 1 and (2 n_H n_W n_C)^2 = (2 * 1 * 1 * 2)^2 = 16.
    a_s = np.array([[[[1.0, 0.0]]]])
    got = layer_style_cost(a_s, np.zeros_like(a_s)).numpy()
    np.testing.assert_allclose(got, [1.0 / 16.0])


def test_style_cost_weighted_sum_over_layers():
    s1, g1 = acts(1, 4, 4, 3), acts(1, 4, 4, 3)
    s2, g2 = acts(1, 2, 2, 5), acts(1, 2, 2, 5)
    j1 = keras_example_style_loss(s1[0], g1[0])
    j2 = keras_example_style_loss(s2[0], g2[0])
    got = style_cost([s1, s2], [g1, g2], [0.3, 0.7]).numpy()
    np.testing.assert_allclose(got, [0.3 * j1 + 0.7 * j2], rtol=1e-5)
    equal = style_cost([s1, s2], [g1, g2]).numpy()
    np.testing.assert_allclose(equal, [(j1 + j2) / 2], rtol=1e-5)
    with pytest.raises(ValueError, match="one style weight per"):
        style_cost([s1, s2], [g1, g2], [1.0])


def test_total_variation_matches_tensorflow():
    images = acts(2, 5, 4, 3)
    np.testing.assert_allclose(
        total_variation(images).numpy(),
        tf.image.total_variation(tf.constant(images)).numpy(),
        rtol=1e-6,
    )
    squared = total_variation(images, squared=True).numpy()
    want = (np.diff(images, axis=1) ** 2).sum(axis=(1, 2, 3)) + (
        np.diff(images, axis=2) ** 2
    ).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(squared, want, rtol=1e-6)


def test_overall_cost_is_alpha_content_plus_beta_style():
    c, gc = acts(1, 3, 3, 2), acts(1, 3, 3, 2)
    s, gs = acts(1, 3, 3, 4), acts(1, 3, 3, 4)
    image = acts(1, 6, 6, 3)
    got = neural_style_cost(
        [c], [gc], [s], [gs], image, alpha=10.0, beta=40.0, tv_weight=0.5
    ).numpy()
    want = (
        10.0 * content_cost(c, gc).numpy()
        + 40.0 * layer_style_cost(s, gs).numpy()
        + 0.5 * total_variation(image, squared=True).numpy()
    )
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        neural_style_cost([c], [gc], [s], [gs], alpha=-1.0)
    with pytest.raises(ValueError, match="generated image"):
        neural_style_cost([c], [gc], [s], [gs], tv_weight=1.0)


def test_float16_activations_are_computed_in_float32():
    a = np.full((1, 16, 16, 8), 30.0, np.float16)
    got = gram_matrix(a)
    assert got.dtype == tf.float32
    assert np.isfinite(got.numpy()).all()


def test_gradient_checks():
    c, g = acts(1, 2, 3, 2), acts(1, 2, 3, 2)
    assert check_gradients(content_cost, [c, g], eps=1e-6) < 1e-7
    s = acts(1, 2, 2, 3)
    gen = acts(1, 2, 2, 3)
    assert check_gradients(layer_style_cost, [s, gen], eps=1e-6) < 1e-6
    s2, g2 = acts(1, 1, 2, 2), acts(1, 1, 2, 2)

    def two_layers(a, b, c_, d):
        return style_cost([a, c_], [b, d], [0.25, 0.75])

    assert check_gradients(two_layers, [s, gen, s2, g2], eps=1e-6) < 1e-6
    image = acts(1, 3, 3, 2)
    assert (
        check_gradients(
            lambda x: total_variation(x, squared=True), image, eps=1e-6
        )
        < 1e-7
    )
    # Absolute differences: random inputs keep every difference off 0.
    assert check_gradients(total_variation, image, eps=1e-6) < 1e-7

    def overall(gc, gs, img):
        return neural_style_cost(
            [c], [gc], [s], [gs], img, alpha=2.0, beta=3.0, tv_weight=0.1
        )

    assert check_gradients(overall, [g, gen, image], eps=1e-6) < 1e-6


def _round_trip(loss):
    return keras.losses.deserialize(keras.losses.serialize(loss))


def test_loss_classes_average_over_batch_and_round_trip():
    c, g = acts(3, 2, 2, 2), acts(3, 2, 2, 2)
    loss = ContentCost()
    np.testing.assert_allclose(
        float(loss(c, g)), content_cost(c, g).numpy().mean(), rtol=1e-6
    )
    assert float(_round_trip(loss)(c, g)) == pytest.approx(float(loss(c, g)))

    s1, g1 = acts(3, 2, 2, 2), acts(3, 2, 2, 2)
    s2, g2 = acts(3, 1, 1, 4), acts(3, 1, 1, 4)
    loss = StyleCost(style_weights=[1.0, 2.0])
    want = style_cost([s1, s2], [g1, g2], [1.0, 2.0]).numpy().mean()
    np.testing.assert_allclose(float(loss([s1, s2], [g1, g2])), want, 1e-5)
    clone = _round_trip(loss)
    assert clone.style_weights == [1.0, 2.0]
    # A single tensor each is one layer (weight 1 / L = 1).
    np.testing.assert_allclose(
        float(StyleCost()(s1, g1)),
        layer_style_cost(s1, g1).numpy().mean(),
        rtol=1e-6,
    )

    images = acts(3, 4, 4, 1)
    tv = TotalVariation(squared=True)
    np.testing.assert_allclose(
        float(_round_trip(tv)(images, images)),
        total_variation(images, squared=True).numpy().mean(),
        rtol=1e-6,
    )

    full = NeuralStyleCost(alpha=2.0, beta=5.0, tv_weight=0.1)
    y_true = {"content": [c], "style": [s1]}
    y_pred = {"content": [g], "style": [g1], "image": images}
    want = neural_style_cost(
        [c], [g], [s1], [g1], images, alpha=2.0, beta=5.0, tv_weight=0.1
    ).numpy()
    np.testing.assert_allclose(
        float(_round_trip(full)(y_true, y_pred)), want.mean(), rtol=1e-6
    )
    with pytest.raises(ValueError, match="beta"):
        NeuralStyleCost(beta=-2.0)
