"""Tests of layers/heads/arcface.py: ArcFace logits against an independent
numpy computation (arccos, then cos(theta + m)), the InsightFace fallback,
the Keras layer checks and a short training run."""

import math
import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.heads.arcface import ArcFace
from layers.heads.arcface import arcface_logits
from tests.helpers import check_gradients
from tests.helpers import check_layer


def numpy_arcface(x, w, labels, scale, margin, easy_margin=False):
    """Deng et al. (2019), float64, via the angles themselves."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    w = w / np.linalg.norm(w, axis=0, keepdims=True)
    cos = np.clip(x @ w, -1.0, 1.0)
    out = cos.copy()
    for i, y in enumerate(np.reshape(labels, -1)):
        theta = math.acos(cos[i, y])
        if easy_margin:
            if theta < math.pi / 2:
                out[i, y] = math.cos(theta + margin)
        elif theta + margin < math.pi:
            out[i, y] = math.cos(theta + margin)
        else:
            out[i, y] = cos[i, y] - margin * math.sin(margin)
    return scale * out


def random_problem(seed, batch=6, dim=5, classes=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, dim))
    w = rng.normal(size=(dim, classes))
    labels = rng.integers(0, classes, size=batch)
    return x, w, labels


def angle_problem(thetas):
    """Embeddings at the given angles from class 0's centre `(1, 0)`."""
    x = np.array([[math.cos(t), math.sin(t)] for t in thetas])
    w = np.array([[1.0, 0.0], [0.0, 1.0]])  # columns: class 0, class 1
    return x, w, np.zeros(len(thetas), np.int64)


# ----------------------------------------------------------------- formula


@pytest.mark.parametrize("easy_margin", [False, True])
def test_against_numpy(easy_margin):
    for seed in range(3):
        x, w, labels = random_problem(seed)
        want = numpy_arcface(x, w, labels, 30.0, 0.5, easy_margin)
        got = arcface_logits(
            x, w, labels, scale=30.0, margin=0.5, easy_margin=easy_margin
        )
        assert got.shape == (6, 4)
        np.testing.assert_allclose(got.numpy(), want, atol=1e-9)
        got32 = arcface_logits(
            x.astype("float32"),
            w.astype("float32"),
            labels[:, None].astype("int32"),
            scale=30.0,
            margin=0.5,
            easy_margin=easy_margin,
        )
        assert got32.dtype == tf.float32
        np.testing.assert_allclose(got32.numpy(), want, atol=1e-4)


def test_hand_computed_target_and_others():
    # theta = 60 deg to class 0, m = 30 deg: target cos(90 deg) = 0; class
    # 1 at 30 deg keeps its cos(30 deg), scale 2.
    x, w, labels = angle_problem([math.pi / 3])
    got = arcface_logits(x, w, labels, scale=2.0, margin=math.pi / 6)
    np.testing.assert_allclose(
        got.numpy(), [[0.0, 2 * math.cos(math.pi / 6)]], atol=1e-12
    )


def test_fallback_branch():
    m = 0.5
    # theta = 2.0: theta + m < pi, margin applies in the default rule but
    # not with easy_margin (cos < 0). theta = 2.8 and pi: theta + m > pi,
    # the default rule gives cos(theta) - m sin(m).
    thetas = [2.0, 2.8, math.pi]
    x, w, labels = angle_problem(thetas)
    got = arcface_logits(x, w, labels, scale=1.0, margin=m)[:, 0].numpy()
    want = [
        math.cos(2.0 + m),
        math.cos(2.8) - m * math.sin(m),
        -1.0 - m * math.sin(m),
    ]
    np.testing.assert_allclose(got, want, atol=1e-12)
    easy = arcface_logits(x, w, labels, scale=1.0, margin=m, easy_margin=True)
    np.testing.assert_allclose(
        easy[:, 0].numpy(), [math.cos(t) for t in thetas], atol=1e-12
    )
    np.testing.assert_allclose(
        got, numpy_arcface(x, w, labels, 1.0, m)[:, 0], atol=1e-12
    )
    # The fallback keeps the target logit decreasing in theta.
    grid = np.linspace(0.05, math.pi - 0.01, 200)
    x, w, labels = angle_problem(grid)
    target = arcface_logits(x, w, labels, scale=1.0, margin=m)[:, 0].numpy()
    assert np.all(np.diff(target) < 0)


