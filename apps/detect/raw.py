"""The detector's raw signature: what TFLite and ONNX conversion start from.

What is converted is the *raw* fixed-size signature, not the SavedModel of
`export`: converting a variable-size export fails, and the NMS built into
TFLite ignored the score threshold (NOTES.md). The raw signature maps
`pixels: float32 (1, S, S, 3)` in [0, 255] to the decoded boxes and scores
BEFORE NMS:
- `boxes`: `(1, G*G*k, 4)` normalized xyxy,
- `scores`: `(1, G*G*k, p)` per-class scores `pc * p(class | object)`.

NMS runs outside the converted file: a server applies
`layers.boxes.nms.non_max_suppression` (see `tflite.tflite_detections`) or
its own class-aware NMS with the run's `detection` thresholds: drop boxes
whose best class score is below `score_threshold`, then per class suppress
boxes whose IoU with a kept box is at least `iou_threshold`.

Also here: the pixels the converted files are fed (checked, synthetic, or
random for timing) and the latency timer both formats share.
"""

import statistics
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from apps.common import config as config_lib
from apps.common import runs
from apps.detect.config import DetectConfig
from apps.detect.data import class_names
from apps.detect.model import decoder
from pipelines.synthetic.shapes import make_shapes_arrays


def load_raw_model(run_dir: Path) -> tuple[DetectConfig, keras.Model]:
    """The run's config and its pre-NMS model.

    Returns:
        `(cfg, model)`: `model` maps `(batch, S, S, 3)` pixels in [0, 255]
        to the dict `boxes` `(batch, G*G*k, 4)` normalized xyxy and
        `scores` `(batch, G*G*k, p)`.
    """
    run_dir = runs.existing_run(run_dir)
    cfg = config_lib.resolve(
        DetectConfig, config_file=run_dir / runs.CONFIG_FILE
    )
    detector = keras.saving.load_model(
        run_dir / runs.MODEL_FILE, compile=False, safe_mode=True
    )
    decode = decoder(
        cfg.model.head,
        anchors=cfg.model.anchors,
        num_classes=len(class_names(cfg.data)),
        image_size=cfg.data.image_size,
    )
    boxes, scores = decode(detector.output)
    model = keras.Model(
        detector.input, {"boxes": boxes, "scores": scores}, name="yolo_raw"
    )
    return cfg, model


def write_raw_saved_model(
    model: keras.Model, path: Path, *, image_size: int
) -> None:
    """Writes the fixed-size (batch 1) raw signature as `serving_default`:
    `pixels` `(1, S, S, 3)` float32 -> `boxes`, `scores`."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        lambda pixels: model(pixels, training=False),
        input_signature=[
            tf.TensorSpec(
                (1, image_size, image_size, 3), tf.float32, name="pixels"
            )
        ],
    )
    archive.write_out(str(path), verbose=False)


def default_path(run_dir: Path, filename: str) -> Path:
    """`filename` in the run's latest `export/<version>/`.

    Raises:
        RunError: when the run has no export yet.
    """
    root = Path(run_dir) / "export"
    versions = [int(p.name) for p in root.glob("*") if p.name.isdigit()]
    if not versions:
        raise runs.RunError(
            f"{run_dir}: no export/<version>/ yet; run `export` first or "
            "pass an output path"
        )
    return root / str(max(versions)) / filename


def synthetic_pixels(cfg: DetectConfig, count: int, offset: int) -> np.ndarray:
    """`count` synthetic shapes images `(count, S, S, 3)` float32 at the
    run's size, seeded by `cfg.data.seed` and `offset` (keep `offset`
    apart from the training splits' +0..+2)."""
    seed = cfg.data.seed * 1000 + offset
    images = make_shapes_arrays(count, cfg.data.image_size, seed=seed)
    return images["images"].astype(np.float32)


def check_pixels(pixels, image_size: int, name: str) -> np.ndarray:
    """`pixels` as float32 `(N, S, S, 3)` (a single `(S, S, 3)` image gets
    a batch axis); raises ValueError naming `name` on any other shape."""
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim == 3:
        pixels = pixels[None]
    if pixels.shape[1:] != (image_size, image_size, 3) or not len(pixels):
        raise ValueError(
            f"Expected {name} of shape (N, {image_size}, {image_size}, 3). "
            f"Received: {name}.shape={pixels.shape}"
        )
    return pixels


def median_ms(call, repeat: int, warmup: int) -> float:
    """Median milliseconds of `call()` over `repeat` calls, after
    `warmup` calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def timing_pixels(image_size: int) -> np.ndarray:
    """One random image for latency timing (content does not matter)."""
    return np.random.default_rng(0).uniform(
        0, 255, (1, image_size, image_size, 3)
    )
