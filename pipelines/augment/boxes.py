"""Box-aware data augmentation for detection samples (pure, stateless tf ops).

Every op takes a sample `{"image", "boxes", "classes"}` and a `seed`, a
shape `(2,)` int32/int64 tensor, and returns a NEW dict (other keys pass
through; the input is never modified). All randomness comes from
`tf.random.stateless_*` ops, so the same seed always gives the same result,
eagerly or inside `tf.data.Dataset.map`.

Sample convention: `image` is float32 `(H, W, 3)` in `[0, 1]`; `boxes` is
float32 `(max_boxes, 4)` normalized `xyxy`, padded with zero rows; `classes`
is int32 `(max_boxes,)` padded with -1 (a row is valid where its class is
`>= 0`).

Geometric ops (`random_flip`, `random_rotation`, `random_crop`) move boxes
with the same random draw as the image. Rotation and crop then clip boxes to
the image and drop those with less than `min_visible` of their area left or
thinner than `min_size_px` pixels; dropped rows become zeros with class -1 and
the remaining valid rows are compacted to the front, in their original order.
Photometric ops (`color_shift`, `contrast`, `add_noise`, `cutout`) leave boxes
and classes untouched.

The ops hold no Python control flow on tensors, so they are marked
`do_not_convert`: AutoGraph would only slow tracing (about 1 s for
`augment_detection` on 2 cores).

Example:

```python
seeds = tf.data.Dataset.random(seed=7, rerandomize_each_iteration=True)
ds = tf.data.Dataset.zip(samples, seeds.batch(2))
ds = ds.map(
    lambda sample, seed: augment_detection(sample, seed),
    num_parallel_calls=tf.data.AUTOTUNE,
)
```
"""

import math

import tensorflow as tf


def _as_seed(seed):
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        seed = tf.cast(seed, tf.int64)
    return seed


def _split(seed, num):
    return tf.unstack(tf.random.experimental.stateless_split(seed, num))


def _check_sample(sample):
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


def _check_probability(probability):
    if not 0.0 <= probability <= 1.0:
        raise ValueError(
            "Expected 0 <= probability <= 1. "
            f"Received: probability={probability}"
        )


def _maybe_apply(fn, sample, seed, probability):
    """Applies `fn(sample, seed)` with the given probability."""
    _check_sample(sample)
    _check_probability(probability)
    seed = _as_seed(seed)
    if probability <= 0.0:
        return dict(sample)
    if probability >= 1.0:
        return fn(sample, seed)
    gate_seed, op_seed = _split(seed, 2)
    apply = tf.random.stateless_uniform([], gate_seed) < probability
    return tf.cond(apply, lambda: fn(sample, op_seed), lambda: dict(sample))


def _image_size(image):
    shape = tf.shape(image)
    return tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)


def _valid(classes):
    return classes >= 0


def _filter_boxes(boxes, classes, height, width, min_visible, min_size_px):
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
        _valid(classes)
        & (vis_w * vis_h >= min_visible * full_w * full_h)
        & (vis_w * width >= min_size_px)
        & (vis_h * height >= min_size_px)
    )
    order = tf.argsort(tf.cast(~keep, tf.int32), stable=True)
    boxes = tf.where(keep[:, None], clipped, tf.zeros_like(clipped))
    classes = tf.where(keep, classes, -tf.ones_like(classes))
    return tf.gather(boxes, order), tf.gather(classes, order)


def _warp(image, transform, fill_value, fill_mode):
    """Resamples `image` with a projective `transform` in pixel indices."""
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


@tf.autograph.experimental.do_not_convert
def random_flip(
    sample: dict, seed, *, probability: float = 0.5
) -> dict[str, tf.Tensor]:
    """Flips the image left-right, with its boxes.

    Args:
        sample: dict with `"image"` `(H, W, 3)`, `"boxes"` `(max_boxes, 4)`
            and `"classes"` `(max_boxes,)`.
        seed: shape `(2,)` int tensor for the stateless random draw.
        probability: chance of flipping.

    Returns:
        A new sample dict. Flipping is exact: `x_min' = 1 - x_max`,
        `x_max' = 1 - x_min` for valid rows; padding rows stay zero.
    """

    def flip(sample, seed):
        del seed
        boxes = sample["boxes"]
        flipped = tf.stack(
            [1.0 - boxes[:, 2], boxes[:, 1], 1.0 - boxes[:, 0], boxes[:, 3]],
            axis=-1,
        )
        valid = _valid(sample["classes"])[:, None]
        return {
            **sample,
            "image": tf.reverse(sample["image"], axis=[1]),
            "boxes": tf.where(valid, flipped, boxes),
            "classes": tf.identity(sample["classes"]),
        }

    return _maybe_apply(flip, sample, seed, probability)


