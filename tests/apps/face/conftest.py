"""Shared set-up of the face app tests: one tiny trained run per module."""

from pathlib import Path

import pytest

from apps.face.__main__ import main
from tests.helpers import copy_run
from tests.helpers import main_under_runs_root

ROOT = Path(__file__).resolve().parents[3]
TINY = str(ROOT / "apps" / "face" / "configs" / "tiny.yaml")


def train_tiny(root: Path, name: str = "tiny", *sets: str) -> Path:
    """Trains the tiny config into `root/face/name` and returns the run."""
    argv = ["train", "--config", TINY, "--run", name]
    for item in sets:
        argv += ["--set", item]
    assert main_under_runs_root(main, root, argv) == 0
    return root / "face" / name


@pytest.fixture(scope="module")
def tiny_run(tiny_runs, tmp_path_factory):
    """A tiny trained run of this test module's own (a copy of the
    session's)."""
    return copy_run(
        tiny_runs.trained("face"), tmp_path_factory.mktemp("runs"), "face"
    )
