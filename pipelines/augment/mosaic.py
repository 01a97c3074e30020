"""Mosaic for detection samples (pure, stateless tf ops).

Samples and seeds follow `pipelines.augment.sample`: a sample is
`{"image": float32 (H, W, 3) in [0, 1], "boxes": float32 (max_boxes, 4)
normalized xyxy zero-padded, "classes": int32 (max_boxes,) padded -1}`, ops
take a shape `(2,)` int `seed` for `tf.random.stateless_*` draws and return
a NEW dict (other keys pass through). Moved boxes are clipped to the image,
dropped when less than `min_visible` of their area stays inside or when
thinner than `min_size_px` pixels, and the kept rows are compacted to the
front (`pipelines.augment.sample.filter_boxes`).

- `mosaic`: YOLOv4/v5 mosaic of 4 samples into one.
- `apply_mosaic`: the tf.data transformation that builds mosaics from an
  unbatched, shuffled dataset without changing its length.

Scale jitter (`random_scale`) lives with the other box-moving ops in
`pipelines.augment.geometric`.

When a result has more valid boxes than rows (a mosaic gathers up to
`4 * max_boxes`), the `max_boxes` LARGEST-AREA boxes are kept (ties: the
earlier row), in their original order: the boxes of `samples[0]` first.

Example:

```python
ds = apply_mosaic(samples, probability=1.0, seed=7, max_boxes=32)
```
"""

import tensorflow as tf

from pipelines.augment.sample import as_seed
from pipelines.augment.sample import check_filter
from pipelines.augment.sample import check_probability
from pipelines.augment.sample import filter_boxes
from pipelines.augment.sample import split_seed

_KEYS = ("image", "boxes", "classes")
# Folded into the user's seed so that mosaic draws differ from those of
# other stages fed by the same `Dataset.random(seed)` stream.
_MOSAIC_STREAM = 0x6D6F73


def _fit_rows(boxes, classes, max_boxes):
    """Keeps the `max_boxes` largest valid boxes, compacted and padded.

    Args:
        boxes: clipped normalized `xyxy`, `(rows, 4)`.
        classes: `(rows,)`, -1 for padding.
        max_boxes: number of output rows (Python int).

    Returns:
        `(boxes, classes)` of `(max_boxes, 4)` and `(max_boxes,)`: valid
        rows first, in their input order, then zero rows with class -1.
    """
    valid = classes >= 0
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    score = tf.where(valid, area, -1.0)
    k = tf.minimum(tf.shape(classes)[0], max_boxes)
    # top_k puts the lower index first among ties; sorting the picked
    # indices restores the input order, the stable argsort compacts.
    index = tf.sort(tf.math.top_k(score, k=k).indices)
    boxes = tf.gather(boxes, index)
    classes = tf.gather(classes, index)
    order = tf.argsort(tf.cast(classes < 0, tf.int32), stable=True)
    boxes = tf.gather(boxes, order)
    classes = tf.gather(classes, order)
    boxes = tf.where((classes >= 0)[:, None], boxes, tf.zeros_like(boxes))
    pad = max_boxes - k
    boxes = tf.pad(boxes, [[0, pad], [0, 0]])
    classes = tf.pad(classes, [[0, pad]], constant_values=-1)
    boxes.set_shape([max_boxes, 4])
    classes.set_shape([max_boxes])
    return boxes, classes


def _check_centre(min_centre, max_centre):
    if not 0.0 < min_centre <= max_centre < 1.0:
        raise ValueError(
            "Expected 0 < min_centre <= max_centre < 1. Received: "
            f"min_centre={min_centre}, max_centre={max_centre}"
        )


