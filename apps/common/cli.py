"""The command line every app shares, built from the app's verbs.

`python -m apps.<app>` with no verb runs the demo. Every verb is a plain
function; this module only parses arguments, applies the config order and
turns known errors into one line on stderr with exit code 2.
"""

import argparse
import dataclasses
import errno
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from apps.common.config import ConfigError
from apps.common.runs import RunError
from apps.common.training import TrainingDiverged
from pipelines.errors import DataError

CONFIG_ORDER = (
    "Config order: dataclass defaults, then the --config YAML file, then "
    "each --set KEY=VALUE in the order given (values parsed as YAML)."
)
USER_ERRORS = (ConfigError, RunError, DataError, TrainingDiverged)
EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE = 0, 1, 2


@dataclasses.dataclass
class Verb:
    """One sub-command: its arguments and the function that runs it.

    `handler(args)` returns an exit code or None (= 0).
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int | None]


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` and repeatable `--set KEY=VALUE`."""
    parser.add_argument(
        "--config", metavar="FILE", help="YAML file applied over defaults"
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key, e.g. --set train.epochs=3 (repeatable)",
    )


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """`train`'s arguments in every app: config, `--run`, `--overwrite`."""
    add_config_arguments(parser)
    parser.add_argument(
        "--run", metavar="NAME", help="run name (default: dated)"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished run of the same name",
    )


def add_tune_arguments(parser: argparse.ArgumentParser) -> None:
    """`tune`'s arguments in every app: config, the sweep's `--run` and
    `--distributed`."""
    add_config_arguments(parser)
    parser.add_argument(
        "--run", metavar="NAME", help="sweep name (default: dated)"
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help=(
            "join a keras-tuner distributed sweep as the chief or a worker, "
            "as KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and "
            "KERASTUNER_ORACLE_PORT say (needs --run)"
        ),
    )


def print_json(result) -> None:
    """What the verbs print for a summary: indented JSON, UTF-8 as is."""
    print(json.dumps(result, indent=2, default=str, ensure_ascii=False))


def train_verb(
    app: str, config_cls, load_app: Callable, help_text: str
) -> "Verb":
    """The `train` verb every app shares: resolve the config, pick (or
    resume) the run folder, call `load_app().train(cfg, run_dir,
    resuming=...)` and print its summary."""
    from apps.common import config as config_lib
    from apps.common import runs

    def handler(args) -> int:
        cfg = config_lib.resolve(
            config_cls, config_file=args.config, sets=args.sets
        )
        run_dir, resuming = runs.run_dir_for_training(
            app, args.run, overwrite=args.overwrite
        )
        print_json(load_app().train(cfg, run_dir, resuming=resuming))
        print(f"Run folder: {run_dir}")
        return 0

    return Verb("train", help_text, add_train_arguments, handler)


def tune_verb(
    app: str, config_cls, load_app: Callable, help_text: str, prog: str
) -> "Verb":
    """The `tune` verb every app shares: a sweep in a new run folder,
    then how to train with its best config. With `--distributed` this
    process is the chief or a worker of a keras-tuner distributed sweep
    (`apps.common.tuning`); a worker writes only its own folder."""
    from apps.common import config as config_lib
    from apps.common import runs
    from apps.common import tuning

    def handler(args) -> int:
        role = tuning.check_distributed_flag(args.distributed)
        if role is not None and not args.run:
            raise config_lib.ConfigError(
                "tune --distributed: expected --run NAME, the same for the "
                "chief and every worker"
            )
        cfg = config_lib.resolve(
            config_cls, config_file=args.config, sets=args.sets
        )
        run_dir, _ = runs.run_dir_for_training(
            app, args.run or runs.timestamped("tune"), overwrite=False
        )
        run_dir = tuning.sweep_dir(run_dir, role)
        result = load_app().tune(cfg, run_dir)
        print_json({k: v for k, v in result.items() if k != "trials"})
        best = result.get("best_config")
        if best:
            print(f"Use the best config with: {prog} train --config {best}")
        return 0

    return Verb("tune", help_text, add_tune_arguments, handler)


