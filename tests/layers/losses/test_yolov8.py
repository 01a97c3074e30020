"""Tests of layers/losses/yolov8.py: the docstring formula in numpy,
gradients, normalisation, serialisation and a short training run."""

import math
import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.blocks.csp import csp_backbone
from layers.blocks.csp import pan_neck
from layers.heads.anchor_free import anchor_free_head
from layers.heads.anchor_free import dfl_distances
from layers.heads.anchor_free import make_anchor_points
from layers.losses.yolov8 import YoloV8Loss
from layers.losses.yolov8 import assign_yolov8_targets
from layers.losses.yolov8 import yolov8_loss
from layers.losses.yolov8 import yolov8_loss_components
from tests.helpers import check_gradients

P, R, SIZE = 2, 4, 32
A = 16 + 4 + 1
ARGS = dict(num_classes=P, image_size=SIZE, reg_max=R)

Y_TRUE = np.array(
    [
        [[0, 0.05, 0.10, 0.55, 0.60], [1, 0.40, 0.30, 0.95, 0.90]],
        [[1, 0.20, 0.20, 0.80, 0.70], [-1, 0, 0, 0, 0]],
    ]
)


def y_pred(seed=0, batch=2):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=0.5, size=(batch, A, 4 * R + P))


def np_ciou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    wa, ha, wb, hb = a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1]
    iou = iw * ih / (wa * ha + wb * hb - iw * ih)
    rho2 = (
        (a[0] + a[2] - b[0] - b[2]) ** 2 + (a[1] + a[3] - b[1] - b[3]) ** 2
    ) / 4
    c2 = (max(a[2], b[2]) - min(a[0], b[0])) ** 2 + (
        max(a[3], b[3]) - min(a[1], b[1])
    ) ** 2
    v = 4 / math.pi**2 * (math.atan(wb / hb) - math.atan(wa / ha)) ** 2
    return iou - rho2 / c2 - v / (1 - iou + v) * v


def numpy_loss(targets, raw, weights=(7.5, 0.5, 1.5), normalization="batch"):
    """The module docstring's formula, loops over images and anchors."""
    boxes = np.asarray(targets["boxes"], np.float64)
    scores = np.asarray(targets["scores"], np.float64)
    fg = np.asarray(targets["foreground"])
    points, strides = make_anchor_points(SIZE)
    b = raw.shape[0]
    sums = np.zeros((b, 3))
    for i in range(b):
        for a in range(A):
            z = raw[i, a, 4 * R :]
            t = scores[i, a]
            bce = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
            sums[i, 1] += bce.sum()
            if not fg[i, a]:
                continue
            s = strides[a, 0]
            px, py = points[a] / s
            logits = raw[i, a, : 4 * R].reshape(4, R)
            prob = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
            d = prob @ np.arange(R)
            pred = [px - d[0], py - d[1], px + d[2], py + d[3]]
            tgt = boxes[i, a] / s
            w = t.sum()
            sums[i, 0] += w * (1 - np_ciou(pred, tgt))
            dist = [px - tgt[0], py - tgt[1], tgt[2] - px, tgt[3] - py]
            dfl = 0.0
            for k, y in enumerate(dist):
                y = min(max(y, 0), R - 1)
                left = min(int(np.floor(y)), R - 2)
                dfl -= (left + 1 - y) * np.log(prob[k, left])
                dfl -= (y - left) * np.log(prob[k, left + 1])
            sums[i, 2] += w * dfl / 4
    if normalization == "batch":
        scale = b / max(scores.sum(), 1.0)
    else:
        scale = 1 / np.maximum(scores.sum(axis=(1, 2)), 1.0)
    return (sums * np.asarray(weights)).sum(-1) * scale


@pytest.mark.parametrize("normalization", ["batch", "image"])
def test_loss_matches_numpy_formula(normalization):
    raw = y_pred()
    targets = assign_yolov8_targets(Y_TRUE, raw, **ARGS)
    fg = targets["foreground"].numpy()
    assert fg[0].sum() >= 2 and fg[1].sum() >= 1
    want = numpy_loss(targets, raw, normalization=normalization)
    got = yolov8_loss(Y_TRUE, raw, normalization=normalization, **ARGS)
    assert got.shape == (2,) and got.dtype == tf.float64
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9)
    got32 = yolov8_loss(
        Y_TRUE.astype("float32"),
        raw.astype("float32"),
        normalization=normalization,
        **ARGS,
    )
    np.testing.assert_allclose(got32.numpy(), want, rtol=1e-4)


def test_targets_in_pixels():
    raw = y_pred()
    targets = assign_yolov8_targets(Y_TRUE, raw, **ARGS)
    fg = targets["foreground"].numpy()
    boxes = targets["boxes"].numpy()[fg]
    rows = [r for r in (Y_TRUE[0, 0], Y_TRUE[0, 1], Y_TRUE[1, 0])]
    assert all(
        any(np.allclose(box, r[1:] * SIZE) for r in rows) for box in boxes
    )
    scores = targets["scores"].numpy()
    assert scores.max() <= 1.0 and (scores[~fg] == 0).all()


