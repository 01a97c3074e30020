"""The detector as ONNX (tf2onnx), checked in onnxruntime.

Converted from the raw signature of `apps.detect.raw` (pre-NMS boxes and
scores), then loaded in onnxruntime and compared with the Keras model
(`apps.detect.parity`, `ONNX_TOLERANCE`) before it is renamed into place.
tf2onnx and onnxruntime are optional: `pip install 'dlsuite[onnx]'`.
"""

import os
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.common import runs
from apps.common.config import ConfigError
from apps.detect.parity import PARITY_IMAGES
from apps.detect.parity import compare_outputs
from apps.detect.parity import enforce
from apps.detect.parity import reference_outputs
from apps.detect.raw import check_pixels
from apps.detect.raw import default_path
from apps.detect.raw import load_raw_model
from apps.detect.raw import median_ms
from apps.detect.raw import timing_pixels
from apps.detect.raw import write_raw_saved_model

DEFAULT_OPSET = 17


def _onnx_modules():
    missing = []
    modules = []
    for name in ("tf2onnx", "onnxruntime"):
        try:
            modules.append(__import__(name))
        except ImportError:
            missing.append(name)
    if missing:
        raise ConfigError(
            "export --format onnx needs tf2onnx and onnxruntime: pip install "
            f"'dlsuite[onnx]' (missing: {', '.join(missing)})"
        )
    return modules


def load_onnx(path: Path, *, num_threads: int | None = None):
    """An onnxruntime CPU session; raises RuntimeError if it rejects the
    file (tf2onnx reports success even for files it cannot run)."""
    _, ort = _onnx_modules()
    options = ort.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = num_threads
    try:
        return ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # noqa: BLE001 - onnxruntime's own errors
        raise RuntimeError(f"{path}: onnxruntime rejects the file: {err}")


def run_onnx(session, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`run_tflite` for a session of `load_onnx` (or a `.onnx` path)."""
    if isinstance(session, str | os.PathLike):
        session = load_onnx(session)
    size = int(session.get_inputs()[0].shape[1])
    pixels = check_pixels(pixels, size, "pixels")
    names = [o.name for o in session.get_outputs()]
    if sorted(names) != ["boxes", "scores"]:
        raise RuntimeError(f"unexpected ONNX outputs {names}")
    outs = [
        dict(zip(names, session.run(names, {"pixels": image[None]})))
        for image in pixels
    ]
    return (
        np.concatenate([o["boxes"] for o in outs]),
        np.concatenate([o["scores"] for o in outs]),
    )


def check_onnx_parity(
    run_dir: Path, onnx_path: Path, *, num_images: int = PARITY_IMAGES
) -> dict:
    """`check_tflite_parity` for an `.onnx` file (tolerance
    `ONNX_TOLERANCE` on raw boxes and scores)."""
    cfg, model = load_raw_model(run_dir)
    return _onnx_parity(cfg, model, Path(onnx_path), num_images)


def _onnx_parity(cfg, model, path: Path, num_images: int) -> dict:
    pixels, want = reference_outputs(cfg, model, num_images)
    boxes, scores = run_onnx(load_onnx(path), pixels)
    numbers = compare_outputs(
        cfg, want, {"boxes": boxes, "scores": scores}, "onnx"
    )
    numbers["runtime"] = "onnxruntime"
    return enforce(numbers, path)


def to_onnx(
    run_dir: Path,
    out_path: Path | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
) -> dict:
    """Converts the raw signature to ONNX with tf2onnx, then loads it in
    onnxruntime and checks parity before renaming it into place.

    Args:
        run_dir: the run folder.
        out_path: defaults to `<run>/export/<latest version>/model.onnx`.
        opset: ONNX opset (tf2onnx 1.17 supports up to 18).
        check: run `check_onnx_parity` first; failure leaves no file.

    Returns:
        A dict: `path`, `opset`, `size_bytes`, `parity`.

    Raises:
        RuntimeError: tf2onnx or onnxruntime missing, the file rejected by
            onnxruntime, or outputs beyond `ONNX_TOLERANCE`.
    """
    tf2onnx, _ = _onnx_modules()
    cfg, model = load_raw_model(run_dir)
    size = cfg.data.image_size
    out_path = Path(out_path or default_path(run_dir, "model.onnx"))

    def write(tmp: Path) -> None:
        with tempfile.TemporaryDirectory() as folder:
            write_raw_saved_model(model, Path(folder), image_size=size)
            # Keep `loaded` referenced: its signature needs its variables.
            loaded = tf.saved_model.load(folder)
            signature = loaded.signatures["serving_default"]
            spec = tf.TensorSpec((1, size, size, 3), tf.float32, "pixels")
            try:
                tf2onnx.convert.from_function(
                    tf.function(lambda pixels: signature(pixels=pixels)),
                    input_signature=[spec],
                    opset=opset,
                    output_path=str(tmp),
                )
            except Exception as err:  # noqa: BLE001 - tf2onnx's own errors
                raise RuntimeError(f"tf2onnx failed (opset {opset}): {err}")

    def verify(tmp: Path) -> dict:
        return _onnx_parity(cfg, model, tmp, PARITY_IMAGES)

    parity = runs.atomic_write(out_path, write, verify if check else None)
    return {
        "path": str(out_path),
        "opset": opset,
        "size_bytes": out_path.stat().st_size,
        "parity": parity,
    }


def time_onnx(
    path: Path,
    image_size: int,
    repeat: int = 50,
    *,
    num_threads: int = 1,
    warmup: int = 5,
) -> float:
    """`time_tflite` for an `.onnx` file in onnxruntime."""
    session = load_onnx(path, num_threads=num_threads)
    pixels = timing_pixels(image_size)
    size = int(session.get_inputs()[0].shape[1])
    pixels = check_pixels(pixels, size, "pixels")
    return median_ms(
        lambda: session.run(None, {"pixels": pixels}), repeat, warmup
    )
