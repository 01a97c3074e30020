"""Shared set-up of the translate app tests: one tiny trained run."""

from pathlib import Path

import pytest

from apps.translate.__main__ import main
from tests.helpers import main_under_runs_root

ROOT = Path(__file__).resolve().parents[3]
TINY = str(ROOT / "apps" / "translate" / "configs" / "tiny.yaml")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny trained run of this test module's own."""
    root = tmp_path_factory.mktemp("runs")
    assert (
        main_under_runs_root(
            main, root, ["train", "--config", TINY, "--run", "tiny"]
        )
        == 0
    )
    return root / "translate" / "tiny"
