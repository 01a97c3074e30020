"""The detector as TFLite: float32, float16 and int8, with checks.

Converted from the raw signature of `apps.detect.raw` (pre-NMS boxes and
scores; `tflite_detections` applies our NMS after it).

int8 is full-integer quantization (weights and activations, int8 kernels
only), calibrated on a representative set; the input and the outputs stay
float32, so callers feed the same pixels and read the same boxes as with
the float files.

Every file is checked against the Keras model on held-out synthetic images
before it is renamed into place (`check_tflite_parity`, with the
tolerances of `apps.detect.parity`), so a failed conversion or check
leaves nothing behind.
"""

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.common import runs
from apps.detect.parity import PARITY_IMAGES
from apps.detect.parity import compare_outputs
from apps.detect.parity import enforce
from apps.detect.parity import reference_outputs
from apps.detect.raw import check_pixels
from apps.detect.raw import default_path
from apps.detect.raw import load_raw_model
from apps.detect.raw import median_ms
from apps.detect.raw import synthetic_pixels
from apps.detect.raw import timing_pixels
from apps.detect.raw import write_raw_saved_model
from layers.boxes.nms import non_max_suppression

QUANTIZATIONS = ("float32", "float16", "int8")
REPRESENTATIVE_IMAGES = 64
# Seed offset of the calibration images, apart from the training splits'
# (+0..+2) and the parity images'.
_REPRESENTATIVE_SEED = 6


def convert_saved_model(
    saved_model: Path, quantization: str, representative
) -> bytes:
    """The `.tflite` bytes of a raw SavedModel (`raw.write_raw_saved_model`).

    Args:
        saved_model: the SavedModel folder.
        quantization: one of `QUANTIZATIONS`.
        representative: int8 calibration pixels `(N, S, S, 3)`; unused for
            the float quantizations.
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [image[None]] for image in representative
        )
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8
        ]
        # Float32 in and out (the defaults), int8 inside.
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
        # TF 2.21's MLIR quantizer gives the head's output the scale of a
        # box-offset slice taken from it in the decoding (range about
        # +-0.8), which saturates the objectness and class logits: scores
        # off by 0.11 on average on the demo model. The previous quantizer
        # calibrates each tensor on its own: 0.007. If this flag goes away,
        # the parity check fails loudly rather than ship such a file.
        converter.experimental_new_quantizer = False
    return converter.convert()


def _check_quantization(quantization: str) -> None:
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"Expected quantization in {QUANTIZATIONS}. "
            f"Received: quantization={quantization!r}"
        )


def to_tflite(
    run_dir: Path,
    out_path: Path | None = None,
    *,
    quantization: str = "float32",
    representative: np.ndarray | None = None,
    check: bool = True,
) -> dict:
    """Converts a run's raw signature (`apps.detect.raw`) to TFLite.

    Args:
        run_dir: the run folder.
        out_path: the `.tflite` file; defaults to
            `<run>/export/<latest version>/model_<quantization>.tflite`.
        quantization: `"float32"`, `"float16"` (float16 weights, float32
            compute) or `"int8"` (full-integer, float32 input and outputs).
        representative: int8 calibration pixels `(N, S, S, 3)` in [0, 255];
            defaults to 64 synthetic shapes images at the run's size (pass
            real training images for a run trained on a manifest).
        check: run `check_tflite_parity` before the file is renamed into
            place; a failed check raises and leaves no file.

    Returns:
        A dict: `path`, `quantization`, `size_bytes` and `parity` (the
        numbers of `check_tflite_parity`, None without a check).
    """
    _check_quantization(quantization)
    cfg, model = load_raw_model(run_dir)
    size = cfg.data.image_size
    if quantization == "int8":
        if representative is None:
            representative = synthetic_pixels(
                cfg, REPRESENTATIVE_IMAGES, _REPRESENTATIVE_SEED
            )
        representative = check_pixels(representative, size, "representative")
    out_path = Path(
        out_path or default_path(run_dir, f"model_{quantization}.tflite")
    )

    def write(tmp: Path) -> None:
        with tempfile.TemporaryDirectory() as folder:
            saved_model = Path(folder) / "raw"
            write_raw_saved_model(model, saved_model, image_size=size)
            tmp.write_bytes(
                convert_saved_model(saved_model, quantization, representative)
            )

    def verify(tmp: Path) -> dict:
        return _parity(cfg, model, tmp, quantization, PARITY_IMAGES)

    parity = runs.atomic_write(out_path, write, verify if check else None)
    return {
        "path": str(out_path),
        "quantization": quantization,
        "size_bytes": out_path.stat().st_size,
        "parity": parity,
    }


def tflite_runtime() -> str:
    """`"ai_edge_litert"` where that package imports, else `"tf.lite"`
    (deprecated in TF 2.21 but still working)."""
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return "tf.lite"
    return "ai_edge_litert"


def load_tflite(path: Path, *, num_threads: int | None = None):
    """The `serving_default` signature runner of a `.tflite` file, from
    `ai_edge_litert` when installed, else `tf.lite.Interpreter`."""
    if tflite_runtime() == "ai_edge_litert":
        from ai_edge_litert.interpreter import Interpreter
    else:
        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
    return interpreter.get_signature_runner("serving_default")


def _runner_size(runner) -> int:
    return int(runner.get_input_details()["pixels"]["shape"][1])


def run_tflite(
    path, pixels: np.ndarray, *, num_threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Runs a converted file on pixels, one image at a time (batch 1).

    Args:
        path: a `.tflite` file, or a runner from `load_tflite`.
        pixels: `(N, S, S, 3)` or `(S, S, 3)` pixels in [0, 255].
        num_threads: interpreter threads (default: the runtime's).

    Returns:
        `(boxes, scores)`: `(N, G*G*k, 4)` normalized xyxy boxes and
        `(N, G*G*k, p)` scores, before NMS.
    """
    runner = path
    if isinstance(path, str | os.PathLike):
        runner = load_tflite(path, num_threads=num_threads)
    pixels = check_pixels(pixels, _runner_size(runner), "pixels")
    outs = [runner(pixels=image[None]) for image in pixels]
    return (
        np.concatenate([o["boxes"] for o in outs]),
        np.concatenate([o["scores"] for o in outs]),
    )


