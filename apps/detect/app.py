"""The verbs of `python -m apps.detect` as plain Python functions."""

import dataclasses
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from apps.common import config as config_lib
from apps.common import distribute
from apps.common import exporting
from apps.common import plots
from apps.common import runs
from apps.common import training
from apps.common import transfer
from apps.common import tuning
from apps.common.runtime import apply_runtime
from apps.detect.config import DetectConfig
from apps.detect.data import class_names
from apps.detect.data import load_split
from apps.detect.draw import draw_detections
from apps.detect.model import BACKBONE_PREFIXES
from apps.detect.model import EARLY_PREFIXES
from apps.detect.model import GRID_STRIDE
from apps.detect.model import REG_MAX
from apps.detect.model import STRIDES
from apps.detect.model import build_anchor_free_detector
from apps.detect.model import build_detector
from apps.detect.model import build_inference_model
from layers.boxes.yolo_codec import kmeans_anchors
from layers.losses.yolo import YoloLoss
from layers.losses.yolov8 import YoloV8Loss
from layers.metrics.coco import coco_evaluate
from pipelines.detection import box_sizes
from pipelines.detection import box_targets
from pipelines.detection import build_detection_dataset
from pipelines.images import decode_image_file
from pipelines.images import encode_png
from pipelines.images import list_images
from pipelines.letterbox import letterbox
from pipelines.letterbox import unletterbox_boxes
from pipelines.synthetic.shapes import make_shapes_arrays


def grid_size(cfg: DetectConfig) -> int:
    """G of the YOLO grid for the configured image size."""
    return cfg.data.image_size // GRID_STRIDE


def with_anchors(cfg: DetectConfig, train_source) -> DetectConfig:
    """Fills `model.anchors` by k-means on the training boxes when empty
    (the anchor grid head only)."""
    if cfg.model.anchors or cfg.model.head != "yolo":
        return cfg
    anchors = kmeans_anchors(
        box_sizes(train_source), cfg.model.num_anchors, seed=cfg.data.seed
    )
    anchors = [[round(float(v), 4) for v in pair] for pair in anchors]
    return dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model, anchors=anchors)
    )


def build_model(
    cfg: DetectConfig,
    *,
    steps_per_epoch: int | None = None,
    num_train_images: int = 0,
) -> keras.Model:
    """The compiled training model; `train` and the tuner both call this.

    With `model.backbone_weights`, pretrained weights are loaded by layer
    name and layers are frozen by `model.freeze` before compiling.
    """
    m = cfg.model
    num_classes = len(class_names(cfg.data))
    regularizer = training.make_regularizer(cfg.regularization)
    if m.head == "anchor_free":
        detector = build_anchor_free_detector(
            image_size=cfg.data.image_size,
            num_classes=num_classes,
            size=m.size,
            activation=m.activation,
            kernel_initializer=m.initializer,
            norm=m.norm,
            kernel_regularizer=regularizer,
        )
        loss = YoloV8Loss(
            num_classes,
            cfg.data.image_size,
            reg_max=REG_MAX,
            strides=STRIDES,
        )
    else:
        detector = build_detector(
            image_size=cfg.data.image_size,
            num_classes=num_classes,
            anchors=m.anchors,
            width=m.width,
            depth=m.depth,
            dropout=cfg.regularization.dropout,
            activation=m.activation,
            kernel_initializer=m.initializer,
            norm=m.norm,
            kernel_regularizer=regularizer,
        )
        loss = YoloLoss(
            m.anchors,
            num_classes,
            lambda_coord=m.lambda_coord,
            lambda_noobj=m.lambda_noobj,
        )
    pretrained = bool(m.backbone_weights)
    if pretrained:
        loaded = transfer.load_weights_by_name(detector, m.backbone_weights)
        print(
            f"Loaded pretrained weights into {loaded} layers from "
            f"{m.backbone_weights}"
        )
    policy = transfer.choose_policy(
        m.freeze, num_train_images, pretrained=pretrained
    )
    frozen = transfer.apply_freeze(
        detector, policy, backbone=BACKBONE_PREFIXES, early=EARLY_PREFIXES
    )
    if frozen:
        print(f"Freeze policy '{policy}': {frozen} layers frozen")
    total = steps_per_epoch * cfg.train.epochs if steps_per_epoch else None
    detector.compile(
        optimizer=training.make_optimizer(
            cfg.optimizer, total_steps=total, steps_per_epoch=steps_per_epoch
        ),
        loss=loss,
    )
    return detector


def make_datasets(cfg: DetectConfig, train_source, val_source):
    """`(train_ds, val_ds)` for `fit`."""
    common = dict(batch_size=cfg.train.batch_size)
    if cfg.model.head == "anchor_free":
        common["encode"] = box_targets
    else:
        common.update(
            grid_size=grid_size(cfg),
            anchors=cfg.model.anchors,
            num_classes=len(class_names(cfg.data)),
        )
    train_ds = build_detection_dataset(
        train_source,
        training=True,
        augment_strength=cfg.data.augment_strength,
        mosaic=cfg.data.mosaic,
        scale_jitter=cfg.data.scale_jitter,
        seed=cfg.runtime.seed,
        **common,
    )
    val_ds = build_detection_dataset(val_source, training=False, **common)
    return train_ds, val_ds


