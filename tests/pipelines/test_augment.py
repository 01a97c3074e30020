"""Tests for box-aware detection augmentation."""

import numpy as np
import pytest
import tensorflow as tf

from pipelines.augment.boxes import add_noise
from pipelines.augment.boxes import augment_detection
from pipelines.augment.boxes import color_shift
from pipelines.augment.boxes import contrast
from pipelines.augment.boxes import cutout
from pipelines.augment.boxes import random_crop
from pipelines.augment.boxes import random_flip
from pipelines.augment.boxes import random_rotation
from pipelines.synthetic.shapes import make_shapes_arrays

HEIGHT, WIDTH = 48, 64  # not square, so that x/y mix-ups show
SCALE = np.array([WIDTH, HEIGHT, WIDTH, HEIGHT], np.float32)


def _sample(image, boxes, classes, max_boxes=4):
    padded = np.zeros((max_boxes, 4), np.float32)
    padded[: len(boxes)] = boxes
    labels = np.full((max_boxes,), -1, np.int32)
    labels[: len(classes)] = classes
    return {
        "image": tf.constant(image, tf.float32),
        "boxes": tf.constant(padded),
        "classes": tf.constant(labels),
    }


def _rectangle_sample(x0, y0, x1, y1):
    """A white filled rectangle (pixel xyxy, exclusive) on black."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    image[y0:y1, x0:x1] = 1.0
    box = np.array([x0, y0, x1, y1], np.float32) / SCALE
    return _sample(image, [box], [2])


def _bright_bounds(image):
    mask = image.numpy()[..., 0] > 0.5
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])


def _shapes_samples(n=4, size=32):
    data = make_shapes_arrays(n, size, seed=0, max_boxes=6)
    return [
        {
            "image": tf.constant(data["images"][i] / 255.0, tf.float32),
            "boxes": tf.constant(data["boxes"][i]),
            "classes": tf.constant(data["classes"][i]),
        }
        for i in range(n)
    ]


def _assert_padding(out):
    classes = out["classes"].numpy()
    boxes = out["boxes"].numpy()
    n = int((classes >= 0).sum())
    assert (classes[:n] >= 0).all() and (classes[n:] == -1).all()
    assert (boxes[n:] == 0).all()
    assert (boxes >= 0).all() and (boxes <= 1).all()


def test_flip_moves_boxes_exactly_and_twice_is_identity():
    sample = _rectangle_sample(5, 10, 21, 30)
    once = random_flip(sample, tf.constant([0, 0]), probability=1.0)
    np.testing.assert_allclose(
        once["boxes"][0].numpy() * SCALE, [WIDTH - 21, 10, WIDTH - 5, 30]
    )
    np.testing.assert_array_equal(
        _bright_bounds(once["image"]), [43, 10, 59, 30]
    )
    assert (once["boxes"][1:].numpy() == 0).all()
    twice = random_flip(once, tf.constant([0, 1]), probability=1.0)
    np.testing.assert_array_equal(twice["image"], sample["image"])
    np.testing.assert_allclose(twice["boxes"], sample["boxes"], atol=1e-6)
    np.testing.assert_array_equal(twice["classes"], sample["classes"])


@pytest.mark.parametrize("seed", range(4))
def test_rotation_box_matches_rotated_pixels(seed):
    sample = _rectangle_sample(20, 14, 42, 32)
    out = random_rotation(
        sample, tf.constant([seed, 7]), max_degrees=25.0, fill_value=0.0
    )
    assert out["classes"][0] == 2
    box = out["boxes"][0].numpy() * SCALE
    np.testing.assert_allclose(box, _bright_bounds(out["image"]), atol=1.5)


@pytest.mark.parametrize("seed", range(4))
def test_crop_box_matches_cropped_pixels(seed):
    sample = _rectangle_sample(24, 18, 40, 30)
    out = random_crop(sample, tf.constant([seed, 3]), min_area=0.4)
    assert out["image"].shape == (HEIGHT, WIDTH, 3)
    assert out["classes"][0] == 2
    box = out["boxes"][0].numpy() * SCALE
    np.testing.assert_allclose(box, _bright_bounds(out["image"]), atol=1.5)


def test_boxes_leaving_the_image_are_dropped_and_compacted():
    image = np.full((HEIGHT, WIDTH, 3), 0.3, np.float32)
    boxes = [
        [0.0, 0.0, 0.1, 0.1],  # a corner: always leaves under rotation
        [0.4, 0.4, 0.6, 0.6],
        [0.9, 0.9, 1.0, 1.0],  # the opposite corner
        [0.45, 0.3, 0.55, 0.5],
    ]
    sample = _sample(image, boxes, [0, 1, 2, 0], max_boxes=6)
    out = random_rotation(
        sample, tf.constant([1, 2]), max_degrees=20.0, min_visible=1.0
    )
    np.testing.assert_array_equal(out["classes"], [1, 0, -1, -1, -1, -1])
    _assert_padding(out)
    centres = (out["boxes"][:2, :2] + out["boxes"][:2, 2:]).numpy() / 2
    np.testing.assert_allclose(centres, [[0.5, 0.5], [0.5, 0.4]], atol=0.05)
    # With the default threshold the corners stay (mostly inside).
    kept = random_rotation(sample, tf.constant([1, 2]), max_degrees=3.0)
    np.testing.assert_array_equal(kept["classes"], [0, 1, 2, 0, -1, -1])


def test_crop_drops_boxes_outside_window():
    image = np.full((HEIGHT, WIDTH, 3), 0.3, np.float32)
    boxes = [[0.0, 0.0, 0.05, 0.05], [0.45, 0.45, 0.55, 0.55]]
    sample = _sample(image, boxes, [0, 1], max_boxes=3)
    dropped = 0
    for seed in range(8):
        out = random_crop(sample, tf.constant([seed, 0]), min_area=0.3)
        _assert_padding(out)
        classes = out["classes"].numpy().tolist()
        assert classes in ([0, 1, -1], [1, -1, -1])
        dropped += classes[0] == 1
    assert dropped > 0


@pytest.mark.parametrize("op", [color_shift, contrast, add_noise, cutout])
def test_photometric_ops_leave_boxes_unchanged(op):
    sample = _shapes_samples(1)[0]
    out = op(sample, tf.constant([4, 2]))
    np.testing.assert_array_equal(out["boxes"], sample["boxes"])
    np.testing.assert_array_equal(out["classes"], sample["classes"])
    image = out["image"].numpy()
    assert image.dtype == np.float32 and image.shape == (32, 32, 3)
    assert image.min() >= 0 and image.max() <= 1
    assert not np.array_equal(image, sample["image"].numpy())


def test_same_seed_same_output_and_input_untouched():
    sample = _shapes_samples(1)[0]
    sample["extra"] = tf.constant(7)
    before = {k: v.numpy().copy() for k, v in sample.items()}
    a = augment_detection(sample, tf.constant([3, 9]))
    b = augment_detection(sample, tf.constant([3, 9]))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert a is not sample and int(a["extra"]) == 7
    for key, value in before.items():
        np.testing.assert_array_equal(sample[key], value)
    outputs = [
        augment_detection(sample, tf.constant([3, s]))["image"].numpy()
        for s in range(4)
    ]
    assert len({o.tobytes() for o in outputs}) > 1


def test_strength_zero_is_identity():
    sample = _shapes_samples(1)[0]
    out = augment_detection(sample, tf.constant([1, 1]), strength=0.0)
    assert out is not sample
    for key in sample:
        np.testing.assert_array_equal(out[key], sample[key])


def test_augment_inside_dataset_map_is_deterministic():
    samples = _shapes_samples(4)
    stacked = {k: tf.stack([s[k] for s in samples]) for k in samples[0]}
    seeds = tf.constant([[5, i] for i in range(4)], tf.int64)
    ds = tf.data.Dataset.zip(
        tf.data.Dataset.from_tensor_slices(stacked),
        tf.data.Dataset.from_tensor_slices(seeds),
    )
    ds = ds.map(
        lambda s, k: augment_detection(s, k, strength=1.5),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).prefetch(2)
    first = list(ds)
    second = list(ds)
    assert len(first) == 4
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        assert a["image"].shape == (32, 32, 3)
        assert a["boxes"].shape == (6, 4) and a["classes"].shape == (6,)
        _assert_padding(a)
        assert 0 <= a["image"].numpy().min() <= a["image"].numpy().max() <= 1
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
        eager = augment_detection(samples[i], seeds[i], strength=1.5)
        np.testing.assert_allclose(a["image"], eager["image"], atol=1e-5)
        np.testing.assert_allclose(a["boxes"], eager["boxes"], atol=1e-6)


def test_rejects_bad_input():
    sample = _shapes_samples(1)[0]
    as_bytes = {**sample, "image": tf.cast(sample["image"] * 255, tf.uint8)}
    with pytest.raises(ValueError, match="float32"):
        augment_detection(as_bytes, tf.constant([0, 0]))
    with pytest.raises(ValueError, match="strength"):
        augment_detection(sample, tf.constant([0, 0]), strength=-1.0)
    with pytest.raises(ValueError, match="min_area"):
        random_crop(sample, tf.constant([0, 0]), min_area=0.0)
