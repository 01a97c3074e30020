"""Shared set-up of the translate app tests: one tiny trained run."""

from pathlib import Path

import pytest

from tests.helpers import copy_run

ROOT = Path(__file__).resolve().parents[3]
TINY = str(ROOT / "apps" / "translate" / "configs" / "tiny.yaml")


@pytest.fixture(scope="module")
def tiny_run(tiny_runs, tmp_path_factory):
    """A tiny trained run of this test module's own (a copy of the
    session's)."""
    return copy_run(
        tiny_runs.trained("translate"),
        tmp_path_factory.mktemp("runs"),
        "translate",
    )
