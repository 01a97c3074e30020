"""Face verification and identification protocols, in plain numpy.

Embeddings are unit-norm vectors and a pair's distance is the squared L2
distance `d = ||a - b||^2` in `[0, 4]`; for unit vectors the cosine
similarity is `cos = 1 - d / 2`. A pair is accepted as "same person" when
`d <= threshold`. Every threshold reported here is a squared distance, with
its cosine next to it wherever a user reads it.
"""

import dataclasses
import math
from typing import NamedTuple

import numpy as np

# Enumerate every impostor pair up to this many pairs; sample beyond it.
_ENUMERATE_LIMIT = 2_000_000
# How far outside the observed distances the "accept none/all" thresholds lie.
_EDGE = 1e-6


def cosine_of(distance):
    """Cosine similarity of unit vectors at squared L2 `distance`."""
    return 1.0 - np.asarray(distance, dtype=np.float64) / 2.0


class TarAtFar(NamedTuple):
    """An operating point: the true accept rate at a false accept rate.

    `resolved` is False (and `tar`, `threshold` NaN) when there are too few
    impostor pairs to measure that FAR: fewer than `1 / far_target`.
    """

    tar: float
    threshold: float
    resolved: bool

    @property
    def threshold_cosine(self) -> float:
        return float(cosine_of(self.threshold))


def _scores(distances, same, *, both: bool = True):
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same)
    if d.ndim != 1 or s.shape != d.shape:
        raise ValueError(
            "Expected `distances` and `same` as 1-D arrays of equal length. "
            f"Received: distances.shape={d.shape}, same.shape={s.shape}"
        )
    if not np.all(np.isfinite(d)):
        raise ValueError("Expected finite distances; some are NaN or inf.")
    if s.dtype != bool:
        if not np.all((s == 0) | (s == 1)):
            raise ValueError("Expected `same` as booleans or 0/1 values.")
        s = s.astype(bool)
    if both and (s.all() or not s.any()):
        raise ValueError(
            "Expected both genuine (same=True) and impostor (same=False) "
            f"pairs. Received: {int(s.sum())} genuine, {int((~s).sum())} "
            "impostor"
        )
    return d, s


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


def roc_curve(distances, same):
    """ROC curve of "accept when `d <= threshold`", one point per distinct
    distance, plus a first point `(0, 0)` at threshold `-inf`.

    Returns:
        `(far, tar, thresholds)`, each `(k,)`, thresholds increasing.
    """
    d, s = _scores(distances, same)
    order = np.argsort(d, kind="stable")
    d, s = d[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(d)), d.size - 1]
    tar = np.r_[0, np.cumsum(s)[last]] / s.sum()
    far = np.r_[0, np.cumsum(~s)[last]] / (~s).sum()
    return far, tar, np.r_[-np.inf, d[last]]


def roc_auc(distances, same) -> float:
    """Area under the ROC curve: the chance that a random genuine pair is
    closer than a random impostor pair (ties count one half)."""
    far, tar, _ = roc_curve(distances, same)
    return float(np.trapezoid(tar, far))


def equal_error_rate(distances, same) -> tuple[float, float]:
    """The rate where FAR equals FRR = 1 - TAR, interpolated linearly
    between the two ROC points around the crossing.

    Returns:
        `(eer, threshold)`, the threshold as a squared distance.
    """
    far, tar, thr = roc_curve(distances, same)
    gap = (1.0 - tar) - far  # decreasing from 1 to -1
    k = int(np.argmax(gap <= 0))
    if gap[k] == 0 or k == 0:
        return float(far[k]), float(thr[k])
    alpha = gap[k - 1] / (gap[k - 1] - gap[k])
    eer = far[k - 1] + alpha * (far[k] - far[k - 1])
    if k == 1:  # the previous point is "accept nothing" at -inf
        return float(eer), float(thr[k])
    return float(eer), float(thr[k - 1] + alpha * (thr[k] - thr[k - 1]))


def tar_at_far(distances, same, far_target: float) -> TarAtFar:
    """The largest TAR whose FAR is at most `far_target`.

    A FAR of `far_target` can only be measured with at least
    `1 / far_target` impostor pairs; with fewer, the result is
    `TarAtFar(nan, nan, resolved=False)` rather than the TAR at FAR 0.

    Returns:
        `TarAtFar(tar, threshold, resolved)`.
    """
    if not 0 < far_target <= 1:
        raise ValueError(
            f"Expected 0 < far_target <= 1. Received: {far_target}"
        )
    far, tar, thr = roc_curve(distances, same)
    impostors = int((~_scores(distances, same)[1]).sum())
    if impostors * far_target < 1 - 1e-9:
        return TarAtFar(math.nan, math.nan, False)
    k = np.flatnonzero(far <= far_target * (1 + 1e-9))[-1]
    return TarAtFar(float(tar[k]), float(thr[k]), True)


