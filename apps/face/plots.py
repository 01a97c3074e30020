"""Face verification pictures: the ROC curve and the distance histograms.

Thresholds are squared L2 distances of unit vectors; each label shows the
cosine similarity `1 - d / 2` next to it.
"""

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from apps.common import runs
from apps.common.plots import pyplot


def _both_ways(threshold: float) -> str:
    return f"d\u00b2 {threshold:.3f}, cos {1.0 - threshold / 2.0:.3f}"


def _save(fig, path) -> Path:
    """Saves `fig` as a PNG atomically and closes it."""
    path = Path(path)
    fig.tight_layout()
    try:
        runs.atomic_write(
            path, lambda tmp: fig.savefig(tmp, dpi=100, format="png")
        )
    finally:
        pyplot().close(fig)
    return path


def plot_roc(
    far,
    tar,
    path,
    *,
    title: str = "Face verification ROC",
    eer: tuple[float, float] | None = None,
    marks: Mapping[float, tuple] | None = None,
) -> Path:
    """ROC curve (TAR against FAR) with a log-scale FAR axis.

    Points at FAR 0 cannot sit on a log axis; the axis starts at half the
    smallest non-zero FAR.

    Args:
        far: `(k,)` false accept rates, from `verification.roc_curve`.
        tar: `(k,)` true accept rates.
        path: where to write the PNG.
        title: the plot's title.
        eer: optional `(eer, threshold)` from `verification.equal_error_rate`.
        marks: optional FAR target -> `(tar, threshold, ...)` such as
            `verification.tar_at_far`'s answers; NaN (unresolved) marks are
            listed in the legend as n/a.

    Returns:
        `path`.
    """
    far, tar = np.asarray(far, np.float64), np.asarray(tar, np.float64)
    if far.shape != tar.shape or far.ndim != 1:
        raise ValueError(
            "Expected `far` and `tar` as 1-D arrays of equal length. "
            f"Received: {far.shape}, {tar.shape}"
        )
    positive = far > 0
    if not positive.any():
        raise ValueError("Expected some non-zero FAR to draw on a log axis.")
    left = far[positive].min() / 2
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.plot(np.maximum(far, left), tar, label="ROC")
    grid = np.geomspace(left, 1.0, 50)
    ax.plot(grid, grid, color="0.7", linestyle=":", label="chance")
    if eer is not None:
        rate, threshold = eer
        ax.plot(
            [max(rate, left)],
            [1.0 - rate],
            "o",
            label=f"EER {rate:.2%} ({_both_ways(threshold)})",
        )
    for target, point in (marks or {}).items():
        rate, threshold = float(point[0]), float(point[1])
        ax.axvline(target, color="0.6", linestyle="--", linewidth=0.8)
        if np.isnan(rate):
            ax.plot([], [], " ", label=f"TAR @ FAR {target:g}: n/a")
            continue
        ax.plot(
            [target],
            [rate],
            "s",
            label=f"TAR {rate:.3f} @ FAR {target:g} ({_both_ways(threshold)})",
        )
    ax.set_xscale("log")
    ax.set_xlim(left, 1.0)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false accept rate (log)")
    ax.set_ylabel("true accept rate")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize="small")
    return _save(fig, path)


def plot_distance_histogram(
    distances,
    same,
    threshold: float,
    path,
    *,
    title: str = "Pair distances",
) -> Path:
    """Genuine and impostor distance histograms with the threshold line.

    The bottom axis is the squared distance, the top one the cosine.

    Args:
        distances: `(p,)` squared distances of pairs.
        same: `(p,)` booleans, True for a genuine pair.
        threshold: the decision threshold, a squared distance.
        path: where to write the PNG.
        title: the plot's title.

    Returns:
        `path`.
    """
    d = np.asarray(distances, np.float64)
    s = np.asarray(same).astype(bool)
    if d.ndim != 1 or s.shape != d.shape or d.size == 0:
        raise ValueError(
            "Expected non-empty 1-D `distances` and `same` of equal length. "
            f"Received: {d.shape}, {s.shape}"
        )
    hi = max(float(d.max()), float(threshold)) * 1.02 + 1e-9
    bins = np.linspace(0.0, hi, 41)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for mask, label in ((s, "genuine"), (~s, "impostor")):
        if mask.any():
            ax.hist(
                d[mask],
                bins=bins,
                density=True,
                alpha=0.55,
                label=f"{label} ({int(mask.sum())})",
            )
    ax.axvline(
        threshold,
        color="black",
        linestyle="--",
        label=f"threshold ({_both_ways(threshold)})",
    )
    top = ax.secondary_xaxis(
        "top", functions=(lambda x: 1 - x / 2, lambda c: 2 - 2 * c)
    )
    top.set_xlabel("cosine similarity")
    ax.set_xlabel("squared L2 distance")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return _save(fig, path)