def test_margin_zero_is_scaled_cosine_softmax():
    x, w, labels = random_problem(4)
    got = arcface_logits(x, w, labels, scale=16.0, margin=0.0)
    cos = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (
        w / np.linalg.norm(w, axis=0, keepdims=True)
    )
    np.testing.assert_allclose(got.numpy(), 16.0 * cos, atol=1e-9)
    np.testing.assert_allclose(
        tf.nn.softmax(got).numpy(),
        tf.nn.softmax(16.0 * cos).numpy(),
        atol=1e-9,
    )


def test_margin_only_lowers_the_target_logit():
    x, w, labels = random_problem(5)
    plain = arcface_logits(x, w, None, scale=30.0, margin=0.5).numpy()
    with_margin = arcface_logits(x, w, labels, scale=30.0, margin=0.5).numpy()
    target = np.eye(4, dtype=bool)[labels]
    np.testing.assert_array_equal(with_margin[~target], plain[~target])
    assert np.all(with_margin[target] < plain[target])


# ------------------------------------------------------------------- layer


def test_layer_training_flag_and_missing_labels():
    x, _, labels = random_problem(6, dim=8, classes=3)
    x = x.astype("float32")
    layer = ArcFace(3)
    train = layer([x, labels], training=True).numpy()
    infer = layer([x, labels], training=False).numpy()
    np.testing.assert_allclose(layer(x).numpy(), infer, atol=1e-6)
    np.testing.assert_allclose(layer([x]).numpy(), infer, atol=1e-6)
    # Inference does not depend on the labels.
    other = layer([x, (labels + 1) % 3], training=False).numpy()
    np.testing.assert_array_equal(other, infer)
    kernel = layer.kernel.numpy()
    np.testing.assert_allclose(
        train, numpy_arcface(x, kernel, labels, 30.0, 0.5), atol=1e-4
    )
    np.testing.assert_allclose(
        infer, numpy_arcface(x, kernel, labels, 30.0, 0.0), atol=1e-4
    )
    assert layer.kernel.shape == (8, 3)
    assert layer.compute_output_shape([(None, 8), (None,)]) == (None, 3)
    assert layer.compute_output_shape((7, 8)) == (7, 3)


def test_check_layer():
    x, _, labels = random_problem(7, batch=4, dim=6, classes=3)
    layer = check_layer(
        ArcFace,
        dict(num_classes=3, scale=10.0, margin=0.3, easy_margin=True),
        [(4, 6), (4,)],
        expected_output_shape=(4, 3),
        input_data=[x.astype("float32"), labels.astype("int32")],
    )
    assert layer.kernel.shape == (6, 3)


