"""Tests of layers/boxes/yolo_codec.py."""

import numpy as np
import pytest
import tensorflow as tf

from layers.boxes.yolo_codec import decode_yolo_predictions
from layers.boxes.yolo_codec import decode_yolo_targets
from layers.boxes.yolo_codec import encode_yolo_targets
from layers.boxes.yolo_codec import kmeans_anchors
from pipelines.synthetic.shapes import make_shapes_arrays


def numpy_shape_iou(hw, anchors):
    """Shape IoU of one (h, w) box with each anchor, both centred."""
    h, w = hw
    out = []
    for ah, aw in anchors:
        inter = min(h, ah) * min(w, aw)
        out.append(inter / (h * w + ah * aw - inter))
    return np.array(out)


def random_image_boxes(rng, grid_size, num_boxes, num_classes):
    """`num_boxes` boxes whose centres lie in distinct cells."""
    cells = rng.choice(grid_size * grid_size, num_boxes, replace=False)
    rows, cols = np.divmod(cells, grid_size)
    cx = (cols + rng.uniform(0.05, 0.95, num_boxes)) / grid_size
    cy = (rows + rng.uniform(0.05, 0.95, num_boxes)) / grid_size
    # Sizes that keep the box inside the image (encode clips to it).
    w = rng.uniform(0.05, 0.3, num_boxes) * np.minimum(cx, 1 - cx) * 2
    h = rng.uniform(0.05, 0.3, num_boxes) * np.minimum(cy, 1 - cy) * 2
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)
    classes = rng.integers(0, num_classes, num_boxes)
    return boxes.astype(np.float32), classes.astype(np.int32)


def sort_rows(boxes, classes):
    order = np.lexsort(boxes.T[::-1])
    return boxes[order], classes[order]


# ----------------------------------------------------------------- encode


def test_cheatsheet_layout_hand_computed():
    # G=4; centre (x, y) = (0.2, 0.45): col floor(0.8) = 0, row floor(1.8)
    # = 1, bx = 0.8, by = 0.8; h = 0.3, w = 0.2 equals anchor 1 exactly.
    anchors = [[0.1, 0.1], [0.3, 0.2]]
    y = encode_yolo_targets(
        [[0.1, 0.3, 0.3, 0.6]],
        [2],
        grid_size=4,
        anchors=anchors,
        num_classes=3,
    ).numpy()
    assert y.shape == (4, 4, 2 * 8)
    expected = np.zeros((4, 4, 16), np.float32)
    # Anchor 1's slot starts at channel 8: [pc, bx, by, bh, bw, c1, c2, c3].
    expected[1, 0, 8:16] = [1.0, 0.8, 0.8, 0.3, 0.2, 0.0, 0.0, 1.0]
    np.testing.assert_allclose(y, expected, atol=1e-6)


def test_anchor_zero_offsets():
    # Same box, but now the first anchor fits best: channels 0..7.
    y = encode_yolo_targets(
        [[0.1, 0.3, 0.3, 0.6]],
        [0],
        grid_size=4,
        anchors=[[0.3, 0.2], [0.1, 0.1]],
        num_classes=3,
    ).numpy()
    np.testing.assert_allclose(
        y[1, 0, :8], [1.0, 0.8, 0.8, 0.3, 0.2, 1.0, 0.0, 0.0], atol=1e-6
    )
    assert np.count_nonzero(y) == 6  # pc, bx, by, bh, bw, c1


@pytest.mark.parametrize(
    "hw,anchors,expected",
    [
        # Tall box: tall anchor (IoU 1) over square (0.4) and wide (0.2).
        ((0.3, 0.1), [[0.1, 0.3], [0.2, 0.2], [0.3, 0.1]], 2),
        # 0.25 square: the far bigger anchor has the higher IoU (0.25 vs
        # 0.16) though the small one is closer in side length.
        ((0.25, 0.25), [[0.1, 0.1], [0.5, 0.5]], 1),
        # Wide box.
        ((0.1, 0.4), [[0.4, 0.1], [0.1, 0.35], [0.2, 0.2]], 1),
    ],
)
def test_anchor_assignment_best_shape_iou(hw, anchors, expected):
    assert int(np.argmax(numpy_shape_iou(hw, anchors))) == expected
    h, w = hw
    box = [0.5 - w / 2, 0.5 - h / 2, 0.5 + w / 2, 0.5 + h / 2]
    p = 2
    y = encode_yolo_targets(
        [box], [1], grid_size=2, anchors=anchors, num_classes=p
    ).numpy()
    pc = y[..., 0 :: 5 + p]  # (G, G, k)
    assert pc.sum() == 1.0
    assert np.argwhere(pc == 1.0)[0].tolist() == [1, 1, expected]


