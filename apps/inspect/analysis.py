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

This module walks the graph; the formulas are in `apps.inspect.formulas`,
each layer's rule in `apps.inspect.layer_rules`, the rows and the report
in `apps.inspect.table`.
"""

import math

import keras

from apps.inspect.layer_rules import itemsize
from apps.inspect.layer_rules import layer_row
from apps.inspect.layer_rules import num_elements
from apps.inspect.layer_rules import tensor_shape
from apps.inspect.table import LayerRow
from apps.inspect.table import Report


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
            row, state = layer_row(
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
                        output_shape=tensor_shape(t),
                        formula_params=0,
                        receptive_field=1 if len(t.shape) == 4 else None,
                        jump=1 if len(t.shape) == 4 else None,
                        activation_bytes=num_elements(tensor_shape(t))
                        * itemsize(t),
                    )
                )
        _walk(model, states, rows, "", producers, set())
        inputs = [tensor_shape(t) for t in keras.tree.flatten(model.inputs)]
        outputs = [tensor_shape(t) for t in keras.tree.flatten(model.outputs)]
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
