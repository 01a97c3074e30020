"""The verbs of `python -m apps.translate` as plain Python functions.

`train` and `tune` are the shared lifecycle (`apps.common.lifecycle`) on
`TranslateRecipe`; the rest work on a finished run folder, with the
translator of `apps.translate.inference`.
"""

import dataclasses
import time
from pathlib import Path

import numpy as np

from apps.common import exporting
from apps.common import lifecycle
from apps.common import runs
from apps.common.runtime import apply_runtime
from apps.translate import evaluation
from apps.translate import serving
from apps.translate.config import TranslateConfig
from apps.translate.config import with_width
from apps.translate.data import build_tokenizers
from apps.translate.data import load_pairs
from apps.translate.data import make_dataset
from apps.translate.data import read_texts
from apps.translate.inference import load_run
from apps.translate.inference import make_translator
from apps.translate.inference import translate_texts
from apps.translate.model import build_model
from apps.translate.recipe import TranslateRecipe

RECIPE = TranslateRecipe()


def train(
    cfg: TranslateConfig, run_dir: Path, *, resuming: bool = False
) -> dict:
    """Trains a translator into `run_dir`; resumes after a kill."""
    return lifecycle.train(RECIPE, cfg, run_dir, resuming=resuming)


def tune(cfg: TranslateConfig, run_dir: Path) -> dict:
    """A keras-tuner sweep over `tune.space` (architecture, width, learning
    rate and label smoothing by default), scored by validation loss;
    writes `best.yaml`."""
    return lifecycle.tune(RECIPE, cfg, run_dir)


def probe_setup(
    cfg: TranslateConfig, *, batch_size: int = 8, overfit: bool = False
):
    """A fresh compiled model and its teacher-forcing batches (repeated)
    at a constant learning rate, for the `sanity` (`overfit`: the first
    `batch_size` pairs only, dropout and label smoothing off) and
    `lr-find` verbs."""
    from apps.common.sanity import probe_config

    apply_runtime(cfg.runtime)
    cfg = probe_config(with_width(cfg), overfit=overfit)
    model_cfg = cfg.model
    if overfit:
        model_cfg = dataclasses.replace(
            model_cfg, dropout=0.0, label_smoothing=0.0
        )
    cfg = dataclasses.replace(
        cfg,
        model=model_cfg,
        train=dataclasses.replace(cfg.train, batch_size=batch_size),
    )
    sources, targets = load_pairs(cfg.data, ("train",))["train"]
    tokenizers = build_tokenizers(cfg.data, sources, targets)
    if overfit:  # the one batch to memorise
        sources, targets = sources[:batch_size], targets[:batch_size]
    ds, _ = make_dataset(
        cfg, (sources, targets), tokenizers, shuffle=not overfit
    )
    model = build_model(cfg, tokenizers[0].vocab_size, tokenizers[1].vocab_size)
    return model, ds.repeat()


def evaluate(run_dir: Path, *, split: str = "test", limit: int = 0) -> dict:
    """sacreBLEU (with its signature), chrF and perplexity on `split`,
    beam search as configured; attention maps of three sentences.
    Writes `metrics.json`, `translations.txt` and `plots/attention_*.png`.
    """
    cfg, model, tokenizers = load_run(run_dir)
    apply_runtime(cfg.runtime)
    sources, references = load_pairs(cfg.data, (split,))[split]
    if limit:
        sources, references = sources[:limit], references[:limit]
    perplexity = evaluation.perplexity(
        cfg, model, tokenizers, sources, references
    )
    start = time.time()
    translator = make_translator(cfg, model, tokenizers)
    hypotheses, _, _ = translate_texts(translator, sources)
    seconds = time.time() - start
    best = [h[0] for h in hypotheses]
    scores = evaluation.score_translations(best, references)
    run_dir = Path(run_dir)
    evaluation.write_translations(
        run_dir / "translations.txt", sources, best, references
    )
    maps = evaluation.attention_maps(
        cfg, model, tokenizers, sources[:3], run_dir / "plots"
    )
    result = {
        "split": split,
        "sentences": len(sources),
        "bleu": scores["bleu"],
        "chrf": scores["chrf"],
        "signature": scores["signature"],
        "bleu_lowercase": scores["bleu_lowercase"],
        "perplexity": perplexity,
        "exact_match": scores["exact_match"],
        "beam_size": cfg.decoding.beam_size,
        "alpha": cfg.decoding.alpha,
        "sentences_per_second": round(len(sources) / max(seconds, 1e-9), 1),
        "examples": [
            {"source": s, "output": h, "reference": r}
            for s, h, r in list(zip(sources, best, references))[:5]
        ],
        "attention_maps": [str(p) for p in maps],
    }
    runs.write_json(run_dir / runs.METRICS_FILE, result)
    return result


