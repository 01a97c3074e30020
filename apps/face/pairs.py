"""Genuine and impostor pairs of a labelled set, and their distances.

`make_pairs` draws balanced pairs (every genuine pair, or a random share,
and as many impostor pairs); `pair_distances` gives each pair's squared L2
distance, the score every protocol of `apps.face.verification` reads.
"""

import numpy as np

# Enumerate every impostor pair up to this many pairs; sample beyond it.
_ENUMERATE_LIMIT = 2_000_000


def make_pairs(labels, *, num_pairs: int | None, seed: int):
    """Balanced genuine and impostor pairs from a labelled set.

    Takes every genuine pair (both samples with the same label) when there
    are at most `num_pairs // 2` of them, else a random `num_pairs // 2`,
    and as many distinct impostor pairs, drawn at random. Deterministic for
    a given `seed`.

    Args:
        labels: `(n,)` identity of each sample (ints or strings).
        num_pairs: total pairs wanted (half genuine, half impostor), or None
            for all genuine pairs.
        seed: seed of the random draw.

    Returns:
        `(i_idx, j_idx, same)`: `(p,)` sample indices with `i < j` and the
        `(p,)` boolean "same person" flag, in shuffled order.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"Expected 1-D labels. Received: {labels.shape}")
    if num_pairs is not None and num_pairs < 2:
        raise ValueError(f"Expected num_pairs >= 2. Received: {num_pairs}")
    codes = np.unique(labels, return_inverse=True)[1].ravel()
    n = codes.size
    rng = np.random.default_rng(seed)
    genuine = _genuine_pairs(codes)
    impostors_total = n * (n - 1) // 2 - len(genuine)
    if len(genuine) == 0 or impostors_total == 0:
        raise ValueError(
            "Expected at least one identity with two or more samples and at "
            f"least two identities. Received: {n} samples, "
            f"{codes.max(initial=-1) + 1} identities"
        )
    k = min(len(genuine), impostors_total)
    if num_pairs is not None:
        k = min(k, num_pairs // 2)
    if k < len(genuine):
        genuine = genuine[np.sort(rng.choice(len(genuine), k, replace=False))]
    impostor = _impostor_pairs(codes, k, rng)
    pairs = np.concatenate([genuine, impostor])
    same = np.r_[np.ones(k, bool), np.zeros(k, bool)]
    order = rng.permutation(2 * k)
    return pairs[order, 0], pairs[order, 1], same[order]


def _genuine_pairs(codes: np.ndarray) -> np.ndarray:
    order = np.argsort(codes, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    pairs = [np.zeros((0, 2), np.int64)]
    for members in groups:
        a, b = np.triu_indices(len(members), 1)
        pairs.append(np.stack([members[a], members[b]], axis=1))
    return np.concatenate(pairs)


def _impostor_pairs(codes: np.ndarray, k: int, rng) -> np.ndarray:
    n = codes.size
    if n * (n - 1) // 2 <= _ENUMERATE_LIMIT:
        a, b = np.triu_indices(n, 1)
        keep = codes[a] != codes[b]
        a, b = a[keep], b[keep]
        pick = np.sort(rng.choice(a.size, k, replace=False))
        return np.stack([a[pick], b[pick]], axis=1)
    keys = np.zeros(0, np.int64)
    while keys.size < k:
        i = rng.integers(n, size=2 * k)
        j = rng.integers(n, size=2 * k)
        ok = codes[i] != codes[j]
        lo, hi = np.minimum(i[ok], j[ok]), np.maximum(i[ok], j[ok])
        keys = np.concatenate([keys, lo * n + hi])
        _, first = np.unique(keys, return_index=True)
        keys = keys[np.sort(first)]
    keys = keys[:k]
    return np.stack([keys // n, keys % n], axis=1)


def pair_distances(embeddings, i_idx, j_idx) -> np.ndarray:
    """Squared L2 distances `||e[i] - e[j]||^2` of pairs, `(p,)` float64.

    Args:
        embeddings: `(n, dim)` embeddings.
        i_idx: `(p,)` first sample of each pair.
        j_idx: `(p,)` second sample of each pair.
    """
    emb = np.asarray(embeddings)
    i_idx, j_idx = np.asarray(i_idx), np.asarray(j_idx)
    if emb.ndim != 2 or i_idx.ndim != 1 or i_idx.shape != j_idx.shape:
        raise ValueError(
            "Expected embeddings `(n, dim)` and index arrays `(p,)`. "
            f"Received: {emb.shape}, {i_idx.shape}, {j_idx.shape}"
        )
    out = np.empty(i_idx.size, np.float64)
    for start in range(0, i_idx.size, 65536):
        sl = slice(start, start + 65536)
        diff = emb[i_idx[sl]].astype(np.float64) - emb[j_idx[sl]]
        out[sl] = np.einsum("pd,pd->p", diff, diff)
    return out
