"""The YOLO codec: ground-truth boxes <-> the `G x G x k(5+p)` target grid.

The CS230 cheatsheet's YOLO target: the image is divided into a `G x G` grid;
each cell holds `k` anchor slots, and each slot the vector

    y = [pc, bx, by, bh, bw, c1, ..., cp]

where `pc` says whether an object's centre falls in the cell and is assigned
to this anchor, `(bx, by)` is the centre's offset inside the cell (in
[0, 1]), `(bh, bw)` the box height and width as fractions of the image, and
`c1..cp` the one-hot class.

The network predicts raw values `t = [to, tx, ty, th, tw, l1..lp]` in the same
layout; decoding follows YOLOv2: `pc = sigmoid(to)`,
`bx = (col + sigmoid(tx)) / G`, `bh = anchor_h * exp(th)`, class
probabilities `softmax(l)`, and the per-class score is `pc * p(class)`.

All boxes are normalized xyxy `(x_min, y_min, x_max, y_max)` in [0, 1].
Anchors are `(k, 2)` pairs of `(height, width)` as fractions of the image.
"""

import numpy as np
import tensorflow as tf


def check_yolo_args(anchors, num_classes) -> tuple[list[list[float]], int]:
    """Validates the arguments every YOLO layer and loss takes.

    Returns:
        `(anchors, num_classes)` as a list of float pairs and an int.
    """
    pairs = [[float(a) for a in pair] for pair in anchors]
    if not pairs or any(len(a) != 2 or min(a) <= 0 for a in pairs):
        raise ValueError(
            "Expected anchors as a non-empty list of positive "
            f"(height, width) pairs. Received: anchors={anchors}"
        )
    if int(num_classes) < 1:
        raise ValueError(
            f"Expected num_classes >= 1. Received: num_classes={num_classes}"
        )
    return pairs, int(num_classes)


def _as_anchors(anchors) -> tf.Tensor:
    anchors = tf.convert_to_tensor(anchors, dtype=tf.float32)
    if anchors.shape.rank != 2 or anchors.shape[-1] != 2:
        raise ValueError(
            "Expected anchors of shape (k, 2) as (height, width) pairs. "
            f"Received: anchors.shape={anchors.shape}"
        )
    return anchors


