"""Five-point alignment onto dlib's chip, and detection through mtcnn."""

import math
import sys

import numpy as np
import pytest

from pipelines.datasets.spec import default_data_root
from pipelines.errors import DataError
from pipelines.faces.align import make_face_detector
from pipelines.faces.chip import DLIB_CHIP_POINTS
from pipelines.faces.chip import align_chip
from pipelines.faces.chip import chip_template
from pipelines.faces.chip import detect_chips
from pipelines.faces.chip import similarity_params
from pipelines.faces.chip import similarity_transform
from pipelines.images import decode_image_file


def _similarity(angle, scale, shift):
    matrix = np.eye(3)
    c, s = math.cos(angle), math.sin(angle)
    matrix[:2, :2] = scale * np.array([[c, -s], [s, c]])
    matrix[:2, 2] = shift
    return matrix


def _apply(matrix, points):
    points = np.asarray(points, np.float64)
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def _blobs(points, height, width, channels, sigma=2.0):
    ys, xs = np.mgrid[:height, :width].astype(np.float64)
    image = np.zeros((height, width))
    for x, y in points:
        image += np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    image = np.clip(image * 255, 0, 255).astype(np.uint8)
    return np.repeat(image[..., None], channels, axis=-1)


def _centroids(chip, points, radius=6):
    """Intensity centroid (x, y) in a window around each expected point."""
    grey = np.asarray(chip, np.float64)[..., 0]
    out = []
    for x, y in points:
        x0, y0 = int(round(x)) - radius, int(round(y)) - radius
        window = grey[y0 : y0 + 2 * radius + 1, x0 : x0 + 2 * radius + 1]
        ys, xs = np.mgrid[: window.shape[0], : window.shape[1]]
        total = window.sum()
        out.append(
            ((window * xs).sum() / total + x0, (window * ys).sum() / total + y0)
        )
    return np.array(out)


def test_template_is_dlibs_and_scales():
    np.testing.assert_allclose(chip_template(), DLIB_CHIP_POINTS)
    np.testing.assert_allclose(chip_template(150)[1], [101.2, 45.0])
    small = chip_template(75)
    np.testing.assert_allclose(small, (DLIB_CHIP_POINTS + 0.5) / 2 - 0.5)
    with pytest.raises(ValueError, match="positive int"):
        chip_template(0)
    with pytest.raises(ValueError, match="positive int"):
        chip_template(1.5)


def test_similarity_recovers_an_exact_transform():
    truth = _similarity(0.3, 1.7, (12.5, -4.0))
    src = np.random.default_rng(0).uniform(0, 100, (5, 2))
    matrix = similarity_transform(src, _apply(truth, src))
    np.testing.assert_allclose(matrix, truth, atol=1e-9)
    assert matrix.shape == (3, 3)
    np.testing.assert_array_equal(matrix[2], [0, 0, 1])
    # A reflected target cannot be matched by a similarity: still a
    # rotation (determinant > 0), never a mirror.
    mirrored = _apply(truth, src) * [-1, 1]
    assert np.linalg.det(similarity_transform(src, mirrored)[:2, :2]) > 0


def test_similarity_is_least_squares_on_noisy_points():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (5, 2))
    dst = _apply(_similarity(-0.2, 0.8, (3, 4)), src) + rng.normal(
        0, 1.0, (5, 2)
    )
    matrix = similarity_transform(src, dst)
    best = ((_apply(matrix, src) - dst) ** 2).sum()
    # Any nudge of the four parameters fits worse.
    a, b = matrix[0, 0], matrix[1, 0]
    for delta in np.eye(4) * 1e-3:
        for sign in (-1, 1):
            da, db, dx, dy = sign * delta
            other = np.array(
                [
                    [a + da, -(b + db), matrix[0, 2] + dx],
                    [b + db, a + da, matrix[1, 2] + dy],
                    [0, 0, 1],
                ]
            )
            assert ((_apply(other, src) - dst) ** 2).sum() > best
    # TF closed form agrees with the numpy SVD (Umeyama) one.
    params = similarity_params(src, dst).numpy()
    np.testing.assert_allclose(
        params, [a, b, matrix[0, 2], matrix[1, 2]], rtol=1e-4, atol=1e-3
    )


def test_similarity_matches_an_independent_reference():
    rng = np.random.default_rng(2)
    src = rng.uniform(0, 100, (5, 2))
    dst = _apply(_similarity(0.5, 1.3, (-7, 9)), src) + rng.normal(0, 2, (5, 2))
    matrix = similarity_transform(src, dst)
    # Linear least squares over (a, b, tx, ty): x' = a x - b y + tx,
    # y' = b x + a y + ty (always runs).
    x, y = src[:, 0], src[:, 1]
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    system = np.concatenate(
        [
            np.stack([x, -y, ones, zeros], axis=1),
            np.stack([y, x, zeros, ones], axis=1),
        ]
    )
    (a, b, tx, ty), *_ = np.linalg.lstsq(
        system, np.concatenate([dst[:, 0], dst[:, 1]]), rcond=None
    )
    expected = np.array([[a, -b, tx], [b, a, ty], [0, 0, 1]])
    np.testing.assert_allclose(matrix, expected, atol=1e-8)
    skimage_transform = pytest.importorskip("skimage.transform")
    reference = skimage_transform.SimilarityTransform()
    assert reference.estimate(src, dst)
    np.testing.assert_allclose(matrix, reference.params, atol=1e-8)