def ranged(kind, ok: Callable, expected: str):
    """An argparse `type` that converts with `kind` and refuses values
    failing `ok`: argparse then exits 2 with one line naming the flag."""

    def convert(text):
        value = kind(text)
        if not ok(value):
            raise argparse.ArgumentTypeError(
                f"expected {expected}, received {text}"
            )
        return value

    return convert


def add_sanity_arguments(parser: argparse.ArgumentParser) -> None:
    """`sanity`'s arguments in every app."""
    from apps.common import sanity

    add_config_arguments(parser)
    positive = ranged(int, lambda v: v >= 1, ">= 1")
    parser.add_argument(
        "--batch-size", type=positive, default=8, help="the batch to overfit"
    )
    parser.add_argument(
        "--steps",
        type=positive,
        default=sanity.DEFAULT_STEPS,
        help="the most training steps on that batch",
    )
    parser.add_argument(
        "--target",
        type=ranged(float, lambda v: 0 < v < 1, "in (0, 1)"),
        default=sanity.DEFAULT_TARGET,
        help="pass when the loss falls to this fraction of its first value",
    )
    parser.add_argument(
        "--tolerance",
        type=ranged(float, lambda v: v > 0, "> 0"),
        default=sanity.DEFAULT_TOLERANCE,
        help="largest relative error of a gradient check",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the report as JSON"
    )


def sanity_verb(app: str, config_cls, load_app: Callable) -> "Verb":
    """The `sanity` verb every app shares: the cheatsheet's "overfit a
    small batch" and a gradient check of the model's custom parts, on a
    fresh model from the config (`apps.common.sanity`). Exit 0 when every
    check passes, 1 when one fails."""
    from apps.common import config as config_lib
    from apps.common import sanity

    def handler(args) -> int:
        cfg = config_lib.resolve(
            config_cls, config_file=args.config, sets=args.sets
        )
        model, batches = load_app().probe_setup(
            cfg, batch_size=args.batch_size, overfit=True
        )
        batch = next(iter(batches))
        gradients = sanity.check_custom_gradients(
            model, batch, tolerance=args.tolerance, seed=cfg.runtime.seed
        )
        overfit = sanity.overfit_batch(
            model, batch, steps=args.steps, target=args.target
        )
        passed = overfit["passed"] and all(r["passed"] for r in gradients)
        if args.json:
            print_json(
                {"passed": passed, "overfit": overfit, "gradients": gradients}
            )
        else:
            for line in sanity.report_lines(overfit, gradients):
                print(line)
        if not passed:
            print(
                f"{app} sanity: FAIL: see the lines above (a model that "
                "cannot overfit one batch, or a gradient that disagrees "
                "with its finite difference, has a bug to fix before "
                "training)",
                file=sys.stderr,
            )
            return EXIT_UNEXPECTED
        print(f"{app} sanity: PASS")
        return EXIT_OK

    return Verb(
        "sanity",
        "overfit one batch and gradient-check the custom parts of a fresh "
        "model (the cheatsheet's sanity checks)",
        add_sanity_arguments,
        handler,
    )


def add_lr_find_arguments(parser: argparse.ArgumentParser) -> None:
    """`lr-find`'s arguments in every app."""
    add_config_arguments(parser)
    parser.add_argument(
        "--batch-size",
        type=ranged(int, lambda v: v >= 1, ">= 1"),
        help="the batch size (default: the config's train.batch_size)",
    )
    rate = ranged(float, lambda v: v > 0, "> 0")
    parser.add_argument("--start", type=rate, default=1e-7)
    parser.add_argument("--stop", type=rate, default=1.0)
    parser.add_argument(
        "--steps", type=ranged(int, lambda v: v >= 5, ">= 5"), default=100
    )
    parser.add_argument(
        "--output",
        metavar="PNG",
        help="the plot (default: saved_models/<app>/lr_find/<date>.png, "
        "with the curve as .json beside it)",
    )


