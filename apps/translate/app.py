"""The verbs of `python -m apps.translate` as plain Python functions."""

import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from apps.common import config as config_lib
from apps.common import distribute
from apps.common import runs
from apps.common import training
from apps.common.runtime import apply_runtime
from apps.translate.config import TranslateConfig
from apps.translate.data import build_tokenizers
from apps.translate.data import load_pairs
from apps.translate.data import load_tokenizers
from apps.translate.data import save_tokenizers
from layers.decoding import beam_search
from layers.decoding import error_analysis
from layers.decoding import greedy_decode
from layers.decoding import length_normalized_score
from layers.losses.sequence import SequenceCrossEntropy
from layers.metrics.text import Perplexity
from layers.metrics.text import sacrebleu_score
from layers.seq2seq.rnn import AttentionSeq2Seq
from layers.seq2seq.transformer import TransformerSeq2Seq
from pipelines.text.translation import TranslationReport
from pipelines.text.translation import build_translation_dataset

BATCH = 64


def build_model(
    cfg: TranslateConfig,
    source_vocab: int,
    target_vocab: int,
    *,
    steps_per_epoch: int | None = None,
) -> keras.Model:
    """The compiled seq2seq model; `train` and the tuner both call this."""
    m = cfg.model
    if m.architecture == "transformer":
        model = TransformerSeq2Seq(
            source_vocab_size=source_vocab,
            target_vocab_size=target_vocab,
            num_layers=m.num_layers,
            d_model=m.d_model,
            num_heads=m.num_heads,
            ff_dim=m.ff_dim,
            dropout=m.dropout,
        )
    else:
        model = AttentionSeq2Seq(
            source_vocab_size=source_vocab,
            target_vocab_size=target_vocab,
            embedding_dim=m.embedding_dim,
            units=m.units,
            encoder_layers=m.encoder_layers,
            bidirectional=m.bidirectional,
            cell=m.cell,
            attention=m.attention,
            dropout=m.dropout,
        )
    total = steps_per_epoch * cfg.train.epochs if steps_per_epoch else None
    model.compile(
        optimizer=training.make_optimizer(
            cfg.optimizer, total_steps=total, steps_per_epoch=steps_per_epoch
        ),
        loss=SequenceCrossEntropy(label_smoothing=m.label_smoothing),
        metrics=[Perplexity()],
    )
    return model


def make_dataset(cfg, pairs, tokenizers, *, shuffle: bool):
    """`(dataset, report)` of teacher-forcing batches for `fit`."""
    report = TranslationReport()
    ds = build_translation_dataset(
        pairs[0],
        pairs[1],
        tokenizers[0],
        tokenizers[1],
        batch_size=cfg.train.batch_size,
        max_length=cfg.data.max_length,
        shuffle=shuffle,
        seed=cfg.data.seed,
        report=report,
    )
    # Bucketing hides the number of batches from Keras (it then warns that
    # the data "ran out"); it does not depend on the shuffle: count once.
    batches = int(ds.reduce(0, lambda n, _: n + 1))
    ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    return ds, report


def probe_setup(
    cfg: TranslateConfig, *, batch_size: int = 8, overfit: bool = False
):
    """A fresh compiled model and its teacher-forcing batches (repeated)
    at a constant learning rate, for the `sanity` (`overfit`: the first
    `batch_size` pairs only, dropout and label smoothing off) and
    `lr-find` verbs."""
    import dataclasses

    from apps.common.sanity import probe_config

    apply_runtime(cfg.runtime)
    cfg = probe_config(cfg, overfit=overfit)
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


