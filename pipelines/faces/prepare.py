"""One preprocessing for faces, in training, inference and the export.

`prepare_face` is a TensorFlow function, so the exported SavedModel runs
the very same ops on the bytes a server receives as training ran on the
arrays: RGB uint8 -> centre square crop -> area-antialiased resize ->
grey (when `channels == 1`) -> uint8.
"""

import numpy as np
import tensorflow as tf


def prepare_face(image, image_size: int, channels: int):
    """Crops the centre square of a face image and resizes it.

    Args:
        image: `(H, W, 3)` uint8 RGB tensor (what `tf.io.decode_image(...,
            channels=3)` and `pipelines.images.decode_image_file` return).
        image_size: S of the square output.
        channels: 1 (grey, ITU-R 601 luma) or 3 (RGB).

    Returns:
        `(S, S, channels)` uint8 tensor.

    Example:

    >>> prepare_face(tf.zeros((112, 92, 3), tf.uint8), 64, 1).shape
    TensorShape([64, 64, 1])
    """
    if channels not in (1, 3):
        raise ValueError(f"Expected channels 1 or 3. Received: {channels}")
    image = tf.convert_to_tensor(image, tf.uint8)
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    side = tf.minimum(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    square = image[top : top + side, left : left + side, :]
    resized = tf.image.resize(
        tf.cast(square, tf.float32),
        (image_size, image_size),
        method="area",
    )
    if channels == 1:
        resized = tf.image.rgb_to_grayscale(resized)
    resized = tf.clip_by_value(tf.round(resized), 0.0, 255.0)
    return tf.ensure_shape(
        tf.cast(resized, tf.uint8), (image_size, image_size, channels)
    )


def prepare_faces(images, image_size: int, channels: int) -> np.ndarray:
    """`prepare_face` over a list of RGB uint8 arrays of any sizes.

    Returns:
        `(N, S, S, channels)` uint8 numpy array.
    """
    out = np.zeros((len(images), image_size, image_size, channels), np.uint8)
    for i, image in enumerate(images):
        out[i] = prepare_face(image, image_size, channels).numpy()
    return out
