"""A quiet terminal: the CLI prints no TensorFlow log line unless asked.

Each app runs in a subprocess (a fresh TensorFlow start-up, where the
C++ lines come from), with neither `TF_CPP_MIN_LOG_LEVEL` nor
`DLSUITE_VERBOSE` set, as a user's shell would be.
"""

import ast
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


# Every app's `--help` in one fresh process (one TensorFlow start-up, the
# first app's): each `__main__` runs as `python -m` would run it, and a
# marker line on stderr says which app is talking.
HELP_ALL = """
import runpy, sys
for app in sys.argv[1:]:
    print(f"@@ {app}", file=sys.stderr, flush=True)
    sys.argv = [f"apps/{app}", "--help"]
    try:
        runpy.run_module(f"apps.{app}", run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        assert exit.code in (0, None), (app, exit.code)
"""


def test_help_prints_nothing_on_stderr(tmp_path):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", VERBOSE_ENV)
    }
    proc = subprocess.run(
        [sys.executable, "-c", HELP_ALL, *APPS],
        cwd=ROOT,
        env={**clean, "DLSUITE_RUNS": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("--verbose") >= len(APPS)
    for app in APPS:
        assert f"usage: python -m apps.{app}" in proc.stdout, app
    assert not TF_LOG.findall(proc.stderr), proc.stderr[-3000:]
    assert proc.stderr.splitlines() == [f"@@ {app}" for app in APPS]


@pytest.mark.parametrize("app", APPS)
def test_each_main_quiets_tensorflow_before_importing_anything(app):
    """What makes the test above hold for every app, not only the first:
    each `__main__` calls `start_tensorflow()` before any other import
    (the C++ start-up lines come with TensorFlow's first import)."""
    tree = ast.parse((ROOT / "apps" / app / "__main__.py").read_text())
    body = [
        node
        for node in tree.body
        if not (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        )
    ]
    first, call = body[0], body[1]
    assert isinstance(first, ast.ImportFrom), app
    assert first.module == "apps.common.runtime", app
    assert [a.name for a in first.names] == ["start_tensorflow"], app
    assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
    assert call.value.func.id == "start_tensorflow", app


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
