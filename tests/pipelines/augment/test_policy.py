"""Tests for the default detection augmentation policy."""

import numpy as np
import pytest
import tensorflow as tf

from pipelines.augment.policy import augment_detection
from tests.pipelines.augment import assert_padding
from tests.pipelines.augment import shapes_samples


def test_same_seed_same_output_and_input_untouched():
    sample = shapes_samples(1)[0]
    sample["extra"] = tf.constant(7)
    before = {k: v.numpy().copy() for k, v in sample.items()}
    a = augment_detection(sample, tf.constant([3, 9]))
    b = augment_detection(sample, tf.constant([3, 9]))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert a is not sample and int(a["extra"]) == 7
    for key, value in before.items():
        np.testing.assert_array_equal(sample[key], value)
    outputs = [
        augment_detection(sample, tf.constant([3, s]))["image"].numpy()
        for s in range(4)
    ]
    assert len({o.tobytes() for o in outputs}) > 1


def test_strength_zero_is_identity():
    sample = shapes_samples(1)[0]
    out = augment_detection(sample, tf.constant([1, 1]), strength=0.0)
    assert out is not sample
    for key in sample:
        np.testing.assert_array_equal(out[key], sample[key])


def test_augment_inside_dataset_map_is_deterministic():
    samples = shapes_samples(4)
    stacked = {k: tf.stack([s[k] for s in samples]) for k in samples[0]}
    seeds = tf.constant([[5, i] for i in range(4)], tf.int64)
    ds = tf.data.Dataset.zip(
        tf.data.Dataset.from_tensor_slices(stacked),
        tf.data.Dataset.from_tensor_slices(seeds),
    )
    ds = ds.map(
        lambda s, k: augment_detection(s, k, strength=1.5),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).prefetch(2)
    first = list(ds)
    second = list(ds)
    assert len(first) == 4
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        assert a["image"].shape == (32, 32, 3)
        assert a["boxes"].shape == (6, 4) and a["classes"].shape == (6,)
        assert_padding(a)
        assert 0 <= a["image"].numpy().min() <= a["image"].numpy().max() <= 1
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
        eager = augment_detection(samples[i], seeds[i], strength=1.5)
        np.testing.assert_allclose(a["image"], eager["image"], atol=1e-5)
        np.testing.assert_allclose(a["boxes"], eager["boxes"], atol=1e-6)


def test_rejects_bad_input():
    sample = shapes_samples(1)[0]
    as_bytes = {**sample, "image": tf.cast(sample["image"] * 255, tf.uint8)}
    with pytest.raises(ValueError, match="float32"):
        augment_detection(as_bytes, tf.constant([0, 0]))
    with pytest.raises(ValueError, match="strength"):
        augment_detection(sample, tf.constant([0, 0]), strength=-1.0)
