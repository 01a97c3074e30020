"""Reading image files: PIL for user files, `tf.io` for graphs.

`decode_image_file` is for files a user points an app at: it always gives
RGB uint8 and turns every failure into one clear `ImageReadError` line.
`tf_decode_image` is the graph version used inside `tf.data` pipelines and
exported serving signatures.
"""

import io
from pathlib import Path

import numpy as np
import tensorflow as tf

from pipelines.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


class ImageReadError(DataError):
    """Raised when a file cannot be read as an image.

    Its message is one line: `"<path>: not a readable image (<reason>)"`.

    Args:
        path: the offending path.
        reason: a short description of what went wrong.
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path}: not a readable image ({self.reason})")


def _to_uint8_rgb(image):
    """Converts any PIL image mode to an RGB uint8 array (alpha dropped)."""
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image, dtype=np.uint8)
    if mode.startswith("I") or mode == "F":
        # 16/32-bit integer or float greyscale: scale to 8 bits rather than
        # letting PIL clip everything above 255 to white.
        values = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and values.max() > 255):
            values = values / 257.0
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if mode == "P":
        # Palette (with or without transparency): through RGBA so that PIL
        # does not warn about transparency, then drop alpha.
        image = image.convert("RGBA")
    # L, 1, LA, RGBA, RGBa, CMYK, YCbCr, LAB, HSV, ...: PIL knows the way.
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def decode_image_file(
    path: str | Path, *, exif_transpose: bool = True
) -> np.ndarray:
    """Reads an image file into an RGB uint8 array.

    Greyscale, palette, CMYK, 16-bit and alpha images are converted to RGB
    (alpha is dropped, as `tf.io.decode_image(..., channels=3)` does).
    Animated files give their first frame.

    Args:
        path: the file to read.
        exif_transpose: rotate/flip by the EXIF orientation tag, so the
            array looks the way image viewers show the photo.

    Returns:
        uint8 array `(H, W, 3)`.

    Raises:
        ImageReadError: the file is missing, empty, truncated, corrupt or not
            an image. Its message names the path.

    Example:

    >>> image = decode_image_file("photo.jpg")
    >>> image.shape[-1], image.dtype
    (3, dtype('uint8'))
    """
    from PIL import Image
    from PIL import ImageOps
    from PIL import UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise ImageReadError(path, "no such file")
    if path.is_dir():
        raise ImageReadError(path, "is a directory")
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(path, "empty file")
        with Image.open(path) as image:
            image.load()
            if exif_transpose:
                image = ImageOps.exif_transpose(image)
            array = _to_uint8_rgb(image)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(path, "unknown or unsupported format") from None
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except Image.DecompressionBombError as error:
        raise ImageReadError(path, f"too large: {error}") from None
    except Exception as error:
        # Decoders of corrupt files raise many types (OSError, SyntaxError,
        # ValueError, struct.error, zlib.error, ...): all mean the same here.
        detail = str(error) or type(error).__name__
        raise ImageReadError(path, f"truncated or corrupt: {detail}") from None
    if array.ndim != 3 or array.shape[-1] != 3 or 0 in array.shape:
        raise ImageReadError(path, f"unexpected decoded shape {array.shape}")
    return array


def list_images(folder: str | Path) -> list[Path]:
    """Lists the image files in a folder, sorted by path.

    Files are picked by extension (`.jpg .jpeg .png .bmp .gif .webp`, any
    case); sub-folders are not searched and hidden files (names starting with
    `.`, such as macOS `._x.jpg` companions) are skipped. A path to a single
    image file gives a one-element list, so apps can accept either.

    Args:
        folder: a folder, or one image file.

    Returns:
        Sorted list of `Path`s (possibly empty).

    Raises:
        FileNotFoundError: `folder` does not exist.
        DataError: `folder` is a file without an image extension.

    Example:

    >>> paths = list_images("photos/")
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such file or folder")
    if folder.is_file():
        if folder.suffix.lower() in IMAGE_EXTENSIONS:
            return [folder]
        raise DataError(
            f"{folder}: not an image file (expected one of "
            f"{' '.join(IMAGE_EXTENSIONS)})"
        )
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and path.suffix.lower() in IMAGE_EXTENSIONS
    )


def tf_decode_image(bytes_tensor, channels: int = 3) -> tf.Tensor:
    """Decodes encoded image bytes inside a graph.

    Wraps `tf.io.decode_image(..., expand_animations=False)`, so GIFs give
    their first frame and the result always has rank 3. BMP, GIF, JPEG, PNG
    and WebP are supported.

    Args:
        bytes_tensor: scalar string tensor holding an encoded image.
        channels: number of output channels (3 converts greyscale to RGB and
            drops alpha).

    Returns:
        uint8 tensor `(H, W, channels)`.

    Example:

    >>> image = tf_decode_image(tf.io.read_file("photo.jpg"))
    """
    image = tf.io.decode_image(
        bytes_tensor,
        channels=channels,
        dtype=tf.uint8,
        expand_animations=False,
    )
    image.set_shape([None, None, channels])
    return image


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 RGB image (lossless, so decoders agree)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()