@tf.autograph.experimental.do_not_convert
def random_rotation(
    sample: dict,
    seed,
    *,
    max_degrees: float = 10.0,
    probability: float = 1.0,
    fill_value: float = 0.5,
    min_visible: float = 0.25,
    min_size_px: float = 2.0,
) -> dict[str, tf.Tensor]:
    """Rotates the image about its centre by a random small angle.

    The angle is uniform in `[-max_degrees, max_degrees]`. Each box becomes
    the enclosing box of its 4 rotated corners (exact for rectangles, loose
    for round objects), clipped to the image; see the module docstring for
    how boxes are dropped.

    Args:
        sample: a sample dict (see the module docstring).
        seed: shape `(2,)` int tensor for the stateless random draw.
        max_degrees: largest rotation, in degrees.
        probability: chance of rotating.
        fill_value: value of pixels rotated in from outside the image.
        min_visible: smallest fraction of a box's area that must stay inside.
        min_size_px: smallest kept box width and height, in pixels.

    Returns:
        A new sample dict.
    """

    def rotate(sample, seed):
        image = sample["image"]
        height, width = _image_size(image)
        angle = tf.random.stateless_uniform(
            [], seed, -max_degrees, max_degrees
        ) * (math.pi / 180.0)
        cos, sin = tf.cos(angle), tf.sin(angle)
        cx, cy = width / 2.0, height / 2.0
        # Forward map in continuous pixel coordinates (y down):
        # p_out = R (p_in - c) + c. The op wants the inverse, in pixel
        # indices (pixel i has its centre at i + 0.5).
        transform = tf.stack(
            [
                cos,
                sin,
                cos * (0.5 - cx) + sin * (0.5 - cy) + cx - 0.5,
                -sin,
                cos,
                -sin * (0.5 - cx) + cos * (0.5 - cy) + cy - 0.5,
                0.0,
                0.0,
            ]
        )
        image = _warp(image, transform, fill_value, "CONSTANT")

        boxes = sample["boxes"]
        xs = tf.stack([boxes[:, 0], boxes[:, 2], boxes[:, 0], boxes[:, 2]], 1)
        ys = tf.stack([boxes[:, 1], boxes[:, 1], boxes[:, 3], boxes[:, 3]], 1)
        xs, ys = xs * width - cx, ys * height - cy
        rx = (cos * xs - sin * ys + cx) / width
        ry = (sin * xs + cos * ys + cy) / height
        moved = tf.stack(
            [
                tf.reduce_min(rx, 1),
                tf.reduce_min(ry, 1),
                tf.reduce_max(rx, 1),
                tf.reduce_max(ry, 1),
            ],
            axis=-1,
        )
        boxes, classes = _filter_boxes(
            moved, sample["classes"], height, width, min_visible, min_size_px
        )
        return {**sample, "image": image, "boxes": boxes, "classes": classes}

    return _maybe_apply(rotate, sample, seed, probability)