def best_threshold(distances, same) -> float:
    """The threshold with the best accuracy, among the midpoints between
    sorted distinct distances (and just outside both ends). On ties the
    smallest such threshold wins."""
    d, s = _scores(distances, same, both=False)
    if d.size == 0:
        raise ValueError("Expected at least one pair. Received: none")
    u = np.unique(d)
    cands = np.r_[u[0] - _EDGE, (u[:-1] + u[1:]) / 2, u[-1] + _EDGE]
    gen, imp = np.sort(d[s]), np.sort(d[~s])
    correct = np.searchsorted(gen, cands, "right") + (
        imp.size - np.searchsorted(imp, cands, "right")
    )
    return float(cands[np.argmax(correct)])


def _accuracy(d, s, threshold) -> float:
    return float(np.mean((d <= threshold) == s))


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


@dataclasses.dataclass
class VerificationReport:
    """What `ten_fold_verification` measured.

    Thresholds are squared distances (`*_cosine`: the same as cosines).
    `tar_at_far` maps each target FAR to a `TarAtFar`.
    """

    accuracy_mean: float
    accuracy_std: float
    fold_accuracies: list[float]
    fold_thresholds: list[float]
    threshold: float
    threshold_cosine: float
    auc: float
    eer: float
    eer_threshold: float
    tar_at_far: dict[float, TarAtFar]
    num_genuine: int
    num_impostor: int

    def as_dict(self) -> dict:
        """A JSON-ready dict (NaN and inf become None)."""
        out = dataclasses.asdict(self)
        out["eer_threshold_cosine"] = float(cosine_of(self.eer_threshold))
        out["tar_at_far"] = {
            f"{far:g}": {
                "tar": p.tar,
                "threshold": p.threshold,
                "threshold_cosine": p.threshold_cosine,
                "resolved": p.resolved,
            }
            for far, p in self.tar_at_far.items()
        }
        return _json_ready(out)

    def format(self) -> str:
        """A short table for people."""

        def at(t):
            return f"d^2 {t:.4f} (cosine {float(cosine_of(t)):.4f})"

        folds = len(self.fold_accuracies)
        lines = [
            f"{folds}-fold verification on {self.num_genuine} genuine + "
            f"{self.num_impostor} impostor pairs",
            f"  accuracy         {self.accuracy_mean:.4f} +- "
            f"{self.accuracy_std:.4f}",
            f"  threshold        {at(self.threshold)}",
            f"  ROC AUC          {self.auc:.4f}",
            f"  EER              {self.eer:.4f} at {at(self.eer_threshold)}",
        ]
        for far, p in self.tar_at_far.items():
            head = f"  TAR @ FAR {far:<6g} "
            if p.resolved:
                lines.append(f"{head}{p.tar:.4f} at {at(p.threshold)}")
            else:
                need = math.ceil(1 / far - 1e-9)
                lines.append(
                    f"{head}n/a (needs >= {need} impostor pairs, has "
                    f"{self.num_impostor})"
                )
        return "\n".join(lines)


