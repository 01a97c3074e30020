"""Tests of layers/metrics/error_analysis.py: search errors and model
errors told apart on a hand-made Markov chain (the fake model of
`tests.layers.samplers`)."""

import math

import numpy as np
import pytest

from layers.metrics.error_analysis import error_analysis
from layers.samplers.beam import beam_search
from tests.layers.samplers import EOS
from tests.layers.samplers import SOURCES
from tests.layers.samplers import A
from tests.layers.samplers import B
from tests.layers.samplers import MarkovModel

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
