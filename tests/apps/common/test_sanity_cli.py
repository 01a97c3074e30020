"""`python -m apps.<app> sanity` on every app: passes on a fresh tiny
model, fails (exit 1, one FAIL line) on one made untrainable."""

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

TINY = {
    app: str(ROOT / "apps" / app / "configs" / "tiny.yaml")
    for app in ("detect", "face", "translate", "embed")
}


def _main(app):
    return importlib.import_module(f"apps.{app}.__main__").main


@pytest.mark.parametrize(
    "app",
    # translate's 208 steps to memorise a batch take about 20 s: slow.
    ["detect", "face", pytest.param("translate", marks=pytest.mark.slow)],
)
def test_sanity_passes_on_a_fresh_model(app, capsys):
    code = _main(app)(["sanity", "--config", TINY[app]])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "overfit one batch: PASS" in out
    assert "gradient check, loss" in out
    assert f"{app} sanity: PASS" in out
    if app == "translate":  # its custom layer, checked in float64
        assert "(BahdanauAttention), float64: PASS" in out


@pytest.mark.parametrize(
    "app", ["detect", pytest.param("translate", marks=pytest.mark.slow)]
)
def test_sanity_fails_when_the_model_cannot_learn(app, capsys):
    # A learning rate of 1e-12 leaves the weights where they started.
    argv = ["sanity", "--config", TINY[app], "--steps", "10"]
    argv += ["--set", "optimizer.learning_rate=1e-12"]
    code = _main(app)(argv)
    captured = capsys.readouterr()
    assert code == 1
    assert "overfit one batch: FAIL" in captured.out
    assert f"{app} sanity: FAIL" in captured.err


def test_sanity_bad_flag_is_exit_2(capsys):
    code = _main("detect")(["sanity", "--target", "1.5"])
    assert code == 2
    assert "--target" in capsys.readouterr().err


@pytest.mark.slow  # about 450 steps of the tiny LM
def test_embed_sanity_checks_its_keras_language_model(capsys):
    argv = ["sanity", "--config", TINY["embed"], "--set", "model.method=rnnlm"]
    # The tiny 16-unit GRU needs a larger step to memorise one batch.
    argv += ["--set", "optimizer.learning_rate=0.01"]
    assert _main("embed")(argv) == 0
    assert "embed sanity: PASS" in capsys.readouterr().out


def test_embed_sanity_refuses_the_sparse_trainers(capsys):
    argv = ["sanity", "--config", TINY["embed"], "--set", "model.method=sgns"]
    assert _main("embed")(argv) == 2
    assert "model.method: sgns" in capsys.readouterr().err
