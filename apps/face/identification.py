"""Face identification: rank-1 against a gallery, and the one-shot
protocol that enrolls one sample of every identity."""

import numpy as np


def _nearest(gallery, probes) -> np.ndarray:
    """Index of the nearest gallery row (squared L2) for each probe row."""
    g = np.asarray(gallery, np.float64)
    g_sq = np.einsum("gd,gd->g", g, g)
    out = np.empty(len(probes), np.int64)
    for start in range(0, len(probes), 1024):
        p = np.asarray(probes[start : start + 1024], np.float64)
        out[start : start + 1024] = np.argmin(g_sq - 2.0 * p @ g.T, axis=1)
    return out


def identification_rank1(
    gallery_emb, gallery_labels, probe_emb, probe_labels
) -> float:
    """Rank-1 identification rate: the share of probes whose nearest
    gallery embedding carries the probe's label.

    Args:
        gallery_emb: `(g, dim)` enrolled embeddings.
        gallery_labels: `(g,)` their identities.
        probe_emb: `(q, dim)` embeddings to identify.
        probe_labels: `(q,)` their true identities.
    """
    gallery_emb, probe_emb = np.asarray(gallery_emb), np.asarray(probe_emb)
    gallery_labels = np.asarray(gallery_labels)
    probe_labels = np.asarray(probe_labels)
    if (
        gallery_emb.ndim != 2
        or probe_emb.ndim != 2
        or gallery_emb.shape[1] != probe_emb.shape[1]
        or gallery_labels.shape != gallery_emb.shape[:1]
        or probe_labels.shape != probe_emb.shape[:1]
        or gallery_emb.shape[0] == 0
        or probe_emb.shape[0] == 0
    ):
        raise ValueError(
            "Expected a non-empty gallery `(g, dim)` with `(g,)` labels and "
            "probes `(q, dim)` with `(q,)` labels. Received: "
            f"{gallery_emb.shape}, {gallery_labels.shape}, "
            f"{probe_emb.shape}, {probe_labels.shape}"
        )
    hits = gallery_labels[_nearest(gallery_emb, probe_emb)] == probe_labels
    return float(np.mean(hits))


def one_shot_identification(
    embeddings, labels, *, trials: int, seed: int
) -> tuple[float, float]:
    """One-shot rank-1 identification, repeated over random enrolments.

    Each trial enrolls one random sample of every identity (identities with
    a single sample are enrolled too, as distractors) and probes with all
    the other samples.

    Returns:
        `(mean, std)` of the rank-1 rate over `trials`.
    """
    embeddings, labels = np.asarray(embeddings), np.asarray(labels)
    if labels.ndim != 1 or embeddings.shape[:1] != labels.shape:
        raise ValueError(
            "Expected embeddings `(n, dim)` and labels `(n,)`. Received: "
            f"{embeddings.shape}, {labels.shape}"
        )
    codes = np.unique(labels, return_inverse=True)[1].ravel()
    if np.unique(codes).size == codes.size:
        raise ValueError(
            "Expected an identity with at least two samples (one to enroll, "
            "one to probe). Received: every identity once"
        )
    if trials < 1:
        raise ValueError(f"Expected trials >= 1. Received: {trials}")
    rng = np.random.default_rng(seed)
    rates = []
    for _ in range(trials):
        perm = rng.permutation(codes.size)
        enrolled = perm[np.unique(codes[perm], return_index=True)[1]]
        probe = np.ones(codes.size, bool)
        probe[enrolled] = False
        rates.append(
            identification_rank1(
                embeddings[enrolled],
                codes[enrolled],
                embeddings[probe],
                codes[probe],
            )
        )
    return float(np.mean(rates)), float(np.std(rates))