def ten_fold_verification(
    distances,
    same,
    *,
    folds: int = 10,
    seed: int = 0,
    fold_ids=None,
) -> VerificationReport:
    """The LFW protocol: the threshold is chosen on all folds but one
    (`best_threshold`) and the accuracy measured on the one left out.

    Folds are stratified: genuine and impostor pairs are shuffled (by
    `seed`) and dealt separately, so each fold has both kinds. AUC, EER and
    TAR@FAR (1e-3 and 1e-2) use all pairs at once.

    Args:
        distances: `(p,)` squared distances of the pairs.
        same: `(p,)` booleans, True for a genuine pair.
        folds: number of folds.
        seed: seed of the shuffle.
        fold_ids: optional `(p,)` fold of each pair (e.g. LFW's official
            `pairs.txt` folds); when given, `folds` and `seed` are unused.

    Returns:
        A `VerificationReport`.
    """
    d, s = _scores(distances, same)
    if fold_ids is None:
        if not 2 <= folds <= min(s.sum(), (~s).sum()):
            raise ValueError(
                "Expected 2 <= folds <= the number of genuine and of impostor "
                f"pairs. Received: folds={folds}"
            )
        rng = np.random.default_rng(seed)
        fold_ids = np.empty(d.size, np.int64)
        for members in (np.flatnonzero(s), np.flatnonzero(~s)):
            parts = np.array_split(rng.permutation(members), folds)
            for k, part in enumerate(parts):
                fold_ids[part] = k
    fold_ids = np.asarray(fold_ids)
    if fold_ids.shape != d.shape:
        raise ValueError(
            "Expected one fold id per pair. Received: "
            f"fold_ids.shape={fold_ids.shape}, {d.size} pairs"
        )
    ids = np.unique(fold_ids)
    if ids.size < 2:
        raise ValueError(f"Expected at least 2 folds. Received: {ids.size}")
    accs, thrs = [], []
    for k in ids:
        test = fold_ids == k
        t = best_threshold(d[~test], s[~test])
        thrs.append(t)
        accs.append(_accuracy(d[test], s[test], t))
    threshold = float(np.mean(thrs))
    eer, eer_t = equal_error_rate(d, s)
    return VerificationReport(
        accuracy_mean=float(np.mean(accs)),
        accuracy_std=float(np.std(accs)),
        fold_accuracies=accs,
        fold_thresholds=thrs,
        threshold=threshold,
        threshold_cosine=float(cosine_of(threshold)),
        auc=roc_auc(d, s),
        eer=eer,
        eer_threshold=eer_t,
        tar_at_far={far: tar_at_far(d, s, far) for far in (1e-3, 1e-2)},
        num_genuine=int(s.sum()),
        num_impostor=int((~s).sum()),
    )


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


def _log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


class Calibrator:
    """Platt scaling: `P(same | d) = 1 / (1 + exp(-(intercept + slope d)))`.

    Fitted by Newton's method (IRLS) with a step-halving line search, on
    Platt's smoothed targets `(N+ + 1) / (N+ + 2)` and `1 / (N- + 2)`, so
    the fit stays finite even when genuine and impostor distances do not
    overlap. The slope is negative for a working model.

    Example:

    >>> cal = Calibrator().fit(distances, same)
    >>> cal.predict_proba(0.8)
    """

    def __init__(
        self, intercept: float | None = None, slope: float | None = None
    ):
        self.intercept = intercept
        self.slope = slope

    def fit(self, distances, same) -> "Calibrator":
        d, s = _scores(distances, same)
        pos, neg = int(s.sum()), int((~s).sum())
        t = np.where(s, (pos + 1) / (pos + 2), 1 / (neg + 2))
        x = np.stack([np.ones_like(d), d], axis=1)

        def loss(w):
            z = x @ w
            return -np.sum(t * _log_sigmoid(z) + (1 - t) * _log_sigmoid(-z))

        w = np.zeros(2)
        for _ in range(100):
            p = np.exp(_log_sigmoid(x @ w))
            grad = x.T @ (p - t)
            hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-12 * np.eye(2)
            step = np.linalg.solve(hess, grad)
            before, scale = loss(w), 1.0
            while loss(w - scale * step) > before and scale > 1e-10:
                scale /= 2
            w = w - scale * step
            if np.max(np.abs(scale * step)) < 1e-10:
                break
        self.intercept, self.slope = float(w[0]), float(w[1])
        return self

    def predict_proba(self, distances):
        """`P(same)` for distances of any shape (a float for a scalar)."""
        if self.intercept is None or self.slope is None:
            raise ValueError(
                "The calibrator is not fitted: call fit(distances, same) "
                "or load it with Calibrator.from_dict(...) first."
            )
        z = self.intercept + self.slope * np.asarray(distances, np.float64)
        p = np.exp(_log_sigmoid(z))
        return float(p) if p.ndim == 0 else p

    def to_dict(self) -> dict:
        return {"intercept": self.intercept, "slope": self.slope}

    @classmethod
    def from_dict(cls, data: dict) -> "Calibrator":
        try:
            values = [float(data[k]) for k in ("intercept", "slope")]
        except (KeyError, TypeError, ValueError):
            values = []
        if len(values) != 2 or not all(map(math.isfinite, values)):
            raise ValueError(
                "Expected a calibrator as {'intercept': float, 'slope': "
                f"float}}. Received: {data!r}"
            )
        return cls(*values)
