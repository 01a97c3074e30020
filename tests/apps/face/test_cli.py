"""`python -m apps.face` end to end on the tiny config, and bad input."""

import json

import numpy as np
import pytest
from PIL import Image

from apps.face.__main__ import main
from tests.apps.face.conftest import TINY
from tests.helpers import assert_resume_refused
from tests.helpers import interrupted_copy


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DLSUITE_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    """Two synthetic unseen people as PNG folders, and a grey stranger."""
    from pipelines.synthetic.faces import make_synthetic_faces

    images, labels = make_synthetic_faces(3, 4, image_size=48, seed=99)
    root = tmp_path_factory.mktemp("people")
    for label in range(3):
        folder = root / f"person{label}"
        folder.mkdir()
        for k, image in enumerate(images[labels == label]):
            Image.fromarray(image[..., 0]).save(folder / f"{k}.png")
    return root


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1] if err else ""


def test_help_ends_with_numbered_examples(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "  1. python -m apps.face" in out
    verbs = (
        "train evaluate calibrate enroll identify verify predict export tune"
    )
    for verb in verbs.split():
        assert verb in out
        assert main([verb, "--help"]) == 0


def test_train_writes_run(tiny_run):
    for name in ("config.yaml", "model.keras", "history.csv"):
        assert (tiny_run / name).exists(), name
    summary = json.loads((tiny_run / "train_summary.json").read_text())
    assert summary["epochs_run"] == 1
    assert np.isfinite(summary["final_loss"])


def test_evaluate_reports_verification(tiny_run, capsys):
    assert main(["evaluate", "--run", str(tiny_run)]) == 0
    out = capsys.readouterr().out
    assert "verification accuracy" in out and "rank-1" in out
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy_mean"] <= 1.0
    assert 0.0 <= metrics["auc"] <= 1.0
    assert metrics["identities"] == 4
    assert (
        abs(metrics["threshold_cosine"] - (1 - metrics["threshold"] / 2)) < 1e-6
    )
    assert (tiny_run / "plots" / "roc.png").stat().st_size > 1000


def test_calibrate_then_verify_uses_it(tiny_run, people, capsys):
    assert (
        main(["calibrate", "--run", str(tiny_run), "--input", str(people)]) == 0
    )
    calibration = json.loads((tiny_run / "calibration.json").read_text())
    assert 0 < calibration["threshold"] <= 4
    capsys.readouterr()
    a = people / "person0" / "0.png"
    b = people / "person1" / "0.png"
    assert main(["verify", "--run", str(tiny_run), str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "calibrated" in out and "P(same)" in out
    assert ("SAME" in out) or ("DIFFERENT" in out)


def test_enroll_identify_unknown(tiny_run, people, capsys, tmp_path):
    gallery = tmp_path / "gallery.npz"
    run = str(tiny_run)
    assert (
        main(
            [
                "enroll",
                "--run",
                run,
                "--gallery",
                str(gallery),
                "--input",
                str(people / "person0" / "0.png"),
                "--name",
                "ann",
            ]
        )
        == 0
    )
    assert gallery.exists()
    capsys.readouterr()
    # A threshold of 4 accepts every face, one near 0 rejects them all.
    probe = str(people / "person0" / "1.png")
    assert (
        main(
            [
                "identify",
                "--run",
                run,
                "--gallery",
                str(gallery),
                "--input",
                probe,
                "--threshold",
                "4",
            ]
        )
        == 0
    )
    assert ": ann (" in capsys.readouterr().out
    assert (
        main(
            [
                "identify",
                "--run",
                run,
                "--gallery",
                str(gallery),
                "--input",
                probe,
                "--threshold",
                "1e-9",
            ]
        )
        == 0
    )
    assert ": unknown (" in capsys.readouterr().out


def test_identify_with_empty_gallery_is_one_line(tiny_run, people, capsys):
    code = main(
        [
            "identify",
            "--run",
            str(tiny_run),
            "--gallery",
            str(people / "none.npz"),
            "--input",
            str(people / "person0" / "0.png"),
        ]
    )
    assert code == 2
    assert "gallery" in _err_line(capsys)


def test_unreadable_image_is_one_line(tiny_run, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(good)
    code = main(["verify", "--run", str(tiny_run), str(bad), str(good)])
    assert code == 2
    line = _err_line(capsys)
    assert "bad.png" in line and "not a readable image" in line


def test_predict_writes_embeddings(tiny_run, people, tmp_path):
    out = tmp_path / "pred"
    assert (
        main(
            [
                "predict",
                "--run",
                str(tiny_run),
                "--input",
                str(people / "person1"),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    with np.load(out / "embeddings.npz", allow_pickle=False) as data:
        vectors = data["embeddings"]
    assert vectors.shape == (4, 16)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_export_checked_in_fresh_process(tiny_run, capsys):
    assert main(["export", "--run", str(tiny_run)]) == 0
    out = capsys.readouterr().out
    assert "embed_uint8" in out and "verify" in out
    versions = sorted((tiny_run / "export").iterdir())
    assert [p.name for p in versions] == ["1"]
    info = json.loads(
        (versions[0] / "assets.extra" / "verification.json").read_text()
    )
    assert info["channels"] == 1


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["evaluate", "--run", "nowhere"], "run folder not found"),
        (["train", "--set", "model.loss=contrastive"], "model.loss"),
        (["train", "--set", "data.source=folders"], "data.path"),
        (["train", "--set", "data.channels=2"], "data.channels"),
        (["train", "--set", "model.minig=batch_hard"], "model.mining"),
    ],
)
def test_bad_usage_exit_2(runs_root, capsys, argv, expected):
    assert main(argv) == 2
    assert expected in _err_line(capsys)


def test_missing_data_folder_exit_2(runs_root, tmp_path, capsys):
    code = main(
        [
            "train",
            "--config",
            TINY,
            "--set",
            "data.source=folders",
            "--set",
            f"data.path={tmp_path / 'absent'}",
        ]
    )
    assert code == 2
    assert "absent" in _err_line(capsys)


def test_arcface_trains_and_evaluates(runs_root, capsys):
    assert (
        main(
            [
                "train",
                "--config",
                TINY,
                "--set",
                "model.loss=arcface",
                "--run",
                "arc",
            ]
        )
        == 0
    )
    run = runs_root / "face" / "arc"
    assert main(["evaluate", "--run", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy_mean"] <= 1.0


def test_folder_dataset_with_one_image_person_and_corrupt_file(
    runs_root, tmp_path, capsys
):
    # A person with a single image cannot give a positive pair: dropped
    # and reported; a corrupt image is skipped and named; training goes
    # on with the rest. With data.strict the corrupt file stops it.
    from pipelines.synthetic.faces import write_synthetic_faces

    root = write_synthetic_faces(tmp_path / "faces", 12, 4, image_size=32)
    lonely = root / "zz_lonely"
    lonely.mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(lonely / "0.png")
    (root / "id_000" / "broken.png").write_bytes(b"\x89PNG truncated")
    argv = [
        "train",
        "--config",
        TINY,
        "--set",
        "data.source=folders",
        "--set",
        f"data.path={root}",
    ]
    assert main([*argv, "--run", "folders"]) == 0
    out = capsys.readouterr().out
    assert "12 identities, 48 images" in out
    assert "2 skipped" in out
    assert "zz_lonely" in out or "0.png" in out
    assert "broken.png" in out
    code = main([*argv, "--set", "data.strict=true", "--run", "strict"])
    assert code == 2
    assert "broken.png" in _err_line(capsys)
    assert not (runs_root / "face" / "strict").exists()


def test_tune_compares_triplet_and_arcface(runs_root, capsys):
    code = main(
        [
            "tune",
            "--config",
            TINY,
            "--set",
            "tune.max_trials=2",
            "--run",
            "sweep",
        ]
    )
    assert code == 0
    sweep = runs_root / "face" / "sweep"
    trials = json.loads((sweep / "trials.json").read_text())["trials"]
    assert len(trials) == 2
    assert all(0 <= t["score"] <= 1 for t in trials)
    assert {t["loss"] for t in trials} <= {"triplet", "arcface"}
    # The best config is a config train accepts.
    from apps.common.config import resolve
    from apps.face.config import FaceConfig

    best = resolve(FaceConfig, config_file=sweep / "best.yaml")
    assert best.model.loss in ("triplet", "arcface")


def test_resume_with_a_changed_model_key_is_refused_key_by_key(
    tiny_run, tmp_path
):
    run = interrupted_copy(tiny_run, tmp_path, "face", "r")
    argv = ["train", "--config", TINY, "--run", "r"]
    assert_resume_refused(
        main,
        tmp_path,
        argv + ["--set", "model.width=8", "--set", "data.seed=7"],
        ["data.seed", "model.width"],
    )
    assert not (run / "model.keras").exists()
