"""`python -m apps.embed` with no verb: the embedded default, end to end.

Trains skip-gram with negative sampling on the embedded corpus (the
Python standard library's docstrings), prints nearest neighbours and an
analogy, writes a t-SNE map, exports the vectors, then measures a
Kneser-Ney trigram's perplexity on held-out docstrings and samples it.
"""

import dataclasses
import time

from apps.common import runs
from apps.embed import app
from apps.embed.config import EmbedConfig
from apps.embed.data import VOCAB_FILE
from apps.embed.inference import load_vectors
from apps.embed.lm import NGRAM_FILE

NEIGHBOR_WORDS = ("file", "thread", "string", "error", "list")
ANALOGY = ("strings", "string", "integer")  # -> integers


def demo() -> int:
    """SGNS -> neighbours, analogy, t-SNE -> export -> n-gram perplexity."""
    start = time.time()
    cfg = EmbedConfig()
    cfg = dataclasses.replace(
        cfg,
        train=dataclasses.replace(cfg.train, epochs=10),
    )
    run_dir, _ = runs.run_dir_for_training("embed", runs.timestamped("demo"))
    print(f"dlsuite embed demo: word2vec on Python docstrings, run {run_dir}")
    summary = app.train(cfg, run_dir)
    print(
        f"SGNS: {summary['epochs_run']} epochs in {summary['train_seconds']}"
        f" s, {summary['raw_words_per_second']:,} raw words/s, final loss "
        f"{summary['final_loss']:.3f}"
    )
    _, wv = load_vectors(run_dir)
    print("Nearest neighbours (cosine):")
    for word in NEIGHBOR_WORDS:
        if word in wv:
            rows = wv.most_similar([word], top_k=6)
            print(f"  {word:8s} " + ", ".join(f"{w} {s:.2f}" for w, s in rows))
    a, b, c = ANALOGY
    answers = wv.analogy(a, b, c, top_k=3)
    print(
        f"Analogy {a} - {b} + {c} = "
        + ", ".join(f"{w} ({s:.2f})" for w, s in answers)
    )
    tsne = app.plot(run_dir, top=250, skip=30)
    print(f"t-SNE map of {tsne['words']} words: {tsne['png']}")
    exported = app.export(run_dir)
    print(f"Exported SavedModel {exported['path']} (fresh-process check)")

    lm_dir, _ = runs.run_dir_for_training("embed", runs.timestamped("demo-kn"))
    lm_cfg = dataclasses.replace(
        cfg,
        model=dataclasses.replace(cfg.model, method="ngram", order=3),
        data=dataclasses.replace(cfg.data, min_count=2, unk="<unk>"),
    )
    lm = app.train(lm_cfg, lm_dir)
    test = app.evaluate(lm_dir)
    print(
        f"Kneser-Ney trigram: perplexity {lm['valid_perplexity']:.1f} "
        f"(validation), {test['perplexity']:.1f} on {test['tokens']:,} "
        "held-out test tokens"
    )
    print("Sampled: " + app.sample(lm_dir, prompt="return the", length=12))
    print(f"Done in {time.time() - start:.0f} s. Where everything went:")
    for label, path in [
        ("config", run_dir / runs.CONFIG_FILE),
        ("embeddings (Keras)", run_dir / runs.MODEL_FILE),
        ("vocabulary", run_dir / VOCAB_FILE),
        ("training curve", run_dir / "plots" / "training.png"),
        ("t-SNE map", tsne["png"]),
        ("word2vec text", exported["word2vec_text"]),
        ("projector files", exported["projector"]),
        ("SavedModel", exported["path"]),
        ("TensorBoard logs", run_dir / "logs"),
        ("n-gram model", lm_dir / NGRAM_FILE),
    ]:
        print(f"  {label:20s} {path}")
    return 0
