"""`python -m apps.translate`: neural machine translation.

With no verb, runs the demo: trains an encoder-decoder with attention on
the embedded dates task (human-written dates -> ISO dates), evaluates
sacreBLEU and exact match with beam search, draws attention maps, exports
a strings-in/strings-out SavedModel (checked in a fresh process) and
translates a few sentences (`apps.translate.demo`). The verbs are the
shared ones (`apps.common.verbs`) over `apps.translate.app`, plus
`analyze` on a run.
"""

from apps.common.runtime import start_tensorflow

start_tensorflow()

import sys  # noqa: E402

from apps.common import cli  # noqa: E402
from apps.common import verbs  # noqa: E402
from apps.translate.config import TranslateConfig  # noqa: E402

APP = cli.AppCli(
    "translate",
    TranslateConfig,
    "Machine translation (CS230: encoder-decoder, attention, beam search "
    "with length normalization, BLEU, perplexity, error analysis). With no "
    "verb, runs the demo on the embedded dates task.",
    [],
)
PROG = APP.prog
APP.examples = [
    f"{PROG}",
    f"{PROG} sanity --config apps/translate/configs/tiny.yaml",
    f"{PROG} train --config apps/translate/configs/tiny.yaml --run tiny",
    f"{PROG} train --config apps/translate/configs/multi30k.yaml --run m30k",
    f"{PROG} evaluate --run saved_models/translate/m30k",
    f"echo 'a man is riding a bike .' | {PROG} predict "
    "--run saved_models/translate/m30k --nbest 3",
    f"{PROG} predict --run saved_models/translate/m30k --input sentences.txt",
    f"{PROG} analyze --run saved_models/translate/m30k",
    f"{PROG} export --run saved_models/translate/m30k",
    f"{PROG} tune --config apps/translate/configs/tiny.yaml "
    "--set tune.max_trials=4 --run sweep",
]


def _evaluated(result: dict, args) -> None:
    from apps.translate.report import metrics_line

    print(metrics_line(result))
    print(f"BLEU signature: {result['signature']['bleu']}")
    print(f"attention maps: {', '.join(result['attention_maps'])}")


def _predicted(results: list[dict], args) -> None:
    if args.json:
        cli.print_json(results)
        return
    for item in results:
        options = item["translations"]
        if args.nbest and args.nbest > 1:
            print(item["source"])
            for k, option in enumerate(options, start=1):
                print(f"  {k}. {option['text']}  ({option['score']:.3f})")
        else:
            print(options[0]["text"] if options else "")


def _analyzed(result: dict, args) -> None:
    from apps.translate.report import analysis_line

    print(analysis_line(result))


def _exported(result: dict, args) -> None:
    print(
        f"SavedModel: {result['path']} (strings in, strings out; "
        f"fresh-process check on {result['checked_inputs']} inputs, max "
        f"|score diff| {result['max_abs_diff']:.2g})"
    )


def _add_split(p) -> None:
    p.add_argument("--split", default="test", choices=["val", "test"])
    p.add_argument(
        "--limit", type=int, default=0, help="first N sentences only"
    )


def _add_predict(p) -> None:
    p.add_argument(
        "--input", metavar="FILE", help="one sentence a line (default: stdin)"
    )
    p.add_argument("--nbest", type=int, help="print the N best translations")
    p.add_argument("--json", action="store_true", help="print JSON")


VERBS = [
    *verbs.standard(
        APP, train_help="train a translator (resumes after a kill)"
    ),
    verbs.evaluate(
        APP,
        "sacreBLEU with signature, chrF, perplexity; attention maps",
        add_arguments=_add_split,
        options=("split", "limit"),
        report=_evaluated,
    ),
    verbs.predict(
        APP,
        "translate a file or stdin (n-best with scores)",
        add_arguments=_add_predict,
        options={"input": "input_path", "nbest": "num_return"},
        report=_predicted,
    ),
    verbs.on_run(
        APP,
        "analyze",
        "error analysis: search errors vs model errors",
        add_arguments=_add_split,
        options=("split", "limit"),
        report=_analyzed,
    ),
    verbs.export(
        APP,
        "SavedModel, strings in and out, checked in a fresh process",
        report=_exported,
    ),
    verbs.tune(
        APP, "keras-tuner sweep (RNN vs Transformer); writes the best config"
    ),
]


def demo() -> int:
    """The embedded default, end to end (`apps.translate.demo`)."""
    from apps.translate.demo import demo as run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.main(APP, VERBS, demo, argv)


if __name__ == "__main__":
    sys.exit(main())
