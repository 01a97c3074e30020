"""The translator as a SavedModel: strings in, strings out.

One `tf.Module` holds the model, both tokenizers and the translators
(`apps.translate.inference.make_translator`), so a server needs only
tensorflow and tensorflow_text. Signatures: `serving_default` and
`translate` decode as configured (`decoding.beam_size`, `alpha`,
`num_return`); `translate_greedy` is beam width 1, for a server that
trades quality for speed.
"""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from apps.common import exporting
from apps.translate.config import TranslateConfig
from apps.translate.inference import make_translator

# The signatures `check_saved_model` compares with the model's own outputs
# (`serving_default` is the same function as `translate`).
CHECKED = ("translate", "translate_greedy")


def signatures(cfg: TranslateConfig, model: keras.Model, tokenizers) -> dict:
    """`{name: translator}` of the export."""
    translator = make_translator(cfg, model, tokenizers)
    greedy = make_translator(cfg, model, tokenizers, beam_size=1)
    return {
        "serving_default": translator,
        "translate": translator,
        "translate_greedy": greedy,
    }


def probe_inputs(cfg: TranslateConfig) -> list[str]:
    """The inputs the fresh-process check translates: empty, unseen
    characters, punctuation, and a few real ones for the dates task."""
    probe = ["", "x" * 5, "hello world", "2001-02-03 ?!"]
    if cfg.data.source == "dates":
        from pipelines.synthetic.dates import make_dates

        probe += make_dates(3, seed=cfg.data.seed + 17)[0]
    return probe


def expected_outputs(translators: dict, probe: list[str]) -> dict:
    """The model's own outputs of the checked signatures on `probe`."""
    return {name: translators[name](tf.constant(probe)) for name in CHECKED}


def write_saved_model(
    path: Path, model: keras.Model, tokenizers, translators: dict
) -> None:
    """Saves the model, tokenizers and `translators` as one SavedModel."""
    module = tf.Module()
    module.model = model
    module.source_tokenizer, module.target_tokenizer = tokenizers
    module.translate = translators["translate"]
    module.translate_greedy = translators["translate_greedy"]
    tf.saved_model.save(module, str(path), signatures=translators)


def check_saved_model(path: Path, wants: dict, probe: list[str]) -> float:
    """Calls each checked signature of the SavedModel at `path` in a fresh
    process (tensorflow and tensorflow_text only): the translations must
    be the model's, the scores within 1e-3.

    Returns:
        The largest score difference.

    Raises:
        RuntimeError: when a translation differs.
    """
    strings = {"strings": np.array([t.encode("utf-8") for t in probe])}
    answers = exporting.run_calls_in_fresh_process(
        path,
        [(name, strings) for name in wants],
        imports=("tensorflow_text",),
    )
    diff = 0.0
    for (name, want), got in zip(wants.items(), answers):
        if (
            got["translations"].tolist()
            != want["translations"].numpy().tolist()
        ):
            raise RuntimeError(
                f"export: {name} translations differ from the model's"
            )
        diff = max(
            diff,
            exporting.compare_outputs(
                {"scores": want["scores"].numpy()}, got, atol=1e-3
            ),
        )
    return diff
