"""The default augmentation policy of a detection sample.

`augment_detection` chains the geometric ops (`pipelines.augment.geometric`:
flip, crop, rotation) and the photometric ones
(`pipelines.augment.photometric`: colour shift, contrast, noise, cutout)
with default odds and magnitudes scaled by one `strength`. Samples and
seeds follow `pipelines.augment.sample`.

The chain holds no Python control flow on tensors, so it is marked
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

from pipelines.augment.geometric import random_crop
from pipelines.augment.geometric import random_flip
from pipelines.augment.geometric import random_rotation
from pipelines.augment.photometric import add_noise
from pipelines.augment.photometric import color_shift
from pipelines.augment.photometric import contrast
from pipelines.augment.photometric import cutout
from pipelines.augment.sample import as_seed
from pipelines.augment.sample import check_sample
from pipelines.augment.sample import split_seed


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
        sample: a sample dict (see `pipelines.augment.sample`).
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
    check_sample(sample)
    if strength == 0.0:
        return dict(sample)
    odds = min(strength, 1.0)
    seeds = split_seed(as_seed(seed), 7)
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
