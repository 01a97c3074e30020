"""`python -m apps.detect` end to end on the tiny config, and bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from apps.common import config as config_lib
from apps.detect.__main__ import main
from apps.detect.config import DetectConfig
from tests.helpers import assert_resume_refused
from tests.helpers import interrupted_copy
from tests.helpers import main_under_runs_root

ROOT = Path(__file__).resolve().parents[3]
TINY = str(ROOT / "apps" / "detect" / "configs" / "tiny.yaml")


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DLSUITE_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def test_help_ends_with_numbered_examples(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Config order" in out
    assert "  1. python -m apps.detect" in out
    for verb in ("train", "evaluate", "predict", "export", "tune"):
        assert verb in out
        assert main([verb, "--help"]) == 0


def test_unknown_set_key_is_one_line_exit_2(runs_root, capsys):
    code = main(["train", "--set", "train.epoch=3", "--run", "x"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "nearest valid key: 'train.epochs'" in err
    assert not (runs_root / "detect" / "x").exists()


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["evaluate", "--run", "nowhere"], "run folder not found"),
        (["train", "--config", "missing.yaml"], "config file not found"),
        (["train", "--set", "data.image_size=50"], "multiple of 16"),
        (["train", "--set", "optimizer.name=adagrad"], "optimizer.name"),
    ],
)
def test_bad_usage_exit_2(runs_root, capsys, argv, expected):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_train_writes_a_complete_run(tiny_run):
    for name in (
        "config.yaml",
        "model.keras",
        "history.csv",
        "plots/training.png",
        "checkpoints/last.keras",
    ):
        assert (tiny_run / name).exists(), name
    assert any((tiny_run / "logs").rglob("*tfevents*"))
    config = (tiny_run / "config.yaml").read_text()
    assert "anchors:" in config and "- - " in config  # k-means anchors saved


def test_finished_run_is_not_overwritten(tiny_run, monkeypatch, capsys):
    monkeypatch.setenv("DLSUITE_RUNS", str(tiny_run.parents[1]))
    before = (tiny_run / "model.keras").stat().st_mtime
    assert main(["train", "--config", TINY, "--run", "tiny"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tiny_run / "model.keras").stat().st_mtime == before


def test_evaluate_writes_metrics_and_pr_plot(tiny_run):
    assert main(["evaluate", "--run", str(tiny_run)]) == 0
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert 0.0 <= metrics["map50"] <= 1.0
    assert set(metrics["per_class"]) == {"circle", "square", "triangle"}
    assert (tiny_run / "plots" / "pr_curve.png").stat().st_size > 1000


def test_export_then_load_without_this_repo_then_predict(tiny_run, tmp_path):
    assert main(["export", "--run", str(tiny_run)]) == 0
    versions = sorted((tiny_run / "export").iterdir())
    export_dir = versions[-1]
    assert (export_dir / "saved_model.pb").is_file()
    assert (export_dir / "assets.extra" / "labels.txt").read_text().split() == [
        "circle",
        "square",
        "triangle",
    ]
    # A server: plain tf.saved_model.load in a process with no repo on the
    # path, JPEG bytes in, boxes in input pixels out.
    from PIL import Image

    image = (np.random.default_rng(0).random((40, 90, 3)) * 255).astype(
        np.uint8
    )
    Image.fromarray(image).save(tmp_path / "x.jpg")
    script = (
        "import sys, tensorflow as tf\n"
        "assert 'apps' not in sys.modules\n"
        f"m = tf.saved_model.load({str(export_dir)!r})\n"
        f"data = open({str(tmp_path / 'x.jpg')!r}, 'rb').read()\n"
        "out = m.signatures['serving_default'](images=tf.constant([data]))\n"
        "print(sorted(out), out['boxes'].shape, out['num_detections'].shape)\n"
        "b = out['boxes'].numpy()\n"
        "assert (b[..., 0::2] <= 90).all() and (b[..., 1::2] <= 40).all()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    proc = subprocess.run(
        [sys.executable, "-I", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "['boxes', 'classes', 'num_detections', 'scores']" in proc.stdout
    assert "(1, 100, 4) (1,)" in proc.stdout
    # Bad bytes are an InvalidArgument error, not a crash.
    loaded = tf.saved_model.load(str(export_dir))
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["serving_default"](images=tf.constant([b"junk"]))

    out_dir = tmp_path / "pred"
    assert (
        main(
            [
                "predict",
                "--run",
                str(tiny_run),
                "--input",
                str(tmp_path / "x.jpg"),
                "--output",
                str(out_dir),
            ]
        )
        == 0
    )
    result = json.loads((out_dir / "predictions.json").read_text())
    assert result["predictions"][0]["file"].endswith("x.jpg")
    assert (out_dir / "x.detections.png").is_file()


def test_predict_bad_inputs_write_nothing(tiny_run, tmp_path, capsys):
    out_dir = tmp_path / "out"
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    cases = [
        (tmp_path / "missing.jpg", "missing.jpg"),
        (bad, "not a readable image"),
        (text, "not an image file"),
    ]
    for path, expected in cases:
        code = main(
            [
                "predict",
                "--run",
                str(tiny_run),
                "--input",
                str(path),
                "--output",
                str(out_dir),
            ]
        )
        err = capsys.readouterr().err
        assert code == 2, err
        assert expected in err and err.count("\n") == 1
    # A corrupt image inside a folder: named, exit 2, nothing written.
    folder = tmp_path / "folder"
    folder.mkdir()
    from PIL import Image

    Image.new("RGB", (20, 20)).save(folder / "a.png")
    (folder / "b.jpg").write_bytes(b"\xff\xd8\xff garbage")
    assert (
        main(
            [
                "predict",
                "--run",
                str(tiny_run),
                "--input",
                str(folder),
                "--output",
                str(out_dir),
            ]
        )
        == 2
    )
    assert "b.jpg" in capsys.readouterr().err
    assert not out_dir.exists()


def test_tune_writes_a_best_config_usable_with_config(runs_root, capsys):
    assert main(["tune", "--config", TINY, "--run", "sweep"]) == 0
    sweep = runs_root / "detect" / "sweep"
    best = sweep / "best.yaml"
    assert best.is_file()
    trials = json.loads((sweep / "trials.json").read_text())["trials"]
    assert len(trials) == 2
    assert {"learning_rate", "width", "num_anchors", "augment_strength"} <= set(
        trials[0]
    )
    # Running the same sweep again resumes it: no completed trial is redone.
    trial_dirs = sorted((sweep / "tuner" / "sweep").glob("trial_*"))
    stamps = [(d / "trial.json").stat().st_mtime for d in trial_dirs]
    assert main(["tune", "--config", TINY, "--run", "sweep"]) == 0
    assert "Reloading Tuner" in capsys.readouterr().out
    again = sorted((sweep / "tuner" / "sweep").glob("trial_*"))
    assert again == trial_dirs
    assert [(d / "trial.json").stat().st_mtime for d in again] == stamps
    from apps.common import config as config_lib
    from apps.detect.config import DetectConfig

    cfg = config_lib.resolve(DetectConfig, config_file=best)
    assert cfg.model.width in (0.5, 0.75, 1.0)


def test_killed_train_resumes_from_last_epoch(tmp_path, capsys):
    epochs = 12
    env = dict(os.environ, DLSUITE_RUNS=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [
        sys.executable,
        "-m",
        "apps.detect",
        "train",
        "--config",
        TINY,
        "--set",
        f"train.epochs={epochs}",
        "--run",
        "r",
    ]
    run = tmp_path / "detect" / "r"
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 240
    while time.time() < deadline:
        history = run / "history.csv"
        if history.exists() and len(history.read_text().splitlines()) >= 3:
            break
        if proc.poll() is not None:
            pytest.fail(proc.stderr.read().decode()[-2000:])
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (run / "backup").exists()
    assert not (run / "model.keras").exists()
    done = len((run / "history.csv").read_text().splitlines()) - 1
    assert 2 <= done < epochs
    # The same command again (in this process: one TensorFlow start-up
    # less) resumes it.
    assert main_under_runs_root(main, tmp_path, cmd[3:]) == 0
    assert "Resuming" in capsys.readouterr().out
    logged = [
        int(line.split(",")[0])
        for line in (run / "history.csv").read_text().splitlines()[1:]
    ]
    # Every epoch ran; the one interrupted mid-way ran again at most.
    assert sorted(set(logged)) == list(range(epochs))
    assert len(logged) <= epochs + 1
    assert (run / "model.keras").is_file()
    assert not (run / "backup").exists()


def test_manifest_dataset_with_a_corrupt_image(runs_root, tmp_path, capsys):
    from pipelines.synthetic.shapes import write_shapes_folder

    train = write_shapes_folder(tmp_path / "train", 16, 64, seed=1)
    val = write_shapes_folder(tmp_path / "val", 8, 64, seed=2)
    (tmp_path / "train" / "shape_00003.png").write_bytes(b"\x89PNG broken")
    sets = [
        "--set",
        "data.source=manifest",
        "--set",
        f"data.train_path={train}",
        "--set",
        f"data.val_path={val}",
    ]
    # Strict: one line naming the file, exit 2, no run folder.
    code = main(
        [
            "train",
            "--config",
            TINY,
            *sets,
            "--set",
            "data.strict=true",
            "--run",
            "m",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "shape_00003.png: not a readable image" in _last_line(err)
    assert "Traceback" not in err
    assert sum("error:" in line for line in err.splitlines()) == 1
    assert not (runs_root / "detect" / "m").exists()
    # Default: the bad image is skipped and listed; training goes on.
    assert main(["train", "--config", TINY, *sets, "--run", "m"]) == 0
    out = capsys.readouterr().out
    assert "train: 15 images" in out and "1 unreadable images skipped" in out
    assert "skipped unreadable image:" in out and "shape_00003.png" in out
    config = (runs_root / "detect" / "m" / "config.yaml").read_text()
    assert "- circle" in config  # class names travel with the run


def test_export_tflite_from_the_cli(tiny_run, capsys):
    code = main(
        [
            "export",
            "--run",
            str(tiny_run),
            "--format",
            "tflite",
            "--quantization",
            "float16",
        ]
    )
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "model_float16.tflite" in out
    files = list((tiny_run / "export").glob("*/model_float16.tflite"))
    assert len(files) == 1 and files[0].stat().st_size > 10_000


@pytest.mark.slow  # 60-150 s; the head's layers and loss are tested alone
def test_anchor_free_head_trains_evaluates_and_exports(runs_root, capsys):
    tiny_af = str(
        ROOT / "apps" / "detect" / "configs" / "tiny_anchor_free.yaml"
    )
    assert main(["train", "--config", tiny_af, "--run", "af"]) == 0
    run = runs_root / "detect" / "af"
    assert "head: anchor_free" in (run / "config.yaml").read_text()
    assert main(["evaluate", "--run", str(run)]) == 0
    assert main(["export", "--run", str(run)]) == 0
    out = capsys.readouterr().out
    assert "fresh-process check" in out
    loaded = tf.saved_model.load(str(run / "export" / "1"))
    pixels = tf.zeros((2, 64, 64, 3))
    result = loaded.signatures["detect_float"](pixels=pixels)
    assert result["boxes"].shape == (2, 100, 4)


def test_anchor_free_needs_a_multiple_of_32(runs_root, capsys):
    code = main(
        [
            "train",
            "--set",
            "model.head=anchor_free",
            "--set",
            "data.image_size=80",
        ]
    )
    assert code == 2
    assert "multiple of 32" in capsys.readouterr().err


def test_transfer_learning_from_a_local_weights_file(
    tiny_run, runs_root, capsys
):
    import keras

    weights = tiny_run / "model.keras"
    code = main(
        [
            "train",
            "--config",
            TINY,
            "--set",
            f"model.backbone_weights={weights}",
            "--set",
            "model.freeze=backbone",
            "--run",
            "ft",
        ]
    )
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "Loaded pretrained weights" in out and "layers frozen" in out
    source = keras.saving.load_model(weights, compile=False)
    tuned = keras.saving.load_model(
        runs_root / "detect" / "ft" / "model.keras", compile=False
    )
    conv = "stage2_down_conv"  # a backbone layer: frozen, unchanged
    np.testing.assert_array_equal(
        source.get_layer(conv).get_weights()[0],
        tuned.get_layer(conv).get_weights()[0],
    )
    head_before = source.get_layer("yolo_head").get_weights()[0]
    head_after = tuned.get_layer("yolo_head").get_weights()[0]
    assert not np.array_equal(head_before, head_after)  # the head trained


def test_resume_with_a_changed_model_key_is_refused_key_by_key(
    tiny_run, tmp_path
):
    run = interrupted_copy(tiny_run, tmp_path, "detect", "r")
    argv = ["train", "--config", TINY, "--run", "r"]
    assert_resume_refused(
        main,
        tmp_path,
        argv + ["--set", "model.width=0.5", "--set", "data.seed=7"],
        ["data.seed", "model.width"],
    )
    assert not (run / "model.keras").exists()


def test_resume_with_more_epochs_applies_and_is_recorded(tiny_run, tmp_path):
    run = interrupted_copy(tiny_run, tmp_path, "detect", "r")
    saved = config_lib.resolve(DetectConfig, config_file=run / "config.yaml")
    more = saved.train.epochs + 1
    argv = ["train", "--run", "r", "--set", f"train.epochs={more}"]
    assert main_under_runs_root(main, tmp_path, argv) == 0
    log = json.loads((run / "resumes.json").read_text())
    assert log["resumes"][-1]["changed"] == {
        "train.epochs": {"saved": saved.train.epochs, "new": more}
    }
    now = config_lib.resolve(DetectConfig, config_file=run / "config.yaml")
    assert now.train.epochs == more
    assert now.model.anchors == saved.model.anchors
