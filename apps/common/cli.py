"""The command line every app shares, built from the app's verbs.

`python -m apps.<app>` with no verb runs the demo. Every verb is a plain
function; this module only parses arguments, applies the config order and
turns known errors into one line on stderr with exit code 2.
"""

import argparse
import dataclasses
import errno
import importlib
import json
import sys
import traceback
from collections.abc import Callable

from apps.common.config import ConfigError
from apps.common.runs import RunError
from apps.common.runtime import VERBOSE_ENV
from apps.common.runtime import VERBOSE_FLAG
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
    aliases: tuple[str, ...] = ()


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


def print_json(result) -> None:
    """What the verbs print for a summary: indented JSON, UTF-8 as is."""
    print(json.dumps(result, indent=2, default=str, ensure_ascii=False))


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


@dataclasses.dataclass
class AppCli:
    """What every verb of one app needs to know about it.

    Args:
        name: the app's package name under `apps/`, e.g. `detect`.
        config_cls: its root config dataclass.
        description: the first line of `--help`.
        examples: the numbered examples `--help` ends with.
    """

    name: str
    config_cls: type
    description: str
    examples: list[str]

    @property
    def prog(self) -> str:
        """`python -m apps.<name>`."""
        return f"python -m apps.{self.name}"

    def load(self):
        """`apps.<name>.app`, imported on first use (so `--help` and bad
        arguments answer before TensorFlow is imported)."""
        return importlib.import_module(f"apps.{self.name}.app")


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
    # Read before TensorFlow starts, by `runtime.start_tensorflow` in the
    # app's `__main__`; parsed here so that it is accepted and documented.
    parser.add_argument(
        VERBOSE_FLAG,
        action="store_true",
        help="show TensorFlow's own log lines (C++ start-up, CUDA, "
        f"retracing warnings), hidden by default; or set {VERBOSE_ENV}=1",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in verbs:
        p = sub.add_parser(
            verb.name,
            aliases=list(verb.aliases),
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
    app: AppCli,
    verbs: list[Verb],
    demo: Callable[[], int | None],
    argv: list[str] | None = None,
) -> int:
    """Parses `argv`, runs the verb (or the demo) and maps errors to codes.

    Returns:
        0 on success, 2 for bad usage or input (one line on stderr, or one
        line per problem for errors that carry `lines`), 1 for anything
        unexpected (with its traceback).
    """
    prog = app.prog
    parser = build_parser(prog, app.description, verbs, app.examples)
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
        for line in getattr(err, "lines", None) or [_one_line(err)]:
            print(f"{where}: error: {line}", file=sys.stderr)
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
