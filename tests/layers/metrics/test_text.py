"""Tests of layers/metrics/text.py: BLEU against sacrebleu and hand counts,
perplexity against its definition."""

import math
import os
import tempfile

import keras
import numpy as np
import pytest
import sacrebleu
import tensorflow as tf

from layers.metrics.text import Perplexity
from layers.metrics.text import corpus_bleu
from layers.metrics.text import perplexity
from layers.metrics.text import sacrebleu_score

HYPOTHESES = [
    "a man is riding a horse on the beach",
    "two dogs play in the snow",
    "the woman sings",
    "children are playing football in a park near the river",
    "a",
    "people walk down a busy street at night",
    "the cat the cat the cat",
]
REFERENCES = [
    "a man rides a horse along the beach",
    "two dogs are playing in the snow",
    "a woman is singing on a stage",
    "kids play soccer in a park by the river",
    "a bird",
    "people walk along a busy street at night",
    "the cat sat on the mat",
]
OTHER_REFERENCES = [
    "a man is riding his horse on a beach",
    "two dogs play together in snow",
    "the woman sings a song",
    "children are playing football in the park near a river",
    "one bird",
    "many people walk down the busy street",
    "there is a cat on the mat",
]


def assert_same_as_sacrebleu(ours, theirs):
    assert ours["bleu"] == pytest.approx(theirs.score, abs=1e-9)
    np.testing.assert_allclose(ours["precisions"], theirs.precisions, 1e-12)
    assert ours["brevity_penalty"] == pytest.approx(theirs.bp, abs=1e-12)
    assert ours["hyp_len"] == theirs.sys_len
    assert ours["ref_len"] == theirs.ref_len
    assert ours["ratio"] == pytest.approx(theirs.ratio, abs=1e-12)


def test_bleu_equals_sacrebleu_without_tokenization():
    ours = corpus_bleu(HYPOTHESES, REFERENCES)
    theirs = sacrebleu.corpus_bleu(
        HYPOTHESES, [REFERENCES], tokenize="none", smooth_method="none"
    )
    assert 0 < ours["bleu"] < 100 and ours["brevity_penalty"] < 1
    assert_same_as_sacrebleu(ours, theirs)


@pytest.mark.parametrize("max_order", [1, 2, 3, 4])
@pytest.mark.parametrize("smooth", [False, True])
def test_bleu_orders_smoothing_and_multiple_references(max_order, smooth):
    references = [list(r) for r in zip(REFERENCES, OTHER_REFERENCES)]
    ours = corpus_bleu(
        HYPOTHESES, references, max_order=max_order, smooth=smooth
    )
    metric = sacrebleu.BLEU(
        tokenize="none",
        max_ngram_order=max_order,
        smooth_method="add-k" if smooth else "none",
        smooth_value=1 if smooth else None,
    )
    theirs = metric.corpus_score(HYPOTHESES, [REFERENCES, OTHER_REFERENCES])
    assert_same_as_sacrebleu(ours, theirs)


def test_bleu_zero_when_an_order_has_no_match():
    # No 4-gram of the hypotheses occurs in the references: BLEU is 0.
    hypotheses = ["the cat sat down", "a dog ran"]
    references = ["the cat sat on the mat", "a dog ran away"]
    ours = corpus_bleu(hypotheses, references)
    theirs = sacrebleu.corpus_bleu(
        hypotheses, [references], tokenize="none", smooth_method="none"
    )
    assert ours["bleu"] == 0.0 and ours["precisions"][3] == 0.0
    assert_same_as_sacrebleu(ours, theirs)


def test_bleu_paper_example_modified_precision():
    # Papineni et al. (2002): the candidate "the" x 7 has unigram count 7;
    # "the" occurs at most twice in one reference, so the clipped count is
    # 2 and the modified unigram precision 2/7. No bigram "the the" in the
    # references: p_2 = 0/6, so BLEU = 0. Lengths 7 vs {6, 7}: r = 7, BP = 1.
    out = corpus_bleu(
        ["the the the the the the the"],
        [["the cat is on the mat", "there is a cat on the mat"]],
    )
    np.testing.assert_allclose(out["precisions"], [100 * 2 / 7, 0, 0, 0])
    assert out["bleu"] == 0.0
    assert out["brevity_penalty"] == 1.0
    assert (out["hyp_len"], out["ref_len"]) == (7, 7)


def test_bleu_hand_computed_with_brevity_penalty():
    # hyp: the cat sat on the mat (c = 6); ref adds "red" (r = 7).
    # Unigrams: the x2, cat, sat, on, mat all match: 6/6.
    # Bigrams: the cat, cat sat, sat on, on the match; "the mat" does not
    # ("the red", "red mat" in the reference): 4/5.
    # BP = exp(1 - 7/6); BLEU-2 = BP * sqrt(1 * 4/5).
    out = corpus_bleu(
        ["the cat sat on the mat"], ["the cat sat on the red mat"], max_order=2
    )
    np.testing.assert_allclose(out["precisions"], [100.0, 80.0])
    assert out["brevity_penalty"] == pytest.approx(math.exp(-1 / 6))
    assert out["bleu"] == pytest.approx(
        100 * math.exp(1 - 7 / 6) * math.sqrt(0.8)
    )
    assert out["ratio"] == pytest.approx(6 / 7)


def test_bleu_closest_reference_length_prefers_the_shorter_on_ties():
    out = corpus_bleu(["a b c d e"], [["a b c d", "a b c d e f"]])
    assert out["ref_len"] == 4 and out["brevity_penalty"] == 1.0


