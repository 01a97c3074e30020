"""The verbs of `python -m apps.face` as plain Python functions."""

import dataclasses
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from apps.common import config as config_lib
from apps.common import distribute
from apps.common import runs
from apps.common import training
from apps.common import transfer
from apps.common.runtime import apply_runtime
from apps.face import protocol
from apps.face.config import FaceConfig
from apps.face.data import Faces
from apps.face.data import load_splits
from apps.face.model import BACKBONE_PREFIXES
from apps.face.model import EARLY_PREFIXES
from apps.face.model import build_arcface_trainer
from apps.face.model import build_embedder
from apps.face.model import embed
from apps.face.model import embedder_of
from layers.losses.triplet import TripletLoss
from pipelines.faces.dataset import build_classification_dataset
from pipelines.faces.dataset import build_identity_batches
from pipelines.images import encode_png

CALIBRATION_FILE = "calibration.json"
GALLERY_FILE = "gallery.npz"
VAL_BATCHES = 8


def build_model(
    cfg: FaceConfig,
    *,
    num_classes: int,
    steps_per_epoch: int | None = None,
    num_train_images: int = 0,
) -> keras.Model:
    """The compiled training model; `train` and the tuner both call this.

    `loss: triplet` returns the embedder itself, compiled with the triplet
    loss (labels as targets); `loss: arcface` returns `[pixels, labels] ->
    logits` compiled with sparse cross-entropy.
    """
    d, m = cfg.data, cfg.model
    embedder = build_embedder(
        image_size=d.image_size,
        channels=d.channels,
        embedding_dim=m.embedding_dim,
        width=m.width,
        depth=m.depth,
        architecture=m.architecture,
        dropout=cfg.regularization.dropout,
        kernel_regularizer=training.make_regularizer(cfg.regularization),
        kernel_initializer=m.initializer,
        norm=m.norm,
    )
    pretrained = bool(m.backbone_weights)
    if pretrained:
        loaded = transfer.load_weights_by_name(embedder, m.backbone_weights)
        print(f"Loaded weights into {loaded} layers from {m.backbone_weights}")
    policy = transfer.choose_policy(
        m.freeze, num_train_images, pretrained=pretrained
    )
    frozen = transfer.apply_freeze(
        embedder, policy, backbone=BACKBONE_PREFIXES, early=EARLY_PREFIXES
    )
    if frozen:
        print(f"Freeze policy '{policy}': {frozen} layers frozen")
    total = steps_per_epoch * cfg.train.epochs if steps_per_epoch else None
    optimizer = training.make_optimizer(
        cfg.optimizer, total_steps=total, steps_per_epoch=steps_per_epoch
    )
    if m.loss == "arcface":
        model = build_arcface_trainer(
            embedder,
            num_classes,
            scale=m.arcface_scale,
            margin=m.arcface_margin,
        )
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
        )
        return model
    embedder.compile(
        optimizer=optimizer,
        loss=TripletLoss(margin=m.margin, mining=m.mining, squared=m.squared),
    )
    return embedder


def make_datasets(cfg: FaceConfig, train: Faces, val: Faces | None):
    """`(train_ds, val_ds)` for `fit`; `val_ds` is None for ArcFace (its
    classes are the training identities) or without validation people."""
    d = cfg.data
    if cfg.model.loss == "arcface":
        ds = build_classification_dataset(
            train.images,
            train.labels,
            batch_size=d.identities_per_batch * d.images_per_identity,
            augment=d.augment,
            seed=d.seed,
        )
        ds = ds.map(lambda x, y: ((x, y), y))
        return ds.repeat(), None
    train_ds = build_identity_batches(
        train.images,
        train.labels,
        identities_per_batch=min(d.identities_per_batch, len(train.names)),
        images_per_identity=d.images_per_identity,
        augment=d.augment,
        seed=d.seed,
    )
    val_ds = None
    if val is not None and len(val.names) >= 2:
        val_ds = build_identity_batches(
            val.images,
            val.labels,
            identities_per_batch=min(d.identities_per_batch, len(val.names)),
            images_per_identity=d.images_per_identity,
            augment=False,
            seed=d.seed + 1,
        )
        val_ds = val_ds.take(VAL_BATCHES).cache()
    return train_ds.repeat(), val_ds


