"""Tests for the photometric ops: colour, contrast, noise and cutout."""

import numpy as np
import pytest
import tensorflow as tf

from pipelines.augment.photometric import add_noise
from pipelines.augment.photometric import color_shift
from pipelines.augment.photometric import contrast
from pipelines.augment.photometric import cutout
from tests.pipelines.augment import shapes_samples


@pytest.mark.parametrize("op", [color_shift, contrast, add_noise, cutout])
def test_photometric_ops_leave_boxes_unchanged(op):
    sample = shapes_samples(1)[0]
    out = op(sample, tf.constant([4, 2]))
    np.testing.assert_array_equal(out["boxes"], sample["boxes"])
    np.testing.assert_array_equal(out["classes"], sample["classes"])
    image = out["image"].numpy()
    assert image.dtype == np.float32 and image.shape == (32, 32, 3)
    assert image.min() >= 0 and image.max() <= 1
    assert not np.array_equal(image, sample["image"].numpy())
