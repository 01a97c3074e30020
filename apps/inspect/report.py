"""The inspect report as a text table, JSON, or a receptive-field plot."""

from pathlib import Path

from apps.common.plots import pyplot
from apps.inspect.table import Report

COLUMNS = (
    ("layer", "<"),
    ("type", "<"),
    ("output", ">"),
    ("F/S", ">"),
    ("pad", "<"),
    ("O", ">"),
    ("params", ">"),
    ("RF", ">"),
    ("FLOPs", ">"),
    ("memory", ">"),
    ("check", "<"),
)


def human(n: float, unit: str = "") -> str:
    """`1234567` -> `1.23M`: short numbers for the table."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{suffix}{unit}"
    return f"{n:g}{unit}"


def _dims(shape) -> str:
    """`(None, 8, 8, 3)` -> `8x8x3`; a per-sample scalar is `1`."""
    if len(shape) <= 1:
        return "1"
    return "x".join("?" if d is None else str(d) for d in shape[1:])


def _cells(row) -> list[str]:
    window = ""
    if row.kernel is not None:
        f = row.kernel
        s = row.strides
        window = f"{f[0]}" if f[0] == f[1] else f"{f[0]}x{f[1]}"
        if s is not None:
            window += "/" + (f"{s[0]}" if s[0] == s[1] else f"{s[0]}x{s[1]}")
    pad = row.padding
    if row.pads is not None and any(row.pads):
        t, b, left, right = row.pads
        pad += f" {t},{b}" if (t, b) == (left, right) else f" {row.pads}"
    formula = ""
    if row.formula_shape is not None and len(row.formula_shape) == 4:
        formula = _dims(row.formula_shape[:3])
    rf = row.receptive_field
    rf = "" if rf is None else str(rf)
    check = "ok" if not row.mismatch else "MISMATCH: " + "; ".join(row.mismatch)
    if row.formula_params is None and row.formula_shape is None:
        check = "keras only" if not row.mismatch else check
    return [
        row.name,
        row.kind,
        _dims(row.output_shape) if row.output_shape else "",
        window,
        pad,
        formula,
        f"{row.params:,}",
        rf,
        human(row.flops) if row.flops else "",
        human(row.activation_bytes, "B") if row.activation_bytes else "",
        check,
    ]


def format_table(report: Report, savings: list | None = None) -> str:
    """The per-layer table, totals, and (when given) the 1x1 savings.

    Columns: output is Keras' shape (without batch); F/S the window and
    stride; pad the mode and `P_start,P_end`; O the cheatsheet's output
    size `H x W`; params Keras' count (the formula's must agree); RF the
    receptive field in input pixels; FLOPs per sample; memory the output
    activations per sample; check `ok`, `keras only` (no formula for this
    layer type) or MISMATCH with what disagrees.
    """
    rows = [_cells(r) for r in report.rows]
    header = [c for c, _ in COLUMNS]
    widths = [
        max(len(header[i]), *(len(r[i]) for r in rows)) if rows else 0
        for i in range(len(header))
    ]
    # The check column is last and left free so a mismatch is never cut.
    widths[-1] = len(header[-1])

    def line(cells):
        parts = [
            f"{c:{align}{w}}"
            for c, (_, align), w in zip(cells, COLUMNS, widths)
        ]
        return "  ".join(parts).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out.append("")
    out.append(summary_line(report))
    for note in report.notes:
        out.append(f"note: {note}")
    mismatches = report.mismatches
    if mismatches:
        out.append(
            f"!!! {len(mismatches)} DISAGREEMENT(S) WITH KERAS: "
            + " | ".join(mismatches)
        )
    elif report.input_shapes:
        out.append(
            f"All {len(report.rows)} rows agree with Keras' output shapes "
            "and count_params()."
        )
    else:
        out.append("Parameter counts agree with Keras' count_params().")
    if savings:
        out.append("")
        out.append(format_savings(savings))
    return "\n".join(out)


def summary_line(report: Report) -> str:
    """One line of totals."""
    inputs = ", ".join(_dims(s) for s in report.input_shapes) or "?"
    return (
        f"{report.model_name}: input {inputs}; {report.total_params:,} "
        f"parameters ({report.trainable_params:,} trainable; Keras "
        f"count_params() {report.keras_params:,}); "
        f"{human(report.flops)} FLOPs per sample; activations "
        f"{human(report.activation_bytes, 'B')} per sample"
    )


def format_savings(savings: list) -> str:
    """The 1x1 trick per inception module, as lines of text."""
    lines = [
        "The 1x1 trick: inception modules with vs without their 1x1 "
        "reductions (both built and analysed)"
    ]
    for s in savings:
        lines.append(
            f"  {s['name']} on {'x'.join(map(str, s['input_shape']))}: "
            f"params {s['params_without']:,} -> {s['params_with']:,} "
            f"(-{100 * s['params_saved']:.1f}%), FLOPs "
            f"{human(s['flops_without'])} -> {human(s['flops_with'])} "
            f"(-{100 * s['flops_saved']:.1f}%)"
        )
    return "\n".join(lines)


def plot_receptive_field(report: Report, out_png: Path) -> Path:
    """Receptive field (input pixels) against table row, for the layers
    that have one (global ones left out), with the input size for scale."""
    plt = pyplot()
    points = [
        (i, r.receptive_field, r.name)
        for i, r in enumerate(report.rows)
        if isinstance(r.receptive_field, (int, float))
    ]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if points:
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        # Parallel branches interleave in table order: the line is the
        # largest receptive field reached so far, the dots each layer's.
        running = [max(ys[: i + 1]) for i in range(len(ys))]
        ax.step(xs, running, where="post", label="largest so far")
        ax.plot(xs, ys, ".", markersize=3, label="layer")
        last = points[-1]
        ax.annotate(
            f"{last[2]}: {last[1]}", (last[0], last[1]), fontsize=8, ha="right"
        )
    sizes = [s[1] for s in report.input_shapes if len(s) == 4 and s[1]]
    if sizes:
        ax.axhline(sizes[0], color="grey", ls="--", label="input size")
    ax.set_xlabel("layer (table row)")
    ax.set_ylabel("receptive field (pixels)")
    ax.set_title(f"Receptive field growth: {report.model_name}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
