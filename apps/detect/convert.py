"""The detector as TFLite (float32, float16, int8) and ONNX, with checks.

What is converted is the *raw* fixed-size signature, not the SavedModel of
`export`: converting a variable-size export fails, and the NMS built into
TFLite ignored the score threshold (NOTES.md). The raw signature maps
`pixels: float32 (1, S, S, 3)` in [0, 255] to the decoded boxes and scores
BEFORE NMS:
- `boxes`: `(1, G*G*k, 4)` normalized xyxy,
- `scores`: `(1, G*G*k, p)` per-class scores `pc * p(class | object)`.

NMS runs outside the converted file: a server applies
`layers.boxes.nms.non_max_suppression` (see `tflite_detections`) or its own
class-aware NMS with the run's `detection` thresholds: drop boxes whose best
class score is below `score_threshold`, then per class suppress boxes whose
IoU with a kept box is at least `iou_threshold`.

int8 is full-integer quantization (weights and activations, int8 kernels
only), calibrated on a representative set; the input and the outputs stay
float32, so callers feed the same pixels and read the same boxes as with
the float files.

Every file is checked against the Keras model on held-out synthetic images
before it is renamed into place (see `check_tflite_parity`,
`check_onnx_parity` and the tolerances below), so a failed conversion or
check leaves nothing behind.
"""

import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from apps.common import config as config_lib
from apps.common import runs
from apps.common.config import ConfigError
from apps.detect.config import DetectConfig
from apps.detect.data import class_names
from apps.detect.model import decoder
from layers.boxes.iou import elementwise_iou
from layers.boxes.iou import pairwise_iou
from layers.boxes.nms import non_max_suppression
from pipelines.synthetic.shapes import make_shapes_arrays

QUANTIZATIONS = ("float32", "float16", "int8")
# Largest |TFLite - Keras| on raw boxes and scores (measured on the demo
# model, 96 px, mAP@0.5 0.93: 2e-6 for float32, 1e-3 for float16).
FLOAT_TOLERANCES = {"float32": 1e-4, "float16": 1e-2}
# int8, on the 10 best Keras detections of each image: mean IoU with the
# TFLite box of the same anchor slot, and mean |score difference|
# (measured on the demo model: 0.90 and 0.007, mAP@0.5 0.923 against
# 0.932; with TF's default quantizer the score error was 0.11).
INT8_MIN_MEAN_IOU = 0.8
INT8_MAX_MEAN_SCORE_DIFF = 0.05
ONNX_TOLERANCE = 1e-4
DEFAULT_OPSET = 17
REPRESENTATIVE_IMAGES = 64
PARITY_IMAGES = 8
# Parity compares each image's 10 best detections after NMS, whatever their
# score, so that barely trained models (tests, smoke runs) are compared too.
PARITY_TOP_K = 10
# The NMS-to-NMS matching (reported, not enforced) skips detections below
# this score: int8 rounds their scores to 0 and drops them, and a junk box
# would then be matched with a confident neighbour.
PARITY_MIN_SCORE = 0.05
# Seeds of the synthetic images, apart from the training splits' (+0..+2).
_REPRESENTATIVE_SEED = 6
_PARITY_SEED = 7


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


def _synthetic_pixels(cfg: DetectConfig, count: int, offset: int):
    seed = cfg.data.seed * 1000 + offset
    images = make_shapes_arrays(count, cfg.data.image_size, seed=seed)
    return images["images"].astype(np.float32)


def _convert(saved_model: Path, quantization: str, representative):
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


def _check_pixels(pixels, image_size: int, name: str) -> np.ndarray:
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim == 3:
        pixels = pixels[None]
    if pixels.shape[1:] != (image_size, image_size, 3) or not len(pixels):
        raise ValueError(
            f"Expected {name} of shape (N, {image_size}, {image_size}, 3). "
            f"Received: {name}.shape={pixels.shape}"
        )
    return pixels


