"""What a Keras model costs, layer by layer, from the cheatsheet's formulas.

For every layer of a Functional or Sequential model (nested models are
walked into, their rows prefixed `outer/inner`), `analyze` computes:

- output size `O = (I - F + P_start + P_end) / S + 1` (rounded down) with
  the padding of the mode: valid (`P = 0`), same (`P_start + P_end =
  (ceil(I / S) - 1) S + F - I`, the odd pixel at the end as TensorFlow
  does) or full (`P_start = P_end = F - 1`, a `FullPadding2D` before a
  valid convolution or pooling); `F` is the dilated size `d (F - 1) + 1`;
- parameters from the counting rules: convolution `(F x F x C + 1) x K`
  (no `+ 1` without bias), fully connected `(N_in + 1) x N_out`, pooling
  0, batch norm `4 C` (`gamma`, `beta` learned; mean and variance kept);
- receptive field `R_k = 1 + sum_j (F_j - 1) prod_{i<j} S_i`, carried
  along the graph as `(R, jump)` with `jump = prod S` (a merge takes the
  largest of its inputs, upsampling by `u` divides the jump by `u`, a
  global pooling or flatten sees the whole input);
- FLOPs: `2 x` multiply-adds plus one per bias add (TensorFlow's
  profiler's convention), an element-wise count for the cheap layers;
- activation memory: output elements per sample times bytes per element.

Each row is cross-checked against Keras' own output shape and
`count_params()`: a disagreement is kept in `row.mismatch` and shown
loudly by the report. A layer without a formula here is reported with
Keras' shape and parameter count, its formula columns empty.
"""

import dataclasses
import math

import keras

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


@dataclasses.dataclass
class LayerRow:
    """One row of the table: a layer applied once in the graph."""

    name: str
    kind: str
    input_shape: tuple | None
    output_shape: tuple
    kernel: tuple | None = None
    strides: tuple | None = None
    padding: str = ""
    pads: tuple | None = None
    formula_shape: tuple | None = None
    params: int = 0
    formula_params: int | None = None
    receptive_field: object = None
    jump: float | None = None
    flops: int = 0
    activation_bytes: int = 0
    mismatch: list = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        """The row as JSON-ready values."""
        out = dataclasses.asdict(self)
        for key in ("input_shape", "output_shape", "formula_shape"):
            if out[key] is not None:
                out[key] = list(out[key])
        for key in ("kernel", "strides", "pads"):
            if out[key] is not None:
                out[key] = list(out[key])
        return out


@dataclasses.dataclass
class Report:
    """All rows plus the model's totals, checked against Keras."""

    model_name: str
    rows: list
    total_params: int
    keras_params: int
    trainable_params: int
    flops: int
    activation_bytes: int
    input_shapes: list
    output_shapes: list
    notes: list = dataclasses.field(default_factory=list)

    @property
    def mismatches(self) -> list:
        """`"layer: what"` for every disagreement with Keras."""
        out = [f"{r.name}: {m}" for r in self.rows for m in r.mismatch]
        if self.total_params != self.keras_params:
            out.append(
                f"model: sum of rows {self.total_params} != "
                f"count_params() {self.keras_params}"
            )
        return out

    def to_dict(self) -> dict:
        """The report as JSON-ready values."""
        return {
            "model": self.model_name,
            "input_shapes": [list(s) for s in self.input_shapes],
            "output_shapes": [list(s) for s in self.output_shapes],
            "total_params": self.total_params,
            "keras_params": self.keras_params,
            "trainable_params": self.trainable_params,
            "flops": self.flops,
            "activation_bytes": self.activation_bytes,
            "mismatches": self.mismatches,
            "notes": list(self.notes),
            "layers": [r.to_dict() for r in self.rows],
        }


# ------------------------------------------------------------ formulas


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


# -------------------------------------------------------------- helpers


def _pair(value):
    if isinstance(value, int):
        return (value, value)
    return tuple(int(v) for v in value)


def _shape(tensor):
    return tuple(tensor.shape)


def _elements(shape):
    n = 1
    for d in shape[1:]:
        if d is None:
            return 0
        n *= d
    return n


def _itemsize(tensor):
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
    outputs = _elements((None, o_h, o_w, channels))
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
    positions = _elements(tuple(in_shape[:-1]) + (1,))
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


def _layer_row(layer, name, ins, outs, in_states, producers):
    """Fills one row and returns the receptive-field state of its output."""
    kind = _rule_kind(layer)
    in_shape = _shape(ins[0]) if ins else None
    out_shape = _shape(outs[0])
    row = LayerRow(
        name=name,
        kind=type(layer).__name__,
        input_shape=in_shape,
        output_shape=out_shape,
    )
    state = _merge_state(in_states) if in_states else ((1, 1), (1, 1))
    elements = _elements(out_shape)
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
        row.flops = _elements(in_shape) if "Pooling" in kind else 0
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
            channels = [_shape(t)[-1] for t in ins]
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
    row.activation_bytes = sum(_elements(_shape(t)) for t in outs) * (
        _itemsize(outs[0])
    )
    return row, state