def alpha_times_v(raw, targets):
    """Sum over anchors of w_a * alpha_a * v_a (CIoU's aspect term) for the
    boxes the loss compares, in float64 tf ops, and the loss's scale."""
    points, strides = make_anchor_points(SIZE)
    grid = tf.constant(points / strides, tf.float64)
    d = dfl_distances(raw[..., : 4 * R], R)
    pred = tf.concat([grid - d[..., :2], grid + d[..., 2:]], -1)
    fg = targets["foreground"].numpy()
    tgt = np.where(
        fg[..., None],
        targets["boxes"].numpy() / strides,
        np.concatenate([points / strides - 1, points / strides + 1], -1),
    )
    wa, ha = pred[..., 2] - pred[..., 0], pred[..., 3] - pred[..., 1]
    wb, hb = tgt[..., 2] - tgt[..., 0], tgt[..., 3] - tgt[..., 1]
    v = 4 / math.pi**2 * tf.square(tf.atan(wb / hb) - tf.atan(wa / ha))
    iw = tf.maximum(
        tf.minimum(pred[..., 2], tgt[..., 2])
        - tf.maximum(pred[..., 0], tgt[..., 0]),
        0,
    )
    ih = tf.maximum(
        tf.minimum(pred[..., 3], tgt[..., 3])
        - tf.maximum(pred[..., 1], tgt[..., 1]),
        0,
    )
    iou = iw * ih / (wa * ha + wb * hb - iw * ih)
    alpha = v / (1 - iou + v)
    w = targets["scores"].numpy().sum(-1) * fg
    return alpha, v, w


def test_gradients_wrt_y_pred_with_frozen_assignment():
    # float64 throughout. Two things carry no gradient and must be held
    # fixed for the numerical derivative: the assignment (its targets come
    # from the base point) and CIoU's trade-off weight alpha (frozen at its
    # base value alpha0 by subtracting, without gradient, the change of
    # the term w * alpha * v; see test_box.py).
    raw = y_pred(seed=1)
    targets = assign_yolov8_targets(Y_TRUE, raw, **ARGS)
    alpha0, _, _ = alpha_times_v(tf.constant(raw), targets)
    scale = 2 / max(targets["scores"].numpy().sum(), 1.0)

    @tf.function
    def frozen(x):
        terms = yolov8_loss_components(targets, x, **ARGS)
        alpha, v, w = alpha_times_v(x, targets)
        drift = 7.5 * scale * tf.reduce_sum(w * (alpha - alpha0) * v)
        total = terms["box"] + terms["cls"] + terms["dfl"]
        return tf.reduce_sum(total) - tf.stop_gradient(drift)

    error = check_gradients(frozen, raw, eps=1e-5, rtol=1e-4, atol=1e-8)
    assert error < 1e-6

    # The gradient of the full loss is exactly that of the frozen one.
    x = tf.constant(raw)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        full = tf.reduce_sum(yolov8_loss(Y_TRUE, x, **ARGS))
        fixed = frozen(x)
    np.testing.assert_allclose(float(full), float(fixed), rtol=1e-12)
    np.testing.assert_allclose(
        tape.gradient(full, x).numpy(),
        tape.gradient(fixed, x).numpy(),
        rtol=1e-10,
        atol=1e-14,
    )


def test_images_without_boxes():
    y_true = -np.ones((2, 3, 5))
    raw = y_pred(seed=2)
    x = tf.constant(raw)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = yolov8_loss(y_true, x, **ARGS)
    grad = tape.gradient(loss, x).numpy()
    # Only the class term remains: 0.5 * B * sum BCE(0, z) / max(0, 1).
    z = raw[..., 4 * R :]
    bce = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))).sum(axis=(1, 2))
    np.testing.assert_allclose(loss.numpy(), 0.5 * 2 * bce, rtol=1e-9)
    assert np.isfinite(grad).all()
    np.testing.assert_array_equal(grad[..., : 4 * R], 0.0)
    # No box rows at all.
    empty = yolov8_loss(np.zeros((2, 0, 5)), raw, **ARGS)
    np.testing.assert_allclose(empty.numpy(), loss.numpy())


def test_normalisation_modes():
    raw = y_pred(seed=3)
    targets = assign_yolov8_targets(Y_TRUE, raw, **ARGS)
    per_image = targets["scores"].numpy().sum(axis=(1, 2))
    batch = yolov8_loss(Y_TRUE, raw, **ARGS).numpy()
    image = yolov8_loss(Y_TRUE, raw, normalization="image", **ARGS).numpy()
    # batch: L_i = B T_i / S; image: L_i = T_i / max(S_i, 1).
    raw_terms = image * np.maximum(per_image, 1.0)
    np.testing.assert_allclose(
        batch, 2 * raw_terms / max(per_image.sum(), 1.0), rtol=1e-9
    )
    # "image" losses do not depend on the rest of the batch.
    alone = yolov8_loss(
        Y_TRUE[:1], raw[:1], normalization="image", **ARGS
    ).numpy()
    np.testing.assert_allclose(alone, image[:1], rtol=1e-12)


