"""Convolution and residual blocks, as name-prefixed functions.

The cheatsheet's residual block: `a[l+2] = g(a[l] + z[l+2])`, where
`z[l+2]` comes from two convolutions of `a[l]` and `g` is the activation.
"""

import keras


def conv_bn_act(
    x,
    filters: int,
    kernel_size: int = 3,
    strides: int = 1,
    *,
    name: str,
    activation: str | None = "silu",
    kernel_regularizer=None,
):
    """Conv2D (no bias) -> BatchNormalization -> activation.

    Args:
        x: `(batch, H, W, C)` input tensor.
        filters: number of output channels.
        kernel_size: square kernel size F.
        strides: stride S.
        name: prefix for the three layers' names.
        activation: a Keras activation name, or None for none.
        kernel_regularizer: optional Keras regularizer on the kernel.

    Returns:
        `(batch, ceil(H / S), ceil(W / S), filters)` tensor.
    """
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_regularizer=kernel_regularizer,
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(
        momentum=0.97, epsilon=1e-3, name=f"{name}_bn"
    )(x)
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_act")(x)
    return x


def residual_block(
    x,
    filters: int,
    *,
    name: str,
    activation: str = "silu",
    kernel_regularizer=None,
):
    """The cheatsheet's residual block `a[l+2] = g(a[l] + z[l+2])`.

    A 1x1 projection is added on the skip path when the channel counts differ.

    Args:
        x: `(batch, H, W, C)` input `a[l]`.
        filters: channels of the output.
        name: prefix for every layer's name.
        activation: the activation `g`.
        kernel_regularizer: optional Keras regularizer on every kernel.

    Returns:
        `(batch, H, W, filters)` tensor `a[l+2]`.
    """
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = conv_bn_act(
            x,
            filters,
            1,
            name=f"{name}_proj",
            activation=None,
            kernel_regularizer=kernel_regularizer,
        )
    z = conv_bn_act(
        x,
        filters,
        3,
        name=f"{name}_a",
        activation=activation,
        kernel_regularizer=kernel_regularizer,
    )
    z = conv_bn_act(
        z,
        filters,
        3,
        name=f"{name}_b",
        activation=None,
        kernel_regularizer=kernel_regularizer,
    )
    x = keras.layers.Add(name=f"{name}_add")([shortcut, z])
    return keras.layers.Activation(activation, name=f"{name}_out")(x)
