"""Teacher-forcing translation batches: shapes, START/END, padding, drops."""

import logging

import numpy as np
import pytest
import tensorflow as tf

from pipelines.text.tokenizers import END_ID
from pipelines.text.tokenizers import START_ID
from pipelines.text.tokenizers import TextTokenizer
from pipelines.text.translation import TranslationReport
from pipelines.text.translation import bucket_boundaries
from pipelines.text.translation import build_translation_dataset
from pipelines.text.translation import count_tokens

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-"


@pytest.fixture(scope="module")
def chars():
    return TextTokenizer.characters(ALPHABET)


def _pairs(n, seed=0):
    """Source `k` letters `a..`, target the digits of k: easy to check."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 12, size=n)
    sources = ["abcdefghijkl"[:k] for k in lengths]
    targets = [str(k) * int(k) for k in lengths]  # k copies of digit(s)
    return sources, targets


def _batches(dataset):
    return [
        (s.numpy(), t_in.numpy(), t_out.numpy()) for (s, t_in), t_out in dataset
    ]


def test_shapes_dtypes_start_end_and_padding(chars):
    sources, targets = _pairs(20)
    dataset = build_translation_dataset(
        sources,
        targets,
        chars,
        chars,
        batch_size=4,
        max_length=30,
        shuffle=False,
        seed=None,
        bucket=False,
    )
    spec = dataset.element_spec
    assert spec[0][0].shape.as_list() == [None, None]
    assert all(s.dtype == tf.int32 for s in (spec[0][0], spec[0][1], spec[1]))
    batches = _batches(dataset)
    assert [len(b[0]) for b in batches] == [4] * 5
    src, t_in, t_out = batches[0]
    for row in range(4):
        ids = chars.tokenize(tf.constant([targets[row]])).to_list()[0]
        n = len(ids)
        assert t_in[row, : n + 1].tolist() == [START_ID] + ids
        assert t_out[row, : n + 1].tolist() == ids + [END_ID]
        assert not t_in[row, n + 1 :].any() and not t_out[row, n + 1 :].any()
        k = len(sources[row])
        assert src[row, :k].min() > END_ID and not src[row, k:].any()
    assert t_in.shape == t_out.shape
    # Padded to the longest row of the batch, no more.
    assert src.shape[1] == max(len(s) for s in sources[:4])


def test_over_long_pairs_dropped_counted_and_logged(chars, caplog):
    sources = ["abc", "abcdefgh", "ab", "a"]
    targets = ["12", "1", "123456789", ""]
    report = TranslationReport()
    with caplog.at_level(logging.WARNING):
        dataset = build_translation_dataset(
            sources,
            targets,
            chars,
            chars,
            batch_size=8,
            max_length=6,
            shuffle=False,
            seed=None,
            report=report,
        )
    # Source of 8 > 6; target 9 + [END] > 6; the last target is empty.
    assert (report.pairs, report.kept, report.too_long, report.empty) == (
        4,
        1,
        2,
        1,
    )
    assert (report.longest_source, report.longest_target) == (8, 10)
    assert "dropped 2 of 4 pairs longer than max_length=6" in caplog.text
    (batch,) = _batches(dataset)
    assert batch[0].tolist() == chars.tokenize(tf.constant(["abc"])).to_list()
    assert report.target_tokens == 3 == count_tokens(dataset)
    nothing = TranslationReport()
    empty = build_translation_dataset(
        [],
        [],
        chars,
        chars,
        batch_size=2,
        max_length=5,
        shuffle=True,
        seed=0,
        report=nothing,
    )
    assert _batches(empty) == [] and nothing.kept == 0


def test_bucketing_keeps_every_pair_and_pads_less(chars):
    sources, targets = _pairs(200, seed=1)
    kwargs = dict(batch_size=8, max_length=40, shuffle=True, seed=3)
    report = TranslationReport()
    bucketed = build_translation_dataset(
        sources, targets, chars, chars, report=report, **kwargs
    )
    plain = build_translation_dataset(
        sources, targets, chars, chars, bucket=False, **kwargs
    )
    assert len(report.bucket_boundaries) >= 2

    def stats(dataset):
        batches = _batches(dataset)
        rows = sum(len(b[0]) for b in batches)
        cells = sum(b[1].size for b in batches)
        return rows, cells, count_tokens(dataset)

    rows_b, cells_b, tokens_b = stats(bucketed)
    rows_p, cells_p, tokens_p = stats(plain)
    assert rows_b == rows_p == 200
    assert tokens_b == tokens_p == report.target_tokens
    assert cells_b < cells_p  # less padding


def test_same_seed_same_batches_other_seed_differs(chars):
    sources, targets = _pairs(64, seed=2)

    def first_epoch(seed):
        dataset = build_translation_dataset(
            sources,
            targets,
            chars,
            chars,
            batch_size=8,
            max_length=40,
            shuffle=True,
            seed=seed,
        )
        return [b[0].tolist() for b in _batches(dataset)]

    assert first_epoch(7) == first_epoch(7)
    assert first_epoch(7) != first_epoch(8)


def test_bucket_boundaries_and_argument_checks(chars):
    lengths = np.arange(1, 101)
    assert bucket_boundaries(lengths, max_length=100, num_buckets=4) == [
        26,
        51,
        76,
    ]
    assert bucket_boundaries(lengths, max_length=50, num_buckets=4) == [26]
    with pytest.raises(ValueError, match="2 sources, 1 targets"):
        build_translation_dataset(
            ["a", "b"],
            ["c"],
            chars,
            chars,
            batch_size=2,
            max_length=5,
            shuffle=False,
            seed=None,
        )
    with pytest.raises(ValueError, match="max_length=1"):
        build_translation_dataset(
            ["a"],
            ["c"],
            chars,
            chars,
            batch_size=2,
            max_length=1,
            shuffle=False,
            seed=None,
        )
