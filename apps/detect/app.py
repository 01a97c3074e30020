"""The verbs of `python -m apps.detect` as plain Python functions.

`train` and `tune` are the shared lifecycle (`apps.common.lifecycle`) on
`DetectRecipe`; the rest work on a finished run folder.
"""

import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from apps.common import config as config_lib
from apps.common import exporting
from apps.common import lifecycle
from apps.common import plots
from apps.common import runs
from apps.common.runtime import apply_runtime
from apps.detect.config import DetectConfig
from apps.detect.data import class_names
from apps.detect.data import load_split
from apps.detect.data import with_anchors
from apps.detect.draw import draw_detections
from apps.detect.inference import detect_arrays
from apps.detect.inference import detect_fn
from apps.detect.inference import inference_model
from apps.detect.inference import load_run
from apps.detect.inference import score_source
from apps.detect.model import build_model
from apps.detect.recipe import DetectRecipe
from apps.detect.recipe import make_datasets
from pipelines.images import decode_image_file
from pipelines.images import encode_png
from pipelines.images import list_images
from pipelines.letterbox import letterbox
from pipelines.letterbox import unletterbox_boxes
from pipelines.synthetic.shapes import make_shapes_arrays

RECIPE = DetectRecipe()


def train(cfg: DetectConfig, run_dir: Path, *, resuming: bool = False) -> dict:
    """Trains a detector into `run_dir`; resumes an interrupted run.

    Returns:
        A summary: epochs run, final losses, seconds.
    """
    return lifecycle.train(RECIPE, cfg, run_dir, resuming=resuming)


def tune(cfg: DetectConfig, run_dir: Path) -> dict:
    """A keras-tuner sweep over `tune.space` (learning rate, width,
    anchors per cell and augmentation strength by default), scored by
    validation mAP@0.5; writes the best config as `best.yaml`."""
    return lifecycle.tune(RECIPE, cfg, run_dir)


def probe_setup(
    cfg: DetectConfig, *, batch_size: int = 8, overfit: bool = False
):
    """A fresh compiled detector and its training batches of
    `batch_size` images (repeated), at a constant learning rate, for the
    `sanity` (`overfit`: augmentation and regularization off) and
    `lr-find` verbs."""
    from apps.common.sanity import probe_config

    apply_runtime(cfg.runtime)
    cfg = probe_config(cfg, overfit=overfit)
    data = cfg.data
    if overfit:
        data = dataclasses.replace(
            data, augment_strength=0.0, mosaic=0.0, scale_jitter=0.0
        )
    cfg = dataclasses.replace(
        cfg,
        data=data,
        train=dataclasses.replace(cfg.train, batch_size=batch_size),
    )
    train_source = load_split(cfg.data, "train")
    if len(train_source["images"]) < batch_size:
        raise config_lib.ConfigError(
            f"--batch-size: expected at most the {len(train_source['images'])}"
            f" training images, received {batch_size}"
        )
    cfg = with_anchors(cfg, train_source)
    model = build_model(
        cfg, num_classes=len(class_names(cfg.data)), steps_per_epoch=1
    )
    train_ds, _ = make_datasets(cfg, train_source, train_source)
    return model, train_ds.repeat()


def evaluate(run_dir: Path, *, split: str = "test") -> dict:
    """COCO mAP@0.5 and mAP@0.5:0.95 with per-class AP, and a PR plot.

    Writes `metrics.json` and `plots/pr_curve.png` into the run.
    """
    cfg, detector = load_run(run_dir)
    apply_runtime(cfg.runtime)
    source = load_split(cfg.data, split)
    result = score_source(cfg, detector, source)
    plot = plots.plot_precision_recall(
        result.pop("pr_curves"), Path(run_dir) / "plots" / "pr_curve.png"
    )
    result.update(split=split, images=len(source["images"]))
    runs.write_json(Path(run_dir) / runs.METRICS_FILE, result)
    result["plot"] = str(plot)
    return result


def read_inputs(input_path: Path) -> list[tuple[Path, np.ndarray]]:
    """Every image of a file or folder, all read before anything is written.

    Raises:
        ImageReadError: on the first unreadable file (nothing is written).
    """
    paths = list_images(input_path)
    if not paths:
        raise FileNotFoundError(
            2,
            "no image files (.jpg .png .bmp .gif .webp) in folder",
            str(input_path),
        )
    return [(path, decode_image_file(path)) for path in paths]


