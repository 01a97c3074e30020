"""YOLOv8's CSP blocks, backbone and PAN neck, as name-prefixed functions.

The layout follows Ultralytics' `yolov8.yaml`. Every channel count `c` of
the full-size model becomes `ceil(min(c, max_channels) * width / 8) * 8`,
and every repeat count `n > 1` becomes `max(round(n * depth), 1)`. With
`SIZES["n"] = (0.33, 0.25)` backbone + neck + `anchor_free_head` for 80
classes have about 3.2 M parameters and 8.7 GFLOPs at 640 x 640, as
YOLOv8n does.

Backbone (full-size channels; `C2f(c, n)`, `conv(c, stride)`):

    conv(64, 2) conv(128, 2) C2f(128, 3)            stride 4
    conv(256, 2) C2f(256, 6)                        P3, stride 8
    conv(512, 2) C2f(512, 6)                        P4, stride 16
    conv(1024, 2) C2f(1024, 3) SPPF(1024)           P5, stride 32

Neck (top-down then bottom-up, C2f without shortcuts):

    up(P5) ++ P4 -> C2f(512, 3) = H4
    up(H4) ++ P3 -> C2f(256, 3) = N3
    conv(N3, 256, 2) ++ H4 -> C2f(512, 3) = N4
    conv(N4, 512, 2) ++ P5 -> C2f(1024, 3) = N5
"""

import math

import keras

from layers.blocks.residual import conv_bn_act

SIZES = {"n": (0.33, 0.25), "s": (0.33, 0.50)}


def scale_channels(
    channels: int, width: float, max_channels: int = 1024
) -> int:
    """Channels of a full-size layer for a width multiplier.

    Args:
        channels: the full-size (width 1.0) channel count.
        width: the width multiplier.
        max_channels: cap applied before the multiplier.

    Returns:
        `ceil(min(channels, max_channels) * width / 8) * 8`.
    """
    return int(math.ceil(min(channels, max_channels) * width / 8) * 8)


def scale_depth(repeats: int, depth: float) -> int:
    """Repeats of a full-size block for a depth multiplier.

    Args:
        repeats: the full-size (depth 1.0) repeat count.
        depth: the depth multiplier.

    Returns:
        `max(round(repeats * depth), 1)` when `repeats > 1`, else `repeats`.
    """
    if repeats > 1:
        return max(int(round(repeats * depth)), 1)
    return repeats


def _check_multipliers(width, depth, max_channels):
    for key, value in (("width", width), ("depth", depth)):
        if isinstance(value, bool) or not (
            isinstance(value, (int, float)) and value > 0
        ):
            raise ValueError(
                f"Expected {key} to be a positive number. "
                f"Received: {key}={value}"
            )
    if isinstance(max_channels, bool) or not (
        isinstance(max_channels, int) and max_channels >= 8
    ):
        raise ValueError(
            "Expected max_channels to be an integer >= 8. "
            f"Received: max_channels={max_channels}"
        )


