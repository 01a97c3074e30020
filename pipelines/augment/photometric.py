"""Photometric augmentation of detection samples: boxes stay put.

`color_shift`, `contrast`, `add_noise` and `cutout` change pixels only;
boxes and classes pass through unchanged. Samples and seeds follow
`pipelines.augment.sample`; each op returns a new dict and draws with
`tf.random.stateless_*` only.

The ops hold no Python control flow on tensors, so they are marked
`do_not_convert`: AutoGraph would only slow tracing.

Example:

```python
out = contrast(sample, tf.constant([1, 2]), max_delta=0.3, probability=0.5)
```
"""

import tensorflow as tf

from pipelines.augment.sample import image_height_width
from pipelines.augment.sample import maybe_apply
from pipelines.augment.sample import split_seed


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
        sample: a sample dict (see `pipelines.augment.sample`).
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

    return maybe_apply(shift, sample, seed, probability)


@tf.autograph.experimental.do_not_convert
def contrast(
    sample: dict, seed, *, max_delta: float = 0.3, probability: float = 1.0
) -> dict[str, tf.Tensor]:
    """Scales contrast about each channel's mean by a random factor.

    Args:
        sample: a sample dict (see `pipelines.augment.sample`).
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

    return maybe_apply(adjust, sample, seed, probability)


@tf.autograph.experimental.do_not_convert
def add_noise(
    sample: dict, seed, *, max_stddev: float = 0.04, probability: float = 1.0
) -> dict[str, tf.Tensor]:
    """Adds gaussian pixel noise with a random standard deviation.

    Args:
        sample: a sample dict (see `pipelines.augment.sample`).
        seed: shape `(2,)` int tensor for the stateless random draw.
        max_stddev: the noise's standard deviation is uniform in
            `[0, max_stddev]`.
        probability: chance of applying.

    Returns:
        A new sample dict; boxes and classes unchanged.
    """

    def noise(sample, seed):
        std_seed, noise_seed = split_seed(seed, 2)
        image = sample["image"]
        stddev = tf.random.stateless_uniform([], std_seed, 0.0, max_stddev)
        image = image + stddev * tf.random.stateless_normal(
            tf.shape(image), noise_seed
        )
        return {**sample, "image": tf.clip_by_value(image, 0.0, 1.0)}

    return maybe_apply(noise, sample, seed, probability)


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
        sample: a sample dict (see `pipelines.augment.sample`).
        seed: shape `(2,)` int tensor for the stateless random draw.
        max_size: largest side, as a fraction of the image side.
        fill_value: value written into the rectangle (0 black, 0.5 grey).
        probability: chance of applying.

    Returns:
        A new sample dict; boxes and classes unchanged.
    """

    def erase(sample, seed):
        image = sample["image"]
        height, width = image_height_width(image)
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

    return maybe_apply(erase, sample, seed, probability)
