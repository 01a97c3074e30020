"""tf.data pipelines for detection: samples -> (pixels, YOLO targets).

A source is a dict of padded numpy arrays (see `pipelines.synthetic.shapes`):
`images (N, S, S, 3) uint8`, `boxes (N, max_boxes, 4)` normalized xyxy and
`classes (N, max_boxes)` int32 padded with -1.
"""

import functools
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from layers.boxes.yolo_codec import encode_yolo_targets
from pipelines.augment.geometric import random_scale
from pipelines.augment.mosaic import apply_mosaic
from pipelines.augment.policy import augment_detection


def box_sizes(source: dict[str, np.ndarray]) -> np.ndarray:
    """`(n, 2)` (height, width) of every valid box, for anchor clustering."""
    valid = source["classes"] >= 0
    boxes = source["boxes"][valid]
    return np.stack(
        [boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]], axis=-1
    )


def box_targets(boxes: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
    """Targets of box-set losses (anchor-free heads): `[class, x0, y0, x1,
    y1]` rows, `(max_boxes, 5)`, padding rows with class -1."""
    return tf.concat(
        [tf.cast(classes, tf.float32)[:, None], tf.cast(boxes, tf.float32)],
        axis=-1,
    )


def build_detection_dataset(
    source: dict[str, np.ndarray],
    *,
    batch_size: int,
    training: bool,
    grid_size: int | None = None,
    anchors: list[list[float]] | None = None,
    num_classes: int | None = None,
    encode: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None = None,
    augment_strength: float = 1.0,
    mosaic: float = 0.0,
    scale_jitter: float = 0.0,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of `(images, targets)` for `model.fit`.

    Training shuffles every epoch, applies the box-aware augmentation of
    `pipelines.augment.policy` (seeded per element, new draws every epoch)
    and drops the last partial batch; evaluation keeps order and every
    sample.

    Args:
        source: the padded arrays described in the module docstring.
        batch_size: images per batch.
        training: shuffle, augment and drop the remainder.
        grid_size: G of the YOLO grid (with `anchors` and `num_classes`,
            when `encode` is not given).
        anchors: `(k, 2)` anchor (height, width) pairs.
        num_classes: p.
        encode: maps one sample's `(boxes, classes)` to its targets, e.g.
            `box_targets`; defaults to the YOLO grid encoder.
        augment_strength: scale of the augmentation policy (0 = none).
        mosaic: probability that a training sample becomes a mosaic of
            itself and three others (`pipelines.augment.mosaic`); the epoch
            keeps its length.
        scale_jitter: probability of a random zoom in [0.5, 1.5] about a
            random point (boxes move with it).
        seed: seed of shuffling and augmentation.

    Returns:
        A dataset of `(batch, S, S, 3)` float32 pixels in [0, 255] and
        batched targets (`(batch, G, G, k * (5 + p))` for the YOLO grid).
    """
    if encode is None:
        if grid_size is None or anchors is None or num_classes is None:
            raise ValueError(
                "Expected grid_size, anchors and num_classes, or encode. "
                f"Received: grid_size={grid_size}, anchors={anchors}, "
                f"num_classes={num_classes}"
            )
        encode = functools.partial(
            encode_yolo_targets,
            grid_size=grid_size,
            anchors=anchors,
            num_classes=num_classes,
        )
    n = len(source["images"])
    ds = tf.data.Dataset.from_tensor_slices(
        {k: source[k] for k in ("images", "boxes", "classes")}
    )
    if training:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(
        lambda item: {
            "image": tf.cast(item["images"], tf.float32) / 255.0,
            "boxes": item["boxes"],
            "classes": item["classes"],
        },
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if training and mosaic > 0:
        ds = apply_mosaic(
            ds,
            probability=mosaic,
            seed=seed,
            max_boxes=source["boxes"].shape[1],
        )
    if training:
        noise = tf.data.Dataset.random(
            seed=seed, rerandomize_each_iteration=True
        ).batch(2)
        ds = tf.data.Dataset.zip(ds, noise)
    else:
        ds = tf.data.Dataset.zip(
            ds, tf.data.Dataset.from_tensors(tf.zeros(2, tf.int64)).repeat()
        )

    def prepare(sample, pair_seed):
        if training and scale_jitter > 0:
            pair_seed, scale_seed = tf.unstack(
                tf.random.experimental.stateless_split(pair_seed, 2)
            )
            sample = random_scale(sample, scale_seed, probability=scale_jitter)
        if training and augment_strength > 0:
            sample = augment_detection(
                sample, pair_seed, strength=augment_strength
            )
        targets = encode(sample["boxes"], sample["classes"])
        return sample["image"] * 255.0, targets

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=training)
    return ds.prefetch(tf.data.AUTOTUNE)


def build_image_dataset(
    images: np.ndarray, *, batch_size: int
) -> tf.data.Dataset:
    """Batches of float32 pixels in [0, 255] for prediction, in order."""
    ds = tf.data.Dataset.from_tensor_slices(images)
    ds = ds.map(
        lambda x: tf.cast(x, tf.float32), num_parallel_calls=tf.data.AUTOTUNE
    )
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
