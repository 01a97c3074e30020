"""The verbs every app shares, as parser + handler shells.

An app's `__main__.py` lists its verbs by calling these factories with its
`cli.AppCli`; each handler resolves what the command line says and calls
the same-named plain function of `apps.<app>.app`:

- `train(cfg, run_dir, *, resuming)`, `tune(cfg, run_dir)`,
  `probe_setup(cfg, *, batch_size, overfit)` (sanity, lr-find);
- `evaluate(run_dir, **options)`, `predict(run_dir, **options)`,
  `export(run_dir, **options)`, where `options` are the app's own flags.

The app passes a `report(result, args)` that prints the result for a
person (default: indented JSON).
"""

import argparse
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path

from apps.common import probe_verbs
from apps.common.cli import EXIT_OK
from apps.common.cli import AppCli
from apps.common.cli import Verb
from apps.common.cli import add_config_arguments
from apps.common.cli import add_run_argument
from apps.common.cli import print_json

Report = Callable[[object, argparse.Namespace], None]


def print_report(result, args: argparse.Namespace) -> None:
    """The default report: the result as indented JSON."""
    print_json(result)


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


def train(
    app: AppCli,
    help_text: str,
    *,
    name: str = "train",
    aliases: Sequence[str] = (),
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    sets_of: Callable[[argparse.Namespace], list[str]] | None = None,
    run_dir_for: Callable | None = None,
    report: Report = print_report,
) -> Verb:
    """The `train` verb: resolve the config, pick (or resume) the run
    folder, call `app.train(cfg, run_dir, resuming=...)`, report its
    summary. A resumed run starts from its saved config: `--config` and
    `--set` may then change only what `apps.common.lifecycle` allows.

    Args:
        app: the app.
        help_text: the verb's help line.
        name: the verb's name; `aliases` other names for it.
        add_arguments: the app's own flags beside the shared ones.
        sets_of: turns those flags into `--set` items, applied last.
        run_dir_for: `(app name, run name, overwrite=) -> (run_dir,
            resuming)` (default: `apps.common.runs.run_dir_for_training`).
        report: prints the summary (default: indented JSON).
    """
    from apps.common import lifecycle
    from apps.common import runs

    choose = run_dir_for or runs.run_dir_for_training

    def add(parser: argparse.ArgumentParser) -> None:
        add_train_arguments(parser)
        if add_arguments is not None:
            add_arguments(parser)

    def handler(args) -> int:
        run_dir, resuming = choose(app.name, args.run, overwrite=args.overwrite)
        sets = list(args.sets) + (sets_of(args) if sets_of else [])
        cfg = lifecycle.resolve_for_run(
            app.config_cls,
            run_dir,
            resuming=resuming,
            config_file=args.config,
            sets=sets,
        )
        report(app.load().train(cfg, run_dir, resuming=resuming), args)
        print(f"Run folder: {run_dir}")
        return EXIT_OK

    return Verb(name, help_text, add, handler, aliases=tuple(aliases))


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


def tune(app: AppCli, help_text: str) -> Verb:
    """The `tune` verb: a sweep over the config's `tune.space` in a new
    run folder, then how to train with its best config. With
    `--distributed` this process is the chief or a worker of a keras-tuner
    distributed sweep (`apps.common.tuning`); a worker writes only its own
    folder."""
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
            app.config_cls, config_file=args.config, sets=args.sets
        )
        run_dir, _ = runs.run_dir_for_training(
            app.name, args.run or runs.timestamped("tune"), overwrite=False
        )
        run_dir = tuning.sweep_dir(run_dir, role)
        result = app.load().tune(cfg, run_dir)
        print_json({k: v for k, v in result.items() if k != "trials"})
        best = result.get("best_config")
        if best:
            print(f"Use the best config with: {app.prog} train --config {best}")
        return EXIT_OK

    return Verb("tune", help_text, add_tune_arguments, handler)


def on_run(
    app: AppCli,
    name: str,
    help_text: str,
    *,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    options: Sequence[str] | Mapping[str, str] = (),
    report: Report = print_report,
    function: str | None = None,
) -> Verb:
    """A verb on an existing run: `--run PATH` plus the app's own flags;
    calls `app.<function>(Path(run), **{o: args.o for o in options})` and
    hands the result to `report`.

    Args:
        app: the app.
        name: the verb, e.g. `evaluate`.
        help_text: its help line.
        add_arguments: adds the app's own flags (after `--run`).
        options: the flag destinations passed on as keyword arguments
            (a mapping renames them: `{"input": "input_path"}`).
        report: prints the result.
        function: the name in `apps.<app>.app` (default: `name` with
            dashes as underscores).
    """

    def add(parser: argparse.ArgumentParser) -> None:
        add_run_argument(
            parser, help_text=f"run folder, e.g. saved_models/{app.name}/NAME"
        )
        if add_arguments is not None:
            add_arguments(parser)

    def handler(args) -> int:
        call = getattr(app.load(), function or name.replace("-", "_"))
        names = (
            options
            if isinstance(options, Mapping)
            else {key: key for key in options}
        )
        result = call(
            Path(args.run),
            **{kwarg: getattr(args, key) for key, kwarg in names.items()},
        )
        report(result, args)
        return EXIT_OK

    return Verb(name, help_text, add, handler)


def add_split_argument(
    choices: Sequence[str] = ("val", "test"), default: str = "test"
) -> Callable[[argparse.ArgumentParser], None]:
    """`--split` of `evaluate`."""

    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--split", default=default, choices=list(choices))

    return add


def evaluate(
    app: AppCli,
    help_text: str,
    *,
    report: Report = print_report,
    add_arguments: Callable | None = None,
    options: Sequence[str] | Mapping[str, str] = (),
) -> Verb:
    """`evaluate --run PATH [--split S]`: `app.evaluate(run, split=S,
    **options)`. Apps that add flags pass `add_arguments` (which must add
    `--split` when `split` is among `options`)."""
    if add_arguments is None:
        add_arguments, options = add_split_argument(), ("split", *options)
    return on_run(
        app,
        "evaluate",
        help_text,
        add_arguments=add_arguments,
        options=options,
        report=report,
    )


def verb_on_run(name: str, summary: str) -> Callable[..., Verb]:
    """A factory like `evaluate` for the verb `name`: `(app, help_text,
    *, report=..., add_arguments=..., options=...) -> Verb`, calling
    `app.<name>(run, **options)`."""

    def make(
        app: AppCli,
        help_text: str,
        *,
        report: Report = print_report,
        add_arguments: Callable | None = None,
        options: Sequence[str] | Mapping[str, str] = (),
    ) -> Verb:
        return on_run(
            app,
            name,
            help_text,
            add_arguments=add_arguments,
            options=options,
            report=report,
        )

    make.__name__ = name
    make.__doc__ = summary
    return make


predict = verb_on_run(
    "predict", "`predict --run PATH ...`: `app.predict(run, **options)`."
)
export = verb_on_run(
    "export", "`export --run PATH ...`: `app.export(run, **options)`."
)


def standard(
    app: AppCli, *, train_help: str, tune_help: str | None = None
) -> list[Verb]:
    """`sanity`, `lr-find` and `train` (and `tune` with `tune_help`): the
    verbs whose shells need nothing app-specific."""
    verbs = [
        probe_verbs.sanity(app),
        probe_verbs.lr_find(app),
        train(app, train_help),
    ]
    if tune_help:
        verbs.append(tune(app, tune_help))
    return verbs
