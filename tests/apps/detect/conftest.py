"""Shared set-up of the detect app tests: a tiny trained run per module."""

from pathlib import Path

import pytest

from apps.detect.__main__ import main
from tests.helpers import copy_run
from tests.helpers import main_under_runs_root

ROOT = Path(__file__).resolve().parents[3]
TINY = str(ROOT / "apps" / "detect" / "configs" / "tiny.yaml")


def train_tiny(root: Path, name: str = "tiny") -> Path:
    """Trains the tiny config into `root/detect/name` and returns the run."""
    assert (
        main_under_runs_root(
            main, root, ["train", "--config", TINY, "--run", name]
        )
        == 0
    )
    return root / "detect" / name


@pytest.fixture(scope="module")
def tiny_run(tiny_runs, tmp_path_factory):
    """A tiny trained run of this test module's own (a copy of the
    session's)."""
    return copy_run(
        tiny_runs.trained("detect"), tmp_path_factory.mktemp("runs"), "detect"
    )
