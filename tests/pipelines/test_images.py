"""Tests for image file reading and listing."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pipelines.images import ImageReadError
from pipelines.images import decode_image_file
from pipelines.images import list_images
from pipelines.images import tf_decode_image


def _pattern(height=12, width=16):
    """Two flat colour halves: survives JPEG well enough to check."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (200, 40, 60)
    image[:, width // 2 :] = (30, 170, 90)
    return image


def _check_rgb(image, shape=(12, 16, 3)):
    assert isinstance(image, np.ndarray)
    assert image.dtype == np.uint8 and image.shape == shape


def test_png_round_trips_exactly(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(_pattern()).save(path)
    image = decode_image_file(path)
    _check_rgb(image)
    np.testing.assert_array_equal(image, _pattern())


@pytest.mark.parametrize("mode", ["RGB", "CMYK"])
def test_jpeg_decodes_to_rgb(tmp_path, mode):
    path = tmp_path / f"a_{mode}.jpg"
    Image.fromarray(_pattern()).convert(mode).save(path, quality=95)
    image = decode_image_file(path)
    _check_rgb(image)
    # Centres of the two halves, away from JPEG ringing at the seam.
    np.testing.assert_allclose(image[6, 3], (200, 40, 60), atol=8)
    np.testing.assert_allclose(image[6, 12], (30, 170, 90), atol=8)


def test_greyscale_and_16_bit_become_grey_rgb(tmp_path):
    grey = np.tile(np.arange(0, 240, 15, dtype=np.uint8), (12, 1))
    Image.fromarray(grey, mode="L").save(tmp_path / "g.png")
    image = decode_image_file(tmp_path / "g.png")
    _check_rgb(image)
    np.testing.assert_array_equal(image, np.repeat(grey[..., None], 3, -1))
    deep = Image.fromarray(grey.astype(np.uint16) * 257)
    deep.save(tmp_path / "g16.png")
    image = decode_image_file(tmp_path / "g16.png")
    _check_rgb(image)
    np.testing.assert_array_equal(image[..., 0], grey)


def test_alpha_and_palette_drop_to_rgb(tmp_path):
    rgba = np.concatenate([_pattern(), np.full((12, 16, 1), 90, np.uint8)], -1)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    image = decode_image_file(tmp_path / "a.png")
    _check_rgb(image)
    np.testing.assert_array_equal(image, _pattern())
    palette = Image.fromarray(_pattern()).quantize(colors=4)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.gif")
    image = decode_image_file(tmp_path / "p.gif")
    _check_rgb(image)
    np.testing.assert_array_equal(image, _pattern())


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.png", b"", "empty file"),
        ("noise.jpg", bytes(range(256)) * 4, "unknown or unsupported"),
        ("text.png", b"hello, not an image\n", "unknown or unsupported"),
    ],
)
def test_bad_bytes_raise_one_line_error(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageReadError) as info:
        decode_image_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a readable image (")
    assert reason in message and "\n" not in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_raises(tmp_path, fmt):
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / f"cut.{fmt.lower()}"
    Image.fromarray(noisy).save(path, fmt)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageReadError, match="truncated or corrupt") as info:
        decode_image_file(path)
    assert str(path) in str(info.value)


def test_missing_path_and_folder_raise(tmp_path):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(ImageReadError, match="no such file") as info:
        decode_image_file(missing)
    assert str(info.value) == f"{missing}: not a readable image (no such file)"
    with pytest.raises(ImageReadError, match="is a directory"):
        decode_image_file(tmp_path)


def test_list_images_filters_and_sorts(tmp_path):
    for name in ["b.PNG", "a.jpg", "c.JPEG", "d.webp", "e.gif", "f.bmp"]:
        (tmp_path / name).write_bytes(b"x")
    for name in ["notes.txt", ".hidden.jpg", "g.tiff"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.jpg").mkdir()
    (tmp_path / "sub.jpg" / "h.jpg").write_bytes(b"x")
    names = [p.name for p in list_images(tmp_path)]
    assert names == ["a.jpg", "b.PNG", "c.JPEG", "d.webp", "e.gif", "f.bmp"]
    assert list_images(tmp_path / "a.jpg") == [tmp_path / "a.jpg"]
    assert list_images(tmp_path / "sub.jpg") == [tmp_path / "sub.jpg" / "h.jpg"]
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "missing")
    with pytest.raises(ValueError, match="not an image file"):
        list_images(tmp_path / "notes.txt")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_tf_decode_matches_file_decode(tmp_path, fmt):
    path = tmp_path / f"a.{fmt.lower()}"
    Image.fromarray(_pattern()).convert("RGBA" if fmt == "PNG" else "RGB").save(
        path, fmt
    )
    decode = tf.function(tf_decode_image)
    image = decode(tf.io.read_file(str(path)))
    assert image.dtype == tf.uint8 and image.shape == (12, 16, 3)
    np.testing.assert_allclose(
        image.numpy(), decode_image_file(path), atol=2 if fmt == "JPEG" else 0
    )


def test_tf_decode_greyscale_gives_three_channels():
    grey = tf.zeros((5, 7, 1), tf.uint8) + 100
    image = tf_decode_image(tf.io.encode_png(grey))
    assert image.shape == (5, 7, 3)
    assert int(tf.reduce_min(image)) == int(tf.reduce_max(image)) == 100
