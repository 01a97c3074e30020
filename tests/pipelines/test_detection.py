"""Tests of pipelines/detection.py."""

import numpy as np
import pytest
import tensorflow as tf

from layers.boxes.yolo_codec import decode_yolo_targets
from pipelines.detection import box_sizes
from pipelines.detection import box_targets
from pipelines.detection import build_detection_dataset
from pipelines.synthetic.shapes import make_shapes_arrays

GRID = 8
ANCHORS = [[0.15, 0.15], [0.3, 0.3]]
P = 3


@pytest.fixture(scope="module")
def source():
    return make_shapes_arrays(5, 32, seed=0, max_boxes=4, max_objects=3)


def slots(boxes, classes):
    """(row, col, anchor) of each valid box, as the codec assigns them."""
    out = []
    for box, cls in zip(boxes, classes):
        if cls < 0:
            continue
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        h, w = box[3] - box[1], box[2] - box[0]
        inter = [min(h, ah) * min(w, aw) for ah, aw in ANCHORS]
        ious = [
            i / (h * w + ah * aw - i) for i, (ah, aw) in zip(inter, ANCHORS)
        ]
        row = min(int(cy * GRID), GRID - 1)
        col = min(int(cx * GRID), GRID - 1)
        out.append((row, col, int(np.argmax(ious))))
    return out


def build(source, training, batch_size=2, **kwargs):
    return build_detection_dataset(
        source,
        batch_size=batch_size,
        grid_size=GRID,
        anchors=ANCHORS,
        num_classes=P,
        training=training,
        **kwargs,
    )


def collect(ds):
    images, targets = zip(*ds.as_numpy_iterator())
    return np.concatenate(images), np.concatenate(targets)


def test_evaluation_keeps_images_and_boxes(source):
    for boxes, classes in zip(source["boxes"], source["classes"]):
        s = slots(boxes, classes)
        assert len(s) == len(set(s)), "test data: two boxes share a slot"
    ds = build(source, training=False, augment_strength=0.0)
    batches = list(ds.as_numpy_iterator())
    # Every sample, in order; the last batch is partial.
    assert [b[0].shape[0] for b in batches] == [2, 2, 1]
    images, targets = collect(ds)
    assert images.dtype == np.float32
    assert images.shape == (5, 32, 32, 3)
    assert targets.shape == (5, GRID, GRID, 2 * (5 + P))
    np.testing.assert_allclose(images, source["images"], atol=1e-3)
    boxes, classes, valid = decode_yolo_targets(
        targets, num_anchors=2, num_classes=P
    )
    for i in range(5):
        mask = valid[i].numpy()
        keep = source["classes"][i] >= 0
        want_boxes = source["boxes"][i][keep]
        want_classes = source["classes"][i][keep]
        assert mask.sum() == keep.sum()
        got_boxes = boxes[i].numpy()[mask]
        got_classes = classes[i].numpy()[mask]
        order_got = np.lexsort(got_boxes.T[::-1])
        order_want = np.lexsort(want_boxes.T[::-1])
        np.testing.assert_allclose(
            got_boxes[order_got], want_boxes[order_want], atol=1e-5
        )
        np.testing.assert_array_equal(
            got_classes[order_got], want_classes[order_want]
        )


def test_evaluation_with_strength_ignores_augmentation(source):
    # Augmentation is for training only.
    a = collect(build(source, training=False, augment_strength=1.0))
    b = collect(build(source, training=False, augment_strength=0.0))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_training_batches(source):
    ds = build(source, training=True, seed=3)
    batches = list(ds.as_numpy_iterator())
    # 5 samples, batches of 2: the partial batch is dropped.
    assert len(batches) == 2
    for images, targets in batches:
        assert images.shape == (2, 32, 32, 3)
        assert images.dtype == np.float32
        assert targets.shape == (2, GRID, GRID, 2 * (5 + P))
        assert images.min() >= 0.0 and images.max() <= 255.0 + 1e-3
        pc = targets[..., 0 :: 5 + P]
        assert set(np.unique(pc)) <= {0.0, 1.0}
        assert pc.sum() >= 1


def test_training_rerandomized_each_epoch_but_seeded(source):
    ds = build(source, training=True, seed=3)
    epoch1 = collect(ds)
    epoch2 = collect(ds)
    assert not np.array_equal(epoch1[0], epoch2[0])
    fresh = collect(build(source, training=True, seed=3))
    np.testing.assert_array_equal(fresh[0], epoch1[0])
    np.testing.assert_array_equal(fresh[1], epoch1[1])
    other = collect(build(source, training=True, seed=4))
    assert not np.array_equal(other[0], epoch1[0])


def test_augmentation_redrawn_each_epoch(source):
    # One sample: shuffling cannot change anything, augmentation must.
    single = {k: v[:1] for k, v in source.items()}
    ds = build(single, training=True, batch_size=1, seed=5)
    epochs = [collect(ds)[0] for _ in range(3)]
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[1], epochs[2])
    again = collect(build(single, training=True, batch_size=1, seed=5))[0]
    np.testing.assert_array_equal(again, epochs[0])


def test_training_without_augmentation_only_shuffles(source):
    images, targets = collect(
        build(source, training=True, batch_size=1, augment_strength=0.0)
    )
    assert images.shape == (5, 32, 32, 3)
    # Each output is one of the source images, each used once.
    matches = [
        int(np.argmin(np.abs(source["images"] - im).sum(axis=(1, 2, 3))))
        for im in images
    ]
    assert sorted(matches) == [0, 1, 2, 3, 4]
    for im, i in zip(images, matches):
        np.testing.assert_allclose(im, source["images"][i], atol=1e-3)
    eval_targets = collect(build(source, training=False))[1]
    np.testing.assert_array_equal(targets, eval_targets[matches])


def test_box_sizes():
    source = {
        "boxes": np.array(
            [
                [[0.1, 0.2, 0.4, 0.3], [0.0, 0.0, 0.0, 0.0]],
                [[0.5, 0.5, 0.6, 0.9], [0.0, 0.1, 1.0, 0.2]],
            ],
            np.float32,
        ),
        "classes": np.array([[2, -1], [0, 1]], np.int32),
    }
    sizes = box_sizes(source)
    assert sizes.shape == (3, 2)
    # (height, width) of the valid boxes.
    np.testing.assert_allclose(
        sizes, [[0.1, 0.3], [0.4, 0.1], [0.1, 1.0]], atol=1e-6
    )


def test_box_sizes_of_shapes_data(source):
    sizes = box_sizes(source)
    assert len(sizes) == (source["classes"] >= 0).sum()
    assert np.all(sizes > 0.0) and np.all(sizes <= 1.0)


def test_mosaic_and_scale_jitter_keep_shapes_and_epoch_length():
    source = make_shapes_arrays(12, 32, seed=4, max_boxes=8)
    ds = build_detection_dataset(
        source,
        batch_size=4,
        training=True,
        encode=box_targets,
        mosaic=1.0,
        scale_jitter=1.0,
        seed=3,
    )
    batches = list(ds)
    assert len(batches) == 3  # 12 samples, as without mosaic
    images, targets = batches[0]
    assert images.shape == (4, 32, 32, 3)
    assert targets.shape == (4, 8, 5)
    valid = targets[..., 0] >= 0
    boxes = tf.boolean_mask(targets[..., 1:], valid).numpy()
    assert len(boxes) and (boxes >= 0).all() and (boxes <= 1).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (
        boxes[:, 3] > boxes[:, 1]
    ).all()
