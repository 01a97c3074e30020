"""Tests of pipelines/text/skipgram.py: vectorised pair generation
against a brute-force enumeration, subsampling against word2vec's
formula, the unigram^0.75 table, and the chunked dataset."""

from collections import Counter

import numpy as np
import pytest

from pipelines.text.corpus import EncodedCorpus
from pipelines.text.skipgram import build_pair_dataset
from pipelines.text.skipgram import cbow_windows
from pipelines.text.skipgram import chunk_bounds
from pipelines.text.skipgram import iter_chunks
from pipelines.text.skipgram import keep_probabilities
from pipelines.text.skipgram import noise_distribution
from pipelines.text.skipgram import noise_table
from pipelines.text.skipgram import skipgram_pairs


def _random_corpus(seed, n=300, vocab=20, window=4):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, n).astype(np.int32)
    sentence = np.cumsum(rng.random(n) < 0.1).astype(np.int32)
    reduced = rng.integers(1, window + 1, n).astype(np.int32)
    return ids, sentence, reduced


def brute_force_pairs(ids, sentence, reduced):
    pairs = Counter()
    for i in range(len(ids)):
        for j in range(i - reduced[i], i + reduced[i] + 1):
            if j != i and 0 <= j < len(ids) and sentence[j] == sentence[i]:
                pairs[(int(ids[i]), int(ids[j]))] += 1
    return pairs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_skipgram_pairs_equal_brute_force(seed):
    ids, sentence, reduced = _random_corpus(seed)
    centers, contexts = skipgram_pairs(ids, sentence, reduced, 4)
    assert centers.dtype == np.int32 and contexts.dtype == np.int32
    got = Counter(zip(centers.tolist(), contexts.tolist()))
    assert got == brute_force_pairs(ids, sentence, reduced)


def test_pairs_of_tiny_inputs():
    one = np.array([3], np.int32)
    centers, contexts = skipgram_pairs(one, one * 0, one * 0 + 2, 2)
    assert len(centers) == 0 and len(contexts) == 0
    ids = np.array([1, 2], np.int32)
    centers, _ = skipgram_pairs(ids, np.array([0, 1]), np.array([2, 2]), 2)
    assert len(centers) == 0  # never across a sentence boundary


def test_cbow_windows_equal_brute_force():
    ids, sentence, reduced = _random_corpus(3, n=120)
    centers, contexts = cbow_windows(ids, sentence, reduced, 4)
    expected = []
    for i in range(len(ids)):
        ctx = sorted(
            int(ids[j])
            for j in range(i - reduced[i], i + reduced[i] + 1)
            if j != i and 0 <= j < len(ids) and sentence[j] == sentence[i]
        )
        if ctx:
            expected.append((int(ids[i]), ctx))
    got = [
        (int(c), sorted(int(x) for x in row if x >= 0))
        for c, row in zip(centers, contexts)
    ]
    assert got == expected
    assert contexts.shape[1] == 8


def test_keep_probabilities_follow_word2vec():
    counts = np.array([1000, 100, 10, 1])
    sample = 1e-2
    threshold = sample * counts.sum()
    expected = np.minimum(
        (np.sqrt(counts / threshold) + 1) * threshold / counts, 1.0
    )
    np.testing.assert_allclose(keep_probabilities(counts, sample), expected)
    assert keep_probabilities(counts, sample)[0] < 0.5  # frequent: dropped
    assert keep_probabilities(counts, sample)[-1] == 1.0  # rare: kept
    np.testing.assert_array_equal(keep_probabilities(counts, 0), 1.0)


def test_noise_table_follows_unigram_to_three_quarters():
    counts = np.array([81, 16, 1])  # ^0.75: 27, 8, 1
    np.testing.assert_allclose(
        noise_distribution(counts), [27 / 36, 8 / 36, 1 / 36]
    )
    table = noise_table(counts, size=36000)
    shares = np.bincount(table, minlength=3) / len(table)
    np.testing.assert_allclose(shares, [27 / 36, 8 / 36, 1 / 36], atol=1e-4)


def test_chunks_cut_at_sentences_and_repeat_per_seed():
    ids, sentence, _ = _random_corpus(4, n=500)
    bounds = chunk_bounds(sentence, 64)
    assert bounds[0][0] == 0 and bounds[-1][1] == 500
    for (_, end), (start, _) in zip(bounds, bounds[1:]):
        assert end == start and sentence[start - 1] != sentence[start]
    corpus = EncodedCorpus(ids, sentence, 500)
    counts = np.bincount(ids, minlength=20)
    first = list(iter_chunks(corpus, counts, window=3, chunk_tokens=64))
    again = list(iter_chunks(corpus, counts, window=3, chunk_tokens=64))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a[0], b[0])
    assert first[-1][2] == 500  # words done at the end of the epoch
    # A resumed epoch 1 draws what an uninterrupted run draws.
    two = list(iter_chunks(corpus, counts, chunk_tokens=64, epochs=2))
    resumed = list(
        iter_chunks(corpus, counts, chunk_tokens=64, epochs=2, start_epoch=1)
    )
    np.testing.assert_array_equal(two[len(bounds)][1], resumed[0][1])
    assert resumed[-1][2] == 1000


def test_unsubsampled_chunks_hold_all_pairs():
    ids, sentence, _ = _random_corpus(5, n=400)
    corpus = EncodedCorpus(ids, sentence, 400)
    counts = np.bincount(ids, minlength=20)
    window = 1  # reduced windows are then all 1: the pairs are fixed
    got = Counter()
    for c, t, _, _ in iter_chunks(
        corpus, counts, window=window, sample=0, chunk_tokens=50
    ):
        got.update(zip(c.tolist(), t.tolist()))
    assert got == brute_force_pairs(ids, sentence, np.ones(400, int))


def test_dataset_yields_chunks():
    ids, sentence, _ = _random_corpus(6, n=300)
    corpus = EncodedCorpus(ids, sentence, 300)
    counts = np.bincount(ids, minlength=20)
    ds = build_pair_dataset(
        corpus, counts, mode="cbow", window=2, chunk_tokens=100, epochs=2
    )
    chunks = list(ds.as_numpy_iterator())
    assert len(chunks) >= 4
    assert chunks[0]["contexts"].shape[1] == 4
    assert chunks[-1]["words_done"] == 600 and chunks[-1]["epoch"] == 1
