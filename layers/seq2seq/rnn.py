"""Recurrent encoder-decoder with the cheatsheet's attention.

The encoder embeds the source and runs `encoder_layers` GRU or LSTM
layers over it (optionally bidirectional), padding (id 0) masked, giving
the activations `a<t'>` (the memory). The decoder is one recurrent cell;
its step for target position `t`, in the cheatsheet's notation, is

    c<t>, alpha<t,.> = attention(s<t-1>, a)          query: previous state
    s<t>             = cell([embed(y<t-1>); c<t>], s<t-1>)   input feeding
    logits<t>        = W_o [s<t>; c<t>] + b_o

with `s<0>` the top encoder layer's final state. With a bidirectional
encoder the final states `[forward; backward]` are projected to the
decoder size by a Dense layer (tanh for `h`, linear for the LSTM's `c`)
and the memory by a linear Dense layer, so `a<t'>` always has `units`
features. `call` runs the same step over the target with `tf.scan`, so
teacher forcing and `next` share weights and give the same numbers.
Dropout applies to the embeddings, between encoder layers and to
`[s<t>; c<t>]`, never inside the step.
"""

import keras
import tensorflow as tf

from layers.attention import BahdanauAttention
from layers.attention import LuongAttention
from layers.serialization import register

_CELLS = ("gru", "lstm")
_ATTENTIONS = ("bahdanau", "luong")


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"Expected {name} to be an integer >= {minimum}. "
            f"Received: {name}={value!r}"
        )


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"Expected {name} to be one of {choices}. "
            f"Received: {name}={value!r}"
        )


