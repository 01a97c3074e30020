"""Tests of layers/boxes/nms.py against a plain numpy reference."""

import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.boxes import DetectionNMS
from layers.boxes import non_max_suppression
from tests.helpers import check_layer


def numpy_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    if area_a <= 0 or area_b <= 0:
        return 0.0
    return inter / (area_a + area_b - inter)


def reference_nms(boxes, scores, score_threshold, iou_threshold, max_det):
    """The cheatsheet's NMS, literally, for one image; returns indices.

    Per class: discard boxes with p < score_threshold; while boxes remain,
    output the most probable one and discard those with IoU >= threshold
    with it. Then all classes' boxes by descending score, first max_det.
    Comparisons are made on float32 values, as the op sees them.
    """
    scores = scores.astype(np.float32)
    classes = scores.argmax(-1)
    best = scores.max(-1)
    kept = []
    for c in np.unique(classes):
        left = [
            i
            for i in np.flatnonzero(classes == c)
            if best[i] >= np.float32(score_threshold)
        ]
        while left:
            top = max(left, key=lambda i: (best[i], -i))
            kept.append(top)
            left = [
                i
                for i in left
                if i != top
                and numpy_iou(boxes[i], boxes[top]) < np.float32(iou_threshold)
            ]
    kept.sort(key=lambda i: (-best[i], i))
    return np.array(kept[:max_det], dtype=int), classes, best


def random_problem(seed, batch, n, num_classes, scale=1.0, shift=0.0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 0.7, size=(batch, n, 2))
    wh = rng.uniform(0.05, 0.4, size=(batch, n, 2))
    boxes = np.concatenate([xy, xy + wh], -1) * scale + shift
    scores = rng.uniform(0, 1, size=(batch, n, num_classes))
    return boxes.astype("float32"), scores.astype("float32")


def assert_matches_reference(out, boxes, scores, score_t, iou_t, max_det):
    total_suppressed = 0
    for b in range(boxes.shape[0]):
        keep, classes, best = reference_nms(
            boxes[b], scores[b], score_t, iou_t, max_det
        )
        n = len(keep)
        assert out["num_detections"][b] == n
        np.testing.assert_array_equal(out["boxes"][b, :n], boxes[b][keep])
        np.testing.assert_array_equal(out["scores"][b, :n], best[keep])
        np.testing.assert_array_equal(out["classes"][b, :n], classes[keep])
        np.testing.assert_array_equal(out["boxes"][b, n:], 0.0)
        np.testing.assert_array_equal(out["scores"][b, n:], 0.0)
        np.testing.assert_array_equal(out["classes"][b, n:], -1)
        assert np.all(np.diff(out["scores"][b, :n]) <= 0)
        total_suppressed += int((best >= np.float32(score_t)).sum()) - n
    return total_suppressed


def run_nms(boxes, scores, **kwargs):
    out = non_max_suppression(boxes, scores, **kwargs)
    return {k: v.numpy() for k, v in out.items()}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_reference_normalized(seed):
    boxes, scores = random_problem(seed, batch=3, n=40, num_classes=3)
    kwargs = dict(score_threshold=0.6, iou_threshold=0.5, max_detections=50)
    out = run_nms(boxes, scores, **kwargs)
    suppressed = assert_matches_reference(out, boxes, scores, 0.6, 0.5, 50)
    assert suppressed > 0  # overlap-based suppression did happen


@pytest.mark.parametrize(
    "score_t,iou_t,max_det,scale,shift",
    [
        (0.3, 0.3, 100, 640.0, 0.0),  # pixels, many classes
        (0.5, 0.7, 8, 1.0, -0.5),  # negative coordinates, truncation
        (0.0, 1.0, 100, 320.0, -100.0),  # only identical boxes suppress
        (0.3, 0.5, 100, 320.0, -300.0),  # mostly negative pixels
        (0.9, 0.1, 100, 1.0, 0.0),
    ],
)
def test_matches_reference_configurable(score_t, iou_t, max_det, scale, shift):
    boxes, scores = random_problem(
        7, batch=2, n=60, num_classes=10, scale=scale, shift=shift
    )
    out = run_nms(
        boxes,
        scores,
        score_threshold=score_t,
        iou_threshold=iou_t,
        max_detections=max_det,
    )
    assert out["boxes"].shape == (2, max_det, 4)
    assert out["scores"].shape == (2, max_det)
    assert out["classes"].shape == (2, max_det)
    assert out["classes"].dtype == np.int32
    assert out["num_detections"].dtype == np.int32
    assert_matches_reference(out, boxes, scores, score_t, iou_t, max_det)


@pytest.mark.parametrize("cls", [0, 1, 3])
def test_iou_equal_to_threshold_is_suppressed(cls):
    # IoU([0,0,2,2], [0,0,2,1]) = 2 / 4 = 0.5 exactly. With 4 classes the
    # class grid is 2 x 2: class 1 is moved in x, class 3 in x and y.
    boxes = np.array([[[0, 0, 2, 2], [0, 0, 2, 1]]], "float32")
    scores = np.zeros((1, 2, 4), "float32")
    scores[0, :, cls] = [0.9, 0.8]
    at = run_nms(boxes, scores, iou_threshold=0.5)
    assert at["num_detections"][0] == 1
    np.testing.assert_array_equal(at["boxes"][0, 0], [0, 0, 2, 2])
    assert at["classes"][0, 0] == cls
    above = run_nms(boxes, scores, iou_threshold=0.51)
    assert above["num_detections"][0] == 2


