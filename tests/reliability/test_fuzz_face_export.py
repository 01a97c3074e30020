"""Fuzzing the face model's SavedModel: every call answers or raises an
InvalidArgument-style error; the process never crashes or hangs.

The export is loaded the way a server loads it (`tf.saved_model.load`) and
each of its four signatures (`serving_default`, `embed`, `embed_uint8`,
`verify`) is sent random and malformed inputs.
"""

import io
import os
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import run_fuzz_script

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "apps" / "face" / "configs" / "tiny.yaml")

# The fuzz loop runs in a child process so that a crash (segfault, abort)
# shows up as a return code instead of killing the test runner.
FUZZ = r"""
import io, sys, numpy as np, tensorflow as tf
from PIL import Image
export_dir, n = sys.argv[1], int(sys.argv[2])
m = tf.saved_model.load(export_dir)
pixels_spec = m.signatures["embed_uint8"].structured_input_signature[1]
_, size, _, channels = pixels_spec["pixels"].shape
rng = np.random.default_rng(0)
expected = (tf.errors.InvalidArgumentError, ValueError, TypeError)
counts = {"answered": 0, "raised": 0, "random_answered": 0}

def png(h, w, mode="RGB", fmt="PNG"):
    b = io.BytesIO()
    color = 7 if mode in ("L", "P") else (200, 30, 60, 255)[: len(mode)]
    Image.new(mode, (w, h), color).save(b, format=fmt)
    return b.getvalue()

def check_embeddings(e, batch):
    e = e.numpy()
    assert e.shape[0] == batch and e.dtype == np.float32, e.shape
    assert np.isfinite(e).all()
    assert (np.linalg.norm(e, axis=-1) <= 1.0 + 1e-3).all()

def as_tensor(value):
    if isinstance(value, list):  # encoded images, possibly none
        return tf.constant(value, tf.string)
    return tf.constant(value)

def call(fn, check, random=False, **feeds):
    try:
        out = fn(**{k: as_tensor(v) for k, v in feeds.items()})
    except expected:
        counts["raised"] += 1
        return None
    check(out)
    counts["random_answered" if random else "answered"] += 1
    return out

good = png(40, 30)
cases = [
    [b""], [b"\x89PNG\r\n\x1a\n"], [good[: len(good) // 2]], [b"GIF89a"],
    [png(1, 1)], [png(1, 3000)], [png(3000, 1)], [png(50, 50, "L")],
    [png(50, 50, "RGBA")], [png(50, 50, "P")], [png(20, 20, fmt="GIF")],
    [png(20, 20, fmt="BMP")], [png(20, 20, fmt="JPEG")],
    [good, b"junk"], [good] * 3,
]
randoms = [[rng.bytes(int(rng.integers(0, 2000)))] for _ in range(n)]
for name in ("serving_default", "embed"):
    fn = m.signatures[name]
    todo = [(c, False) for c in cases] + [
        (r, True) for r in (randoms if name == "embed" else randoms[: n // 4])
    ]
    for images, random in todo:
        call(
            fn,
            lambda o, b=len(images): check_embeddings(o["embeddings"], b),
            random=random,
            images=images,
        )
    out = fn(images=tf.constant([], dtype=tf.string))
    check_embeddings(out["embeddings"], 0)

uint8 = m.signatures["embed_uint8"]
shape = (size, size, channels)
for pixels in [
    np.zeros((0, *shape), np.uint8),
    np.full((2, *shape), 255, np.uint8),
    rng.integers(0, 256, (3, *shape)).astype(np.uint8),
    np.zeros((1, size + 1, size, channels), np.uint8),
    np.zeros((1, size, size, channels + 1), np.uint8),
    np.zeros((1, size, size), np.uint8),
    np.zeros((1, *shape, 1), np.uint8),
    np.zeros((1, *shape), np.int32),
    np.full((1, *shape), np.nan, np.float32),
    "text",
]:
    call(
        uint8,
        lambda o, b=len(pixels): check_embeddings(o["embeddings"], b),
        pixels=pixels,
    )

verify = m.signatures["verify"]

def check_verify(o, batch):
    for key in ("distance", "cosine", "same"):
        assert o[key].shape == (batch,), (key, o[key].shape)
    d = o["distance"].numpy()
    assert np.isfinite(d).all() and (d >= 0).all() and (d <= 4 + 1e-3).all()

same = call(verify, lambda o: check_verify(o, 1), image1=[good], image2=[good])
assert same is not None and float(same["distance"][0]) < 1e-6
assert bool(same["same"][0])
pairs = [
    ([good], [good, good], False),
    ([], [], False),
    ([b"junk"], [good], False),
    ([good], [b""], False),
    ([png(1, 1), png(60, 10, "L")], [png(3000, 1), good], False),
] + [(r, [good], True) for r in randoms[: n // 10]]
for first, second, random in pairs:
    call(
        verify,
        lambda o, b=len(first): check_verify(o, b),
        random=random,
        image1=first,
        image2=second,
    )
print(" ".join(f"{k}={v}" for k, v in counts.items()))
"""


@pytest.fixture(scope="module")
def face_export(tiny_runs):
    """The session's tiny face run's export, read only."""
    return tiny_runs.exported("face") / "export" / "1"


def test_thousands_of_malformed_inputs_never_crash(face_export, tmp_path):
    n = int(os.environ.get("DLSUITE_FUZZ_CASES", "2000"))
    counts = run_fuzz_script(FUZZ, face_export, n, tmp_path)
    randoms = n + n // 4 + n // 10
    calls = 2 * 15 + 10 + 6 + randoms  # images, pixels, pairs, random
    assert sum(counts.values()) == calls
    # Answered: the 10 decodable image batches of each bytes signature
    # (1x1, 1x3000, grey, RGBA, palette, GIF, BMP, JPEG ...), 3 pixel
    # batches (the empty one too), 3 pairs (same image, empty, mixed sizes).
    assert counts["answered"] == 2 * 10 + 3 + 3
    # Random bytes are rejected, not "embedded".
    assert counts["random_answered"] <= 0.1 * randoms


def test_huge_image_is_answered(face_export):
    """A 10,000 x 10,000 px PNG is decoded, cropped, resized and embedded
    like the same colour at 100 x 100 px."""
    import tensorflow as tf
    from PIL import Image

    encoded = []
    for side in (10_000, 100):
        buffer = io.BytesIO()
        Image.new("RGB", (side, side), (200, 120, 40)).save(buffer, "PNG")
        encoded.append(buffer.getvalue())
    model = tf.saved_model.load(str(face_export))
    out = model.signatures["embed"](images=tf.constant(encoded))
    huge, small = out["embeddings"].numpy()
    assert np.isfinite(huge).all()
    np.testing.assert_allclose(np.linalg.norm(huge), 1.0, atol=1e-4)
    np.testing.assert_allclose(huge, small, atol=1e-5)
