"""The trained translator at inference: load a run, translate strings.

`make_translator` is one `tf.function` from strings to translations
(tokenizing, greedy or beam search, detokenizing, all in the graph):
`evaluate`, `predict`, `analyze` and the export run exactly it.
"""

from pathlib import Path

import keras
import tensorflow as tf

from apps.common import config as config_lib
from apps.common import runs
from apps.translate.config import TranslateConfig
from apps.translate.data import load_tokenizers
from layers.samplers.beam import beam_search
from layers.samplers.greedy import greedy_decode
from layers.samplers.scoring import length_normalized_score

BATCH = 64


def load_run(run_dir: Path):
    """`(cfg, model, (source_tokenizer, target_tokenizer))`; the model is
    loaded in Keras' safe mode."""
    run_dir = runs.existing_run(run_dir)
    cfg = config_lib.resolve(
        TranslateConfig, config_file=run_dir / runs.CONFIG_FILE
    )
    model = keras.saving.load_model(
        run_dir / runs.MODEL_FILE, compile=False, safe_mode=True
    )
    return cfg, model, load_tokenizers(run_dir, cfg.data)


def max_source_tokens(cfg: TranslateConfig) -> int:
    """Longer inputs are cut here (and reported as truncated)."""
    return 4 * cfg.data.max_length


def make_translator(
    cfg: TranslateConfig, model, tokenizers, *, beam_size: int | None = None
):
    """A `tf.function`: `(batch,)` strings -> dict of `translations
    (batch, N)`, `scores (batch, N)` (length-normalized log p),
    `truncated (batch,)` and `source_ids (batch, S)`.

    Everything happens in the graph (tokenizing, beam search, detokenizing),
    so the export runs exactly this function. `beam_size` overrides
    `cfg.decoding.beam_size` (1: greedy, returning one hypothesis).
    """
    source_tok, target_tok = tokenizers
    dec = cfg.decoding
    limit = max_source_tokens(cfg)
    beam = dec.beam_size if beam_size is None else int(beam_size)
    num_return = min(dec.num_return, beam)

    def run(strings):
        ragged = source_tok.tokenize(strings)
        truncated = ragged.row_lengths() > limit
        dense = ragged[:, :limit].to_tensor(0)
        # An empty input (no tokens anywhere) still needs one position.
        width = tf.shape(dense)[1]
        dense = tf.pad(dense, [[0, 0], [0, tf.maximum(0, 1 - width)]])
        lengths = tf.reduce_max(
            tf.reduce_sum(tf.cast(dense > 0, tf.float32), axis=1)
        )
        max_length = tf.cast(
            dec.max_length_a * lengths + dec.max_length_b, tf.int32
        )
        if beam == 1:  # the same tokens as a width-1 beam, less work
            out = greedy_decode(model, dense, max_length=max_length)
            out = {
                "tokens": out["tokens"][:, None],
                "scores": length_normalized_score(
                    out["scores"], out["lengths"], dec.alpha
                )[:, None],
            }
        else:
            out = beam_search(
                model,
                dense,
                beam_size=beam,
                max_length=max_length,
                alpha=dec.alpha,
                num_return=num_return,
                stop=dec.stop,
                return_attention=False,
            )
        tokens = tf.cast(out["tokens"], tf.int32)
        shape = tf.shape(tokens)
        flat = tf.reshape(tokens, [shape[0] * shape[1], shape[2]])
        text = tf.reshape(target_tok.detokenize_ids(flat), shape[:2])
        return {
            "translations": text,
            "scores": tf.cast(out["scores"], tf.float32),
            "truncated": truncated,
            "source_ids": tf.cast(dense, tf.int32),
            "tokens": tokens,
        }

    def empty():
        # oneDNN kernels and the beam search's while loop reject an empty
        # batch: answer it directly.
        return {
            "translations": tf.fill([0, num_return], ""),
            "scores": tf.zeros([0, num_return], tf.float32),
            "truncated": tf.zeros([0], tf.bool),
            "source_ids": tf.zeros([0, 1], tf.int32),
            "tokens": tf.zeros([0, num_return, 1], tf.int32),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def translate(strings):
        # Restored signatures do not check shapes: a rank-2 batch reached
        # the tokenizer and crashed the process (found by the fuzz test).
        strings = tf.ensure_shape(strings, [None])
        return tf.cond(tf.size(strings) > 0, lambda: run(strings), empty)

    # Its one graph, traced now: each verb makes a translator for the model
    # it loaded (the demo runs four verbs, so four loads), and a trace on
    # first call would count as a retrace of this one Python function in
    # TensorFlow's retracing detector (it keys on the code, not the object).
    translate.get_concrete_function()
    return translate


def translate_texts(translator, texts: list[str], *, batch_size=BATCH):
    """Runs a translator over a list of strings; returns its outputs as
    lists (strings decoded from UTF-8)."""
    translations, scores, tokens = [], [], []
    for start in range(0, len(texts), batch_size):
        out = translator(tf.constant(texts[start : start + batch_size]))
        for row in out["translations"].numpy():
            translations.append([t.decode("utf-8") for t in row])
        scores.extend(out["scores"].numpy().tolist())
        tokens.extend(list(out["tokens"].numpy()[:, 0]))
    return translations, scores, tokens
