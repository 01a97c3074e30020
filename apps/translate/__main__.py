"""`python -m apps.translate`: neural machine translation.

With no verb, runs the demo: trains an encoder-decoder with attention on
the embedded dates task (human-written dates -> ISO dates), evaluates
sacreBLEU and exact match with beam search, draws attention maps, exports
a strings-in/strings-out SavedModel (checked in a fresh process) and
translates a few sentences.
"""

from apps.common.runtime import quiet_tensorflow

quiet_tensorflow()

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from apps.common import cli  # noqa: E402
from apps.common import runs  # noqa: E402
from apps.translate.config import TranslateConfig  # noqa: E402

PROG = "python -m apps.translate"
DESCRIPTION = (
    "Machine translation (CS230: encoder-decoder, attention, beam search "
    "with length normalization, BLEU, perplexity, error analysis). With no "
    "verb, runs the demo on the embedded dates task."
)
EXAMPLES = [
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


def _app():
    from apps.translate import app

    return app


def metrics_line(result: dict) -> str:
    """The figures a user checks first."""
    return (
        f"sacreBLEU {result['bleu']:.2f}, chrF {result['chrf']:.2f}, "
        f"perplexity {result['perplexity']:.3f}, exact match "
        f"{result['exact_match']:.3f} on {result['sentences']} "
        f"{result['split']} sentences (beam {result['beam_size']}, alpha "
        f"{result['alpha']}; {result['sentences_per_second']} sentences/s)"
    )


def _evaluate(args) -> int:
    result = _app().evaluate(Path(args.run), split=args.split, limit=args.limit)
    print(metrics_line(result))
    print(f"BLEU signature: {result['signature']['bleu']}")
    print(f"attention maps: {', '.join(result['attention_maps'])}")
    return 0


def _read_texts(args) -> list[str]:
    from pipelines.errors import DataError

    if args.input:
        path = Path(args.input)
        raw = path.read_bytes()
        where = str(path)
    else:
        raw = sys.stdin.buffer.read()
        where = "stdin"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"{where}:{line}: not valid UTF-8")
    texts = [t.strip() for t in text.splitlines()]
    if not any(texts):
        raise DataError(f"{where}: no sentence to translate")
    return texts


def _predict(args) -> int:
    results = _app().predict(
        Path(args.run), _read_texts(args), num_return=args.nbest
    )
    if args.json:
        cli.print_json(results)
        return 0
    for item in results:
        options = item["translations"]
        if args.nbest and args.nbest > 1:
            print(item["source"])
            for k, option in enumerate(options, start=1):
                print(f"  {k}. {option['text']}  ({option['score']:.3f})")
        else:
            print(options[0]["text"] if options else "")
    return 0


def _analyze(args) -> int:
    result = _app().analyze(Path(args.run), split=args.split, limit=args.limit)
    print(
        f"Error analysis on {result['sentences']} {result['split']} "
        f"sentences: {result['correct']} exact; of the wrong ones, "
        f"{result['search_share']:.1%} are search errors (P(y*|x) > "
        f"P(y_hat|x): a wider beam may help) and {result['model_share']:.1%}"
        " model errors (the model prefers its wrong output)"
    )
    return 0


def _export(args) -> int:
    result = _app().export(Path(args.run))
    print(
        f"SavedModel: {result['path']} (strings in, strings out; "
        f"fresh-process check on {result['checked_inputs']} inputs, max "
        f"|score diff| {result['max_abs_diff']:.2g})"
    )
    return 0


def _add_split(p) -> None:
    cli.add_run_argument(
        p, help_text="run folder, e.g. saved_models/translate/NAME"
    )
    p.add_argument("--split", default="test", choices=["val", "test"])
    p.add_argument(
        "--limit", type=int, default=0, help="first N sentences only"
    )


def _add_predict(p) -> None:
    cli.add_run_argument(
        p, help_text="run folder, e.g. saved_models/translate/NAME"
    )
    p.add_argument(
        "--input", metavar="FILE", help="one sentence a line (default: stdin)"
    )
    p.add_argument("--nbest", type=int, help="print the N best translations")
    p.add_argument("--json", action="store_true", help="print JSON")


def _add_export(p) -> None:
    cli.add_run_argument(
        p, help_text="run folder, e.g. saved_models/translate/NAME"
    )


VERBS = [
    cli.sanity_verb("translate", TranslateConfig, _app),
    cli.lr_find_verb("translate", TranslateConfig, _app),
    cli.train_verb(
        "translate",
        TranslateConfig,
        _app,
        "train a translator (resumes after a kill)",
    ),
    cli.Verb(
        "evaluate",
        "sacreBLEU with signature, chrF, perplexity; attention maps",
        _add_split,
        _evaluate,
    ),
    cli.Verb(
        "predict",
        "translate a file or stdin (n-best with scores)",
        _add_predict,
        _predict,
    ),
    cli.Verb(
        "analyze",
        "error analysis: search errors vs model errors",
        _add_split,
        _analyze,
    ),
    cli.Verb(
        "export",
        "SavedModel, strings in and out, checked in a fresh process",
        _add_export,
        _export,
    ),
    cli.tune_verb(
        "translate",
        TranslateConfig,
        _app,
        "keras-tuner sweep (RNN vs Transformer); writes the best config",
        PROG,
    ),
]


def demo() -> int:
    """Train -> evaluate -> analyze -> export -> translate."""
    start = time.time()
    app = _app()
    cfg = TranslateConfig()
    run_dir, _ = runs.run_dir_for_training(
        "translate", runs.timestamped("demo")
    )
    print(f"dlsuite translate demo: dates -> ISO, run folder {run_dir}")
    app.train(cfg, run_dir)
    result = app.evaluate(run_dir, split="test")
    print(metrics_line(result))
    for example in result["examples"]:
        print(
            f"  {example['source']!r} -> {example['output']!r} "
            f"(reference {example['reference']!r})"
        )
    analysis = app.analyze(run_dir, split="test", limit=300)
    print(
        f"Error analysis: {analysis['search_errors']} search errors, "
        f"{analysis['model_errors']} model errors, {analysis['correct']} "
        f"exact of {analysis['sentences']}"
    )
    exported = app.export(run_dir)
    print(f"Exported SavedModel {exported['path']} (fresh-process check)")
    for item in app.predict(
        run_dir,
        ["the 4th of july 1976", "12/25/99", "1 jan 2000"],
        num_return=2,
    ):
        options = "; ".join(
            f"{o['text']} ({o['score']:.3f})" for o in item["translations"]
        )
        print(f"  {item['source']!r} -> {options}")
    print(f"Done in {time.time() - start:.0f} s. Where everything went:")
    for label, path in [
        ("config", run_dir / runs.CONFIG_FILE),
        ("model", run_dir / runs.MODEL_FILE),
        ("metrics", run_dir / runs.METRICS_FILE),
        ("translations", run_dir / "translations.txt"),
        ("error analysis", run_dir / "error_analysis.json"),
        ("training curves", run_dir / "plots" / "training.png"),
        ("attention maps", run_dir / "plots" / "attention_0.png"),
        ("TensorBoard logs", run_dir / "logs"),
        ("SavedModel", exported["path"]),
    ]:
        print(f"  {label:18s} {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.main(PROG, DESCRIPTION, VERBS, EXAMPLES, demo, argv)


if __name__ == "__main__":
    sys.exit(main())
