"""Tests of layers/decoding.py on a tiny fake model whose every output
sequence can be enumerated and scored in numpy."""

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

from layers.decoding import beam_search
from layers.decoding import error_analysis
from layers.decoding import greedy_decode
from layers.decoding import length_normalized_score
from layers.decoding import sequence_log_prob

VOCAB = 5
BOS = 1
EOS = 2
A = 3
B = 4
WORDS = (1, 3, 4)  # what a decoder may emit besides eos (never pad 0)


class MarkovModel:
    """A fixed table of logits, with the decoding interface.

    The next-token logits depend on the previous token, the token before it
    (kept in the cache: a wrong cache reorder changes them), the counts of
    all tokens fed so far (a cache preallocated for `max_length`), the step
    and the source tokens. The attention depends on the fed token.
    """

    bos_id = BOS
    eos_id = EOS

    def __init__(self, first, second=None, count=None, source=None, step=None):
        zeros = np.zeros((VOCAB, VOCAB), np.float32)
        self.first = np.asarray(first, np.float32)
        self.second = zeros if second is None else np.float32(second)
        self.count = zeros if count is None else np.float32(count)
        self.source = zeros if source is None else np.float32(source)
        self.step = np.zeros(VOCAB, np.float32) if step is None else step
        self.step = np.float32(self.step)

    @classmethod
    def random(cls, seed):
        rng = np.random.default_rng(seed)

        def table(scale):
            return rng.normal(size=(VOCAB, VOCAB)) * scale

        count = table(0.5)
        count[0] = 0.0
        source = table(0.5)
        source[0] = 0.0
        return cls(
            table(1.5), table(1.0), count, source, rng.normal(size=VOCAB)
        )

    @classmethod
    def from_probs(cls, probs):
        """First-order Markov chain: `probs[previous, next]`."""
        return cls(np.log(np.maximum(np.asarray(probs, np.float64), 1e-9)))

    def encode(self, source_ids, training=False):
        counts = tf.reduce_sum(tf.one_hot(source_ids, VOCAB), axis=1)
        return {
            "bias": tf.matmul(counts, self.source),
            "keys": tf.cast(source_ids, tf.float32),
        }

    def initial_cache(self, encoded, max_length):
        batch = tf.shape(encoded["bias"])[0]
        return {
            "before": tf.zeros([batch], tf.int32),
            "history": tf.zeros([batch, max_length], tf.int32),
        }

    def next(self, tokens, cache, encoded, step):
        history = cache["history"]
        counts = tf.reduce_sum(tf.one_hot(history, VOCAB), axis=1)
        step_f = tf.cast(step, tf.float32)
        logits = (
            tf.gather(self.first, tokens)
            + tf.gather(self.second, cache["before"])
            + tf.matmul(counts, self.count)
            + encoded["bias"]
            + step_f * self.step
        )
        attention = tf.nn.softmax(
            encoded["keys"]
            * (0.3 * tf.cast(tokens, tf.float32)[:, None] + 0.1 * step_f),
            axis=-1,
        )
        at = tf.range(tf.shape(history)[1])[None, :] == step
        history = tf.where(at, tokens[:, None], history)
        return logits, {"before": tokens, "history": history}, attention


def numpy_score(model, source_row, sequence):
    """Log-probability of `sequence` and its attention rows, in float64."""
    source_row = np.asarray(source_row)
    bias = model.source[source_row].sum(0).astype(np.float64)
    keys = source_row.astype(np.float64)
    fed, before, history = BOS, 0, []
    total, rows, log_probs = 0.0, [], []
    for t, token in enumerate(sequence):
        counts = np.bincount(history, minlength=VOCAB).astype(np.float64)
        logits = (
            model.first[fed]
            + model.second[before]
            + counts @ model.count
            + bias
            + t * model.step
        ).astype(np.float64)
        log_p = logits - logits.max()
        log_p -= np.log(np.exp(log_p).sum())
        log_probs.append(log_p)
        total += log_p[token]
        z = keys * (0.3 * fed + 0.1 * t)
        rows.append(np.exp(z - z.max()) / np.exp(z - z.max()).sum())
        history.append(fed)
        before, fed = fed, token
    return total, np.array(rows), log_probs


def all_sequences(max_length):
    """Every output: words then eos (Ty <= max_length), or truncated."""
    for n in range(1, max_length + 1):
        for prefix in itertools.product(WORDS, repeat=n - 1):
            yield prefix + (EOS,)
    yield from itertools.product(WORDS, repeat=max_length)


def brute_force(model, source_row, max_length, alpha):
    scored = []
    for sequence in all_sequences(max_length):
        log_prob = numpy_score(model, source_row, sequence)[0]
        score = log_prob / len(sequence) ** alpha
        scored.append((score, log_prob, sequence))
    return sorted(scored, key=lambda x: -x[0])


def padded(sequence, max_length):
    return list(sequence) + [0] * (max_length - len(sequence))


