"""The cost of one layer: its row of the table, by the rule of its kind.

For each layer applied in a graph, `layer_row` fills a `LayerRow` with
the cheatsheet's formulas (`apps.inspect.formulas`): output size with the
padding of the mode, valid (`P = 0`), same, or full (`P_start = P_end =
F - 1`, a `FullPadding2D` before a valid convolution or pooling), where
`F` is the dilated size `d (F - 1) + 1`; parameters by the counting rules
(pooling 0, batch norm `4 C`: `gamma`, `beta` learned, mean and variance
kept); FLOPs as `2 x` multiply-adds plus one per bias add (TensorFlow's
profiler's convention), an element-wise count for the cheap layers; and
activation memory, output elements per sample times bytes per element.

It also carries the receptive field along the graph as a state `(R,
jump)` per axis, `jump = prod S`: a merge takes the largest of its inputs,
upsampling by `u` divides the jump by `u`, a global pooling or flatten
sees the whole input (`GLOBAL`).

Each row is cross-checked against Keras' own output shape and
`count_params()`: a disagreement is kept in `row.mismatch`.
"""

import keras

from apps.inspect.formulas import conv_params
from apps.inspect.formulas import dense_params
from apps.inspect.formulas import output_size
from apps.inspect.formulas import same_padding
from apps.inspect.table import LayerRow
from layers.padding import FullPadding2D

GLOBAL = "global"
CONV_TYPES = ("Conv2D", "DepthwiseConv2D")
POOL_TYPES = ("MaxPooling2D", "AveragePooling2D")
GLOBAL_TYPES = (
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "Flatten",
)
MERGE_TYPES = ("Add", "Concatenate", "Multiply", "Average", "Maximum")
ELEMENTWISE_TYPES = (
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "Rescaling",
    "Dropout",
    "SpatialDropout2D",
    "UnitNormalization",
)


def _pair(value):
    if isinstance(value, int):
        return (value, value)
    return tuple(int(v) for v in value)


def tensor_shape(tensor):
    """A (Keras) tensor's shape as a tuple, `None` for unknown sizes."""
    return tuple(tensor.shape)


def num_elements(shape):
    """Elements per sample of `shape` (its batch axis left out); 0 when a
    size is unknown."""
    n = 1
    for d in shape[1:]:
        if d is None:
            return 0
        n *= d
    return n


def itemsize(tensor):
    """Bytes per element of `tensor`'s dtype."""
    dtype = keras.backend.standardize_dtype(tensor.dtype)
    if dtype in ("bool", "int8", "uint8"):
        return 1
    if dtype in ("float16", "bfloat16", "int16", "uint16"):
        return 2
    if dtype in ("float64", "int64", "uint64", "complex64"):
        return 8
    return 4


def _merge_state(states):
    spatial = [s for s in states if s is not None]
    if not spatial:
        return None
    if any(s == GLOBAL for s in spatial):
        return GLOBAL
    rf = tuple(max(s[0][i] for s in spatial) for i in range(2))
    jump = tuple(max(s[1][i] for s in spatial) for i in range(2))
    return (rf, jump)


def _window(state, kernel, strides):
    if state is None or state == GLOBAL:
        return state
    (rf, jump) = state
    new_rf = tuple(rf[i] + (kernel[i] - 1) * jump[i] for i in range(2))
    new_jump = tuple(jump[i] * strides[i] for i in range(2))
    return (new_rf, new_jump)


def _rf_value(state):
    if state is None:
        return None, None
    if state == GLOBAL:
        return GLOBAL, None
    rf = [_number(v) for v in state[0]]
    jump = [_number(v) for v in state[1]]
    value = rf[0] if rf[0] == rf[1] else rf
    return value, jump[0] if jump[0] == jump[1] else jump


def _number(value):
    """An int when the value is whole (upsampling makes floats)."""
    return int(value) if float(value).is_integer() else float(value)


# ------------------------------------------------------- per-layer rules


