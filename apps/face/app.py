"""The verbs of `python -m apps.face` as plain Python functions.

`train` and `tune` are the shared lifecycle (`apps.common.lifecycle`) on
`FaceRecipe`; `evaluate`, `calibrate` and `export` work on a finished run
folder. The people verbs `predict`, `enroll`, `identify` and `verify`
live in `apps.face.people`; `__all__` lists them with the others, so
that every verb of the CLI is a function of this module
(`apps.common.verbs.on_run` calls `apps.face.app.<verb>`).
"""

import dataclasses
from pathlib import Path

import numpy as np

from apps.common import lifecycle
from apps.common import runs
from apps.common.runtime import apply_runtime
from apps.face.calibration import Calibrator
from apps.face.config import FaceConfig
from apps.face.data import load_splits
from apps.face.data import make_datasets
from apps.face.identification import one_shot_identification
from apps.face.inference import CALIBRATION_FILE
from apps.face.inference import decision_threshold
from apps.face.inference import embed_arrays
from apps.face.inference import embed_fn
from apps.face.inference import load_run
from apps.face.model import build_model
from apps.face.pairs import make_pairs
from apps.face.pairs import pair_distances
from apps.face.people import enroll
from apps.face.people import identify
from apps.face.people import predict
from apps.face.people import verify
from apps.face.recipe import FaceRecipe
from apps.face.verification import roc_curve
from apps.face.verification import ten_fold_verification
from pipelines.images import encode_png

__all__ = [
    "calibrate",
    "enroll",
    "evaluate",
    "export",
    "identify",
    "predict",
    "probe_setup",
    "train",
    "tune",
    "verify",
]

RECIPE = FaceRecipe()


def train(cfg: FaceConfig, run_dir: Path, *, resuming: bool = False) -> dict:
    """Trains the embedding network into `run_dir`; resumes after a kill.

    Returns:
        A summary: epochs run, final losses, seconds.
    """
    return lifecycle.train(RECIPE, cfg, run_dir, resuming=resuming)


def tune(cfg: FaceConfig, run_dir: Path) -> dict:
    """A keras-tuner sweep over `tune.space` (triplet loss against ArcFace,
    margin, learning rate, embedding size by default); objective:
    verification accuracy on the validation people. Writes the best
    config as `best.yaml`."""
    return lifecycle.tune(RECIPE, cfg, run_dir)


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


def verification(
    cfg: FaceConfig, embeddings, labels, plots_dir: Path, *, title: str
) -> tuple[dict, Calibrator]:
    """The 10-fold protocol on balanced pairs, ROC and histogram plots.

    Returns:
        `(report dict, calibrator fitted on all pairs)`.
    """
    from apps.face import plots as face_plots

    v = cfg.verification
    i, j, same = make_pairs(labels, num_pairs=v.num_pairs, seed=cfg.data.seed)
    distances = pair_distances(embeddings, i, j)
    report = ten_fold_verification(
        distances, same, folds=v.folds, seed=cfg.data.seed
    )
    far, tar, _ = roc_curve(distances, same)
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
    calibrator = Calibrator().fit(distances, same)
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
    rank1, rank1_std = one_shot_identification(
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
    embedded, got = exporting.run_calls_in_fresh_process(
        path,
        [
            ("embed", {"images": encoded}),
            ("verify", {"image1": encoded[:1], "image2": encoded[1:]}),
        ],
    )
    diff = exporting.compare_outputs({"embeddings": want}, embedded, atol=1e-4)
    distance = np.sum((want[0] - want[1]) ** 2)
    diff = max(
        diff,
        exporting.compare_outputs(
            {"distance": np.array([distance], np.float32)}, got, atol=1e-4
        ),
    )
    if bool(got["same"][0]) != bool(distance <= threshold):
        raise RuntimeError("export: verify's decision differs from Keras")
    return diff