@register
class AttentionSeq2Seq(keras.Model):
    """GRU/LSTM encoder-decoder with Bahdanau or Luong attention.

    Implements the decoding interface of `layers.seq2seq` (`call`,
    `encode`, `initial_cache`, `next`); see the module docstring for the
    step. The model is built on construction.

    Args:
        source_vocab_size: source vocabulary size, padding id 0 included.
        target_vocab_size: target vocabulary size V, padding id 0 included.
        embedding_dim: size of both embeddings. Defaults to `64`.
        units: size of each encoder RNN (per direction) and of the decoder
            state. Defaults to `128`.
        encoder_layers: number of stacked encoder RNN layers. Defaults to
            `1`.
        bidirectional: bidirectional encoder layers. Defaults to `False`.
        cell: `"gru"` or `"lstm"`, for the encoder and the decoder.
            Defaults to `"gru"`.
        attention: `"bahdanau"` (additive) or `"luong"` (multiplicative,
            `"general"` form). Defaults to `"bahdanau"`.
        attention_units: hidden size of the Bahdanau score; `None` means
            `units`. Ignored by Luong attention.
        dropout: dropout rate, in `[0, 1)`. Defaults to `0.0`.
        bos_id: id of the beginning-of-sentence token. Defaults to `1`.
        eos_id: id of the end-of-sentence token. Defaults to `2`.
        **kwargs: base model keyword arguments, such as `name`.

    Call arguments:
        inputs: a tuple `(source_ids, target_in)` of `(B, S)` and `(B, T)`
            int ids, `target_in` starting with `bos_id`.
        training: whether dropout is active.

    Returns:
        `(B, T, target_vocab_size)` logits for the next token.

    Example:

    >>> model = AttentionSeq2Seq(source_vocab_size=20, target_vocab_size=30)
    >>> model((tf.ones((2, 7), "int32"), tf.ones((2, 5), "int32"))).shape
    TensorShape([2, 5, 30])
    """

    def __init__(
        self,
        *,
        source_vocab_size,
        target_vocab_size,
        embedding_dim=64,
        units=128,
        encoder_layers=1,
        bidirectional=False,
        cell="gru",
        attention="bahdanau",
        attention_units=None,
        dropout=0.0,
        bos_id=1,
        eos_id=2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value, minimum in (
            ("source_vocab_size", source_vocab_size, 2),
            ("target_vocab_size", target_vocab_size, 3),
            ("embedding_dim", embedding_dim, 1),
            ("units", units, 1),
            ("encoder_layers", encoder_layers, 1),
            ("bos_id", bos_id, 1),
            ("eos_id", eos_id, 1),
        ):
            _check_int(name, value, minimum)
        if attention_units is not None:
            _check_int("attention_units", attention_units, 1)
        _check_choice("cell", cell, _CELLS)
        _check_choice("attention", attention, _ATTENTIONS)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"Expected dropout in [0, 1). Received: dropout={dropout!r}"
            )
        self.source_vocab_size = source_vocab_size
        self.target_vocab_size = target_vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.encoder_layers = encoder_layers
        self.bidirectional = bool(bidirectional)
        self.cell = cell
        self.attention = attention
        self.attention_units = attention_units
        self.dropout = float(dropout)
        self.bos_id = bos_id
        self.eos_id = eos_id

        self.source_embedding = keras.layers.Embedding(
            source_vocab_size, embedding_dim, name="source_embedding"
        )
        self.target_embedding = keras.layers.Embedding(
            target_vocab_size, embedding_dim, name="target_embedding"
        )
        rnn_class = keras.layers.GRU if cell == "gru" else keras.layers.LSTM
        self.encoder_rnns = []
        for i in range(encoder_layers):
            rnn = rnn_class(
                units,
                return_sequences=True,
                return_state=True,
                name=f"encoder_{i}_rnn",
            )
            if self.bidirectional:
                rnn = keras.layers.Bidirectional(rnn, name=f"encoder_{i}")
            self.encoder_rnns.append(rnn)
        self.state_projections = []
        self.memory_projection = None
        if self.bidirectional:
            self.state_projections = [
                keras.layers.Dense(
                    units,
                    activation="tanh" if i == 0 else None,
                    name=f"state_projection_{i}",
                )
                for i in range(self._num_states)
            ]
            self.memory_projection = keras.layers.Dense(
                units, use_bias=False, name="memory_projection"
            )
        if attention == "bahdanau":
            self.attention_layer = BahdanauAttention(
                attention_units or units, name="attention"
            )
        else:
            self.attention_layer = LuongAttention("general", name="attention")
        cell_class = (
            keras.layers.GRUCell if cell == "gru" else keras.layers.LSTMCell
        )
        self.decoder_cell = cell_class(units, name="decoder_cell")
        self.dropout_layer = keras.layers.Dropout(dropout, name="dropout")
        self.output_layer = keras.layers.Dense(
            target_vocab_size, name="output_layer"
        )
        self.build(((None, None), (None, None)))

    @property
    def _num_states(self):
        return 1 if self.cell == "gru" else 2

    @property
    def _state_names(self):
        return ("h", "c")[: self._num_states]

    def build(self, input_shape=None):
        if self.built:
            return
        units, width = self.units, self.embedding_dim
        self.source_embedding.build((None, None))
        self.target_embedding.build((None, None))
        for rnn in self.encoder_rnns:
            rnn.build((None, None, width))
            width = units * (2 if self.bidirectional else 1)
        for projection in self.state_projections:
            projection.build((None, width))
        if self.memory_projection is not None:
            self.memory_projection.build((None, None, width))
        self.attention_layer.build((None, units), (None, None, units))
        self.decoder_cell.build((None, self.embedding_dim + units))
        self.output_layer.build((None, 2 * units))

    def encode(self, source_ids, training=False):
        """Runs the encoder.

        Args:
            source_ids: `(B, S)` int source ids, 0 for padding.
            training: whether dropout is active.

        Returns:
            A dict: `"memory"` `(B, S, units)` encoder activations,
            `"mask"` `(B, S)` bool (`True` for real tokens), `"state_h"`
            `(B, units)` (and, for LSTM, `"state_c"`), the decoder's
            initial state.
        """
        source_ids = tf.convert_to_tensor(source_ids)
        mask = tf.not_equal(source_ids, 0)
        x = self.dropout_layer(
            self.source_embedding(source_ids), training=training
        )
        states = []
        for i, rnn in enumerate(self.encoder_rnns):
            if i:
                x = self.dropout_layer(x, training=training)
            outputs = rnn(x, mask=mask, training=training)
            x, states = outputs[0], list(outputs[1:])
        if self.bidirectional:
            n = self._num_states
            states = [
                projection(tf.concat([forward, backward], -1))
                for projection, forward, backward in zip(
                    self.state_projections, states[:n], states[n:]
                )
            ]
            x = self.memory_projection(x)
        encoded = {"memory": x, "mask": mask}
        for name, state in zip(self._state_names, states):
            encoded[f"state_{name}"] = state
        return encoded

    def initial_cache(self, encoded, max_length):
        """The decoder state before the first token.

        Args:
            encoded: the dict from `encode`.
            max_length: unused (the RNN state does not grow); part of the
                shared interface.

        Returns:
            A dict: `"h"` `(B, units)` and, for LSTM, `"c"` `(B, units)`.
        """
        del max_length
        return {name: encoded[f"state_{name}"] for name in self._state_names}

    def _step(self, embedded, states, memory, mask):
        """One decoder step: `(B, E)` embedded tokens and the state list
        `s<t-1>` to `(s<t>, new states, c<t>, alpha<t,.>)`."""
        context, weights = self.attention_layer(states[0], memory, mask=mask)
        output, new_states = self.decoder_cell(
            tf.concat([embedded, context], -1), states
        )
        return output, list(new_states), context, weights

    def call(self, inputs, training=False):
        source_ids, target_in = inputs
        encoded = self.encode(source_ids, training=training)
        memory, mask = encoded["memory"], encoded["mask"]
        cache = self.initial_cache(encoded, 0)
        states = tuple(cache[name] for name in self._state_names)
        embedded = self.dropout_layer(
            self.target_embedding(target_in), training=training
        )

        def scan_step(carry, embedded_t):
            output, new_states, context, _ = self._step(
                embedded_t, list(carry[0]), memory, mask
            )
            return tuple(new_states), output, context

        initializer = (
            states,
            tf.zeros_like(states[0]),
            tf.zeros_like(memory[:, 0]),
        )
        _, outputs, contexts = tf.scan(
            scan_step,
            tf.transpose(embedded, [1, 0, 2]),
            initializer=initializer,
        )
        features = tf.transpose(tf.concat([outputs, contexts], -1), [1, 0, 2])
        features = self.dropout_layer(features, training=training)
        return self.output_layer(features)

    def next(self, token_ids, cache, encoded, step):
        """One decoder step (teacher forcing's `call`, one position).

        Args:
            token_ids: `(B,)` int ids of the current tokens (`bos_id` at
                step 0).
            cache: the dict from `initial_cache` or the previous `next`.
            encoded: the dict from `encode`.
            step: int32 scalar position; unused by the RNN.

        Returns:
            `(logits, new_cache, attention)`: `(B, target_vocab_size)`
            logits for the following token, the updated cache and the
            `(B, S)` attention weights `alpha<t,.>` of this step.
        """
        del step
        states = [cache[name] for name in self._state_names]
        output, states, context, weights = self._step(
            self.target_embedding(token_ids),
            states,
            encoded["memory"],
            encoded["mask"],
        )
        logits = self.output_layer(tf.concat([output, context], -1))
        return logits, dict(zip(self._state_names, states)), weights

    def get_config(self):
        config = super().get_config()
        config.update(
            source_vocab_size=self.source_vocab_size,
            target_vocab_size=self.target_vocab_size,
            embedding_dim=self.embedding_dim,
            units=self.units,
            encoder_layers=self.encoder_layers,
            bidirectional=self.bidirectional,
            cell=self.cell,
            attention=self.attention,
            attention_units=self.attention_units,
            dropout=self.dropout,
            bos_id=self.bos_id,
            eos_id=self.eos_id,
        )
        return config