def lr_find_verb(app: str, config_cls, load_app: Callable) -> "Verb":
    """The `lr-find` verb every app shares: the learning-rate range test
    (`apps.common.lr_finder`) on a fresh model from the config; prints
    the suggested rates and writes the loss-vs-rate plot."""
    from apps.common import config as config_lib
    from apps.common import lr_finder
    from apps.common import runs

    def handler(args) -> int:
        cfg = config_lib.resolve(
            config_cls, config_file=args.config, sets=args.sets
        )
        if args.start >= args.stop:
            raise config_lib.ConfigError(
                f"--start/--stop: expected start < stop, received "
                f"{args.start} and {args.stop}"
            )
        batch_size = args.batch_size or cfg.train.batch_size
        model, batches = load_app().probe_setup(cfg, batch_size=batch_size)
        result = lr_finder.find_learning_rate(
            model,
            batches,
            start=args.start,
            stop=args.stop,
            steps=args.steps,
            progress=cfg.train.verbose != 0,
        )
        out = Path(
            args.output
            or runs.default_root()
            / app
            / "lr_find"
            / f"{runs.timestamped('lr_find')}.png"
        )
        lr_finder.plot_range_test(result, out)
        runs.write_json(out.with_suffix(".json"), result)
        print(
            f"steepest descent at lr {result['steepest']:.3g}; a tenth of "
            f"the minimum's lr: {result['min_over_10']:.3g}"
            if result["steepest"]
            else "too few steps before the loss diverged for a suggestion"
        )
        print(f"Plot: {out} (set it with --set optimizer.learning_rate=LR)")
        return EXIT_OK

    return Verb(
        "lr-find",
        "the learning-rate range test on a fresh model: loss against an "
        "exponentially growing rate, with suggested rates and a plot",
        add_lr_find_arguments,
        handler,
    )


def add_run_argument(parser, *, required=True, help_text=None) -> None:
    """`--run PATH` of an existing run folder."""
    parser.add_argument(
        "--run",
        required=required,
        metavar="PATH",
        help=help_text or "run folder, e.g. saved_models/detect/NAME",
    )


def build_parser(
    prog: str, description: str, verbs: list[Verb], examples: list[str]
) -> argparse.ArgumentParser:
    """The argparse tree; `--help` ends with numbered examples."""
    epilog = (
        CONFIG_ORDER
        + "\n\nExamples:\n"
        + "\n".join(
            f"  {i}. {line}" for i, line in enumerate(examples, start=1)
        )
    )
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in verbs:
        p = sub.add_parser(
            verb.name,
            help=verb.help,
            description=verb.help,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        verb.add_arguments(p)
        p.set_defaults(handler=verb.handler)
    return parser


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _path_prefix(err: OSError) -> str:
    """`"path: "`, or nothing when the error names no file (a failed
    write() on a full disk names none)."""
    return f"{err.filename}: " if err.filename else ""


def main(
    prog: str,
    description: str,
    verbs: list[Verb],
    examples: list[str],
    demo: Callable[[], int | None],
    argv: list[str] | None = None,
) -> int:
    """Parses `argv`, runs the verb (or the demo) and maps errors to codes.

    Returns:
        0 on success, 2 for bad usage or input (one line on stderr), 1 for
        anything unexpected (with its traceback).
    """
    parser = build_parser(prog, description, verbs, examples)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    where = f"{prog} {args.verb}" if args.verb else prog
    try:
        if args.verb is None:
            code = demo()
        else:
            code = args.handler(args)
        return int(code or 0)
    except USER_ERRORS as err:
        print(f"{where}: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, PermissionError, IsADirectoryError) as err:
        print(
            f"{where}: error: {_path_prefix(err)}"
            f"{err.strerror or _one_line(err)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
            print(
                f"{where}: error: {_path_prefix(err)}{err.strerror}",
                file=sys.stderr,
            )
            return EXIT_USAGE
        traceback.print_exc()
        return EXIT_UNEXPECTED
    except KeyboardInterrupt:
        print(f"{where}: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - the last resort, with a traceback
        traceback.print_exc()
        return EXIT_UNEXPECTED
