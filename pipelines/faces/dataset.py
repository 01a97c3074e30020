"""Face images in memory and the `tf.data` pipelines that train on them.

Face datasets that fit a CPU (ORL: 400 images, Yale: 164, LFW: 13,233) are
decoded once into one uint8 array (`load_face_arrays`), and every epoch
after the first costs no decoding. Files are decoded by PIL (through
`tf.numpy_function`), so PGM and extension-less GIF files, which
`tf.io.decode_image` cannot read, are no special case. Every image then
goes through `pipelines.faces.prepare.prepare_face`, the same ops as the
exported model runs: centre square crop (aspect kept; ORL's 92x112 loses
10 rows top and bottom), area resize, ITU-R 601 grey when `channels == 1`.

Batches for online triplet mining are identity-balanced, P identities x K
images (`build_identity_batches`); the ArcFace head takes plain shuffled
batches (`build_classification_dataset`). Augmentation is plain `tf.image`
and one projective transform per image (flip, +-10 degree rotation, crop of
90-100 % of the side, brightness and contrast), drawn from stateless seeds.
"""

import sys

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from pipelines.faces.index import FaceIndex
from pipelines.faces.prepare import prepare_face
from pipelines.images import decode_image_file

MAX_ROTATION_DEGREES = 10.0
MIN_CROP_FRACTION = 0.9
MAX_BRIGHTNESS_DELTA = 0.1
CONTRAST_RANGE = (0.8, 1.2)


def _check_args(image_size: int, channels: int) -> None:
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(
            f"image_size must be a positive int. Received: "
            f"image_size={image_size!r}"
        )
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3. Received: {channels=}")


def _decode_rgb(path) -> np.ndarray:
    if isinstance(path, bytes):
        path = path.decode("utf-8")
    return decode_image_file(path)


def load_face_image(path, *, image_size: int, channels: int) -> tf.Tensor:
    """Reads one face image file inside a graph.

    PIL decodes the file (any format it knows, extension or not), then
    `prepare_face` crops the centre square and resizes it.

    Args:
        path: scalar string tensor (or `str`).
        image_size: side S of the result.
        channels: 1 (grey) or 3 (RGB).

    Returns:
        uint8 tensor `(S, S, channels)`.

    Example:

    >>> ds = tf.data.Dataset.from_tensor_slices(list(index.paths)).map(
    ...     lambda p: load_face_image(p, image_size=64, channels=1),
    ...     num_parallel_calls=tf.data.AUTOTUNE)
    """
    _check_args(image_size, channels)
    image = tf.numpy_function(_decode_rgb, [path], tf.uint8, stateful=False)
    image.set_shape([None, None, 3])
    return prepare_face(image, image_size, channels)


