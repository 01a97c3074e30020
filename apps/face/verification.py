"""Face verification: ROC, EER, TAR@FAR and the 10-fold protocol.

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


def check_pairs(distances, same, *, both: bool = True):
    """`(distances, same)` as a float64 and a boolean `(p,)` array.

    Args:
        distances: `(p,)` finite squared distances of the pairs.
        same: `(p,)` booleans (or 0/1), True for a genuine pair.
        both: require at least one genuine and one impostor pair.

    Raises:
        ValueError: on any other shape, a NaN or inf, or a missing kind.
    """
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


def roc_curve(distances, same):
    """ROC curve of "accept when `d <= threshold`", one point per distinct
    distance, plus a first point `(0, 0)` at threshold `-inf`.

    Returns:
        `(far, tar, thresholds)`, each `(k,)`, thresholds increasing.
    """
    d, s = check_pairs(distances, same)
    order = np.argsort(d, kind="stable")
    d, s = d[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(d)), d.size - 1]
    tar = np.r_[0, np.cumsum(s)[last]] / s.sum()
    far = np.r_[0, np.cumsum(~s)[last]] / (~s).sum()
    return far, tar, np.r_[-np.inf, d[last]]


def roc_auc(distances, same) -> float:
    """Area under the ROC curve: the chance that a random genuine pair is
    closer than a random impostor pair (ties count one half)."""
    from sklearn.metrics import auc

    far, tar, _ = roc_curve(distances, same)
    # The trapezoid rule by scikit-learn: np.trapezoid is numpy 2 only.
    return float(auc(far, tar))


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
    impostors = int((~check_pairs(distances, same)[1]).sum())
    if impostors * far_target < 1 - 1e-9:
        return TarAtFar(math.nan, math.nan, False)
    k = np.flatnonzero(far <= far_target * (1 + 1e-9))[-1]
    return TarAtFar(float(tar[k]), float(thr[k]), True)


def best_threshold(distances, same) -> float:
    """The threshold with the best accuracy, among the midpoints between
    sorted distinct distances (and just outside both ends). On ties the
    smallest such threshold wins."""
    d, s = check_pairs(distances, same, both=False)
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
    d, s = check_pairs(distances, same)
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
