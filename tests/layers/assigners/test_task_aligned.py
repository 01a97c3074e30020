"""Tests of layers/assigners/task_aligned.py against hand cases and an
independent numpy transcription of TOOD / YOLOv8's assignment."""

import numpy as np
import pytest
import tensorflow as tf

from layers.assigners.task_aligned import task_aligned_assign
from layers.heads.anchor_free import make_anchor_points


def box_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    union -= inter
    return inter / union if union > 0 else 0.0


def numpy_assign(scores, pboxes, points, gboxes, gclasses, topk, alpha, beta):
    """Loops over images, boxes and anchors; float64."""
    eps = 1e-9
    b, num_anchors, p = scores.shape
    n = gboxes.shape[1]
    out_boxes = np.zeros((b, num_anchors, 4))
    out_scores = np.zeros((b, num_anchors, p))
    out_fg = np.zeros((b, num_anchors), bool)
    multi = 0
    for i in range(b):
        inside = np.zeros((n, num_anchors), bool)
        iou = np.zeros((n, num_anchors))
        metric = np.zeros((n, num_anchors))
        positive = np.zeros((n, num_anchors), bool)
        for g in range(n):
            c = int(gclasses[i, g])
            if c < 0:
                continue
            x0, y0, x1, y1 = gboxes[i, g]
            for a, (x, y) in enumerate(points):
                if min(x - x0, y - y0, x1 - x, y1 - y) > eps:
                    inside[g, a] = True
                    iou[g, a] = box_iou(gboxes[i, g], pboxes[i, a])
                    metric[g, a] = scores[i, a, c] ** alpha * iou[g, a] ** beta
            # Largest metric first, ties to the lower anchor index.
            order = np.argsort(-metric[g], kind="stable")[:topk]
            positive[g, order] = inside[g, order]
        for a in range(num_anchors):
            if positive[:, a].sum() > 1:
                multi += 1
                best = int(np.argmax(iou[:, a]))
                positive[:, a] = False
                positive[best, a] = True
        for g in range(n):
            if not positive[g].any():
                continue
            max_metric = metric[g][positive[g]].max()
            max_iou = iou[g][positive[g]].max()
            for a in np.nonzero(positive[g])[0]:
                out_fg[i, a] = True
                out_boxes[i, a] = gboxes[i, g]
                out_scores[i, a, int(gclasses[i, g])] = (
                    metric[g, a] * max_iou / (max_metric + eps)
                )
    return out_boxes, out_scores, out_fg, multi


def random_case(seed, image_size=64, strides=(8, 16, 32), p=3, n=5):
    rng = np.random.default_rng(seed)
    points, point_strides = make_anchor_points(image_size, strides)
    points = points.astype(np.float64)
    num_anchors = points.shape[0]
    b = 3
    scores = rng.uniform(0.01, 1.0, size=(b, num_anchors, p))
    distances = rng.uniform(0.2, 2.5, size=(b, num_anchors, 4)) * point_strides
    pboxes = np.concatenate(
        [points - distances[..., :2], points + distances[..., 2:]], -1
    )
    centre = rng.uniform(10, image_size - 10, size=(b, n, 2))
    half = rng.uniform(4, image_size / 2.5, size=(b, n, 2))
    gboxes = np.concatenate([centre - half, centre + half], -1)
    gclasses = rng.integers(0, p, size=(b, n)).astype(np.float64)
    gclasses[0, 3:] = -1  # padding
    gclasses[2, :] = -1  # an image without boxes
    gboxes[gclasses < 0] = 0.0
    return scores, pboxes, points, gboxes, gclasses


@pytest.mark.parametrize("seed,topk", [(0, 10), (1, 3), (2, 10), (3, 1)])
def test_random_cases_match_numpy(seed, topk):
    scores, pboxes, points, gboxes, gclasses = random_case(seed)
    want_boxes, want_scores, want_fg, multi = numpy_assign(
        scores, pboxes, points, gboxes, gclasses, topk, 0.5, 6.0
    )
    boxes, target_scores, fg = task_aligned_assign(
        scores, pboxes, points, gboxes, gclasses, topk=topk
    )
    assert fg.dtype == tf.bool and target_scores.dtype == tf.float64
    np.testing.assert_array_equal(fg.numpy(), want_fg)
    np.testing.assert_allclose(boxes.numpy(), want_boxes, atol=1e-12)
    np.testing.assert_allclose(
        target_scores.numpy(), want_scores, rtol=1e-9, atol=1e-15
    )
    assert want_fg[:2].any() and not want_fg[2].any()
    if topk == 10:
        # Overlapping boxes: some anchors are claimed twice.
        assert multi > 0


def test_float32_and_tf_function():
    scores, pboxes, points, gboxes, gclasses = random_case(5)
    want = numpy_assign(scores, pboxes, points, gboxes, gclasses, 10, 0.5, 6)
    fn = tf.function(task_aligned_assign)
    boxes, target_scores, fg = fn(
        scores.astype("float32"),
        pboxes.astype("float32"),
        points.astype("float32"),
        gboxes.astype("float32"),
        gclasses.astype("int32"),
    )
    np.testing.assert_array_equal(fg.numpy(), want[2])
    np.testing.assert_allclose(boxes.numpy(), want[0], atol=1e-4)
    np.testing.assert_allclose(target_scores.numpy(), want[1], atol=1e-5)


def grid_points():
    # 32 px at stride 8: 4 x 4 points at 4, 12, 20, 28; index = 4 row + col.
    return make_anchor_points(32, strides=(8,))[0].astype(np.float64)


