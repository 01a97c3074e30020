"""The 1x1 convolution trick in numbers: inception modules with and
without their 1x1 reductions.

For every inception module of a model (found by the layer names that
`layers.blocks.inception.inception_block` gives, `<name>_3x3_reduce_conv`),
both variants are built on the module's own input shape and analysed:

- with reductions: `inception_block` as the model uses it;
- without: the same module with the 3x3 and 5x5 branches applied to all
  `C` input channels directly (the 1x1 branch and the pooling projection
  stay, so both variants give the same output).

The saving is the difference in parameters and FLOPs, the cheatsheet's
`(F F C + 1) K` against `(C + 1) r + (F F r + 1) K` summed over the
branches (here without biases, as batch norm follows each convolution).
"""

import keras

from apps.inspect.analysis import analyze
from layers.blocks.inception import inception_block
from layers.blocks.residual import conv_bn_act

SUFFIX = "_3x3_reduce_conv"


def inception_without_reductions(x, spec: dict, *, name: str, activation):
    """The inception module of `spec` with its two 1x1 reductions removed.

    Args:
        x: `(batch, H, W, C)` input tensor.
        spec: the keyword arguments of `inception_block` (widths).
        name: prefix of every layer's name.
        activation: activation after each convolution.

    Returns:
        The concatenated output, with the same channels as the module.
    """
    common = dict(activation=activation)
    b1 = conv_bn_act(x, spec["filters_1x1"], 1, name=f"{name}_1x1", **common)
    b3 = conv_bn_act(x, spec["filters_3x3"], 3, name=f"{name}_3x3", **common)
    b5 = conv_bn_act(x, spec["filters_5x5"], 3, name=f"{name}_5x5_a", **common)
    b5 = conv_bn_act(b5, spec["filters_5x5"], 3, name=f"{name}_5x5_b", **common)
    bp = keras.layers.MaxPooling2D(
        3, strides=1, padding="same", name=f"{name}_pool"
    )(x)
    bp = conv_bn_act(
        bp, spec["pool_proj"], 1, name=f"{name}_pool_proj", **common
    )
    return keras.layers.Concatenate(name=f"{name}_concat")([b1, b3, b5, bp])


def _flat_layers(model):
    out = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.update(_flat_layers(layer))
        out[layer.name] = layer
    return out


def _module_spec(layers_by_name, prefix):
    def filters(suffix):
        return layers_by_name[f"{prefix}_{suffix}_conv"].filters

    first = layers_by_name[f"{prefix}_1x1_conv"]
    act = layers_by_name.get(f"{prefix}_1x1_act")
    spec = dict(
        filters_1x1=filters("1x1"),
        reduce_3x3=filters("3x3_reduce"),
        filters_3x3=filters("3x3"),
        reduce_5x5=filters("5x5_reduce"),
        filters_5x5=filters("5x5_a"),
        pool_proj=filters("pool_proj"),
    )
    activation = keras.activations.serialize(act.activation) if act else None
    if isinstance(activation, dict):
        activation = activation.get("config", activation)
    return spec, tuple(first.input.shape[1:]), activation


def inception_savings(model: keras.Model) -> list[dict]:
    """Parameters and FLOPs of each inception module with and without its
    1x1 reductions.

    Returns:
        One dict per module: `name`, `input_shape`, `spec`, and
        `params_with`, `params_without`, `flops_with`, `flops_without`,
        `params_saved`, `flops_saved` (fractions), plus `params_in_model`
        (the module's layers' parameters in the model itself, which must
        equal `params_with`).
    """
    by_name = _flat_layers(model)
    prefixes = sorted(n[: -len(SUFFIX)] for n in by_name if n.endswith(SUFFIX))
    results = []
    for prefix in prefixes:
        spec, shape, activation = _module_spec(by_name, prefix)
        activation = activation or "relu"
        x = keras.Input(shape)
        with_model = keras.Model(
            x, inception_block(x, name=prefix, activation=activation, **spec)
        )
        x = keras.Input(shape)
        without_model = keras.Model(
            x,
            inception_without_reductions(
                x, spec, name=prefix, activation=activation
            ),
        )
        with_report = analyze(with_model)
        without_report = analyze(without_model)
        in_model = sum(
            layer.count_params()
            for name, layer in by_name.items()
            if name.startswith(f"{prefix}_")
        )
        results.append(
            {
                "name": prefix,
                "input_shape": list(shape),
                "spec": spec,
                "params_with": with_report.total_params,
                "params_without": without_report.total_params,
                "flops_with": with_report.flops,
                "flops_without": without_report.flops,
                "params_saved": 1
                - with_report.total_params / without_report.total_params,
                "flops_saved": 1 - with_report.flops / without_report.flops,
                "params_in_model": int(in_model),
            }
        )
    return results
