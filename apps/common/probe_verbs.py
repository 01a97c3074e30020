"""The verbs that probe a fresh model from the config, shared by every
app: `sanity` (the cheatsheet's "overfit a small batch" and gradient
checks) and `lr-find` (the learning-rate range test). Both call the app's
`probe_setup(cfg, *, batch_size, overfit)`; see `apps.common.verbs` for
the others.
"""

import argparse
import sys
from pathlib import Path

from apps.common.cli import EXIT_OK
from apps.common.cli import EXIT_UNEXPECTED
from apps.common.cli import AppCli
from apps.common.cli import Verb
from apps.common.cli import add_config_arguments
from apps.common.cli import print_json
from apps.common.cli import ranged


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


def sanity(app: AppCli) -> Verb:
    """The `sanity` verb: the cheatsheet's "overfit a small batch" and a
    gradient check of the model's custom parts, on a fresh model from the
    config (`apps.common.sanity`). Exit 0 when every check passes, 1 when
    one fails."""
    from apps.common import config as config_lib
    from apps.common import sanity as sanity_lib

    def handler(args) -> int:
        cfg = config_lib.resolve(
            app.config_cls, config_file=args.config, sets=args.sets
        )
        model, batches = app.load().probe_setup(
            cfg, batch_size=args.batch_size, overfit=True
        )
        batch = next(iter(batches))
        gradients = sanity_lib.check_custom_gradients(
            model, batch, tolerance=args.tolerance, seed=cfg.runtime.seed
        )
        overfit = sanity_lib.overfit_batch(
            model, batch, steps=args.steps, target=args.target
        )
        passed = overfit["passed"] and all(r["passed"] for r in gradients)
        if args.json:
            print_json(
                {"passed": passed, "overfit": overfit, "gradients": gradients}
            )
        else:
            for line in sanity_lib.report_lines(overfit, gradients):
                print(line)
        if not passed:
            print(
                f"{app.name} sanity: FAIL: see the lines above (a model that "
                "cannot overfit one batch, or a gradient that disagrees "
                "with its finite difference, has a bug to fix before "
                "training)",
                file=sys.stderr,
            )
            return EXIT_UNEXPECTED
        print(f"{app.name} sanity: PASS")
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


def lr_find(app: AppCli) -> Verb:
    """The `lr-find` verb: the learning-rate range test
    (`apps.common.lr_finder`) on a fresh model from the config; prints
    the suggested rates and writes the loss-vs-rate plot."""
    from apps.common import config as config_lib
    from apps.common import lr_finder
    from apps.common import runs

    def handler(args) -> int:
        cfg = config_lib.resolve(
            app.config_cls, config_file=args.config, sets=args.sets
        )
        if args.start >= args.stop:
            raise config_lib.ConfigError(
                f"--start/--stop: expected start < stop, received "
                f"{args.start} and {args.stop}"
            )
        batch_size = args.batch_size or cfg.train.batch_size
        model, batches = app.load().probe_setup(cfg, batch_size=batch_size)
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
            / app.name
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