def to_tflite(
    run_dir: Path,
    out_path: Path | None = None,
    *,
    quantization: str = "float32",
    representative: np.ndarray | None = None,
    check: bool = True,
) -> dict:
    """Converts a run's raw signature (see module docstring) to TFLite.

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
            representative = _synthetic_pixels(
                cfg, REPRESENTATIVE_IMAGES, _REPRESENTATIVE_SEED
            )
        representative = _check_pixels(representative, size, "representative")
    out_path = Path(
        out_path or default_path(run_dir, f"model_{quantization}.tflite")
    )

    def write(tmp: Path) -> None:
        with tempfile.TemporaryDirectory() as folder:
            saved_model = Path(folder) / "raw"
            write_raw_saved_model(model, saved_model, image_size=size)
            tmp.write_bytes(_convert(saved_model, quantization, representative))

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
    pixels = _check_pixels(pixels, _runner_size(runner), "pixels")
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


def _nms(cfg: DetectConfig, raw: dict, max_detections: int) -> dict:
    """Our NMS at the run's IoU threshold and no score threshold."""
    out = non_max_suppression(
        raw["boxes"],
        raw["scores"],
        score_threshold=0.0,
        iou_threshold=cfg.detection.iou_threshold,
        max_detections=max_detections,
    )
    return {k: v.numpy() for k, v in out.items()}


def _summary(prefix: str, ious: list, diffs: list) -> dict:
    return {
        f"{prefix}mean_iou": float(np.mean(ious)) if ious else 1.0,
        f"{prefix}min_iou": float(np.min(ious)) if ious else 1.0,
        f"{prefix}mean_score_diff": float(np.mean(diffs)) if diffs else 0.0,
        f"{prefix}max_score_diff": float(np.max(diffs)) if diffs else 0.0,
    }


def compare_detections(
    want: dict, got: dict, *, top_k: int, min_score: float
) -> dict:
    """Each of the `top_k` best `want` detections of every image that score
    at least `min_score` against its best-IoU `got` detection of the same
    class (IoU 0 and score 0 when there is none). Both are outputs of
    `non_max_suppression`.

    Returns:
        `nms_mean_iou`, `nms_min_iou`, `nms_mean_score_diff`,
        `nms_max_score_diff` and `matched`, the number of `want`
        detections compared.
    """
    ious, diffs = [], []
    for i in range(len(want["num_detections"])):
        n = min(int(want["num_detections"][i]), top_k)
        n = int(np.sum(want["scores"][i, :n] >= min_score))
        m = int(got["num_detections"][i])
        iou = pairwise_iou(want["boxes"][i, :n], got["boxes"][i, :m]).numpy()
        same = want["classes"][i, :n, None] == got["classes"][i, None, :m]
        iou = np.where(same, iou, 0.0).reshape(n, m)
        best_iou = iou.max(axis=1, initial=0.0)
        best = iou.argmax(axis=1) if m else np.zeros(n, dtype=int)
        got_scores = got["scores"][i, best] if m else np.zeros(n)
        got_scores = np.where(best_iou > 0, got_scores, 0.0)
        ious.extend(best_iou)
        diffs.extend(np.abs(got_scores - want["scores"][i, :n]))
    return {**_summary("nms_", ious, diffs), "matched": len(ious)}


def compare_slots(want: dict, got: dict, final: dict, *, top_k: int) -> dict:
    """The `top_k` best detections of `final` (NMS of `want`) against the
    raw `got` box and score of the same anchor slot.

    Slots are the same boxes of the same grid cells and anchors in both
    models, so this comparison does not depend on the order NMS finds in
    near-equal scores (which quantization reshuffles in barely trained
    models).

    Returns:
        `slot_mean_iou`, `slot_min_iou`, `slot_mean_score_diff`,
        `slot_max_score_diff` (the score of the Keras class) and
        `slot_class_agreement` (fraction whose best class is unchanged).
    """
    ious, diffs, agree = [], [], []
    for i in range(len(final["num_detections"])):
        n = min(int(final["num_detections"][i]), top_k)
        classes = final["classes"][i, :n]
        scores = want["scores"][i][:, classes].T
        # Each detection is a row of the raw outputs, copied exactly.
        distance = np.abs(
            want["boxes"][i][None] - final["boxes"][i, :n, None]
        ).sum(-1) + np.abs(scores - final["scores"][i, :n, None])
        slot = distance.argmin(axis=1)
        ious.extend(
            elementwise_iou(want["boxes"][i, slot], got["boxes"][i, slot])
            .numpy()
            .tolist()
        )
        got_scores = got["scores"][i, slot, classes]
        diffs.extend(np.abs(got_scores - want["scores"][i, slot, classes]))
        agree.extend(got["scores"][i, slot].argmax(-1) == classes)
    agreement = float(np.mean(agree)) if agree else 1.0
    return {**_summary("slot_", ious, diffs), "slot_class_agreement": agreement}


