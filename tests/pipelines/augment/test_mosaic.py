"""Tests for mosaic and the mosaic dataset transformation."""

import numpy as np
import pytest
import tensorflow as tf

from pipelines.augment.mosaic import apply_mosaic
from pipelines.augment.mosaic import mosaic

S = 32
# Distinct colours, one per rectangle (class id = colour id).
COLOURS = np.array(
    [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
        [1.0, 1.0, 0.0],
        [1.0, 0.0, 1.0],
        [0.0, 1.0, 1.0],
        [1.0, 1.0, 1.0],
        [1.0, 0.5, 0.0],
    ],
    np.float32,
)
# Per image, rectangles in pixels (x0, y0, x1, y1), exclusive ends, on
# black, well apart so that bilinear edges never mix two colours.
LAYOUT = [
    [(2, 3, 14, 15), (18, 16, 30, 29)],
    [(16, 2, 30, 12), (3, 18, 12, 30)],
    [(1, 1, 12, 30), (16, 20, 31, 28)],
    [(4, 4, 28, 14), (10, 18, 22, 30)],
]


def _render(rects, colours, size=S, max_boxes=None):
    """One sample: filled rectangles (pixel xyxy) with class = colour id."""
    max_boxes = max_boxes or len(rects)
    image = np.zeros((size, size, 3), np.float32)
    boxes = np.zeros((max_boxes, 4), np.float32)
    classes = np.full((max_boxes,), -1, np.int32)
    for row, (rect, colour) in enumerate(zip(rects, colours)):
        x0, y0, x1, y1 = rect
        image[y0:y1, x0:x1] = COLOURS[colour]
        boxes[row] = np.array(rect, np.float32) / size
        classes[row] = colour
    return {"image": image, "boxes": boxes, "classes": classes}


def _stack(samples):
    return {
        k: tf.constant(np.stack([s[k] for s in samples])) for k in samples[0]
    }


def _layout_samples():
    return [
        _render(rects, [2 * i, 2 * i + 1]) for i, rects in enumerate(LAYOUT)
    ]


def _region(image, colour):
    """Pixel bounds (x0, y0, x1, y1) of the pixels of one colour, or None."""
    mask = np.linalg.norm(image - COLOURS[colour], axis=-1) < 0.3
    if not mask.any():
        return None, mask
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]), mask


def _assert_padding(out, max_boxes):
    boxes, classes = out["boxes"].numpy(), out["classes"].numpy()
    assert boxes.shape == (max_boxes, 4) and classes.shape == (max_boxes,)
    n = int((classes >= 0).sum())
    assert (classes[:n] >= 0).all() and (classes[n:] == -1).all()
    assert (boxes[n:] == 0).all()
    assert (boxes >= 0).all() and (boxes <= 1).all()
    return n


def _assert_boxes_match_colours(out):
    image = out["image"].numpy()
    size = image.shape[0]
    n = _assert_padding(out, out["classes"].shape[0])
    assert n > 0
    for box, colour in zip(out["boxes"].numpy()[:n], out["classes"][:n]):
        px = box * size
        bounds, mask = _region(image, int(colour))
        assert bounds is not None, (colour, px)
        np.testing.assert_allclose(bounds, px, atol=1.5, err_msg=str(colour))
        inner = np.round(px).astype(int) + [1, 1, -1, -1]
        if inner[2] > inner[0] and inner[3] > inner[1]:
            inside = mask[inner[1] : inner[3], inner[0] : inner[2]]
            assert inside.mean() > 0.9, (colour, px, inside.mean())
    return n


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_mosaic_boxes_match_rendered_colours(seed):
    out = mosaic(_stack(_layout_samples()), tf.constant([seed, 7]))
    assert out["image"].shape == (S, S, 3)
    _assert_boxes_match_colours(out)


def test_mosaic_clips_boxes_at_the_canvas_edge():
    touching = 0
    for seed in range(6):
        out = mosaic(_stack(_layout_samples()), tf.constant([seed, 7]))
        n = _assert_boxes_match_colours(out)
        boxes = out["boxes"].numpy()[:n]
        touching += int(((boxes == 0) | (boxes == 1)).any(axis=1).sum())
    assert touching > 0


def _exact_samples(max_boxes=3):
    """Centre (8, 8) on 32 px: image 0 at scale 0.25, others at 0.75 with
    image 1 shifted by (8, -16), image 2 by (-16, 8), image 3 by (8, 8)."""
    return [
        _render([], [], max_boxes=max_boxes),
        # Dropped (2/15 visible), dropped (outside), kept and clipped.
        _render(
            [(24, 4, 30, 24), (4, 0, 20, 12), (4, 16, 20, 28)],
            [0, 1, 2],
            max_boxes=max_boxes,
        ),
        # Dropped (outside), kept.
        _render([(0, 0, 8, 8), (24, 0, 32, 8)], [3, 4], max_boxes=max_boxes),
        _render([(0, 0, 32, 32)], [5], max_boxes=max_boxes),
    ]


def test_mosaic_exact_geometry_drops_and_compacts():
    out = mosaic(
        _stack(_exact_samples()),
        tf.constant([1, 2]),
        min_centre=0.25,
        max_centre=0.25,
    )
    np.testing.assert_array_equal(out["classes"], [2, 4, 5])
    np.testing.assert_allclose(
        out["boxes"].numpy() * S,
        [[11, 0, 23, 5], [2, 8, 8, 14], [8, 8, 32, 32]],
        atol=1e-4,
    )
    _assert_boxes_match_colours(out)