SOURCES = np.array([[3, 4, 2, 0], [4, 4, 1, 3], [1, 0, 0, 0]], np.int32)


def test_length_normalized_score_formula():
    assert float(length_normalized_score(-6.0, 3, 0.0)) == -6.0
    assert float(length_normalized_score(-6.0, 3, 1.0)) == -2.0
    assert float(length_normalized_score(-6.0, 4, 0.5)) == -3.0
    log_probs = np.array([-1.5, -7.25, -3.0], np.float32)
    lengths = np.array([1, 9, 4])
    np.testing.assert_allclose(
        length_normalized_score(log_probs, lengths, 0.6).numpy(),
        log_probs / lengths**0.6,
        rtol=1e-6,
    )


def test_greedy_matches_numpy_argmax():
    model = MarkovModel.random(0)
    out = greedy_decode(model, SOURCES, max_length=6)
    assert out["tokens"].shape == (3, 6)
    assert out["attention"].shape == (3, 6, 4)
    for i, source_row in enumerate(SOURCES):
        # Step-by-step argmax over the non-padding tokens, in numpy.
        sequence = []
        while len(sequence) < 6 and EOS not in sequence:
            log_p = numpy_score(model, source_row, sequence + [EOS])[2][-1]
            sequence.append(int(np.argmax(log_p[1:])) + 1)
        log_prob, rows, _ = numpy_score(model, source_row, sequence)
        n = len(sequence)
        assert out["tokens"][i].numpy().tolist() == padded(sequence, 6)
        assert int(out["lengths"][i]) == n
        assert float(out["scores"][i]) == pytest.approx(log_prob, abs=1e-5)
        np.testing.assert_allclose(out["attention"][i, :n], rows, atol=1e-6)
        assert np.all(out["attention"][i, n:].numpy() == 0)


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

    @tf.function(input_signature=spec)
    def greedy(source_ids):
        max_length = tf.shape(source_ids)[1] + 1
        return greedy_decode(model, source_ids, max_length=max_length)

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
        eager_greedy = greedy_decode(model, sources, max_length=max_length)
        graph_greedy = greedy(tf.constant(sources))
        for key in eager_greedy:
            np.testing.assert_allclose(
                graph_greedy[key], eager_greedy[key], atol=1e-6, err_msg=key
            )
    assert beam.experimental_get_tracing_count() == 1
    assert greedy.experimental_get_tracing_count() == 1


def test_sequence_log_prob_matches_numpy():
    model = MarkovModel.random(5)
    targets = np.array([[3, 4, 2, 0, 0], [1, 2, 0, 0, 0], [4, 4, 4, 3, 1]])
    got = sequence_log_prob(model, SOURCES, targets).numpy()
    for i, source_row in enumerate(SOURCES):
        sequence = [t for t in targets[i] if t != 0]
        want = numpy_score(model, source_row, sequence)[0]
        assert got[i] == pytest.approx(want, abs=1e-5)


# Greedy takes "a" (0.5) then eos: [a, eos] = 0.25 < [b, eos] = 0.36.
GREEDY_TRAP = [
    [0, 0, 0, 0, 0],
    [0, 0, 0.1, 0.5, 0.4],  # after bos
    [0, 0, 1.0, 0, 0],
    [0, 0, 0.5, 0.3, 0.2],  # after a
    [0, 0, 0.9, 0.05, 0.05],  # after b
]


def test_error_analysis_blames_search_or_model():
    model = MarkovModel.from_probs(GREEDY_TRAP)
    sources = SOURCES
    narrow = beam_search(model, sources, beam_size=1, max_length=4)
    wide = beam_search(model, sources, beam_size=2, max_length=4)
    assert narrow["tokens"][0, 0].numpy().tolist() == [A, EOS, 0, 0]
    assert wide["tokens"][0, 0].numpy().tolist() == [B, EOS, 0, 0]
    references = [[B, EOS], [A, A, EOS], [B, EOS]]
    hypotheses = [
        narrow["tokens"][0, 0],  # misses the better [b, eos]: search
        narrow["tokens"][1, 0],  # model prefers [a, eos] over [a, a, eos]
        wide["tokens"][2, 0],  # equals the reference: skipped
    ]
    report = error_analysis(
        model, sources, references, np.stack(hypotheses), alpha=0.6
    )
    assert report["counts"] == {"search": 1, "model": 1, "skipped": 1}
    assert report["shares"] == {"search": 0.5, "model": 0.5}
    faults = [row["fault"] for row in report["rows"]]
    assert faults == ["search", "model", "equal"]
    first = report["rows"][0]
    assert first["reference_log_prob"] == pytest.approx(math.log(0.36), 1e-4)
    assert first["hypothesis_log_prob"] == pytest.approx(math.log(0.25), 1e-4)
    assert first["reference_score"] == pytest.approx(
        math.log(0.36) / 2**0.6, 1e-4
    )
    assert report["rows"][1]["reference_length"] == 3


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
