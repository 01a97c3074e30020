"""Run folders: `saved_models/<app>/<run>/` and what lives in them."""

import datetime
import glob
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from apps.common.config import ConfigError

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"


class RunError(ValueError):
    """A run folder problem; its message is one line for the user."""


def default_root() -> Path:
    """`saved_models/` in the current directory, or `$DLSUITE_RUNS`."""
    return Path(os.environ.get("DLSUITE_RUNS", "saved_models"))


def timestamped(prefix: str) -> str:
    """A run name such as `demo-20261127-170301`."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{prefix}-{stamp}"


def run_dir_for_training(
    app: str,
    name: str | None,
    *,
    root: Path | None = None,
    overwrite: bool = False,
) -> tuple[Path, bool]:
    """Chooses the folder of a `train` run (created later, by the app, once
    its data was read, so bad input leaves no folder behind).

    A new name gives a new folder. An existing folder whose training did not
    finish (it has a `backup/` from `BackupAndRestore`) is resumed. A
    finished run is never overwritten silently: that needs `overwrite`.

    Returns:
        `(run_dir, resuming)`.
    """
    root = Path(root) if root else default_root()
    run_dir = root / app / (name or timestamped("run"))
    if run_dir.exists() and any(run_dir.iterdir()):
        if (run_dir / "backup").exists() and not overwrite:
            return run_dir, True
        if (run_dir / MODEL_FILE).exists() and not overwrite:
            raise RunError(
                f"{run_dir}: run already exists and finished training; "
                "choose another --run name or pass --overwrite"
            )
        if not overwrite and not (run_dir / CONFIG_FILE).exists():
            raise RunError(
                f"{run_dir}: folder exists and is not a run; choose another "
                "--run name"
            )
    return run_dir, False


def ensure_dir(path: Path) -> Path:
    """Creates a run folder (once its inputs were read), one-line errors."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunError(f"{path}: cannot create folder ({err.strerror})")
    return Path(path)


def existing_run(path: str | Path) -> Path:
    """Checks that `path` is a trained run folder (for evaluate/predict/...)."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: run folder not found")
    if not (path / CONFIG_FILE).is_file():
        raise RunError(f"{path}: not a run folder (no {CONFIG_FILE})")
    if not (path / MODEL_FILE).is_file():
        raise RunError(
            f"{path}: run has no {MODEL_FILE}; train it first "
            "(re-running train resumes an interrupted run)"
        )
    return path


def atomic_write(
    path: Path,
    write: Callable[[Path], None],
    check: Callable[[Path], object] | None = None,
):
    """`write(tmp)`, optionally `check(tmp)`, then renames tmp to `path`.

    The temporary file sits beside `path` and keeps its suffix (Keras wants
    `.keras`), so a kill or a failed check never leaves `path` half-written;
    the temporary files of earlier writes of `path` that a kill left behind
    are removed first.

    Returns:
        What `check` returned (None without one).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.partial-*"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.partial-", suffix=path.suffix, dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp)
    try:
        write(tmp)
        checked = check(tmp) if check else None
        os.replace(tmp, path)
    except OSError as err:
        if err.errno is None or err.filename not in (None, str(tmp)):
            raise
        # Name the file the user asked for, not the temporary one.
        raise OSError(err.errno, err.strerror, str(path)) from err
    finally:
        tmp.unlink(missing_ok=True)
    return checked


def write_json(path: Path, data: dict) -> None:
    """Writes JSON atomically (temp file then rename)."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    try:
        atomic_write(path, lambda tmp: tmp.write_text(text))
    except OSError as err:
        raise RunError(f"{path}: cannot write ({err.strerror})")


def read_json(path: Path) -> dict:
    """Reads a JSON file with a one-line error."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found")
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid JSON ({err})")
