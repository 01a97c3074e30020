"""Tests of layers/samplers/greedy.py: step-by-step argmax against numpy,
eagerly and under `tf.function`, on the fake model of
`tests.layers.samplers`."""

import numpy as np
import pytest
import tensorflow as tf

from layers.samplers.greedy import greedy_decode
from tests.layers.samplers import EOS
from tests.layers.samplers import SOURCES
from tests.layers.samplers import MarkovModel
from tests.layers.samplers import numpy_score
from tests.layers.samplers import padded


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


def test_under_tf_function_with_dynamic_batch_and_max_length():
    model = MarkovModel.random(4)
    spec = [tf.TensorSpec([None, None], tf.int32)]

    @tf.function(input_signature=spec)
    def greedy(source_ids):
        max_length = tf.shape(source_ids)[1] + 1
        return greedy_decode(model, source_ids, max_length=max_length)

    for sources in (SOURCES, SOURCES[:2, :3]):
        max_length = sources.shape[1] + 1
        eager_greedy = greedy_decode(model, sources, max_length=max_length)
        graph_greedy = greedy(tf.constant(sources))
        for key in eager_greedy:
            np.testing.assert_allclose(
                graph_greedy[key], eager_greedy[key], atol=1e-6, err_msg=key
            )
    assert greedy.experimental_get_tracing_count() == 1