def encode_yolo_targets(
    boxes: tf.Tensor,
    classes: tf.Tensor,
    *,
    grid_size: int,
    anchors,
    num_classes: int,
) -> tf.Tensor:
    """Encodes one image's boxes into the YOLO target grid.

    Each valid box (class >= 0) goes to the cell holding its centre and to the
    anchor whose shape has the highest IoU with the box (both centred). When
    several boxes fall in the same cell and anchor, the first one keeps it.

    Args:
        boxes: `(max_boxes, 4)` normalized xyxy boxes, zero padded.
        classes: `(max_boxes,)` int class ids, padded with -1.
        grid_size: G, the number of cells along each side.
        anchors: `(k, 2)` anchor (height, width) pairs, fractions of the image.
        num_classes: p, the number of classes.

    Returns:
        `(G, G, k * (5 + p))` float32 targets.

    Example:
        >>> y = encode_yolo_targets([[0.1, 0.1, 0.3, 0.5]], [1],
        ...     grid_size=4, anchors=[[0.4, 0.2]], num_classes=2)
        >>> y.shape
        TensorShape([4, 4, 7])
    """
    anchors = _as_anchors(anchors)
    k = anchors.shape[0]
    depth = 5 + num_classes
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
    classes = tf.reshape(tf.cast(classes, tf.int32), (-1,))
    valid = classes >= 0
    boxes = tf.boolean_mask(boxes, valid)
    classes = tf.boolean_mask(classes, valid)

    x0, y0, x1, y1 = tf.unstack(tf.clip_by_value(boxes, 0.0, 1.0), axis=-1)
    w = tf.maximum(x1 - x0, 1e-6)
    h = tf.maximum(y1 - y0, 1e-6)
    cx = (x0 + x1) / 2.0
    cy = (y0 + y1) / 2.0
    g = float(grid_size)
    col = tf.clip_by_value(
        tf.cast(tf.floor(cx * g), tf.int32), 0, grid_size - 1
    )
    row = tf.clip_by_value(
        tf.cast(tf.floor(cy * g), tf.int32), 0, grid_size - 1
    )
    bx = cx * g - tf.cast(col, tf.float32)
    by = cy * g - tf.cast(row, tf.float32)

    # Shape IoU between each box and each anchor, both centred at the origin.
    inter = tf.minimum(h[:, None], anchors[None, :, 0]) * tf.minimum(
        w[:, None], anchors[None, :, 1]
    )
    union = (h * w)[:, None] + (anchors[:, 0] * anchors[:, 1])[None, :] - inter
    best = tf.cast(tf.argmax(inter / union, axis=-1), tf.int32)

    one_hot = tf.one_hot(classes, num_classes, dtype=tf.float32)
    ones = tf.ones_like(bx)
    values = tf.concat(
        [tf.stack([ones, bx, by, h, w], axis=-1), one_hot], axis=-1
    )
    indices = tf.stack([row, col, best], axis=-1)
    # Two boxes in the same slot would add up (scatter_nd sums duplicates):
    # keep only the first of them.
    slot = (row * grid_size + col) * k + best
    order = tf.range(tf.shape(slot)[0])
    first = tf.math.unsorted_segment_min(order, slot, grid_size * grid_size * k)
    keep = tf.equal(tf.gather(first, slot), order)
    grid = tf.scatter_nd(
        tf.boolean_mask(indices, keep),
        tf.boolean_mask(values, keep),
        (grid_size, grid_size, k, depth),
    )
    return tf.reshape(grid, (grid_size, grid_size, k * depth))


def _split(y: tf.Tensor, num_anchors: int, num_classes: int):
    shape = tf.shape(y)
    y = tf.reshape(
        y, (shape[0], shape[1], shape[2], num_anchors, 5 + num_classes)
    )
    return y, shape[1], shape[2]


def _cell_offsets(rows, cols):
    r = tf.cast(tf.range(rows), tf.float32)
    c = tf.cast(tf.range(cols), tf.float32)
    rr, cc = tf.meshgrid(r, c, indexing="ij")
    return rr[None, :, :, None], cc[None, :, :, None]


def _to_xyxy(cx, cy, h, w):
    return tf.stack(
        [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0], axis=-1
    )


