"""`python -m apps.embed`: word embeddings and language models.

With no verb, runs the demo: trains skip-gram with negative sampling on
the embedded corpus (the Python standard library's docstrings, no
download), prints nearest neighbours and an analogy, writes a t-SNE map,
exports the vectors (word2vec text, TensorBoard projector, a SavedModel
checked in a fresh process), then measures an n-gram language model's
perplexity on held-out docstrings (`apps.embed.demo`).

The verbs are the shared ones (`apps.common.verbs`) over `apps.embed.app`;
what they print is `apps.embed.report`. `train` is the shared verb with
one flag more, `--method` (the last word on `model.method`), and one
check more: a finished `ngram` run has no `model.keras`, which is all
`apps.common.runs` looks for, so its name is refused here unless
`--overwrite`.
"""

from apps.common.runtime import start_tensorflow

start_tensorflow()

import sys  # noqa: E402

from apps.common import cli  # noqa: E402
from apps.common import probe_verbs  # noqa: E402
from apps.common import runs  # noqa: E402
from apps.common import verbs  # noqa: E402
from apps.embed import report  # noqa: E402
from apps.embed.config import METHODS  # noqa: E402
from apps.embed.config import EmbedConfig  # noqa: E402

APP = cli.AppCli(
    "embed",
    EmbedConfig,
    "Word embeddings and language models (CS230: embedding matrix, "
    "word2vec skip-gram with negative sampling, CBOW, GloVe, cosine "
    "similarity, analogies, t-SNE, n-gram and RNN language models, "
    "perplexity). With no verb, runs the demo on the embedded corpus.",
    [],
)
PROG = APP.prog
APP.examples = [
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


def train_verb() -> cli.Verb:
    """The shared `train` with `--method` and the finished-`ngram` check."""
    shared = verbs.train(
        APP,
        "train sgns, cbow, softmax, glove, ngram or rnnlm (resumes after "
        "a kill)",
    )

    def add(p) -> None:
        shared.add_arguments(p)
        p.add_argument(
            "--method",
            choices=METHODS,
            help="what to train (overrides model.method)",
        )

    def handler(args) -> int:
        from apps.embed.lm import NGRAM_FILE

        if args.method:
            args.sets = [*args.sets, f"model.method={args.method}"]
        run_dir = runs.default_root() / APP.name / (args.run or "")
        if args.run and (run_dir / NGRAM_FILE).exists() and not args.overwrite:
            raise runs.RunError(
                f"{run_dir}: run already exists and finished training; "
                "choose another --run name or pass --overwrite"
            )
        return shared.handler(args)

    return cli.Verb(shared.name, shared.help, add, handler)


def _add_evaluate(p) -> None:
    p.add_argument(
        "--split",
        default="test",
        choices=["valid", "test"],
        help="held-out split for perplexity (language models)",
    )


def _add_query(p) -> None:
    p.add_argument("--neighbors", nargs="+", default=[], metavar="WORD")
    p.add_argument("--analogy", nargs=3, metavar=("A", "B", "C"))
    p.add_argument("--similarity", nargs=2, metavar=("WORD1", "WORD2"))
    p.add_argument("--top", type=int, default=10, help="answers per query")
    p.add_argument("--json", action="store_true", help="print JSON")


def _add_plot(p) -> None:
    p.add_argument("--words", nargs="+", metavar="WORD", help="words to map")
    p.add_argument("--top", type=int, default=300, help="most frequent N")
    p.add_argument("--skip", type=int, default=0, help="after the first N")
    p.add_argument("--output", metavar="PNG", help="default: plots/tsne.png")


def _add_sample(p) -> None:
    p.add_argument("--prompt", default="", help="text to continue")
    p.add_argument("--length", type=int, default=30, help="words to draw")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)


VERBS = [
    probe_verbs.sanity(APP),
    probe_verbs.lr_find(APP),
    train_verb(),
    verbs.evaluate(
        APP,
        "analogies by section, Spearman on word pairs; perplexity",
        add_arguments=_add_evaluate,
        options=("split",),
        report=report.print_evaluation,
    ),
    verbs.on_run(
        APP,
        "query",
        "nearest neighbours, analogies (a - b + c), cosine similarity",
        add_arguments=_add_query,
        options={
            "neighbors": "neighbors",
            "analogy": "analogy",
            "similarity": "similarity",
            "top": "top_k",
        },
        report=report.print_query,
    ),
    verbs.on_run(
        APP,
        "plot",
        "t-SNE map of words to a PNG",
        add_arguments=_add_plot,
        options=("words", "top", "skip", "output"),
        report=report.print_plot,
    ),
    verbs.export(
        APP,
        "word2vec text, TensorBoard projector, SavedModel (lookup, "
        "neighbors) checked in a fresh process",
        report=report.print_export,
    ),
    verbs.on_run(
        APP,
        "sample",
        "text sampled from a language model",
        add_arguments=_add_sample,
        options=("prompt", "length", "temperature", "seed"),
        report=report.print_sample,
    ),
    verbs.tune(
        APP,
        "keras-tuner sweep of the RNN language model; writes the best config",
    ),
]


def demo() -> int:
    """Train -> query -> plot -> export -> n-gram perplexity
    (`apps.embed.demo`)."""
    from apps.embed.demo import demo as run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.main(APP, VERBS, demo, argv)


if __name__ == "__main__":
    sys.exit(main())
