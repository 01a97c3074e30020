"""The cheatsheet's formulas for one layer, as plain functions.

- output size `O = (I - F + P_start + P_end) / S + 1` (rounded down), with
  the padding of `same` (`P_start + P_end = (ceil(I / S) - 1) S + F - I`,
  the odd pixel at the end as TensorFlow does);
- parameters: convolution `(F x F x C + 1) x K` (no `+ 1` without bias),
  fully connected `(N_in + 1) x N_out`;
- receptive field `R_k = 1 + sum_j (F_j - 1) prod_{i<j} S_i` of a chain.

`apps.inspect.layer_rules` applies them to each layer of a model.
"""

import math


def output_size(size, kernel, stride, pad_start, pad_end):
    """The cheatsheet's `O = (I - F + P_start + P_end) / S + 1` (floor)."""
    if size is None:
        return None
    return (size - kernel + pad_start + pad_end) // stride + 1


def same_padding(size, kernel, stride):
    """`(P_start, P_end)` of `same` padding, the odd pixel at the end."""
    if size is None:
        return None
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_params(kernel, in_channels, filters, *, bias=True, groups=1):
    """`(F_h F_w C / groups + 1) K`, without the `+ 1` when no bias."""
    per_filter = kernel[0] * kernel[1] * in_channels // groups
    return (per_filter + int(bias)) * filters


def dense_params(n_in, n_out, *, bias=True):
    """The cheatsheet's `(N_in + 1) x N_out` (no `+ 1` without bias)."""
    return (n_in + int(bias)) * n_out


def receptive_field(kernels, strides):
    """`R_k = 1 + sum_j (F_j - 1) prod_{i<j} S_i` of a chain of layers.

    Example:

    >>> receptive_field([3, 3], [1, 1])
    5
    """
    total, jump = 1, 1
    for f, s in zip(kernels, strides):
        total += (f - 1) * jump
        jump *= s
    return total