def train(
    cfg: TranslateConfig, run_dir: Path, *, resuming: bool = False
) -> dict:
    """Trains a translator into `run_dir`; resumes after a kill."""
    dist = distribute.setup(cfg.runtime)
    run_dir = Path(run_dir)
    if resuming:
        cfg = config_lib.resolve(
            TranslateConfig, config_file=run_dir / runs.CONFIG_FILE
        )
        print(f"Resuming {run_dir} from its last finished epoch")
    dist.check_batch(cfg.train.batch_size, "train.batch_size")
    print(f"Preparing sentence pairs ({cfg.data.source})")
    pairs = load_pairs(cfg.data, ("train", "val"))
    run_dir = dist.writable(run_dir)
    runs.ensure_dir(run_dir)
    if resuming and (run_dir / "source_vocab.txt").exists():
        tokenizers = load_tokenizers(run_dir, cfg.data)
    else:
        tokenizers = build_tokenizers(cfg.data, *pairs["train"])
        save_tokenizers(run_dir, tokenizers)
    config_lib.dump_yaml(cfg, run_dir / runs.CONFIG_FILE)
    train_ds, report = make_dataset(
        cfg, pairs["train"], tokenizers, shuffle=True
    )
    val_ds, _ = make_dataset(cfg, pairs["val"], tokenizers, shuffle=False)
    steps = max(1, -(-report.kept // cfg.train.batch_size))
    with dist.scope():
        model = build_model(
            cfg,
            tokenizers[0].vocab_size,
            tokenizers[1].vocab_size,
            steps_per_epoch=steps,
        )
    print(
        f"Training a {cfg.model.architecture} translator "
        f"({model.count_params():,} parameters) on {report.kept:,} pairs "
        f"({report.too_long} too long, {report.empty} empty dropped), "
        f"{report.target_tokens:,} target tokens an epoch, vocabularies "
        f"{tokenizers[0].vocab_size} / {tokenizers[1].vocab_size} "
        f"(TensorBoard: tensorboard --logdir {run_dir / 'logs'})"
    )
    start = time.time()
    history = training.fit(model, train_ds, val_ds, cfg.train, run_dir)
    seconds = time.time() - start
    training.save_trained(model, run_dir)
    epochs = len(history.history.get("loss", []))
    summary = {
        "epochs_run": epochs,
        "final_loss": float(history.history["loss"][-1]),
        "final_val_perplexity": float(
            history.history.get("val_perplexity", [float("nan")])[-1]
        ),
        "train_seconds": round(seconds, 1),
        "target_tokens_per_second": round(
            report.target_tokens * epochs / max(seconds, 1e-9)
        ),
    }
    runs.write_json(run_dir / "train_summary.json", summary)
    dist.finish(run_dir)
    return summary


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
    model.compile(
        loss=SequenceCrossEntropy(label_smoothing=0.0),
        metrics=[Perplexity()],
    )
    ds, _ = make_dataset(cfg, (sources, references), tokenizers, shuffle=False)
    measured = model.evaluate(ds, verbose=0, return_dict=True)
    start = time.time()
    translator = make_translator(cfg, model, tokenizers)
    hypotheses, _, _ = translate_texts(translator, sources)
    seconds = time.time() - start
    best = [h[0] for h in hypotheses]
    scores = sacrebleu_score(best, references)
    run_dir = Path(run_dir)
    runs.atomic_write(
        run_dir / "translations.txt",
        lambda p: Path(p).write_text(
            "".join(
                f"{s}\t{h}\t{r}\n" for s, h, r in zip(sources, best, references)
            ),
            encoding="utf-8",
        ),
    )
    maps = attention_maps(
        cfg, model, tokenizers, sources[:3], run_dir / "plots"
    )
    result = {
        "split": split,
        "sentences": len(sources),
        "bleu": scores["bleu"],
        "chrf": scores["chrf"],
        "signature": scores["signature"],
        "bleu_lowercase": sacrebleu_score(best, references, lowercase=True)[
            "bleu"
        ],
        "perplexity": float(measured["perplexity"]),
        "exact_match": float(
            np.mean([h == r for h, r in zip(best, references)])
        ),
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


def predict(
    run_dir: Path, texts: list[str], *, num_return: int | None = None
) -> list[dict]:
    """Translates sentences; n-best with normalized scores."""
    import dataclasses

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
    target_tok = tokenizers[1]
    rows, search, model_fault, skipped = [], 0, 0, 0
    for start in range(0, len(sources), BATCH):
        batch_src = sources[start : start + BATCH]
        batch_ref = references[start : start + BATCH]
        out = translator(tf.constant(batch_src))
        ref_ids = target_tok.tokenize(tf.constant(batch_ref))
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
    compared = search + model_fault
    report = {
        "split": split,
        "sentences": len(sources),
        "correct": skipped,
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
    from apps.common import exporting

    cfg, model, tokenizers = load_run(run_dir)
    translator = make_translator(cfg, model, tokenizers)
    greedy = make_translator(cfg, model, tokenizers, beam_size=1)
    probe = ["", "x" * 5, "hello world", "2001-02-03 ?!"]
    if cfg.data.source == "dates":
        from pipelines.synthetic.dates import make_dates

        probe += make_dates(3, seed=cfg.data.seed + 17)[0]
    signatures = {
        "serving_default": translator,
        "translate": translator,
        "translate_greedy": greedy,
    }
    wants = {
        name: signatures[name](tf.constant(probe))
        for name in ("translate", "translate_greedy")
    }

    def write(tmp: Path) -> None:
        module = tf.Module()
        module.model = model
        module.source_tokenizer, module.target_tokenizer = tokenizers
        module.translate = translator
        module.translate_greedy = greedy
        tf.saved_model.save(module, str(tmp), signatures=signatures)

    def check(tmp: Path) -> float:
        diff = 0.0
        for name, want in wants.items():
            got = exporting.run_in_fresh_process(
                tmp,
                name,
                {"strings": np.array([t.encode("utf-8") for t in probe])},
                imports=("tensorflow_text",),
            )
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

    exporting.clean_partial_exports(run_dir)
    path, diff = exporting.atomic_export(run_dir, write, check)
    return {
        "path": str(path),
        "signatures": list(signatures),
        "max_abs_diff": diff,
        "checked_inputs": len(probe),
    }


def tune(cfg: TranslateConfig, run_dir: Path) -> dict:
    """A keras-tuner sweep over architecture, size, learning rate and
    label smoothing, scored by validation loss; writes `best.yaml`."""
    from apps.common import tuning
    from apps.translate.hypermodel import TranslateHyperModel

    dist = distribute.setup(cfg.runtime)
    dist.check_batch(cfg.train.batch_size, "train.batch_size")
    run_dir = Path(run_dir)
    pairs = load_pairs(cfg.data, ("train", "val"))
    tokenizers = build_tokenizers(cfg.data, *pairs["train"])
    runs.ensure_dir(run_dir)
    config_lib.dump_yaml(cfg, run_dir / runs.CONFIG_FILE)
    hypermodel = TranslateHyperModel(cfg, pairs, tokenizers)
    return tuning.run_sweep(
        hypermodel,
        cfg,
        run_dir,
        verbose=cfg.train.verbose,
        distribution=dist,
    )
