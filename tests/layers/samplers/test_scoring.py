"""Tests of layers/samplers/scoring.py: the length-normalized objective and
the teacher-forced log-likelihood against numpy, on the fake model of
`tests.layers.samplers`."""

import numpy as np
import pytest

from layers.samplers.scoring import length_normalized_score
from layers.samplers.scoring import sequence_log_prob
from tests.layers.samplers import SOURCES
from tests.layers.samplers import MarkovModel
from tests.layers.samplers import numpy_score


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


def test_sequence_log_prob_matches_numpy():
    model = MarkovModel.random(5)
    targets = np.array([[3, 4, 2, 0, 0], [1, 2, 0, 0, 0], [4, 4, 4, 3, 1]])
    got = sequence_log_prob(model, SOURCES, targets).numpy()
    for i, source_row in enumerate(SOURCES):
        sequence = [t for t in targets[i] if t != 0]
        want = numpy_score(model, source_row, sequence)[0]
        assert got[i] == pytest.approx(want, abs=1e-5)
