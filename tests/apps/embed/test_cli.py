"""`python -m apps.embed` end to end on the tiny config, and bad input."""

import json

import numpy as np
import pytest

from apps.embed import methods
from apps.embed.__main__ import main
from tests.apps.embed.conftest import TINY
from tests.helpers import assert_resume_refused
from tests.helpers import interrupted_copy


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DLSUITE_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line, no traceback
    return err[0]


def _train(*extra) -> list[str]:
    return ["train", "--config", TINY, *extra]


def test_help_ends_with_numbered_examples(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "  1. python -m apps.embed" in out
    for verb in "train evaluate query plot export sample tune".split():
        assert verb in out
        assert main([verb, "--help"]) == 0


def test_train_writes_run(tiny_run):
    for name in ("config.yaml", "model.keras", "vocab.tsv", "history.csv"):
        assert (tiny_run / name).exists(), name
    assert not (tiny_run / "backup").exists()  # removed once finished
    summary = json.loads((tiny_run / "train_summary.json").read_text())
    assert summary["method"] == "sgns" and summary["pairs"] > 10000
    assert summary["raw_words_per_second"] > 0
    assert any((tiny_run / "logs").iterdir())


def test_evaluate_reports_sections_and_spearman(tiny_run, tmp_path, capsys):
    analogies = tmp_path / "q.txt"
    analogies.write_text(
        ": semantic\nthe a of to\nthe of a to\n: gram1\nis are was were\n"
        ": empty\nzzq yyq xxq wwq\n"
    )
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("the\ta\t5\nof\tto\t3\nis\tthe\t1\nzzq\tthe\t2\n")
    argv = [
        "evaluate",
        "--run",
        str(tiny_run),
    ]
    import yaml

    config = tiny_run / "config.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["evaluation"]["analogies"] = str(analogies)
    cfg["evaluation"]["word_pairs"] = [str(pairs), str(tmp_path / "no.tsv")]
    config.write_text(yaml.safe_dump(cfg))
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Analogies:" in out and "pairs: Spearman" in out
    assert "skipped" in out
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    total = metrics["analogies"]["total"]
    assert (total["total"], total["questions"]) == (3, 4)
    assert metrics["analogies"]["sections"]["empty"]["total"] == 0
    assert metrics["word_pairs"]["pairs"]["pairs"] == 3
    assert -1 <= metrics["word_pairs"]["pairs"]["spearman"] <= 1


def test_query_neighbors_analogy_similarity(tiny_run, capsys):
    argv = ["query", "--run", str(tiny_run), "--neighbors", "the", "of"]
    argv += ["--analogy", "is", "are", "was", "--similarity", "the", "The"]
    assert main([*argv, "--top", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [len(v) for v in result["neighbors"].values()] == [3, 3]
    assert "the" not in [w for w, _ in result["neighbors"]["the"]]
    assert len(result["analogy"]["answers"]) == 3
    assert result["similarity"]["cosine"] == pytest.approx(1.0, abs=1e-5)


def test_query_unknown_word_is_one_line(tiny_run, capsys):
    code = main(["query", "--run", str(tiny_run), "--neighbors", "qwzx"])
    assert code == 2
    assert "'qwzx' is not in the vocabulary" in _err_line(capsys)
    assert main(["query", "--run", str(tiny_run)]) == 2
    assert "give --neighbors" in _err_line(capsys)


def test_plot_writes_png(tiny_run, tmp_path):
    out = tmp_path / "map.png"
    argv = ["plot", "--run", str(tiny_run), "--top", "40", "--output", str(out)]
    assert main(argv) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_reloads_in_fresh_process(tiny_run, capsys):
    assert main(["export", "--run", str(tiny_run)]) == 0
    assert "fresh-process check" in capsys.readouterr().out
    export = tiny_run / "export"
    vocab = [
        line.split("\t")[0]
        for line in (tiny_run / "vocab.tsv").read_text().splitlines()[1:]
    ]
    header = (export / "word2vec.txt").read_text().splitlines()[0]
    assert header == f"{len(vocab)} 16"
    meta = (export / "projector" / "metadata.tsv").read_text().splitlines()
    assert meta == vocab
    vectors = np.loadtxt(export / "projector" / "vectors.tsv", delimiter="\t")
    assert vectors.shape == (len(vocab), 16)
    # export itself called both signatures in a fresh process that cannot
    # import this repository and compared them with the model; here the
    # unknown-word contract, loaded as a server loads it.
    import tensorflow as tf

    loaded = tf.saved_model.load(str(export / "1"))
    words = tf.constant(["the", "THE", "qwzx"])
    got = {
        k: v.numpy()
        for k, v in loaded.signatures["lookup"](words=words).items()
    }
    assert got["known"].tolist() == [True, True, False]
    np.testing.assert_allclose(np.linalg.norm(got["vectors"][0]), 1, 1e-5)
    np.testing.assert_array_equal(got["vectors"][2], 0)
    np.testing.assert_allclose(got["vectors"][0], got["vectors"][1])
    near = loaded.signatures["neighbors"](words=words)
    assert near["neighbors"].shape == (3, 10)
    assert b"the" not in near["neighbors"][0].numpy().tolist()
    assert near["neighbors"][2].numpy().tolist() == [b""] * 10
    scores = near["scores"][0].numpy()
    assert np.all(np.diff(scores) <= 1e-6)  # best first


def test_word2vec_text_loads_in_gensim(tiny_run, tmp_path):
    gensim = pytest.importorskip("gensim")
    from apps.embed.exports import write_word2vec_text
    from apps.embed.inference import load_vectors

    _, wv = load_vectors(tiny_run)
    path = tmp_path / "vectors.txt"
    write_word2vec_text(path, wv)
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(path))
    assert kv.index_to_key == wv.words
    assert kv.similarity("the", "of") == pytest.approx(
        wv.similarity("the", "of"), abs=1e-4
    )
    ours = [w for w, _ in wv.most_similar(["the"], top_k=5)]
    assert [w for w, _ in kv.most_similar("the", topn=5)] == ours


@pytest.mark.parametrize(
    "content, expected",
    [
        ("\n\n  \n", "the corpus is empty"),
        ("hello\nhello hello\n", "expected at least 2"),
    ],
)
def test_bad_corpora_are_one_line(
    runs_root, tmp_path, capsys, content, expected
):
    corpus = tmp_path / "c.txt"
    corpus.write_text(content)
    argv = _train("--set", "data.source=files")
    argv += [
        "--set",
        f"data.train_files=[{corpus}]",
        "--set",
        "data.min_count=1",
    ]
    assert main(argv) == 2
    assert expected in _err_line(capsys)
    assert not (runs_root / "embed").exists() or not any(
        (runs_root / "embed").iterdir()
    )


def test_bad_config_and_missing_file(runs_root, tmp_path, capsys):
    assert main(_train("--set", "model.methd=sgns")) == 2
    assert "nearest valid key: 'model.method'" in _err_line(capsys)
    assert main(_train("--set", "model.method=bert")) == 2
    assert "model.method: expected one of" in _err_line(capsys)
    missing = ["--set", "data.source=files"]
    missing += ["--set", f"data.train_files=[{tmp_path / 'none.txt'}]"]
    assert main(_train(*missing)) == 2
    assert "corpus file not found" in _err_line(capsys)
    assert main(["evaluate", "--run", str(tmp_path / "nope")]) == 2
    assert "run folder not found" in _err_line(capsys)


def test_ngram_train_evaluate_sample(runs_root, capsys):
    assert main(_train("--method", "ngram", "--run", "kn")) == 0
    run = runs_root / "embed" / "kn"
    assert main(["evaluate", "--run", str(run)]) == 0
    out = capsys.readouterr().out
    assert "Perplexity" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert 1 < metrics["perplexity"] < 3000 and metrics["tokens"] > 50
    assert (
        main(["sample", "--run", str(run), "--prompt", "the", "--length", "5"])
        == 0
    )
    assert len(capsys.readouterr().out.split()) == 6
    assert main(_train("--method", "ngram", "--run", "kn")) == 2
    assert "already exists" in _err_line(capsys)
    assert main(["query", "--run", str(run), "--neighbors", "the"]) == 2
    assert "no word vectors" in _err_line(capsys)


def test_rnnlm_train_evaluate_sample(runs_root, tmp_path, capsys):
    assert main(_train("--method", "rnnlm", "--run", "lm")) == 0
    run = runs_root / "embed" / "lm"
    assert main(["evaluate", "--run", str(run), "--split", "valid"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    summary = json.loads((run / "train_summary.json").read_text())
    # evaluate recomputes the perplexity that fit() logged on validation.
    assert metrics["perplexity"] == pytest.approx(
        summary["valid_perplexity"], rel=1e-3
    )
    capsys.readouterr()
    assert main(["sample", "--run", str(run), "--length", "4"]) == 0
    assert len(capsys.readouterr().out.split()) == 4
    # The shared lifecycle refuses to resume it with a changed model key.
    copy = interrupted_copy(run, tmp_path, "embed", "lm2")
    argv = _train("--method", "rnnlm", "--run", "lm2")
    keys = ["model.units"]
    assert_resume_refused(
        main, tmp_path, argv + ["--set", "model.units=8"], keys
    )
    assert not (copy / "model.keras").exists()


@pytest.mark.parametrize(
    "method",
    [
        "glove",
        # Covered by test_trainers (cbow) and slow through fit (softmax).
        pytest.param("cbow", marks=pytest.mark.slow),
        pytest.param("softmax", marks=pytest.mark.slow),
    ],
)
def test_other_embedding_methods_train(runs_root, method):
    argv = _train("--method", method, "--run", method)
    assert main([*argv, "--set", "train.batch_size=512"]) == 0
    run = runs_root / "embed" / method
    assert main(["query", "--run", str(run), "--neighbors", "the"]) == 0


def test_killed_training_resumes(runs_root, monkeypatch, capsys):
    calls = []
    original = methods.EpochLog.__call__

    def dying(self, epoch, values):
        original(self, epoch, values)
        calls.append(epoch)
        if len(calls) == 1:
            raise KeyboardInterrupt  # killed after the first epoch

    monkeypatch.setattr(methods.EpochLog, "__call__", dying)
    argv = _train("--run", "r", "--set", "train.epochs=2")
    assert main(argv) == 130
    assert (runs_root / "embed" / "r" / "backup").exists()
    assert main(argv) == 0
    assert "Resumed after epoch 1" in capsys.readouterr().out
    summary = json.loads(
        (runs_root / "embed" / "r" / "train_summary.json").read_text()
    )
    assert summary["epochs_run"] == 1 and calls == [0, 1]


def test_resume_with_a_changed_model_key_is_refused_key_by_key(
    tiny_run, tmp_path
):
    run = interrupted_copy(tiny_run, tmp_path, "embed", "r")
    argv = ["train", "--config", TINY, "--run", "r"]
    assert_resume_refused(
        main,
        tmp_path,
        argv + ["--set", "model.dim=8", "--method", "cbow"],
        ["model.dim", "model.method"],
    )
    assert not (run / "model.keras").exists()


@pytest.mark.slow  # two keras-tuner trials: about 12 s
def test_tune_rnnlm_writes_best_config(runs_root, capsys):
    argv = ["tune", "--config", TINY, "--set", "model.method=rnnlm"]
    assert main([*argv, "--run", "sweep"]) == 0
    assert "Use the best config with" in capsys.readouterr().out
    best = runs_root / "embed" / "sweep" / "best.yaml"
    import yaml

    assert yaml.safe_load(best.read_text())["model"]["method"] == "rnnlm"
    assert main(["tune", "--config", TINY, "--run", "sweep2"]) == 2
    assert "tune searches the rnnlm" in _err_line(capsys)
