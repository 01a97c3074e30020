"""The inception module with 1x1 reductions, as a name-prefixed function.

The cheatsheet's 1x1 convolution trick: a 1x1 convolution that reduces C
input channels to r before an F x F convolution with K filters costs
`(C + 1) r + (F F r + 1) K` parameters instead of `(F F C + 1) K`, and the
multiply-adds drop in the same ratio. `bottleneck_saving` gives both counts
for one branch; `python -m apps.inspect` builds each inception module of a
model with and without its 1x1 reductions and reports the parameters and
FLOPs saved (`apps/inspect/savings.py`).
"""

import keras

from layers.blocks.residual import conv_bn_act


def inception_block(
    x,
    *,
    filters_1x1: int,
    reduce_3x3: int,
    filters_3x3: int,
    reduce_5x5: int,
    filters_5x5: int,
    pool_proj: int,
    name: str,
    activation: str = "relu",
    kernel_regularizer=None,
    kernel_initializer="glorot_uniform",
    norm: str = "before",
):
    """GoogLeNet's inception module (Szegedy et al. 2015), with BN.

    Four parallel branches, concatenated on channels:
    1x1; 1x1 reduce -> 3x3; 1x1 reduce -> 5x5 (as two 3x3, same receptive
    field, fewer weights); 3x3 max-pool (stride 1) -> 1x1 projection.
    Every convolution is Conv2D (no bias) -> BatchNormalization -> act.

    Args:
        x: `(batch, H, W, C)` input tensor.
        filters_1x1: channels of the 1x1 branch.
        reduce_3x3: channels of the 1x1 reduction before the 3x3.
        filters_3x3: channels of the 3x3 branch.
        reduce_5x5: channels of the 1x1 reduction before the 5x5.
        filters_5x5: channels of the 5x5 branch.
        pool_proj: channels of the 1x1 after max-pooling.
        name: prefix for every layer's name.
        activation: activation after each convolution.
        kernel_regularizer: optional Keras regularizer on every kernel.
        kernel_initializer: every kernel's initializer (`conv_bn_act`).
        norm: the batch norm's place (`conv_bn_act`).

    Returns:
        `(batch, H, W, filters_1x1 + filters_3x3 + filters_5x5 +
        pool_proj)` tensor.

    Example:

    >>> x = keras.Input((16, 16, 32))
    >>> y = inception_block(x, filters_1x1=8, reduce_3x3=8, filters_3x3=16,
    ...     reduce_5x5=4, filters_5x5=8, pool_proj=8, name="inc")
    >>> tuple(y.shape)
    (None, 16, 16, 40)
    """
    for arg, value in [
        ("filters_1x1", filters_1x1),
        ("reduce_3x3", reduce_3x3),
        ("filters_3x3", filters_3x3),
        ("reduce_5x5", reduce_5x5),
        ("filters_5x5", filters_5x5),
        ("pool_proj", pool_proj),
    ]:
        if int(value) != value or value < 1:
            raise ValueError(
                f"Expected {arg} to be a positive integer. "
                f"Received: {arg}={value}"
            )
    common = dict(
        activation=activation,
        kernel_regularizer=kernel_regularizer,
        kernel_initializer=kernel_initializer,
        norm=norm,
    )
    b1 = conv_bn_act(x, filters_1x1, 1, name=f"{name}_1x1", **common)
    b3 = conv_bn_act(x, reduce_3x3, 1, name=f"{name}_3x3_reduce", **common)
    b3 = conv_bn_act(b3, filters_3x3, 3, name=f"{name}_3x3", **common)
    b5 = conv_bn_act(x, reduce_5x5, 1, name=f"{name}_5x5_reduce", **common)
    b5 = conv_bn_act(b5, filters_5x5, 3, name=f"{name}_5x5_a", **common)
    b5 = conv_bn_act(b5, filters_5x5, 3, name=f"{name}_5x5_b", **common)
    bp = keras.layers.MaxPooling2D(
        3, strides=1, padding="same", name=f"{name}_pool"
    )(x)
    bp = conv_bn_act(bp, pool_proj, 1, name=f"{name}_pool_proj", **common)
    return keras.layers.Concatenate(name=f"{name}_concat")([b1, b3, b5, bp])


def conv_params(in_channels: int, kernel_size: int, filters: int) -> int:
    """The cheatsheet's count for a convolution: `(F F C + 1) K`."""
    return (kernel_size * kernel_size * in_channels + 1) * filters


def bottleneck_saving(
    in_channels: int, kernel_size: int, filters: int, reduce: int
) -> dict[str, int]:
    """Parameters of an F x F convolution with and without a 1x1 reduction.

    Args:
        in_channels: C, channels entering the block.
        kernel_size: F of the expensive convolution.
        filters: K, its output channels.
        reduce: r, channels of the 1x1 reduction.

    Returns:
        `{"direct": (F F C + 1) K, "reduced": (C + 1) r + (F F r + 1) K}`.

    Example:

    >>> bottleneck_saving(192, 5, 32, 16)
    {'direct': 153632, 'reduced': 15920}
    """
    return {
        "direct": conv_params(in_channels, kernel_size, filters),
        "reduced": conv_params(in_channels, 1, reduce)
        + conv_params(reduce, kernel_size, filters),
    }
