"""Tests of layers/heads/yolo.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.boxes.yolo_codec import decode_yolo_predictions
from layers.heads.yolo import YoloDecode
from layers.heads.yolo import yolo_head
from tests.helpers import check_gradients
from tests.helpers import check_layer

ANCHORS = [[0.1, 0.1], [0.2, 0.12]]


def test_yolo_decode_check_layer():
    raw = np.random.default_rng(0).normal(size=(2, 3, 3, 2 * 7))
    layer = check_layer(
        YoloDecode,
        {"anchors": ANCHORS, "num_classes": 2},
        (2, 3, 3, 14),
        expected_output_shape=((2, 18, 4), (2, 18, 2)),
        fit=False,
        input_data=raw.astype("float32"),
    )
    assert layer.weights == []
    boxes, scores = layer(raw.astype("float32"))
    want = decode_yolo_predictions(
        raw.astype("float32"), anchors=ANCHORS, num_classes=2
    )
    np.testing.assert_allclose(boxes.numpy(), want[0].numpy(), atol=1e-7)
    np.testing.assert_allclose(scores.numpy(), want[1].numpy(), atol=1e-7)


def test_yolo_decode_unknown_grid_shape():
    layer = YoloDecode(ANCHORS, 3)
    assert layer.compute_output_shape((None, None, None, 16)) == (
        (None, None, 4),
        (None, None, 3),
    )
    assert layer.compute_output_shape((4, 5, 6, 16)) == (
        (4, 60, 4),
        (4, 60, 3),
    )


@pytest.mark.parametrize(
    "anchors,num_classes",
    [([], 2), ([[0.1, 0.0]], 2), ([[0.1, 0.1, 0.1]], 2), (ANCHORS, 0)],
)
def test_yolo_decode_invalid_args(anchors, num_classes):
    with pytest.raises(ValueError):
        YoloDecode(anchors, num_classes)


def test_decode_gradients_wrt_raw():
    # Small logits with small anchors keep every box inside the image, away
    # from the clipping kinks.
    raw = np.random.default_rng(1).normal(scale=0.3, size=(1, 2, 2, 14))
    projection = tf.constant(
        np.random.default_rng(2).normal(size=(1, 8, 6)), tf.float32
    )
    layer = YoloDecode(ANCHORS, 2)
    boxes, _ = layer(raw.astype("float32"))
    assert 0.0 < float(tf.reduce_min(boxes))
    assert float(tf.reduce_max(boxes)) < 1.0

    def fn(x):
        boxes, scores = layer(x)
        # A random projection: a plain sum would hide softmax errors.
        return tf.reduce_sum(tf.concat([boxes, scores], -1) * projection)

    # The decode computes in float32: looser tolerances than in float64.
    error = check_gradients(fn, raw, eps=1e-2, rtol=1e-2, atol=1e-3)
    assert error < 1e-3


def test_yolo_head_objectness_prior():
    k, p = 3, 4
    inputs = keras.Input((2, 2, 5))
    outputs = yolo_head(inputs, k, p, name="yolo_out")
    model = keras.Model(inputs, outputs)
    assert model.get_layer("yolo_out").kernel.shape == (1, 1, 5, k * (5 + p))
    y = model(np.zeros((1, 2, 2, 5), "float32")).numpy()
    assert y.shape == (1, 2, 2, k * (5 + p))
    objectness = y[..., 0 :: 5 + p]
    assert objectness.shape == (1, 2, 2, k)
    np.testing.assert_allclose(tf.sigmoid(objectness).numpy(), 0.01, rtol=1e-5)
    # Every other channel starts at zero.
    others = np.delete(y, np.arange(0, k * (5 + p), 5 + p), axis=-1)
    np.testing.assert_array_equal(others, 0.0)
    # Through the decode: score = 0.01 / p everywhere.
    _, scores = YoloDecode([[0.2, 0.2]] * k, p)(y)
    np.testing.assert_allclose(scores.numpy(), 0.01 / p, rtol=1e-4)


def test_yolo_head_custom_prior():
    inputs = keras.Input((1, 1, 2))
    outputs = yolo_head(inputs, 1, 1, name="h", prior_probability=0.2)
    y = keras.Model(inputs, outputs)(np.zeros((1, 1, 1, 2), "float32"))
    np.testing.assert_allclose(
        tf.sigmoid(y[..., 0]).numpy(), [[[0.2]]], rtol=1e-5
    )
