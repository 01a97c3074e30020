"""Tests of layers/heads/anchor_free.py: anchor points, head, DFL decode."""

import math
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.boxes.nms import DetectionNMS
from layers.heads.anchor_free import DFLDecode
from layers.heads.anchor_free import anchor_free_head
from layers.heads.anchor_free import dfl_distances
from layers.heads.anchor_free import make_anchor_points
from tests.helpers import check_layer

P, R = 3, 4
A32 = 16 + 4 + 1  # 32 px at strides 8, 16, 32


def numpy_decode(raw, image_hw, strides, reg_max, p):
    """Boxes and scores by loops over levels, cells and sides."""
    h, w = image_hw
    boxes, scores = [], []
    a = 0
    for s in strides:
        for row in range(math.ceil(h / s)):
            for col in range(math.ceil(w / s)):
                cx, cy = (col + 0.5) * s, (row + 0.5) * s
                d = []
                for side in range(4):
                    z = raw[:, a, side * reg_max : (side + 1) * reg_max]
                    e = np.exp(z - z.max(-1, keepdims=True))
                    e /= e.sum(-1, keepdims=True)
                    d.append((e * np.arange(reg_max)).sum(-1) * s)
                boxes.append(
                    np.stack(
                        [
                            (cx - d[0]) / w,
                            (cy - d[1]) / h,
                            (cx + d[2]) / w,
                            (cy + d[3]) / h,
                        ],
                        -1,
                    )
                )
                scores.append(1 / (1 + np.exp(-raw[:, a, 4 * reg_max :])))
                a += 1
    return np.stack(boxes, 1), np.stack(scores, 1)


def test_make_anchor_points_cell_centres():
    points, strides = make_anchor_points(16, strides=(8, 16))
    assert points.dtype == np.float32 and strides.dtype == np.float32
    np.testing.assert_array_equal(
        points, [[4, 4], [12, 4], [4, 12], [12, 12], [8, 8]]
    )
    np.testing.assert_array_equal(strides[:, 0], [8, 8, 8, 8, 16])


def test_make_anchor_points_rectangular_and_default_strides():
    points, strides = make_anchor_points((32, 64))
    assert points.shape == (4 * 8 + 2 * 4 + 1 * 2, 2)
    assert strides.shape == (42, 1)
    # Row-major within a level: x varies fastest.
    np.testing.assert_array_equal(points[:3], [[4, 4], [12, 4], [20, 4]])
    np.testing.assert_array_equal(points[8], [4, 12])
    np.testing.assert_array_equal(points[-2:], [[16, 16], [48, 16]])
    assert make_anchor_points(640)[0].shape == (8400, 2)


@pytest.mark.parametrize(
    "image_size,strides", [(0, (8,)), ("x", (8,)), (32, ()), (32, (0, 8))]
)
def test_make_anchor_points_invalid(image_size, strides):
    with pytest.raises(ValueError, match="Received"):
        make_anchor_points(image_size, strides)


def test_dfl_decode_check_layer_and_numpy_reference():
    raw = np.random.default_rng(0).normal(size=(2, A32, 4 * R + P))
    raw = raw.astype("float32")
    layer = check_layer(
        DFLDecode,
        {"num_classes": P, "image_size": 32, "reg_max": R},
        (2, A32, 4 * R + P),
        expected_output_shape=((2, A32, 4), (2, A32, P)),
        input_data=raw,
        fit=False,
    )
    assert layer.weights == []
    boxes, scores = layer(raw)
    want_boxes, want_scores = numpy_decode(raw, (32, 32), (8, 16, 32), R, P)
    np.testing.assert_allclose(boxes.numpy(), want_boxes, atol=1e-6)
    np.testing.assert_allclose(scores.numpy(), want_scores, atol=1e-6)


def test_dfl_decode_rectangular_image():
    raw = np.random.default_rng(1).normal(size=(1, 4 * 8 + 2 * 4, 4 * R + 1))
    raw = raw.astype("float32")
    layer = check_layer(
        DFLDecode,
        {
            "num_classes": 1,
            "image_size": [32, 64],
            "reg_max": R,
            "strides": [8, 16],
        },
        raw.shape,
        input_data=raw,
        fit=False,
    )
    boxes, _ = layer(raw)
    want, _ = numpy_decode(raw, (32, 64), (8, 16), R, 1)
    np.testing.assert_allclose(boxes.numpy(), want, atol=1e-6)


