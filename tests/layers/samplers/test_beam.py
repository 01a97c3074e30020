"""Tests of layers/samplers/beam.py against brute-force enumeration and
hand-made Markov chains, on the fake model of `tests.layers.samplers`."""

import math

import numpy as np
import pytest
import tensorflow as tf

from layers.samplers.beam import beam_search
from layers.samplers.greedy import greedy_decode
from tests.layers.samplers import EOS
from tests.layers.samplers import SOURCES
from tests.layers.samplers import A
from tests.layers.samplers import B
from tests.layers.samplers import MarkovModel
from tests.layers.samplers import brute_force
from tests.layers.samplers import numpy_score
from tests.layers.samplers import padded


@pytest.mark.parametrize("seed", [0, 3])
def test_beam_size_one_equals_greedy(seed):
    model = MarkovModel.random(seed)
    greedy = greedy_decode(model, SOURCES, max_length=6)
    beam = beam_search(model, SOURCES, beam_size=1, max_length=6, alpha=0.0)
    np.testing.assert_array_equal(beam["tokens"][:, 0], greedy["tokens"])
    np.testing.assert_array_equal(beam["lengths"][:, 0], greedy["lengths"])
    np.testing.assert_allclose(
        beam["log_probs"][:, 0], greedy["scores"], atol=1e-5
    )
    np.testing.assert_allclose(
        beam["scores"][:, 0], greedy["scores"], atol=1e-5
    )
    np.testing.assert_allclose(
        beam["attention"][:, 0], greedy["attention"], atol=1e-6
    )


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_large_beam_finds_the_exact_n_best(alpha):
    # With Ty <= 4 and 3 words there are 121 outputs; a beam of 108 holds
    # every candidate of every step, so beam search is exhaustive.
    model = MarkovModel.random(7)
    max_length = 4
    out = beam_search(
        model,
        SOURCES[:2],
        beam_size=108,
        max_length=max_length,
        alpha=alpha,
        num_return=5,
    )
    for i, source_row in enumerate(SOURCES[:2]):
        best = brute_force(model, source_row, max_length, alpha)[:5]
        want_tokens = [padded(s, max_length) for _, _, s in best]
        assert out["tokens"][i].numpy().tolist() == want_tokens
        np.testing.assert_allclose(
            out["scores"][i], [s for s, _, _ in best], atol=1e-5
        )
        np.testing.assert_allclose(
            out["log_probs"][i], [lp for _, lp, _ in best], atol=1e-5
        )
        assert out["lengths"][i].numpy().tolist() == [len(s) for *_, s in best]


def test_length_normalization_changes_the_winner():
    # The data of the test above: the objective matters there.
    model = MarkovModel.random(7)
    raw = brute_force(model, SOURCES[0], 4, 0.0)[0][2]
    normalized = brute_force(model, SOURCES[0], 4, 1.0)[0][2]
    assert len(raw) < len(normalized)
    for alpha, want in ((0.0, raw), (1.0, normalized)):
        out = beam_search(
            model, SOURCES[:1], beam_size=108, max_length=4, alpha=alpha
        )
        assert out["tokens"][0, 0].numpy().tolist() == padded(want, 4)


def test_returned_hypotheses_carry_their_scores_and_attention():
    model = MarkovModel.random(1)
    alpha = 0.6
    out = beam_search(
        model, SOURCES, beam_size=3, max_length=5, alpha=alpha, num_return=3
    )
    assert out["tokens"].shape == (3, 3, 5)
    assert out["attention"].shape == (3, 3, 5, 4)
    for i, source_row in enumerate(SOURCES):
        for k in range(3):
            n = int(out["lengths"][i, k])
            tokens = out["tokens"][i, k].numpy()
            assert np.all(tokens[:n] != 0) and np.all(tokens[n:] == 0)
            assert n == 5 or tokens[n - 1] == EOS
            log_prob, rows, _ = numpy_score(model, source_row, tokens[:n])
            assert float(out["log_probs"][i, k]) == pytest.approx(
                log_prob, abs=1e-5
            )
            assert float(out["scores"][i, k]) == pytest.approx(
                log_prob / n**alpha, abs=1e-5
            )
            np.testing.assert_allclose(
                out["attention"][i, k, :n], rows, atol=1e-6
            )
            assert np.all(out["attention"][i, k, n:].numpy() == 0)


