"""The trained embedder at inference: load a run, embed, decide, score.

`evaluate`, `calibrate`, `export`, the people verbs (`apps.face.people`)
and the tuner's objective share these.
"""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from apps.common import config as config_lib
from apps.common import runs
from apps.face.calibration import Calibrator
from apps.face.config import FaceConfig
from apps.face.data import Faces
from apps.face.model import embed
from apps.face.model import embedder_of
from apps.face.pairs import make_pairs
from apps.face.pairs import pair_distances
from apps.face.verification import best_threshold

CALIBRATION_FILE = "calibration.json"
GALLERY_FILE = "gallery.npz"


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


def decision_threshold(run_dir: Path, cfg: FaceConfig) -> tuple[float, str]:
    """`(threshold, where it came from)`: calibration.json, else config."""
    path = Path(run_dir) / CALIBRATION_FILE
    if path.exists():
        return float(runs.read_json(path)["threshold"]), "calibrated"
    return float(cfg.verification.threshold), "config (run calibrate)"


def calibrator_of(run_dir: Path) -> Calibrator | None:
    """The run's fitted `Calibrator` (after `calibrate`), or None."""
    path = Path(run_dir) / CALIBRATION_FILE
    if not path.exists():
        return None
    return Calibrator.from_dict(runs.read_json(path)["calibrator"])


def val_verification_accuracy(cfg: FaceConfig, model, faces: Faces) -> float:
    """Best-threshold verification accuracy of all pairs of `faces` (the
    tuner's objective: triplet and ArcFace losses are not comparable with
    each other, accuracy is)."""
    embeddings = embed_arrays(
        embed_fn(embedder_of(model), flip_tta=cfg.model.flip_tta),
        faces.images,
    )
    i, j, same = make_pairs(
        faces.labels, num_pairs=cfg.verification.num_pairs, seed=cfg.data.seed
    )
    distances = pair_distances(embeddings, i, j)
    threshold = best_threshold(distances, same)
    return float(np.mean((distances <= threshold) == same))