def test_dfl_decode_peaked_and_uniform_logits():
    # A sharp peak on bin j decodes to distance j strides; uniform logits
    # to (reg_max - 1) / 2 strides.
    raw = np.zeros((1, A32, 4 * R + 1), "float32")
    raw[0, 0, [0 * R + 1, 1 * R + 0, 2 * R + 2, 3 * R + 3]] = 50.0
    boxes, scores = DFLDecode(1, 32, reg_max=R)(raw)
    # Anchor 0 at (4, 4), stride 8: l=1, t=0, r=2, b=3 strides.
    np.testing.assert_allclose(
        boxes.numpy()[0, 0] * 32, [4 - 8, 4, 4 + 16, 4 + 24], atol=1e-4
    )
    # Last anchor: stride 32 at (16, 16), distance 1.5 * 32 on every side.
    np.testing.assert_allclose(
        boxes.numpy()[0, -1] * 32, [-32, -32, 64, 64], atol=1e-4
    )
    np.testing.assert_allclose(scores.numpy(), 0.5)
    np.testing.assert_allclose(
        dfl_distances(np.zeros((2, 4 * 16), "float32"), 16).numpy(), 7.5
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_classes": 0, "image_size": 32},
        {"num_classes": 2, "image_size": 32, "reg_max": 1},
        {"num_classes": 2, "image_size": (32,)},
        {"num_classes": 2, "image_size": 32, "strides": []},
    ],
)
def test_dfl_decode_invalid_args(kwargs):
    with pytest.raises(ValueError, match="Received"):
        DFLDecode(**kwargs)


def test_dfl_decode_rejects_wrong_anchor_count():
    with pytest.raises(ValueError, match="anchor points"):
        DFLDecode(2, 64, reg_max=R)(keras.Input((A32, 4 * R + 2)))


def test_head_shapes_biases_and_decode():
    inputs = [keras.Input((s, s, c)) for s, c in ((4, 8), (2, 16), (1, 32))]
    raw = anchor_free_head(inputs, P, reg_max=R, name="h")
    assert tuple(raw.shape) == (None, A32, 4 * R + P)
    model = keras.Model(inputs, raw)
    assert all(layer.name.startswith("h_") for layer in model.layers[3:])
    # Box branch width max(16, 8 // 4, 4 * R) = 16, class max(8, P) = 8.
    assert model.get_layer("h_p3_box1_conv").kernel.shape == (3, 3, 8, 16)
    assert model.get_layer("h_p5_cls2_conv").kernel.shape == (3, 3, 8, 8)
    # Zero features: every hidden activation is silu(0) = 0 (BN at its
    # initial state), so the outputs are the biases: 1.0 for the box
    # logits, log(5 / p / cells) for the classes.
    zeros = [
        np.zeros((2, s, s, c), "float32") for s, c in ((4, 8), (2, 16), (1, 32))
    ]
    y = model(zeros, training=False).numpy()
    np.testing.assert_allclose(y[..., : 4 * R], 1.0)
    cells = np.repeat([16, 4, 1], [16, 4, 1])
    want = np.log(5 / P / cells)[None, :, None]
    np.testing.assert_allclose(
        y[..., 4 * R :], np.broadcast_to(want, (2, A32, P)), rtol=1e-6
    )
    boxes, scores = DFLDecode(P, 32, reg_max=R)(y)
    assert boxes.shape == (2, A32, 4)
    np.testing.assert_allclose(scores.numpy()[0, 0], 5 / P / 16, rtol=0.1)


def test_head_single_level_and_640_prior():
    inputs = keras.Input((80, 80, 16))
    raw = anchor_free_head([inputs], 80, name="one")
    model = keras.Model(inputs, raw)
    bias = model.get_layer("one_p3_cls_out").bias.numpy()
    # YOLOv8: log(5 / nc / (640 / s)^2) at stride 8.
    np.testing.assert_allclose(bias, math.log(5 / 80 / (640 / 8) ** 2))
    with pytest.raises(ValueError, match="Received"):
        anchor_free_head([inputs], 0)


def test_decode_then_nms_saved_model_unknown_batch():
    # The inference tail as the detect app would build it, exported with an
    # unknown batch and reloaded as plain TensorFlow.
    raw_in = keras.Input((A32, 4 * R + P))
    boxes, scores = DFLDecode(P, 32, reg_max=R, name="decode")(raw_in)
    out = DetectionNMS(score_threshold=0.3, max_detections=5, name="nms")(
        boxes, scores
    )
    model = keras.Model(raw_in, out)
    raw = np.random.default_rng(2).normal(size=(3, A32, 4 * R + P))
    raw = raw.astype("float32")
    want = model(raw)
    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        loaded = tf.saved_model.load(tmp)
        one = loaded.serve(raw[:1])
        got = loaded.serve(raw)
    for key in ("boxes", "scores", "classes", "num_detections"):
        np.testing.assert_allclose(
            got[key].numpy(), want[key].numpy(), atol=1e-6
        )
        np.testing.assert_allclose(
            one[key].numpy(), want[key].numpy()[:1], atol=1e-6
        )
    assert got["num_detections"].shape == (3,)
    assert int(got["num_detections"][0]) > 0
