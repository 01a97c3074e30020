"""t-SNE maps of word vectors (scikit-learn's `TSNE`) as PNG files."""

from pathlib import Path

import numpy as np

from apps.common.plots import pyplot
from apps.embed.query import unit_rows


def tsne_coordinates(vectors: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """`(n, 2)` t-SNE coordinates of unit-normalised rows (cosine
    geometry); the perplexity is `min(30, (n - 1) / 3)`."""
    from sklearn.manifold import TSNE

    n = len(vectors)
    tsne = TSNE(
        n_components=2,
        perplexity=max(1.0, min(30.0, (n - 1) / 3)),
        init="pca",
        random_state=seed,
    )
    return tsne.fit_transform(unit_rows(vectors).astype(np.float64))


def plot_tsne(
    words: list[str],
    vectors: np.ndarray,
    out_png: Path,
    *,
    title: str = "t-SNE of word vectors",
    seed: int = 0,
) -> Path:
    """Scatter of the t-SNE map with each point labelled by its word."""
    xy = tsne_coordinates(vectors, seed=seed)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 8))
    ax.scatter(xy[:, 0], xy[:, 1], s=8, alpha=0.6)
    for (x, y), word in zip(xy, words):
        ax.annotate(word, (x, y), fontsize=7, alpha=0.85)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return Path(out_png)
