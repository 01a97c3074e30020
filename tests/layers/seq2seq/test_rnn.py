"""Tests of layers/seq2seq/rnn.py: the decoding interface (shared checks
in `tests.layers.seq2seq`) on GRU and LSTM, uni- and bidirectional,
Bahdanau and Luong configurations, the parameter count, dropout and
argument errors."""

import numpy as np
import pytest

from layers.seq2seq.rnn import AttentionSeq2Seq
from tests.layers.seq2seq import SOURCE_VOCAB
from tests.layers.seq2seq import TARGET_VOCAB
from tests.layers.seq2seq import batch
from tests.layers.seq2seq import check_fit_reduces_loss
from tests.layers.seq2seq import check_keras_round_trip
from tests.layers.seq2seq import check_next_in_while_loop
from tests.layers.seq2seq import check_next_matches_call
from tests.layers.seq2seq import check_source_padding
from tests.layers.seq2seq import check_tile_and_gather

CONFIGS = {
    "gru-bahdanau": {},
    "lstm-luong-bidirectional-2": {
        "cell": "lstm",
        "attention": "luong",
        "bidirectional": True,
        "encoder_layers": 2,
    },
    "gru-bidirectional-dropout": {"bidirectional": True, "dropout": 0.2},
}


def small(**overrides):
    kwargs = {
        "source_vocab_size": SOURCE_VOCAB,
        "target_vocab_size": TARGET_VOCAB,
        "embedding_dim": 6,
        "units": 8,
        "attention_units": 5,
    }
    return AttentionSeq2Seq(**{**kwargs, **overrides})


@pytest.mark.parametrize("config", CONFIGS, ids=list(CONFIGS))
def test_next_matches_call(config):
    model = small(**CONFIGS[config])
    check_next_matches_call(model)
    check_source_padding(model)
    check_tile_and_gather(model)


@pytest.mark.parametrize(
    "config", ["gru-bahdanau", "lstm-luong-bidirectional-2"]
)
def test_next_in_while_loop_and_keras_round_trip(config):
    model = small(**CONFIGS[config])
    check_next_in_while_loop(model)
    check_keras_round_trip(model)


def test_fit_reduces_loss():
    check_fit_reduces_loss(small(units=16, embedding_dim=8))


def test_cache_and_encoded_contents():
    source, _ = batch()
    lstm = small(cell="lstm", bidirectional=True)
    encoded = lstm.encode(source)
    assert sorted(encoded) == ["mask", "memory", "state_c", "state_h"]
    assert encoded["memory"].shape == (3, 6, 8)
    np.testing.assert_array_equal(encoded["mask"].numpy(), source != 0)
    cache = lstm.initial_cache(encoded, 10)
    assert sorted(cache) == ["c", "h"]
    assert cache["h"].shape == cache["c"].shape == (3, 8)
    gru = small()
    assert sorted(gru.initial_cache(gru.encode(source), 10)) == ["h"]


def test_parameter_count_gru_bahdanau():
    # Source V_s = 11, target V_t = 13, E = 6, U = 8, Bahdanau A = 5.
    e, u, a, vs, vt = 6, 8, 5, SOURCE_VOCAB, TARGET_VOCAB
    gru = 3 * u * (e + u) + 2 * 3 * u  # kernels + reset_after biases
    attention = u * a + u * a + a  # W1, W2, v
    decoder = 3 * u * (e + u + u) + 2 * 3 * u  # input [embedding; context]
    output = 2 * u * vt + vt  # over [state; context]
    want = vs * e + vt * e + gru + attention + decoder + output
    assert small().count_params() == want == 1410


def test_dropout_only_in_training():
    model = small(dropout=0.5)
    source, target_in = batch()
    a = model((source, target_in), training=False).numpy()
    b = model((source, target_in), training=False).numpy()
    c = model((source, target_in), training=True).numpy()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_argument_errors():
    with pytest.raises(ValueError, match="cell"):
        small(cell="rnn")
    with pytest.raises(ValueError, match="attention"):
        small(attention="concat")
    with pytest.raises(ValueError, match="units"):
        small(units=0)
    with pytest.raises(ValueError, match="dropout"):
        small(dropout=1.0)
