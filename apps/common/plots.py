"""Pictures users would rather look at than read: curves and PR plots."""

import csv
from pathlib import Path

import numpy as np


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _number(text) -> float:
    """A CSVLogger cell as a float; "NA" (a key missing that epoch) and
    empty cells are NaN."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def plot_history(history_csv: Path, out_png: Path) -> Path | None:
    """Training curves (every logged metric against epoch, train against
    validation, and the gradient norm's epoch mean beside its largest
    step) from a CSVLogger.

    Returns:
        `out_png`, or None when the CSV has no rows.
    """
    history_csv = Path(history_csv)
    if not history_csv.is_file():
        return None
    with history_csv.open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    plt = pyplot()
    names = [k for k in rows[0] if k != "epoch" and not k.startswith("val_")]
    # `grad_norm_max` joins `grad_norm`'s panel (see apps.common.gradnorm).
    keys = [k for k in names if not (k.endswith("_max") and k[:-4] in names)]
    fig, axes = plt.subplots(
        1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False
    )
    epochs = np.arange(1, len(rows) + 1)
    for ax, key in zip(axes[0], keys):
        ax.plot(epochs, [_number(r[key]) for r in rows], label="train")
        val = f"val_{key}"
        values = [_number(r.get(val)) for r in rows]
        if not np.all(np.isnan(values)):
            ax.plot(epochs, values, label="validation")
        if f"{key}_max" in names:
            largest = [_number(r[f"{key}_max"]) for r in rows]
            ax.plot(epochs, largest, linestyle="--", label="largest step")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return Path(out_png)


def plot_precision_recall(
    curves: dict[str, tuple[np.ndarray, np.ndarray, float]],
    out_png: Path,
    *,
    title: str = "Precision-recall at IoU 0.5",
) -> Path:
    """One precision-recall curve per class.

    Args:
        curves: class name -> (recall, precision, AP).
        out_png: where to write the PNG.
        title: the plot's title.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for name, (recall, precision, ap) in curves.items():
        ax.plot(recall, precision, label=f"{name} (AP {ap:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return Path(out_png)
