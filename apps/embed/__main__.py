"""`python -m apps.embed`: word embeddings and language models.

With no verb, runs the demo: trains skip-gram with negative sampling on
the embedded corpus (the Python standard library's docstrings, no
download), prints nearest neighbours and an analogy, writes a t-SNE map,
exports the vectors (word2vec text, TensorBoard projector, a SavedModel
checked in a fresh process), then measures an n-gram language model's
perplexity on held-out docstrings.
"""

from apps.common.runtime import quiet_tensorflow

quiet_tensorflow()

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from apps.common import cli  # noqa: E402
from apps.common import config as config_lib  # noqa: E402
from apps.common import runs  # noqa: E402
from apps.embed.config import METHODS  # noqa: E402
from apps.embed.config import EmbedConfig  # noqa: E402

PROG = "python -m apps.embed"
DESCRIPTION = (
    "Word embeddings and language models (CS230: embedding matrix, "
    "word2vec skip-gram with negative sampling, CBOW, GloVe, cosine "
    "similarity, analogies, t-SNE, n-gram and RNN language models, "
    "perplexity). With no verb, runs the demo on the embedded corpus."
)
EXAMPLES = [
    f"{PROG}",
    f"{PROG} sanity --config apps/embed/configs/tiny.yaml "
    "--set model.method=rnnlm --set optimizer.learning_rate=0.01",
    f"{PROG} train --method sgns --config apps/embed/configs/tiny.yaml "
    "--run tiny",
    f"{PROG} train --config apps/embed/configs/realmix.yaml --run realmix",
    f"{PROG} train --method glove --config apps/embed/configs/realmix.yaml "
    "--run realmix-glove",
    f"{PROG} train --config apps/embed/configs/ptb_rnnlm.yaml --run ptb-lstm",
    f"{PROG} train --method ngram --config apps/embed/configs/ptb_rnnlm.yaml "
    "--run ptb-kn5",
    f"{PROG} evaluate --run saved_models/embed/realmix",
    f"{PROG} query --run saved_models/embed/realmix --neighbors king "
    "--analogy king man woman --similarity cat dog",
    f"{PROG} plot --run saved_models/embed/realmix --top 300 --skip 100",
    f"{PROG} export --run saved_models/embed/realmix",
    f"{PROG} sample --run saved_models/embed/ptb-lstm --prompt 'the company'",
    f"{PROG} tune --config apps/embed/configs/ptb_rnnlm.yaml "
    "--set tune.max_trials=4 --run sweep",
]


def _app():
    from apps.embed import app

    return app


def _add_train(p) -> None:
    cli.add_train_arguments(p)
    p.add_argument(
        "--method",
        choices=METHODS,
        help="what to train (overrides model.method)",
    )


def _train(args) -> int:
    app = _app()
    cfg = config_lib.resolve(
        EmbedConfig, config_file=args.config, sets=args.sets
    )
    cfg = app.with_method(cfg, args.method)
    run_dir, resuming = runs.run_dir_for_training(
        "embed", args.run, overwrite=args.overwrite
    )
    if (run_dir / "ngram.npz").exists() and not args.overwrite:
        raise runs.RunError(
            f"{run_dir}: run already exists and finished training; choose "
            "another --run name or pass --overwrite"
        )
    cli.print_json(app.train(cfg, run_dir, resuming=resuming))
    print(f"Run folder: {run_dir}")
    return 0


def _add_run(p) -> None:
    cli.add_run_argument(
        p, help_text="run folder, e.g. saved_models/embed/NAME"
    )


def _add_evaluate(p) -> None:
    _add_run(p)
    p.add_argument(
        "--split",
        default="test",
        choices=["valid", "test"],
        help="held-out split for perplexity (language models)",
    )


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def print_evaluation(result: dict) -> None:
    """The figures a user checks first, one line each."""
    if "perplexity" in result:
        print(
            f"Perplexity {result['perplexity']:.2f} on {result['tokens']:,} "
            f"{result['split']} tokens ({result['method']})"
        )
    analogies = result.get("analogies")
    if analogies:
        total = analogies["total"]
        print(
            f"Analogies: {_percent(total['accuracy'])} of "
            f"{total['total']:,} questions in vocabulary (coverage "
            f"{_percent(total['coverage'])} of {total['questions']:,}); "
            f"semantic {_percent(analogies['semantic']['accuracy'])}, "
            f"syntactic {_percent(analogies['syntactic']['accuracy'])}"
        )
        for name, row in analogies["sections"].items():
            print(
                f"  {name:28s} {_percent(row['accuracy']):>7s}  "
                f"({row['correct']}/{row['total']} of {row['questions']})"
            )
    for name, row in result.get("word_pairs", {}).items():
        print(
            f"{name}: Spearman {row['spearman']:.3f} on {row['pairs']} of "
            f"{row['total']} pairs"
        )
    for path in result.get("skipped", []):
        print(f"(skipped {path}: not found)")