@tf.autograph.experimental.do_not_convert
def random_crop(
    sample: dict,
    seed,
    *,
    min_area: float = 0.5,
    max_aspect_change: float = 1.25,
    probability: float = 1.0,
    min_visible: float = 0.25,
    min_size_px: float = 2.0,
) -> dict[str, tf.Tensor]:
    """Crops a random window and resizes it back to the image size.

    The window covers a fraction of the image area uniform in
    `[min_area, 1]`; its width/height ratio, relative to the image's, is
    log-uniform in `[1 / max_aspect_change, max_aspect_change]`. Boxes are
    shifted and scaled with the window, clipped, and dropped as described in
    the module docstring.

    Args:
        sample: a sample dict (see the module docstring).
        seed: shape `(2,)` int tensor for the stateless random draw.
        min_area: smallest window area, as a fraction of the image, in
            `(0, 1]`.
        max_aspect_change: largest change of aspect ratio (`>= 1`).
        probability: chance of cropping.
        min_visible: smallest fraction of a box's area that must stay inside.
        min_size_px: smallest kept box width and height, in pixels.

    Returns:
        A new sample dict, its image the same size as the input's.
    """
    if not 0.0 < min_area <= 1.0:
        raise ValueError(
            f"Expected 0 < min_area <= 1. Received: min_area={min_area}"
        )
    if max_aspect_change < 1.0:
        raise ValueError(
            "Expected max_aspect_change >= 1. "
            f"Received: max_aspect_change={max_aspect_change}"
        )

    def crop(sample, seed):
        image = sample["image"]
        height, width = _image_size(image)
        draws = tf.random.stateless_uniform([4], seed)
        area = min_area + (1.0 - min_area) * draws[0]
        log_ratio = math.log(max_aspect_change) * (2.0 * draws[1] - 1.0)
        crop_w = tf.clip_by_value(tf.sqrt(area * tf.exp(log_ratio)), area, 1.0)
        crop_h = area / crop_w
        x0 = (1.0 - crop_w) * draws[2]
        y0 = (1.0 - crop_h) * draws[3]
        # Output continuous x maps to input x0 * W + x * crop_w; in pixel
        # indices (centres at i + 0.5) that adds the half-pixel offsets.
        transform = tf.stack(
            [
                crop_w,
                0.0,
                0.5 * crop_w + x0 * width - 0.5,
                0.0,
                crop_h,
                0.5 * crop_h + y0 * height - 0.5,
                0.0,
                0.0,
            ]
        )
        image = _warp(image, transform, 0.0, "NEAREST")
        offset = tf.stack([x0, y0, x0, y0])
        scale = tf.stack([crop_w, crop_h, crop_w, crop_h])
        moved = (sample["boxes"] - offset) / scale
        boxes, classes = _filter_boxes(
            moved, sample["classes"], height, width, min_visible, min_size_px
        )
        return {**sample, "image": image, "boxes": boxes, "classes": classes}

    return _maybe_apply(crop, sample, seed, probability)


@tf.autograph.experimental.do_not_convert
def color_shift(
    sample: dict,
    seed,
    *,
    max_shift: float = 0.08,
    max_hue: float = 0.03,
    max_saturation: float = 0.3,
    probability: float = 1.0,
) -> dict[str, tf.Tensor]:
    """Jitters hue and saturation, then shifts each channel.

    Args:
        sample: a sample dict (see the module docstring).
        seed: shape `(2,)` int tensor for the stateless random draw.
        max_shift: largest per-channel additive shift.
        max_hue: largest hue rotation, as a fraction of the colour wheel.
        max_saturation: saturation is scaled by a factor uniform in
            `[1 - max_saturation, 1 + max_saturation]`.
        probability: chance of applying.

    Returns:
        A new sample dict; boxes and classes unchanged.
    """

    def shift(sample, seed):
        draws = tf.random.stateless_uniform([5], seed, -1.0, 1.0)
        image = sample["image"]
        if max_hue > 0.0:
            image = tf.image.adjust_hue(image, max_hue * draws[0])
        if max_saturation > 0.0:
            factor = tf.maximum(1.0 + max_saturation * draws[1], 0.0)
            image = tf.image.adjust_saturation(image, factor)
        image = tf.clip_by_value(image + max_shift * draws[2:], 0.0, 1.0)
        return {**sample, "image": image}

    return _maybe_apply(shift, sample, seed, probability)


@tf.autograph.experimental.do_not_convert
def contrast(
    sample: dict, seed, *, max_delta: float = 0.3, probability: float = 1.0
) -> dict[str, tf.Tensor]:
    """Scales contrast about each channel's mean by a random factor.

    Args:
        sample: a sample dict (see the module docstring).
        seed: shape `(2,)` int tensor for the stateless random draw.
        max_delta: the factor is uniform in `[1 - max_delta, 1 + max_delta]`.
        probability: chance of applying.

    Returns:
        A new sample dict; boxes and classes unchanged.
    """

    def adjust(sample, seed):
        factor = tf.random.stateless_uniform(
            [], seed, max(1.0 - max_delta, 0.0), 1.0 + max_delta
        )
        image = tf.image.adjust_contrast(sample["image"], factor)
        return {**sample, "image": tf.clip_by_value(image, 0.0, 1.0)}

    return _maybe_apply(adjust, sample, seed, probability)


