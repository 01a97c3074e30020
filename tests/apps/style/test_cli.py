"""Tests of `python -m apps.style`: a tiny run writes every file, a killed
run resumes, the export is checked in a fresh process, and bad input is
one line with exit code 2."""

import json
from pathlib import Path

import numpy as np
import pytest

from apps.style import app
from apps.style.__main__ import main
from tests.helpers import assert_resume_refused
from tests.helpers import main_under_runs_root

ROOT = Path(__file__).resolve().parents[3]
TINY = str(ROOT / "apps" / "style" / "configs" / "tiny.yaml")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    code = main_under_runs_root(
        main, root, ["run", "--config", TINY, "--run", "tiny"]
    )
    assert code == 0
    return root / "style" / "tiny"


def test_tiny_run_writes_everything(tiny_run):
    for name in (
        "config.yaml",
        "result.png",
        "side_by_side.png",
        "metrics.json",
        "state.npz",
        "steps/step_0002.png",
        "steps/step_0004.png",
        "plots/costs.png",
    ):
        assert (tiny_run / name).is_file(), name
    assert list((tiny_run / "logs").iterdir())
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["end"]["J"] < metrics["start"]["J"]
    assert metrics["end"]["J_style"] < metrics["start"]["J_style"]
    assert metrics["start"]["J_content"] == 0.0  # G starts as C
    assert metrics["steps"] == 4


def test_finished_run_is_not_overwritten(tiny_run, capsys):
    code = main_under_runs_root(
        main, tiny_run.parents[1], ["run", "--config", TINY, "--run", "tiny"]
    )
    assert code == 2
    assert "already finished" in capsys.readouterr().err


def test_killed_run_resumes_to_the_same_image(tmp_path, monkeypatch):
    # Uninterrupted reference.
    argv = ["run", "--config", TINY, "--run"]
    assert main_under_runs_root(main, tmp_path, argv + ["whole"]) == 0
    whole = np.load(tmp_path / "style" / "whole" / "state.npz")["image"]

    real = app._save_state

    def dies_after_step_2(run_dir, image, step, optimizer):
        real(run_dir, image, step, optimizer)
        if step == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(app, "_save_state", dies_after_step_2)
    assert main_under_runs_root(main, tmp_path, argv + ["cut"]) == 130
    run = tmp_path / "style" / "cut"
    assert not (run / "result.png").exists()
    monkeypatch.setattr(app, "_save_state", real)
    assert main_under_runs_root(main, tmp_path, argv + ["cut"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["resumed_at"] == 2
    resumed = np.load(run / "state.npz")["image"]
    np.testing.assert_allclose(resumed, whole, atol=1e-5)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--content", "missing.png"], "images.content: missing.png"),
        (["run", "--set", "extractor.name=vgg"], "extractor.name"),
        (["run", "--set", "optimize.stepz=3"], "optimize.steps"),
        (["export", "--run", "nowhere"], "not a style run"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message, tmp_path, capsys):
    assert main_under_runs_root(main, tmp_path, argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_help_lists_examples(capsys):
    assert main(["--help"]) == 0
    assert "1. python -m apps.style" in capsys.readouterr().out


@pytest.mark.slow
def test_export_cost_in_a_fresh_process(tiny_run):
    result = app.export(tiny_run)
    assert Path(result["path"]).name == "1"
    assert result["max_abs_diff"] <= 1e-3 * max(
        abs(v) for v in result["costs"].values()
    )
    assert result["costs"]["J_content"] > 0


@pytest.mark.slow
def test_offline_demo_without_shared_data(tmp_path):
    # `python -m apps.style` on a machine without ../shared/data: the
    # matplotlib photo, the generated style, the random-filter extractor.
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    env["DLSUITE_DATA"] = str(tmp_path / "no_data")
    env["DLSUITE_RUNS"] = str(tmp_path / "runs")
    proc = subprocess.run(
        [sys.executable, "-m", "apps.style"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "grace_hopper.jpg; style: generated:swirls" in proc.stdout
    (run,) = (tmp_path / "runs" / "style").iterdir()
    for name in ("result.png", "side_by_side.png", "steps/step_0300.png"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    colour = metrics["colour_distance_to_style"]
    assert colour["result"] < colour["content"]


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path):
    # A real kill (SIGKILL, no cleanup) once a checkpoint exists; the
    # rerun with the same --run resumes from it and finishes.
    import os
    import signal
    import subprocess
    import sys
    import time

    env = dict(os.environ, DLSUITE_RUNS=str(tmp_path))
    argv = [
        sys.executable,
        "-m",
        "apps.style",
        "run",
        "--config",
        TINY,
        "--run",
        "killed",
        "--set",
        "optimize.steps=400",
        "--set",
        "optimize.save_every=5",
    ]
    run = tmp_path / "style" / "killed"
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while not (run / "state.npz").exists() and time.time() < deadline:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert (run / "state.npz").exists() and not (run / "result.png").exists()
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert 5 <= metrics["resumed_at"] < 400
    assert (run / "steps" / "step_0400.png").is_file()


def test_resume_with_a_changed_image_size_is_refused(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "style" / "r"
    run.mkdir(parents=True)
    for name in ("config.yaml", "state.npz"):  # killed before result.png
        shutil.copy(tiny_run / name, run / name)
    argv = ["train", "--config", TINY, "--run", "r"]
    assert_resume_refused(
        main,
        tmp_path,
        argv + ["--set", "images.size=48"],
        ["images.size"],
    )
    # More steps may change: the run resumes and records it.
    code = main_under_runs_root(
        main, tmp_path, argv + ["--set", "optimize.steps=6"]
    )
    assert code == 0
    log = json.loads((run / "resumes.json").read_text())
    assert log["resumes"][-1]["changed"] == {
        "optimize.steps": {"saved": 4, "new": 6}
    }
    assert json.loads((run / "metrics.json").read_text())["steps"] == 6
