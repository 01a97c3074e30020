"""The detection sample every augmentation op takes, and its shared helpers.

A sample is a dict `{"image", "boxes", "classes"}` (other keys pass
through every op untouched): `image` is float32 `(H, W, 3)` in `[0, 1]`;
`boxes` is float32 `(max_boxes, 4)` normalized `xyxy`, padded with zero
rows; `classes` is int32 `(max_boxes,)` padded with -1 (a row is valid
where its class is `>= 0`).

An op takes a sample and a `seed`, a shape `(2,)` int32/int64 tensor, and
returns a NEW dict (the input is never modified). All randomness comes from
`tf.random.stateless_*` ops, so the same seed always gives the same result,
eagerly or inside `tf.data.Dataset.map`.

Ops that move boxes clip them to the image with `filter_boxes`: a box with
less than `min_visible` of its area left inside, or thinner than
`min_size_px` pixels, is dropped (its row becomes zeros with class -1) and
the remaining valid rows are compacted to the front, in their original
order.

Example:

```python
def darken(sample, seed):
    return {**sample, "image": 0.5 * sample["image"]}

out = maybe_apply(darken, sample, tf.constant([1, 2]), probability=0.5)
```
"""

from collections.abc import Callable

import tensorflow as tf


def as_seed(seed) -> tf.Tensor:
    """Converts a seed to an int32 or int64 tensor.

    Args:
        seed: shape `(2,)` seed (a tensor, array or list); other dtypes
            are cast to int64.

    Returns:
        The seed as an int32 or int64 tensor of shape `(2,)`.
    """
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        seed = tf.cast(seed, tf.int64)
    return seed


def split_seed(seed, num: int) -> list[tf.Tensor]:
    """Splits a stateless seed into `num` independent seeds.

    Args:
        seed: shape `(2,)` int tensor.
        num: number of seeds wanted (Python int).

    Returns:
        A list of `num` shape `(2,)` seeds.
    """
    return tf.unstack(tf.random.experimental.stateless_split(seed, num))


def check_sample(sample: dict) -> None:
    """Raises `ValueError` unless `sample` is a float32 sample dict.

    Args:
        sample: the dict to check (see the module docstring).
    """
    for key in ("image", "boxes", "classes"):
        if key not in sample:
            raise ValueError(
                "Expected a sample dict with keys 'image', 'boxes' and "
                f"'classes'. Received: keys={sorted(sample)}"
            )
    if sample["image"].dtype != tf.float32:
        raise ValueError(
            "Expected a float32 image with values in [0, 1]. "
            f"Received: image.dtype={sample['image'].dtype}"
        )


def check_probability(probability: float) -> None:
    """Raises `ValueError` unless `0 <= probability <= 1`."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(
            "Expected 0 <= probability <= 1. "
            f"Received: probability={probability}"
        )


def check_filter(min_visible: float, min_size_px: float) -> None:
    """Raises `ValueError` for arguments `filter_boxes` cannot use.

    Args:
        min_visible: must lie in `[0, 1]`.
        min_size_px: must be `>= 0`.
    """
    if not 0.0 <= min_visible <= 1.0:
        raise ValueError(
            "Expected 0 <= min_visible <= 1. "
            f"Received: min_visible={min_visible}"
        )
    if min_size_px < 0.0:
        raise ValueError(
            f"Expected min_size_px >= 0. Received: min_size_px={min_size_px}"
        )


def maybe_apply(
    fn: Callable[[dict, tf.Tensor], dict],
    sample: dict,
    seed,
    probability: float,
) -> dict[str, tf.Tensor]:
    """Applies `fn(sample, seed)` with the given probability.

    Args:
        fn: the op, called as `fn(sample, seed)`; returns a new sample.
        sample: a sample dict (see the module docstring).
        seed: shape `(2,)` int tensor; with `0 < probability < 1` it is
            split into the gate's seed and the seed passed to `fn`.
        probability: chance of applying `fn`, in `[0, 1]`.

    Returns:
        `fn`'s output, or a copy of `sample` when it was not applied.
    """
    check_sample(sample)
    check_probability(probability)
    seed = as_seed(seed)
    if probability <= 0.0:
        return dict(sample)
    if probability >= 1.0:
        return fn(sample, seed)
    gate_seed, op_seed = split_seed(seed, 2)
    apply = tf.random.stateless_uniform([], gate_seed) < probability
    return tf.cond(apply, lambda: fn(sample, op_seed), lambda: dict(sample))


def image_height_width(image) -> tuple[tf.Tensor, tf.Tensor]:
    """The height and width of an `(H, W, C)` image as float32 scalars."""
    shape = tf.shape(image)
    return tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)


def valid_rows(classes) -> tf.Tensor:
    """Boolean `(max_boxes,)` mask of the rows that hold a box."""
    return classes >= 0


def filter_boxes(
    boxes, classes, height, width, min_visible: float, min_size_px: float
) -> tuple[tf.Tensor, tf.Tensor]:
    """Clips, drops and compacts transformed boxes.

    Args:
        boxes: transformed, unclipped normalized `xyxy`, `(max_boxes, 4)`.
        classes: `(max_boxes,)`, -1 for padding.
        height: image height in pixels (float scalar tensor).
        width: image width in pixels (float scalar tensor).
        min_visible: smallest kept fraction of a box's area inside the image.
        min_size_px: smallest kept width and height, in pixels.

    Returns:
        `(boxes, classes)` with dropped rows zeroed, classes -1, and the kept
        rows first.
    """
    clipped = tf.clip_by_value(boxes, 0.0, 1.0)
    full_w = boxes[:, 2] - boxes[:, 0]
    full_h = boxes[:, 3] - boxes[:, 1]
    vis_w = clipped[:, 2] - clipped[:, 0]
    vis_h = clipped[:, 3] - clipped[:, 1]
    keep = (
        valid_rows(classes)
        & (vis_w * vis_h >= min_visible * full_w * full_h)
        & (vis_w * width >= min_size_px)
        & (vis_h * height >= min_size_px)
    )
    order = tf.argsort(tf.cast(~keep, tf.int32), stable=True)
    boxes = tf.where(keep[:, None], clipped, tf.zeros_like(clipped))
    classes = tf.where(keep, classes, -tf.ones_like(classes))
    return tf.gather(boxes, order), tf.gather(classes, order)


def warp_image(
    image, transform, fill_value: float, fill_mode: str
) -> tf.Tensor:
    """Resamples `image` with a projective `transform` in pixel indices.

    Args:
        image: float32 `(H, W, C)` in `[0, 1]`.
        transform: the 8 coefficients `[a0, a1, a2, b0, b1, b2, c0, c1]`
            of the INVERSE map, from output to input pixel indices, as
            `tf.raw_ops.ImageProjectiveTransformV3` takes them.
        fill_value: value of pixels mapped from outside the image (for
            `fill_mode="CONSTANT"`).
        fill_mode: `"CONSTANT"`, `"NEAREST"`, `"REFLECT"` or `"WRAP"`.

    Returns:
        The bilinear resampled image, same shape, clipped to `[0, 1]`.
    """
    shape = tf.shape(image)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=tf.reshape(tf.cast(transform, tf.float32), [1, 8]),
        output_shape=shape[:2],
        fill_value=tf.constant(fill_value, tf.float32),
        interpolation="BILINEAR",
        fill_mode=fill_mode,
    )[0]
    out = tf.clip_by_value(out, 0.0, 1.0)
    out.set_shape(image.shape)
    return out
