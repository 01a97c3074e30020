"""Tests for the synthetic shapes detection dataset."""

import json
import time

import numpy as np
import pytest
from PIL import Image

from pipelines.synthetic.shapes import SHAPE_CLASSES
from pipelines.synthetic.shapes import generate_shapes_sample
from pipelines.synthetic.shapes import make_shapes_arrays
from pipelines.synthetic.shapes import write_shapes_folder


def _mask_bounds(mask):
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]


def _outline(mask):
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown & ~mask


def test_same_rng_seed_gives_same_sample():
    a = generate_shapes_sample(np.random.default_rng(5), 48)
    b = generate_shapes_sample(np.random.default_rng(5), 48)
    c = generate_shapes_sample(np.random.default_rng(6), 48)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_arrays_are_deterministic_from_seed():
    a = make_shapes_arrays(3, 32, seed=11)
    b = make_shapes_arrays(3, 32, seed=11)
    c = make_shapes_arrays(3, 32, seed=12)
    for key in ("images", "boxes", "classes"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["images"], c["images"])


def test_boxes_are_tight_around_drawn_pixels():
    rng = np.random.default_rng(0)
    for _ in range(20):
        image, boxes, classes, owner = generate_shapes_sample(
            rng, 64, return_instances=True
        )
        assert image.dtype == np.uint8 and image.shape == (64, 64, 3)
        assert boxes.dtype == np.float32 and boxes.shape == (len(classes), 4)
        for i, box in enumerate(boxes):
            mask = owner == i
            # The instance map describes what was drawn: one flat colour,
            # clearly different from every background pixel around it.
            colours = image[mask].astype(float)
            assert (colours == colours[0]).all()
            around = _outline(mask) & (owner == -1)
            if around.any():
                gap = np.linalg.norm(image[around] - colours[0], axis=-1)
                assert gap.min() > 60
            assert list(box) == _mask_bounds(mask)
            # Tight: each edge row/column of the box holds object pixels.
            x0, y0, x1, y1 = box.astype(int)
            assert mask[y0, x0:x1].any() and mask[y1 - 1, x0:x1].any()
            assert mask[y0:y1, x0].any() and mask[y0:y1, x1 - 1].any()


def test_single_object_box_matches_non_background_pixels():
    rng = np.random.default_rng(3)
    for _ in range(10):
        image, boxes, _, owner = generate_shapes_sample(
            rng, 40, min_objects=1, max_objects=1, return_instances=True
        )
        assert len(boxes) == 1
        colour = image[owner == 0][0]
        drawn = (image == colour).all(axis=-1)
        assert list(boxes[0]) == _mask_bounds(drawn)


def test_counts_and_classes_in_range():
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(30):
        _, boxes, classes = generate_shapes_sample(
            rng, 48, min_objects=2, max_objects=4
        )
        assert 2 <= len(classes) <= 4
        assert classes.dtype == np.int32
        assert ((classes >= 0) & (classes < len(SHAPE_CLASSES))).all()
        assert (boxes[:, 2] > boxes[:, 0]).all()
        assert (boxes[:, 3] > boxes[:, 1]).all()
        assert boxes.min() >= 0 and boxes.max() <= 48
        seen.update(classes.tolist())
    assert seen == {0, 1, 2}


def test_padding_convention():
    data = make_shapes_arrays(8, 32, seed=0, max_boxes=7, max_objects=5)
    images, boxes, classes = data["images"], data["boxes"], data["classes"]
    assert images.shape == (8, 32, 32, 3) and images.dtype == np.uint8
    assert boxes.shape == (8, 7, 4) and boxes.dtype == np.float32
    assert classes.shape == (8, 7) and classes.dtype == np.int32
    for b, c in zip(boxes, classes, strict=True):
        n = int((c >= 0).sum())
        assert 1 <= n <= 5
        assert (c[:n] >= 0).all() and (c[n:] == -1).all()
        assert (b[n:] == 0).all()
        assert (b[:n] >= 0).all() and (b[:n] <= 1).all()
        assert (b[:n, 2:] > b[:n, :2]).all()


def test_rejects_too_few_max_boxes():
    with pytest.raises(ValueError, match="max_boxes"):
        make_shapes_arrays(1, 32, seed=0, max_boxes=3, max_objects=6)


def test_folder_matches_arrays(tmp_path):
    manifest = write_shapes_folder(tmp_path, 3, 32, seed=4, max_objects=4)
    data = make_shapes_arrays(3, 32, seed=4, max_boxes=4, max_objects=4)
    content = json.loads(manifest.read_text())
    assert content["classes"] == list(SHAPE_CLASSES)
    assert len(content["images"]) == 3
    for i, entry in enumerate(content["images"]):
        image = np.asarray(Image.open(tmp_path / entry["file"]))
        np.testing.assert_array_equal(image, data["images"][i])
        n = len(entry["boxes"])
        np.testing.assert_allclose(
            np.array(entry["boxes"]) / 32, data["boxes"][i, :n], atol=1e-6
        )
        names = [SHAPE_CLASSES[c] for c in data["classes"][i, :n]]
        assert entry["classes"] == names


def test_generation_is_fast():
    start = time.perf_counter()
    make_shapes_arrays(200, 128, seed=0)
    # About 0.25 s here; 2,000 images must stay well under 10 s.
    assert time.perf_counter() - start < 2.0