def predict(
    run_dir: Path, input_path: Path, output_dir: Path | None = None
) -> list[dict]:
    """Detects objects in an image or a folder of images.

    Writes `predictions.json` (boxes in input pixels) and one annotated PNG
    per image into `output_dir` (default: `<run>/predictions`).
    """
    images = read_inputs(Path(input_path))
    cfg, detector = load_run(run_dir)
    fn = detect_fn(inference_model(cfg, detector))
    names = class_names(cfg.data)
    size = cfg.data.image_size
    output_dir = Path(output_dir or Path(run_dir) / "predictions")
    output_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for path, image in tqdm(images, desc="predict", disable=len(images) < 8):
        square, scale, offset = letterbox(image, size)
        out = detect_arrays(fn, square[None].numpy())
        n = int(out["num_detections"][0])
        boxes = unletterbox_boxes(
            out["boxes"][0, :n], size, scale, offset, image.shape[:2]
        ).numpy()
        detections = [
            {
                "box": [round(float(v), 2) for v in boxes[j]],
                "score": round(float(out["scores"][0, j]), 4),
                "class_id": int(out["classes"][0, j]),
                "class": names[int(out["classes"][0, j])],
            }
            for j in range(n)
        ]
        png = draw_detections(
            image, detections, output_dir / f"{path.stem}.detections.png"
        )
        results.append(
            {"file": str(path), "detections": detections, "image": str(png)}
        )
    runs.write_json(output_dir / "predictions.json", {"predictions": results})
    return results


def export(
    run_dir: Path, *, format: str = "saved_model", quantization: str = "float32"
) -> dict:
    """Writes `export/<version>/` atomically after checking it in a fresh
    process that cannot import this repository; with `format` tflite or
    onnx, also converts its fixed-size float signature (before NMS) and
    checks parity.

    Returns:
        The export path, its signatures, the largest output difference,
        and under `format` the converted file's report.
    """
    from apps.detect import serving

    cfg, detector = load_run(run_dir)
    model = inference_model(cfg, detector)
    size = cfg.data.image_size
    exporting.clean_partial_exports(run_dir)
    path, diff = exporting.atomic_export(
        run_dir,
        lambda tmp: serving.write_saved_model(
            model, tmp, image_size=size, labels=class_names(cfg.data)
        ),
        lambda tmp: _check_export(cfg, model, tmp),
    )
    result = {
        "path": str(path),
        "signatures": ["serving_default", "detect_float"],
        "max_abs_diff": diff,
    }
    if format == "tflite":
        from apps.detect import tflite

        out = path / f"model_{quantization}.tflite"
        result[format] = tflite.to_tflite(
            run_dir, out, quantization=quantization
        )
    elif format == "onnx":
        from apps.detect import onnx

        result[format] = onnx.to_onnx(run_dir, path / "model.onnx")
    return result


def _check_export(cfg: DetectConfig, model: keras.Model, path: Path) -> float:
    """Both signatures, called in a fresh process, against the Keras model
    on held-out images (one made non-square to exercise letterboxing)."""
    from apps.detect import serving

    size = cfg.data.image_size
    source = make_shapes_arrays(2, size, seed=cfg.data.seed * 1000 + 5)
    images = [source["images"][0], source["images"][1]]
    wide = tf.image.resize(images[1], (size // 2, size), "nearest")
    images[1] = tf.cast(wide, tf.uint8).numpy()
    encoded = np.array([encode_png(im) for im in images], dtype=bytes)
    want = serving.reference_outputs(model, images, image_size=size)
    pixels = source["images"][:1].astype(np.float32)
    want_float = {
        k: v.numpy() for k, v in model(pixels, training=False).items()
    }
    got, got_float = exporting.run_calls_in_fresh_process(
        path,
        [
            ("serving_default", {"images": encoded}),
            ("detect_float", {"pixels": pixels}),
        ],
    )
    diff = exporting.compare_outputs(want, got, atol=1e-2)
    return max(diff, exporting.compare_outputs(want_float, got_float))