def train(cfg: DetectConfig, run_dir: Path, *, resuming: bool = False) -> dict:
    """Trains a detector into `run_dir`; resumes an interrupted run.

    Returns:
        A summary: epochs run, final losses, seconds.
    """
    dist = distribute.setup(cfg.runtime)
    run_dir = Path(run_dir)
    if resuming:
        cfg = config_lib.resolve(
            DetectConfig, config_file=run_dir / runs.CONFIG_FILE
        )
        print(f"Resuming {run_dir} from its last finished epoch")
    dist.check_batch(cfg.train.batch_size, "train.batch_size")
    print(f"Preparing data ({cfg.data.source})")
    train_source = load_split(cfg.data, "train", progress=True)
    val_source = load_split(cfg.data, "val", progress=True)
    cfg = with_anchors(cfg, train_source)
    cfg = dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, class_names=class_names(cfg.data)),
    )
    run_dir = dist.writable(run_dir)
    runs.ensure_dir(run_dir)
    config_lib.dump_yaml(cfg, run_dir / runs.CONFIG_FILE)
    steps = len(train_source["images"]) // cfg.train.batch_size
    if cfg.train.steps_per_epoch:
        steps = min(steps, cfg.train.steps_per_epoch)
    if steps < 1:
        raise config_lib.ConfigError(
            f"train.batch_size: expected at most data.num_train="
            f"{cfg.data.num_train}, received {cfg.train.batch_size}"
        )
    with dist.scope():
        model = build_model(
            cfg,
            steps_per_epoch=steps,
            num_train_images=len(train_source["images"]),
        )
    train_ds, val_ds = make_datasets(cfg, train_source, val_source)
    print(
        f"Training {model.count_params():,} parameters on "
        f"{len(train_source['images'])} images, {cfg.train.epochs} epochs "
        f"(TensorBoard: tensorboard --logdir {run_dir / 'logs'})"
    )
    start = time.time()
    history = training.fit(
        model,
        train_ds.repeat(),
        val_ds,
        cfg.train,
        run_dir,
        steps_per_epoch=steps,
    )
    seconds = time.time() - start
    training.save_trained(model, run_dir)
    summary = {
        "epochs_run": len(history.history.get("loss", [])),
        "final_loss": _last(history.history.get("loss")),
        "final_val_loss": _last(history.history.get("val_loss")),
        "train_seconds": round(seconds, 1),
    }
    runs.write_json(run_dir / "train_summary.json", summary)
    dist.finish(run_dir)
    return summary


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
    model = build_model(cfg, steps_per_epoch=1)
    train_ds, _ = make_datasets(cfg, train_source, train_source)
    return model, train_ds.repeat()


def _last(values):
    return float(values[-1]) if values else None


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


def export(run_dir: Path) -> dict:
    """Writes `export/<version>/` atomically after checking it in a fresh
    process that cannot import this repository.

    Returns:
        The export path, its signatures and the largest output difference.
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
    return {
        "path": str(path),
        "signatures": ["serving_default", "detect_float"],
        "max_abs_diff": diff,
    }


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
    got = exporting.run_in_fresh_process(
        path, "serving_default", {"images": encoded}
    )
    diff = exporting.compare_outputs(want, got, atol=1e-2)
    pixels = source["images"][:1].astype(np.float32)
    want_float = {
        k: v.numpy() for k, v in model(pixels, training=False).items()
    }
    got_float = exporting.run_in_fresh_process(
        path, "detect_float", {"pixels": pixels}
    )
    return max(diff, exporting.compare_outputs(want_float, got_float))


def tune(cfg: DetectConfig, run_dir: Path) -> dict:
    """A keras-tuner sweep over learning rate, width, anchors per cell and
    augmentation strength; writes the best config as `best.yaml`.
    """
    from apps.detect.hypermodel import DetectHyperModel

    dist = distribute.setup(cfg.runtime)
    dist.check_batch(cfg.train.batch_size, "train.batch_size")
    run_dir = Path(run_dir)
    print(f"Preparing data ({cfg.data.source})")
    train_source = load_split(cfg.data, "train", progress=True)
    val_source = load_split(cfg.data, "val", progress=True)
    runs.ensure_dir(run_dir)
    config_lib.dump_yaml(cfg, run_dir / runs.CONFIG_FILE)
    hypermodel = DetectHyperModel(cfg, train_source, val_source)
    return tuning.run_sweep(
        hypermodel,
        cfg,
        run_dir,
        verbose=cfg.train.verbose,
        distribution=dist,
    )