def c2f_block(
    x,
    filters: int,
    n: int,
    *,
    shortcut: bool = True,
    name: str,
    activation: str = "silu",
    kernel_regularizer=None,
    kernel_initializer="glorot_uniform",
    norm: str = "before",
):
    """YOLOv8's C2f: a CSP block with `n` bottlenecks and all taps joined.

    With `c = filters // 2`: a 1x1 conv to `2c` channels split into halves
    `a` and `b`; `n` bottlenecks in sequence on `b`, each two 3x3 convs of
    `c` channels plus (when `shortcut`) a residual add; then the 1x1 conv
    of `concat(a, b, m_1, ..., m_n)` (`(2 + n) c` channels) to `filters`.

    The 1x1 conv + BN + activation to `2c` channels followed by a split is
    written as two 1x1 conv + BN + activation to `c` channels
    (`{name}_cv1a`, `{name}_cv1b`): every output channel of a convolution
    and of batch norm depends on its own kernel slice only, so the two are
    the same function with the same parameters, without a split layer.

    Args:
        x: `(batch, H, W, C)` input tensor.
        filters: output channels (`filters // 2` in the bottlenecks).
        n: number of bottlenecks, >= 0.
        shortcut: residual adds in the bottlenecks (the backbone uses them,
            the neck does not).
        name: prefix for every layer's name.
        activation: activation of every conv.
        kernel_regularizer: optional Keras regularizer on every kernel.
        kernel_initializer: every kernel's initializer (`conv_bn_act`).
        norm: the batch norm's place (`conv_bn_act`).

    Returns:
        `(batch, H, W, filters)` tensor.
    """
    hidden = filters // 2
    if hidden < 1 or n < 0:
        raise ValueError(
            "Expected filters >= 2 and n >= 0. "
            f"Received: filters={filters}, n={n}"
        )
    conv = dict(
        activation=activation,
        kernel_regularizer=kernel_regularizer,
        kernel_initializer=kernel_initializer,
        norm=norm,
    )
    a = conv_bn_act(x, hidden, 1, name=f"{name}_cv1a", **conv)
    b = conv_bn_act(x, hidden, 1, name=f"{name}_cv1b", **conv)
    taps = [a, b]
    for i in range(n):
        y = conv_bn_act(taps[-1], hidden, 3, name=f"{name}_m{i}_cv1", **conv)
        y = conv_bn_act(y, hidden, 3, name=f"{name}_m{i}_cv2", **conv)
        if shortcut:
            y = keras.layers.Add(name=f"{name}_m{i}_add")([taps[-1], y])
        taps.append(y)
    y = keras.layers.Concatenate(name=f"{name}_concat")(taps)
    return conv_bn_act(y, filters, 1, name=f"{name}_cv2", **conv)


