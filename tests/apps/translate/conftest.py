"""Shared set-up of the translate app tests: one tiny trained run."""

import os
from pathlib import Path

import pytest

from apps.translate.__main__ import main

ROOT = Path(__file__).resolve().parents[3]
TINY = str(ROOT / "apps" / "translate" / "configs" / "tiny.yaml")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny trained run of this test module's own."""
    root = tmp_path_factory.mktemp("runs")
    old = os.environ.get("DLSUITE_RUNS")
    os.environ["DLSUITE_RUNS"] = str(root)
    try:
        assert main(["train", "--config", TINY, "--run", "tiny"]) == 0
    finally:
        if old is None:
            os.environ.pop("DLSUITE_RUNS")
        else:
            os.environ["DLSUITE_RUNS"] = old
    return root / "translate" / "tiny"