@tf.autograph.experimental.do_not_convert
def mosaic(
    samples: dict,
    seed,
    *,
    min_centre: float = 0.25,
    max_centre: float = 0.75,
    max_boxes: int | None = None,
    min_visible: float = 0.25,
    min_size_px: float = 2.0,
) -> dict[str, tf.Tensor]:
    """Tiles 4 samples around a random centre (YOLOv4/v5 mosaic).

    The centre `(cx, cy)` is uniform in `[min_centre, max_centre]` of the
    width and height (each drawn separately), rounded to whole pixels. It
    splits the `H x W` canvas into 4 quadrants: `samples[0]` top-left, `[1]`
    top-right, `[2]` bottom-left, `[3]` bottom-right. Each image keeps its
    aspect ratio and is scaled by `max(quadrant_w / W, quadrant_h / H)`, the
    smallest scale that covers its quadrant, with its corner on the centre:
    the part beyond the canvas edge is cropped (no padding is ever visible).
    The scale lies in `[0.5, max(max_centre, 1 - min_centre)]`, so
    `[0.5, 0.75]` for the defaults. Each image is resampled straight into
    its quadrant with an antialiased bilinear (triangle) kernel. Boxes get
    the same scale and shift, are clipped to the canvas (which is clipping
    to their quadrant) and filtered as in the module docstring.

    Args:
        samples: dict of stacked samples: `"image"` `(4, H, W, 3)` float32,
            `"boxes"` `(4, rows, 4)`, `"classes"` `(4, rows)`. Other keys
            are taken from `samples[0]`.
        seed: shape `(2,)` int tensor for the stateless random draw.
        min_centre: smallest centre coordinate, a fraction of the side.
        max_centre: largest centre coordinate, a fraction of the side.
        max_boxes: output rows; defaults to `rows`. When more boxes survive,
            the largest-area ones are kept, in order (`samples[0]`'s first).
        min_visible: smallest fraction of a box's area that must stay inside.
        min_size_px: smallest kept box width and height, in pixels.

    Returns:
        A sample dict: `"image"` `(H, W, 3)`, `"boxes"` `(max_boxes, 4)`,
        `"classes"` `(max_boxes,)`.

    Example:

    >>> stacked = {k: tf.stack([s[k] for s in four]) for k in four[0]}
    >>> out = mosaic(stacked, tf.constant([3, 4]))
    """
    for key in _KEYS:
        if key not in samples:
            raise ValueError(
                "Expected stacked samples with keys 'image', 'boxes' and "
                f"'classes'. Received: keys={sorted(samples)}"
            )
    images = tf.convert_to_tensor(samples["image"])
    if images.dtype != tf.float32:
        raise ValueError(
            "Expected float32 images with values in [0, 1]. "
            f"Received: image.dtype={images.dtype}"
        )
    if images.shape.rank is not None and images.shape.rank != 4:
        raise ValueError(
            "Expected stacked images of shape (4, H, W, 3). "
            f"Received: image.shape={images.shape}"
        )
    if images.shape[0] is not None and images.shape[0] != 4:
        raise ValueError(
            f"Expected 4 stacked samples. Received: {images.shape[0]}"
        )
    _check_centre(min_centre, max_centre)
    check_filter(min_visible, min_size_px)
    rows = samples["classes"].shape[-1]
    if max_boxes is None:
        if rows is None:
            raise ValueError(
                "Expected max_boxes when the number of box rows is unknown. "
                "Received: max_boxes=None"
            )
        max_boxes = rows
    if max_boxes < 1:
        raise ValueError(f"Expected max_boxes >= 1. Received: {max_boxes}")

    shape = tf.shape(images)
    height = tf.cast(shape[1], tf.float32)
    width = tf.cast(shape[2], tf.float32)
    draws = tf.random.stateless_uniform(
        [2], as_seed(seed), min_centre, max_centre
    )
    # Whole pixels, at least one from each edge: no quadrant is empty.
    cx = tf.clip_by_value(tf.round(draws[0] * width), 1.0, width - 1.0)
    cy = tf.clip_by_value(tf.round(draws[1] * height), 1.0, height - 1.0)

    left = tf.constant([True, False, True, False])
    top = tf.constant([True, True, False, False])
    quad_w = tf.where(left, cx, width - cx)
    quad_h = tf.where(top, cy, height - cy)
    scale = tf.maximum(quad_w / width, quad_h / height)
    # Forward map in continuous pixels: x_out = scale * x_in + tx.
    tx = tf.where(left, cx - scale * width, cx)
    ty = tf.where(top, cy - scale * height, cy)
    # Each image is resampled into its quadrant only (one canvas of work,
    # not four), whose pixel (0, 0) is canvas pixel (ox, oy). The op maps
    # continuous coordinates out = scale * in + translation and filters
    # with a triangle (bilinear) kernel widened when shrinking (antialias).
    ox = tf.where(left, 0.0, cx)
    oy = tf.where(top, 0.0, cy)
    sizes = tf.cast(tf.stack([quad_h, quad_w], axis=1), tf.int32)
    tiles = [
        tf.raw_ops.ScaleAndTranslate(
            images=images[i : i + 1],
            size=sizes[i],
            scale=tf.stack([scale[i], scale[i]]),
            translation=tf.stack([ty[i] - oy[i], tx[i] - ox[i]]),
            kernel_type="triangle",
            antialias=True,
        )[0]
        for i in range(4)
    ]
    canvas = tf.concat(
        [tf.concat(tiles[:2], axis=1), tf.concat(tiles[2:], axis=1)], axis=0
    )
    canvas = tf.clip_by_value(canvas, 0.0, 1.0)
    canvas.set_shape(images.shape[1:])

    boxes = tf.cast(samples["boxes"], tf.float32)
    shift = tf.stack([tx / width, ty / height, tx / width, ty / height], 1)
    moved = scale[:, None, None] * boxes + shift[:, None, :]
    classes = tf.cast(samples["classes"], tf.int32)
    moved, classes = filter_boxes(
        tf.reshape(moved, [-1, 4]),
        tf.reshape(classes, [-1]),
        height,
        width,
        min_visible,
        min_size_px,
    )
    boxes, classes = _fit_rows(moved, classes, max_boxes)
    out = {k: v[0] for k, v in samples.items() if k not in _KEYS}
    out.update(image=canvas, boxes=boxes, classes=classes)
    return out