def test_padded_boxes_produce_nothing():
    y = encode_yolo_targets(
        [[0.1, 0.1, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]],
        [-1, -1],
        grid_size=3,
        anchors=[[0.2, 0.2]],
        num_classes=2,
    ).numpy()
    assert y.shape == (3, 3, 7)
    assert np.count_nonzero(y) == 0

    # A padded row with real coordinates next to a valid one.
    y = encode_yolo_targets(
        [[0.6, 0.6, 0.9, 0.9], [0.1, 0.1, 0.3, 0.3]],
        [1, -1],
        grid_size=3,
        anchors=[[0.2, 0.2]],
        num_classes=2,
    ).numpy()
    assert y[..., 0].sum() == 1.0
    assert y[2, 2, 0] == 1.0
    assert np.count_nonzero(y[0, 0]) == 0


def test_shared_slot_keeps_the_first_box():
    # Both centres in cell (0, 0), both best matched by the only anchor.
    boxes = [
        [0.0, 0.0, 0.2, 0.3],
        [0.1, 0.05, 0.3, 0.25],
        [0.6, 0.6, 0.8, 0.8],
    ]
    for order in ([0, 1, 2], [1, 0, 2], [2, 1, 0]):
        y = encode_yolo_targets(
            [boxes[i] for i in order],
            [[0, 1, 2][i] for i in order],
            grid_size=2,
            anchors=[[0.2, 0.2]],
            num_classes=3,
        ).numpy()
        assert y[..., 0].sum() == 2.0
        first = boxes[0] if order.index(0) < order.index(1) else boxes[1]
        cls = 0 if first is boxes[0] else 1
        cx, cy = (first[0] + first[2]) / 2, (first[1] + first[3]) / 2
        h, w = first[3] - first[1], first[2] - first[0]
        one_hot = np.eye(3)[cls]
        np.testing.assert_allclose(
            y[0, 0], [1.0, 2 * cx, 2 * cy, h, w, *one_hot], atol=1e-6
        )
        np.testing.assert_allclose(
            y[1, 1], [1.0, 0.4, 0.4, 0.2, 0.2, 0.0, 0.0, 1.0], atol=1e-6
        )


# ----------------------------------------------------------------- decode


def test_round_trip_random_boxes():
    rng = np.random.default_rng(0)
    grid, p = 5, 3
    anchors = [[0.08, 0.08], [0.25, 0.12], [0.12, 0.25]]
    counts = [1, 4, 7]
    max_boxes = 8
    padded_boxes = np.zeros((3, max_boxes, 4), np.float32)
    padded_classes = np.full((3, max_boxes), -1, np.int32)
    truths = []
    for i, n in enumerate(counts):
        boxes, classes = random_image_boxes(rng, grid, n, p)
        padded_boxes[i, :n] = boxes
        padded_classes[i, :n] = classes
        truths.append((boxes, classes))
    y = tf.stack(
        [
            encode_yolo_targets(
                b, c, grid_size=grid, anchors=anchors, num_classes=p
            )
            for b, c in zip(padded_boxes, padded_classes)
        ]
    )
    assert y.shape == (3, grid, grid, 3 * (5 + p))
    boxes, classes, valid = decode_yolo_targets(y, num_anchors=3, num_classes=p)
    assert boxes.shape == (3, grid * grid * 3, 4)
    assert classes.shape == (3, grid * grid * 3)
    assert valid.dtype == tf.bool
    for i, (true_boxes, true_classes) in enumerate(truths):
        mask = valid[i].numpy()
        assert mask.sum() == counts[i]
        got = sort_rows(boxes[i].numpy()[mask], classes[i].numpy()[mask])
        want = sort_rows(true_boxes, true_classes)
        np.testing.assert_allclose(got[0], want[0], atol=1e-5)
        np.testing.assert_array_equal(got[1], want[1])