@tf.autograph.experimental.do_not_convert
def add_noise(
    sample: dict, seed, *, max_stddev: float = 0.04, probability: float = 1.0
) -> dict[str, tf.Tensor]:
    """Adds gaussian pixel noise with a random standard deviation.

    Args:
        sample: a sample dict (see the module docstring).
        seed: shape `(2,)` int tensor for the stateless random draw.
        max_stddev: the noise's standard deviation is uniform in
            `[0, max_stddev]`.
        probability: chance of applying.

    Returns:
        A new sample dict; boxes and classes unchanged.
    """

    def noise(sample, seed):
        std_seed, noise_seed = _split(seed, 2)
        image = sample["image"]
        stddev = tf.random.stateless_uniform([], std_seed, 0.0, max_stddev)
        image = image + stddev * tf.random.stateless_normal(
            tf.shape(image), noise_seed
        )
        return {**sample, "image": tf.clip_by_value(image, 0.0, 1.0)}

    return _maybe_apply(noise, sample, seed, probability)


@tf.autograph.experimental.do_not_convert
def cutout(
    sample: dict,
    seed,
    *,
    max_size: float = 0.3,
    fill_value: float = 0.5,
    probability: float = 1.0,
) -> dict[str, tf.Tensor]:
    """Fills a random rectangle with a constant (information loss).

    The rectangle's width and height are uniform in `[0, max_size]` of the
    image's, its centre uniform over the image (it may stick out).

    Args:
        sample: a sample dict (see the module docstring).
        seed: shape `(2,)` int tensor for the stateless random draw.
        max_size: largest side, as a fraction of the image side.
        fill_value: value written into the rectangle (0 black, 0.5 grey).
        probability: chance of applying.

    Returns:
        A new sample dict; boxes and classes unchanged.
    """

    def erase(sample, seed):
        image = sample["image"]
        height, width = _image_size(image)
        draws = tf.random.stateless_uniform([4], seed)
        half_w = 0.5 * max_size * draws[0]
        half_h = 0.5 * max_size * draws[1]
        xs = (tf.range(width) + 0.5) / width
        ys = (tf.range(height) + 0.5) / height
        inside_x = tf.abs(xs - draws[2]) < half_w
        inside_y = tf.abs(ys - draws[3]) < half_h
        mask = inside_y[:, None, None] & inside_x[None, :, None]
        image = tf.where(mask, tf.constant(fill_value, tf.float32), image)
        return {**sample, "image": image}

    return _maybe_apply(erase, sample, seed, probability)


@tf.autograph.experimental.do_not_convert
def augment_detection(
    sample: dict, seed, *, strength: float = 1.0
) -> dict[str, tf.Tensor]:
    """Chains the box-aware augmentations with default odds and magnitudes.

    Order and defaults at `strength=1` (probability, magnitude):
    flip (0.5), crop (0.5, `min_area=0.5`), rotation (0.5, 10 degrees),
    colour shift (0.8, shift 0.08, hue 0.03, saturation 0.3),
    contrast (0.5, 0.3), noise (0.3, stddev 0.04), cutout (0.3, side 0.3).
    Magnitudes scale with `strength`; probabilities scale with
    `min(strength, 1)`. `strength=0` returns the sample unchanged.

    Args:
        sample: a sample dict (see the module docstring).
        seed: shape `(2,)` int tensor; the same seed gives the same output.
        strength: non-negative scale of the whole policy.

    Returns:
        A new sample dict with the image in `[0, 1]`.

    Example:

    >>> out = augment_detection(sample, tf.constant([1, 2]), strength=0.5)
    """
    if not (strength >= 0.0 and math.isfinite(strength)):
        raise ValueError(
            f"Expected a finite strength >= 0. Received: strength={strength}"
        )
    _check_sample(sample)
    if strength == 0.0:
        return dict(sample)
    odds = min(strength, 1.0)
    seeds = _split(_as_seed(seed), 7)
    out = random_flip(sample, seeds[0], probability=0.5 * odds)
    out = random_crop(
        out,
        seeds[1],
        min_area=max(1.0 - 0.5 * strength, 0.1),
        probability=0.5 * odds,
    )
    out = random_rotation(
        out, seeds[2], max_degrees=10.0 * strength, probability=0.5 * odds
    )
    out = color_shift(
        out,
        seeds[3],
        max_shift=0.08 * strength,
        max_hue=min(0.03 * strength, 0.5),
        max_saturation=0.3 * strength,
        probability=0.8 * odds,
    )
    out = contrast(
        out, seeds[4], max_delta=0.3 * strength, probability=0.5 * odds
    )
    out = add_noise(
        out, seeds[5], max_stddev=0.04 * strength, probability=0.3 * odds
    )
    out = cutout(
        out,
        seeds[6],
        max_size=min(0.3 * strength, 1.0),
        probability=0.3 * odds,
    )
    return out
