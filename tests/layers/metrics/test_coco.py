"""Tests of layers/metrics/coco.py against a numpy COCO-style AP."""

import numpy as np
import pytest

from layers.metrics.coco import coco_evaluate

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def numpy_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area - inter)


def numpy_ap(gt_boxes, det_boxes, det_scores, threshold):
    """One class, one image: greedy matching by descending score, then the
    101-point interpolated AP (max precision at recall >= r)."""
    order = np.argsort(-np.asarray(det_scores), kind="stable")
    taken = set()
    tp = []
    for d in order:
        best, best_iou = None, threshold
        for g, box in enumerate(gt_boxes):
            iou = numpy_iou(det_boxes[d], box)
            if g not in taken and iou >= best_iou:
                best, best_iou = g, iou
        tp.append(best is not None)
        if best is not None:
            taken.add(best)
    tp = np.array(tp, float)
    recall = np.cumsum(tp) / len(gt_boxes)
    precision = np.cumsum(tp) / np.arange(1, len(tp) + 1)
    return np.mean(
        [
            precision[recall >= r].max() if np.any(recall >= r) else 0.0
            for r in RECALL_POINTS
        ]
    )


def image(boxes, classes, size=(100, 100)):
    return {
        "width": size[1],
        "height": size[0],
        "boxes": np.asarray(boxes, float).reshape(-1, 4),
        "classes": np.asarray(classes, int),
    }


def detections(boxes, scores, classes):
    return {
        "boxes": np.asarray(boxes, float).reshape(-1, 4),
        "scores": np.asarray(scores, float),
        "classes": np.asarray(classes, int),
    }


GT = [
    image([[10, 10, 50, 50], [60, 60, 90, 90]], [0, 1]),
    image([[5, 20, 45, 70]], [1], size=(80, 120)),
]


def test_perfect_detections():
    dets = [
        detections(g["boxes"], [0.9, 0.5][: len(g["boxes"])], g["classes"])
        for g in GT
    ]
    result = coco_evaluate(GT, dets, ["a", "b"])
    assert result["map50"] == pytest.approx(1.0)
    assert result["map50_95"] == pytest.approx(1.0)
    for name in ("a", "b"):
        assert result["per_class"][name]["ap50"] == pytest.approx(1.0)
        assert result["per_class"][name]["ap50_95"] == pytest.approx(1.0)


def test_hand_built_case_matches_numpy():
    # One class, 2 GT boxes, 3 detections: an exact hit (IoU 1, score
    # 0.9), a false positive (0.8), then a hit with IoU 600 / 900 = 2/3
    # (0.7), which matches at thresholds 0.50..0.65 only.
    gt_boxes = [[10, 10, 50, 50], [60, 60, 90, 90]]
    det_boxes = [[10, 10, 50, 50], [0, 70, 20, 95], [60, 60, 90, 80]]
    scores = [0.9, 0.8, 0.7]
    assert numpy_iou(det_boxes[2], gt_boxes[1]) == pytest.approx(2 / 3)
    result = coco_evaluate(
        [image(gt_boxes, [0, 0])],
        [detections(det_boxes, scores, [0, 0, 0])],
        ["thing"],
    )
    aps = [numpy_ap(gt_boxes, det_boxes, scores, t) for t in IOU_THRESHOLDS]
    # By hand: matched, precision [1, 1/2, 2/3] at recall [1/2, 1/2, 1]:
    # 51 recall points at 1, 50 at 2/3; unmatched: 51 points at 1.
    assert aps[0] == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert aps[-1] == pytest.approx(51 / 101)
    assert result["map50"] == pytest.approx(aps[0], abs=1e-9)
    assert result["map50_95"] == pytest.approx(np.mean(aps), abs=1e-9)
    assert result["per_class"]["thing"]["ap50"] == pytest.approx(aps[0])
    assert result["per_class"]["thing"]["ap50_95"] == pytest.approx(
        np.mean(aps)
    )
    recall, precision, ap50 = result["pr_curves"]["thing"]
    np.testing.assert_allclose(recall, RECALL_POINTS)
    np.testing.assert_allclose(precision[:51], 1.0)
    np.testing.assert_allclose(precision[51:], 2 / 3)
    assert ap50 == pytest.approx(aps[0])


def test_wrong_class_and_low_iou_are_misses():
    gt = [image([[10, 10, 50, 50], [60, 60, 90, 90]], [0, 0])]
    dets = [
        detections(
            [[10, 10, 50, 50], [60, 60, 90, 90], [60, 60, 70, 70]],
            [0.9, 0.8, 0.7],
            [0, 1, 0],  # second detection has the wrong class
        )
    ]
    result = coco_evaluate(gt, dets, ["a", "b"])
    # Class a: hit, then a miss (IoU 1/9): AP = 51 / 101.
    assert result["per_class"]["a"]["ap50"] == pytest.approx(51 / 101)
    # Class b has no ground truth: undefined, left out of the mean.
    assert np.isnan(result["per_class"]["b"]["ap50"])
    assert result["map50"] == pytest.approx(51 / 101)


def test_empty_detections():
    dets = [detections(np.zeros((0, 4)), [], []) for _ in GT]
    result = coco_evaluate(GT, dets, ["a", "b"])
    assert result["map50"] == 0.0
    assert result["map50_95"] == 0.0
    assert result["per_class"] == {
        "a": {"ap50": 0.0, "ap50_95": 0.0},
        "b": {"ap50": 0.0, "ap50_95": 0.0},
    }
    recall, precision, ap50 = result["pr_curves"]["a"]
    assert recall.shape == (101,) and precision.shape == (101,)
    np.testing.assert_array_equal(precision, 0.0)
    assert ap50 == 0.0


def test_keys_and_pr_curve_shapes():
    names = ["circle", "square", "triangle"]
    gt = [image([[10, 10, 50, 50], [60, 60, 90, 90]], [0, 2])]
    dets = [detections([[12, 10, 50, 52]], [0.6], [0])]
    result = coco_evaluate(gt, dets, names)
    assert set(result) == {"map50", "map50_95", "per_class", "pr_curves"}
    assert list(result["per_class"]) == names
    assert list(result["pr_curves"]) == names
    for name in names:
        recall, precision, ap50 = result["pr_curves"][name]
        assert recall.shape == (101,)
        assert precision.shape == (101,)
        assert np.all(precision >= 0.0) and np.all(precision <= 1.0)
        assert isinstance(ap50, float)
    assert result["per_class"]["circle"]["ap50"] == pytest.approx(1.0)
    # Triangle: one GT, no detection.
    assert result["per_class"]["triangle"]["ap50"] == pytest.approx(0.0)
    assert result["map50"] == pytest.approx(0.5)
