"""Shared set-up of the embed app tests: one tiny trained SGNS run."""

from pathlib import Path

import pytest

from apps.embed.__main__ import main
from tests.helpers import main_under_runs_root

ROOT = Path(__file__).resolve().parents[3]
TINY = str(ROOT / "apps" / "embed" / "configs" / "tiny.yaml")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny SGNS run on the embedded corpus, this module's own."""
    root = tmp_path_factory.mktemp("runs")
    argv = ["train", "--method", "sgns", "--config", TINY, "--run", "tiny"]
    assert main_under_runs_root(main, root, argv) == 0
    return root / "embed" / "tiny"