def test_loss_weights():
    raw = y_pred(seed=4)
    targets = assign_yolov8_targets(Y_TRUE, raw, **ARGS)
    terms = yolov8_loss_components(targets, raw, **ARGS)
    only_box = yolov8_loss(
        Y_TRUE, raw, box_weight=1.0, cls_weight=0.0, dfl_weight=0.0, **ARGS
    )
    np.testing.assert_allclose(only_box.numpy(), terms["box"].numpy() / 7.5)
    assert (terms["box"].numpy() > 0).all() and (terms["dfl"].numpy() > 0).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_classes": 0},
        {"reg_max": 1},
        {"normalization": "sum"},
        {"box_weight": -1.0},
        {"image_size": 0},
    ],
)
def test_invalid_args(kwargs):
    with pytest.raises(ValueError, match="Received"):
        YoloV8Loss(**{**ARGS, **kwargs})


def test_wrong_prediction_shape():
    with pytest.raises(ValueError, match="Expected y_pred of shape"):
        yolov8_loss(Y_TRUE, np.zeros((2, A + 1, 4 * R + P)), **ARGS)


def test_loss_class_config_and_value():
    loss = YoloV8Loss(
        strides=(8, 16, 32), normalization="image", topk=5, **ARGS
    )
    config = loss.get_config()
    assert config["strides"] == [8, 16, 32] and config["topk"] == 5
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, YoloV8Loss)
    assert clone.get_config() == config
    raw = y_pred(seed=5).astype("float32")
    want = yolov8_loss(
        Y_TRUE, raw, normalization="image", topk=5, **ARGS
    ).numpy()
    assert float(clone(Y_TRUE, raw)) == pytest.approx(want.mean(), rel=1e-6)
    # In a graph with unknown batch and box counts, as inside fit().
    graph = tf.function(
        clone,
        input_signature=[
            tf.TensorSpec((None, None, 5), tf.float32),
            tf.TensorSpec((None, A, 4 * R + P), tf.float32),
        ],
    )
    got = graph(Y_TRUE.astype("float32"), raw)
    assert float(got) == pytest.approx(want.mean(), rel=1e-6)


def test_compiled_model_keras_round_trip():
    inputs = keras.Input((SIZE, SIZE, 3))
    x, features = inputs, []
    for level in range(5):
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(x)
        if level >= 2:
            features.append(x)
    model = keras.Model(inputs, anchor_free_head(features, P, reg_max=R))
    model.compile(
        optimizer="sgd",
        loss=YoloV8Loss(normalization="image", topk=5, **ARGS),
        run_eagerly=True,
    )
    images = np.random.default_rng(6).uniform(size=(2, SIZE, SIZE, 3))
    images = images.astype("float32")
    labels = Y_TRUE.astype("float32")
    before = model.evaluate(images, labels, verbose=0)
    want = yolov8_loss(
        labels, model(images), normalization="image", topk=5, **ARGS
    )
    assert before == pytest.approx(float(tf.reduce_mean(want)), rel=1e-6)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, compile=True)
    assert isinstance(loaded.loss, YoloV8Loss)
    assert loaded.loss.get_config() == model.loss.get_config()
    loaded.run_eagerly = True
    after = loaded.evaluate(images, labels, verbose=0)
    assert after == pytest.approx(before, rel=1e-6)


def test_tiny_detector_trains():
    # Backbone + neck + head at 1/16 width, 32 px, two synthetic images.
    inputs = keras.Input((SIZE, SIZE, 3))
    features = csp_backbone(inputs, width=0.0625, depth=0.33)
    raw = anchor_free_head(
        pan_neck(features, width=0.0625, depth=0.33), P, reg_max=R
    )
    model = keras.Model(inputs, raw)
    # Batch norm frozen (inference mode): with 2 images, batch statistics
    # over the 1 x 1 maps of stride 32 make the training-mode loss jump by
    # more than two steps of progress.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    # Eagerly: tracing the train step of ~230 layers costs more than the
    # two steps on this CPU. The graph path is covered by the loss tests.
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=YoloV8Loss(**ARGS),
        run_eagerly=True,
    )
    images = np.zeros((2, SIZE, SIZE, 3), "float32")
    for i, row in enumerate(Y_TRUE):
        for c, x0, y0, x1, y1 in row:
            if c >= 0:
                ys = slice(int(y0 * SIZE), int(y1 * SIZE))
                xs = slice(int(x0 * SIZE), int(x1 * SIZE))
                images[i, ys, xs, int(c)] = 1.0
    labels = Y_TRUE.astype("float32")
    history = model.fit(images, labels, batch_size=2, epochs=2, verbose=0)
    first, second = history.history["loss"]
    after = model.evaluate(images, labels, batch_size=2, verbose=0)
    assert np.isfinite([first, second, after]).all()
    assert after < second < first