def test_round_trip_same_cell_different_anchors():
    # Two boxes centred in the same cell, of different shapes.
    anchors = [[0.1, 0.4], [0.4, 0.1]]
    boxes = np.array(
        [[0.3, 0.45, 0.7, 0.55], [0.45, 0.3, 0.55, 0.7]], np.float32
    )
    y = encode_yolo_targets(
        boxes, [0, 1], grid_size=2, anchors=anchors, num_classes=2
    )
    assert float(tf.reduce_sum(y[..., 0::7])) == 2.0
    out_boxes, out_classes, valid = decode_yolo_targets(
        y[None], num_anchors=2, num_classes=2
    )
    mask = valid[0].numpy()
    # Cell (1, 1) (centre 0.5 -> floor(1.0) = 1), anchors 0 and 1.
    assert np.flatnonzero(mask).tolist() == [6, 7]
    np.testing.assert_allclose(out_boxes[0].numpy()[mask], boxes, atol=1e-6)
    assert out_classes[0].numpy()[mask].tolist() == [0, 1]


def test_decode_ignores_slots_without_object():
    rng = np.random.default_rng(3)
    y = rng.uniform(0.0, 1.0, size=(1, 2, 2, 2 * 7)).astype(np.float32)
    y[..., 0::7] = 0.0  # no pc anywhere: the rest is noise
    y[0, 1, 0, 7:14] = [1.0, 0.5, 0.5, 0.2, 0.4, 0.0, 1.0]
    boxes, classes, valid = decode_yolo_targets(y, num_anchors=2, num_classes=2)
    assert np.flatnonzero(valid[0].numpy()).tolist() == [2 * 2 + 1]
    # Cell row 1 col 0: centre (0.25, 0.75), h 0.2, w 0.4.
    np.testing.assert_allclose(
        boxes[0, 5].numpy(), [0.05, 0.65, 0.45, 0.85], atol=1e-6
    )
    assert int(classes[0, 5]) == 1


def test_decode_predictions_raw_zeros():
    # sigmoid(0) = 0.5: centre of the cell; exp(0) = 1: the anchor's size;
    # score = sigmoid(0) * softmax(0)_c = 0.5 / p.
    grid, p = 2, 4
    anchors = [[0.2, 0.4], [0.3, 0.1]]
    raw = tf.zeros((1, grid, grid, 2 * (5 + p)))
    boxes, scores = decode_yolo_predictions(raw, anchors=anchors, num_classes=p)
    assert boxes.shape == (1, grid * grid * 2, 4)
    assert scores.shape == (1, grid * grid * 2, p)
    np.testing.assert_allclose(scores.numpy(), 0.5 / p, atol=1e-7)
    expected = []
    for row in range(grid):
        for col in range(grid):
            cx, cy = (col + 0.5) / grid, (row + 0.5) / grid
            for h, w in anchors:
                x0, y0 = cx - w / 2, cy - h / 2
                expected.append([x0, y0, x0 + w, y0 + h])
    np.testing.assert_allclose(boxes[0].numpy(), expected, atol=1e-6)


def test_decode_predictions_hand_computed_logits():
    # G=2, k=1, p=2; one slot in cell row 0, col 1.
    raw = np.zeros((1, 2, 2, 7), np.float32)
    raw[0, 0, 1] = [
        np.log(3.0),
        np.log(3.0),
        -np.log(3.0),
        np.log(2.0),
        0.0,
        np.log(3.0),
        0.0,
    ]
    boxes, scores = decode_yolo_predictions(
        raw, anchors=[[0.2, 0.3]], num_classes=2
    )
    # pc = sigmoid(log 3) = 0.75; bx = 0.75, by = 0.25;
    # cx = (1 + 0.75) / 2 = 0.875, cy = (0 + 0.25) / 2 = 0.125;
    # h = 0.2 * 2 = 0.4, w = 0.3; classes softmax([log 3, 0]) = [.75, .25].
    np.testing.assert_allclose(
        boxes[0, 1].numpy(),
        [0.725, 0.0, 1.0, 0.325],  # y_min -0.075 and x_max 1.025 clipped
        atol=1e-6,
    )
    np.testing.assert_allclose(
        scores[0, 1].numpy(), [0.75 * 0.75, 0.75 * 0.25], atol=1e-6
    )


