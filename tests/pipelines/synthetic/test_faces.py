"""Synthetic face identities: shapes, determinism, difficulty, speed."""

import time

import numpy as np
import pytest
from PIL import Image

from pipelines.faces.folders import read_faces
from pipelines.synthetic.faces import make_synthetic_faces
from pipelines.synthetic.faces import write_synthetic_faces


def _raw_pixel_nn_accuracy(images, labels, per_identity):
    """1-NN on raw pixels: one held-out image per identity, the rest as
    the gallery."""
    flat = images.reshape(len(images), -1).astype(np.float32)
    probe = np.arange(len(images)) % per_identity == 0
    distances = ((flat[probe, None] - flat[None, ~probe]) ** 2).sum(-1)
    guess = labels[~probe][distances.argmin(axis=1)]
    return float((guess == labels[probe]).mean())


def test_shapes_dtypes_and_identity_major_labels():
    images, labels = make_synthetic_faces(3, 4, image_size=32)
    assert images.shape == (12, 32, 32, 1) and images.dtype == np.uint8
    assert labels.dtype == np.int32
    assert labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    rgb, _ = make_synthetic_faces(2, 2, image_size=16, channels=3)
    assert rgb.shape == (4, 16, 16, 3)
    # Skin is coloured: the channels differ in RGB.
    assert np.abs(rgb[..., 0].astype(int) - rgb[..., 2]).mean() > 5
    assert 30 < images.mean() < 225 and images.std() > 20


def test_deterministic_per_seed_and_identity_stable():
    a, _ = make_synthetic_faces(4, 3, seed=7, image_size=24)
    b, _ = make_synthetic_faces(4, 3, seed=7, image_size=24)
    c, _ = make_synthetic_faces(4, 3, seed=8, image_size=24)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Without nuisance, identity 1 is the same face in a bigger dataset.
    small, _ = make_synthetic_faces(2, 2, seed=7, variation=0.0)
    large, _ = make_synthetic_faces(5, 2, seed=7, variation=0.0)
    np.testing.assert_array_equal(small[2:4], large[2:4])


def test_variation_zero_gives_one_image_per_identity():
    images, _ = make_synthetic_faces(3, 4, variation=0.0, image_size=32)
    groups = images.reshape(3, 4, -1)
    assert (groups == groups[:, :1]).all()
    assert not np.array_equal(groups[0, 0], groups[1, 0])


def test_raw_pixels_are_not_enough_but_identities_separate():
    images, labels = make_synthetic_faces(20, 6, seed=0)
    hard = _raw_pixel_nn_accuracy(images, labels, 6)
    assert 0.1 < hard < 0.9  # far above chance (0.05), clearly imperfect
    mild, labels = make_synthetic_faces(20, 6, seed=0, variation=0.2)
    assert _raw_pixel_nn_accuracy(mild, labels, 6) == 1.0


def test_thousand_images_in_a_few_seconds():
    start = time.perf_counter()
    images, _ = make_synthetic_faces(100, 10, image_size=64)
    elapsed = time.perf_counter() - start
    assert images.shape == (1000, 64, 64, 1)
    assert elapsed < 3.0, f"{elapsed:.2f} s"


def test_written_folders_read_back(tmp_path):
    root = write_synthetic_faces(tmp_path / "faces", 3, 2, image_size=20)
    assert sorted(p.name for p in root.iterdir()) == [
        "id_000",
        "id_001",
        "id_002",
    ]
    assert sorted(p.name for p in (root / "id_001").iterdir()) == [
        "00.png",
        "01.png",
    ]
    images, labels = make_synthetic_faces(3, 2, image_size=20)
    saved = np.asarray(Image.open(root / "id_002" / "01.png"))
    np.testing.assert_array_equal(saved, images[5, ..., 0])
    index = read_faces(root)
    assert index.names == ("id_000", "id_001", "id_002")
    assert index.labels == tuple(labels)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="must be >= 1"):
        make_synthetic_faces(0, 3)
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        make_synthetic_faces(1, 1, channels=2)
    with pytest.raises(ValueError, match="image_size must be >= 8"):
        make_synthetic_faces(1, 1, image_size=4)
