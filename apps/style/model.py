"""The fixed feature extractors of style transfer and their defaults.

`build_extractor(cfg)` returns a Functional model from an image in [0, 1],
`(batch, H, W, 3)`, to `{"content": [a[l](X) ...], "style": [a[l](X)
...]}`. Its weights never train: only the generated image does.

- `random` (offline default): VGG-style blocks of 3x3 convolutions + ReLU
  and 2x2 average pooling, with fixed random He-normal filters from
  `seed`. Average pooling, as Gatys et al. recommend for synthesis.
- `vgg19`: `keras.applications.VGG19(include_top=False)` with Caffe-style
  preprocessing (BGR, ImageNet mean), weights `imagenet`, a local file,
  or `none`.
"""

import dataclasses
from pathlib import Path

import keras

from apps.common.config import ConfigError
from apps.style.config import StyleConfig

LAYERS = {
    "random": {
        "content": ["block3_conv1"],
        "style": [
            "block1_conv1",
            "block2_conv1",
            "block3_conv1",
            "block4_conv1",
        ],
    },
    # Gatys et al. 2016: content conv4_2, style conv1_1 ... conv5_1.
    "vgg19": {
        "content": ["block4_conv2"],
        "style": [
            "block1_conv1",
            "block2_conv1",
            "block3_conv1",
            "block4_conv1",
            "block5_conv1",
        ],
    },
}
# Only the ratios matter under Adam. `random`: chosen by eye on the demo
# images (astronaut, The Starry Night) at 160 px: beta 1e5 barely moves
# the colours; 1e7 takes the style's palette but adds high-frequency
# noise; tv_weight 300 or more blurs the picture to blobs; 3e6 with tv 10
# over 300 steps keeps the content recognisable with the style's palette
# and some stroke texture. `vgg19`: the ratio of the Keras NST example
# (content 2.5e-8 on sum((C - G)^2), style 1e-6 spread over the layers)
# in this module's conventions (1/2 in J_content, lambda[l] = 1 / L);
# not tuned here (no ImageNet weights on this machine).
COSTS = {
    "random": {"alpha": 1.0, "beta": 3.0e6, "tv_weight": 10.0},
    "vgg19": {"alpha": 1.0, "beta": 20.0, "tv_weight": 30.0},
}
# The ImageNet mean in BGR order (Caffe preprocessing of VGG).
VGG_MEAN_BGR = (103.939, 116.779, 123.68)


def layer_names(cfg: StyleConfig) -> tuple[list[str], list[str]]:
    """`(content_layers, style_layers)`: the config's or the defaults."""
    e = cfg.extractor
    defaults = LAYERS[e.name]
    return (
        list(e.content_layers) or defaults["content"],
        list(e.style_layers) or defaults["style"],
    )


def cost_weights(cfg: StyleConfig) -> dict:
    """`alpha`, `beta`, `tv_weight`: the config's, or the extractor's."""
    out = dict(COSTS[cfg.extractor.name])
    for key in out:
        value = getattr(cfg.cost, key)
        if value is not None:
            out[key] = float(value)
    return out


def random_vgg(width: int, seed: int, size: int | None = None) -> keras.Model:
    """The random-filter VGG-style network (all layers, frozen).

    Blocks of `(convs, channels)`: (2, w), (2, 2w), (3, 4w), (1, 8w),
    average pooling between blocks; the input is centred and scaled.
    `size` fixes the input to `size x size` (None: any size).
    """
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(4.0, offset=-2.0, name="center")(inputs)
    blocks = [(2, width), (2, 2 * width), (3, 4 * width), (1, 8 * width)]
    for b, (convs, channels) in enumerate(blocks, start=1):
        if b > 1:
            x = keras.layers.AveragePooling2D(2, name=f"block{b - 1}_pool")(x)
        for c in range(1, convs + 1):
            x = keras.layers.Conv2D(
                channels,
                3,
                padding="same",
                activation="relu",
                kernel_initializer=keras.initializers.HeNormal(
                    seed=seed * 1000 + b * 10 + c
                ),
                name=f"block{b}_conv{c}",
            )(x)
    model = keras.Model(inputs, x, name="random_vgg")
    model.trainable = False
    return model


def vgg19_base(weights: str, size: int | None = None) -> keras.Model:
    """Keras' VGG19 without its top, on Caffe-preprocessed input.

    Args:
        weights: `imagenet` (Keras downloads it once into
            `~/.keras/models`), a path to a weights file, or `none`.
        size: fixes the input to `size x size` (None: any size).
    """
    if weights not in ("imagenet", "none"):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"extractor.weights: {weights}: weights file not found "
                "(expected imagenet, none or the path of a VGG19 "
                "include_top=False weights file)"
            )
        weights = str(path)
    try:
        return keras.applications.VGG19(
            include_top=False,
            weights=None if weights == "none" else weights,
            input_shape=(size, size, 3),
        )
    except Exception as err:  # noqa: BLE001 - download or file errors
        if weights == "none":
            raise
        reason = " ".join(str(err).split())[:160]
        hint = (
            "download failed; pass a local file with --set "
            "extractor.weights=PATH"
            if weights == "imagenet"
            else "not a VGG19 include_top=False weights file"
        )
        raise ConfigError(f"extractor.weights: {weights}: {hint} ({reason})")


def caffe_preprocess(images):
    """RGB in [0, 1] -> BGR in [0, 255] minus the ImageNet mean."""
    x = keras.layers.Rescaling(255.0, name="to_255")(images)
    x = keras.ops.flip(x, axis=-1)
    return x - keras.ops.convert_to_tensor(VGG_MEAN_BGR)


def build_extractor(cfg: StyleConfig, size: int | None = None) -> keras.Model:
    """The feature model `image -> {"content": [...], "style": [...]}`.

    Args:
        cfg: the app config (`extractor` section).
        size: a fixed `size x size` input (for `apps.inspect`), or None
            for any image size.

    Raises:
        ConfigError: a layer name that the network lacks, or a missing
            weights file.
    """
    e = cfg.extractor
    if e.name == "random":
        net = random_vgg(e.width, e.seed, size)
    else:
        net = vgg19_base(e.weights, size)
    content, style = layer_names(cfg)
    names = [layer.name for layer in net.layers]
    for key, wanted in (("content_layers", content), ("style_layers", style)):
        for name in wanted:
            if name not in names:
                raise ConfigError(
                    f"extractor.{key}: {name!r} is not a layer of "
                    f"{e.name} (layers: {', '.join(names[1:])})"
                )
    taps = {
        "content": [net.get_layer(n).output for n in content],
        "style": [net.get_layer(n).output for n in style],
    }
    if e.name == "random":
        inputs, outputs = net.input, taps
    else:
        inputs = keras.Input((size, size, 3), name="image")
        tapped = keras.Model(net.input, taps, name="vgg19")
        outputs = tapped(caffe_preprocess(inputs))
    model = keras.Model(inputs, outputs, name=f"{e.name}_extractor")
    model.trainable = False
    return model


def inspect_model(cfg: StyleConfig) -> tuple[keras.Model, list[str]]:
    """The extractor at `images.size` square, for `python -m apps.inspect
    --app style` (VGG19 `imagenet` weights are swapped for `none` there:
    inspection never downloads, and weights change no cost).

    Returns:
        `(model, notes)`: the extractor and notes on what was assumed
        (none).
    """
    if cfg.extractor.name == "vgg19" and cfg.extractor.weights == "imagenet":
        cfg = dataclasses.replace(
            cfg,
            extractor=dataclasses.replace(cfg.extractor, weights="none"),
        )
    return build_extractor(cfg, cfg.images.size), []
