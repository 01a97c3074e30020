"""A `train` killed with SIGKILL and re-run with the same command resumes
from its last finished epoch and, with `runtime.deterministic=true`, ends
with the weights of an uninterrupted run, bit for bit.

One run is killed just after the backup of its second epoch (of three) is
complete. Its folder is copied three times and each copy is resumed:
- `clean`: as the kill left it;
- `lagging`: the state a kill leaves between Keras' two writes of the
  backup (`latest.weights.h5` already holds epoch 2, the epoch number in
  `training_metadata.json` still says 1);
- `torn`: the state a kill leaves in the middle of writing the weights
  (`latest.weights.h5` cut short; the previous epoch's `.bkp` is whole).
"""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 3
KILL_AFTER = 2  # epochs whose backup is complete when the kill comes
NOT_BITWISE = (
    "Keras' BackupAndRestore writes the epoch number and the weights in "
    "two files; the epoch should come from the same atomic write as the "
    "weights"
)


def _command(app: str, name: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        f"apps.{app}",
        "train",
        "--config",
        str(ROOT / "apps" / app / "configs" / "tiny.yaml"),
        "--set",
        f"train.epochs={EPOCHS}",
        "--set",
        "runtime.deterministic=true",
        "--run",
        name,
    ]


def _start(app: str, name: str, root: Path, log: Path) -> subprocess.Popen:
    env = dict(os.environ, DLSUITE_RUNS=str(root), TF_CPP_MIN_LOG_LEVEL="3")
    with log.open("w") as out:
        return subprocess.Popen(
            _command(app, name),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _finish(proc: subprocess.Popen, log: Path, timeout: float = 600) -> str:
    proc.wait(timeout=timeout)
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    return text


def _backed_up_epoch(backup: Path) -> int:
    try:
        return json.loads((backup / "training_metadata.json").read_text())[
            "epoch"
        ]
    except (OSError, ValueError, KeyError):
        return 0  # not written yet, or being written


def _kill_after_backup(proc, backup: Path, log: Path, epochs: int) -> None:
    deadline = time.monotonic() + 600
    while _backed_up_epoch(backup) < epochs:
        if proc.poll() is not None:
            pytest.fail(
                f"train ended before the kill: {log.read_text()[-2000:]}"
            )
        assert time.monotonic() < deadline, "no backup after 600 s"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _weights(model_file: Path) -> dict[str, np.ndarray]:
    """Every array of a `.keras` file, by its path inside the archive."""
    with zipfile.ZipFile(model_file) as archive:
        data = archive.read("model.weights.h5")
    arrays = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(
            lambda name, item: (
                arrays.__setitem__(name, item[()])
                if isinstance(item, h5py.Dataset)
                else None
            )
        )
    return arrays


class KilledRun:
    """A reference run and a run killed after `KILL_AFTER` epochs; resumes
    copies of the killed one on demand (each case once)."""

    def __init__(self, app: str, root: Path, logs: Path):
        self.app, self.root, self.logs = app, root, logs
        self.reference = root / app / "whole"
        self.resumed = {}

    def copy(self, case: str) -> Path:
        run = self.root / self.app / case
        shutil.copytree(self.root / self.app / "killed", run)
        backup = run / "backup"
        needed = ("latest.weights.h5", "training_metadata.json.bkp")
        if not all((backup / name).is_file() for name in needed):
            # Not an AssertionError, so that the xfail below cannot hide it.
            raise RuntimeError(
                f"{backup}: the backup layout changed; update the forged "
                "states of this test"
            )
        if case == "lagging":
            shutil.copy(
                backup / "training_metadata.json.bkp",
                backup / "training_metadata.json",
            )
        if case == "torn":
            weights = backup / "latest.weights.h5"
            weights.write_bytes(
                weights.read_bytes()[: weights.stat().st_size // 2]
            )
        return run

    def start(self, case: str) -> subprocess.Popen:
        self.copy(case)
        return _start(self.app, case, self.root, self.logs / f"{case}.log")

    def finish(self, case: str, proc: subprocess.Popen) -> None:
        log = _finish(proc, self.logs / f"{case}.log")
        self.resumed[case] = (self.root / self.app / case, log)

    def __getitem__(self, case: str) -> tuple[Path, str]:
        """`(run folder, output of the resumed train)` of `case`."""
        if case not in self.resumed:
            self.finish(case, self.start(case))
        return self.resumed[case]


@pytest.fixture(
    scope="module",
    # Slow for both apps: the default suite keeps a kill/resume test of
    # its own (tests/apps/detect/test_cli.py) within its time budget.
    params=[
        pytest.param("detect", marks=pytest.mark.slow),
        pytest.param("face", marks=pytest.mark.slow),
    ],
)
def killed(request, tmp_path_factory):
    """The reference run, the killed run, and its `clean` copy resumed."""
    app = request.param
    runs = KilledRun(
        app,
        tmp_path_factory.mktemp(f"resume_{app}"),
        tmp_path_factory.mktemp(f"logs_{app}"),
    )
    whole = _start(app, "whole", runs.root, runs.logs / "whole.log")
    proc = _start(app, "killed", runs.root, runs.logs / "killed.log")
    try:
        _kill_after_backup(
            proc,
            runs.root / app / "killed" / "backup",
            runs.logs / "killed.log",
            KILL_AFTER,
        )
    finally:
        proc.kill()  # a no-op once killed; ends it if the wait failed
    assert not (runs.root / app / "killed" / "model.keras").exists()
    clean = runs.start("clean")  # runs while the reference finishes
    _finish(whole, runs.logs / "whole.log")
    runs.finish("clean", clean)
    return runs


def _summary(run: Path) -> dict:
    return json.loads((run / "train_summary.json").read_text())


def _history_epochs(run: Path) -> list[int]:
    lines = (run / "history.csv").read_text().splitlines()[1:]
    return [int(line.split(",")[0]) for line in lines]


def test_killed_run_resumes_from_its_last_finished_epoch(killed):
    run, log = killed["clean"]
    assert f"Resuming {run}" in log
    # Only the epoch after the last backup ran again.
    assert _summary(run)["epochs_run"] == EPOCHS - KILL_AFTER
    assert _history_epochs(run)[-1] == EPOCHS - 1
    assert _history_epochs(run).count(EPOCHS - 1) == 1
    assert (run / "model.keras").is_file()
    assert not (run / "backup").exists()
    # The kill came while `last.keras` was being written: its temporary
    # file is gone too.
    assert not list(run.rglob("*.partial-*"))


def test_resumed_model_is_complete_and_finite(killed):
    want = _weights(killed.reference / "model.keras")
    got = _weights(killed["clean"][0] / "model.keras")
    assert sorted(got) == sorted(want) and len(want) > 10
    assert all(got[k].shape == want[k].shape for k in want)
    assert all(np.isfinite(v).all() for v in got.values())


@pytest.mark.slow
def test_torn_backup_falls_back_to_the_previous_epoch(killed):
    run, log = killed["torn"]
    assert "Resuming" in log
    # The half-written epoch-2 weights were dropped for epoch 1's backup.
    assert _summary(run)["epochs_run"] == EPOCHS - (KILL_AFTER - 1)
    assert (run / "model.keras").is_file()
    assert not (run / "backup").exists()


@pytest.mark.parametrize(
    "case",
    [
        "clean",
        # Keras writes the epoch number and the weights separately: a kill
        # between the two, or a torn weights file, still resumes from a
        # different epoch than the weights' (not yet fixed).
        pytest.param(
            "lagging",
            marks=[
                pytest.mark.slow,
                pytest.mark.xfail(
                    strict=True, raises=AssertionError, reason=NOT_BITWISE
                ),
            ],
        ),
        pytest.param(
            "torn",
            marks=[
                pytest.mark.slow,
                pytest.mark.xfail(
                    strict=True, raises=AssertionError, reason=NOT_BITWISE
                ),
            ],
        ),
    ],
)
def test_resumed_weights_equal_an_uninterrupted_run_bitwise(killed, case):
    want = _weights(killed.reference / "model.keras")
    got = _weights(killed[case][0] / "model.keras")
    different = [k for k in want if not np.array_equal(got[k], want[k])]
    assert not different, f"{len(different)} of {len(want)} arrays differ"
