"""Attention heat maps: which source tokens each output token looked at."""

from pathlib import Path

import numpy as np

from apps.common.runs import atomic_write


def plot_attention(
    weights, source_tokens, target_tokens, path: Path, *, title: str = ""
) -> Path:
    """Draws `(len(target), len(source))` attention weights as a PNG.

    Args:
        weights: rows = output tokens, columns = source tokens; each row
            sums to 1 (the cheatsheet's alpha<t, t'>).
        source_tokens: labels of the columns.
        target_tokens: labels of the rows.
        path: where to write the PNG (atomically).
        title: the figure title (e.g. the source sentence).

    Returns:
        `path`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weights = np.asarray(weights, np.float32)
    rows, cols = weights.shape
    fig, ax = plt.subplots(
        figsize=(max(4, 0.35 * cols + 2), max(3, 0.35 * rows + 1.5))
    )
    image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(cols), source_tokens, rotation=90, fontsize=8)
    ax.set_yticks(range(rows), target_tokens, fontsize=8)
    ax.set_xlabel("source token t'")
    ax.set_ylabel("output token t")
    ax.set_title(title[:60], fontsize=9)
    fig.colorbar(image, ax=ax, label="alpha<t, t'>")
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
    return path