def predict(
    run_dir: Path,
    texts: list[str] | None = None,
    *,
    input_path: Path | None = None,
    num_return: int | None = None,
) -> list[dict]:
    """Translates sentences; n-best with normalized scores.

    Args:
        run_dir: the run folder.
        texts: the sentences; when None, the lines of `input_path`
            (default: stdin), read before the run is loaded.
        input_path: a UTF-8 file, one sentence a line.
        num_return: how many translations of each (default: the config's
            `decoding.num_return`; the beam widens to fit).
    """
    if texts is None:
        texts = read_texts(input_path)
    cfg, model, tokenizers = load_run(run_dir)
    if num_return:
        beam = max(cfg.decoding.beam_size, num_return)
        cfg = dataclasses.replace(
            cfg,
            decoding=dataclasses.replace(
                cfg.decoding, num_return=num_return, beam_size=beam
            ),
        )
    translator = make_translator(cfg, model, tokenizers)
    translations, scores, _ = translate_texts(translator, texts)
    return [
        {
            "source": text,
            "translations": [
                {"text": t, "score": round(float(s), 4)}
                for t, s in zip(options, row)
                if np.isfinite(s)
            ],
        }
        for text, options, row in zip(texts, translations, scores)
    ]


def analyze(run_dir: Path, *, split: str = "test", limit: int = 500) -> dict:
    """The cheatsheet's error analysis on `split`: for each wrong output,
    is P(y*|x) > P(y_hat|x) (the search is at fault) or not (the model)?
    Writes `error_analysis.json`."""
    cfg, model, tokenizers = load_run(run_dir)
    apply_runtime(cfg.runtime)
    sources, references = load_pairs(cfg.data, (split,))[split]
    if limit:
        sources, references = sources[:limit], references[:limit]
    translator = make_translator(cfg, model, tokenizers)
    counts, rows = evaluation.attribute_errors(
        cfg, model, translator, tokenizers[1], sources, references
    )
    search, model_fault = counts["search"], counts["model"]
    compared = search + model_fault
    report = {
        "split": split,
        "sentences": len(sources),
        "correct": counts["skipped"],
        "search_errors": search,
        "model_errors": model_fault,
        "search_share": search / compared if compared else 0.0,
        "model_share": model_fault / compared if compared else 0.0,
        "beam_size": cfg.decoding.beam_size,
        "alpha": cfg.decoding.alpha,
    }
    runs.write_json(
        Path(run_dir) / "error_analysis.json", {**report, "rows": rows}
    )
    return report


def export(run_dir: Path) -> dict:
    """Writes `export/<version>/` atomically: one SavedModel, strings in,
    strings out, tokenizers and beam search inside; checked in a fresh
    process that imports only tensorflow and tensorflow_text.

    Signatures: `serving_default` and `translate` decode as configured
    (`decoding.beam_size`, `alpha`, `num_return`); `translate_greedy` is
    beam width 1, for a server that trades quality for speed.
    """
    cfg, model, tokenizers = load_run(run_dir)
    translators = serving.signatures(cfg, model, tokenizers)
    probe = serving.probe_inputs(cfg)
    wants = serving.expected_outputs(translators, probe)
    exporting.clean_partial_exports(run_dir)
    path, diff = exporting.atomic_export(
        run_dir,
        lambda tmp: serving.write_saved_model(
            tmp, model, tokenizers, translators
        ),
        lambda tmp: serving.check_saved_model(tmp, wants, probe),
    )
    return {
        "path": str(path),
        "signatures": list(translators),
        "max_abs_diff": diff,
        "checked_inputs": len(probe),
    }
