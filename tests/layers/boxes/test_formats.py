"""Tests of layers/boxes/formats.py."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from layers.boxes import FORMATS
from layers.boxes import clip_boxes
from layers.boxes import convert_format
from layers.boxes import to_normalized
from layers.boxes import to_pixels

# One box, x from 1 to 5 and y from 2 to 8, in every format.
SAME_BOX = {
    "xyxy": [1.0, 2.0, 5.0, 8.0],
    "xywh": [1.0, 2.0, 4.0, 6.0],
    "cxcywh": [3.0, 5.0, 4.0, 6.0],
}


@pytest.mark.parametrize(
    "source,target", list(itertools.product(FORMATS, FORMATS))
)
def test_convert_format_known_box(source, target):
    out = convert_format([SAME_BOX[source]], source, target)
    np.testing.assert_allclose(out.numpy(), [SAME_BOX[target]])


def test_convert_format_round_trips_random_boxes():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1, size=(2, 3, 5, 2))
    wh = rng.uniform(0, 1, size=(2, 3, 5, 2))
    boxes = np.concatenate([xy, xy + wh], axis=-1).astype("float32")
    for fmt in FORMATS:
        there = convert_format(boxes, "xyxy", fmt)
        back = convert_format(there, fmt, "xyxy")
        assert there.shape == boxes.shape
        np.testing.assert_allclose(back.numpy(), boxes, atol=1e-6)


def test_convert_format_keeps_dtype_and_works_in_tf_function():
    fn = tf.function(
        lambda b: convert_format(b, "cxcywh", "xywh"),
        input_signature=[tf.TensorSpec([None, None, 4], tf.float64)],
    )
    out = fn(tf.constant([[SAME_BOX["cxcywh"]]], tf.float64))
    assert out.dtype == tf.float64
    np.testing.assert_allclose(out.numpy(), [[SAME_BOX["xywh"]]])


def test_convert_format_rejects_unknown_format():
    with pytest.raises(ValueError, match="Expected format one of"):
        convert_format([SAME_BOX["xyxy"]], "yxyx", "xyxy")
    with pytest.raises(ValueError, match="Received: source='yxyx'"):
        convert_format([SAME_BOX["xyxy"]], "yxyx", "xyxy")
    with pytest.raises(ValueError, match="Received: target='xyzw'"):
        convert_format([SAME_BOX["xyxy"]], "xyxy", "xyzw")


def test_to_pixels_and_back():
    boxes = tf.constant([[0.5, 0.25, 1.0, 1.0]])
    pixels = to_pixels(boxes, height=100, width=200)
    np.testing.assert_allclose(pixels.numpy(), [[100.0, 25.0, 200.0, 100.0]])
    np.testing.assert_allclose(
        to_normalized(pixels, height=100, width=200).numpy(), boxes.numpy()
    )


def test_to_pixels_per_image_sizes():
    boxes = tf.ones((2, 3, 4))
    height = tf.constant([[10.0], [20.0]])
    width = tf.constant([[30.0], [40.0]])
    pixels = to_pixels(boxes, height, width).numpy()
    np.testing.assert_allclose(pixels[0, 0], [30.0, 10.0, 30.0, 10.0])
    np.testing.assert_allclose(pixels[1, 2], [40.0, 20.0, 40.0, 20.0])


def test_clip_boxes():
    out = clip_boxes([[-0.1, 0.2, 1.3, 0.9], [1.2, 1.5, 1.4, 2.0]])
    np.testing.assert_allclose(
        out.numpy(), [[0.0, 0.2, 1.0, 0.9], [1.0, 1.0, 1.0, 1.0]]
    )
