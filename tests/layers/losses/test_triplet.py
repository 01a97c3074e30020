"""Tests of layers/losses/triplet.py: golden values (NOTES, and hand-computed
ones with the cheatsheet's margin 0.2 on unit vectors), a brute-force numpy
loop over all (a, p, n) triples, numerical safety and gradient checking."""

import math
import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.losses.triplet import TripletLoss
from layers.losses.triplet import mining_stats
from layers.losses.triplet import pairwise_distances
from layers.losses.triplet import triplet_loss
from tests.helpers import check_gradients

MODES = ("batch_all", "semi_hard", "batch_hard")

# Unit vectors with exact squared distances (labels [0, 0, 1, 1]):
# d01 = 1.28, d02 = 2.96, d03 = 0.4, d12 = 3.28, d13 = 2.0, d23 = 3.2.
HAND_EMBEDDINGS = np.array(
    [[0.6, 0.8, 0.0], [0.6, 0.0, 0.8], [0.0, -0.6, -0.8], [0.0, 1.0, 0.0]]
)
HAND_LABELS = np.array([0, 0, 1, 1])


# ------------------------------------------------------- numpy references


def numpy_distances(x, squared):
    x = np.asarray(x, np.float64)
    d = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1)
    return d**2 if squared else d


def numpy_batch_all(labels, x, margin, squared):
    d = numpy_distances(x, squared)
    losses = []
    n = len(labels)
    for a in range(n):
        for p in range(n):
            if p == a or labels[p] != labels[a]:
                continue
            for k in range(n):
                if labels[k] == labels[a]:
                    continue
                losses.append(max(d[a, p] - d[a, k] + margin, 0.0))
    positive = [v for v in losses if v > 0]
    return sum(positive) / len(positive) if positive else 0.0


def numpy_batch_hard(labels, x, margin, squared):
    d = numpy_distances(x, squared)
    n = len(labels)
    losses = []
    for a in range(n):
        pos = [d[a, p] for p in range(n) if p != a and labels[p] == labels[a]]
        neg = [d[a, k] for k in range(n) if labels[k] != labels[a]]
        if pos and neg:
            losses.append(max(max(pos) - min(neg) + margin, 0.0))
    return float(np.mean(losses)) if losses else 0.0


def numpy_semi_hard(labels, x, margin, squared):
    """TF Addons' semantics, written as a plain loop."""
    d = numpy_distances(x, squared)
    n = len(labels)
    total, pairs = 0.0, 0
    for a in range(n):
        neg = [d[a, k] for k in range(n) if labels[k] != labels[a]]
        for p in range(n):
            if p == a or labels[p] != labels[a]:
                continue
            pairs += 1
            farther = [v for v in neg if v > d[a, p]]
            if farther:
                chosen = min(farther)
            elif neg:
                chosen = max(neg)  # the easiest negative, not the hardest
            else:
                chosen = 0.0  # no negative: the anchor's self-distance
            total += max(d[a, p] - chosen + margin, 0.0)
    return total / pairs if pairs else 0.0


REFERENCES = {
    "batch_all": numpy_batch_all,
    "semi_hard": numpy_semi_hard,
    "batch_hard": numpy_batch_hard,
}


