"""Tests for the geometric ops: flip, rotation, crop and scale jitter."""

import numpy as np
import pytest
import tensorflow as tf

from pipelines.augment.geometric import random_crop
from pipelines.augment.geometric import random_flip
from pipelines.augment.geometric import random_rotation
from pipelines.augment.geometric import random_scale
from pipelines.augment.geometric import scale_about
from tests.pipelines.augment import HEIGHT
from tests.pipelines.augment import SCALE
from tests.pipelines.augment import WIDTH
from tests.pipelines.augment import assert_padding
from tests.pipelines.augment import bright_bounds
from tests.pipelines.augment import make_sample
from tests.pipelines.augment import rectangle_sample
from tests.pipelines.augment import shapes_samples


def test_flip_moves_boxes_exactly_and_twice_is_identity():
    sample = rectangle_sample(5, 10, 21, 30)
    once = random_flip(sample, tf.constant([0, 0]), probability=1.0)
    np.testing.assert_allclose(
        once["boxes"][0].numpy() * SCALE, [WIDTH - 21, 10, WIDTH - 5, 30]
    )
    np.testing.assert_array_equal(
        bright_bounds(once["image"]), [43, 10, 59, 30]
    )
    assert (once["boxes"][1:].numpy() == 0).all()
    twice = random_flip(once, tf.constant([0, 1]), probability=1.0)
    np.testing.assert_array_equal(twice["image"], sample["image"])
    np.testing.assert_allclose(twice["boxes"], sample["boxes"], atol=1e-6)
    np.testing.assert_array_equal(twice["classes"], sample["classes"])


@pytest.mark.parametrize("seed", range(4))
def test_rotation_box_matches_rotated_pixels(seed):
    sample = rectangle_sample(20, 14, 42, 32)
    out = random_rotation(
        sample, tf.constant([seed, 7]), max_degrees=25.0, fill_value=0.0
    )
    assert out["classes"][0] == 2
    box = out["boxes"][0].numpy() * SCALE
    np.testing.assert_allclose(box, bright_bounds(out["image"]), atol=1.5)


@pytest.mark.parametrize("seed", range(4))
def test_crop_box_matches_cropped_pixels(seed):
    sample = rectangle_sample(24, 18, 40, 30)
    out = random_crop(sample, tf.constant([seed, 3]), min_area=0.4)
    assert out["image"].shape == (HEIGHT, WIDTH, 3)
    assert out["classes"][0] == 2
    box = out["boxes"][0].numpy() * SCALE
    np.testing.assert_allclose(box, bright_bounds(out["image"]), atol=1.5)


def test_boxes_leaving_the_image_are_dropped_and_compacted():
    image = np.full((HEIGHT, WIDTH, 3), 0.3, np.float32)
    boxes = [
        [0.0, 0.0, 0.1, 0.1],  # a corner: always leaves under rotation
        [0.4, 0.4, 0.6, 0.6],
        [0.9, 0.9, 1.0, 1.0],  # the opposite corner
        [0.45, 0.3, 0.55, 0.5],
    ]
    sample = make_sample(image, boxes, [0, 1, 2, 0], max_boxes=6)
    out = random_rotation(
        sample, tf.constant([1, 2]), max_degrees=20.0, min_visible=1.0
    )
    np.testing.assert_array_equal(out["classes"], [1, 0, -1, -1, -1, -1])
    assert_padding(out)
    centres = (out["boxes"][:2, :2] + out["boxes"][:2, 2:]).numpy() / 2
    np.testing.assert_allclose(centres, [[0.5, 0.5], [0.5, 0.4]], atol=0.05)
    # With the default threshold the corners stay (mostly inside).
    kept = random_rotation(sample, tf.constant([1, 2]), max_degrees=3.0)
    np.testing.assert_array_equal(kept["classes"], [0, 1, 2, 0, -1, -1])


def test_crop_drops_boxes_outside_window():
    image = np.full((HEIGHT, WIDTH, 3), 0.3, np.float32)
    boxes = [[0.0, 0.0, 0.05, 0.05], [0.45, 0.45, 0.55, 0.55]]
    sample = make_sample(image, boxes, [0, 1], max_boxes=3)
    dropped = 0
    for seed in range(8):
        out = random_crop(sample, tf.constant([seed, 0]), min_area=0.3)
        assert_padding(out)
        classes = out["classes"].numpy().tolist()
        assert classes in ([0, 1, -1], [1, -1, -1])
        dropped += classes[0] == 1
    assert dropped > 0


def test_crop_rejects_bad_min_area():
    sample = shapes_samples(1)[0]
    with pytest.raises(ValueError, match="min_area"):
        random_crop(sample, tf.constant([0, 0]), min_area=0.0)


