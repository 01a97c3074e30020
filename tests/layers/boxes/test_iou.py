"""Tests of layers/boxes/iou.py."""

import numpy as np
import pytest
import tensorflow as tf

from layers.boxes import elementwise_iou
from layers.boxes import pairwise_iou
from tests.helpers import check_gradients


def numpy_iou(a, b):
    """Independent reference: one pair of xyxy boxes, float64."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih

    def area(box):
        return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])

    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


@pytest.mark.parametrize(
    "a,b,expected",
    [
        ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7),  # overlap 1, union 7
        ([0, 0, 2, 2], [0, 0, 2, 2], 1.0),  # identical
        ([0, 0, 1, 1], [2, 2, 3, 3], 0.0),  # disjoint
        ([0, 0, 1, 1], [1, 0, 2, 1], 0.0),  # touching edge
        ([0, 0, 4, 4], [1, 1, 2, 2], 1 / 16),  # contained
        ([0, 0, 2, 2], [0, 0, 2, 1], 0.5),  # half
        ([1, 1, 1, 1], [0, 0, 2, 2], 0.0),  # zero area vs box
        ([1, 1, 1, 1], [1, 1, 1, 1], 0.0),  # zero area vs itself
        ([0, 1, 3, 1], [0, 0, 2, 2], 0.0),  # line
        ([2, 2, 0, 0], [0, 0, 2, 2], 0.0),  # inverted box is empty
    ],
)
def test_hand_computed(a, b, expected):
    a = np.array(a, "float32")
    b = np.array(b, "float32")
    pair = pairwise_iou(a[None], b[None]).numpy()
    assert pair.shape == (1, 1)
    np.testing.assert_allclose(pair[0, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(elementwise_iou(a, b).numpy(), expected, 1e-6)


def random_boxes(rng, shape, degenerate=0.2):
    xy = rng.uniform(0, 1, size=(*shape, 2))
    wh = rng.uniform(0, 0.6, size=(*shape, 2))
    wh[rng.random(size=shape) < degenerate] = 0.0
    return np.concatenate([xy, xy + wh], axis=-1)


def test_pairwise_matches_numpy_reference_batched():
    rng = np.random.default_rng(3)
    a = random_boxes(rng, (2, 7))
    b = random_boxes(rng, (2, 9))
    out = pairwise_iou(a.astype("float32"), b.astype("float32")).numpy()
    assert out.shape == (2, 7, 9)
    expected = np.array(
        [
            [[numpy_iou(a[k, i], b[k, j]) for j in range(9)] for i in range(7)]
            for k in range(2)
        ]
    )
    assert np.all(np.isfinite(out))
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert (expected > 0).sum() > 10  # the data does overlap
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_pairwise_broadcasts_and_is_symmetric():
    rng = np.random.default_rng(4)
    a = random_boxes(rng, (3, 4))
    b = random_boxes(rng, (5,))
    out = pairwise_iou(a, b).numpy()
    assert out.shape == (3, 4, 5)
    assert out.dtype == np.float64
    back = pairwise_iou(b, a).numpy()
    np.testing.assert_allclose(out, np.transpose(back, (0, 2, 1)))


def test_elementwise_is_diagonal_of_pairwise():
    rng = np.random.default_rng(5)
    a = random_boxes(rng, (6,))
    b = random_boxes(rng, (6,))
    np.testing.assert_allclose(
        elementwise_iou(a, b).numpy(), np.diag(pairwise_iou(a, b).numpy())
    )


def test_zero_area_gives_finite_gradient():
    a = tf.constant([[1.0, 1.0, 1.0, 1.0]])
    b = tf.constant([[1.0, 1.0, 1.0, 1.0]])
    with tf.GradientTape() as tape:
        tape.watch(a)
        iou = elementwise_iou(a, b)
    grad = tape.gradient(iou, a).numpy()
    assert iou.numpy()[0] == 0.0
    assert np.all(np.isfinite(grad))


def test_gradient_check_elementwise_iou():
    # Overlapping boxes with no ties between coordinates (kinks of min/max).
    a = np.array([[0.1, 0.2, 0.7, 0.9], [0.3, 0.1, 0.6, 0.5]])
    b = np.array([[0.4, 0.05, 0.95, 0.6], [0.2, 0.3, 0.8, 0.45]])
    error = check_gradients(elementwise_iou, [a, b], eps=1e-5)
    assert error < 1e-6
