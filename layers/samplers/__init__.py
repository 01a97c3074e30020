"""Decoders for sequence models: greedy, beam search and their scoring.

- `layers.samplers.interface`: the decoding interface every decoder
  drives (`encode`, `initial_cache`, `next`) and one step through it.
- `layers.samplers.greedy`: `greedy_decode`, the most likely token at
  every step.
- `layers.samplers.beam`: `beam_search` with the cheatsheet's length
  normalization.
- `layers.samplers.scoring`: `length_normalized_score` (the objective)
  and `sequence_log_prob` (the log-likelihood of given targets).

The error analysis of a search (search error vs model error) lives beside
the metrics, in `layers.metrics.error_analysis`.

The functions are plain TensorFlow: each decoding step is one call of
`model.next` inside one `tf.while_loop`. They run eagerly, but wrap them in
`tf.function` for speed (see `beam_search`).
"""