def test_n_best_sorted_and_distinct():
    model = MarkovModel.random(2)
    out = beam_search(
        model, SOURCES, beam_size=4, max_length=5, alpha=0.6, num_return=4
    )
    scores = out["scores"].numpy()
    assert np.all(np.isfinite(scores))
    assert np.all(np.diff(scores, axis=1) <= 0)
    for i in range(3):
        rows = {tuple(r) for r in out["tokens"][i].numpy().tolist()}
        assert len(rows) == 4
    fewer = beam_search(
        model, SOURCES, beam_size=4, max_length=5, alpha=0.6, num_return=2
    )
    np.testing.assert_array_equal(fewer["tokens"], out["tokens"][:, :2])


# Hand-made chain: 0 pad, 1 bos, 2 eos, 3 "a", 4 "b".
EARLY_EOS = [
    [0, 0, 0, 0, 0],
    [0, 0, 0.6, 0.3, 0.1],  # after bos
    [0, 0, 1.0, 0, 0],  # after eos (never used)
    [0, 0, 0.1, 0.6, 0.3],  # after a
    [0, 0, 0.2, 0.4, 0.4],  # after b
]


def test_early_finished_hypothesis_is_kept_and_padded():
    # [eos] (p = 0.6) finishes at the first step while the beams go on;
    # the runner-up [a, a, a] (0.3 * 0.6 * 0.6) is truncated at 3 tokens.
    model = MarkovModel.from_probs(EARLY_EOS)
    out = beam_search(
        model, SOURCES[:2], beam_size=2, max_length=3, alpha=0.6, num_return=2
    )
    for i in range(2):
        assert out["tokens"][i].numpy().tolist() == [[2, 0, 0], [3, 3, 3]]
        assert out["lengths"][i].numpy().tolist() == [1, 3]
        np.testing.assert_allclose(
            out["log_probs"][i], np.log([0.6, 0.108]), atol=1e-5
        )
        np.testing.assert_allclose(
            out["scores"][i],
            [math.log(0.6), math.log(0.108) / 3**0.6],
            atol=1e-5,
        )
        assert np.all(out["attention"][i, 0, 1:].numpy() == 0)
    greedy = greedy_decode(model, SOURCES[:2], max_length=3)
    assert greedy["tokens"].numpy().tolist() == [[2, 0, 0], [2, 0, 0]]
    assert greedy["lengths"].numpy().tolist() == [1, 1]


# [eos] (0.55) finishes first; [a, b, eos] (0.45 * 0.9 * 0.9) is longer.
SHORT_FIRST = [
    [0, 0, 0, 0, 0],
    [0, 0, 0.55, 0.45, 0],  # after bos
    [0, 0, 1.0, 0, 0],
    [0, 0, 0.1, 0, 0.9],  # after a
    [0, 0, 0.9, 0.05, 0.05],  # after b
]