def steps_per_epoch(cfg: FaceConfig, num_images: int) -> int:
    """`train.steps_per_epoch`, or one pass over the training images."""
    batch = cfg.data.identities_per_batch * cfg.data.images_per_identity
    return cfg.train.steps_per_epoch or max(1, num_images // batch)


def probe_setup(cfg: FaceConfig, *, batch_size: int = 8, overfit=False):
    """A fresh compiled model and its training batches (about
    `batch_size` faces: `batch_size // data.images_per_identity` people,
    at least 2), at a constant learning rate, for the `sanity`
    (`overfit`: augmentation and regularization off) and `lr-find`
    verbs."""
    from apps.common.sanity import probe_config

    apply_runtime(cfg.runtime)
    cfg = probe_config(cfg, overfit=overfit)
    people = max(2, batch_size // cfg.data.images_per_identity)
    cfg = dataclasses.replace(
        cfg,
        data=dataclasses.replace(
            cfg.data,
            augment=cfg.data.augment and not overfit,
            identities_per_batch=people,
        ),
    )
    train_faces = load_splits(cfg.data, ("train",))["train"]
    model = build_model(
        cfg, num_classes=len(train_faces.names), steps_per_epoch=1
    )
    train_ds, _ = make_datasets(cfg, train_faces, None)
    return model, train_ds.repeat()


def train(cfg: FaceConfig, run_dir: Path, *, resuming: bool = False) -> dict:
    """Trains the embedding network into `run_dir`; resumes after a kill.

    Returns:
        A summary: epochs run, final losses, seconds.
    """
    dist = distribute.setup(cfg.runtime)
    run_dir = Path(run_dir)
    if resuming:
        cfg = config_lib.resolve(
            FaceConfig, config_file=run_dir / runs.CONFIG_FILE
        )
        print(f"Resuming {run_dir} from its last finished epoch")
    check_global_batch(cfg, dist)
    print(f"Preparing faces ({cfg.data.source})")
    splits = load_splits(cfg.data, ("train", "val"), progress=True)
    train_faces, val_faces = splits["train"], splits["val"]
    run_dir = dist.writable(run_dir)
    runs.ensure_dir(run_dir)
    config_lib.dump_yaml(cfg, run_dir / runs.CONFIG_FILE)
    steps = steps_per_epoch(cfg, len(train_faces))
    with dist.scope():
        model = build_model(
            cfg,
            num_classes=len(train_faces.names),
            steps_per_epoch=steps,
            num_train_images=len(train_faces),
        )
    train_ds, val_ds = make_datasets(cfg, train_faces, val_faces)
    print(
        f"Training {model.count_params():,} parameters ({cfg.model.loss}) on "
        f"{len(train_faces)} images of {len(train_faces.names)} people, "
        f"{cfg.train.epochs} epochs x {steps} steps "
        f"(TensorBoard: tensorboard --logdir {run_dir / 'logs'})"
    )
    start = time.time()
    history = training.fit(
        model, train_ds, val_ds, cfg.train, run_dir, steps_per_epoch=steps
    )
    seconds = time.time() - start
    training.save_trained(embedder_of(model), run_dir)
    losses = history.history.get("loss") or [None]
    val_losses = history.history.get("val_loss") or [None]
    summary = {
        "epochs_run": len(history.history.get("loss", [])),
        "final_loss": losses[-1],
        "final_val_loss": val_losses[-1],
        "train_seconds": round(seconds, 1),
    }
    runs.write_json(run_dir / "train_summary.json", summary)
    dist.finish(run_dir)
    return summary


def check_global_batch(cfg: FaceConfig, dist) -> None:
    """The P x K batch is global: with triplets each replica must get
    whole identities (batches are identity-major), at least two of them
    (negatives need another identity); ArcFace needs P x K divisible."""
    d = cfg.data
    if cfg.model.loss == "arcface":
        dist.check_batch(
            d.identities_per_batch * d.images_per_identity,
            "data.identities_per_batch",
        )
        return
    per_replica = dist.check_batch(
        d.identities_per_batch, "data.identities_per_batch"
    )
    config_lib.check(
        per_replica >= 2,
        "data.identities_per_batch",
        f"at least 2 identities per replica ({dist.replicas} replicas)",
        d.identities_per_batch,
    )


def load_run(run_dir: Path) -> tuple[FaceConfig, keras.Model]:
    """The run's config and embedder (loaded in Keras' safe mode)."""
    run_dir = runs.existing_run(run_dir)
    cfg = config_lib.resolve(FaceConfig, config_file=run_dir / runs.CONFIG_FILE)
    model = keras.saving.load_model(
        run_dir / runs.MODEL_FILE, compile=False, safe_mode=True
    )
    return cfg, embedder_of(model)


def embed_fn(
    embedder: keras.Model, *, flip_tta: bool = False, traced: bool = True
):
    """`uint8 pixels -> embeddings`: traced once for many batches (not
    `model.predict`, which adds tens of ms a call), or eager for the few
    images of a CLI verb (no tracing cost, no retracing warnings)."""

    def fn(x):
        pixels = tf.cast(x, tf.float32) / 255.0
        return embed(embedder, pixels, flip_tta=flip_tta)

    return tf.function(fn, reduce_retracing=True) if traced else fn


def embed_arrays(fn, images: np.ndarray, *, batch_size: int = 64):
    """`(N, S, S, C)` uint8 -> `(N, D)` float32 unit-norm embeddings."""
    if len(images) == 0:
        return np.zeros((0, 0), np.float32)
    parts = [
        fn(images[i : i + batch_size]).numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts)


def verification(
    cfg: FaceConfig, embeddings, labels, plots_dir: Path, *, title: str
) -> tuple[dict, "protocol.Calibrator"]:
    """The 10-fold protocol on balanced pairs, ROC and histogram plots.

    Returns:
        `(report dict, calibrator fitted on all pairs)`.
    """
    from apps.face import plots as face_plots

    v = cfg.verification
    i, j, same = protocol.make_pairs(
        labels, num_pairs=v.num_pairs, seed=cfg.data.seed
    )
    distances = protocol.pair_distances(embeddings, i, j)
    report = protocol.ten_fold_verification(
        distances, same, folds=v.folds, seed=cfg.data.seed
    )
    far, tar, _ = protocol.roc_curve(distances, same)
    plots_dir = runs.ensure_dir(Path(plots_dir))
    face_plots.plot_roc(
        far,
        tar,
        plots_dir / "roc.png",
        title=title,
        eer=(report.eer, report.eer_threshold),
        marks=report.tar_at_far,
    )
    face_plots.plot_distance_histogram(
        distances, same, report.threshold, plots_dir / "distances.png"
    )
    calibrator = protocol.Calibrator().fit(distances, same)
    result = report.as_dict()
    result["pairs"] = {
        "genuine": int(same.sum()),
        "impostor": int((~same).sum()),
    }
    result["text"] = report.format()
    return result, calibrator


def evaluate(run_dir: Path, *, split: str = "test") -> dict:
    """Verification (10-fold) and one-shot identification on `split`, whose
    people the embedding never saw. Writes `metrics.json` and plots."""
    cfg, embedder = load_run(run_dir)
    apply_runtime(cfg.runtime)
    faces = load_splits(cfg.data, (split,))[split]
    embeddings = embed_arrays(
        embed_fn(embedder, flip_tta=cfg.model.flip_tta), faces.images
    )
    result, _ = verification(
        cfg,
        embeddings,
        faces.labels,
        Path(run_dir) / "plots",
        title=f"ROC, {split} identities",
    )
    rank1, rank1_std = protocol.one_shot_identification(
        embeddings, faces.labels, trials=10, seed=cfg.data.seed
    )
    result.update(
        split=split,
        images=len(faces),
        identities=len(faces.names),
        rank1=rank1,
        rank1_std=rank1_std,
    )
    runs.write_json(Path(run_dir) / runs.METRICS_FILE, result)
    return result


def calibrate(
    run_dir: Path, *, input_path: Path | None = None, split: str = "test"
) -> dict:
    """Chooses the verification threshold with the 10-fold protocol on a
    folder of identities (or the run's `split`), fits the confidence
    calibration, and writes `calibration.json` for verify/identify/export.
    """
    from apps.face.data import load_all_faces

    cfg, embedder = load_run(run_dir)
    apply_runtime(cfg.runtime)
    if input_path is not None:
        data = dataclasses.replace(
            cfg.data, source="folders", path=str(input_path)
        )
        faces, source = load_all_faces(data, progress=True), str(input_path)
    else:
        faces = load_splits(cfg.data, (split,))[split]
        source = f"run split '{split}'"
    embeddings = embed_arrays(
        embed_fn(embedder, flip_tta=cfg.model.flip_tta), faces.images
    )
    result, calibrator = verification(
        cfg,
        embeddings,
        faces.labels,
        Path(run_dir) / "plots",
        title=f"ROC, {source}",
    )
    calibration = {
        "threshold": result["threshold"],
        "threshold_cosine": result["threshold_cosine"],
        "calibrator": calibrator.to_dict(),
        "source": source,
        "report": {k: v for k, v in result.items() if k != "text"},
    }
    runs.write_json(Path(run_dir) / CALIBRATION_FILE, calibration)
    result["source"] = source
    return result


def decision_threshold(run_dir: Path, cfg: FaceConfig) -> tuple[float, str]:
    """`(threshold, where it came from)`: calibration.json, else config."""
    path = Path(run_dir) / CALIBRATION_FILE
    if path.exists():
        return float(runs.read_json(path)["threshold"]), "calibrated"
    return float(cfg.verification.threshold), "config (run calibrate)"


def calibrator_of(run_dir: Path):
    path = Path(run_dir) / CALIBRATION_FILE
    if not path.exists():
        return None
    return protocol.Calibrator.from_dict(runs.read_json(path)["calibrator"])


def export(run_dir: Path) -> dict:
    """Writes `export/<version>/` atomically after checking `embed` and
    `verify` in a fresh process that cannot import this repository."""
    from apps.common import exporting
    from apps.face import serving

    cfg, embedder = load_run(run_dir)
    threshold, source = decision_threshold(run_dir, cfg)
    calibration = None
    path = Path(run_dir) / CALIBRATION_FILE
    if path.exists():
        calibration = runs.read_json(path)["calibrator"]
    info = {
        "threshold": threshold,
        "threshold_cosine": 1.0 - threshold / 2.0,
        "threshold_source": source,
        "image_size": cfg.data.image_size,
        "flip_tta": cfg.model.flip_tta,
        "channels": cfg.data.channels,
        "distance": "squared L2 of unit vectors; same when <= threshold",
    }
    d = cfg.data
    exporting.clean_partial_exports(run_dir)
    out, diff = exporting.atomic_export(
        run_dir,
        lambda tmp: serving.write_saved_model(
            embedder,
            tmp,
            image_size=d.image_size,
            channels=d.channels,
            threshold=threshold,
            calibrator=calibration,
            info=info,
            flip_tta=cfg.model.flip_tta,
        ),
        lambda tmp: _check_export(cfg, embedder, tmp, threshold),
    )
    return {
        "path": str(out),
        "signatures": ["serving_default", "embed", "embed_uint8", "verify"],
        "threshold": threshold,
        "threshold_source": source,
        "max_abs_diff": diff,
    }


def _check_export(cfg, embedder, path: Path, threshold: float) -> float:
    """`embed` on PNG bytes of different sizes and `verify` on a pair, in a
    fresh process, against the Keras embedder."""
    from apps.common import exporting
    from apps.face import serving

    rng = np.random.default_rng(cfg.data.seed)
    size = cfg.data.image_size
    images = [
        rng.integers(0, 256, (size + 13, size, 3), dtype=np.uint8),
        rng.integers(0, 256, (size, size * 2, 3), dtype=np.uint8),
    ]
    encoded = np.array([encode_png(im) for im in images], dtype=bytes)
    want = serving.reference_embeddings(
        embedder,
        images,
        image_size=size,
        channels=cfg.data.channels,
        flip_tta=cfg.model.flip_tta,
    )
    got = exporting.run_in_fresh_process(path, "embed", {"images": encoded})
    diff = exporting.compare_outputs({"embeddings": want}, got, atol=1e-4)
    distance = np.sum((want[0] - want[1]) ** 2)
    got = exporting.run_in_fresh_process(
        path, "verify", {"image1": encoded[:1], "image2": encoded[1:]}
    )
    diff = max(
        diff,
        exporting.compare_outputs(
            {"distance": np.array([distance], np.float32)}, got, atol=1e-4
        ),
    )
    if bool(got["same"][0]) != bool(distance <= threshold):
        raise RuntimeError("export: verify's decision differs from Keras")
    return diff


def tune(cfg: FaceConfig, run_dir: Path) -> dict:
    """A keras-tuner sweep: triplet loss against ArcFace, margin, learning
    rate, embedding size; objective: verification accuracy on the
    validation people. Writes the best config as `best.yaml`."""
    from apps.common import tuning
    from apps.face.hypermodel import FaceHyperModel

    dist = distribute.setup(cfg.runtime)
    check_global_batch(cfg, dist)
    run_dir = Path(run_dir)
    splits = load_splits(cfg.data, ("train", "val"), progress=True)
    if len(splits["val"].names) < 2:
        from apps.common.config import ConfigError

        raise ConfigError(
            "data.num_val_identities: expected >= 2 for tune (the objective "
            f"is measured on them), received {cfg.data.num_val_identities}"
        )
    runs.ensure_dir(run_dir)
    config_lib.dump_yaml(cfg, run_dir / runs.CONFIG_FILE)
    hypermodel = FaceHyperModel(cfg, splits["train"], splits["val"])
    return tuning.run_sweep(
        hypermodel,
        cfg,
        run_dir,
        verbose=cfg.train.verbose,
        distribution=dist,
    )


def val_verification_accuracy(cfg: FaceConfig, model, faces: Faces) -> float:
    """Best-threshold verification accuracy of all pairs of `faces`."""
    embeddings = embed_arrays(
        embed_fn(embedder_of(model), flip_tta=cfg.model.flip_tta),
        faces.images,
    )
    i, j, same = protocol.make_pairs(
        faces.labels, num_pairs=cfg.verification.num_pairs, seed=cfg.data.seed
    )
    distances = protocol.pair_distances(embeddings, i, j)
    threshold = protocol.best_threshold(distances, same)
    return float(np.mean((distances <= threshold) == same))