def _is_graph_model(layer) -> bool:
    """True for a Functional model or a built Sequential one."""
    if not isinstance(layer, keras.Model):
        return False
    try:
        return bool(layer.inputs) and bool(layer.outputs)
    except (AttributeError, ValueError):
        return False


def _walk(model, states, rows, prefix, producers, seen):
    """Walks a Functional/Sequential model in topological order; `states`
    maps `id(KerasTensor)` to its receptive-field state, `seen` holds the
    layers already counted (a shared layer's weights count once).
    `operations` includes the bare `keras.ops` calls of a Functional
    model (e.g. `x - mean`), which `layers` leaves out."""
    for layer in getattr(model, "operations", None) or model.layers:
        for node in getattr(layer, "_inbound_nodes", []):
            ins = list(keras.tree.flatten(node.input_tensors))
            outs = list(keras.tree.flatten(node.output_tensors))
            if type(layer).__name__ == "InputLayer":
                if not any(id(t) in states for t in outs) or prefix:
                    for t in outs:
                        states.setdefault(id(t), ((1, 1), (1, 1)))
                if prefix:
                    continue
            elif not ins or not all(id(t) in states for t in ins):
                continue
            name = f"{prefix}{layer.name}"
            if _is_graph_model(layer):
                inner_ins = list(keras.tree.flatten(layer.inputs))
                for outer, inner in zip(ins, inner_ins):
                    states[id(inner)] = states[id(outer)]
                _walk(layer, states, rows, f"{name}/", producers, seen)
                inner_outs = list(keras.tree.flatten(layer.outputs))
                for outer, inner in zip(outs, inner_outs):
                    states[id(outer)] = states.get(id(inner))
                    producers[id(outer)] = producers.get(id(inner))
                continue
            row, state = _layer_row(
                layer, name, ins, outs, [states[id(t)] for t in ins], producers
            )
            if id(layer) in seen:
                row.kind += " (shared)"
                row.params, row.formula_params = 0, 0
                row.mismatch = [m for m in row.mismatch if "param" not in m]
            seen.add(id(layer))
            rows.append(row)
            for t in outs:
                states[id(t)] = state
                producers[id(t)] = layer


def _subclassed_rows(model) -> list:
    """Rows of a subclassed model: its direct sub-layers' parameters only
    (no graph: shapes and receptive fields cannot be recovered)."""
    rows = []
    for layer in model.layers:
        rows.append(
            LayerRow(
                name=layer.name,
                kind=type(layer).__name__,
                input_shape=None,
                output_shape=(),
                params=int(layer.count_params()),
            )
        )
    return rows


def analyze(model: keras.Model) -> Report:
    """The per-layer cost table of a built Keras model.

    Args:
        model: a built Functional or Sequential model (any nesting); a
            subclassed model gets parameter counts only.

    Returns:
        A `Report` whose rows were checked against Keras (see
        `Report.mismatches`).
    """
    notes = []
    if _is_graph_model(model):
        rows, states, producers = [], {}, {}
        for t in keras.tree.flatten(model.inputs):
            states[id(t)] = ((1, 1), (1, 1)) if len(t.shape) == 4 else None
        if isinstance(model, keras.Sequential):
            for t in keras.tree.flatten(model.inputs):
                rows.append(
                    LayerRow(
                        name="input",
                        kind="InputLayer",
                        input_shape=None,
                        output_shape=_shape(t),
                        formula_params=0,
                        receptive_field=1 if len(t.shape) == 4 else None,
                        jump=1 if len(t.shape) == 4 else None,
                        activation_bytes=_elements(_shape(t)) * _itemsize(t),
                    )
                )
        _walk(model, states, rows, "", producers, set())
        inputs = [_shape(t) for t in keras.tree.flatten(model.inputs)]
        outputs = [_shape(t) for t in keras.tree.flatten(model.outputs)]
    else:
        rows = _subclassed_rows(model)
        inputs, outputs = [], []
        notes.append(
            f"{type(model).__name__} is a subclassed model: Keras keeps no "
            "graph of it, so only its sub-layers' parameter counts are "
            "shown (no shapes, FLOPs or receptive fields)"
        )
    trainable = sum(int(math.prod(w.shape)) for w in model.trainable_weights)
    return Report(
        model_name=model.name,
        rows=rows,
        total_params=sum(r.params for r in rows),
        keras_params=int(model.count_params()),
        trainable_params=trainable,
        flops=sum(r.flops for r in rows),
        activation_bytes=sum(r.activation_bytes for r in rows),
        input_shapes=inputs,
        output_shapes=outputs,
        notes=notes,
    )
