"""Letterbox resizing: keep the aspect ratio, pad to a square.

Used by `predict` and inside exported serving signatures so that a server
sends images of any size and gets boxes back in the input's pixels.
"""

import tensorflow as tf

PAD_VALUE = 114.0


def letterbox(image, size: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Resizes `image` to fit in `size x size` and pads the rest (grey 114).

    Args:
        image: `(H, W, 3)` image, any real dtype, values in [0, 255].
        size: side of the square output.

    Returns:
        A tuple `(square, scale, offset)`: `(size, size, 3)` float32 pixels,
        the scalar scale applied, and `(2,)` float32 `(x, y)` padding before
        the image.

    Example:
        >>> square, scale, offset = letterbox(tf.zeros((50, 100, 3)), 64)
        >>> float(scale), offset.numpy().tolist()
        (0.64, [0.0, 16.0])
    """
    image = tf.cast(image, tf.float32)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(size, tf.float32) / tf.reduce_max(shape)
    new_hw = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), 1)
    resized = tf.image.resize(image, new_hw, method="bilinear")
    pad_y = (size - new_hw[0]) // 2
    pad_x = (size - new_hw[1]) // 2
    square = (
        tf.pad(
            resized - PAD_VALUE,
            [
                [pad_y, size - new_hw[0] - pad_y],
                [pad_x, size - new_hw[1] - pad_x],
                [0, 0],
            ],
        )
        + PAD_VALUE
    )
    square = tf.ensure_shape(square, (size, size, 3))
    offset = tf.cast(tf.stack([pad_x, pad_y]), tf.float32)
    return square, scale, offset


def unletterbox_boxes(boxes, size: int, scale, offset, original_hw):
    """Maps normalized xyxy boxes on the letterboxed square back to pixels.

    Args:
        boxes: `(..., 4)` normalized xyxy boxes on the square.
        size: side of the square.
        scale: the scale returned by `letterbox`.
        offset: the `(x, y)` padding returned by `letterbox`.
        original_hw: `(2,)` height and width of the original image.

    Returns:
        `(..., 4)` pixel xyxy boxes in the original image, clipped to it.
    """
    boxes = tf.cast(boxes, tf.float32) * float(size)
    shift = tf.concat([offset, offset], axis=0)
    pixels = (boxes - shift) / scale
    hw = tf.cast(original_hw, tf.float32)
    limit = tf.stack([hw[1], hw[0], hw[1], hw[0]])
    return tf.clip_by_value(pixels, 0.0, limit)