# ------------------------------------------------------------- scale jitter

ZOOM_H, ZOOM_W = 24, 32  # not square, so that x/y mix-ups show
ZOOM_SCALE = np.array([ZOOM_W, ZOOM_H, ZOOM_W, ZOOM_H], np.float32)


def _white_rectangle(x0, y0, x1, y1):
    image = np.zeros((ZOOM_H, ZOOM_W, 3), np.float32)
    image[y0:y1, x0:x1] = 1.0
    boxes = np.zeros((2, 4), np.float32)
    boxes[0] = np.array([x0, y0, x1, y1], np.float32) / ZOOM_SCALE
    return {
        "image": tf.constant(image),
        "boxes": tf.constant(boxes),
        "classes": tf.constant([3, -1], tf.int32),
    }


def _zoom_bounds(image):
    mask = image[..., 0] > 0.75
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])


def test_zoom_out_shrinks_towards_the_point_exactly():
    sample = _white_rectangle(8, 4, 24, 20)
    out = scale_about(sample, scale=0.5, centre=(0.25, 0.5))
    # Point (8, 12) px: x -> 8 + 0.5 (x - 8), y -> 12 + 0.5 (y - 12).
    np.testing.assert_allclose(
        out["boxes"][0].numpy() * ZOOM_SCALE, [8, 8, 16, 16], atol=1e-5
    )
    image = out["image"].numpy()
    np.testing.assert_allclose(_zoom_bounds(image), [8, 8, 16, 16], atol=1)
    # The zoomed image spans x [4, 20), y [6, 18); grey outside.
    np.testing.assert_allclose(image[0, 0], 0.5)
    np.testing.assert_allclose(image[20, 25], 0.5)
    np.testing.assert_allclose(image[7, 5], 0.0)
    np.testing.assert_array_equal(out["classes"], [3, -1])


def test_random_scale_zoom_out_matches_the_rendered_rectangle():
    sample = _white_rectangle(6, 5, 26, 19)
    box = sample["boxes"][0].numpy()
    for seed in range(4):
        out = random_scale(
            sample, tf.constant([seed, 1]), min_scale=0.5, max_scale=0.5
        )
        moved = out["boxes"][0].numpy()
        np.testing.assert_allclose(
            moved[2:] - moved[:2], 0.5 * (box[2:] - box[:2]), atol=1e-6
        )
        # The fixed point solves moved = p + 0.5 (box - p) for each corner.
        p_min = (moved[:2] - 0.5 * box[:2]) / 0.5
        p_max = (moved[2:] - 0.5 * box[2:]) / 0.5
        np.testing.assert_allclose(p_min, p_max, atol=1e-5)
        assert ((p_min >= 0) & (p_min <= 1)).all()
        np.testing.assert_allclose(
            _zoom_bounds(out["image"].numpy()), moved * ZOOM_SCALE, atol=1
        )


def test_zoom_in_drops_boxes_that_leave_and_compacts():
    image = np.zeros((ZOOM_H, ZOOM_W, 3), np.float32)
    boxes = np.array([[0.05, 0.05, 0.2, 0.2], [0.6, 0.6, 0.9, 0.8]], np.float32)
    sample = {
        "image": tf.constant(image),
        "boxes": tf.constant(boxes),
        "classes": tf.constant([1, 2], tf.int32),
    }
    out = scale_about(sample, scale=2.0, centre=(0.75, 0.75))
    # Row 0 moves to x, y < 0 and goes; row 1 -> 0.75 + 2 (b - 0.75).
    np.testing.assert_array_equal(out["classes"], [2, -1])
    np.testing.assert_allclose(
        out["boxes"].numpy(),
        [[0.45, 0.45, 1.0, 0.85], [0, 0, 0, 0]],
        atol=1e-6,
    )


def test_random_scale_is_deterministic_and_works_in_map():
    sample = _white_rectangle(6, 5, 26, 19)
    seeds = tf.constant([[1, 2], [3, 4]], tf.int64)
    ds = tf.data.Dataset.zip(
        tf.data.Dataset.from_tensors(sample).repeat(2),
        tf.data.Dataset.from_tensor_slices(seeds),
    ).map(random_scale, num_parallel_calls=tf.data.AUTOTUNE)
    outs = list(ds)
    for seed, got in zip(seeds, outs):
        want = random_scale(sample, seed)
        np.testing.assert_allclose(got["image"], want["image"], atol=1e-6)
        np.testing.assert_allclose(got["boxes"], want["boxes"], atol=1e-6)
    assert not np.array_equal(outs[0]["image"], outs[1]["image"])
    with pytest.raises(ValueError, match="min_scale"):
        random_scale(sample, seeds[0], min_scale=0.0)
