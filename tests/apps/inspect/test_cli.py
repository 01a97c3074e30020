"""Tests of `python -m apps.inspect`: apps, .keras files, SavedModels,
the 1x1 savings, JSON, the plot, and one-line errors."""

import json
from pathlib import Path

import keras
import pytest

from apps.inspect.__main__ import EXIT_MISMATCH
from apps.inspect.__main__ import main
from apps.inspect.savings import inception_savings
from tests.apps.inspect.test_layer_rules import CroppingConv

ROOT = Path(__file__).resolve().parents[3]
DETECT_TINY = str(ROOT / "apps" / "detect" / "configs" / "tiny.yaml")
FACE_TINY = str(ROOT / "apps" / "face" / "configs" / "tiny.yaml")


def test_default_detector_agrees_with_keras(capsys):
    # The check: `python -m apps.inspect --app detect`.
    assert main(["--app", "detect"]) == 0
    out = capsys.readouterr().out
    assert "945,544 parameters" in out and "Keras count_params() 945,544" in out
    assert "All 62 rows agree with Keras" in out


def test_detect_agrees_with_keras(capsys):
    code = main(["--app", "detect", "--config", DETECT_TINY])
    out = capsys.readouterr().out
    assert code == 0
    assert "yolo_detector: input 64x64x3" in out
    assert "rows agree with Keras' output shapes and count_params()" in out
    assert "MISMATCH" not in out


def test_json_matches_keras_count(capsys):
    code = main(
        [
            "model",
            "--app",
            "detect",
            "--config",
            DETECT_TINY,
            "--set",
            "model.head=anchor_free",
            "--format",
            "json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["total_params"] == result["keras_params"] > 0
    assert result["mismatches"] == []
    assert result["layers"][0]["kind"] == "InputLayer"


def test_face_inception_savings(capsys, tmp_path):
    plot = tmp_path / "rf.png"
    code = main(
        [
            "--app",
            "face",
            "--config",
            FACE_TINY,
            "--set",
            "model.architecture=inception",
            "--plot",
            str(plot),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "The 1x1 trick" in out and "stage2_inception" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_embed_notes_its_stand_in_vocabulary(capsys):
    # The app's own model.inspect_model says what it assumed.
    code = main(
        [
            "--app",
            "embed",
            "--set",
            "model.method=rnnlm",
            "--set",
            "data.max_vocab=50",
            "--set",
            "model.units=8",
            "--set",
            "model.embedding_dim=4",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "note: a vocabulary of 50 words (data.max_vocab" in out
    # Embedding 50 x 4, LSTM 4 * 8 * (4 + 8 + 1), Dense 8 * 50 + 50.
    assert f"{50 * 4 + 4 * 8 * 13 + 8 * 50 + 50:,} parameters" in out


def test_savings_by_hand():
    # C = 8 channels in; reductions r3 = 2 (before 3x3 to 4) and r5 = 2
    # (before two 3x3 to 2). Convs have no bias; BN adds 4 per channel.
    from layers.blocks.inception import inception_block

    spec = dict(
        filters_1x1=4,
        reduce_3x3=2,
        filters_3x3=4,
        reduce_5x5=2,
        filters_5x5=2,
        pool_proj=2,
    )
    x = keras.Input((6, 6, 8))
    model = keras.Model(x, inception_block(x, name="inc", **spec))
    (s,) = inception_savings(model)
    shared = (8 * 4 + 16) + (9 * 2 * 2 + 8) + (8 * 2 + 8)  # 1x1, 5x5_b, pool
    with_ = (
        shared + (8 * 2 + 8) + (9 * 2 * 4 + 16) + (8 * 2 + 8) + (9 * 2 * 2 + 8)
    )
    without = shared + (9 * 8 * 4 + 16) + (9 * 8 * 2 + 8)
    assert s["params_with"] == s["params_in_model"] == with_
    assert s["params_without"] == without
    # FLOPs over 6 x 6 = 36 positions; only the reductions (conv 2 x 36
    # x 2 x 8, BN 2 x 72, activation 72, each) and the convolutions after
    # them (2 x 36 x K x 9 x C_in, C_in = 2 with, 8 without) differ.
    reduction = 2 * 36 * 2 * 8 + 2 * 72 + 72
    with_part = 2 * reduction + 2 * 36 * 4 * 18 + 2 * 36 * 2 * 18
    without_part = 2 * 36 * 4 * 72 + 2 * 36 * 2 * 72
    assert s["flops_without"] - s["flops_with"] == without_part - with_part


def test_keras_file_with_mismatch_exits_3(tmp_path, capsys):
    keras.saving.register_keras_serializable(package="test_inspect")(
        CroppingConv
    )
    x = keras.Input((8, 8, 2))
    model = keras.Model(x, CroppingConv(3, 3, name="crop")(x))
    path = tmp_path / "m.keras"
    model.save(path)
    code = main(["--model", str(path)])
    captured = capsys.readouterr()
    assert code == EXIT_MISMATCH
    assert "MISMATCH" in captured.out
    assert "disagree with Keras" in captured.err


def test_saved_model_summary(tmp_path, capsys):
    x = keras.Input((5, 5, 3))
    model = keras.Model(x, keras.layers.Conv2D(4, 3)(x))
    model.export(str(tmp_path / "sm"), verbose=False)
    code = main(["--saved-model", str(tmp_path / "sm")])
    out = capsys.readouterr().out
    assert code == 0
    assert "signature serving_default" in out
    assert "[?, 5, 5, 3]" in out and "[?, 3, 3, 4]" in out
    assert "holding 112 values" in out
    assert "not recoverable" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--app", "nope"], "--app nope: no such app"),
        (["--model", "missing.keras"], "missing.keras: model file not found"),
        (["--saved-model", "."], "not a SavedModel"),
        (["--app", "detect", "--set", "model.hed=x"], "model.head"),
        (["--model", "x.keras", "--set", "a=1"], "--app only"),
        (["--app", "embed", "--set", "model.method=ngram"], "no Keras model"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_help_lists_examples(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "1. python -m apps.inspect" in out and "--saved-model" in out