def sppf_block(
    x,
    filters: int,
    *,
    pool_size: int = 5,
    name: str,
    activation: str = "silu",
    kernel_regularizer=None,
    kernel_initializer="glorot_uniform",
    norm: str = "before",
):
    """Spatial pyramid pooling, fast (SPPF, YOLOv5/v8).

    A 1x1 conv to `C // 2` channels, three stride-1 max pools of
    `pool_size` in sequence (receptive fields 5, 9, 13 for size 5), the
    four taps concatenated and a 1x1 conv to `filters`.

    Args:
        x: `(batch, H, W, C)` input tensor.
        filters: output channels.
        pool_size: max-pool window.
        name: prefix for every layer's name.
        activation: activation of both convs.
        kernel_regularizer: optional Keras regularizer on both kernels.
        kernel_initializer: every kernel's initializer (`conv_bn_act`).
        norm: the batch norm's place (`conv_bn_act`).

    Returns:
        `(batch, H, W, filters)` tensor.
    """
    conv = dict(
        activation=activation,
        kernel_regularizer=kernel_regularizer,
        kernel_initializer=kernel_initializer,
        norm=norm,
    )
    hidden = max(x.shape[-1] // 2, 1)
    taps = [conv_bn_act(x, hidden, 1, name=f"{name}_cv1", **conv)]
    for i in range(3):
        taps.append(
            keras.layers.MaxPooling2D(
                pool_size, strides=1, padding="same", name=f"{name}_pool{i}"
            )(taps[-1])
        )
    y = keras.layers.Concatenate(name=f"{name}_concat")(taps)
    return conv_bn_act(y, filters, 1, name=f"{name}_cv2", **conv)


def csp_backbone(
    inputs,
    *,
    width: float,
    depth: float,
    max_channels: int = 1024,
    name: str = "backbone",
    activation: str = "silu",
    kernel_regularizer=None,
    kernel_initializer="glorot_uniform",
    norm: str = "before",
):
    """YOLOv8's CSP-Darknet backbone.

    Args:
        inputs: `(batch, H, W, 3)` image tensor, already scaled (e.g. to
            [0, 1]); `H` and `W` multiples of 32.
        width: channel multiplier (`SIZES[size][1]`).
        depth: repeat multiplier (`SIZES[size][0]`).
        max_channels: cap on the full-size channel counts.
        name: prefix for every layer's name.
        activation: activation of every conv.
        kernel_regularizer: optional Keras regularizer on every kernel.
        kernel_initializer: every kernel's initializer (`conv_bn_act`).
        norm: the batch norm's place (`conv_bn_act`).

    Returns:
        `[P3, P4, P5]`: `(batch, H/8, W/8, c(256))`, `(batch, H/16, W/16,
        c(512))`, `(batch, H/32, W/32, c(1024))`, with `c` from
        `scale_channels`.

    Example:

    >>> x = keras.Input((64, 64, 3))
    >>> [p.shape for p in csp_backbone(x, width=0.25, depth=0.33)]
    [(None, 8, 8, 64), (None, 4, 4, 128), (None, 2, 2, 256)]
    """
    _check_multipliers(width, depth, max_channels)

    def ch(c):
        return scale_channels(c, width, max_channels)

    conv = dict(
        activation=activation,
        kernel_regularizer=kernel_regularizer,
        kernel_initializer=kernel_initializer,
        norm=norm,
    )
    x = conv_bn_act(inputs, ch(64), 3, 2, name=f"{name}_stem", **conv)
    x = conv_bn_act(x, ch(128), 3, 2, name=f"{name}_down2", **conv)
    x = c2f_block(
        x, ch(128), scale_depth(3, depth), name=f"{name}_c2f2", **conv
    )
    outputs = []
    for level, (c, n) in enumerate(((256, 6), (512, 6), (1024, 3)), start=3):
        x = conv_bn_act(x, ch(c), 3, 2, name=f"{name}_down{level}", **conv)
        x = c2f_block(
            x, ch(c), scale_depth(n, depth), name=f"{name}_c2f{level}", **conv
        )
        outputs.append(x)
    outputs[-1] = sppf_block(outputs[-1], ch(1024), name=f"{name}_sppf", **conv)
    return outputs


def pan_neck(
    features,
    *,
    width: float,
    depth: float,
    max_channels: int = 1024,
    name: str = "neck",
    activation: str = "silu",
    kernel_regularizer=None,
    kernel_initializer="glorot_uniform",
    norm: str = "before",
):
    """YOLOv8's PAN neck: top-down FPN path, then a bottom-up path.

    Args:
        features: `[P3, P4, P5]` from `csp_backbone`, strides 8, 16, 32.
        width: channel multiplier, as for the backbone.
        depth: repeat multiplier, as for the backbone.
        max_channels: cap on the full-size channel counts.
        name: prefix for every layer's name.
        activation: activation of every conv.
        kernel_regularizer: optional Keras regularizer on every kernel.
        kernel_initializer: every kernel's initializer (`conv_bn_act`).
        norm: the batch norm's place (`conv_bn_act`).

    Returns:
        `[N3, N4, N5]` at strides 8, 16, 32 with `c(256)`, `c(512)` and
        `c(1024)` channels (`c` from `scale_channels`).
    """
    _check_multipliers(width, depth, max_channels)
    if len(features) != 3:
        raise ValueError(
            "Expected features [P3, P4, P5]. "
            f"Received: len(features)={len(features)}"
        )

    def ch(c):
        return scale_channels(c, width, max_channels)

    conv = dict(
        activation=activation,
        kernel_regularizer=kernel_regularizer,
        kernel_initializer=kernel_initializer,
        norm=norm,
    )
    n = scale_depth(3, depth)
    p3, p4, p5 = features

    def up_join(x, skip, filters, tag):
        x = keras.layers.UpSampling2D(2, name=f"{name}_up{tag}")(x)
        x = keras.layers.Concatenate(name=f"{name}_cat{tag}")([x, skip])
        return c2f_block(
            x, filters, n, shortcut=False, name=f"{name}_c2f{tag}", **conv
        )

    def down_join(x, skip, filters, tag):
        x = conv_bn_act(x, x.shape[-1], 3, 2, name=f"{name}_down{tag}", **conv)
        x = keras.layers.Concatenate(name=f"{name}_cat{tag}")([x, skip])
        return c2f_block(
            x, filters, n, shortcut=False, name=f"{name}_c2f{tag}", **conv
        )

    h4 = up_join(p5, p4, ch(512), "_top4")
    n3 = up_join(h4, p3, ch(256), "_out3")
    n4 = down_join(n3, h4, ch(512), "_out4")
    n5 = down_join(n4, p5, ch(1024), "_out5")
    return [n3, n4, n5]
