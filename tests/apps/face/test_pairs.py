"""Genuine and impostor pairs, and their squared L2 distances."""

import math

import numpy as np
import pytest

from apps.face import pairs


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_make_pairs_all_genuine_pairs_and_as_many_impostors():
    labels = np.array(["a", "a", "a", "b", "b", "c"])
    i, j, same = pairs.make_pairs(labels, num_pairs=None, seed=0)
    genuine = {(a, b) for a, b, s in zip(i, j, same) if s}
    assert genuine == {(0, 1), (0, 2), (1, 2), (3, 4)}
    assert same.sum() == (~same).sum() == 4
    assert np.all(i < j)
    assert np.all((labels[i] == labels[j]) == same)
    assert len(set(zip(i[~same], j[~same]))) == 4  # distinct impostors


def test_make_pairs_is_deterministic_and_caps_the_count():
    labels = np.repeat(np.arange(10), 5)  # 100 genuine pairs
    a = pairs.make_pairs(labels, num_pairs=40, seed=3)
    b = pairs.make_pairs(labels, num_pairs=40, seed=3)
    c = pairs.make_pairs(labels, num_pairs=40, seed=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert len(a[2]) == 40 and a[2].sum() == 20
    assert np.all((labels[a[0]] == labels[a[1]]) == a[2])


def test_make_pairs_sampling_path_for_large_sets(monkeypatch):
    monkeypatch.setattr(pairs, "_ENUMERATE_LIMIT", 10)
    labels = np.repeat(np.arange(20), 3)
    i, j, same = pairs.make_pairs(labels, num_pairs=None, seed=0)
    assert same.sum() == (~same).sum() == 60
    assert np.all((labels[i] == labels[j]) == same) and np.all(i < j)
    assert len(set(zip(i[~same], j[~same]))) == 60


def test_make_pairs_rejects_sets_without_both_kinds():
    with pytest.raises(ValueError, match="two or more samples"):
        pairs.make_pairs([1, 2, 3], num_pairs=None, seed=0)
    with pytest.raises(ValueError, match="at least two identities"):
        pairs.make_pairs([1, 1, 1], num_pairs=None, seed=0)


def test_pair_distances_are_squared_l2():
    emb = _unit([[1, 0], [0, 1], [-1, 0], [1, 1]])
    d = pairs.pair_distances(emb, [0, 0, 0, 1], [1, 2, 3, 1])
    np.testing.assert_allclose(d, [2.0, 4.0, 2 - math.sqrt(2), 0.0])