def test_box_covering_known_points():
    points = grid_points()
    gt = np.array([[[0.0, 0.0, 16.0, 16.0], [0.0, 0.0, 0.0, 0.0]]])
    classes = np.array([[1, -1]])
    # Every prediction is the box itself: IoU 1, equal metrics, so every
    # positive anchor gets target score max IoU = 1 on class 1.
    pboxes = np.broadcast_to(gt[:, :1], (1, 16, 4)).copy()
    scores = np.full((1, 16, 2), 0.5)
    boxes, target_scores, fg = task_aligned_assign(
        scores, pboxes, points, gt, classes
    )
    assert np.nonzero(fg.numpy()[0])[0].tolist() == [0, 1, 4, 5]
    np.testing.assert_allclose(boxes.numpy()[0, [0, 1, 4, 5]], gt[0, [0] * 4])
    np.testing.assert_array_equal(boxes.numpy()[0, 2], 0.0)
    want = np.zeros((16, 2))
    want[[0, 1, 4, 5], 1] = 1.0
    np.testing.assert_allclose(target_scores.numpy()[0], want, atol=1e-7)


def test_points_on_the_edge_are_outside():
    points = grid_points()
    # x from 4 (the first column's centre) to 20: only column 1 is strictly
    # inside (column 2's centre, 20, is on the edge); rows 0 and 1.
    gt = np.array([[[4.0, 0.0, 20.0, 16.0]]])
    pboxes = np.broadcast_to(gt, (1, 16, 4)).copy()
    _, _, fg = task_aligned_assign(
        np.full((1, 16, 1), 0.9), pboxes, points, gt, [[0]]
    )
    assert np.nonzero(fg.numpy()[0])[0].tolist() == [1, 5]


def test_topk_and_score_normalisation():
    points = grid_points()
    gt = np.array([[[0.0, 0.0, 16.0, 16.0]]])
    # Predictions shrink the box by different amounts: IoU 0.9^2 at 0, ...
    shrink = {0: 0.9, 1: 0.6, 4: 0.8, 5: 0.7}
    pboxes = np.tile([[[0.0, 0.0, 16.0, 16.0]]], (1, 16, 1))
    for a, f in shrink.items():
        pboxes[0, a] = [0.0, 0.0, 16.0 * f, 16.0 * f]
    scores = np.full((1, 16, 1), 0.02)
    scores[0, 5] = 0.9
    _, target_scores, fg = task_aligned_assign(
        scores, pboxes, points, gt, [[0]], topk=2, alpha=0.5, beta=6.0
    )
    iou = {a: f * f for a, f in shrink.items()}
    metric = {a: scores[0, a, 0] ** 0.5 * iou[a] ** 6 for a in shrink}
    top2 = sorted(metric, key=metric.get, reverse=True)[:2]
    assert sorted(top2) == [0, 5]  # 5's score outweighs 4's better IoU
    assert np.nonzero(fg.numpy()[0])[0].tolist() == [0, 5]
    max_metric = max(metric[a] for a in top2)
    max_iou = max(iou[a] for a in top2)
    for a in top2:
        assert target_scores.numpy()[0, a, 0] == pytest.approx(
            metric[a] * max_iou / (max_metric + 1e-9), rel=1e-9
        )
    # The best-aligned anchor's target is the box's best IoU.
    assert target_scores.numpy()[0, :, 0].max() == pytest.approx(
        max_iou, rel=1e-6
    )


def test_anchor_claimed_twice_goes_to_higher_iou():
    points = grid_points()
    # Both boxes contain anchor 5 (12, 12); its prediction overlaps the
    # second box more.
    gt = np.array([[[0.0, 0.0, 16.0, 16.0], [8.0, 8.0, 24.0, 24.0]]])
    pboxes = np.tile([[[8.0, 8.0, 24.0, 24.0]]], (1, 16, 1))
    pboxes[0, 5] = [7.0, 7.0, 22.0, 22.0]
    scores = np.full((1, 16, 2), 0.5)
    boxes, target_scores, fg = task_aligned_assign(
        scores, pboxes, points, gt, [[0, 1]]
    )
    assert fg.numpy()[0, 5]
    np.testing.assert_allclose(boxes.numpy()[0, 5], gt[0, 1])
    assert target_scores.numpy()[0, 5, 0] == 0.0
    assert target_scores.numpy()[0, 5, 1] > 0.0
    # Anchor 0 is only in the first box.
    np.testing.assert_allclose(boxes.numpy()[0, 0], gt[0, 0])


def test_no_boxes_at_all():
    points = grid_points()
    scores = np.full((2, 16, 3), 0.5)
    pboxes = np.tile([[[0.0, 0.0, 8.0, 8.0]]], (2, 16, 1))
    for gt, classes in (
        (np.zeros((2, 3, 4)), -np.ones((2, 3))),
        (np.zeros((2, 0, 4)), np.zeros((2, 0))),
    ):
        boxes, target_scores, fg = task_aligned_assign(
            scores, pboxes, points, gt, classes
        )
        assert boxes.shape == (2, 16, 4) and target_scores.shape == (2, 16, 3)
        assert not fg.numpy().any()
        assert not boxes.numpy().any() and not target_scores.numpy().any()


def test_invalid_topk():
    with pytest.raises(ValueError, match="Received: topk=0"):
        task_aligned_assign(
            np.zeros((1, 1, 1)),
            np.zeros((1, 1, 4)),
            [[0.0, 0.0]],
            np.zeros((1, 1, 4)),
            [[0]],
            topk=0,
        )
