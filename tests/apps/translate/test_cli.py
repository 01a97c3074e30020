"""`python -m apps.translate` end to end on the tiny config, and bad input."""

import io
import json
import sys

import numpy as np
import pytest

from apps.translate.__main__ import main
from tests.apps.translate.conftest import TINY
from tests.helpers import assert_resume_refused
from tests.helpers import interrupted_copy


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DLSUITE_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1] if err else ""


def test_help_ends_with_numbered_examples(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "  1. python -m apps.translate" in out
    for verb in "train evaluate predict analyze export tune".split():
        assert verb in out
        assert main([verb, "--help"]) == 0


def test_train_writes_run(tiny_run):
    for name in ("config.yaml", "model.keras", "history.csv"):
        assert (tiny_run / name).exists(), name
    vocab = (tiny_run / "source_vocab.txt").read_text().splitlines()
    assert vocab[:4] == ["[PAD]", "[START]", "[END]", "[UNK]"]
    header = (tiny_run / "history.csv").read_text().splitlines()[0]
    assert "perplexity" in header and "val_perplexity" in header


def test_evaluate_reports_sacrebleu(tiny_run, capsys):
    assert main(["evaluate", "--run", str(tiny_run)]) == 0
    out = capsys.readouterr().out
    assert "sacreBLEU" in out and "BLEU signature: nrefs:1" in out
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert 0 <= metrics["bleu"] <= 100 and metrics["perplexity"] > 1
    assert metrics["sentences"] == 20
    for path in metrics["attention_maps"]:
        assert (tiny_run / "plots").exists()
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    # The BLEU of the written translations, recomputed with sacrebleu.
    import sacrebleu

    rows = (tiny_run / "translations.txt").read_text().splitlines()
    hyps = [r.split("\t")[1] for r in rows]
    refs = [r.split("\t")[2] for r in rows]
    again = sacrebleu.corpus_bleu(hyps, [refs]).score
    assert abs(again - metrics["bleu"]) < 1e-9


def test_predict_stdin_nbest(tiny_run, capsys, monkeypatch):
    text = "3 march 1998\n12/25/99\n"
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode()))
    )
    code = main(["predict", "--run", str(tiny_run), "--nbest", "2", "--json"])
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["source"] for r in results] == ["3 march 1998", "12/25/99"]
    for item in results:
        scores = [t["score"] for t in item["translations"]]
        assert 1 <= len(scores) <= 2 and scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    "content, expected",
    [(b"\n\n", "no sentence"), (b"ok\n\xff\xfe bad\n", ":2: not valid UTF-8")],
)
def test_predict_bad_input_file(tiny_run, tmp_path, capsys, content, expected):
    path = tmp_path / "in.txt"
    path.write_bytes(content)
    code = main(["predict", "--run", str(tiny_run), "--input", str(path)])
    assert code == 2
    assert expected in _err_line(capsys)


def test_analyze_attributes_every_error(tiny_run, capsys):
    assert main(["analyze", "--run", str(tiny_run)]) == 0
    report = json.loads((tiny_run / "error_analysis.json").read_text())
    assert (
        report["search_errors"] + report["model_errors"] + report["correct"]
        == report["sentences"]
    )
    if report["search_errors"] + report["model_errors"]:
        assert abs(report["search_share"] + report["model_share"] - 1) < 1e-9


def test_export_translates_raw_strings_without_this_repo(tiny_run, capsys):
    from apps.common.exporting import run_calls_in_fresh_process

    assert main(["export", "--run", str(tiny_run)]) == 0
    export = tiny_run / "export" / "1"
    inputs = [
        "",  # empty
        "1 jan 2000 " * 200,  # very long
        "日付 ∑ ☃ 12/25/99",  # characters the vocabulary never saw
        "3 march 1998",
    ]
    # One server process answers both signatures.
    got, greedy = run_calls_in_fresh_process(
        export,
        [
            (
                "translate",
                {"strings": np.array([t.encode("utf-8") for t in inputs])},
            ),
            (
                "translate_greedy",
                {"strings": np.array([b"3 march 1998", b"12/25/99"])},
            ),
        ],
        imports=("tensorflow_text",),
    )
    assert got["translations"].shape == (4, 1)
    assert np.all(np.isfinite(got["scores"]))
    assert got["truncated"].tolist() == [False, True, False, False]
    # The greedy signature is the model's own greedy decoding.
    import tensorflow as tf

    from apps.translate.inference import load_run
    from apps.translate.inference import make_translator
    from layers.samplers.greedy import greedy_decode

    cfg, model, tokenizers = load_run(tiny_run)
    source = make_translator(cfg, model, tokenizers, beam_size=1)(
        tf.constant(["3 march 1998", "12/25/99"])
    )["source_ids"]
    width = int(greedy["tokens"].shape[-1])
    tokens = greedy_decode(model, source, max_length=width)["tokens"]
    want = tokenizers[1].detokenize(tokens).numpy().tolist()
    assert greedy["translations"][:, 0].tolist() == want


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["evaluate", "--run", "nowhere"], "run folder not found"),
        (["train", "--set", "model.architecture=lstm"], "model.architecture"),
        (["train", "--set", "data.source=parallel"], "data.train_source"),
        (["train", "--set", "decoding.num_return=9"], "decoding.num_return"),
    ],
)
def test_bad_usage_exit_2(runs_root, capsys, argv, expected):
    assert main(argv) == 2
    assert expected in _err_line(capsys)


def test_resume_with_a_changed_model_key_is_refused_key_by_key(
    tiny_run, tmp_path
):
    run = interrupted_copy(tiny_run, tmp_path, "translate", "r")
    argv = ["train", "--config", TINY, "--run", "r"]
    assert_resume_refused(
        main,
        tmp_path,
        argv + ["--set", "model.units=32", "--set", "data.seed=7"],
        ["data.seed", "model.units"],
    )
    assert not (run / "model.keras").exists()
    assert not (run / "source_vocab.txt").exists()


@pytest.mark.slow  # the Transformer's next()/call() are tested in layers/
def test_transformer_trains_and_exports(runs_root, capsys):
    argv = [
        "train",
        "--config",
        TINY,
        "--set",
        "model.architecture=transformer",
    ]
    assert main([*argv, "--run", "tr"]) == 0
    run = runs_root / "translate" / "tr"
    assert main(["export", "--run", str(run)]) == 0


@pytest.mark.slow  # two tiny trainings; the sweep code is shared
def test_tune_writes_a_best_config(runs_root):
    code = main(
        ["tune", "--config", TINY, "--set", "tune.max_trials=2", "--run", "s"]
    )
    assert code == 0
    sweep = runs_root / "translate" / "s"
    trials = json.loads((sweep / "trials.json").read_text())["trials"]
    assert len(trials) == 2
    assert (sweep / "best.yaml").exists()
