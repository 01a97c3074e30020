"""Tests of layers/seq2seq/transformer.py: the decoding interface (shared
checks in `tests.layers.seq2seq`) with sinusoidal and learned positions,
tied and untied output, the key/value cache, causality, the sinusoidal
formula, the parameter count and argument errors."""

import math

import numpy as np
import pytest
import tensorflow as tf

from layers.seq2seq.transformer import TransformerSeq2Seq
from layers.seq2seq.transformer import sinusoidal_encoding
from tests.layers.seq2seq import SOURCE_VOCAB
from tests.layers.seq2seq import TARGET_VOCAB
from tests.layers.seq2seq import batch
from tests.layers.seq2seq import check_fit_reduces_loss
from tests.layers.seq2seq import check_keras_round_trip
from tests.layers.seq2seq import check_next_in_while_loop
from tests.layers.seq2seq import check_next_matches_call
from tests.layers.seq2seq import check_source_padding
from tests.layers.seq2seq import check_tile_and_gather


def small(**overrides):
    kwargs = {
        "source_vocab_size": SOURCE_VOCAB,
        "target_vocab_size": TARGET_VOCAB,
        "num_layers": 2,
        "d_model": 8,
        "num_heads": 2,
        "ff_dim": 16,
        "dropout": 0.1,
        "max_length": 16,
    }
    return TransformerSeq2Seq(**{**kwargs, **overrides})


def test_interface_sinusoidal():
    model = small()
    check_next_matches_call(model)
    check_source_padding(model)
    check_tile_and_gather(model)
    check_next_in_while_loop(model)


def test_interface_learned_positions_tied_embeddings():
    model = small(num_layers=1, positions="learned", tie_embeddings=True)
    check_next_matches_call(model)
    check_keras_round_trip(model)


def test_fit_reduces_loss():
    model = small(num_layers=1, d_model=16, ff_dim=32, dropout=0.0)
    check_fit_reduces_loss(model)


def test_cache_shapes_and_writes():
    model = small(num_layers=3)
    source, target_in = batch()
    encoded = model.encode(source)
    assert sorted(encoded) == ["mask", "memory"]
    assert encoded["memory"].shape == (3, 6, 8)
    cache = model.initial_cache(encoded, 9)
    assert sorted(cache) == sorted(
        f"{kind}_{i}" for kind in ("key", "value") for i in range(3)
    )
    for value in cache.values():
        assert value.shape == (3, 9, 2, 4)
    _, cache, _ = model.next(target_in[:, 0], cache, encoded, 0)
    _, cache, _ = model.next(target_in[:, 1], cache, encoded, 1)
    for value in cache.values():
        written = np.abs(value.numpy()).sum(axis=(0, 2, 3)) > 0
        np.testing.assert_array_equal(written, [True, True] + [False] * 7)


def test_decoder_is_causal():
    model = small()
    source, target_in = batch()
    want = model((source, target_in)).numpy()
    changed = target_in.copy()
    changed[:, 3] = 4
    got = model((source, changed)).numpy()
    np.testing.assert_allclose(got[:, :3], want[:, :3], atol=1e-6)
    assert np.abs(got[:, 3:] - want[:, 3:]).max() > 1e-4


def test_sinusoidal_encoding_formula():
    got = sinusoidal_encoding(tf.range(5), 6).numpy()
    want = np.zeros((5, 6))
    for p in range(5):
        for i in range(3):
            want[p, 2 * i] = math.sin(p / 10000 ** (2 * i / 6))
            want[p, 2 * i + 1] = math.cos(p / 10000 ** (2 * i / 6))
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(
        sinusoidal_encoding(tf.constant(3), 6).numpy(), want[3], atol=1e-6
    )


def test_parameter_count():
    # V_s = 11, V_t = 13, D = 8, F = 16, 2 + 2 layers.
    d, f, vs, vt = 8, 16, SOURCE_VOCAB, TARGET_VOCAB
    norm = 2 * d
    mha = 4 * (d * d + d)  # Keras MHA: q, k, v, output, all with biases
    cached = 4 * d * d + 3 * d  # no key bias
    ffn = d * f + f + f * d + d
    encoder = 2 * norm + mha + ffn
    decoder = 3 * norm + cached + mha + ffn
    want = vs * d + vt * d + 2 * (encoder + decoder) + 2 * norm
    assert small().count_params() == want + d * vt + vt
    tied = small(tie_embeddings=True, positions="learned", max_length=16)
    assert tied.count_params() == want + 2 * 16 * d


def test_dropout_only_in_training():
    model = small(dropout=0.3)
    source, target_in = batch()
    a = model((source, target_in)).numpy()
    np.testing.assert_array_equal(a, model((source, target_in)).numpy())
    b = model((source, target_in), training=True).numpy()
    assert np.abs(a - b).max() > 1e-3


def test_argument_errors():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        small(d_model=8, num_heads=3)
    with pytest.raises(ValueError, match="positions"):
        small(positions="rotary")
    with pytest.raises(ValueError, match="num_layers"):
        small(num_layers=0)
    with pytest.raises(ValueError, match="even d_model"):
        small(d_model=9, num_heads=1)
