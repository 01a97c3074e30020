"""Verification (ROC, EER, TAR@FAR, the 10-fold protocol) against hand
cases and scikit-learn, and the plots drawn from it."""

import json
import math

import numpy as np
import pytest

from apps.face import plots
from apps.face import verification

# Genuine 0.1 0.2 0.3 0.6, impostor 0.4 0.5 0.7 0.8: worked out on paper.
HAND_D = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.5, 0.7, 0.8])
HAND_SAME = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)


def _random_scores(seed, n=300, ties=False):
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.4
    d = np.where(same, rng.normal(0.9, 0.3, n), rng.normal(1.4, 0.3, n))
    d = np.clip(d, 0, 4)
    return (np.round(d, 1) if ties else d), same


def test_roc_auc_eer_on_the_hand_case():
    far, tar, thr = verification.roc_curve(HAND_D, HAND_SAME)
    np.testing.assert_allclose(far, [0, 0, 0, 0, 0.25, 0.5, 0.5, 0.75, 1])
    np.testing.assert_allclose(tar, [0, 0.25, 0.5, 0.75, 0.75, 0.75, 1, 1, 1])
    assert thr[0] == -np.inf
    np.testing.assert_allclose(thr[1:], np.sort(HAND_D))
    assert verification.roc_auc(HAND_D, HAND_SAME) == pytest.approx(14 / 16)
    eer, t = verification.equal_error_rate(HAND_D, HAND_SAME)
    assert (eer, t) == pytest.approx((0.25, 0.4))


def test_eer_interpolates_between_roc_points():
    # FRR - FAR is 0.5 - 0.25 at d 0.2 and 0 - 0.25 at d 0.3 (FAR stays
    # 0.25): they cross halfway, at EER 0.25 and threshold 0.25.
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    same = np.array([1, 0, 1, 0, 0, 0], bool)
    assert verification.equal_error_rate(d, same) == pytest.approx((0.25, 0.25))


@pytest.mark.parametrize("ties", [False, True])
def test_roc_and_auc_match_sklearn(ties):
    metrics = pytest.importorskip("sklearn.metrics")
    d, same = _random_scores(0, ties=ties)
    far, tar, thr = verification.roc_curve(d, same)
    fpr, tpr, sk_thr = metrics.roc_curve(same, -d, drop_intermediate=False)
    np.testing.assert_allclose(far, fpr)
    np.testing.assert_allclose(tar, tpr)
    np.testing.assert_allclose(thr[1:], -sk_thr[1:])
    assert verification.roc_auc(d, same) == pytest.approx(
        metrics.roc_auc_score(same, -d), abs=1e-12
    )
    # EER from sklearn's curve: the FAR where FAR and FRR cross.
    gap = (1 - tpr) - fpr
    k = np.argmax(gap <= 0)
    alpha = gap[k - 1] / (gap[k - 1] - gap[k])
    expected = fpr[k - 1] + alpha * (fpr[k] - fpr[k - 1])
    eer, _ = verification.equal_error_rate(d, same)
    assert eer == pytest.approx(expected)
    lo = np.max(np.minimum(fpr, 1 - tpr))
    hi = np.min(np.maximum(fpr, 1 - tpr))
    assert lo <= eer <= hi


def test_tar_at_far_hand_case_and_too_few_impostors():
    point = verification.tar_at_far(HAND_D, HAND_SAME, 0.25)
    assert point == (0.75, 0.4, True)
    assert point.threshold_cosine == pytest.approx(0.8)
    # 4 impostors cannot resolve FAR 0.1 (needs 10): NaN, not TAR at FAR 0.
    low = verification.tar_at_far(HAND_D, HAND_SAME, 0.1)
    assert math.isnan(low.tar) and math.isnan(low.threshold)
    assert low.resolved is False


def test_tar_at_far_matches_sklearn_curve():
    metrics = pytest.importorskip("sklearn.metrics")
    d, same = _random_scores(1, n=3000)
    fpr, tpr, sk_thr = metrics.roc_curve(same, -d, drop_intermediate=False)
    for target in (1e-3, 1e-2, 0.1):
        point = verification.tar_at_far(d, same, target)
        k = np.flatnonzero(fpr <= target)[-1]
        assert point.resolved
        assert point.tar == pytest.approx(tpr[k])
        assert point.threshold == pytest.approx(-sk_thr[k])
        assert np.mean(d[~same] <= point.threshold) <= target


def test_best_threshold_takes_the_midpoint_with_best_accuracy():
    # Accuracy 7/8 at any threshold in (0.3, 0.4): the midpoint 0.35.
    assert verification.best_threshold(HAND_D, HAND_SAME) == pytest.approx(0.35)
    d = np.array([0.5, 1.5])
    assert verification.best_threshold(d, [True, True]) >= 1.5
    assert verification.best_threshold(d, [False, False]) < 0.5


