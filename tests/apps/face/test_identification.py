"""Rank-1 and one-shot identification."""

import numpy as np
import pytest

from apps.face import identification


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_identification_rank1_hand_case_with_one_error():
    gallery = _unit([[1, 0], [0, 1]])
    probes = _unit([[0.8, 0.6], [0.6, 0.8], [0.0, 1.0]])
    rate = identification.identification_rank1(
        gallery, ["a", "b"], probes, ["a", "a", "b"]
    )
    assert rate == pytest.approx(2 / 3)


def test_one_shot_identification_on_separable_clusters():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 4)
    emb = _unit(np.eye(8)[labels] + 0.05 * rng.normal(size=(20, 8)))
    assert identification.one_shot_identification(
        emb, labels, trials=5, seed=0
    ) == (
        1.0,
        0.0,
    )
    # Two identities on top of each other: chance level on those probes.
    mixed = _unit(
        np.eye(8)[np.minimum(labels, 3)] + 0.3 * rng.normal(size=(20, 8))
    )
    mean, std = identification.one_shot_identification(
        mixed, labels, trials=20, seed=0
    )
    assert 0.55 < mean < 1.0 and std > 0
    with pytest.raises(ValueError, match="at least two samples"):
        identification.one_shot_identification(
            emb[:5], np.arange(5), trials=1, seed=0
        )