def compare_outputs(
    cfg: DetectConfig, want: dict, got: dict, quantization: str
) -> dict:
    """Every parity number of a converted file against the Keras model.

    Args:
        cfg: the run's config (NMS IoU threshold).
        want: the Keras model's raw `boxes` and `scores`.
        got: the converted file's.
        quantization: recorded in the result.

    Returns:
        `max_abs_diff_boxes`, `max_abs_diff_scores`, the numbers of
        `compare_slots` and of `compare_detections` (detections scoring at
        least `PARITY_MIN_SCORE`; the converted side's NMS keeps every box,
        so no match is lost to `max_detections`),
        and `quantization`.
    """
    numbers = {
        f"max_abs_diff_{k}": float(np.max(np.abs(got[k] - want[k])))
        for k in ("boxes", "scores")
    }
    final = _nms(cfg, want, cfg.detection.max_detections)
    numbers.update(compare_slots(want, got, final, top_k=PARITY_TOP_K))
    numbers.update(
        compare_detections(
            final,
            _nms(cfg, got, got["boxes"].shape[1]),
            top_k=PARITY_TOP_K,
            min_score=PARITY_MIN_SCORE,
        )
    )
    numbers["quantization"] = quantization
    return numbers


def _enforce(numbers: dict, path: Path) -> dict:
    quantization = numbers["quantization"]
    if quantization == "int8":
        iou = numbers["slot_mean_iou"]
        diff = numbers["slot_mean_score_diff"]
        bad = not (
            iou >= INT8_MIN_MEAN_IOU and diff <= INT8_MAX_MEAN_SCORE_DIFF
        )
        limits = (
            f"mean IoU {iou:.3f} (min {INT8_MIN_MEAN_IOU}), mean score "
            f"diff {diff:.3g} (max {INT8_MAX_MEAN_SCORE_DIFF})"
        )
    else:
        tol = FLOAT_TOLERANCES.get(quantization, ONNX_TOLERANCE)
        worst = max(
            numbers["max_abs_diff_boxes"], numbers["max_abs_diff_scores"]
        )
        bad = not worst <= tol
        limits = f"max abs diff {worst:.3g} (tolerance {tol})"
    if bad:
        raise RuntimeError(
            f"{path}: {quantization} outputs differ from the Keras model: "
            f"{limits}"
        )
    return numbers


def _parity(cfg, model, path, quantization: str, num_images: int) -> dict:
    pixels = _synthetic_pixels(cfg, num_images, _PARITY_SEED)
    want = {k: v.numpy() for k, v in model(pixels, training=False).items()}
    boxes, scores = run_tflite(path, pixels)
    got = {"boxes": boxes, "scores": scores}
    numbers = compare_outputs(cfg, want, got, quantization)
    numbers["runtime"] = tflite_runtime()
    return _enforce(numbers, path)


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


def _timed_ms(call, repeat: int, warmup: int) -> float:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def _timing_pixels(image_size: int) -> np.ndarray:
    """One random image for latency timing (content does not matter)."""
    return np.random.default_rng(0).uniform(
        0, 255, (1, image_size, image_size, 3)
    )


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
    pixels = _timing_pixels(image_size)
    pixels = _check_pixels(pixels, _runner_size(runner), "pixels")
    return _timed_ms(lambda: runner(pixels=pixels), repeat, warmup)


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
    pixels = _check_pixels(pixels, size, "pixels")
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
    pixels = _synthetic_pixels(cfg, num_images, _PARITY_SEED)
    want = {k: v.numpy() for k, v in model(pixels, training=False).items()}
    boxes, scores = run_onnx(load_onnx(path), pixels)
    numbers = compare_outputs(
        cfg, want, {"boxes": boxes, "scores": scores}, "onnx"
    )
    numbers["runtime"] = "onnxruntime"
    return _enforce(numbers, path)


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
    pixels = _timing_pixels(image_size)
    size = int(session.get_inputs()[0].shape[1])
    pixels = _check_pixels(pixels, size, "pixels")
    return _timed_ms(
        lambda: session.run(None, {"pixels": pixels}), repeat, warmup
    )
