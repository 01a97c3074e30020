"""A `tune` killed with SIGKILL in the middle of a trial, then re-run with
the same command, finishes the sweep without redoing completed trials.

keras-tuner keeps the sweep in `<run>/tuner/sweep/` (`oracle.json` and one
`trial_<id>/` per trial); the interrupted trial is run again under its own
id and hyperparameters.
"""

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import main_under_runs_root

ROOT = Path(__file__).resolve().parents[2]
TRIALS = 2


def _command(app: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        f"apps.{app}",
        "tune",
        "--config",
        str(ROOT / "apps" / app / "configs" / "tiny.yaml"),
        "--set",
        f"tune.max_trials={TRIALS}",
        "--set",
        "tune.epochs=1",
        "--run",
        "sweep",
    ]


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # not written yet, or being written


def _second_trial_running(sweep: Path) -> bool:
    oracle = _read(sweep / "oracle.json") or {}
    trial = _read(sweep / "trial_1" / "trial.json") or {}
    return (
        oracle.get("end_order") == ["0"]
        and oracle.get("ongoing_trials", {}).get("tuner0") == "1"
        and trial.get("status") == "RUNNING"
    )


@pytest.mark.parametrize(
    "app", ["face", pytest.param("detect", marks=pytest.mark.slow)]
)
def test_tune_killed_mid_trial_resumes_without_redoing_trials(
    app, tmp_path, capsys
):
    env = dict(os.environ, DLSUITE_RUNS=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="3")
    run = tmp_path / app / "sweep"
    sweep = run / "tuner" / "sweep"
    proc = subprocess.Popen(
        _command(app),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 600
        while not _second_trial_running(sweep):
            if proc.poll() is not None:
                pytest.fail(proc.stderr.read().decode()[-2000:])
            assert time.monotonic() < deadline, "trial 1 never started"
            time.sleep(0.02)
        time.sleep(0.1)  # into trial 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert not (run / "best.yaml").exists()
    first = sweep / "trial_0" / "trial.json"
    first_text, first_mtime = first.read_text(), first.stat().st_mtime_ns
    interrupted = json.loads((sweep / "trial_1" / "trial.json").read_text())

    # The same command again, in this process (one TensorFlow start-up
    # less).
    main = importlib.import_module(f"apps.{app}.__main__").main
    assert main_under_runs_root(main, tmp_path, _command(app)[3:]) == 0
    assert "Reloading Tuner" in capsys.readouterr().out
    # The completed trial was not run again: its record is untouched.
    assert first.read_text() == first_text
    assert first.stat().st_mtime_ns == first_mtime
    # The interrupted one was finished under its id and values.
    assert sorted(p.name for p in sweep.glob("trial_*")) == [
        "trial_0",
        "trial_1",
    ]
    finished = json.loads((sweep / "trial_1" / "trial.json").read_text())
    assert finished["status"] == "COMPLETED"
    assert finished["score"] is not None
    assert (
        finished["hyperparameters"]["values"]
        == interrupted["hyperparameters"]["values"]
    )
    oracle = json.loads((sweep / "oracle.json").read_text())
    assert oracle["end_order"] == ["0", "1"]
    assert oracle["ongoing_trials"] == {}
    table = json.loads((run / "trials.json").read_text())["trials"]
    scores = {row["trial_id"]: row["score"] for row in table}
    assert scores["0"] == json.loads(first_text)["score"]
    assert sorted(scores) == ["0", "1"]
    assert (run / "best.yaml").is_file()
