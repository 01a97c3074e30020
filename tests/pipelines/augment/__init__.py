"""Sample builders and checks shared by the augmentation tests.

Images are `HEIGHT x WIDTH` (not square, so that x/y mix-ups show) unless
they come from `shapes_samples`.
"""

import numpy as np
import tensorflow as tf

from pipelines.synthetic.shapes import make_shapes_arrays

HEIGHT, WIDTH = 48, 64
SCALE = np.array([WIDTH, HEIGHT, WIDTH, HEIGHT], np.float32)


def make_sample(image, boxes, classes, max_boxes=4):
    """A sample dict with `boxes` and `classes` padded to `max_boxes`."""
    padded = np.zeros((max_boxes, 4), np.float32)
    padded[: len(boxes)] = boxes
    labels = np.full((max_boxes,), -1, np.int32)
    labels[: len(classes)] = classes
    return {
        "image": tf.constant(image, tf.float32),
        "boxes": tf.constant(padded),
        "classes": tf.constant(labels),
    }


def rectangle_sample(x0, y0, x1, y1):
    """A white filled rectangle (pixel xyxy, exclusive) on black."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    image[y0:y1, x0:x1] = 1.0
    box = np.array([x0, y0, x1, y1], np.float32) / SCALE
    return make_sample(image, [box], [2])


def bright_bounds(image):
    """Pixel `xyxy` bounds (exclusive) of the bright pixels of a tensor."""
    mask = image.numpy()[..., 0] > 0.5
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])


def shapes_samples(n=4, size=32):
    """`n` synthetic shapes samples, images in `[0, 1]`, 6 box rows."""
    data = make_shapes_arrays(n, size, seed=0, max_boxes=6)
    return [
        {
            "image": tf.constant(data["images"][i] / 255.0, tf.float32),
            "boxes": tf.constant(data["boxes"][i]),
            "classes": tf.constant(data["classes"][i]),
        }
        for i in range(n)
    ]


def assert_padding(out):
    """Valid rows first, then zero rows with class -1; boxes in `[0, 1]`."""
    classes = out["classes"].numpy()
    boxes = out["boxes"].numpy()
    n = int((classes >= 0).sum())
    assert (classes[:n] >= 0).all() and (classes[n:] == -1).all()
    assert (boxes[n:] == 0).all()
    assert (boxes >= 0).all() and (boxes <= 1).all()
