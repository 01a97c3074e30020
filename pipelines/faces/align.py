"""Face detection and alignment for photos, before the embedding model.

Detection uses the `mtcnn` package (MIT; its weights ship in the wheel, so
it runs offline). It is an optional extra (`pip install mtcnn`) imported
only when a detector is made. Alignment is plain geometry and needs no
detector: `align_from_landmarks` rotates about the box centre so that the
eyes are level, crops a square around the box with a margin, and resizes.
Pixels outside the photo come out black.
"""

import dataclasses
import math

import numpy as np

from pipelines.errors import DataError

STATUSES = ("ok", "no_face", "multiple_faces")


@dataclasses.dataclass(frozen=True)
class AlignResult:
    """What `detect_and_align` found.

    Attributes:
        face: uint8 `(S, S, C)` aligned crop of the chosen face, or None.
        box: `(x, y, width, height)` of that face in the photo, pixels.
        confidence: the detector's score of that face (0 without one).
        status: `"ok"` (one face), `"no_face"`, or `"multiple_faces"` (the
            most confident one was taken).
        num_faces: faces found above `min_confidence`.
        landmarks: `{"left_eye": (x, y), "right_eye": ..., "nose": ...,
            "mouth_left": ..., "mouth_right": ...}` as the detector gives
            them (left means the left of the image), or None.
    """

    face: np.ndarray | None
    box: tuple[float, float, float, float] | None
    confidence: float
    status: str
    num_faces: int = 0
    landmarks: dict | None = None


def as_face_image(image) -> np.ndarray:
    """`image` as a uint8 `(H, W, C)` array with C 1 or 3, or ValueError
    naming what was expected (what face detection and alignment accept)."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if (
        image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[-1] not in (1, 3)
        or 0 in image.shape
    ):
        raise ValueError(
            "image must be uint8 (H, W), (H, W, 1) or (H, W, 3). Received: "
            f"dtype={image.dtype}, shape={image.shape}"
        )
    return image


def align_from_landmarks(
    image,
    left_eye,
    right_eye,
    box,
    *,
    image_size: int,
    margin: float = 0.2,
) -> np.ndarray:
    """Rotates a face upright by its eyes, crops it with a margin, resizes.

    The output square is centred on the box centre; its side covers
    `max(width, height) * (1 + 2 * margin)` photo pixels (the box grown by
    `margin` times its size on every side), turned by the eye angle so the
    eyes come out on one row.

    Args:
        image: uint8 `(H, W)`, `(H, W, 1)` or `(H, W, 3)`.
        left_eye: `(x, y)` of the eye on the image's left, pixels.
        right_eye: `(x, y)` of the other eye (the two may come in either
            order: they are sorted by `x`).
        box: `(x, y, width, height)` of the face, pixels.
        image_size: side S of the result.
        margin: fraction of the box size added on each side, `>= 0`.

    Returns:
        uint8 `(S, S, C)` with the channels of `image` (1 for `(H, W)`).

    Example:

    >>> face = align_from_landmarks(photo, (167, 127), (224, 128),
    ...                             (132, 66, 119, 159), image_size=112)
    """
    from PIL import Image

    image = as_face_image(image)
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(
            f"image_size must be a positive int. Received: {image_size=}"
        )
    if margin < 0:
        raise ValueError(f"margin must be >= 0. Received: {margin=}")
    x, y, width, height = (float(v) for v in box)
    if width <= 0 or height <= 0:
        raise ValueError(f"box must have a positive size. Received: {box=}")
    (lx, ly), (rx, ry) = sorted(
        [tuple(map(float, left_eye)), tuple(map(float, right_eye))]
    )
    angle = math.atan2(ry - ly, rx - lx)
    side = max(width, height) * (1.0 + 2.0 * margin)
    scale = side / image_size
    half = image_size / 2.0
    cx, cy = x + width / 2.0, y + height / 2.0
    # Output point o samples the photo at c + scale * R(angle) (o - half).
    a, b = scale * math.cos(angle), -scale * math.sin(angle)
    d, e = scale * math.sin(angle), scale * math.cos(angle)
    coefficients = (
        a,
        b,
        cx - (a + b) * half,
        d,
        e,
        cy - (d + e) * half,
    )
    channels = image.shape[-1]
    pil = Image.fromarray(image[..., 0] if channels == 1 else image)
    out = pil.transform(
        (image_size, image_size),
        Image.AFFINE,
        coefficients,
        resample=Image.BILINEAR,
        fillcolor=0,
    )
    return np.asarray(out, np.uint8).reshape(image_size, image_size, channels)


def make_face_detector():
    """An `mtcnn.MTCNN` detector (build once, reuse for every photo).

    Raises:
        DataError: mtcnn is not installed (says how to install it).
    """
    try:
        from mtcnn import MTCNN
    except ImportError:
        raise DataError(
            "face detection needs the mtcnn package: pip install mtcnn "
            "(or install dlsuite with the face-detect extra)"
        )
    return MTCNN()


def detect_and_align(
    image,
    *,
    image_size: int,
    margin: float = 0.2,
    detector=None,
    min_confidence: float = 0.9,
) -> AlignResult:
    """Finds the face in a photo and returns it aligned.

    Args:
        image: uint8 `(H, W)`, `(H, W, 1)` or `(H, W, 3)` (RGB).
        image_size: side S of the aligned face.
        margin: as `align_from_landmarks`.
        detector: from `make_face_detector` (made here when None, which
            costs a fraction of a second per call).
        min_confidence: detections below are ignored.

    Returns:
        An `AlignResult`; "no face" is a status, not an error.

    Raises:
        DataError: mtcnn is not installed.

    Example:

    >>> result = detect_and_align(photo, image_size=112)
    >>> result.status, result.face.shape
    ('ok', (112, 112, 3))
    """
    image = as_face_image(image)
    if detector is None:
        detector = make_face_detector()
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    found = [
        face
        for face in detector.detect_faces(rgb)
        if float(face["confidence"]) >= min_confidence
    ]
    if not found:
        return AlignResult(None, None, 0.0, "no_face", 0, None)
    found.sort(key=lambda face: -float(face["confidence"]))
    best = found[0]
    box = tuple(float(v) for v in best["box"])
    points = {
        name: (float(point[0]), float(point[1]))
        for name, point in best["keypoints"].items()
    }
    face = align_from_landmarks(
        image,
        points["left_eye"],
        points["right_eye"],
        box,
        image_size=image_size,
        margin=margin,
    )
    return AlignResult(
        face=face,
        box=box,
        confidence=float(best["confidence"]),
        status="ok" if len(found) == 1 else "multiple_faces",
        num_faces=len(found),
        landmarks=points,
    )
