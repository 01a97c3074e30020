"""The images of style transfer: defaults, resizing, PNGs, the picture.

Defaults, in order: the shared data (`$DLSUITE_DATA/style_transfer`, see
its README: public-domain paintings and PD/CC0 photos); without it,
matplotlib's sample `grace_hopper.jpg` as content and a painting-like
pattern generated from a seed as style, so the demo runs offline on any
machine with this project's dependencies.
"""

from pathlib import Path

import numpy as np

from apps.common.plots import pyplot
from apps.style.config import ImagesConfig
from pipelines.datasets.spec import default_data_root
from pipelines.datasets.spec import expand_data_path
from pipelines.errors import DataError
from pipelines.images import decode_image_file
from pipelines.images import encode_png

SHARED_CONTENT = "style_transfer/content/astronaut.png"
SHARED_STYLE = "style_transfer/style/starry_night.jpg"
GENERATED_STYLE = "generated:swirls"


def _shared(relative: str) -> Path | None:
    root = default_data_root()
    if root is None:
        return None
    path = Path(root) / relative
    return path if path.is_file() else None


def matplotlib_sample(name: str) -> Path:
    """A sample image that matplotlib ships (`mpl-data/sample_data`)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / name


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    pil = Image.fromarray(image).resize((width, height), Image.LANCZOS)
    return np.asarray(pil, dtype=np.uint8)


def fit_longer_side(image: np.ndarray, size: int) -> np.ndarray:
    """Resizes so that the longer side is `size` pixels."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    return _resize(image, max(1, round(h * scale)), max(1, round(w * scale)))


def cover_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resizes to cover `height x width`, then crops the centre."""
    h, w = image.shape[:2]
    scale = max(height / h, width / w)
    resized = _resize(
        image, max(height, round(h * scale)), max(width, round(w * scale))
    )
    top = (resized.shape[0] - height) // 2
    left = (resized.shape[1] - width) // 2
    return resized[top : top + height, left : left + width]


def swirl_painting(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A painting-like pattern: banded swirls in a night-sky palette.

    Returns:
        uint8 `(height, width, 3)`.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    field = np.zeros_like(x)
    for _ in range(3):
        cx, cy = rng.uniform(0.1, 0.9, 2)
        r = np.hypot(x - cx, y - cy)
        theta = np.arctan2(y - cy, x - cx)
        field += np.sin(rng.uniform(25, 40) * r + 4 * theta) * np.exp(-2 * r)
    # Fine strokes that follow the swirls, and a little grain.
    field += 0.25 * np.sin(90 * (x + 0.5 * field))
    field += 0.1 * rng.normal(size=field.shape)
    palette = np.array(
        [
            [18, 32, 82],
            [34, 70, 150],
            [80, 130, 200],
            [230, 200, 70],
            [250, 240, 170],
            [20, 60, 60],
        ],
        dtype=np.float64,
    )
    t = (field - field.min()) / (np.ptp(field) + 1e-9) * (len(palette) - 1)
    low = np.floor(t).astype(int)
    high = np.minimum(low + 1, len(palette) - 1)
    frac = (t - low)[..., None]
    image = palette[low] * (1 - frac) + palette[high] * frac
    return np.clip(image, 0, 255).astype(np.uint8)


def _read(path: str, where: str) -> tuple[np.ndarray, str]:
    expanded = expand_data_path(path, where)
    try:
        return decode_image_file(expanded), expanded
    except DataError as err:
        raise DataError(f"{where}: {err}")


def load_content(cfg: ImagesConfig) -> tuple[np.ndarray, str]:
    """The content image as float32 in [0, 1], longer side `cfg.size`.

    Returns:
        `(image (H, W, 3), where it came from)`.
    """
    if cfg.content:
        image, name = _read(cfg.content, "images.content")
    else:
        path = _shared(SHARED_CONTENT) or matplotlib_sample("grace_hopper.jpg")
        image, name = decode_image_file(path), str(path)
    image = fit_longer_side(image, cfg.size)
    return image.astype(np.float32) / 255.0, name


def load_style(
    cfg: ImagesConfig, height: int, width: int
) -> tuple[np.ndarray, str]:
    """The style image as float32 in [0, 1], covering `height x width`.

    Returns:
        `(image (height, width, 3), where it came from)`.
    """
    if cfg.style:
        image, name = _read(cfg.style, "images.style")
    else:
        path = _shared(SHARED_STYLE)
        if path is None:
            image = swirl_painting(height, width, cfg.seed)
            name = GENERATED_STYLE
        else:
            image, name = decode_image_file(path), str(path)
    image = cover_crop(image, height, width)
    return image.astype(np.float32) / 255.0, name


def load_result(path: Path) -> np.ndarray:
    """A PNG written by `save_png`, back as float32 in [0, 1]."""
    return decode_image_file(path).astype(np.float32) / 255.0


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8."""
    return np.clip(np.rint(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)


def save_png(image: np.ndarray, path: Path) -> Path:
    """Writes a [0, 1] float image as PNG, atomically."""
    from apps.common.runs import atomic_write

    data = encode_png(to_uint8(image))
    atomic_write(Path(path), lambda tmp: tmp.write_bytes(data))
    return Path(path)


def side_by_side(images, titles, out_png: Path) -> Path:
    """content | style | result in one picture."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(images), figsize=(4 * len(images), 4.3))
    for ax, image, title in zip(axes, images, titles):
        ax.imshow(to_uint8(image))
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


def colour_distance(image: np.ndarray, reference: np.ndarray) -> float:
    """How far an image's colours are from a reference's, independent of
    any network: the mean absolute difference of the per-channel means
    and standard deviations, in [0, 1] units."""
    a = np.asarray(image, np.float64).reshape(-1, 3)
    b = np.asarray(reference, np.float64).reshape(-1, 3)
    return float(
        np.mean(np.abs(a.mean(0) - b.mean(0)))
        + np.mean(np.abs(a.std(0) - b.std(0)))
    )