def test_keras_round_trip_with_column_labels():
    # (batch, 1) labels in a functional model with two inputs.
    x, _, labels = random_problem(8, batch=4, dim=6, classes=3)
    embeddings = keras.Input((6,))
    label_input = keras.Input((1,), dtype="int32")
    logits = ArcFace(3, name="arcface")([embeddings, label_input])
    model = keras.Model([embeddings, label_input], logits)
    inputs = [x.astype("float32"), labels[:, None].astype("int32")]
    want = model(inputs).numpy()
    kernel = model.get_layer("arcface").kernel.numpy()
    np.testing.assert_allclose(
        want, numpy_arcface(x, kernel, labels, 30.0, 0.5), atol=1e-4
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "arcface.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(inputs).numpy(), want, atol=1e-6)
    assert loaded.get_layer("arcface").get_config()["margin"] == 0.5


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Received: num_classes=1"):
        ArcFace(1)
    with pytest.raises(ValueError, match="Expected num_classes"):
        ArcFace(2.0)
    with pytest.raises(ValueError, match="Received: scale=0"):
        ArcFace(3, scale=0)
    with pytest.raises(ValueError, match="Received: margin=1.6"):
        ArcFace(3, margin=1.6)
    with pytest.raises(ValueError, match="Received: margin=-0.1"):
        arcface_logits(np.eye(2), np.eye(2), [0, 1], scale=1.0, margin=-0.1)
    with pytest.raises(ValueError, match="Expected embeddings of shape"):
        ArcFace(3)(np.zeros((2, 3, 4), "float32"))


# --------------------------------------------------------------- gradients


@pytest.mark.parametrize("easy_margin", [False, True])
def test_gradient_check(easy_margin):
    x, w, labels = random_problem(0, batch=5, dim=4, classes=3)
    cos = numpy_arcface(x, w, labels, 1.0, 0.0)
    target = cos[np.arange(5), labels]
    # Away from the fallback boundaries and from |cos| = 1.
    assert np.all(np.abs(target - math.cos(math.pi - 0.4)) > 0.05)
    assert np.all(np.abs(target) > 0.05) and np.all(np.abs(cos) < 0.99)
    projection = tf.constant(np.random.default_rng(0).normal(size=(5, 3)))

    def fn(e, k):
        logits = arcface_logits(
            e, k, labels, scale=4.0, margin=0.4, easy_margin=easy_margin
        )
        return logits * projection

    error = check_gradients(fn, [x, w], eps=1e-6, rtol=1e-4, atol=1e-7)
    assert error < 1e-6
    # Every branch: margin (0.7), easy-margin fallback (2.0) and the
    # default fallback (3.0 + 0.4 > pi), off the class centres' plane.
    x, w, labels = angle_problem([0.7, 2.0, 3.0])
    x = np.concatenate([x * 1.5, np.full((3, 1), 0.1)], axis=1)
    w = np.concatenate([w, [[0.2, -0.1]]], axis=0)
    target = numpy_arcface(x, w, labels, 1.0, 0.0)[:, 0]
    assert target[0] > 0.05 and target[1] < -0.05
    assert target[1] > math.cos(math.pi - 0.4) + 0.05
    assert target[2] < math.cos(math.pi - 0.4) - 0.02
    projection = tf.constant([[1.0, -0.5], [0.3, 2.0], [-1.2, 0.7]], tf.float64)

    def branches(e, k):
        logits = arcface_logits(
            e, k, labels, scale=4.0, margin=0.4, easy_margin=easy_margin
        )
        return logits * projection

    error = check_gradients(branches, [x, w], eps=1e-6, rtol=1e-4, atol=1e-7)
    assert error < 1e-6


def test_no_nan_gradient_at_cos_one():
    # Embedding on its class centre: theta = 0, sin(theta) = 0.
    x = tf.constant([[2.0, 0.0], [0.0, 1.0]])
    w = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    with tf.GradientTape() as tape:
        tape.watch([x, w])
        loss = tf.reduce_sum(
            arcface_logits(x, w, [0, 1], scale=30.0, margin=0.5)
        )
    grads = tape.gradient(loss, [x, w])
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


# ---------------------------------------------------------------- training


def test_training_separates_three_clusters():
    rng = np.random.default_rng(10)
    centres = rng.normal(size=(3, 4)) * 3.0
    labels = np.repeat(np.arange(3), 20).astype("int32")
    points = (centres[labels] + rng.normal(size=(60, 4))).astype("float32")
    feature_input = keras.Input((4,))
    label_input = keras.Input((), dtype="int32")
    embeddings = keras.layers.Dense(8)(feature_input)
    logits = ArcFace(3, scale=16.0, margin=0.3)([embeddings, label_input])
    model = keras.Model([feature_input, label_input], logits)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )

    def accuracy():
        # predict: training=False, plain cosine logits.
        scores = model.predict([points, labels], batch_size=60, verbose=0)
        return float(np.mean(np.argmax(scores, axis=1) == labels))

    before = accuracy()
    history = model.fit(
        [points, labels],
        labels,
        batch_size=60,
        epochs=15,
        shuffle=False,
        verbose=0,
    )
    train_accuracy = history.history["accuracy"]
    assert train_accuracy[-1] > train_accuracy[0]
    assert history.history["loss"][-1] < history.history["loss"][0]
    after = accuracy()
    assert after >= 0.95 and after > before
