"""Tests for the shared sample helpers of the augmentation ops."""

import numpy as np
import pytest
import tensorflow as tf

from pipelines.augment.sample import check_filter
from pipelines.augment.sample import check_sample
from pipelines.augment.sample import filter_boxes
from pipelines.augment.sample import maybe_apply
from pipelines.augment.sample import split_seed
from tests.pipelines.augment import shapes_samples


def test_filter_boxes_clips_drops_and_compacts():
    boxes = tf.constant(
        [
            [-0.5, 0.0, 0.1, 0.5],  # 1/6 of its area inside: dropped
            [0.2, 0.2, 0.4, 0.4],  # inside: kept as is
            [0.0, 0.0, 0.0, 0.0],  # padding
            [0.8, 0.5, 1.2, 0.9],  # half inside: clipped, kept
        ]
    )
    classes = tf.constant([0, 1, -1, 2])
    out_boxes, out_classes = filter_boxes(
        boxes,
        classes,
        tf.constant(10.0),
        tf.constant(10.0),
        min_visible=0.25,
        min_size_px=1.0,
    )
    np.testing.assert_array_equal(out_classes, [1, 2, -1, -1])
    np.testing.assert_allclose(
        out_boxes,
        [[0.2, 0.2, 0.4, 0.4], [0.8, 0.5, 1.0, 0.9], [0, 0, 0, 0], [0] * 4],
        atol=1e-7,
    )


def test_maybe_apply_gates_the_op_with_the_probability():
    sample = shapes_samples(1)[0]

    def darken(sample, seed):
        return {**sample, "image": 0.5 * sample["image"]}

    never = maybe_apply(darken, sample, tf.constant([0, 0]), 0.0)
    always = maybe_apply(darken, sample, tf.constant([0, 0]), 1.0)
    assert never is not sample
    np.testing.assert_array_equal(never["image"], sample["image"])
    np.testing.assert_allclose(always["image"], 0.5 * sample["image"])
    applied = [
        bool(
            np.any(
                maybe_apply(darken, sample, tf.constant([s, 1]), 0.5)["image"]
                != sample["image"]
            )
        )
        for s in range(16)
    ]
    assert 0 < sum(applied) < 16
    with pytest.raises(ValueError, match="probability"):
        maybe_apply(darken, sample, tf.constant([0, 0]), 1.5)


def test_checks_name_the_bad_argument():
    sample = shapes_samples(1)[0]
    with pytest.raises(ValueError, match="keys"):
        check_sample({"image": sample["image"]})
    with pytest.raises(ValueError, match="min_visible"):
        check_filter(1.5, 2.0)
    with pytest.raises(ValueError, match="min_size_px"):
        check_filter(0.5, -1.0)


def test_split_seed_gives_distinct_seeds():
    seeds = split_seed(tf.constant([3, 4], tf.int64), 3)
    assert len(seeds) == 3 and seeds[0].shape == (2,)
    assert len({tuple(s.numpy()) for s in seeds}) == 3
