"""Tests of pipelines/text/cooccurrence.py against a brute-force count."""

from collections import defaultdict

import numpy as np

from pipelines.text.cooccurrence import cooccurrence_matrix
from pipelines.text.corpus import EncodedCorpus


def brute_force(ids, sentence, window, symmetric):
    x = defaultdict(float)
    for i in range(len(ids)):
        for d in range(1, window + 1):
            j = i + d
            if j < len(ids) and sentence[j] == sentence[i]:
                x[(ids[i], ids[j])] += 1.0 / d
                if symmetric:
                    x[(ids[j], ids[i])] += 1.0 / d
    return x


def test_matrix_equals_brute_force_across_chunks():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 12, 400).astype(np.int32)
    sentence = np.cumsum(rng.random(400) < 0.08).astype(np.int32)
    corpus = EncodedCorpus(ids, sentence, 400)
    # Several chunks, each cut at a sentence boundary (a sentence longer
    # than a chunk would be cut, losing the pairs across the cut).
    chunk = int(np.bincount(sentence).max()) + 1
    assert chunk < 100
    for symmetric in (True, False):
        m = cooccurrence_matrix(
            corpus, 12, window=3, symmetric=symmetric, chunk_tokens=chunk
        )
        want = brute_force(ids.tolist(), sentence.tolist(), 3, symmetric)
        got = {(int(i), int(j)): v for i, j, v in zip(m.row, m.col, m.data)}
        assert set(got) == set(want)
        for key, value in want.items():
            assert abs(got[key] - value) < 1e-9
    dense = cooccurrence_matrix(corpus, 12, window=3).toarray()
    np.testing.assert_allclose(dense, dense.T)


def test_hand_counted_sentence():
    # "a b a" (ids 0 1 0), window 2: X[a,b] = 1 + 1 (d=1 both), X[a,a] =
    # 1/2 twice (symmetric), X[b,a] = 2.
    corpus = EncodedCorpus(np.array([0, 1, 0]), np.zeros(3, np.int32), 3)
    dense = cooccurrence_matrix(corpus, 2, window=2).toarray()
    np.testing.assert_allclose(dense, [[1.0, 2.0], [2.0, 0.0]])
