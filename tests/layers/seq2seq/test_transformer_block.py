"""Tests of layers/seq2seq/transformer_block.py: the encoder and decoder
block through the Keras layer checks."""

import pytest

from layers.seq2seq.transformer_block import TransformerBlock
from tests.helpers import check_layer


@pytest.mark.parametrize("decoder", [False, True])
def test_block_check_layer(decoder):
    # fit=False: the key bias of keras.layers.MultiHeadAttention gets a zero
    # gradient (the softmax cancels it), so a fit step does not move it.
    shapes = [(2, 4, 8), (2, 5, 8)] if decoder else (2, 4, 8)
    check_layer(
        TransformerBlock,
        {"d_model": 8, "num_heads": 2, "ff_dim": 16, "decoder": decoder},
        shapes,
        expected_output_shape=(2, 4, 8),
        fit=False,
    )