def tflite_detections(
    path,
    pixels: np.ndarray,
    *,
    score_threshold: float = 0.6,
    iou_threshold: float = 0.5,
    max_detections: int = 100,
    num_threads: int | None = None,
) -> dict[str, np.ndarray]:
    """Final detections of a `.tflite` file: `run_tflite`, then our NMS
    (pass the run's `detection` thresholds).

    Returns:
        A dict like `export`'s `detect_float`: `boxes`
        `(N, max_detections, 4)` normalized xyxy, `scores`, `classes`
        (int32, -1 padded) and `num_detections`.
    """
    boxes, scores = run_tflite(path, pixels, num_threads=num_threads)
    out = non_max_suppression(
        boxes,
        scores,
        score_threshold=score_threshold,
        iou_threshold=iou_threshold,
        max_detections=max_detections,
    )
    return {k: v.numpy() for k, v in out.items()}


def _parity(cfg, model, path, quantization: str, num_images: int) -> dict:
    pixels, want = reference_outputs(cfg, model, num_images)
    boxes, scores = run_tflite(path, pixels)
    got = {"boxes": boxes, "scores": scores}
    numbers = compare_outputs(cfg, want, got, quantization)
    numbers["runtime"] = tflite_runtime()
    return enforce(numbers, path)


def check_tflite_parity(
    run_dir: Path,
    tflite_path: Path,
    *,
    quantization: str,
    num_images: int = PARITY_IMAGES,
) -> dict:
    """Compares a `.tflite` file with the run's Keras model on held-out
    synthetic images (`compare_outputs`) and enforces the tolerances.

    float32 and float16: the largest absolute difference of the raw boxes
    and scores must stay within `FLOAT_TOLERANCES`. int8: for each image's
    10 best Keras detections (NMS at the run's IoU threshold, no score
    threshold), the TFLite box of the same anchor slot must overlap by a
    mean IoU of at least `INT8_MIN_MEAN_IOU`, and its score differ by at
    most `INT8_MAX_MEAN_SCORE_DIFF` on average. The NMS-to-NMS matching
    (`nms_*`) is reported, not enforced: in a barely trained model the
    scores are near-equal and quantization changes which box NMS keeps.

    Returns:
        The dict of `compare_outputs`, plus `runtime`.

    Raises:
        RuntimeError: when a tolerance is exceeded.
    """
    _check_quantization(quantization)
    cfg, model = load_raw_model(run_dir)
    return _parity(cfg, model, Path(tflite_path), quantization, num_images)


def time_tflite(
    path: Path,
    image_size: int,
    repeat: int = 50,
    *,
    num_threads: int = 1,
    warmup: int = 5,
) -> float:
    """Median milliseconds per image at batch 1 (NMS not included)."""
    runner = load_tflite(path, num_threads=num_threads)
    pixels = timing_pixels(image_size)
    pixels = check_pixels(pixels, _runner_size(runner), "pixels")
    return median_ms(lambda: runner(pixels=pixels), repeat, warmup)
