"""Tests of layers/losses/box.py: CIoU against a numpy transcription of
Zheng et al. (2020) and hand-computed values."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.losses.box import CIoULoss
from layers.losses.box import ciou
from layers.losses.box import ciou_loss
from tests.helpers import check_gradients


def numpy_ciou(a, b):
    """CIoU of one pair of xyxy boxes, float64, straight from the paper."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    wa, ha = a[2] - a[0], a[3] - a[1]
    wb, hb = b[2] - b[0], b[3] - b[1]
    inter = iw * ih
    iou = inter / (wa * ha + wb * hb - inter)
    centre_a = (a[:2] + a[2:]) / 2
    centre_b = (b[:2] + b[2:]) / 2
    rho2 = np.sum((centre_a - centre_b) ** 2)
    enclosing = np.maximum(a[2:], b[2:]) - np.minimum(a[:2], b[:2])
    c2 = np.sum(enclosing**2)
    v = 4 / math.pi**2 * (math.atan(wb / hb) - math.atan(wa / ha)) ** 2
    alpha = v / ((1 - iou) + v)
    return iou - rho2 / c2 - alpha * v


def test_identical_boxes_give_zero_loss():
    boxes = np.array([[0.0, 0.0, 2.0, 2.0], [0.1, 0.3, 0.5, 0.4]])
    np.testing.assert_allclose(ciou_loss(boxes, boxes).numpy(), 0.0, atol=1e-6)
    assert float(CIoULoss()(boxes, boxes)) == pytest.approx(0.0, abs=1e-6)


def test_hand_computed_same_aspect():
    # IoU = 1/7; centres (1, 1) and (2, 2): rho^2 = 2; enclosing box 3 x 3:
    # c^2 = 18; same aspect ratio: v = 0. CIoU = 1/7 - 1/9.
    got = ciou([[0.0, 0.0, 2.0, 2.0]], [[1.0, 1.0, 3.0, 3.0]])
    assert float(got[0]) == pytest.approx(1 / 7 - 1 / 9, abs=1e-6)


def test_hand_computed_worked_example():
    # A = (0, 0, 4, 2), B = (1, 1, 3, 4): intersection 2 x 1 = 2, union
    # 8 + 6 - 2 = 12, IoU = 1/6. Centres (2, 1) and (2, 2.5): rho^2 = 2.25.
    # Enclosing (0, 0, 4, 4): c^2 = 32. v = 4/pi^2 (atan(2/3) - atan(2))^2.
    v = 4 / math.pi**2 * (math.atan(2 / 3) - math.atan(2.0)) ** 2
    alpha = v / (1 - 1 / 6 + v)
    want = 1 / 6 - 2.25 / 32 - alpha * v
    a = [[0.0, 0.0, 4.0, 2.0]]
    b = [[1.0, 1.0, 3.0, 4.0]]
    assert want == pytest.approx(numpy_ciou(a[0], b[0]), abs=1e-12)
    assert float(ciou(a, b)[0]) == pytest.approx(want, abs=1e-6)
    assert float(ciou_loss(a, b)[0]) == pytest.approx(1 - want, abs=1e-6)


def random_boxes(rng, n):
    xy = rng.uniform(0, 5, size=(n, 2))
    wh = rng.uniform(0.5, 4, size=(n, 2))
    return np.concatenate([xy, xy + wh], -1)


def test_random_pairs_against_numpy():
    rng = np.random.default_rng(0)
    a = random_boxes(rng, 64)
    b = random_boxes(rng, 64)
    want = [numpy_ciou(x, y) for x, y in zip(a, b)]
    np.testing.assert_allclose(ciou(a, b).numpy(), want, atol=1e-6)
    # Symmetric, bounded, float32 agrees.
    np.testing.assert_allclose(ciou(b, a).numpy(), want, atol=1e-6)
    assert np.all(np.asarray(want) >= -1.5) and np.all(np.asarray(want) <= 1)
    np.testing.assert_allclose(
        ciou(a.astype("float32"), b.astype("float32")).numpy(), want, atol=1e-5
    )
    # Broadcasting and leading dimensions.
    got = ciou(a.reshape(8, 8, 4), b[:8][:, None, :])
    assert got.shape == (8, 8)


def test_disjoint_boxes_are_negative():
    got = float(ciou([[0.0, 0.0, 1.0, 1.0]], [[3.0, 0.0, 4.0, 1.0]])[0])
    # IoU 0, rho^2 = 9, c^2 = 16 + 1.
    assert got == pytest.approx(-9 / 17, abs=1e-6)


def alpha_and_v(a, b):
    """The paper's alpha and v (float64 tf ops, for the gradient test)."""
    wa, ha = a[..., 2] - a[..., 0], a[..., 3] - a[..., 1]
    wb, hb = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
    v = 4 / math.pi**2 * tf.square(tf.atan(wb / hb) - tf.atan(wa / ha))
    iw = tf.maximum(
        tf.minimum(a[..., 2], b[..., 2]) - tf.maximum(a[..., 0], b[..., 0]), 0
    )
    ih = tf.maximum(
        tf.minimum(a[..., 3], b[..., 3]) - tf.maximum(a[..., 1], b[..., 1]), 0
    )
    iou = iw * ih / (wa * ha + wb * hb - iw * ih)
    return v / (1 - iou + v), v


def test_gradients_with_alpha_as_constant():
    # alpha is a stop-gradient trade-off weight: the analytic gradient of
    # ciou must be that of IoU - rho^2/c^2 - alpha0 * v with alpha frozen at
    # its value alpha0 at the base point. f below has ciou's analytic
    # gradient and, numerically, 1 - (that frozen-alpha function).
    rng = np.random.default_rng(3)
    a = random_boxes(rng, 6)
    b = a + rng.uniform(-0.8, 0.8, size=a.shape)  # overlapping, distinct
    alpha0, _ = alpha_and_v(tf.constant(a), tf.constant(b))

    def frozen(x, y):
        alpha, v = alpha_and_v(x, y)
        return ciou_loss(x, y) - tf.stop_gradient(alpha * v - alpha0 * v)

    error = check_gradients(frozen, [a, b], eps=1e-6, rtol=1e-4, atol=1e-7)
    assert error < 1e-6


def test_gradient_of_loss_without_aspect_term():
    # Same aspect ratios: v = 0 and its gradient vanishes, so the plain
    # numerical gradient of the loss applies.
    rng = np.random.default_rng(4)
    a = random_boxes(rng, 5)
    b = a * 1.3 + 0.2
    error = check_gradients(ciou_loss, [a, b], eps=1e-6, rtol=1e-4, atol=1e-7)
    assert error < 1e-6


def test_loss_class_serialization_and_reduction():
    loss = CIoULoss(name="box")
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, CIoULoss) and clone.name == "box"
    rng = np.random.default_rng(5)
    a = random_boxes(rng, 4).astype("float32")
    b = random_boxes(rng, 4).astype("float32")
    want = np.mean([1 - numpy_ciou(x, y) for x, y in zip(a, b)])
    assert float(clone(a, b)) == pytest.approx(want, abs=1e-5)
