"""A quiet terminal: the CLI prints no TensorFlow log line unless asked.

Each app runs in a subprocess (a fresh TensorFlow start-up, where the
C++ lines come from), with neither `TF_CPP_MIN_LOG_LEVEL` nor
`DLSUITE_VERBOSE` set, as a user's shell would be.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from apps.common.runtime import VERBOSE_ENV
from apps.common.runtime import verbose_requested

ROOT = Path(__file__).resolve().parents[3]
APPS = ("detect", "face", "translate", "embed", "style", "inspect")
# TensorFlow's C++ start-up lines (absl, oneDNN, CUDA stub and cuInit,
# CPU features), absl-formatted log lines and tf.function retracing.
TF_LOG = re.compile(
    r"absl|oneDNN|cuInit|cuda|CPU instructions|E0000|I0000|W0000|retracing",
    re.IGNORECASE,
)
MISSING_RUN = ["detect", "evaluate", "--run", "/nonexistent"]


def _cli(args: list[str], tmp_path: Path, **env: str):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", VERBOSE_ENV)
    }
    app, *rest = args
    return subprocess.run(
        [sys.executable, "-m", f"apps.{app}", *rest],
        cwd=ROOT,
        env={**clean, "DLSUITE_RUNS": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("app", APPS)
def test_help_prints_nothing_on_stderr(app, tmp_path):
    proc = _cli([app, "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--verbose" in proc.stdout
    assert not TF_LOG.findall(proc.stderr), proc.stderr[-3000:]
    assert proc.stderr == ""


def test_failing_verb_prints_exactly_its_error_line(tmp_path):
    proc = _cli(MISSING_RUN, tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("python -m apps.detect evaluate: error: ")
    assert "/nonexistent" in lines[0]
    assert not TF_LOG.findall(proc.stderr)


def test_verbose_flag_brings_tensorflow_logs_back(tmp_path):
    proc = _cli(["detect", "--verbose", *MISSING_RUN[1:]], tmp_path)
    assert proc.returncode == 2
    # TensorFlow's start-up lines (oneDNN on x86, the absl preamble) come
    # back, and the error line is still the last one.
    assert TF_LOG.findall(proc.stderr), proc.stderr[-3000:]
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("python -m apps.detect evaluate: error: ")


@pytest.mark.parametrize(
    "argv, env, expected",
    [
        (["train", "--run", "x"], "", False),
        (["--verbose", "train", "--run", "x"], "", True),
        (["--verbose"], "", True),
        # After the verb it is not the top-level flag (argparse rejects it).
        (["train", "--verbose"], "", False),
        (["--", "--verbose"], "", False),
        (["train"], "1", True),
        (["train"], "yes", True),
        (["train"], "0", False),
        ([], "", False),
    ],
)
def test_verbose_requested(argv, env, expected, monkeypatch):
    monkeypatch.setenv(VERBOSE_ENV, env)
    assert verbose_requested(argv) is expected
