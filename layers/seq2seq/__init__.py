"""Sequence-to-sequence models for machine translation.

Both models are `keras.Model` subclasses with one decoding interface, so a
decoder (greedy or beam search) works with either. Token ids are int32;
id 0 is padding; `bos_id` and `eos_id` (defaults 1 and 2) are constructor
arguments.

- `model((source_ids, target_in), training=False)`: `(B, S)` and `(B, T)`
  ids to `(B, T, target_vocab_size)` logits, teacher forcing. Train with
  `SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)`.
- `model.encode(source_ids, training=False)`: a dict of tensors, each with
  batch on axis 0 (`"memory"` `(B, S, D)`, `"mask"` `(B, S)` bool, ...).
- `model.initial_cache(encoded, max_length)`: a dict of tensors, batch on
  axis 0, the decoder's state before the first token.
- `model.next(token_ids, cache, encoded, step)`: one decoder step for the
  `(B,)` tokens at position `step` (an int32 scalar, 0 for `bos_id`), to
  `(logits (B, V), new_cache, attention (B, S))`. Works inside
  `tf.function` and `tf.while_loop` with a dynamic `step`.

Because every tensor of `encoded` and of the cache has batch on axis 0, a
beam search tiles them with `tf.repeat(x, beam, axis=0)` and reorders them
with `tf.gather(x, indices, axis=0)` through `tf.nest.map_structure`.
"""

from layers.seq2seq.rnn import AttentionSeq2Seq
from layers.seq2seq.transformer import TransformerSeq2Seq

__all__ = ["AttentionSeq2Seq", "TransformerSeq2Seq"]