def _windowed(row, layer, in_shape, out_shape, full_from):
    """Convolution or pooling: output size, padding, params, FLOPs."""
    kind = _rule_kind(layer)
    config = layer.get_config()
    size = _pair(config.get("kernel_size", config.get("pool_size")))
    strides = _pair(config.get("strides") or size)
    dilation = _pair(config.get("dilation_rate", 1))
    kernel = tuple(dilation[i] * (size[i] - 1) + 1 for i in range(2))
    mode = config.get("padding", "valid")
    height, width = in_shape[1], in_shape[2]
    pads = [(0, 0), (0, 0)]
    if mode == "same":
        pads = [
            same_padding(height, kernel[0], strides[0]) or (0, 0),
            same_padding(width, kernel[1], strides[1]) or (0, 0),
        ]
    if full_from is not None and mode == "valid":
        # FullPadding2D(F) then a valid window of the same F: full padding.
        if tuple(full_from.padding) == (kernel[0] - 1, kernel[1] - 1):
            mode = "full"
            pads = [(kernel[0] - 1,) * 2, (kernel[1] - 1,) * 2]
            height = None if height is None else height - 2 * pads[0][0]
            width = None if width is None else width - 2 * pads[1][0]
            row.input_shape = (in_shape[0], height, width, in_shape[3])
    row.kernel, row.strides, row.padding = size, strides, mode
    row.pads = (pads[0][0], pads[0][1], pads[1][0], pads[1][1])
    o_h = output_size(height, kernel[0], strides[0], *pads[0])
    o_w = output_size(width, kernel[1], strides[1], *pads[1])
    c_in = in_shape[3]
    if kind == "Conv2D":
        channels = config["filters"]
        groups = config.get("groups", 1)
        bias = config.get("use_bias", True)
        row.formula_params = conv_params(
            size, c_in, channels, bias=bias, groups=groups
        )
        macs_per_out = size[0] * size[1] * c_in // groups
    elif kind == "DepthwiseConv2D":
        channels = c_in * config.get("depth_multiplier", 1)
        bias = config.get("use_bias", True)
        row.formula_params = (size[0] * size[1] + int(bias)) * channels
        macs_per_out = size[0] * size[1]
    else:
        channels, bias = c_in, False
        row.formula_params = 0
        macs_per_out = size[0] * size[1]
    row.formula_shape = (out_shape[0], o_h, o_w, channels)
    outputs = num_elements((None, o_h, o_w, channels))
    if kind in CONV_TYPES:
        row.flops = 2 * outputs * macs_per_out + (outputs if bias else 0)
    else:
        row.flops = outputs * macs_per_out
    return kernel, strides


def _dense(row, layer, in_shape):
    config = layer.get_config()
    units, bias = config["units"], config.get("use_bias", True)
    n_in = in_shape[-1]
    row.formula_params = dense_params(n_in, units, bias=bias)
    row.formula_shape = tuple(in_shape[:-1]) + (units,)
    positions = num_elements(tuple(in_shape[:-1]) + (1,))
    row.flops = positions * (2 * n_in * units + (units if bias else 0))


def _check(row, layer):
    if not isinstance(layer, keras.layers.Layer):
        # A bare keras.ops call in a Functional graph: no weights.
        row.formula_params = row.formula_params or 0
        return
    row.params = int(layer.count_params())
    if row.formula_params is not None and row.formula_params != row.params:
        row.mismatch.append(
            f"parameters {row.formula_params} by formula != "
            f"{row.params} by Keras"
        )
    if row.formula_shape is not None:
        want, got = row.formula_shape, row.output_shape
        same = len(want) == len(got) and all(
            a is None or b is None or a == b for a, b in zip(want, got)
        )
        if not same:
            row.mismatch.append(
                f"output {list(want)} by formula != {list(got)} by Keras"
            )


def _rule_kind(layer) -> str:
    """The Keras class whose rule applies: the layer's own class or the
    nearest known base (a Conv2D subclass is held to the Conv2D rule)."""
    known = (
        CONV_TYPES
        + POOL_TYPES
        + GLOBAL_TYPES
        + MERGE_TYPES
        + ELEMENTWISE_TYPES
        + (
            "Dense",
            "FullPadding2D",
            "ZeroPadding2D",
            "BatchNormalization",
            "UpSampling2D",
            "InputLayer",
        )
    )
    for cls in type(layer).__mro__:
        if cls.__name__ in known:
            return cls.__name__
    return type(layer).__name__


