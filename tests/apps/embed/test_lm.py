"""Tests of apps/embed/lm.py: Kneser-Ney by hand, normalisation, and
perplexity on a hand-computed distribution."""

import math

import numpy as np
import pytest

from apps.embed.lm import KneserNeyLM


def test_unigram_kneser_ney_by_hand():
    # Stream 0 0 1 2, V = 4: counts 2, 1, 1; n1 = 2, n2 = 1, so
    # D = 2 / (2 + 2) = 0.5; P(w) = max(c - D, 0) / 4 + D * 3 / 4 / 4.
    model = KneserNeyLM(1, 4).fit([0, 0, 1, 2])
    assert model.discounts == [0.5]
    expected = [0.46875, 0.21875, 0.21875, 0.09375]
    got = [model.probability(w, ()) for w in range(4)]
    np.testing.assert_allclose(got, expected)
    # Perplexity of "0 3": (1 / (P(0) P(3)))^(1/2), the cheatsheet's form.
    want = (1 / (0.46875 * 0.09375)) ** 0.5
    assert model.perplexity([0, 3]) == pytest.approx(want)
    assert want == pytest.approx(4.77029, rel=1e-5)


def test_distributions_sum_to_one_and_unseen_words_have_mass():
    rng = np.random.default_rng(0)
    stream = rng.integers(0, 8, 300).tolist()
    model = KneserNeyLM(3, 10).fit(stream)
    for history in [(), (1,), (2, 3), (9, 9), (stream[5], stream[6])]:
        probs = [model.probability(w, history) for w in range(10)]
        assert sum(probs) == pytest.approx(1.0)
        assert min(probs) > 0  # words 8 and 9 never occur


def test_higher_order_helps_on_a_repeating_stream(tmp_path):
    stream = [0, 1, 2, 3] * 50
    test = [0, 1, 2, 3] * 5
    uni = KneserNeyLM(1, 4).fit(stream).perplexity(test)
    tri = KneserNeyLM(3, 4).fit(stream)
    assert uni == pytest.approx(4.0, rel=0.01)  # uniform counts
    assert tri.perplexity(test) < 1.2
    tri.save(tmp_path / "m.npz")
    again = KneserNeyLM.load(tmp_path / "m.npz")
    assert again.perplexity(test) == pytest.approx(tri.perplexity(test))
    log_p, count = again.log_likelihood(test)
    assert count == 20 and log_p < 0 and math.isfinite(log_p)