def test_score_equal_to_threshold_is_kept():
    boxes = np.array([[[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5]]], "float32")
    scores = np.array([[[0.6], [0.59999], [0.7]]], "float32")
    out = run_nms(boxes, scores, score_threshold=0.6)
    assert out["num_detections"][0] == 2
    np.testing.assert_allclose(out["scores"][0, :2], [0.7, 0.6])


def test_classes_do_not_suppress_each_other():
    boxes = np.array([[[0, 0, 1, 1]] * 3], "float32")
    scores = np.array([[[0.9, 0.0], [0.0, 0.8], [0.7, 0.0]]], "float32")
    out = run_nms(boxes, scores)
    assert out["num_detections"][0] == 2
    np.testing.assert_array_equal(out["classes"][0, :2], [0, 1])


def test_no_boxes_and_nothing_above_threshold():
    empty = run_nms(
        np.zeros((2, 0, 4), "float32"),
        np.zeros((2, 0, 3), "float32"),
        max_detections=4,
    )
    np.testing.assert_array_equal(empty["num_detections"], [0, 0])
    np.testing.assert_array_equal(empty["classes"], -np.ones((2, 4)))
    low = run_nms(
        np.ones((1, 5, 4), "float32"),
        np.full((1, 5, 2), 0.1, "float32"),
        max_detections=4,
    )
    assert low["num_detections"][0] == 0
    np.testing.assert_array_equal(low["boxes"], 0.0)


def test_keeps_input_dtypes():
    boxes, scores = random_problem(0, batch=1, n=10, num_classes=2)
    out = non_max_suppression(boxes.astype("float64"), scores)
    assert out["boxes"].dtype == tf.float64
    assert out["scores"].dtype == tf.float32


def test_tf_function_unknown_batch_and_saved_model():
    module = tf.Module()
    module.nms = tf.function(
        lambda b, s: non_max_suppression(b, s, max_detections=7),
        input_signature=[
            tf.TensorSpec([None, None, 4], tf.float32),
            tf.TensorSpec([None, None, 3], tf.float32),
        ],
    )
    concrete = module.nms.get_concrete_function()
    assert concrete.structured_outputs["boxes"].shape.as_list() == [
        None,
        7,
        4,
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "nms")
        tf.saved_model.save(module, path)
        loaded = tf.saved_model.load(path)
        for batch, n in [(1, 5), (3, 20)]:
            boxes, scores = random_problem(batch, batch, n, 3)
            out = {k: v.numpy() for k, v in loaded.nms(boxes, scores).items()}
            assert_matches_reference(out, boxes, scores, 0.6, 0.5, 7)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            dict(score_threshold=1.5),
            "Expected score_threshold in [0, 1]. Received: score_threshold=1.5",
        ),
        (dict(iou_threshold=0.0), "Received: iou_threshold=0.0"),
        (dict(iou_threshold=1.2), "Received: iou_threshold=1.2"),
        (dict(max_detections=0), "Received: max_detections=0"),
        (dict(max_detections=2.5), "Received: max_detections=2.5"),
    ],
)
def test_validation(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        DetectionNMS(**kwargs)
    boxes, scores = random_problem(0, 1, 3, 2)
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        non_max_suppression(boxes, scores, **kwargs)


def test_layer_rejects_bad_shapes():
    with pytest.raises(ValueError, match="Expected boxes of shape"):
        DetectionNMS()(np.zeros((1, 3, 5)), np.zeros((1, 3, 2)))


def test_layer_config():
    layer = DetectionNMS(0.25, 0.45, 30, name="nms")
    config = layer.get_config()
    assert config["score_threshold"] == 0.25
    assert config["iou_threshold"] == 0.45
    assert config["max_detections"] == 30
    clone = DetectionNMS.from_config(config)
    assert (clone.score_threshold, clone.iou_threshold) == (0.25, 0.45)
    assert clone.max_detections == 30
    boxes = keras.Input((None, 4))
    out = layer(boxes, keras.Input((None, 3)))
    assert out["classes"].dtype == "int32"
    assert out["num_detections"].dtype == "int32"
    assert out["scores"].shape == (None, 30)


def test_check_layer_detection_nms():
    boxes, scores = random_problem(11, batch=3, n=12, num_classes=3)
    layer = check_layer(
        DetectionNMS,
        dict(score_threshold=0.3, iou_threshold=0.4, max_detections=6),
        [(3, 12, 4), (3, 12, 3)],
        expected_output_shape={
            "boxes": (3, 6, 4),
            "scores": (3, 6),
            "classes": (3, 6),
            "num_detections": (3,),
        },
        fit=False,
        input_data=[boxes, scores],
    )
    out = {k: v.numpy() for k, v in layer(boxes, scores).items()}
    assert_matches_reference(out, boxes, scores, 0.3, 0.4, 6)