def test_search_goes_on_while_an_alive_beam_can_still_win():
    # With a full finished set ([eos], score log 0.55 = -0.60) the alive
    # [a] (log 0.45) may still reach log 0.45 / 4 = -0.20 at alpha 1: the
    # search goes on and finds [a, b, eos], log(0.3645) / 3 = -0.34.
    model = MarkovModel.from_probs(SHORT_FIRST)
    greedy = greedy_decode(model, SOURCES[:1], max_length=4)
    assert greedy["tokens"][0].numpy().tolist() == [EOS, 0, 0, 0]
    raw = beam_search(model, SOURCES[:1], beam_size=1, max_length=4, alpha=0.0)
    assert raw["tokens"][0, 0].numpy().tolist() == [EOS, 0, 0, 0]
    mean = beam_search(model, SOURCES[:1], beam_size=1, max_length=4, alpha=1.0)
    assert mean["tokens"][0, 0].numpy().tolist() == [A, B, EOS, 0]
    assert float(mean["scores"][0, 0]) == pytest.approx(
        math.log(0.45 * 0.9 * 0.9) / 3, abs=1e-5
    )


def test_under_tf_function_with_dynamic_batch_and_max_length():
    model = MarkovModel.random(4)
    spec = [tf.TensorSpec([None, None], tf.int32)]

    @tf.function(input_signature=spec)
    def beam(source_ids):
        max_length = tf.shape(source_ids)[1] + 1
        return beam_search(
            model, source_ids, beam_size=3, max_length=max_length, alpha=0.6
        )

    for sources in (SOURCES, SOURCES[:2, :3]):
        max_length = sources.shape[1] + 1
        eager_beam = beam_search(
            model, sources, beam_size=3, max_length=max_length, alpha=0.6
        )
        graph_beam = beam(tf.constant(sources))
        for key in eager_beam:
            np.testing.assert_allclose(
                graph_beam[key], eager_beam[key], atol=1e-6, err_msg=key
            )
        assert graph_beam["tokens"].shape == (len(sources), 1, max_length)
    assert beam.experimental_get_tracing_count() == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"beam_size": 0},
        {"beam_size": 2, "num_return": 3},
        {"alpha": -0.5},
        {"max_length": 0},
    ],
)
def test_bad_arguments_raise(kwargs):
    args = {"beam_size": 2, "max_length": 3, **kwargs}
    with pytest.raises(ValueError, match="Received"):
        beam_search(MarkovModel.random(0), SOURCES, **args)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heuristic_stop_equals_exact_without_length_normalization(seed):
    # With alpha = 0 both bounds are the alive beam's log-likelihood.
    model = MarkovModel.random(seed)
    exact = beam_search(model, SOURCES, beam_size=3, max_length=6, alpha=0.0)
    quick = beam_search(
        model, SOURCES, beam_size=3, max_length=6, alpha=0.0, stop="heuristic"
    )
    for key in ("tokens", "lengths"):
        np.testing.assert_array_equal(quick[key], exact[key])
    np.testing.assert_allclose(quick["scores"], exact["scores"], atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_heuristic_stop_never_beats_exact(seed):
    # The exact search's best is the best among what a beam can reach; the
    # heuristic stops earlier, so it finds that or something worse.
    model = MarkovModel.random(seed)
    exact = beam_search(model, SOURCES, beam_size=2, max_length=6, alpha=1.0)
    quick = beam_search(
        model, SOURCES, beam_size=2, max_length=6, alpha=1.0, stop="heuristic"
    )
    assert np.all(quick["scores"][:, 0] <= exact["scores"][:, 0] + 1e-6)
    assert np.all(np.isfinite(quick["scores"][:, 0]))


def test_without_attention_the_search_is_the_same():
    model = MarkovModel.random(4)
    kwargs = dict(beam_size=3, max_length=6, alpha=0.6, num_return=2)
    full = beam_search(model, SOURCES, **kwargs)
    lean = beam_search(model, SOURCES, return_attention=False, **kwargs)
    assert "attention" not in lean
    for key in ("tokens", "lengths"):
        np.testing.assert_array_equal(lean[key], full[key])
    np.testing.assert_allclose(lean["scores"], full["scores"], atol=1e-6)


def test_unknown_stop_rule_raises():
    with pytest.raises(ValueError, match="stop"):
        beam_search(
            MarkovModel.random(0), SOURCES, beam_size=2, max_length=4, stop="x"
        )
