"""`python -m apps.inspect`: what a model costs before you train it.

For an app's model (built untrained from its config), a `.keras` file or
a SavedModel: per-layer output sizes from the cheatsheet's formula,
padding (valid, same, full), parameters from its counting rules,
receptive fields, FLOPs and activation memory, each row cross-checked
against Keras, and the 1x1 reductions' savings of inception modules.
With no arguments it inspects the detector.

A tool over the other apps, not an app with runs: it has no config of its
own, no run folder and so none of the shared train/tune/evaluate/export
shells; its one verb is `model`, and its demo is that verb on the
detector's default config (one call, so it has no `demo.py`).
"""

from apps.common.runtime import start_tensorflow

start_tensorflow()

import sys  # noqa: E402

from apps.common import cli  # noqa: E402
from apps.common.apps import app_names  # noqa: E402

APP = cli.AppCli(
    "inspect",
    type(None),  # a tool over other apps' configs: no config of its own
    "What a model costs before you train it: per-layer output size "
    "O = (I - F + P_start + P_end) / S + 1, padding, parameters, receptive "
    "field, FLOPs and activation memory, checked against Keras. With no "
    "verb, inspects the detector's default config.",
    [],
)
PROG = APP.prog
APP.examples = [
    f"{PROG}",
    f"{PROG} model --app detect",
    f"{PROG} model --app detect --config apps/detect/configs/tiny.yaml "
    "--set model.head=anchor_free",
    f"{PROG} model --app face --set model.architecture=inception",
    f"{PROG} model --app detect --format json > detect.json",
    f"{PROG} model --app detect --plot rf.png",
    f"{PROG} model --model saved_models/face/orl/model.keras",
    f"{PROG} model --saved-model saved_models/face/orl/export/1",
]
# EXIT_MISMATCH: the formulas and Keras disagree on some row.
EXIT_MISMATCH = 3


def _add_arguments(p) -> None:
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--app",
        metavar="NAME",
        help=f"an app's model from its config ({', '.join(app_names())})",
    )
    source.add_argument("--model", metavar="FILE", help="a .keras file")
    source.add_argument(
        "--saved-model", metavar="DIR", help="a SavedModel folder"
    )
    cli.add_config_arguments(p)
    p.add_argument(
        "--format", default="table", choices=["table", "json"], dest="fmt"
    )
    p.add_argument(
        "--plot", metavar="PNG", help="write the receptive field growth plot"
    )


def _run(
    *,
    app=None,
    model=None,
    saved_model=None,
    config=None,
    sets=(),
    fmt="table",
    plot=None,
) -> int:
    from apps.inspect.app import inspect_model

    out = inspect_model(
        app=app,
        model_path=model,
        saved_model=saved_model,
        config_file=config,
        sets=sets,
        output_format=fmt,
        plot=plot,
    )
    print(out["text"])
    if out["mismatches"]:
        print(
            f"{PROG}: {len(out['mismatches'])} row(s) disagree with Keras "
            f"(first: {out['mismatches'][0]})",
            file=sys.stderr,
        )
        return EXIT_MISMATCH
    return 0


def _model(args) -> int:
    if not (args.app or args.model or args.saved_model):
        args.app = "detect"
    return _run(
        app=args.app,
        model=args.model,
        saved_model=args.saved_model,
        config=args.config,
        sets=args.sets,
        fmt=args.fmt,
        plot=args.plot,
    )


VERBS = [
    cli.Verb(
        "model",
        "the per-layer cost table of one model (--app, --model or "
        "--saved-model)",
        _add_arguments,
        _model,
    )
]


def demo() -> int:
    """The detector's default config, as a table."""
    return _run(app="detect")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # `python -m apps.inspect --app detect` reads as the `model` verb.
    if argv and argv[0].startswith("--") and argv[0] not in ("--help", "-h"):
        argv = ["model", *argv]
    return cli.main(APP, VERBS, demo, argv)


if __name__ == "__main__":
    sys.exit(main())