def decode_yolo_targets(
    y: tf.Tensor, *, num_anchors: int, num_classes: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Inverse of `encode_yolo_targets`, batched.

    Args:
        y: `(batch, G, G, k * (5 + p))` targets.
        num_anchors: k.
        num_classes: p.

    Returns:
        A tuple `(boxes, classes, valid)`: `(batch, G*G*k, 4)` xyxy boxes,
        `(batch, G*G*k)` int32 classes and `(batch, G*G*k)` bool, True where
        `pc = 1`. Slots with `pc = 0` carry no box and must be ignored.
    """
    y, rows, cols = _split(tf.convert_to_tensor(y), num_anchors, num_classes)
    rr, cc = _cell_offsets(rows, cols)
    cx = (cc + y[..., 1]) / tf.cast(cols, y.dtype)
    cy = (rr + y[..., 2]) / tf.cast(rows, y.dtype)
    boxes = _to_xyxy(cx, cy, y[..., 3], y[..., 4])
    classes = tf.cast(tf.argmax(y[..., 5:], axis=-1), tf.int32)
    valid = y[..., 0] > 0.5
    batch = tf.shape(y)[0]
    return (
        tf.reshape(boxes, (batch, -1, 4)),
        tf.reshape(classes, (batch, -1)),
        tf.reshape(valid, (batch, -1)),
    )


def decode_yolo_predictions(
    raw: tf.Tensor, *, anchors, num_classes: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """Turns raw head outputs into boxes and per-class scores.

    Args:
        raw: `(batch, G, G, k * (5 + p))` raw predictions.
        anchors: `(k, 2)` anchor (height, width) pairs.
        num_classes: p.

    Returns:
        A tuple `(boxes, scores)`: `(batch, G*G*k, 4)` normalized xyxy boxes
        and `(batch, G*G*k, p)` scores `pc * p(class | object)`.
    """
    anchors = _as_anchors(anchors)
    raw = tf.cast(raw, tf.float32)
    y, rows, cols = _split(raw, anchors.shape[0], num_classes)
    rr, cc = _cell_offsets(rows, cols)
    cx = (cc + tf.sigmoid(y[..., 1])) / tf.cast(cols, tf.float32)
    cy = (rr + tf.sigmoid(y[..., 2])) / tf.cast(rows, tf.float32)
    # Clamping the log-size keeps exp() finite for untrained heads.
    h = anchors[:, 0] * tf.exp(tf.clip_by_value(y[..., 3], -8.0, 8.0))
    w = anchors[:, 1] * tf.exp(tf.clip_by_value(y[..., 4], -8.0, 8.0))
    boxes = tf.clip_by_value(_to_xyxy(cx, cy, h, w), 0.0, 1.0)
    scores = tf.sigmoid(y[..., :1]) * tf.nn.softmax(y[..., 5:], axis=-1)
    batch = tf.shape(raw)[0]
    return (
        tf.reshape(boxes, (batch, -1, 4)),
        tf.reshape(scores, (batch, -1, num_classes)),
    )


def kmeans_anchors(
    sizes: np.ndarray, k: int, *, seed: int, iterations: int = 100
) -> np.ndarray:
    """YOLOv2's dimension clusters: k-means on box shapes with 1 - IoU.

    Args:
        sizes: `(n, 2)` box (height, width) pairs, fractions of the image.
        k: the number of anchors.
        seed: seed of the initial centres.
        iterations: the maximum number of k-means steps.

    Returns:
        `(k, 2)` float32 anchors sorted by area.
    """
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    if len(sizes) < k:
        raise ValueError(
            f"Expected at least k={k} boxes to cluster. "
            f"Received: {len(sizes)} boxes"
        )
    rng = np.random.default_rng(seed)

    def shape_iou(centres):
        inter = np.minimum(sizes[:, None, 0], centres[None, :, 0]) * np.minimum(
            sizes[:, None, 1], centres[None, :, 1]
        )
        union = (
            sizes.prod(axis=1)[:, None] + centres.prod(axis=1)[None, :] - inter
        )
        return inter / union

    # Greedy k-means++ seeding with the 1 - IoU distance: uniformly drawn
    # initial centres often fall in one cluster, and Lloyd's steps never
    # split them.
    def potential(centres):
        return np.square(1.0 - shape_iou(centres).max(axis=1))

    trials = 2 + int(np.log(k))
    centres = sizes[[rng.integers(len(sizes))]]
    while len(centres) < k:
        weights = potential(centres)
        if weights.sum() > 0:
            picks = rng.choice(len(sizes), trials, p=weights / weights.sum())
        else:  # fewer distinct shapes than k
            picks = rng.integers(len(sizes), size=trials)
        candidates = [np.concatenate([centres, sizes[[i]]]) for i in picks]
        centres = min(candidates, key=lambda c: potential(c).sum())
    assign = np.full(len(sizes), -1)
    for _ in range(iterations):
        new_assign = np.argmax(shape_iou(centres), axis=1)
        if np.array_equal(new_assign, assign):
            break
        assign = new_assign
        for j in range(k):
            members = sizes[assign == j]
            if len(members):
                centres[j] = np.median(members, axis=0)
    order = np.argsort(centres.prod(axis=1))
    return centres[order].astype(np.float32)
