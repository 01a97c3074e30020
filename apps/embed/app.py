"""The verbs of `python -m apps.embed` as plain Python functions."""

import dataclasses
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from apps.common import config as config_lib
from apps.common import runs
from apps.common.config import ConfigError
from apps.common.runtime import apply_runtime
from apps.embed import methods
from apps.embed.config import EMBEDDING_METHODS
from apps.embed.config import LM_METHODS
from apps.embed.config import EmbedConfig
from apps.embed.data import corpus_name
from apps.embed.data import held_out_split
from apps.embed.data import lm_sequences
from apps.embed.data import load_corpus
from apps.embed.evaluation import evaluate_analogies
from apps.embed.evaluation import evaluate_word_pairs
from apps.embed.evaluation import read_analogies
from apps.embed.evaluation import read_word_pairs
from apps.embed.lm import KneserNeyLM
from apps.embed.model import embedding_matrix
from apps.embed.query import WordVectors
from layers.metrics.text import perplexity
from pipelines.datasets.spec import expand_data_path
from pipelines.errors import DataError
from pipelines.text.corpus import Vocabulary

VOCAB_FILE = "vocab.tsv"


def with_method(cfg: EmbedConfig, method: str | None) -> EmbedConfig:
    """`cfg` with `model.method` replaced (the `--method` flag); the
    language models map rare words to `<unk>` unless `data.unk` says."""
    if method:
        cfg = dataclasses.replace(
            cfg, model=dataclasses.replace(cfg.model, method=method)
        )
    if cfg.model.method in LM_METHODS and not cfg.data.unk:
        cfg = dataclasses.replace(
            cfg, data=dataclasses.replace(cfg.data, unk="<unk>")
        )
    cfg.validate()
    return cfg


def train(cfg: EmbedConfig, run_dir: Path, *, resuming: bool = False) -> dict:
    """Trains `cfg.model.method` into `run_dir`; resumes after a kill."""
    run_dir = Path(run_dir)
    if resuming:
        cfg = config_lib.resolve(
            EmbedConfig, config_file=run_dir / runs.CONFIG_FILE
        )
        print(f"Resuming {run_dir}")
    cfg = with_method(cfg, None)
    apply_runtime(cfg.runtime)
    method = cfg.model.method
    held_out = method in LM_METHODS
    start = time.time()
    print(f"Reading {corpus_name(cfg.data)}")
    vocab, splits = load_corpus(cfg.data, held_out=held_out)
    corpus = splits["train"]
    read_seconds = time.time() - start
    print(
        f"{corpus.raw_words:,} words in {corpus.num_sentences:,} lines, "
        f"vocabulary {len(vocab):,} (min_count {cfg.data.min_count}), read "
        f"in {read_seconds:.1f} s"
    )
    runs.ensure_dir(run_dir)
    vocab.save(run_dir / VOCAB_FILE)
    config_lib.dump_yaml(cfg, run_dir / runs.CONFIG_FILE)
    trainers = {
        "sgns": methods.train_word2vec,
        "cbow": methods.train_word2vec,
        "glove": methods.train_glove,
        "softmax": methods.train_softmax,
    }
    if method in trainers:
        summary = trainers[method](cfg, run_dir, vocab, corpus)
    elif method == "ngram":
        summary = methods.train_ngram(cfg, run_dir, vocab, splits)
    else:
        summary = methods.train_rnnlm(cfg, run_dir, vocab, splits)
    summary.update(
        vocabulary=len(vocab),
        corpus_words=corpus.raw_words,
        read_seconds=round(read_seconds, 1),
    )
    runs.write_json(run_dir / "train_summary.json", summary)
    return summary


def probe_setup(cfg: EmbedConfig, *, batch_size: int = 8, overfit=False):
    """A fresh compiled Keras model and its training batches (repeated),
    at a constant learning rate, for the `sanity` (`overfit`: dropout
    off, the first batch only) and `lr-find` verbs.

    Only the methods trained with Keras' `fit` have such a model: `rnnlm`
    and `softmax`. sgns, cbow and glove train with their own sparse
    loops (their losses' gradients are checked against numpy and finite
    differences in `tests/layers/losses`); asking for them is a one-line
    error.
    """
    from apps.common.sanity import probe_config
    from apps.embed.data import lm_dataset
    from apps.embed.model import build_rnnlm
    from apps.embed.model import build_softmax_skipgram
    from pipelines.text.skipgram import iter_chunks

    cfg = with_method(cfg, None)
    method = cfg.model.method
    if method not in ("rnnlm", "softmax"):
        raise ConfigError(
            f"model.method: {method} trains with its own sparse loop, not a "
            "Keras model; sanity and lr-find take rnnlm or softmax (--set "
            "model.method=rnnlm)"
        )
    apply_runtime(cfg.runtime)
    cfg = probe_config(cfg, overfit=overfit)
    if overfit:
        cfg = dataclasses.replace(
            cfg, model=dataclasses.replace(cfg.model, dropout=0.0)
        )
    vocab, splits = load_corpus(cfg.data, held_out=method == "rnnlm")
    corpus = splits["train"]
    if method == "rnnlm":
        ds = lm_dataset(
            corpus.ids,
            cfg.model.sequence_length,
            batch_size,
            shuffle=not overfit,
            seed=cfg.runtime.seed,
        )
        return build_rnnlm(cfg, len(vocab)), ds.repeat()
    centers, contexts, *_ = next(
        iter_chunks(
            corpus,
            vocab.counts,
            window=cfg.model.window,
            sample=cfg.model.sample,
            seed=cfg.runtime.seed,
        )
    )
    ds = tf.data.Dataset.from_tensor_slices((centers, contexts))
    if not overfit:
        ds = ds.shuffle(len(centers), seed=cfg.runtime.seed)
    model = build_softmax_skipgram(cfg, len(vocab))
    return model, ds.batch(batch_size).repeat()