def test_encode_in_tf_data_matches_eager():
    data = make_shapes_arrays(4, 32, seed=0, max_boxes=6, max_objects=4)
    kwargs = dict(grid_size=4, anchors=[[0.2, 0.2], [0.35, 0.3]])
    ds = tf.data.Dataset.from_tensor_slices(
        (data["boxes"], data["classes"])
    ).map(lambda b, c: encode_yolo_targets(b, c, num_classes=3, **kwargs))
    got = np.stack(list(ds.as_numpy_iterator()))
    eager = np.stack(
        [
            encode_yolo_targets(b, c, num_classes=3, **kwargs).numpy()
            for b, c in zip(data["boxes"], data["classes"])
        ]
    )
    assert got.shape == (4, 4, 4, 16)
    np.testing.assert_array_equal(got, eager)
    valid = (data["classes"] >= 0).sum()
    # Every valid box got a slot (or shared one with another box).
    assert 0 < got[..., 0::8].sum() <= valid


def test_decode_in_tf_function():
    anchors = [[0.2, 0.2]]

    @tf.function(
        input_signature=[tf.TensorSpec((None, None, None, 7), tf.float32)]
    )
    def both(y):
        return decode_yolo_targets(
            y, num_anchors=1, num_classes=2
        ), decode_yolo_predictions(y, anchors=anchors, num_classes=2)

    y = encode_yolo_targets(
        [[0.1, 0.2, 0.3, 0.6]],
        [1],
        grid_size=3,
        anchors=anchors,
        num_classes=2,
    )[None]
    (boxes, classes, valid), (pboxes, pscores) = both(y)
    eager = decode_yolo_predictions(y, anchors=anchors, num_classes=2)
    assert np.flatnonzero(valid[0].numpy()).tolist() == [3]
    np.testing.assert_allclose(
        boxes[0, 3].numpy(), [0.1, 0.2, 0.3, 0.6], atol=1e-6
    )
    assert int(classes[0, 3]) == 1
    np.testing.assert_allclose(pboxes.numpy(), eager[0].numpy(), atol=1e-7)
    np.testing.assert_allclose(pscores.numpy(), eager[1].numpy(), atol=1e-7)


def test_bad_anchors_raise():
    with pytest.raises(ValueError, match="anchors"):
        encode_yolo_targets(
            [[0.1, 0.1, 0.2, 0.2]],
            [0],
            grid_size=2,
            anchors=[0.2, 0.2],
            num_classes=1,
        )


# ------------------------------------------------------------ k-means


def three_clusters(rng, n_each=40):
    centres = np.array([[0.05, 0.06], [0.3, 0.12], [0.55, 0.6]])
    sizes = np.concatenate(
        [c * rng.uniform(0.93, 1.07, size=(n_each, 2)) for c in centres]
    )
    return centres, rng.permutation(sizes)


def test_kmeans_recovers_three_clusters_sorted_by_area():
    centres, sizes = three_clusters(np.random.default_rng(0))
    anchors = kmeans_anchors(sizes, 3, seed=0)
    assert anchors.shape == (3, 2)
    assert anchors.dtype == np.float32
    areas = anchors.prod(axis=1)
    assert np.all(np.diff(areas) > 0)
    np.testing.assert_allclose(anchors, centres, rtol=0.05)


def test_kmeans_any_seed_finds_the_clusters():
    # Uniformly drawn initial centres land in one cluster for about a third
    # of the seeds; k-means++ seeding must not.
    for seed in range(20):
        centres, sizes = three_clusters(np.random.default_rng(100 + seed))
        np.testing.assert_allclose(
            kmeans_anchors(sizes, 3, seed=seed),
            centres,
            rtol=0.05,
            err_msg=f"seed {seed}",
        )


def test_kmeans_deterministic_for_a_seed():
    rng = np.random.default_rng(1)
    sizes = rng.uniform(0.02, 0.6, size=(60, 2))
    a = kmeans_anchors(sizes, 4, seed=7)
    b = kmeans_anchors(sizes, 4, seed=7)
    np.testing.assert_array_equal(a, b)
    # The input is not modified.
    fresh = np.random.default_rng(1).uniform(0.02, 0.6, size=(60, 2))
    np.testing.assert_array_equal(sizes, fresh)


def test_kmeans_fewer_boxes_than_k_raises():
    with pytest.raises(ValueError, match="at least k=3"):
        kmeans_anchors(np.array([[0.1, 0.1], [0.2, 0.2]]), 3, seed=0)