def apply_mosaic(
    dataset: tf.data.Dataset,
    *,
    probability: float,
    seed: int,
    max_boxes: int,
    pool_size: int = 16,
    min_centre: float = 0.25,
    max_centre: float = 0.75,
    min_visible: float = 0.25,
    min_size_px: float = 2.0,
) -> tf.data.Dataset:
    """Replaces samples by mosaics, one output per input sample.

    The (already shuffled) dataset is cut into pools of `pool_size`
    consecutive samples. For the j-th sample of a pool, with probability
    `probability`, the output is the mosaic of that sample and 3 other
    distinct samples of the pool, drawn at random, in a random quadrant
    order; otherwise it is the sample itself. So an epoch keeps its number
    of samples, every sample appears in about `4 * probability` mosaics and
    leads one. A last pool of fewer than 4 samples passes through. All draws
    come from `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)`
    (folded with a constant): the same seed gives the same outputs, and each
    epoch draws anew.

    Args:
        dataset: unbatched samples (see the module docstring); other keys
            follow the leading sample.
        probability: chance that an output is a mosaic.
        seed: Python int seed of the draws.
        max_boxes: box rows of every output (mosaic or not); extra boxes
            are dropped smallest-area first, missing rows padded.
        pool_size: samples from which each mosaic's partners are drawn
            (`>= 4`).
        min_centre: see `mosaic`.
        max_centre: see `mosaic`.
        min_visible: see `mosaic`.
        min_size_px: see `mosaic`.

    Returns:
        A dataset of samples, as many as `dataset` has, with `(max_boxes, 4)`
        boxes and `(max_boxes,)` classes.

    Example:

    >>> ds = apply_mosaic(ds, probability=0.5, seed=0, max_boxes=32)
    """
    check_probability(probability)
    _check_centre(min_centre, max_centre)
    check_filter(min_visible, min_size_px)
    if pool_size < 4:
        raise ValueError(f"Expected pool_size >= 4. Received: {pool_size}")
    if max_boxes < 1:
        raise ValueError(f"Expected max_boxes >= 1. Received: {max_boxes}")
    spec = dataset.element_spec
    if not isinstance(spec, dict) or any(k not in spec for k in _KEYS):
        raise ValueError(
            "Expected a dataset of sample dicts with keys 'image', 'boxes' "
            f"and 'classes'. Received: element_spec={spec}"
        )
    if spec["image"].dtype != tf.float32:
        raise ValueError(
            "Expected float32 images with values in [0, 1]. "
            f"Received: image.dtype={spec['image'].dtype}"
        )

    seeds = tf.data.Dataset.random(
        seed=seed, rerandomize_each_iteration=True
    ).batch(2)
    pools = tf.data.Dataset.zip(dataset.batch(pool_size), seeds)

    def plan(pool, pool_seed):
        pool_seed = tf.random.experimental.stateless_fold_in(
            pool_seed, _MOSAIC_STREAM
        )
        gate_seed, pick_seed, order_seed, op_seed = split_seed(pool_seed, 4)
        n = tf.shape(pool["classes"])[0]
        gates = tf.random.stateless_uniform([n], gate_seed) < probability
        gates &= n >= 4
        # Row j: j itself (score -1 sorts first), then random others.
        scores = tf.random.stateless_uniform([n, n], pick_seed)
        scores = tf.where(tf.eye(n) > 0.0, -1.0, scores)
        picks = tf.argsort(scores, axis=1, stable=True)
        picks = tf.concat([picks, tf.zeros([n, 4], tf.int32)], 1)[:, :4]
        order = tf.argsort(tf.random.stateless_uniform([n, 4], order_seed))
        members = tf.gather(picks, order, batch_dims=1)
        op_seeds = tf.random.experimental.stateless_split(op_seed, n)
        slices = tf.data.Dataset.from_tensor_slices(
            (tf.range(n), members, gates, op_seeds)
        )
        return tf.data.Dataset.zip(
            tf.data.Dataset.from_tensors(pool).repeat(), slices
        )

    def make(pool, slice_):
        index, members, gate, op_seed = slice_
        lead = {k: v[index] for k, v in pool.items()}

        def passthrough():
            boxes, classes = _fit_rows(
                tf.cast(lead["boxes"], tf.float32),
                tf.cast(lead["classes"], tf.int32),
                max_boxes,
            )
            return {**lead, "boxes": boxes, "classes": classes}

        def tile():
            stacked = {k: tf.gather(pool[k], members) for k in _KEYS}
            out = mosaic(
                stacked,
                op_seed,
                min_centre=min_centre,
                max_centre=max_centre,
                max_boxes=max_boxes,
                min_visible=min_visible,
                min_size_px=min_size_px,
            )
            return {**lead, **{k: out[k] for k in _KEYS}}

        if probability <= 0.0:
            return passthrough()
        return tf.cond(gate, tile, passthrough)

    return pools.flat_map(plan).map(make, num_parallel_calls=tf.data.AUTOTUNE)