def load_face_arrays(
    index: FaceIndex,
    *,
    image_size: int,
    channels: int,
    progress: bool | None = None,
) -> np.ndarray:
    """Decodes every image of an index once (`load_face_image` in a
    parallel `tf.data` map).

    Args:
        index: from `pipelines.faces.folders`.
        image_size: side S.
        channels: 1 or 3.
        progress: show a tqdm bar; default when stderr is a terminal.

    Returns:
        uint8 array `(N, S, S, channels)` in `index.paths` order; the labels
        are `np.asarray(index.labels, np.int32)`.

    Raises:
        ImageReadError: a file is not a readable image (names the path).

    Example:

    >>> images = load_face_arrays(index, image_size=64, channels=1)
    """
    _check_args(image_size, channels)
    if progress is None:
        progress = sys.stderr.isatty()
    out = np.zeros((len(index), image_size, image_size, channels), np.uint8)
    if not len(index):
        return out
    batch = 64
    data = (
        tf.data.Dataset.from_tensor_slices(list(index.paths))
        .map(
            lambda p: load_face_image(
                p, image_size=image_size, channels=channels
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        .batch(batch)
        .prefetch(tf.data.AUTOTUNE)
    )
    bar = tqdm(total=len(index), desc="faces", disable=not progress)
    try:
        for i, images in enumerate(data):
            out[i * batch : i * batch + len(images)] = images.numpy()
            bar.update(len(images))
    except tf.errors.OpError:
        # Name the file in one line rather than show TensorFlow's trace.
        for path in index.paths:
            decode_image_file(path)
        raise
    finally:
        bar.close()
    return out


def _check_images(images, labels) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(
            "images must be uint8 (N, S, S, C). Received: "
            f"dtype={images.dtype}, shape={images.shape}"
        )
    if labels.shape != (len(images),) or not np.issubdtype(
        labels.dtype, np.integer
    ):
        raise ValueError(
            f"labels must be {len(images)} integers, one per image. "
            f"Received: dtype={labels.dtype}, shape={labels.shape}"
        )
    return images, labels.astype(np.int32)


def _to_float(images):
    return tf.cast(images, tf.float32) / 255.0


def augment_face_batch(images, seed) -> tf.Tensor:
    """Random flip, rotation, crop/scale, brightness and contrast.

    Each image gets its own draw; the same `seed` gives the same result.

    Args:
        images: float32 `(B, S, S, C)` in `[0, 1]`.
        seed: int tensor `(2,)` for the stateless random ops.

    Returns:
        float32 `(B, S, S, C)` in `[0, 1]`.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    shape = tf.shape(images)
    batch = shape[0]
    height = tf.cast(shape[1], tf.float32)
    width = tf.cast(shape[2], tf.float32)
    draw = tf.random.stateless_uniform([batch, 7], seed=seed)
    flip = draw[:, 0] < 0.5
    images = tf.where(flip[:, None, None, None], images[:, :, ::-1], images)
    # Output pixel p samples the input at c + t + s R(angle) (p - c).
    angle = (2.0 * draw[:, 1] - 1.0) * np.deg2rad(MAX_ROTATION_DEGREES)
    scale = MIN_CROP_FRACTION + (1.0 - MIN_CROP_FRACTION) * draw[:, 2]
    slack = (1.0 - scale) / 2.0
    shift_x = (2.0 * draw[:, 3] - 1.0) * slack * width
    shift_y = (2.0 * draw[:, 4] - 1.0) * slack * height
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    a0, a1 = scale * tf.cos(angle), -scale * tf.sin(angle)
    b0, b1 = scale * tf.sin(angle), scale * tf.cos(angle)
    zeros = tf.zeros_like(angle)
    transforms = tf.stack(
        [
            a0,
            a1,
            cx + shift_x - a0 * cx - a1 * cy,
            b0,
            b1,
            cy + shift_y - b0 * cx - b1 * cy,
            zeros,
            zeros,
        ],
        axis=1,
    )
    images = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=shape[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    low, high = CONTRAST_RANGE
    contrast = low + (high - low) * draw[:, 5]
    brightness = (2.0 * draw[:, 6] - 1.0) * MAX_BRIGHTNESS_DELTA
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    images = (images - mean) * contrast[:, None, None, None] + mean
    images = images + brightness[:, None, None, None]
    return tf.clip_by_value(images, 0.0, 1.0)


def _seeds(seed: int) -> tf.data.Dataset:
    """Per-batch stateless seeds `(2,)`: new ones on each pass, fixed by
    `seed` (and the global seed, as every `tf.data` seed)."""
    return tf.data.Dataset.random(
        seed=seed, rerandomize_each_iteration=True
    ).map(lambda x: tf.stack([x, tf.constant(seed, tf.int64)]))


def build_identity_batches(
    images,
    labels,
    *,
    identities_per_batch: int,
    images_per_identity: int,
    augment: bool,
    seed: int,
    steps_per_epoch: int | None = None,
) -> tf.data.Dataset:
    """Identity-balanced P x K batches for online triplet mining.

    Each batch draws P identities without replacement, then K images of
    each: without replacement, or with replacement when the identity has
    fewer than K images (an identity with one image then gives augmented
    copies as positives). Every identity is eligible.

    Args:
        images: uint8 `(N, S, S, C)`.
        labels: int `(N,)`, any identity ids.
        identities_per_batch: P, at least 2 (negatives need another
            identity) and at most the number of identities.
        images_per_identity: K, at least 2 (anchors need a positive).
        augment: apply `augment_face_batch`.
        seed: fixes the draws; each pass over the dataset (each epoch)
            draws new batches, the same sequence on every run.
        steps_per_epoch: batches per pass; default `N // (P * K)`, at
            least 1.

    Returns:
        A `tf.data.Dataset` of `(images, labels)`: float32
        `(P * K, S, S, C)` in `[0, 1]`, int32 `(P * K,)`, identity-major
        (the K images of one identity are adjacent).

    Example:

    >>> ds = build_identity_batches(images, labels, identities_per_batch=8,
    ...                             images_per_identity=4, augment=True,
    ...                             seed=0)
    """
    images, labels = _check_images(images, labels)
    ids, inverse, counts = np.unique(
        labels, return_inverse=True, return_counts=True
    )
    p, k = identities_per_batch, images_per_identity
    if not isinstance(p, int) or not 2 <= p <= len(ids):
        raise ValueError(
            f"identities_per_batch must be in 2..{len(ids)} (the number of "
            f"identities). Received: identities_per_batch={p!r}"
        )
    if not isinstance(k, int) or k < 2:
        raise ValueError(
            "images_per_identity must be an int >= 2. Received: "
            f"images_per_identity={k!r}"
        )
    if steps_per_epoch is None:
        steps_per_epoch = max(1, len(images) // (p * k))
    if steps_per_epoch < 1:
        raise ValueError(
            f"steps_per_epoch must be >= 1. Received: {steps_per_epoch=}"
        )
    # table[i, j]: row of the j-th image of identity i (padding repeats).
    width = max(int(counts.max()), k)
    table = np.zeros((len(ids), width), np.int64)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for i, (start, count) in enumerate(zip(starts, counts)):
        table[i, :count] = order[start : start + count]
    table = tf.constant(table)
    counts_t = tf.constant(counts, tf.int64)
    images_t = tf.constant(images)
    labels_t = tf.constant(labels)
    num_ids = len(ids)

    def sample(step_seed):
        keys = tf.random.stateless_uniform([num_ids], seed=step_seed)
        chosen = tf.math.top_k(keys, p).indices
        count = tf.gather(counts_t, chosen)
        columns = tf.range(width, dtype=tf.int64)[None, :]
        keys = tf.random.stateless_uniform([p, width], seed=step_seed + 1)
        keys = tf.where(columns < count[:, None], keys, 2.0)
        without = tf.cast(tf.math.top_k(-keys, k).indices, tf.int64)
        draw = tf.random.stateless_uniform([p, k], seed=step_seed + 2)
        count_f = tf.cast(count[:, None], tf.float32)
        with_repl = tf.minimum(
            tf.cast(tf.floor(draw * count_f), tf.int64), count[:, None] - 1
        )
        cols = tf.where(count[:, None] >= k, without, with_repl)
        rows = tf.gather(table, chosen)
        picked = tf.reshape(tf.gather(rows, cols, batch_dims=1), [-1])
        batch = _to_float(tf.gather(images_t, picked))
        if augment:
            batch = augment_face_batch(batch, step_seed + 3)
        return batch, tf.gather(labels_t, picked)

    return (
        _seeds(seed)
        .take(steps_per_epoch)
        .map(sample, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def build_eval_dataset(images, labels, *, batch_size: int) -> tf.data.Dataset:
    """Batches in index order, without augmentation.

    Args:
        images: uint8 `(N, S, S, C)`.
        labels: int `(N,)`.
        batch_size: images per batch (the last batch may be smaller).

    Returns:
        A `tf.data.Dataset` of float32 `(B, S, S, C)` in `[0, 1]` and int32
        `(B,)`.
    """
    images, labels = _check_images(images, labels)
    return (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .batch(batch_size)
        .map(
            lambda x, y: (_to_float(x), y),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .prefetch(tf.data.AUTOTUNE)
    )


def build_classification_dataset(
    images, labels, *, batch_size: int, augment: bool, seed: int
) -> tf.data.Dataset:
    """Shuffled plain batches (for the ArcFace head, which needs no P x K).

    Args:
        images: uint8 `(N, S, S, C)`.
        labels: int `(N,)`, class ids as the head expects them.
        batch_size: images per batch (the last batch may be smaller).
        augment: apply `augment_face_batch`.
        seed: fixes the shuffle and augmentation; each pass reshuffles.

    Returns:
        A `tf.data.Dataset` of float32 `(B, S, S, C)` in `[0, 1]` and int32
        `(B,)`.
    """
    images, labels = _check_images(images, labels)
    data = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
    )

    def prepare(batch, step_seed):
        x, y = batch
        x = _to_float(x)
        if augment:
            x = augment_face_batch(x, step_seed)
        return x, y

    return (
        tf.data.Dataset.zip((data, _seeds(seed)))
        .map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