def _evaluate(args) -> int:
    print_evaluation(_app().evaluate(Path(args.run), split=args.split))
    return 0


def _add_query(p) -> None:
    _add_run(p)
    p.add_argument("--neighbors", nargs="+", default=[], metavar="WORD")
    p.add_argument("--analogy", nargs=3, metavar=("A", "B", "C"))
    p.add_argument("--similarity", nargs=2, metavar=("WORD1", "WORD2"))
    p.add_argument("--top", type=int, default=10, help="answers per query")
    p.add_argument("--json", action="store_true", help="print JSON")


def _query(args) -> int:
    from pipelines.errors import DataError

    if not (args.neighbors or args.analogy or args.similarity):
        raise DataError("query: give --neighbors, --analogy or --similarity")
    if args.top < 1:
        raise DataError(f"--top: expected >= 1, received {args.top}")
    result = _app().query(
        Path(args.run),
        neighbors=args.neighbors,
        analogy=args.analogy,
        similarity=args.similarity,
        top_k=args.top,
    )
    if args.json:
        cli.print_json(result)
        return 0
    for word, rows in result.get("neighbors", {}).items():
        print(f"{word}: " + ", ".join(f"{w} {s:.3f}" for w, s in rows))
    if "analogy" in result:
        rows = result["analogy"]["answers"]
        print(
            f"{result['analogy']['query']} = "
            + ", ".join(f"{w} {s:.3f}" for w, s in rows)
        )
    if "similarity" in result:
        a, b = result["similarity"]["words"]
        print(f"cos({a}, {b}) = {result['similarity']['cosine']:.4f}")
    return 0


def _add_plot(p) -> None:
    _add_run(p)
    p.add_argument("--words", nargs="+", metavar="WORD", help="words to map")
    p.add_argument("--top", type=int, default=300, help="most frequent N")
    p.add_argument("--skip", type=int, default=0, help="after the first N")
    p.add_argument("--output", metavar="PNG", help="default: plots/tsne.png")


def _plot(args) -> int:
    result = _app().plot(
        Path(args.run),
        words=args.words,
        top=args.top,
        skip=args.skip,
        output=args.output,
    )
    print(f"t-SNE of {result['words']} words: {result['png']}")
    return 0


def _export(args) -> int:
    result = _app().export(Path(args.run))
    print(
        f"SavedModel: {result['path']} (signatures lookup, neighbors; "
        f"fresh-process check on {result['checked_words']} words, max "
        f"|diff| {result['max_abs_diff']:.2g})"
    )
    print(f"word2vec text: {result['word2vec_text']}")
    print(f"TensorBoard projector: {result['projector']}")
    return 0


def _add_sample(p) -> None:
    _add_run(p)
    p.add_argument("--prompt", default="", help="text to continue")
    p.add_argument("--length", type=int, default=30, help="words to draw")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)


def _sample(args) -> int:
    text = _app().sample(
        Path(args.run),
        prompt=args.prompt,
        length=args.length,
        temperature=args.temperature,
        seed=args.seed,
    )
    print(f"{args.prompt} {text}".strip())
    return 0


VERBS = [
    cli.sanity_verb("embed", EmbedConfig, _app),
    cli.lr_find_verb("embed", EmbedConfig, _app),
    cli.Verb(
        "train",
        "train sgns, cbow, softmax, glove, ngram or rnnlm (resumes after "
        "a kill)",
        _add_train,
        _train,
    ),
    cli.Verb(
        "evaluate",
        "analogies by section, Spearman on word pairs; perplexity",
        _add_evaluate,
        _evaluate,
    ),
    cli.Verb(
        "query",
        "nearest neighbours, analogies (a - b + c), cosine similarity",
        _add_query,
        _query,
    ),
    cli.Verb("plot", "t-SNE map of words to a PNG", _add_plot, _plot),
    cli.Verb(
        "export",
        "word2vec text, TensorBoard projector, SavedModel (lookup, "
        "neighbors) checked in a fresh process",
        _add_run,
        _export,
    ),
    cli.Verb(
        "sample",
        "text sampled from a language model",
        _add_sample,
        _sample,
    ),
    cli.tune_verb(
        "embed",
        EmbedConfig,
        _app,
        "keras-tuner sweep of the RNN language model; writes the best config",
        PROG,
    ),
]


def demo() -> int:
    """Train -> query -> plot -> export -> n-gram perplexity."""
    from apps.embed.demo import run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.main(PROG, DESCRIPTION, VERBS, EXAMPLES, demo, argv)


if __name__ == "__main__":
    sys.exit(main())
