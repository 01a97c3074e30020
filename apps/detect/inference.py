"""The trained detector at inference: load a run, decode + NMS, score.

`evaluate`, `predict`, `export` and the tuner's objective share these.
"""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from apps.common import config as config_lib
from apps.common import runs
from apps.detect.config import DetectConfig
from apps.detect.data import class_names
from apps.detect.model import build_inference_model
from layers.metrics.coco import coco_evaluate


def load_run(run_dir: Path) -> tuple[DetectConfig, keras.Model]:
    """The run's config and trained Keras model (safe mode)."""
    run_dir = runs.existing_run(run_dir)
    cfg = config_lib.resolve(
        DetectConfig, config_file=run_dir / runs.CONFIG_FILE
    )
    model = keras.saving.load_model(
        run_dir / runs.MODEL_FILE, compile=False, safe_mode=True
    )
    return cfg, model


def inference_model(
    cfg: DetectConfig, detector: keras.Model, *, for_eval: bool = False
) -> keras.Model:
    """Detector + decoding + NMS with the configured thresholds."""
    det = cfg.detection
    return build_inference_model(
        detector,
        head=cfg.model.head,
        anchors=cfg.model.anchors,
        num_classes=len(class_names(cfg.data)),
        score_threshold=det.eval_score_threshold
        if for_eval
        else det.score_threshold,
        iou_threshold=det.iou_threshold,
        max_detections=det.max_detections,
    )


def detect_fn(model: keras.Model):
    """One traced function for an inference model, reused for every batch:
    `model.predict` adds tens of milliseconds of overhead per call."""
    return tf.function(lambda x: model(x, training=False))


def detect_arrays(fn, images, *, batch_size: int = 32):
    """Runs `detect_fn(model)` over `(N, S, S, 3)` pixels in batches."""
    outputs = {}
    for start in range(0, len(images), batch_size):
        batch = tf.cast(images[start : start + batch_size], tf.float32)
        for key, value in fn(batch).items():
            outputs.setdefault(key, []).append(value.numpy())
    return {k: np.concatenate(v) for k, v in outputs.items()}


def score_source(cfg: DetectConfig, detector: keras.Model, source) -> dict:
    """COCO metrics of `detector` on a source of padded arrays."""
    size = cfg.data.image_size
    out = detect_arrays(
        detect_fn(inference_model(cfg, detector, for_eval=True)),
        source["images"],
    )
    ground_truth, detections = [], []
    for i in range(len(source["images"])):
        valid = source["classes"][i] >= 0
        ground_truth.append(
            {
                "width": size,
                "height": size,
                "boxes": source["boxes"][i][valid] * size,
                "classes": source["classes"][i][valid],
            }
        )
        n = int(out["num_detections"][i])
        detections.append(
            {
                "boxes": out["boxes"][i, :n] * size,
                "scores": out["scores"][i, :n],
                "classes": out["classes"][i, :n],
            }
        )
    return coco_evaluate(ground_truth, detections, class_names(cfg.data))