def test_similarity_rejects_bad_points():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        similarity_transform(np.zeros((5, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="same shape"):
        similarity_transform(np.ones((5, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="same point"):
        similarity_transform(np.ones((5, 2)), np.arange(10.0).reshape(5, 2))
    with pytest.raises(ValueError, match="finite"):
        similarity_transform(np.full((5, 2), np.nan), np.ones((5, 2)))


@pytest.mark.parametrize("channels", [1, 3])
def test_points_land_on_the_template(channels):
    template = chip_template(150)
    # The face in the photo: the template turned, shrunk and moved.
    photo_points = _apply(_similarity(0.35, 0.6, (40.0, 15.0)), template)
    assert photo_points.min() > 5 and photo_points.max() < 105
    photo = _blobs(photo_points, 120, 110, channels, sigma=1.5)
    chip = align_chip(photo, photo_points).numpy()
    assert chip.shape == (150, 150, channels) and chip.dtype == np.uint8
    error = np.abs(_centroids(chip, template) - template).max()
    assert error < 0.5, error
    # Chip pixels outside the photo are black.
    assert chip[0, 0].max() == 0 or chip[-1, -1].max() == 0


def test_a_batch_of_faces_and_several_faces_of_one_photo():
    rng = np.random.default_rng(3)
    template = chip_template(112)
    photos, points = [], []
    for angle, scale in ((0.0, 1.0), (0.4, 1.3), (-0.25, 0.7)):
        shift = rng.uniform(-10, 10, 2)
        face = _apply(np.linalg.inv(_similarity(angle, scale, shift)), template)
        points.append(face)
        photos.append(_blobs(face, 160, 160, 3, sigma=2.0))
    chips = align_chip(np.stack(photos), np.stack(points), 112).numpy()
    assert chips.shape == (3, 112, 112, 3)
    for chip in chips:
        assert np.abs(_centroids(chip, template) - template).max() < 0.5
    # Two faces of one photo: one chip each.
    photo = np.maximum(photos[0], photos[1])
    chips = align_chip(photo, np.stack(points[:2]), 112).numpy()
    assert chips.shape == (2, 112, 112, 3)
    # No face: no chip.
    empty = align_chip(photo, np.zeros((0, 5, 2), np.float32), 112)
    assert empty.shape == (0, 112, 112, 3)


def test_float_images_stay_float_and_shapes_are_checked():
    photo = np.full((40, 40, 1), 0.5, np.float32)
    points = chip_template(32) + 4
    chip = align_chip(photo, points, 32).numpy()
    assert chip.dtype == np.float32 and chip.shape == (32, 32, 1)
    assert chip[16, 16, 0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="landmarks must be"):
        align_chip(photo, np.zeros((4, 2)), 32)
    with pytest.raises(ValueError, match="image must be"):
        align_chip(photo[None], points, 32)


def test_missing_mtcnn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mtcnn", None)
    with pytest.raises(DataError, match="pip install mtcnn"):
        detect_chips(np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(ValueError, match="image must be uint8"):
        detect_chips(np.zeros((20, 20, 3), np.float32))


@pytest.fixture(scope="module")
def detector():
    pytest.importorskip("mtcnn")
    return make_face_detector()


def test_no_face_gives_no_chip(detector):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
    faces = detect_chips(noise, detector=detector)
    assert len(faces) == 0
    assert faces.chips.shape == (0, 150, 150, 3)
    assert faces.boxes.shape == (0, 4) and faces.landmarks.shape == (0, 5, 2)


def test_detects_and_chips_a_real_face(detector):
    root = default_data_root()
    path = None if root is None else root / "att_faces" / "s1" / "1.pgm"
    if path is None or not path.is_file():
        pytest.skip("att_faces not in the shared data folder")
    photo = decode_image_file(path)[..., :1]
    faces = detect_chips(photo, size=150, detector=detector)
    assert len(faces) == 1 and faces.scores[0] > 0.9
    assert faces.chips.shape == (1, 150, 150, 1)
    left_eye, right_eye = faces.landmarks[0, 0], faces.landmarks[0, 1]
    assert left_eye[0] < right_eye[0]
    # The fitted transform takes the landmarks close to the template.
    matrix = similarity_transform(faces.landmarks[0], chip_template(150))
    moved = _apply(matrix, faces.landmarks[0])
    assert np.abs(moved - chip_template(150)).max() < 15


def test_runs_in_a_graph_with_unknown_sizes():
    import tensorflow as tf

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, 3], tf.uint8),
            tf.TensorSpec([None, 5, 2], tf.float32),
        ]
    )
    def chips(photo, landmarks):
        return align_chip(photo, landmarks, 64)

    template = chip_template(64)
    points = _apply(_similarity(0.2, 1.1, (5.0, 8.0)), template)
    photo = _blobs(points, 90, 80, 3, sigma=2.0)
    out = chips(photo, points[None].astype(np.float32)).numpy()
    assert out.shape == (1, 64, 64, 3)
    np.testing.assert_array_equal(out[0], align_chip(photo, points, 64))
    assert np.abs(_centroids(out[0], template) - template).max() < 0.5
