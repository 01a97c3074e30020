"""The cost table of a model: one `LayerRow` per layer, and the `Report`
with the model's totals, checked against Keras."""

import dataclasses


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
