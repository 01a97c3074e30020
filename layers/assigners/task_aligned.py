"""TOOD's task-aligned assigner (Feng et al. 2021), as YOLOv8 uses it.

For every ground-truth box `g` (class `c_g`) and anchor point `a`:

1. Candidates: `a`'s point lies strictly inside `g` (by more than `eps`).
2. Alignment: `t_ga = s_ga^alpha * IoU_ga^beta` on candidates, 0 elsewhere,
   where `s_ga` is the predicted score of class `c_g` at `a` and `IoU_ga`
   the IoU of `g` with the box predicted at `a`.
3. Positives: the `topk` anchors of largest `t_ga` for each `g` (ties to
   the lower anchor index), kept only where `a` is a candidate of `g`.
4. An anchor positive for several boxes keeps the one of largest
   `IoU_ga` (among all boxes it is a candidate of, as in YOLOv8).
5. Targets of a positive anchor `a` assigned to `g`: the box `g`, and the
   score `t_ga * max_a' IoU_ga' / (max_a' t_ga' + eps)` (maxima over the
   positives `a'` of `g`) on class `c_g`, 0 on the other classes: the
   best-aligned anchor of each box gets that box's best IoU as target.

Differences from Ultralytics' implementation: the alignment uses plain IoU
where Ultralytics 8.x uses CIoU clipped at 0, and top-k ties are broken by
anchor index (deterministic) where `torch.topk` leaves them unspecified.
"""

import tensorflow as tf

from layers.boxes.iou import pairwise_iou


