"""Geometric augmentation of detection samples: ops that move boxes.

`random_flip`, `random_rotation`, `random_crop`, `scale_about` and
`random_scale` move the boxes with the same random draw as the image.
Samples, seeds and the clipping and dropping of boxes that leave the image
follow `pipelines.augment.sample`; each op returns a new dict and draws
with `tf.random.stateless_*` only.

The ops hold no Python control flow on tensors, so they are marked
`do_not_convert`: AutoGraph would only slow tracing.

Example:

```python
out = random_flip(sample, tf.constant([1, 2]), probability=0.5)
out = random_scale(out, tf.constant([3, 4]), min_scale=0.5, max_scale=1.5)
```
"""

import math

import tensorflow as tf

from pipelines.augment.sample import check_filter
from pipelines.augment.sample import check_sample
from pipelines.augment.sample import filter_boxes
from pipelines.augment.sample import image_height_width
from pipelines.augment.sample import maybe_apply
from pipelines.augment.sample import valid_rows
from pipelines.augment.sample import warp_image


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
        valid = valid_rows(sample["classes"])[:, None]
        return {
            **sample,
            "image": tf.reverse(sample["image"], axis=[1]),
            "boxes": tf.where(valid, flipped, boxes),
            "classes": tf.identity(sample["classes"]),
        }

    return maybe_apply(flip, sample, seed, probability)


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
    for round objects), clipped to the image and dropped by
    `pipelines.augment.sample.filter_boxes`.

    Args:
        sample: a sample dict (see `pipelines.augment.sample`).
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
        height, width = image_height_width(image)
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
        image = warp_image(image, transform, fill_value, "CONSTANT")

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
        boxes, classes = filter_boxes(
            moved, sample["classes"], height, width, min_visible, min_size_px
        )
        return {**sample, "image": image, "boxes": boxes, "classes": classes}

    return maybe_apply(rotate, sample, seed, probability)


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
    shifted and scaled with the window, then clipped and dropped by
    `pipelines.augment.sample.filter_boxes`.

    Args:
        sample: a sample dict (see `pipelines.augment.sample`).
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
        height, width = image_height_width(image)
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
        image = warp_image(image, transform, 0.0, "NEAREST")
        offset = tf.stack([x0, y0, x0, y0])
        scale = tf.stack([crop_w, crop_h, crop_w, crop_h])
        moved = (sample["boxes"] - offset) / scale
        boxes, classes = filter_boxes(
            moved, sample["classes"], height, width, min_visible, min_size_px
        )
        return {**sample, "image": image, "boxes": boxes, "classes": classes}

    return maybe_apply(crop, sample, seed, probability)


@tf.autograph.experimental.do_not_convert
def scale_about(
    sample: dict,
    *,
    scale,
    centre,
    fill_value: float = 0.5,
    min_visible: float = 0.25,
    min_size_px: float = 2.0,
) -> dict[str, tf.Tensor]:
    """Zooms the image by `scale` about a fixed point; output size unchanged.

    A point `p` (normalized) moves to `centre + scale * (p - centre)`: the
    same map for pixels and boxes. `scale < 1` zooms out and pads with
    `fill_value`; `scale > 1` zooms in and crops. Boxes are clipped and
    dropped by `pipelines.augment.sample.filter_boxes`.

    Args:
        sample: a sample dict (see `pipelines.augment.sample`).
        scale: positive scalar (float or tensor).
        centre: the fixed point `(x, y)`, normalized, shape `(2,)`.
        fill_value: value of the pixels zoomed in from outside the image.
        min_visible: smallest fraction of a box's area that must stay inside.
        min_size_px: smallest kept box width and height, in pixels.

    Returns:
        A new sample dict, its image the same size as the input's.
    """
    check_sample(sample)
    check_filter(min_visible, min_size_px)
    image = sample["image"]
    height, width = image_height_width(image)
    scale = tf.cast(scale, tf.float32)
    centre = tf.cast(tf.convert_to_tensor(centre), tf.float32)
    px, py = centre[0] * width, centre[1] * height
    # x_out = px + scale * (x_in - px), inverted, in pixel indices.
    transform = tf.stack(
        [
            1.0 / scale,
            0.0,
            (0.5 - px) / scale + px - 0.5,
            0.0,
            1.0 / scale,
            (0.5 - py) / scale + py - 0.5,
            0.0,
            0.0,
        ]
    )
    image = warp_image(image, transform, fill_value, "CONSTANT")
    point = tf.stack([centre[0], centre[1], centre[0], centre[1]])
    moved = point + scale * (tf.cast(sample["boxes"], tf.float32) - point)
    boxes, classes = filter_boxes(
        moved, sample["classes"], height, width, min_visible, min_size_px
    )
    return {**sample, "image": image, "boxes": boxes, "classes": classes}


@tf.autograph.experimental.do_not_convert
def random_scale(
    sample: dict,
    seed,
    *,
    min_scale: float = 0.5,
    max_scale: float = 1.5,
    probability: float = 1.0,
    fill_value: float = 0.5,
    min_visible: float = 0.25,
    min_size_px: float = 2.0,
) -> dict[str, tf.Tensor]:
    """Scale jitter: zooms in or out about a random point (`scale_about`).

    The scale is uniform in `[min_scale, max_scale]` (as YOLOv5's
    `scale` hyper-parameter), the fixed point uniform over the image.

    Args:
        sample: a sample dict (see `pipelines.augment.sample`).
        seed: shape `(2,)` int tensor for the stateless random draw.
        min_scale: smallest scale (`> 0`); below 1 zooms out.
        max_scale: largest scale (`>= min_scale`); above 1 zooms in.
        probability: chance of applying.
        fill_value: value of padded pixels (0.5 grey).
        min_visible: smallest fraction of a box's area that must stay inside.
        min_size_px: smallest kept box width and height, in pixels.

    Returns:
        A new sample dict, its image the same size as the input's.
    """
    if not 0.0 < min_scale <= max_scale:
        raise ValueError(
            "Expected 0 < min_scale <= max_scale. Received: "
            f"min_scale={min_scale}, max_scale={max_scale}"
        )
    check_filter(min_visible, min_size_px)

    def zoom(sample, seed):
        draws = tf.random.stateless_uniform([3], seed)
        return scale_about(
            sample,
            scale=min_scale + (max_scale - min_scale) * draws[0],
            centre=draws[1:],
            fill_value=fill_value,
            min_visible=min_visible,
            min_size_px=min_size_px,
        )

    return maybe_apply(zoom, sample, seed, probability)
