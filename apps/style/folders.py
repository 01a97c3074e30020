"""Style run folders: new, resumed (a `state.npz` without `result.png`),
or refused when finished. Light on imports: the CLI decides before
TensorFlow is loaded."""

import shutil
from pathlib import Path

from apps.common import runs

STATE_FILE = "state.npz"
RESULT_FILE = "result.png"


def run_dir_for(
    app: str, name: str | None, *, overwrite: bool
) -> tuple[Path, bool]:
    """`(run_dir, resuming)` of a style run named `name` under the runs
    root; a finished run is refused unless `overwrite` (which deletes
    it)."""
    run_dir = runs.default_root() / app / (name or runs.timestamped("run"))
    if run_dir.exists() and any(run_dir.iterdir()):
        is_run = (run_dir / runs.CONFIG_FILE).exists()
        if overwrite and is_run:
            shutil.rmtree(run_dir)
            return run_dir, False
        if (run_dir / RESULT_FILE).exists():
            raise runs.RunError(
                f"{run_dir}: run already finished; choose another --run "
                "name or pass --overwrite"
            )
        if (run_dir / STATE_FILE).exists():
            return run_dir, True
        if not is_run:
            raise runs.RunError(
                f"{run_dir}: folder exists and is not a run; choose another "
                "--run name"
            )
    return run_dir, False
