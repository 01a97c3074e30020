"""Face alignment geometry, and detection through mtcnn when installed."""

import math
import sys

import numpy as np
import pytest

from pipelines.datasets.spec import default_data_root
from pipelines.errors import DataError
from pipelines.faces.align import align_from_landmarks
from pipelines.faces.align import detect_and_align
from pipelines.faces.align import make_face_detector
from pipelines.images import decode_image_file


def _dots(points, size=100):
    image = np.zeros((size, size), np.uint8)
    for x, y in points:
        image[y - 2 : y + 3, x - 2 : x + 3] = 255
    return image


def _centroids(face):
    """Centroids (x, y) of the bright blobs left and right of the middle."""
    grey = face[..., 0].astype(float)
    ys, xs = np.mgrid[: grey.shape[0], : grey.shape[1]]
    middle = grey.shape[1] / 2
    out = []
    for side in (xs < middle, xs >= middle):
        weight = grey * side * (grey > 60)
        total = weight.sum()
        out.append(((weight * xs).sum() / total, (weight * ys).sum() / total))
    return out


def test_eyes_come_out_level():
    left, right = (30, 40), (70, 60)  # tilted by atan(20 / 40)
    image = _dots([left, right])
    face = align_from_landmarks(
        image, left, right, (20, 20, 60, 60), image_size=64, margin=0.0
    )
    assert face.shape == (64, 64, 1) and face.dtype == np.uint8
    (lx, ly), (rx, ry) = _centroids(face)
    assert abs(ly - ry) < 0.5
    # Eye distance 44.7 px of the photo, at 64 / 60 output px per px.
    assert math.hypot(rx - lx, ry - ly) == pytest.approx(
        math.hypot(40, 20) * 64 / 60, abs=1.0
    )
    # The box centre (50, 50) is the midpoint of the eyes here: centred.
    assert (lx + rx) / 2 == pytest.approx(32, abs=0.7)
    assert (ly + ry) / 2 == pytest.approx(32, abs=0.7)
    swapped = align_from_landmarks(
        image, right, left, (20, 20, 60, 60), image_size=64, margin=0.0
    )
    np.testing.assert_array_equal(face, swapped)


def test_margin_grows_the_crop_around_the_box():
    image = np.zeros((120, 120, 3), np.uint8)
    image[30:90, 40:100] = 200  # the box: x 40..100, y 30..90
    box = (40, 30, 60, 60)
    eyes = ((55, 50), (85, 50))
    tight = align_from_landmarks(image, *eyes, box, image_size=30, margin=0)
    assert tight.shape == (30, 30, 3)
    assert tight[1:-1, 1:-1].min() == 200
    wide = align_from_landmarks(image, *eyes, box, image_size=30, margin=0.25)
    # The box is 1 / (1 + 2 * 0.25) = 2/3 of the side: 20 of 30 pixels.
    bright_columns = (wide[15, :, 0] > 100).sum()
    assert bright_columns == pytest.approx(20, abs=1)
    assert wide[0, 0].max() == 0 and wide[15, 15].min() == 200


def test_align_rejects_bad_arguments():
    image = np.zeros((10, 10), np.uint8)
    with pytest.raises(ValueError, match="positive size"):
        align_from_landmarks(image, (2, 2), (6, 2), (0, 0, 0, 5), image_size=8)
    with pytest.raises(ValueError, match="margin must be >= 0"):
        align_from_landmarks(
            image, (2, 2), (6, 2), (0, 0, 9, 9), image_size=8, margin=-0.1
        )
    with pytest.raises(ValueError, match="image must be uint8"):
        align_from_landmarks(
            image.astype(float), (2, 2), (6, 2), (0, 0, 9, 9), image_size=8
        )


def test_missing_mtcnn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mtcnn", None)
    with pytest.raises(DataError, match="pip install mtcnn"):
        make_face_detector()
    with pytest.raises(DataError, match="pip install mtcnn"):
        detect_and_align(np.zeros((20, 20, 3), np.uint8), image_size=16)


@pytest.fixture(scope="module")
def detector():
    pytest.importorskip("mtcnn")
    return make_face_detector()


def test_no_face_is_a_status(detector):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
    result = detect_and_align(noise, image_size=32, detector=detector)
    assert result.status == "no_face"
    assert result.face is None and result.box is None
    assert (result.confidence, result.num_faces) == (0.0, 0)


def test_detects_and_aligns_a_real_face(detector):
    root = default_data_root()
    path = None if root is None else root / "att_faces" / "s1" / "1.pgm"
    if path is None or not path.is_file():
        pytest.skip("att_faces not in the shared data folder")
    photo = decode_image_file(path)[..., :1]
    result = detect_and_align(photo, image_size=48, detector=detector)
    assert result.status == "ok" and result.num_faces == 1
    assert result.confidence > 0.9
    assert result.face.shape == (48, 48, 1)
    x, y, w, h = result.box
    assert 0 <= x and x + w <= 92 + 1 and 0 <= y and y + h <= 112 + 1
    left, right = result.landmarks["left_eye"], result.landmarks["right_eye"]
    assert left[0] < right[0]