def random_batch(seed, n=12, dim=5, identities=4):
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % identities)
    x = rng.normal(size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return labels, x


# ------------------------------------------------------------ golden values


def test_notes_golden_value_semi_hard():
    # NOTES.md "Faces": semi-hard, margin 1.0, plain L2 -> 1 + sqrt(2).
    got = triplet_loss(
        [0, 0],
        [[0.0, 1.0], [1.0, 0.0]],
        margin=1.0,
        mining="semi_hard",
        squared=False,
    )
    assert got.dtype == tf.float32
    assert float(got) == pytest.approx(2.4142137, abs=1e-6)
    loss = TripletLoss(margin=1.0, squared=False)
    assert float(loss([[0], [0]], [[0.0, 1.0], [1.0, 0.0]])) == (
        pytest.approx(2.4142137, abs=1e-6)
    )


def test_hand_computed_semi_hard():
    # (0, 1): d_ap 1.28, negatives 2.96 and 0.4; semi-hard 2.96 -> 0.
    # (1, 0): d_ap 1.28, negatives 3.28 and 2.0; semi-hard 2.0 -> 0.
    # (2, 3): d_ap 3.2, negatives 2.96 and 3.28; semi-hard 3.28 -> 0.12.
    # (3, 2): d_ap 3.2, negatives 0.4 and 2.0, none farther: fallback to
    # the largest, 2.0 -> 1.4 (the hardest, 0.4, would give 3.0).
    got = triplet_loss(HAND_LABELS, HAND_EMBEDDINGS, mining="semi_hard")
    assert float(got) == pytest.approx((0.12 + 1.4) / 4, abs=1e-6)


def test_hand_computed_batch_all():
    # Valid triplets with positive loss: (0,1,3) 1.08, (2,3,0) 0.44,
    # (2,3,1) 0.12, (3,2,0) 3.0, (3,2,1) 1.4; the other 3 are easy.
    got = triplet_loss(HAND_LABELS, HAND_EMBEDDINGS, mining="batch_all")
    assert float(got) == pytest.approx(6.04 / 5, abs=1e-6)


def test_hand_computed_batch_hard():
    # Per anchor (hardest positive, hardest negative): 0: (1.28, 0.4) ->
    # 1.08; 1: (1.28, 2.0) -> 0; 2: (3.2, 2.96) -> 0.44; 3: (3.2, 0.4) -> 3.
    got = triplet_loss(HAND_LABELS, HAND_EMBEDDINGS, mining="batch_hard")
    assert float(got) == pytest.approx(4.52 / 4, abs=1e-6)


def test_hand_computed_mining_stats():
    stats = mining_stats(HAND_LABELS, HAND_EMBEDDINGS, margin=0.2, squared=True)
    assert int(stats["num_valid_triplets"]) == 8
    assert int(stats["num_positive_triplets"]) == 5
    assert float(stats["fraction_positive_triplets"]) == pytest.approx(5 / 8)
    # A margin of 4 (the largest squared distance of unit vectors) makes
    # every valid triplet active; plain L2 changes which ones are.
    stats = mining_stats(HAND_LABELS, HAND_EMBEDDINGS, margin=4.0, squared=True)
    assert float(stats["fraction_positive_triplets"]) == pytest.approx(1.0)
    stats = mining_stats([0, 1, 2], HAND_EMBEDDINGS[:3], squared=True)
    assert int(stats["num_valid_triplets"]) == 0
    assert float(stats["fraction_positive_triplets"]) == 0.0


def test_pairwise_distances_hand_values():
    d2 = pairwise_distances(HAND_EMBEDDINGS).numpy()
    want = np.array(
        [
            [0.0, 1.28, 2.96, 0.4],
            [1.28, 0.0, 3.28, 2.0],
            [2.96, 3.28, 0.0, 3.2],
            [0.4, 2.0, 3.2, 0.0],
        ]
    )
    np.testing.assert_allclose(d2, want, atol=1e-12)
    d = pairwise_distances(HAND_EMBEDDINGS, squared=False).numpy()
    np.testing.assert_allclose(d, np.sqrt(want), atol=1e-12)
    assert d.shape == (4, 4) and np.all(np.diag(d) == 0)


# ------------------------------------------------------ numpy brute force


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("squared", [True, False])
def test_against_brute_force(mode, squared):
    for seed in range(3):
        labels, x = random_batch(seed)
        want = REFERENCES[mode](labels, x, 0.2, squared)
        got = triplet_loss(labels, x, mining=mode, squared=squared)
        assert float(got) == pytest.approx(want, abs=1e-9), (seed, mode)
        assert want > 0
        # float32 and (batch, 1) labels agree.
        got32 = triplet_loss(
            labels[:, None],
            x.astype("float32"),
            mining=mode,
            squared=squared,
        )
        assert got32.dtype == tf.float32
        assert float(got32) == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_brute_force_with_singletons_and_large_margin(mode):
    # Identities 4 and 5 appear once: anchors without a positive add
    # nothing. Margin 1.0, plain L2.
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 5])
    _, x = random_batch(7, n=len(labels), dim=3)
    want = REFERENCES[mode](labels, x, 1.0, False)
    got = triplet_loss(labels, x, margin=1.0, mining=mode, squared=False)
    assert float(got) == pytest.approx(want, abs=1e-9)


def test_semi_hard_is_easier_than_batch_hard():
    # Per pair, the semi-hard negative is no closer than the hardest one
    # and d(A, P) is no larger than the hardest positive's; with equal
    # identity sizes both means weight anchors alike, so semi <= hard.
    labels, x = random_batch(11, n=16, identities=4)
    hard = float(triplet_loss(labels, x, mining="batch_hard", margin=0.5))
    semi = float(triplet_loss(labels, x, mining="semi_hard", margin=0.5))
    assert semi < hard


# ------------------------------------------------------ degenerate batches


@pytest.mark.parametrize("mode", MODES)
def test_no_anchor_positive_pair_gives_zero(mode):
    x = np.eye(4, 3)
    got = triplet_loss([0, 1, 2, 3], x, mining=mode, squared=False)
    assert float(got) == 0.0
    got = triplet_loss([5], x[:1], mining=mode)
    assert float(got) == 0.0


@pytest.mark.parametrize("mode", ["batch_all", "batch_hard"])
def test_single_identity_has_no_valid_triplet(mode):
    x = np.eye(3)
    assert float(triplet_loss([1, 1, 1], x, mining=mode)) == 0.0


def test_single_identity_semi_hard_follows_tf_addons():
    # No negative: d(A, N) = 0, every pair adds margin + d(A, P) = 0.2 + 2.
    x = np.eye(3)
    got = triplet_loss([1, 1, 1], x, mining="semi_hard")
    assert float(got) == pytest.approx(2.2)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("squared", [True, False])