def test_mosaic_keeps_the_largest_boxes_in_order():
    out = mosaic(
        _stack(_exact_samples()),
        tf.constant([1, 2]),
        min_centre=0.25,
        max_centre=0.25,
        max_boxes=2,
    )
    # Areas: 60, 36 and 576 px; the 36 px box goes.
    np.testing.assert_array_equal(out["classes"], [2, 5])
    np.testing.assert_allclose(
        out["boxes"].numpy() * S, [[11, 0, 23, 5], [8, 8, 32, 32]], atol=1e-4
    )
    wide = mosaic(
        _stack(_exact_samples()),
        tf.constant([1, 2]),
        min_centre=0.25,
        max_centre=0.25,
        max_boxes=5,
    )
    np.testing.assert_array_equal(wide["classes"], [2, 4, 5, -1, -1])
    _assert_padding(wide, 5)


def test_mosaic_is_deterministic_per_seed():
    stacked = _stack(_layout_samples())
    a = mosaic(stacked, tf.constant([3, 4]))
    b = mosaic(stacked, tf.constant([3, 4]))
    c = mosaic(stacked, tf.constant([5, 4]))
    for key in ("image", "boxes", "classes"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["image"], c["image"])


def test_mosaic_in_dataset_map_matches_eager():
    stacked = _stack(_layout_samples())
    seeds = tf.constant([[0, 1], [2, 3], [4, 5]], tf.int64)
    ds = tf.data.Dataset.zip(
        tf.data.Dataset.from_tensors(stacked).repeat(3),
        tf.data.Dataset.from_tensor_slices(seeds),
    ).map(mosaic, num_parallel_calls=tf.data.AUTOTUNE)
    for seed, got in zip(seeds, ds):
        want = mosaic(stacked, seed)
        for key in ("image", "boxes", "classes"):
            np.testing.assert_allclose(got[key], want[key], atol=1e-6)


def test_mosaic_rejects_bad_arguments():
    stacked = _stack(_layout_samples())
    with pytest.raises(ValueError, match="min_centre"):
        mosaic(stacked, tf.constant([0, 0]), min_centre=0.8, max_centre=0.2)
    with pytest.raises(ValueError, match="4 stacked"):
        mosaic({k: v[:3] for k, v in stacked.items()}, tf.constant([0, 0]))


# ------------------------------------------------------------- apply_mosaic


def _flat_dataset(n=10, size=16, rows=2):
    """n samples, image i filled with (i + 1) / 20, one box each."""
    images = np.stack(
        [np.full((size, size, 3), (i + 1) / 20, np.float32) for i in range(n)]
    )
    boxes = np.zeros((n, rows, 4), np.float32)
    boxes[:, 0] = [0.25, 0.25, 0.75, 0.75]
    classes = np.full((n, rows), -1, np.int32)
    classes[:, 0] = np.arange(n)
    source = {"image": images, "boxes": boxes, "classes": classes}
    return source, tf.data.Dataset.from_tensor_slices(source)


def test_apply_mosaic_keeps_the_epoch_length():
    _, ds = _flat_dataset(n=10)
    out = apply_mosaic(ds, probability=0.5, seed=3, max_boxes=2, pool_size=4)
    assert out.element_spec["image"].shape == (16, 16, 3)
    assert sum(1 for _ in out) == 10
    assert sum(1 for _ in out.repeat(2)) == 20


def test_apply_mosaic_with_zero_probability_is_identity():
    source, ds = _flat_dataset(n=10)
    out = list(apply_mosaic(ds, probability=0.0, seed=3, max_boxes=2))
    assert len(out) == 10
    for i, got in enumerate(out):
        for key in ("image", "boxes", "classes"):
            np.testing.assert_array_equal(got[key], source[key][i])


def test_apply_mosaic_tiles_the_lead_with_three_pool_mates():
    source, ds = _flat_dataset(n=10)
    out = list(
        apply_mosaic(ds, probability=1.0, seed=3, max_boxes=6, pool_size=4)
    )
    values = np.round(source["image"][:, 0, 0, 0] * 20).astype(int)
    for i, got in enumerate(out):
        seen = np.unique(np.round(got["image"].numpy() * 20).astype(int))
        assert got["boxes"].shape == (6, 4)
        _assert_padding(got, 6)
        if i < 8:  # two full pools of 4: a mosaic of the whole pool
            pool = i // 4 * 4
            np.testing.assert_array_equal(seen, values[pool : pool + 4])
            assert (got["classes"].numpy() >= 0).sum() >= 1
        else:  # the last pool has 2 samples: they pass through
            np.testing.assert_array_equal(got["image"], source["image"][i])
            np.testing.assert_array_equal(
                got["classes"], [i, -1, -1, -1, -1, -1]
            )


def test_apply_mosaic_is_deterministic_with_seed_and_new_each_epoch():
    def build():
        _, ds = _flat_dataset(n=8)
        return apply_mosaic(
            ds, probability=0.5, seed=3, max_boxes=4, pool_size=4
        )

    def epoch(ds):
        return np.stack([x["image"].numpy() for x in ds])

    ds = build()
    first, second = epoch(ds), epoch(ds)
    np.testing.assert_array_equal(first, epoch(build()))
    assert not np.array_equal(first, second)


def test_apply_mosaic_rejects_bad_arguments():
    _, ds = _flat_dataset(n=4)
    with pytest.raises(ValueError, match="pool_size"):
        apply_mosaic(ds, probability=1.0, seed=0, max_boxes=2, pool_size=3)
    with pytest.raises(ValueError, match="probability"):
        apply_mosaic(ds, probability=1.5, seed=0, max_boxes=2)
    with pytest.raises(ValueError, match="float32"):
        apply_mosaic(
            ds.map(lambda s: {**s, "image": tf.cast(s["image"], tf.uint8)}),
            probability=1.0,
            seed=0,
            max_boxes=2,
        )
