"""Tests of layers/losses/yolo.py against a numpy transcription of its
docstring formula."""

import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.boxes.yolo_codec import encode_yolo_targets
from layers.losses.yolo import YoloLoss
from layers.losses.yolo import yolo_loss
from tests.helpers import check_gradients

ANCHORS = [[0.3, 0.2]]
P = 2


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_terms(y_true, y_pred, anchors, p):
    """Per-image (coord, obj BCE, noobj BCE, class CE), float64 loops."""
    y_true = np.asarray(y_true, np.float64)
    y_pred = np.asarray(y_pred, np.float64)
    b, g1, g2, _ = y_true.shape
    k = len(anchors)
    out = np.zeros((b, 4))
    for i in range(b):
        for r in range(g1):
            for c in range(g2):
                for a in range(k):
                    t = y_true[i, r, c, a * (5 + p) : (a + 1) * (5 + p)]
                    q = y_pred[i, r, c, a * (5 + p) : (a + 1) * (5 + p)]
                    pc = t[0]
                    s = sig(q[0])
                    bce = -(pc * np.log(s) + (1 - pc) * np.log(1 - s))
                    if pc == 1.0:
                        ah, aw = anchors[a]
                        coord = (
                            (sig(q[1]) - t[1]) ** 2
                            + (sig(q[2]) - t[2]) ** 2
                            + (q[3] - np.log(t[3] / ah)) ** 2
                            + (q[4] - np.log(t[4] / aw)) ** 2
                        )
                        logits = q[5:]
                        log_softmax = logits - np.log(np.exp(logits).sum())
                        ce = -(t[5:] * log_softmax).sum()
                        out[i] += [coord, bce, 0.0, ce]
                    else:
                        out[i, 2] += bce
    return out


def numpy_loss(y_true, y_pred, anchors, p, lambda_coord=5.0, lambda_noobj=0.5):
    terms = numpy_terms(y_true, y_pred, anchors, p)
    return terms @ np.array([lambda_coord, 1.0, lambda_noobj, 1.0])


def tiny_case():
    """G=2, k=1, p=2: one object in cell (0, 1), class 1; batch of 2."""
    y_true = np.zeros((2, 2, 2, 7), np.float32)
    y_true[0, 0, 1] = [1.0, 0.25, 0.75, 0.6, 0.1, 0.0, 1.0]
    y_true[1, 1, 0] = [1.0, 0.5, 0.5, 0.3, 0.2, 1.0, 0.0]
    rng = np.random.default_rng(0)
    y_pred = rng.normal(size=(2, 2, 2, 7)).astype(np.float32)
    return y_true, y_pred