def load_run(run_dir: Path) -> tuple[EmbedConfig, Vocabulary]:
    """The config and vocabulary of a trained run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise runs.RunError(f"{run_dir}: run folder not found")
    if not (run_dir / runs.CONFIG_FILE).is_file():
        raise runs.RunError(f"{run_dir}: not a run folder (no config.yaml)")
    cfg = config_lib.resolve(
        EmbedConfig, config_file=run_dir / runs.CONFIG_FILE
    )
    artifact = (
        methods.NGRAM_FILE if cfg.model.method == "ngram" else runs.MODEL_FILE
    )
    if (
        not (run_dir / artifact).is_file()
        or not (run_dir / VOCAB_FILE).is_file()
    ):
        raise runs.RunError(
            f"{run_dir}: run has no {artifact}; train it first (re-running "
            "train resumes an interrupted run)"
        )
    return cfg, Vocabulary.load(run_dir / VOCAB_FILE)


def _keras_model(run_dir: Path):
    return keras.saving.load_model(
        Path(run_dir) / runs.MODEL_FILE, compile=False, safe_mode=True
    )


def load_vectors(run_dir: Path) -> tuple[EmbedConfig, WordVectors]:
    """The run's word vectors (any method but `ngram`)."""
    cfg, vocab = load_run(run_dir)
    if cfg.model.method == "ngram":
        raise ConfigError(
            f"{run_dir}: an n-gram model has no word vectors (train sgns, "
            "cbow, glove, softmax or rnnlm)"
        )
    vectors = embedding_matrix(_keras_model(run_dir))
    lower = cfg.data.tokenizer == "text8"
    return cfg, WordVectors(vocab.words, vectors, lower=lower)


def _optional_file(path: str, key: str) -> Path | None:
    try:
        resolved = Path(expand_data_path(path, key))
    except DataError:
        return None
    return resolved if resolved.is_file() else None


def evaluate_vectors(cfg: EmbedConfig, wv: WordVectors) -> dict:
    """Analogy accuracy by section and word-pair correlations; files that
    are not there are listed under `skipped`."""
    e = cfg.evaluation
    result = {"skipped": []}
    analogies = _optional_file(e.analogies, "evaluation.analogies")
    if analogies:
        result["analogies"] = evaluate_analogies(
            wv, read_analogies(analogies), restrict_vocab=e.restrict_vocab
        )
    else:
        result["skipped"].append(e.analogies)
    result["word_pairs"] = {}
    for i, path in enumerate(e.word_pairs):
        found = _optional_file(path, f"evaluation.word_pairs[{i}]")
        if found is None:
            result["skipped"].append(path)
            continue
        result["word_pairs"][found.stem] = evaluate_word_pairs(
            wv, read_word_pairs(found), restrict_vocab=e.restrict_vocab
        )
    return result


def lm_perplexity(run_dir: Path, cfg, vocab, split: str) -> dict:
    """Perplexity of the run's language model on a held-out split."""
    corpus = held_out_split(cfg.data, vocab, split)
    start = time.time()
    if cfg.model.method == "ngram":
        model = KneserNeyLM.load(Path(run_dir) / methods.NGRAM_FILE)
        log_p, tokens = model.log_likelihood(corpus.ids)
        value = float(perplexity(-log_p, tokens))
    else:
        model = _keras_model(run_dir)
        inputs, targets, weights = lm_sequences(
            corpus.ids, cfg.model.sequence_length
        )
        total = 0.0  # summed -log p, a batch at a time (logits are big)
        for start in range(0, len(inputs), 64):
            batch = slice(start, start + 64)
            nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=targets[batch],
                logits=model(inputs[batch], training=False),
            )
            total += float(tf.reduce_sum(nll * weights[batch]))
        tokens = int(weights.sum())
        value = float(perplexity(total, tokens))
    return {
        "perplexity": value,
        "tokens": int(tokens),
        "seconds": round(time.time() - start, 1),
    }