def test_ten_fold_hand_case():
    # Fold k < 8: genuine 0.2 + 0.05 k, impostor 1.2 + 0.05 k (clean).
    # Fold 8: genuine 1.0, impostor 1.1. Fold 9: genuine 1.8, impostor 0.1.
    # Without fold k < 8, or without fold 9, the best of the 18 training
    # pairs is t in (1.0, 1.1) -> 1.05: folds 0-7 score 1, fold 9 scores 0.
    # Without fold 8, it is t in (0.55, 1.2) -> 0.875: fold 8's genuine 1.0
    # is rejected, its impostor too: 0.5.
    clean_g = [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55]
    clean_i = [1.2, 1.25, 1.3, 1.35, 1.4, 1.45, 1.5, 1.55]
    d = np.array(clean_g + [1.0, 1.8] + clean_i + [1.1, 0.1])
    same = np.r_[np.ones(10, bool), np.zeros(10, bool)]
    fold_ids = np.r_[np.arange(10), np.arange(10)]
    report = verification.ten_fold_verification(d, same, fold_ids=fold_ids)
    assert report.fold_accuracies == [1.0] * 8 + [0.5, 0.0]
    assert report.fold_thresholds == pytest.approx([1.05] * 8 + [0.875, 1.05])
    assert report.accuracy_mean == pytest.approx(0.85)
    assert report.accuracy_std == pytest.approx(math.sqrt(1.025 / 10))
    assert report.threshold == pytest.approx(1.0325)
    assert report.threshold_cosine == pytest.approx(1 - 1.0325 / 2)
    assert (report.num_genuine, report.num_impostor) == (10, 10)
    # 10 impostors resolve neither FAR 1e-3 nor 1e-2.
    assert not any(p.resolved for p in report.tar_at_far.values())


def test_ten_fold_random_folds_are_stratified_and_deterministic():
    d, same = _random_scores(2, n=400)
    a = verification.ten_fold_verification(d, same, seed=5)
    b = verification.ten_fold_verification(d, same, seed=5)
    assert a == b
    assert len(a.fold_accuracies) == 10
    assert 0.75 < a.accuracy_mean < 0.95
    assert a.auc == pytest.approx(verification.roc_auc(d, same))
    assert a.eer == pytest.approx(verification.equal_error_rate(d, same)[0])
    separable = verification.ten_fold_verification(
        np.r_[np.full(20, 0.5), np.full(20, 1.5)], np.arange(40) < 20
    )
    assert separable.fold_accuracies == [1.0] * 10
    assert 0.5 < separable.threshold < 1.5
    with pytest.raises(ValueError, match="folds"):
        verification.ten_fold_verification(d[:10], same[:10], folds=10)


def test_report_as_dict_is_json_ready_and_format_shows_both_ways():
    d, same = _random_scores(3, n=400)
    report = verification.ten_fold_verification(d, same)
    data = report.as_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["tar_at_far"]["0.001"]["tar"] is None
    resolved = data["tar_at_far"]["0.01"]
    assert resolved["resolved"] is True
    assert resolved["threshold_cosine"] == pytest.approx(
        1 - resolved["threshold"] / 2
    )
    assert data["threshold_cosine"] == pytest.approx(1 - data["threshold"] / 2)
    table = report.format()
    assert f"d^2 {report.threshold:.4f}" in table
    assert f"cosine {report.threshold_cosine:.4f}" in table
    assert "needs >= 1000 impostor pairs" in table


def test_plots_write_png_files(tmp_path):
    d, same = _random_scores(4, n=400)
    far, tar, _ = verification.roc_curve(d, same)
    marks = {f: verification.tar_at_far(d, same, f) for f in (1e-3, 1e-2)}
    assert not marks[1e-3].resolved  # drawn as n/a, not as a point
    roc = plots.plot_roc(
        far,
        tar,
        tmp_path / "plots" / "roc.png",
        title="ROC",
        eer=verification.equal_error_rate(d, same),
        marks=marks,
    )
    hist = plots.plot_distance_histogram(
        d, same, verification.best_threshold(d, same), tmp_path / "hist.png"
    )
    for path in (roc, hist):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 5000
    written = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["hist.png", "roc.png"]  # no temporary files left
    with pytest.raises(ValueError, match="non-zero FAR"):
        plots.plot_roc([0.0, 0.0], [0.0, 1.0], tmp_path / "x.png", title="x")


def test_roc_auc_without_numpy_2(monkeypatch):
    # Issue 21, bug 2: np.trapezoid exists only in numpy 2, while
    # TensorFlow 2.21 accepts numpy 1.26 (which has only np.trapz).
    monkeypatch.delattr(np, "trapezoid", raising=False)
    assert verification.roc_auc(HAND_D, HAND_SAME) == pytest.approx(14 / 16)
