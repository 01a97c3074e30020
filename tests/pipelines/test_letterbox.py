"""Tests of pipelines/letterbox.py."""

import numpy as np
import pytest
import tensorflow as tf

from pipelines.letterbox import PAD_VALUE
from pipelines.letterbox import letterbox
from pipelines.letterbox import unletterbox_boxes


def test_docstring_example():
    square, scale, offset = letterbox(tf.zeros((50, 100, 3)), 64)
    assert square.shape == (64, 64, 3)
    assert square.dtype == tf.float32
    assert float(scale) == pytest.approx(0.64)
    assert offset.numpy().tolist() == [0.0, 16.0]


@pytest.mark.parametrize(
    "hw,size,content_hw,offset",
    [
        ((50, 100), 64, (32, 64), (0, 16)),  # wide
        ((120, 40), 60, (60, 20), (20, 0)),  # tall
        ((30, 30), 48, (48, 48), (0, 0)),  # square: no padding
        ((33, 71), 32, (15, 32), (0, 8)),  # odd sizes, odd padding
    ],
)
def test_size_aspect_and_padding(hw, size, content_hw, offset):
    # An all-zero image: the content region is 0, the padding 114.
    square, scale, off = letterbox(np.zeros((*hw, 3), np.uint8), size)
    square = square.numpy()
    assert square.shape == (size, size, 3)
    assert float(scale) == pytest.approx(size / max(hw))
    assert off.numpy().tolist() == list(map(float, offset))
    ch, cw = content_hw
    # Aspect ratio preserved up to the rounding of one pixel.
    assert abs(ch / cw - hw[0] / hw[1]) <= 1.0 / min(ch, cw)
    ox, oy = offset
    content = np.zeros((size, size), bool)
    content[oy : oy + ch, ox : ox + cw] = True
    np.testing.assert_array_equal(square[content], 0.0)
    np.testing.assert_array_equal(square[~content], PAD_VALUE)
    assert PAD_VALUE == 114.0


def test_content_is_the_resized_image():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(20, 40, 3)).astype(np.uint8)
    square, _, _ = letterbox(image, 32)
    want = tf.image.resize(image.astype(np.float32), (16, 32)).numpy()
    np.testing.assert_allclose(square.numpy()[8:24], want, atol=1e-4)
    np.testing.assert_array_equal(square.numpy()[:8], PAD_VALUE)
    np.testing.assert_array_equal(square.numpy()[24:], PAD_VALUE)


@pytest.mark.parametrize("hw", [(50, 100), (120, 40), (37, 91), (64, 64)])
def test_unletterbox_recovers_pixel_boxes(hw):
    size = 64
    h, w = hw
    pixel_boxes = np.array(
        [
            [0.0, 0.0, w, h],
            [0.1 * w, 0.2 * h, 0.4 * w, 0.9 * h],
            [0.55 * w, 0.05 * h, 0.95 * w, 0.3 * h],
        ],
        np.float32,
    )
    _, scale, offset = letterbox(np.zeros((h, w, 3), np.float32), size)
    # Where the boxes land on the square, in normalized coordinates, from
    # the actual content region (rounded sizes, integer padding).
    ch = round(h * size / max(hw))
    cw = round(w * size / max(hw))
    ox, oy = (size - cw) // 2, (size - ch) // 2
    sx, sy = cw / w, ch / h
    on_square = np.stack(
        [
            (pixel_boxes[:, 0] * sx + ox) / size,
            (pixel_boxes[:, 1] * sy + oy) / size,
            (pixel_boxes[:, 2] * sx + ox) / size,
            (pixel_boxes[:, 3] * sy + oy) / size,
        ],
        axis=-1,
    )
    got = unletterbox_boxes(on_square, size, scale, offset, (h, w)).numpy()
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got, pixel_boxes, atol=1.0)


def test_unletterbox_clips_to_the_image():
    _, scale, offset = letterbox(np.zeros((50, 100, 3)), 64)
    # A box over the whole square, padding included.
    whole = [[0.0, 0.0, 1.0, 1.0]]
    got = unletterbox_boxes(whole, 64, scale, offset, (50, 100))
    np.testing.assert_allclose(got.numpy(), [[0.0, 0.0, 100.0, 50.0]])


def test_in_tf_function_any_image_size():
    @tf.function(
        input_signature=[tf.TensorSpec((None, None, 3), tf.uint8)],
        reduce_retracing=True,
    )
    def serve(image):
        square, scale, offset = letterbox(image, 32)
        hw = tf.shape(image)[:2]
        boxes = unletterbox_boxes(
            [[0.25, 0.25, 0.75, 0.75]], 32, scale, offset, hw
        )
        return square, boxes

    concrete = serve.get_concrete_function()
    assert concrete.structured_outputs[0].shape == (32, 32, 3)
    for hw in [(16, 64), (64, 16), (20, 20)]:
        image = np.full((*hw, 3), 7, np.uint8)
        square, boxes = serve(image)
        eager_square, scale, offset = letterbox(image, 32)
        np.testing.assert_allclose(square.numpy(), eager_square.numpy())
        eager_boxes = unletterbox_boxes(
            [[0.25, 0.25, 0.75, 0.75]], 32, scale, offset, hw
        )
        np.testing.assert_allclose(boxes.numpy(), eager_boxes.numpy())
    # (16, 64): scale 0.5, content rows 12..20 of the square; the box's
    # 8..24 px map to x 16..48 and y -8..24, clipped to 0..16.
    _, boxes = serve(np.zeros((16, 64, 3), np.uint8))
    np.testing.assert_allclose(boxes.numpy(), [[16.0, 0.0, 48.0, 16.0]])