def test_hand_computed_single_slot():
    # G=1, k=1, p=2, one object: every term by hand.
    y_true = np.array([[[[1.0, 0.5, 0.25, 0.6, 0.1, 0.0, 1.0]]]], np.float32)
    y_pred = np.array([[[[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]]], np.float32)
    # coord: (0.5-0.5)^2 + (0.5-0.25)^2 + log(0.6/0.3)^2 + log(0.1/0.2)^2
    coord = 0.0625 + 2 * np.log(2.0) ** 2
    # BCE(1, 0.5) = log 2; CE(one-hot, softmax(0, 0)) = log 2.
    expected = 5.0 * coord + np.log(2.0) + np.log(2.0)
    got = yolo_loss(y_true, y_pred, anchors=ANCHORS, num_classes=P)
    assert got.shape == (1,)
    np.testing.assert_allclose(got.numpy(), [expected], rtol=1e-6)


def test_matches_numpy_formula():
    y_true, y_pred = tiny_case()
    got = yolo_loss(y_true, y_pred, anchors=ANCHORS, num_classes=P).numpy()
    want = numpy_loss(y_true, y_pred, ANCHORS, P)
    assert got.shape == (2,)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_matches_numpy_formula_two_anchors():
    anchors = [[0.1, 0.1], [0.4, 0.3]]
    boxes = [[0.05, 0.05, 0.15, 0.15], [0.4, 0.3, 0.7, 0.7]]
    y_true = np.stack(
        [
            encode_yolo_targets(
                boxes, [0, 2], grid_size=2, anchors=anchors, num_classes=3
            ),
            encode_yolo_targets(
                boxes[:1], [1], grid_size=2, anchors=anchors, num_classes=3
            ),
        ]
    )
    assert y_true[..., 0::8].sum() == 3.0
    y_pred = np.random.default_rng(1).normal(size=y_true.shape)
    got = yolo_loss(
        y_true,
        y_pred.astype(np.float32),
        anchors=anchors,
        num_classes=3,
        lambda_coord=2.0,
        lambda_noobj=0.25,
    ).numpy()
    want = numpy_loss(y_true, y_pred, anchors, 3, 2.0, 0.25)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def perfect_prediction(y_true, margin=30.0):
    """Raw outputs that decode exactly to the targets; objectness and class
    logits at +-margin."""
    t = np.asarray(y_true, np.float64)
    q = np.zeros_like(t)
    obj = t[..., 0] == 1.0
    q[..., 0] = np.where(obj, margin, -margin)
    bx = np.clip(t[..., 1], 1e-6, 1 - 1e-6)
    by = np.clip(t[..., 2], 1e-6, 1 - 1e-6)
    q[..., 1] = np.log(bx / (1 - bx))
    q[..., 2] = np.log(by / (1 - by))
    with np.errstate(divide="ignore"):
        q[..., 3] = np.where(obj, np.log(t[..., 3] / ANCHORS[0][0]), 0.0)
        q[..., 4] = np.where(obj, np.log(t[..., 4] / ANCHORS[0][1]), 0.0)
    q[..., 5:] = np.where(t[..., 5:] == 1.0, margin, -margin)
    return q


def test_zero_loss_for_exact_predictions():
    y_true, _ = tiny_case()
    y_pred = perfect_prediction(y_true)
    terms = numpy_terms(y_true, y_pred, ANCHORS, P)
    np.testing.assert_allclose(terms[:, 0], 0.0, atol=1e-12)  # coordinates
    np.testing.assert_allclose(terms[:, 3], 0.0, atol=1e-12)  # classes
    got = yolo_loss(y_true, y_pred, anchors=ANCHORS, num_classes=P).numpy()
    # Only the objectness terms are left, all ~exp(-30).
    np.testing.assert_allclose(got, 0.0, atol=1e-9)
    # Coordinates exact: the coordinate weight has no effect.
    heavy = yolo_loss(
        y_true, y_pred, anchors=ANCHORS, num_classes=P, lambda_coord=1e4
    ).numpy()
    np.testing.assert_allclose(heavy, got, atol=1e-9)


def test_exact_coordinates_and_classes_leave_objectness():
    y_true, y_pred = tiny_case()
    exact = perfect_prediction(y_true)
    exact[..., 0] = y_pred[..., 0]  # objectness logits left random
    got = yolo_loss(
        y_true, exact, anchors=ANCHORS, num_classes=P, lambda_coord=7.0
    ).numpy()
    terms = numpy_terms(y_true, exact, ANCHORS, P)
    assert np.all(terms[:, 1] + terms[:, 2] > 0.1)
    np.testing.assert_allclose(
        got, terms[:, 1] + 0.5 * terms[:, 2], rtol=1e-9, atol=1e-12
    )


def test_lambda_weights_scale_their_terms():
    y_true, y_pred = tiny_case()
    y_pred = y_pred.astype(np.float64)

    def loss(lc, ln):
        return yolo_loss(
            y_true,
            y_pred,
            anchors=ANCHORS,
            num_classes=P,
            lambda_coord=lc,
            lambda_noobj=ln,
        ).numpy()

    # rtol 1e-6: the loss holds the anchors in float32.
    coord, obj, noobj, cls = numpy_terms(y_true, y_pred, ANCHORS, P).T
    assert np.all(coord > 0) and np.all(noobj > 0)
    base = loss(0.0, 0.0)
    np.testing.assert_allclose(base, obj + cls, rtol=1e-6)
    np.testing.assert_allclose(loss(1.0, 0.0) - base, coord, rtol=1e-6)
    np.testing.assert_allclose(loss(0.0, 1.0) - base, noobj, rtol=1e-6)
    np.testing.assert_allclose(
        loss(3.0, 0.2), base + 3.0 * coord + 0.2 * noobj, rtol=1e-6
    )


def test_class_equals_function():
    y_true, y_pred = tiny_case()
    loss = YoloLoss(ANCHORS, P, lambda_coord=3.0, lambda_noobj=0.1)
    per_image = yolo_loss(
        y_true,
        y_pred,
        anchors=ANCHORS,
        num_classes=P,
        lambda_coord=3.0,
        lambda_noobj=0.1,
    ).numpy()
    # Default reduction: the mean over the batch.
    np.testing.assert_allclose(
        float(loss(y_true, y_pred)), per_image.mean(), rtol=1e-6
    )
    none = YoloLoss(ANCHORS, P, 3.0, 0.1, reduction=None)
    np.testing.assert_allclose(
        none(y_true, y_pred).numpy(), per_image, rtol=1e-6
    )


def test_config_round_trip():
    y_true, y_pred = tiny_case()
    loss = YoloLoss(
        [[0.3, 0.2], [0.1, 0.5]], P, lambda_coord=2.5, lambda_noobj=0.3
    )
    config = loss.get_config()
    assert config["anchors"] == [[0.3, 0.2], [0.1, 0.5]]
    assert config["num_classes"] == P
    assert config["lambda_coord"] == 2.5
    assert config["lambda_noobj"] == 0.3
    clone = YoloLoss.from_config(config)
    assert clone.get_config() == config
    y_true2 = np.concatenate([y_true, np.zeros_like(y_true)], axis=-1)
    y_pred2 = np.concatenate([y_pred, y_pred[..., ::-1]], axis=-1)
    np.testing.assert_allclose(
        float(clone(y_true2, y_pred2)), float(loss(y_true2, y_pred2))
    )


def test_keras_serialize_deserialize():
    y_true, y_pred = tiny_case()
    loss = YoloLoss(ANCHORS, P, lambda_coord=4.0)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, YoloLoss)
    assert restored.lambda_coord == 4.0
    assert restored.anchors == ANCHORS
    np.testing.assert_allclose(
        float(restored(y_true, y_pred)), float(loss(y_true, y_pred))
    )


