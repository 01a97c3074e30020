"""Faces for `apps.face`: read, split by identity, prepare to arrays.

Every split is a `Faces` of uint8 arrays prepared by
`pipelines.faces.prepare` (the same ops the export runs), with identity
labels 0..n-1 and the identities' names. The split is by identity and
depends on the config only, so `evaluate` rebuilds the split `train` used.
`make_datasets` turns splits into the `tf.data` batches `fit` takes.
"""

import dataclasses
from pathlib import Path

import numpy as np

from apps.face.config import DataConfig
from apps.face.config import FaceConfig
from pipelines.errors import DataError
from pipelines.faces.dataset import build_classification_dataset
from pipelines.faces.dataset import build_identity_batches
from pipelines.faces.prepare import prepare_faces

SPLITS = ("train", "val", "test")
# Validation batches of a triplet run (cached after the first epoch).
VAL_BATCHES = 8


@dataclasses.dataclass
class Faces:
    """Prepared images of one split.

    Attributes:
        images: `(N, S, S, C)` uint8.
        labels: `(N,)` int32 identity ids, 0..len(names)-1.
        names: identity names.
    """

    images: np.ndarray
    labels: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, identities) -> "Faces":
        """The images of the given identity ids, relabelled 0..k-1."""
        identities = list(identities)
        keep = np.isin(self.labels, identities)
        remap = {old: new for new, old in enumerate(identities)}
        labels = np.array(
            [remap[int(v)] for v in self.labels[keep]], dtype=np.int32
        )
        return Faces(
            self.images[keep], labels, [self.names[i] for i in identities]
        )


def load_all_faces(cfg: DataConfig, *, progress: bool) -> Faces:
    """Every face of the configured source, prepared, before any split."""
    if cfg.source == "synthetic":
        from pipelines.synthetic.faces import make_synthetic_faces

        images, labels = make_synthetic_faces(
            cfg.num_identities,
            cfg.images_per_person,
            image_size=cfg.image_size,
            channels=cfg.channels,
            seed=cfg.seed,
        )
        names = [f"id_{i:03d}" for i in range(cfg.num_identities)]
        return Faces(images, labels.astype(np.int32), names)
    if cfg.source == "tfds_lfw":
        from pipelines.faces.tfds_lfw import load_tfds_lfw

        images, labels, names = load_tfds_lfw()
        return Faces(
            prepare_faces(images, cfg.image_size, cfg.channels),
            np.asarray(labels, np.int32),
            list(names),
        )
    from pipelines.datasets.spec import expand_data_path
    from pipelines.faces.dataset import load_face_arrays
    from pipelines.faces.folders import read_faces
    from pipelines.faces.index import summary

    root = expand_data_path(cfg.path, "data.path")
    index = read_faces(root, min_images=2, strict=cfg.strict)
    print(summary(index))
    images = load_face_arrays(
        index,
        image_size=cfg.image_size,
        channels=cfg.channels,
        progress=progress,
    )
    return Faces(images, np.asarray(index.labels, np.int32), list(index.names))


def split_identities(
    num_identities: int, cfg: DataConfig
) -> dict[str, list[int]]:
    """Identity ids of each split, shuffled by `cfg.seed`.

    Raises:
        DataError: when too few identities remain for training.
    """
    order = np.random.default_rng(cfg.seed).permutation(num_identities)
    n_test, n_val = cfg.num_test_identities, cfg.num_val_identities
    if num_identities - n_test - n_val < 2:
        raise DataError(
            f"data: {num_identities} identities cannot give "
            f"{n_test} test + {n_val} validation identities and at least 2 "
            "for training (lower data.num_test_identities or "
            "data.num_val_identities)"
        )
    test = sorted(int(i) for i in order[:n_test])
    val = sorted(int(i) for i in order[n_test : n_test + n_val])
    train = sorted(int(i) for i in order[n_test + n_val :])
    return {"train": train, "val": val, "test": test}


def load_splits(
    cfg: DataConfig, splits=SPLITS, *, progress: bool = False
) -> dict[str, Faces]:
    """The requested splits (identity-disjoint) as prepared arrays."""
    everything = load_all_faces(cfg, progress=progress)
    ids = split_identities(len(everything.names), cfg)
    return {name: everything.subset(ids[name]) for name in splits}


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


def epoch_steps(cfg: FaceConfig, num_images: int) -> int:
    """`train.steps_per_epoch`, or one pass over the training images."""
    batch = cfg.data.identities_per_batch * cfg.data.images_per_identity
    return cfg.train.steps_per_epoch or max(1, num_images // batch)


def list_face_files(path: Path) -> list[Path]:
    """One file (any name: Yale files have no extension, PIL decides), or
    the image files of a folder, PGM included (sorted).

    Raises:
        FileNotFoundError: `path` does not exist.
    """
    from pipelines.images import IMAGE_EXTENSIONS

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "no such file or folder", str(path))
    if path.is_file():
        return [path]
    suffixes = (*IMAGE_EXTENSIONS, ".pgm", ".pnm")
    return sorted(
        p
        for p in path.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and p.suffix.lower() in suffixes
    )


def read_input_faces(
    path: Path, cfg: DataConfig
) -> tuple[list[Path], np.ndarray, list[str]]:
    """Every image of a file or folder, prepared like the training data.

    With `cfg.align`, each image first goes through face detection and
    alignment (`pipelines.faces.align`, needs the `mtcnn` package); an
    image without a face is reported in the returned statuses.

    Returns:
        `(paths, images (N, S, S, C) uint8, statuses)`; a status is "ok",
        "no_face" or "multiple_faces".

    Raises:
        DataError: no image in the folder, or an unreadable file (nothing
            is read past it).
    """
    from pipelines.images import decode_image_file

    paths = list_face_files(path)
    if not paths:
        raise DataError(
            f"{path}: no image files (.jpg .png .bmp .gif .webp .pgm)"
        )
    decoded, statuses = [], []
    for item in paths:
        image = decode_image_file(item)
        status = "ok"
        if cfg.align:
            from pipelines.faces.align import detect_and_align

            result = detect_and_align(image, image_size=max(image.shape[:2]))
            status = result.status
            if result.face is not None:
                image = result.face
        decoded.append(image)
        statuses.append(status)
    images = prepare_faces(decoded, cfg.image_size, cfg.channels)
    return paths, images, statuses
