"""Convolution and residual blocks, as name-prefixed functions.

The cheatsheet's residual block: `a[l+2] = g(a[l] + z[l+2])`, where
`z[l+2]` comes from two convolutions of `a[l]` and `g` is the activation.
"""

import keras

NORM_POSITIONS = ("before", "after", "none")


def conv_bn_act(
    x,
    filters: int,
    kernel_size: int = 3,
    strides: int = 1,
    *,
    name: str,
    activation: str | None = "silu",
    kernel_regularizer=None,
    kernel_initializer="glorot_uniform",
    norm: str = "before",
):
    """Conv2D -> BatchNormalization -> activation, with the batch norm's
    place as an option.

    `norm="before"` (the default, as in ResNet and YOLO): conv without
    bias, BN, then the activation. `"after"`: conv with bias, the
    activation, then BN. `"none"`: conv with bias and the activation, no
    BN. The layers are named `{name}_conv`, `{name}_bn`, `{name}_act`
    whatever the order.

    Args:
        x: `(batch, H, W, C)` input tensor.
        filters: number of output channels.
        kernel_size: square kernel size F.
        strides: stride S.
        name: prefix for the three layers' names.
        activation: a Keras activation name, or None for none.
        kernel_regularizer: optional Keras regularizer on the kernel.
        kernel_initializer: the kernel's initializer: `"glorot_uniform"`
            (Xavier, Keras' default) or `"he_normal"` (He, for ReLU-like
            activations), or any Keras initializer.
        norm: `"before"`, `"after"` or `"none"` (see above).

    Returns:
        `(batch, ceil(H / S), ceil(W / S), filters)` tensor.
    """
    if norm not in NORM_POSITIONS:
        raise ValueError(
            f"Expected norm to be one of {NORM_POSITIONS}. Received: "
            f"norm={norm}"
        )
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=norm != "before",
        kernel_regularizer=kernel_regularizer,
        kernel_initializer=kernel_initializer,
        name=f"{name}_conv",
    )(x)

    def batch_norm(x):
        return keras.layers.BatchNormalization(
            momentum=0.97, epsilon=1e-3, name=f"{name}_bn"
        )(x)

    if norm == "before":
        x = batch_norm(x)
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_act")(x)
    if norm == "after":
        x = batch_norm(x)
    return x


def residual_block(
    x,
    filters: int,
    *,
    name: str,
    activation: str = "silu",
    kernel_regularizer=None,
    kernel_initializer="glorot_uniform",
    norm: str = "before",
):
    """The cheatsheet's residual block `a[l+2] = g(a[l] + z[l+2])`.

    A 1x1 projection is added on the skip path when the channel counts differ.

    Args:
        x: `(batch, H, W, C)` input `a[l]`.
        filters: channels of the output.
        name: prefix for every layer's name.
        activation: the activation `g`.
        kernel_regularizer: optional Keras regularizer on every kernel.
        kernel_initializer: every kernel's initializer (see `conv_bn_act`).
        norm: the batch norm's place (see `conv_bn_act`).

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
            kernel_initializer=kernel_initializer,
            norm=norm,
        )
    z = conv_bn_act(
        x,
        filters,
        3,
        name=f"{name}_a",
        activation=activation,
        kernel_regularizer=kernel_regularizer,
        kernel_initializer=kernel_initializer,
        norm=norm,
    )
    z = conv_bn_act(
        z,
        filters,
        3,
        name=f"{name}_b",
        activation=None,
        kernel_regularizer=kernel_regularizer,
        kernel_initializer=kernel_initializer,
        norm=norm,
    )
    x = keras.layers.Add(name=f"{name}_add")([shortcut, z])
    return keras.layers.Activation(activation, name=f"{name}_out")(x)