def test_coinciding_embeddings_have_finite_gradients(mode, squared):
    # Rows 0 and 1 coincide (same identity), rows 2 and 3 coincide
    # (different identities): plain L2 has sqrt at 0 there.
    x = tf.constant(
        [[0.6, 0.8], [0.6, 0.8], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    )
    labels = [0, 0, 1, 2, 1]
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = triplet_loss(labels, x, mining=mode, squared=squared)
    grad = tape.gradient(loss, x).numpy()
    assert np.isfinite(float(loss)) and float(loss) > 0
    assert np.all(np.isfinite(grad))
    assert np.any(grad != 0)


def test_pairwise_distance_diagonal_has_zero_gradient():
    x = tf.constant([[0.3, -0.2, 0.5], [0.3, -0.2, 0.5], [1.0, 2.0, 0.0]])
    for squared in (True, False):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            d = pairwise_distances(x, squared=squared)
            diagonal = tf.reduce_sum(tf.linalg.diag_part(d))
            total = tf.reduce_sum(d)
        np.testing.assert_array_equal(tape.gradient(diagonal, x).numpy(), 0)
        grad = tape.gradient(total, x).numpy()
        assert np.all(np.isfinite(grad))
        del tape


# -------------------------------------------------------- gradient checks


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("squared", [True, False])
def test_gradient_check(mode, squared):
    labels, x = random_batch(21, n=8, dim=3, identities=3)
    x = x * 0.9  # off the unit sphere too

    def fn(e):
        return triplet_loss(labels, e, margin=0.3, mining=mode, squared=squared)

    assert float(fn(tf.constant(x))) > 0
    error = check_gradients(fn, x, eps=1e-6, rtol=1e-4, atol=1e-7)
    assert error < 1e-6


@pytest.mark.parametrize("squared", [True, False])
def test_pairwise_distances_gradient_check(squared):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 3))
    weights = tf.constant(rng.normal(size=(4, 4)))

    def fn(e):
        return pairwise_distances(e, squared=squared) * weights

    error = check_gradients(fn, x, eps=1e-6, rtol=1e-4, atol=1e-7)
    assert error < 1e-6


# -------------------------------------------------------------- arguments


def test_invalid_arguments():
    x = np.eye(2)
    with pytest.raises(ValueError, match="Expected mining to be one of"):
        triplet_loss([0, 0], x, mining="hard")
    with pytest.raises(ValueError, match="Received: mining='semi-hard'"):
        TripletLoss(mining="semi-hard")
    with pytest.raises(ValueError, match="Received: margin=-0.1"):
        triplet_loss([0, 0], x, margin=-0.1)
    with pytest.raises(ValueError, match="Expected margin"):
        mining_stats([0, 0], x, margin="0.2", squared=True)


# ------------------------------------------------------------- Loss class


def test_loss_class_config_and_value():
    loss = TripletLoss(margin=0.5, mining="batch_hard", squared=False)
    assert loss.name == "triplet_loss"
    config = loss.get_config()
    assert config["margin"] == 0.5
    assert config["mining"] == "batch_hard"
    assert config["squared"] is False
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, TripletLoss)
    assert clone.get_config() == config
    labels, x = random_batch(3)
    want = numpy_batch_hard(labels, x, 0.5, False)
    assert float(clone(labels, x.astype("float32"))) == pytest.approx(
        want, abs=1e-5
    )


def test_loss_in_a_model_fit_and_keras_round_trip():
    labels, _ = random_batch(1, n=12, identities=3)
    rng = np.random.default_rng(2)
    features = rng.normal(size=(12, 6)).astype("float32") + labels[:, None]
    inputs = keras.Input((6,))
    embeddings = keras.layers.UnitNormalization()(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, embeddings)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1),
        loss=TripletLoss(margin=0.3, mining="batch_all", name="tl"),
    )
    before = model.get_weights()[0].copy()
    history = model.fit(
        features, labels, batch_size=12, epochs=1, shuffle=False, verbose=0
    )
    assert np.isfinite(history.history["loss"][0])
    assert history.history["loss"][0] > 0
    assert not np.array_equal(model.get_weights()[0], before)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "triplet.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss, TripletLoss)
    assert loaded.loss.get_config() == model.loss.get_config()
    np.testing.assert_allclose(
        loaded.predict(features, verbose=0),
        model.predict(features, verbose=0),
        atol=1e-6,
    )
    assert loaded.evaluate(
        features, labels, batch_size=12, verbose=0
    ) == pytest.approx(
        model.evaluate(features, labels, batch_size=12, verbose=0), abs=1e-6
    )


def test_cheatsheet_defaults():
    loss = TripletLoss()
    assert (loss.margin, loss.mining, loss.squared) == (0.2, "semi_hard", True)
    # Squared L2 of unit vectors at 90 degrees is 2, plain L2 is sqrt(2).
    d = pairwise_distances([[1.0, 0.0], [0.0, 1.0]]).numpy()
    assert d[0, 1] == pytest.approx(2.0)
    assert math.isclose(
        float(
            pairwise_distances([[1.0, 0.0], [0.0, 1.0]], squared=False)[0, 1]
        ),
        math.sqrt(2),
        rel_tol=1e-6,
    )