def layer_row(layer, name, ins, outs, in_states, producers):
    """Fills one row and returns the receptive-field state of its output."""
    kind = _rule_kind(layer)
    in_shape = tensor_shape(ins[0]) if ins else None
    out_shape = tensor_shape(outs[0])
    row = LayerRow(
        name=name,
        kind=type(layer).__name__,
        input_shape=in_shape,
        output_shape=out_shape,
    )
    state = _merge_state(in_states) if in_states else ((1, 1), (1, 1))
    elements = num_elements(out_shape)
    if kind in CONV_TYPES + POOL_TYPES and len(in_shape) == 4:
        full_from = producers.get(id(ins[0]))
        if not isinstance(full_from, FullPadding2D):
            full_from = None
        kernel, strides = _windowed(row, layer, in_shape, out_shape, full_from)
        state = _window(state, kernel, strides)
    elif kind == "Dense":
        # On (batch, H, W, C) a Dense is a 1x1 convolution: the receptive
        # field is kept; on (batch, N) after a spatial map, it is global.
        _dense(row, layer, in_shape)
        if len(in_shape) == 2 and state is not None:
            state = GLOBAL
    elif kind == "FullPadding2D":
        rows, cols = layer.padding
        row.padding, row.pads = "full", (rows, rows, cols, cols)
        row.kernel = layer.kernel_size
        row.formula_shape = layer.compute_output_shape(in_shape)
        row.formula_params = 0
    elif kind == "ZeroPadding2D":
        (top, bottom), (left, right) = layer.padding
        row.padding, row.pads = "zero", (top, bottom, left, right)
        row.formula_params = 0
        row.formula_shape = (
            in_shape[0],
            None if in_shape[1] is None else in_shape[1] + top + bottom,
            None if in_shape[2] is None else in_shape[2] + left + right,
            in_shape[3],
        )
    elif kind == "BatchNormalization":
        row.formula_params = 4 * in_shape[-1]
        row.formula_shape = in_shape
        row.flops = 2 * elements
    elif kind in GLOBAL_TYPES:
        row.formula_params = 0
        row.flops = num_elements(in_shape) if "Pooling" in kind else 0
        if state is not None:
            state = GLOBAL
    elif kind == "UpSampling2D":
        factor = _pair(layer.size)
        row.formula_params = 0
        row.formula_shape = (
            in_shape[0],
            None if in_shape[1] is None else in_shape[1] * factor[0],
            None if in_shape[2] is None else in_shape[2] * factor[1],
            in_shape[3],
        )
        if state not in (None, GLOBAL):
            rf, jump = state
            state = (rf, tuple(jump[i] / factor[i] for i in range(2)))
    elif kind in MERGE_TYPES:
        row.formula_params = 0
        if kind == "Concatenate" and layer.axis in (-1, len(in_shape) - 1):
            channels = [tensor_shape(t)[-1] for t in ins]
            total = None if None in channels else sum(channels)
            row.formula_shape = tuple(in_shape[:-1]) + (total,)
        elif kind != "Concatenate":
            row.formula_shape = in_shape
        row.flops = 0 if kind == "Concatenate" else elements * (len(ins) - 1)
    elif kind in ELEMENTWISE_TYPES:
        # Shape-preserving and weightless: O = I, no parameters.
        row.formula_params, row.formula_shape = 0, in_shape
        row.flops = 2 * elements if kind == "Rescaling" else elements
        if kind in ("Dropout", "SpatialDropout2D"):
            row.flops = 0
    elif kind == "InputLayer":
        row.formula_params = 0
        state = ((1, 1), (1, 1)) if len(out_shape) == 4 else None
    elif getattr(layer, "weights", None) and (
        in_shape is None
        or len(in_shape) != len(out_shape)
        or in_shape[1:-1] != out_shape[1:-1]
    ):
        # A weighted layer without a rule here that changes the grid.
        state = None
    # Otherwise (Dropout, Reshape, normalisations, custom weightless
    # layers) every output element sees what its input element saw.
    _check(row, layer)
    row.receptive_field, row.jump = _rf_value(state)
    row.activation_bytes = sum(num_elements(tensor_shape(t)) for t in outs) * (
        itemsize(outs[0])
    )
    return row, state