def evaluate(run_dir: Path, *, split: str = "test") -> dict:
    """Word-vector benchmarks (embeddings) or perplexity (language
    models); writes `metrics.json`."""
    cfg, vocab = load_run(run_dir)
    result = {"method": cfg.model.method, "vocabulary": len(vocab)}
    if cfg.model.method in LM_METHODS:
        result.update(split=split, **lm_perplexity(run_dir, cfg, vocab, split))
    if cfg.model.method in EMBEDDING_METHODS:
        _, wv = load_vectors(run_dir)
        result.update(evaluate_vectors(cfg, wv))
    runs.write_json(Path(run_dir) / runs.METRICS_FILE, result)
    return result


def query(
    run_dir: Path,
    *,
    neighbors: list[str] = (),
    analogy: list[str] | None = None,
    similarity: list[str] | None = None,
    top_k: int = 10,
) -> dict:
    """Nearest neighbours of words, an analogy `a - b + c`, a similarity."""
    _, wv = load_vectors(run_dir)
    out = {}
    if neighbors:
        out["neighbors"] = {
            w: wv.most_similar([w], top_k=top_k) for w in neighbors
        }
    if analogy:
        a, b, c = analogy
        out["analogy"] = {
            "query": f"{a} - {b} + {c}",
            "answers": wv.analogy(a, b, c, top_k=top_k),
        }
    if similarity:
        a, b = similarity
        out["similarity"] = {"words": [a, b], "cosine": wv.similarity(a, b)}
    return out


def plot(
    run_dir: Path,
    *,
    words: list[str] | None = None,
    top: int = 300,
    skip: int = 0,
    output: Path | None = None,
) -> dict:
    """A t-SNE map of chosen words (or the `top` most frequent after the
    first `skip`) as a PNG."""
    from apps.embed.draw import plot_tsne

    cfg, wv = load_vectors(run_dir)
    if words:
        ids = [wv.id_of(w) for w in words]
    else:
        ids = list(range(skip, min(len(wv.words), skip + top)))
    if len(ids) < 3:
        raise DataError(f"t-SNE needs at least 3 words, received {len(ids)}")
    out = Path(output) if output else Path(run_dir) / "plots" / "tsne.png"
    plot_tsne(
        [wv.words[i] for i in ids],
        wv.vectors[ids],
        out,
        title=f"t-SNE of {len(ids)} words ({cfg.model.method})",
        seed=cfg.runtime.seed,
    )
    return {"png": str(out), "words": len(ids)}


def sample(
    run_dir: Path,
    *,
    prompt: str = "",
    length: int = 30,
    temperature: float = 1.0,
    seed: int = 0,
) -> str:
    """Text sampled from a language model after `prompt`."""
    from apps.embed.sampling import sample_rnnlm

    cfg, vocab = load_run(run_dir)
    if cfg.model.method not in LM_METHODS:
        raise ConfigError(
            f"{run_dir}: sampling needs a language model (ngram or rnnlm), "
            f"this run is {cfg.model.method}"
        )
    if temperature <= 0:
        raise ConfigError(
            f"--temperature: expected > 0, received {temperature}"
        )
    from pipelines.text.corpus import tokenize

    history = vocab.encode(tokenize(prompt, cfg.data.tokenizer))
    if not history and cfg.data.eos:
        history = [vocab.index[cfg.data.eos]]
    rng = np.random.default_rng(seed)
    if cfg.model.method == "ngram":
        model = KneserNeyLM.load(Path(run_dir) / methods.NGRAM_FILE)
        ids = model.sample(history, length, rng)
    else:
        ids = sample_rnnlm(
            _keras_model(run_dir), history, length, temperature, rng
        )
    return " ".join(vocab.words[i] for i in ids)


def export(run_dir: Path) -> dict:
    """word2vec text format, TensorBoard projector files and a verified
    SavedModel with `lookup` and `neighbors` signatures."""
    from apps.embed.exports import export_all

    cfg, wv = load_vectors(run_dir)
    return export_all(Path(run_dir), cfg, wv)


def tune(cfg: EmbedConfig, run_dir: Path) -> dict:
    """A keras-tuner sweep (rnnlm: size, dropout, learning rate;
    scored by validation loss); writes `best.yaml`."""
    from apps.common import tuning
    from apps.embed.hypermodel import EmbedHyperModel

    cfg = with_method(cfg, None)
    if cfg.model.method != "rnnlm":
        raise ConfigError(
            f"model.method: tune searches the rnnlm (a fit()-trained "
            f"model); received {cfg.model.method!r}"
        )
    apply_runtime(cfg.runtime)
    vocab, splits = load_corpus(cfg.data, held_out=True)
    runs.ensure_dir(run_dir)
    config_lib.dump_yaml(cfg, Path(run_dir) / runs.CONFIG_FILE)
    hypermodel = EmbedHyperModel(cfg, vocab, splits)
    return tuning.run_sweep(
        hypermodel, cfg, Path(run_dir), verbose=cfg.train.verbose
    )
