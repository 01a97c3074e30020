"""Tests for drawing the synthetic shapes: backgrounds, colours, masks."""

import numpy as np
import pytest

from pipelines.synthetic.shape_drawing import draw_background
from pipelines.synthetic.shape_drawing import draw_shape_mask
from pipelines.synthetic.shape_drawing import pick_colour


def test_backgrounds_are_float_images_in_range():
    rng = np.random.default_rng(0)
    for _ in range(6):
        image, anchors = draw_background(rng, 24)
        assert image.dtype == np.float32 and image.shape == (24, 24, 3)
        assert image.min() >= 0 and image.max() <= 255
        assert anchors.ndim == 2 and anchors.shape[1] == 3


def test_picked_colour_is_far_from_a_solid_background_and_neighbour():
    rng = np.random.default_rng(1)
    anchors = np.array([[100.0, 100.0, 100.0]])
    neighbour = np.array([250, 10, 10], np.uint8)
    colour = pick_colour(rng, anchors, [neighbour])
    assert colour.dtype == np.uint8 and colour.shape == (3,)
    assert np.linalg.norm(colour - anchors[0]) >= 120
    assert np.linalg.norm(colour.astype(float) - neighbour) >= 70


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_masks_fit_their_extent_inside_the_image(kind):
    rng = np.random.default_rng(kind)
    x0, y0, mask = draw_shape_mask(rng, kind, 32, 10.0)
    h, w = mask.shape
    assert mask.dtype == bool and mask.any()
    assert 0 <= x0 and x0 + w <= 32 and 0 <= y0 and y0 + h <= 32
    assert max(h, w) <= 11
    if kind == 1:
        assert mask.shape == (10, 10) and mask.all()