def test_compiled_model_keras_round_trip():
    y_true, _ = tiny_case()
    x = np.random.default_rng(2).normal(size=(2, 2, 2, 3)).astype("float32")
    inputs = keras.Input((2, 2, 3))
    outputs = keras.layers.Conv2D(7, 1, name="head")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer="sgd",
        loss=YoloLoss(ANCHORS, P, lambda_coord=2.0, lambda_noobj=0.7),
    )
    before = model.evaluate(x, y_true, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, compile=True)
    assert isinstance(loaded.loss, YoloLoss)
    assert loaded.loss.lambda_noobj == 0.7
    after = loaded.evaluate(x, y_true, verbose=0)
    pred = model.predict(x, verbose=0)
    expected = numpy_loss(y_true, pred, ANCHORS, P, 2.0, 0.7)
    np.testing.assert_allclose(before, expected.mean(), rtol=1e-5)
    np.testing.assert_allclose(after, before, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(anchors=[], num_classes=2), "anchors"),
        (dict(anchors=[[0.2]], num_classes=2), "anchors"),
        (dict(anchors=[[0.2, 0.0]], num_classes=2), "anchors"),
        (dict(anchors=[[0.2, -0.1]], num_classes=2), "anchors"),
        (dict(anchors=[[0.2, 0.2]], num_classes=0), "num_classes"),
    ],
)
def test_invalid_args_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        YoloLoss(**kwargs)


def test_gradients_wrt_predictions():
    y_true, _ = tiny_case()
    y_pred = np.random.default_rng(4).normal(scale=0.5, size=y_true.shape)
    y_true = tf.constant(y_true, tf.float64)

    def fn(pred):
        return yolo_loss(y_true, pred, anchors=ANCHORS, num_classes=P)

    error = check_gradients(fn, y_pred, eps=1e-5, rtol=1e-5, atol=1e-7)
    assert error < 1e-7


def test_gradient_is_zero_for_coordinates_of_empty_slots():
    y_true, y_pred = tiny_case()
    pred = tf.constant(y_pred, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(pred)
        loss = tf.reduce_sum(
            yolo_loss(y_true, pred, anchors=ANCHORS, num_classes=P)
        )
    grad = tape.gradient(loss, pred).numpy()
    empty = y_true[..., 0] == 0.0
    assert np.all(grad[..., 1:][empty] == 0.0)
    assert np.all(grad[..., 0][empty] != 0.0)
    assert np.all(np.abs(grad[..., 1:5][~empty]) > 0.0)


def test_negative_lambdas_are_rejected():
    with pytest.raises(ValueError, match="lambda_noobj >= 0"):
        YoloLoss([[0.2, 0.2]], 2, lambda_noobj=-1.0)
