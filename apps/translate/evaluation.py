"""How good a trained translator is, and why it fails.

`score_translations`: sacreBLEU (with its signature), chrF, lower-cased
BLEU and exact match of the best translations; `perplexity` of the
references under teacher forcing; `attention_maps` draws the
cross-attention of greedy translations. `attribute_errors` is the
cheatsheet's error analysis: for each wrong output, is
`P(y*|x) > P(y_hat|x)` (the search is at fault) or not (the model)?
"""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from apps.common import runs
from apps.translate.config import TranslateConfig
from apps.translate.data import make_dataset
from apps.translate.inference import BATCH
from apps.translate.model import compile_for_evaluation
from layers.metrics.error_analysis import error_analysis
from layers.metrics.text import sacrebleu_score
from layers.samplers.greedy import greedy_decode


def perplexity(
    cfg: TranslateConfig, model: keras.Model, tokenizers, sources, references
) -> float:
    """Perplexity of `references` given `sources` (teacher forcing, no
    label smoothing)."""
    compile_for_evaluation(model)
    ds, _ = make_dataset(cfg, (sources, references), tokenizers, shuffle=False)
    measured = model.evaluate(ds, verbose=0, return_dict=True)
    return float(measured["perplexity"])


def score_translations(best: list[str], references: list[str]) -> dict:
    """`bleu`, `chrf`, `signature`, `bleu_lowercase` and `exact_match` of
    one translation per sentence against one reference each."""
    scores = sacrebleu_score(best, references)
    return {
        "bleu": scores["bleu"],
        "chrf": scores["chrf"],
        "signature": scores["signature"],
        "bleu_lowercase": sacrebleu_score(best, references, lowercase=True)[
            "bleu"
        ],
        "exact_match": float(
            np.mean([h == r for h, r in zip(best, references)])
        ),
    }


def write_translations(path: Path, sources, best, references) -> None:
    """`source<TAB>output<TAB>reference` lines, written atomically."""
    runs.atomic_write(
        path,
        lambda p: Path(p).write_text(
            "".join(
                f"{s}\t{h}\t{r}\n" for s, h, r in zip(sources, best, references)
            ),
            encoding="utf-8",
        ),
    )


def attention_maps(cfg, model, tokenizers, sentences, out_dir: Path):
    """Greedy translations of `sentences` with their cross-attention drawn
    as heat maps (output tokens x source tokens)."""
    from apps.translate.draw import plot_attention

    source_tok, target_tok = tokenizers
    ids = source_tok.tokenize(tf.constant(sentences)).to_tensor(0)
    out = greedy_decode(model, ids, max_length=cfg.data.max_length)
    paths = []
    for i, sentence in enumerate(sentences):
        src = [source_tok.vocab[t] for t in ids[i].numpy() if t > 0]
        length = int(out["lengths"][i])
        tgt = [target_tok.vocab[t] for t in out["tokens"][i, :length].numpy()]
        weights = out["attention"][i, :length, : len(src)].numpy()
        paths.append(
            plot_attention(
                weights,
                src,
                tgt,
                Path(out_dir) / f"attention_{i}.png",
                title=sentence,
            )
        )
    return paths


def attribute_errors(
    cfg: TranslateConfig,
    model: keras.Model,
    translator,
    target_tokenizer,
    sources: list[str],
    references: list[str],
) -> tuple[dict, list[dict]]:
    """Error analysis of `translator`'s best outputs, in batches.

    Returns:
        `(counts, rows)`: `counts` of `search` errors, `model` errors and
        `skipped` (exact) outputs; one row per wrong output (`index` into
        `sources`), as `layers.metrics.error_analysis` gives them.
    """
    rows, search, model_fault, skipped = [], 0, 0, 0
    for start in range(0, len(sources), BATCH):
        batch_src = sources[start : start + BATCH]
        batch_ref = references[start : start + BATCH]
        out = translator(tf.constant(batch_src))
        ref_ids = target_tokenizer.tokenize(tf.constant(batch_ref))
        end = tf.fill([ref_ids.nrows(), 1], 2)
        ref_ids = tf.concat([ref_ids, tf.cast(end, ref_ids.dtype)], axis=1)
        result = error_analysis(
            model,
            out["source_ids"],
            ref_ids.to_tensor(0).numpy(),
            out["tokens"][:, 0].numpy(),
            alpha=cfg.decoding.alpha,
        )
        search += result["counts"]["search"]
        model_fault += result["counts"]["model"]
        skipped += result["counts"]["skipped"]
        for row in result["rows"]:
            row["index"] += start
            rows.append(row)
    counts = {"search": search, "model": model_fault, "skipped": skipped}
    return counts, rows
