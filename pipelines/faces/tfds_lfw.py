"""Labeled Faces in the Wild through tensorflow-datasets (needs a network).

The tfds `lfw` builder (version 0.1.1) downloads the 13,233 funnelled
photos of 5,749 people and serves one `train` split of examples
`{"image": (250, 250, 3) uint8, "label": person name (Text)}`.
`lfw_examples_to_arrays` turns such examples into the arrays every face
pipeline takes; it is pure, so tests feed it hand-made dicts and nothing is
downloaded. tensorflow-datasets is imported only by `load_tfds_lfw`.
"""

from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from pipelines.errors import DataError
from pipelines.faces.index import natural_key
from pipelines.faces.prepare import prepare_face


def lfw_examples_to_arrays(
    examples: Iterable[Mapping],
    image_size: int,
    *,
    channels: int = 3,
    min_images: int = 1,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Converts tfds `lfw` examples (numpy) to face arrays.

    Each image goes through `pipelines.faces.prepare.prepare_face` (centre
    square, area resize, grey when `channels == 1`), as training and the
    export do.

    Args:
        examples: dicts with `"image"` uint8 `(H, W, 3)` (or `(H, W, 1)`)
            and `"label"`, the person's name as `bytes` or `str`.
        image_size: side S of the result.
        channels: 1 or 3.
        min_images: people with fewer images are dropped (use 2 for
            triplets, which need a positive).
        progress: show a tqdm bar.

    Returns:
        `(images, labels, names)`: uint8 `(N, S, S, C)`, int32 `(N,)` in
        `0..len(names) - 1`, and the names in natural order; the images are
        grouped by person (identity-major), in example order within one.

    Raises:
        DataError: an example without `image` or `label`, an image that is
            not `(H, W, 1 or 3)` uint8, or no person left.

    Example:

    >>> images, labels, names = lfw_examples_to_arrays(
    ...     [{"image": photo, "label": b"Ada_Lovelace"}], 64)
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3. Received: {channels=}")
    prepare = tf.function(
        lambda image: prepare_face(image, image_size, channels),
        input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)],
        autograph=False,
    )
    faces, people = [], []
    for i, example in enumerate(
        tqdm(examples, desc="lfw", disable=not progress)
    ):
        if "image" not in example or "label" not in example:
            raise DataError(
                f"lfw[{i}]: expected keys 'image' and 'label', received "
                f"{sorted(example)}"
            )
        image = np.asarray(example["image"])
        if (
            image.dtype != np.uint8
            or image.ndim != 3
            or image.shape[-1] not in (1, 3)
            or 0 in image.shape
        ):
            raise DataError(
                f"lfw[{i}]: expected a uint8 (H, W, 3) image, received "
                f"{image.dtype} {image.shape}"
            )
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        label = example["label"]
        if isinstance(label, np.ndarray):
            label = label.item()
        if isinstance(label, bytes):
            label = label.decode("utf-8")
        faces.append(prepare(image).numpy())
        people.append(str(label))
    counts = {}
    for name in people:
        counts[name] = counts.get(name, 0) + 1
    names = tuple(
        sorted(
            (n for n, c in counts.items() if c >= min_images), key=natural_key
        )
    )
    if not names:
        raise DataError(
            f"lfw: no person with at least {min_images} image(s) among "
            f"{len(people)} examples"
        )
    label_of = {name: i for i, name in enumerate(names)}
    order = sorted(
        (i for i, name in enumerate(people) if name in label_of),
        key=lambda i: (label_of[people[i]], i),
    )
    images = np.stack([faces[i] for i in order]).astype(np.uint8)
    labels = np.array([label_of[people[i]] for i in order], np.int32)
    return images, labels, names


def load_tfds_lfw(
    *,
    image_size: int = 64,
    channels: int = 3,
    min_images: int = 1,
    data_dir: str | Path | None = None,
    split: str = "train",
    download: bool = True,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Reads LFW with `tfds.load("lfw")` into face arrays.

    Args:
        image_size: side S of the result.
        channels: 1 or 3.
        min_images: as `lfw_examples_to_arrays`.
        data_dir: tfds data folder (default: tfds' own,
            `~/tensorflow_datasets`).
        split: tfds split; LFW has only `"train"` (slices such as
            `"train[:10%]"` work).
        download: download and prepare LFW when missing (about 180 MB);
            otherwise a missing dataset is a `DataError`.
        progress: show a tqdm bar.

    Returns:
        `(images, labels, names)` as `lfw_examples_to_arrays`.

    Raises:
        DataError: LFW not prepared and `download=False`, or a bad split.

    Example:

    >>> images, labels, names = load_tfds_lfw(image_size=64, min_images=2)
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(
        "lfw", data_dir=None if data_dir is None else str(data_dir)
    )
    if download:
        builder.download_and_prepare()
    elif not builder.is_prepared():
        raise DataError(
            f"tfds 'lfw': not prepared in {builder.data_dir} (prepare it "
            "with `tfds build lfw`, or pass download=True)"
        )
    try:
        dataset = builder.as_dataset(split=split, shuffle_files=False)
    except Exception as err:  # unknown split names
        detail = " ".join(str(err).split())[:200]
        raise DataError(f"tfds 'lfw': bad split {split!r} ({detail})")
    return lfw_examples_to_arrays(
        tfds.as_numpy(dataset),
        image_size,
        channels=channels,
        min_images=min_images,
        progress=progress,
    )
