"""Word embeddings on realmix: our SGNS (and CBOW, GloVe) against gensim's
Word2Vec with the same settings, in the same run, scored the same way.

Settings (the issue's): dim 100, window 5, negative 5, min_count 5,
sample 1e-3, 5 epochs, 2 threads (`workers=2` for gensim, two Hogwild
threads for ours). The corpus is read once with our tokenizer (text8
normalisation, one paragraph a line) and handed to both; lines longer
than 10,000 tokens are split for gensim, whose trainer truncates longer
sentences (13 lines of realmix).

Reported per system: raw words per second of training (corpus tokens x
epochs / wall seconds of the training call: ours includes the pair
generation, which runs inside it; vocabulary building excluded for both,
and reported separately), questions-words accuracy with its coverage (our
`apps.embed.evaluation`, the same code for every system; gensim's own
`evaluate_word_analogies` is printed beside it as a cross-check),
WordSim-353 and SimLex-999 Spearman.

GloVe (`--methods glove`): ours only; the Stanford C tool cannot be built
here (no network), so its figures are quoted from NOTES.md (measured on
this machine earlier on the same corpus: 15 iterations, 14.6 % analogy,
0.504 WS353, 0.280 SimLex, 521 s).

    python benchmarks/embed_realmix.py [--methods sgns,gensim_sgns,...]
        [--epochs 5] [--set KEY=VALUE ...] [--output FILE.json]

gensim is a benchmark-only peer (`pip install gensim`), never imported by
the package.
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "apps" / "embed" / "configs" / "realmix.yaml"
METHODS = ("sgns", "gensim_sgns", "cbow", "gensim_cbow", "glove")

import _env  # noqa: E402


def _evaluate(words, vectors, cfg) -> dict:
    from apps.embed.app import evaluate_vectors
    from apps.embed.query import WordVectors

    return evaluate_vectors(cfg, WordVectors(words, vectors))


def _summary(result: dict) -> dict:
    a = result["analogies"]["total"]
    pairs = result["word_pairs"]
    return {
        "analogy": a["accuracy"],
        "analogy_correct": a["correct"],
        "analogy_covered": a["total"],
        "semantic": result["analogies"]["semantic"]["accuracy"],
        "syntactic": result["analogies"]["syntactic"]["accuracy"],
        "wordsim353": pairs["wordsim353"]["spearman"],
        "simlex999": pairs["simlex999"]["spearman"],
    }


def run_ours(method: str, cfg, workdir: Path) -> dict:
    from apps.embed import app
    from apps.embed import inference
    from apps.embed.model import embedding_matrix

    cfg = app.with_method(cfg, method)
    run_dir = workdir / f"ours_{method}"
    start, cpu = time.time(), time.process_time()
    summary = app.train(cfg, run_dir)
    total = time.time() - start
    cpu = time.process_time() - cpu
    _, wv = inference.load_vectors(run_dir)
    assert embedding_matrix(inference.keras_model(run_dir)).shape[1] == (
        cfg.model.dim
    )
    out = {
        "system": f"ours {method}",
        "train_seconds": summary["train_seconds"],
        "vocab_seconds": summary["read_seconds"],
        "total_seconds": round(total, 1),
        "cpu_seconds": round(cpu, 1),
        "vocabulary": summary["vocabulary"],
        "raw_words": summary["corpus_words"],
        "epochs": cfg.train.epochs,
        "final_loss": summary["final_loss"],
    }
    if "raw_words_per_second" in summary:
        out["raw_words_per_second"] = summary["raw_words_per_second"]
    out.update(_summary(_evaluate(wv.words, wv.vectors, cfg)))
    return out


def run_gensim(method: str, cfg, sentences, raw_words: int) -> dict:
    from gensim.models import Word2Vec

    m = cfg.model
    model = Word2Vec(
        vector_size=m.dim,
        window=m.window,
        negative=m.negative,
        min_count=cfg.data.min_count,
        sample=m.sample,
        sg=1 if method == "sgns" else 0,
        workers=m.workers,
        seed=cfg.runtime.seed,
    )
    start = time.time()
    model.build_vocab(sentences)
    vocab_seconds = time.time() - start
    start, cpu = time.time(), time.process_time()
    model.train(
        sentences,
        total_examples=model.corpus_count,
        epochs=cfg.train.epochs,
    )
    train_seconds = time.time() - start
    cpu = time.process_time() - cpu
    kv = model.wv
    out = {
        "system": f"gensim {method}",
        "train_seconds": round(train_seconds, 1),
        "vocab_seconds": round(vocab_seconds, 1),
        "total_seconds": round(train_seconds + vocab_seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "vocabulary": len(kv.index_to_key),
        "raw_words": raw_words,
        "epochs": cfg.train.epochs,
        "raw_words_per_second": round(
            raw_words * cfg.train.epochs / train_seconds
        ),
    }
    result = _evaluate(kv.index_to_key, kv.vectors, cfg)
    out.update(_summary(result))
    analogies = Path(result_path(cfg.evaluation.analogies))
    score, _ = kv.evaluate_word_analogies(str(analogies))
    out["gensim_own_analogy"] = score
    return out


def result_path(path: str) -> str:
    from pipelines.datasets.spec import expand_data_path

    return expand_data_path(path, "evaluation.analogies")


def _gensim_sentences(cfg):
    from pipelines.datasets.spec import expand_data_path
    from pipelines.text.corpus import iter_sentences

    files = [expand_data_path(f, "data") for f in cfg.data.train_files]
    sentences, raw = [], 0
    for tokens in iter_sentences(files, tokenizer=cfg.data.tokenizer):
        raw += len(tokens)
        for start in range(0, len(tokens), 10000):
            sentences.append(tokens[start : start + 10000])
        if cfg.data.max_words and raw >= cfg.data.max_words:
            break  # where read_encoded stops too
    return sentences, raw


def _table(rows: list[dict]) -> None:
    print(
        "| system | raw words/s | words/CPU-s | train s | CPU s | analogy "
        "(covered) | semantic | syntactic | WS353 | SimLex |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        wps = r.get("raw_words_per_second")
        # Words per CPU second: the training's words over all the CPU
        # time of the call (vocabulary and evaluation included for ours,
        # training only for gensim), less sensitive to other jobs.
        per_cpu = r["raw_words"] * r.get("epochs", 1) / r["cpu_seconds"]
        print(
            f"| {r['system']} | {f'{wps / 1000:.0f}k' if wps else '-'} | "
            f"{per_cpu / 1000:.0f}k | {r['train_seconds']:.0f} | "
            f"{r['cpu_seconds']:.0f} | {100 * r['analogy']:.1f} % "
            f"({r['analogy_covered']:,}) | {100 * r['semantic']:.1f} % | "
            f"{100 * r['syntactic']:.1f} % | {r['wordsim353']:.3f} | "
            f"{r['simlex999']:.3f} |"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", default="sgns,gensim_sgns")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--glove-set", action="append", default=[])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from apps.common import config as config_lib
    from apps.common.runtime import quiet_tensorflow
    from apps.embed.config import EmbedConfig

    quiet_tensorflow()
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {METHODS}")
    sets = [f"train.epochs={args.epochs}", "train.verbose=0", *args.sets]
    cfg = config_lib.resolve(EmbedConfig, config_file=CONFIG, sets=sets)
    _env.header("Word embeddings on realmix: ours vs gensim Word2Vec")
    print(
        f"command: python benchmarks/embed_realmix.py {' '.join(sys.argv[1:])}"
    )
    print(f"config: {json.dumps(dataclasses.asdict(cfg.model))}")
    rows = []
    sentences = raw = None
    with tempfile.TemporaryDirectory(prefix="embed_realmix-") as tmp:
        for method in methods:
            print(f"== {method}", flush=True)
            if method.startswith("gensim"):
                if sentences is None:
                    sentences, raw = _gensim_sentences(cfg)
                row = run_gensim(method.split("_")[1], cfg, sentences, raw)
            elif method == "glove":
                glove_cfg = config_lib.resolve(
                    EmbedConfig, base=cfg, sets=args.glove_set
                )
                row = run_ours("glove", glove_cfg, Path(tmp))
            else:
                row = run_ours(method, cfg, Path(tmp))
            print(json.dumps(row), flush=True)
            rows.append(row)
    print()
    _table(rows)
    ours = {r["system"]: r for r in rows}
    for method in ("sgns", "cbow"):
        a, b = ours.get(f"ours {method}"), ours.get(f"gensim {method}")
        if a and b:
            print(
                f"{method}: ours / gensim raw words/s = "
                f"{a['raw_words_per_second'] / b['raw_words_per_second']:.2f}"
                f"x; analogy {100 * a['analogy']:.1f} % vs "
                f"{100 * b['analogy']:.1f} %"
            )
    _env.footer()
    if args.output:
        args.output.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
