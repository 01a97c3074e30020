"""Full padding, the cheatsheet's third padding mode, as a Keras layer.

The cheatsheet's output size of a convolution or pooling over an input of
size `I` with a filter of size `F`, stride `S` and padding `P_start`,
`P_end` is

    O = (I - F + P_start + P_end) / S + 1

with three padding modes:

- valid: `P_start = P_end = 0`, so `O = (I - F) / S + 1`;
- same: `P_start + P_end = (ceil(I / S) - 1) S + F - I`, so
  `O = ceil(I / S)`;
- full: `P_start = P_end = F - 1`, so every input pixel is seen by every
  filter position that touches it and, at stride 1, `O = I + F - 1`.

Keras has `valid` and `same` only. `FullPadding2D(F)` pads `F - 1` zeros
on each side of both spatial axes; a `valid` convolution (or pooling) with
the same `F` over it is the full-padding convolution. `apps.inspect`
reports such a convolution with padding `full`.
"""

import numbers

import keras

from layers.serialization import register


def _check_size(name, value):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(
            isinstance(v, numbers.Integral)
            and not isinstance(v, bool)
            and v >= 1
            for v in value
        )
    ):
        raise ValueError(
            f"Expected {name} to be a positive integer or a pair of them. "
            f"Received: {name}={value!r}"
        )
    return tuple(int(v) for v in value)


def full_padding(kernel_size, dilation_rate=1) -> tuple[int, int]:
    """`(P_rows, P_cols)`: the zeros full padding adds on EACH side.

    Args:
        kernel_size: F, an int or `(F_rows, F_cols)`.
        dilation_rate: d, an int or a pair; the effective filter size is
            `d (F - 1) + 1`.

    Returns:
        `(d_rows (F_rows - 1), d_cols (F_cols - 1))`.

    Example:

    >>> full_padding(3)
    (2, 2)
    """
    kernel = _check_size("kernel_size", kernel_size)
    dilation = _check_size("dilation_rate", dilation_rate)
    return tuple(d * (k - 1) for k, d in zip(kernel, dilation))


@register
class FullPadding2D(keras.layers.Layer):
    """Pads `F - 1` zeros on each side: the cheatsheet's full padding.

    A `valid` convolution or pooling with filter `F` and stride `S` over
    the padded input gives the full-padding output size
    `O = (I + F - 2) / S + 1` (`I + F - 1` at stride 1).

    Args:
        kernel_size: F of the convolution that follows, an int or a pair.
        dilation_rate: its dilation d (an int or a pair); the padding is
            `d (F - 1)` per side.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, H, W, C)` tensor (channels last).

    Returns:
        `(batch, H + 2 P_rows, W + 2 P_cols, C)` tensor, zeros around the
        input.

    Example:

    >>> x = keras.Input((5, 5, 1))
    >>> y = FullPadding2D(3)(x)
    >>> y = keras.layers.Conv2D(1, 3, padding="valid")(y)
    >>> tuple(y.shape)
    (None, 7, 7, 1)
    """

    def __init__(self, kernel_size, dilation_rate=1, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = _check_size("kernel_size", kernel_size)
        self.dilation_rate = _check_size("dilation_rate", dilation_rate)
        self.padding = full_padding(self.kernel_size, self.dilation_rate)

    def call(self, inputs):
        rows, cols = self.padding
        return keras.ops.pad(
            inputs, [[0, 0], [rows, rows], [cols, cols], [0, 0]]
        )

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        rows, cols = self.padding
        return (
            batch,
            None if height is None else height + 2 * rows,
            None if width is None else width + 2 * cols,
            channels,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            kernel_size=self.kernel_size, dilation_rate=self.dilation_rate
        )
        return config
