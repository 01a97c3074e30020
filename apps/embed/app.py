"""The verbs of `python -m apps.embed` as plain Python functions.

`train` dispatches on `model.method`: the Keras-trained methods (`rnnlm`,
`softmax`) run the shared lifecycle (`apps.common.lifecycle`) on their
`apps.embed.recipe`; the others keep their own loops
(`apps.embed.methods`). `tune` is the lifecycle's sweep of the `rnnlm`.
The rest work on a finished run folder (`apps.embed.inference`).
"""

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.common import lifecycle
from apps.common import runs
from apps.common.config import ConfigError
from apps.common.runtime import apply_runtime
from apps.embed import methods
from apps.embed.config import EMBEDDING_METHODS
from apps.embed.config import LM_METHODS
from apps.embed.config import EmbedConfig
from apps.embed.data import load_corpus
from apps.embed.evaluation import evaluate_analogies
from apps.embed.evaluation import evaluate_word_pairs
from apps.embed.evaluation import read_analogies
from apps.embed.evaluation import read_word_pairs
from apps.embed.inference import keras_model
from apps.embed.inference import lm_perplexity
from apps.embed.inference import load_run
from apps.embed.inference import load_vectors
from apps.embed.lm import NGRAM_FILE
from apps.embed.lm import KneserNeyLM
from apps.embed.query import WordVectors
from apps.embed.recipe import RECIPES
from pipelines.datasets.spec import expand_data_path
from pipelines.errors import DataError


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
    """Trains `cfg.model.method` into `run_dir`; resumes after a kill.

    `rnnlm` and `softmax` go through `apps.common.lifecycle.train` with
    their recipe; sgns, cbow, glove and ngram are not Keras `fit` and
    keep their own loops (`apps.embed.methods.train`).

    Returns:
        A summary: the method's figures, then the corpus' (vocabulary,
        words, reading seconds).
    """
    cfg = with_method(cfg, None)
    recipe = RECIPES.get(cfg.model.method)
    if recipe is None:
        return methods.train(cfg, run_dir, resuming=resuming)
    return lifecycle.train(recipe, cfg, run_dir, resuming=resuming)


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
    """Nearest neighbours of words, an analogy `a - b + c`, a similarity.

    Raises:
        DataError: no query was given, `top_k` < 1, or a word is not in
            the vocabulary.
    """
    if not (neighbors or analogy or similarity):
        raise DataError("query: give --neighbors, --analogy or --similarity")
    if top_k < 1:
        raise DataError(f"--top: expected >= 1, received {top_k}")
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
        model = KneserNeyLM.load(Path(run_dir) / NGRAM_FILE)
        ids = model.sample(history, length, rng)
    else:
        ids = sample_rnnlm(
            keras_model(run_dir), history, length, temperature, rng
        )
    return " ".join(vocab.words[i] for i in ids)


def export(run_dir: Path) -> dict:
    """word2vec text format, TensorBoard projector files and a verified
    SavedModel with `lookup` and `neighbors` signatures."""
    from apps.embed.exports import export_all

    cfg, wv = load_vectors(run_dir)
    return export_all(Path(run_dir), cfg, wv)


def tune(cfg: EmbedConfig, run_dir: Path) -> dict:
    """A keras-tuner sweep of the rnnlm over `tune.space` (units, cell,
    dropout and learning rate by default), scored by validation loss;
    writes `best.yaml`. The other methods are not searched."""
    cfg = with_method(cfg, None)
    if cfg.model.method != "rnnlm":
        raise ConfigError(
            f"model.method: tune searches the rnnlm (a fit()-trained "
            f"model); received {cfg.model.method!r}"
        )
    return lifecycle.tune(RECIPES["rnnlm"], cfg, run_dir)
