"""Test set-up: quiet TensorFlow logs, deterministic seeds per test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """Tiny trained (and exported) runs shared by every test module of
    this session: see `tests.helpers.TinyRuns`."""
    from tests.helpers import TinyRuns

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this run
    return TinyRuns(base / "tiny_runs")