def test_bleu_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="Received: 2 hypotheses"):
        corpus_bleu(["a", "b"], ["a"])


def test_sacrebleu_score_wrapper():
    out = sacrebleu_score(HYPOTHESES, REFERENCES)
    assert out["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score
    )
    assert out["chrf"] == pytest.approx(
        sacrebleu.corpus_chrf(HYPOTHESES, [REFERENCES]).score
    )
    assert "tok:13a" in out["signature"]["bleu"]
    assert out["signature"]["chrf"].startswith("nrefs:1")
    perfect = sacrebleu_score(REFERENCES, REFERENCES)
    assert perfect["bleu"] == pytest.approx(100.0)
    assert perfect["chrf"] == pytest.approx(100.0)
    # Segments with different numbers of references.
    uneven = [[REFERENCES[0], OTHER_REFERENCES[0]]] + REFERENCES[1:]
    assert 0 < sacrebleu_score(HYPOTHESES, uneven)["bleu"] < 100
    # Case-insensitive, as sacrebleu -lc scores it.
    upper = [h.upper() for h in HYPOTHESES]
    lc = sacrebleu_score(upper, REFERENCES, lowercase=True)
    assert lc["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(upper, [REFERENCES], lowercase=True).score
    )
    assert lc["bleu"] == pytest.approx(out["bleu"])
    assert "case:lc" in lc["signature"]["bleu"]
    assert sacrebleu_score(upper, REFERENCES)["bleu"] < out["bleu"]


def test_perplexity_of_uniform_distribution_is_vocabulary_size():
    for vocab in (2, 7, 1000):
        nll = 13 * math.log(vocab)  # 13 tokens, p = 1 / vocab each
        assert float(perplexity(nll, 13)) == pytest.approx(vocab)


def test_perplexity_is_the_cheatsheet_product():
    probs = np.array([0.5, 0.1, 0.9, 0.25])
    want = np.prod((1 / probs) ** (1 / len(probs)))
    got = perplexity(-np.log(probs).sum(), len(probs))
    assert float(got) == pytest.approx(want)


def masked_cross_entropy(y_true, logits, weights):
    log_p = logits - logits.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_p, y_true[..., None], -1)[..., 0]
    return (nll * weights).sum(), weights.sum()


def test_metric_uniform_logits_give_vocabulary_size():
    metric = Perplexity()
    y_true = np.array([[3, 1, 0, 0], [2, 2, 5, 0]])
    metric.update_state(y_true, np.zeros((2, 4, 6), np.float32))
    assert float(metric.result()) == pytest.approx(6.0, rel=1e-5)


def test_metric_equals_exp_of_masked_mean_cross_entropy():
    rng = np.random.default_rng(0)
    metric = Perplexity()
    assert float(metric.result()) == 0.0
    total = count = 0.0
    for lengths in ([3, 5, 1], [5, 2, 4]):
        y_true = rng.integers(1, 9, size=(3, 5))
        for row, n in zip(y_true, lengths):
            row[n:] = 0
        logits = rng.normal(size=(3, 5, 9)).astype("float32") * 2
        metric.update_state(y_true, logits)
        t, c = masked_cross_entropy(y_true, logits, y_true != 0)
        total, count = total + t, count + c
    assert count == 20
    assert float(metric.result()) == pytest.approx(
        math.exp(total / count), rel=1e-5
    )
    # Probabilities instead of logits, and per-sequence weights.
    weights = np.array([1.0, 0.0, 2.0])
    probs_metric = Perplexity(from_logits=False)
    probs_metric.update_state(
        y_true, tf.nn.softmax(logits), sample_weight=weights
    )
    t, c = masked_cross_entropy(
        y_true, logits, (y_true != 0) * weights[:, None]
    )
    assert float(probs_metric.result()) == pytest.approx(
        math.exp(t / c), rel=1e-5
    )
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_metric_config_round_trip():
    metric = Perplexity(padding_id=None, from_logits=False, name="ppl")
    config = metric.get_config()
    assert config["padding_id"] is None and config["from_logits"] is False
    clone = Perplexity.from_config(config)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(metric)
    )
    assert isinstance(restored, Perplexity)
    y_true = np.array([[1, 0, 2]])
    probs = np.full((1, 3, 4), 0.25, np.float32)
    for m in (metric, clone, restored):
        m.update_state(y_true, probs)
        # padding_id=None counts the 0 too: uniform over 4 gives 4.
        assert float(m.result()) == pytest.approx(4.0, rel=1e-5)
        assert m.name == "ppl"
    with pytest.raises(ValueError, match="Received: padding_id=0.5"):
        Perplexity(padding_id=0.5)


def test_metric_in_fit_and_keras_round_trip():
    rng = np.random.default_rng(1)
    vocab = 11
    x = rng.integers(1, vocab, size=(8, 5))
    y = np.where(np.arange(5) < rng.integers(2, 6, size=(8, 1)), x, 0)
    inputs = keras.Input((5,), dtype="int32")
    logits = keras.layers.Dense(vocab)(keras.layers.Embedding(vocab, 4)(inputs))
    model = keras.Model(inputs, logits)
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[Perplexity()],
    )
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["perplexity"][0])
    got = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    t, c = masked_cross_entropy(y, model.predict(x, verbose=0), y != 0)
    assert got["perplexity"] == pytest.approx(math.exp(t / c), rel=1e-4)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    again = loaded.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    assert again["perplexity"] == pytest.approx(got["perplexity"], rel=1e-6)