def task_aligned_assign(
    pred_scores,
    pred_boxes,
    anchor_points,
    gt_boxes,
    gt_classes,
    *,
    topk: int = 10,
    alpha: float = 0.5,
    beta: float = 6.0,
    eps: float = 1e-9,
):
    """Assigns ground-truth boxes to anchor points, TOOD style (no gradient).

    See the module docstring for the algorithm. Boxes and points may be in
    pixels or normalized, as long as all of them use the same coordinates
    (`eps` is the inside margin in those units). Works in eager mode and in
    `tf.function`, for any batch size, for images without boxes and for
    `max_boxes = 0`. Memory is `O(batch * max_boxes * A)`.

    Args:
        pred_scores: `(batch, A, p)` predicted class probabilities.
        pred_boxes: `(batch, A, 4)` predicted boxes, `"xyxy"`.
        anchor_points: `(A, 2)` `(x, y)` anchor points.
        gt_boxes: `(batch, max_boxes, 4)` ground-truth boxes, `"xyxy"`.
        gt_classes: `(batch, max_boxes)` class ids, `-1` for padding.
        topk: number of anchors considered per ground-truth box.
        alpha: exponent of the score in the alignment metric.
        beta: exponent of the IoU in the alignment metric.
        eps: inside margin and division guard.

    Returns:
        A tuple, all in the dtype of `pred_scores`, without gradient:
        - target boxes `(batch, A, 4)`: the assigned box, zeros where the
          anchor is background;
        - target scores `(batch, A, p)`: the normalized alignment on the
          assigned class, zeros elsewhere;
        - foreground mask `(batch, A)` bool.

    Example:

    >>> points = [[4.0, 4.0], [12.0, 4.0]]
    >>> boxes, scores, fg = task_aligned_assign(
    ...     tf.fill((1, 2, 1), 0.5), [[[0.0, 0.0, 8.0, 8.0]] * 2], points,
    ...     [[[0.0, 0.0, 8.0, 8.0]]], [[0]])
    >>> fg.numpy().tolist(), scores.numpy()[0, :, 0].tolist()
    ([[True, False]], [1.0, 0.0])
    """
    if isinstance(topk, bool) or not (isinstance(topk, int) and topk > 0):
        raise ValueError(
            f"Expected topk to be a positive integer. Received: topk={topk}"
        )
    pred_scores = tf.stop_gradient(tf.convert_to_tensor(pred_scores))
    dtype = pred_scores.dtype
    pred_boxes = tf.stop_gradient(tf.cast(pred_boxes, dtype))
    anchor_points = tf.cast(anchor_points, dtype)
    gt_boxes = tf.cast(gt_boxes, dtype)
    gt_classes = tf.cast(gt_classes, tf.int32)
    num_classes = tf.shape(pred_scores)[-1]
    # Static when known, so that top_k gets a constant k (XLA needs one).
    num_anchors = pred_boxes.shape[1] or tf.shape(pred_boxes)[1]
    # One padding box more, so that max_boxes = 0 needs no special case.
    gt_boxes = tf.pad(gt_boxes, [[0, 0], [0, 1], [0, 0]])
    gt_classes = tf.pad(gt_classes, [[0, 0], [0, 1]], constant_values=-1)
    valid = gt_classes >= 0  # (b, n)
    classes = tf.maximum(gt_classes, 0)

    # 1. Candidates: anchor point strictly inside the box, box valid.
    x = anchor_points[:, 0]
    y = anchor_points[:, 1]
    x0, y0, x1, y1 = [v[..., None] for v in tf.unstack(gt_boxes, 4, -1)]
    margin = tf.minimum(
        tf.minimum(x - x0, y - y0), tf.minimum(x1 - x, y1 - y)
    )  # (b, n, A)
    candidate = (margin > eps) & valid[..., None]

    # 2. Alignment metric t = s^alpha * IoU^beta on candidates.
    gathered = tf.gather(
        tf.transpose(pred_scores, [0, 2, 1]), classes, batch_dims=1
    )  # (b, n, A)
    zeros = tf.zeros_like(gathered)
    score = tf.where(candidate, gathered, zeros)
    iou = tf.where(candidate, pairwise_iou(gt_boxes, pred_boxes), zeros)
    metric = tf.pow(score, alpha) * tf.pow(iou, beta)

    # 3. Top-k anchors per box, restricted to candidates.
    k = tf.minimum(topk, num_anchors)
    _, top_index = tf.math.top_k(metric, k=k)  # (b, n, k)
    shape = tf.shape(top_index)
    b_index = tf.broadcast_to(tf.range(shape[0])[:, None, None], shape)
    n_index = tf.broadcast_to(tf.range(shape[1])[None, :, None], shape)
    in_topk = tf.scatter_nd(
        tf.stack([b_index, n_index, top_index], axis=-1),
        tf.ones(shape, tf.int32),
        tf.shape(metric),
    )
    positive = (in_topk > 0) & candidate  # (b, n, A)

    # 4. Anchors positive for several boxes keep the box of largest IoU.
    count = tf.reduce_sum(tf.cast(positive, tf.int32), axis=1)  # (b, A)
    best = tf.one_hot(
        tf.argmax(iou, axis=1, output_type=tf.int32),
        tf.shape(iou)[1],
        on_value=True,
        off_value=False,
        axis=1,
        dtype=tf.bool,
    )
    positive = tf.where((count > 1)[:, None, :], best, positive)
    foreground = tf.reduce_any(positive, axis=1)  # (b, A)
    assigned = tf.argmax(
        tf.cast(positive, tf.int32), axis=1, output_type=tf.int32
    )  # (b, A)

    # 5. Targets, scores normalized per box.
    positive = tf.cast(positive, dtype)
    metric = metric * positive
    max_metric = tf.reduce_max(metric, axis=-1, keepdims=True)
    max_iou = tf.reduce_max(iou * positive, axis=-1, keepdims=True)
    norm = tf.reduce_max(metric * max_iou / (max_metric + eps), axis=1)
    fg = tf.cast(foreground, dtype)
    target_boxes = tf.gather(gt_boxes, assigned, batch_dims=1) * fg[..., None]
    target_classes = tf.gather(classes, assigned, batch_dims=1)
    target_scores = (
        tf.one_hot(target_classes, num_classes, dtype=dtype)
        * (norm * fg)[..., None]
    )
    return (
        tf.stop_gradient(target_boxes),
        tf.stop_gradient(target_scores),
        foreground,
    )
