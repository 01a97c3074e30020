"""Training of the methods of `apps.embed` that are not Keras `fit`.

`softmax` and `rnnlm` are Keras models trained with `fit`, through the
shared lifecycle (`apps.common.lifecycle`, `apps.embed.recipe`). The
others keep their own loops, since no `fit` runs them: `sgns`, `cbow` and
`glove` train with their sparse trainers (`word2vec.py`, `glove.py`) and
checkpoint after every epoch into `backup/` (a
`tf.train.CheckpointManager`: a killed run resumes from its last finished
epoch and the data of the next epochs is drawn from the same seeds);
`ngram` counts. `train` here gives them what the lifecycle gives the
Keras methods: the resume check (`lifecycle.check_resume`), the corpus
read once, the vocabulary and config in the run folder, the summary.
Every embedding method ends with `model.keras`, the embedding matrix `E`
as one Keras `Embedding` layer.
"""

import csv
import shutil
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from apps.common import config as config_lib
from apps.common import lifecycle
from apps.common import runs
from apps.common import training
from apps.common.runtime import apply_runtime
from apps.embed import glove as glove_lib
from apps.embed import word2vec
from apps.embed.config import EmbedConfig
from apps.embed.data import VOCAB_FILE
from apps.embed.data import corpus_name
from apps.embed.data import read_corpus
from apps.embed.lm import NGRAM_FILE
from apps.embed.lm import KneserNeyLM
from apps.embed.model import embedding_model
from pipelines.text.cooccurrence import cooccurrence_matrix
from pipelines.text.skipgram import build_pair_dataset
from pipelines.text.skipgram import noise_table


class EpochLog:
    """history.csv (epoch, loss, ...) and TensorBoard scalars of the
    sparse trainers, appended after each epoch (a resumed run goes on)."""

    def __init__(self, run_dir: Path):
        self.csv = Path(run_dir) / "history.csv"
        self.writer = tf.summary.create_file_writer(str(Path(run_dir) / "logs"))

    def __call__(self, epoch: int, values: dict) -> None:
        new = not self.csv.exists()
        with self.csv.open("a", newline="") as f:
            out = csv.DictWriter(f, fieldnames=["epoch", *values])
            if new:
                out.writeheader()
            out.writerow({"epoch": epoch, **values})
        with self.writer.as_default(step=epoch):
            for key, value in values.items():
                tf.summary.scalar(key, value)
        self.writer.flush()


def _checkpoints(trainer, run_dir: Path):
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=trainer),
        str(Path(run_dir) / "backup"),
        max_to_keep=2,
    )
    if manager.latest_checkpoint:
        manager.checkpoint.restore(manager.latest_checkpoint)
        print(f"Resumed after epoch {int(trainer.epochs_done.numpy())}")
    return manager


def _finish_embeddings(run_dir: Path, vectors: np.ndarray) -> None:
    model = embedding_model(vectors)
    shutil.rmtree(run_dir / "backup", ignore_errors=True)
    training.save_trained(model, run_dir)


def train_word2vec(cfg: EmbedConfig, run_dir: Path, vocab, corpus) -> dict:
    """SGNS or CBOW with the fast sparse trainer."""
    m = cfg.model
    mode = "skipgram" if m.method == "sgns" else "cbow"
    trainer = word2vec.Word2VecTrainer(
        len(vocab),
        m.dim,
        noise_table(vocab.counts),
        mode=mode,
        negative=m.negative,
        shared_negatives=m.shared_negatives,
        batch_size=m.batch_size,
        row_cap=m.row_cap,
        window=m.window,
        jit_compile=m.jit_compile,
        # Truly concurrent Hogwild steps diverged on realmix (loss 1e12
        # after one epoch at 32 shared negatives): the threads share the
        # all-XLA step, whose variable locks serialize the updates.
        parallel=False,
        seed=cfg.runtime.seed,
    )
    manager = _checkpoints(trainer, run_dir)
    log = EpochLog(run_dir)
    epochs = cfg.train.epochs
    positions = len(corpus.ids)
    total = positions * epochs
    first = int(trainer.epochs_done.numpy())
    bar = tqdm(
        total=total,
        initial=positions * first,
        unit="word",
        unit_scale=True,
        disable=cfg.train.verbose == 0,
        desc=m.method,
    )
    seconds, pairs, loss = 0.0, 0, float("nan")
    for epoch in range(first, epochs):
        ds = build_pair_dataset(
            corpus,
            vocab.counts,
            mode=mode,
            window=m.window,
            sample=m.sample,
            chunk_tokens=m.chunk_tokens,
            epochs=epoch + 1,
            start_epoch=epoch,
            seed=cfg.runtime.seed,
        )
        start = time.time()
        result = word2vec.train_epoch(
            trainer,
            ds,
            total_words=total,
            learning_rate=m.learning_rate,
            min_learning_rate=m.min_learning_rate,
            workers=m.workers,
            progress=lambda words, chunk_loss: (
                bar.update(words),
                bar.set_postfix(loss=f"{chunk_loss:.3f}"),
            ),
        )
        seconds += time.time() - start
        pairs += result["pairs"]
        loss = result["loss"]
        if not np.isfinite(loss):
            raise training.TrainingDiverged(
                f"{m.method}: the loss became {loss} in epoch {epoch + 1}; "
                "lower model.learning_rate or model.row_cap"
            )
        trainer.epochs_done.assign(epoch + 1)
        manager.save()
        log(epoch, {"loss": loss})
    bar.close()
    _finish_embeddings(run_dir, trainer.embeddings.numpy())
    words = corpus.raw_words * (epochs - first)
    return {
        "method": m.method,
        "epochs_run": epochs - first,
        "final_loss": loss,
        "train_seconds": round(seconds, 1),
        "pairs": pairs,
        "raw_words_per_second": round(words / max(seconds, 1e-9)),
    }


def train_glove(cfg: EmbedConfig, run_dir: Path, vocab, corpus) -> dict:
    """GloVe: count `X`, then AdaGrad over its non-zeros."""
    m = cfg.model
    start = time.time()
    matrix = cooccurrence_matrix(corpus, len(vocab), window=m.glove_window)
    count_seconds = time.time() - start
    print(
        f"Co-occurrence matrix: {matrix.nnz:,} non-zeros counted in "
        f"{count_seconds:.1f} s"
    )
    trainer = glove_lib.GloVeTrainer(
        len(vocab),
        m.dim,
        x_max=m.x_max,
        alpha=m.alpha,
        batch_size=m.batch_size,
        jit_compile=m.jit_compile,
        seed=cfg.runtime.seed,
    )
    manager = _checkpoints(trainer, run_dir)
    log = EpochLog(run_dir)
    first = int(trainer.epochs_done.numpy())
    epochs = cfg.train.epochs
    bar = tqdm(
        total=matrix.nnz * epochs,
        initial=matrix.nnz * first,
        unit="entry",
        unit_scale=True,
        disable=cfg.train.verbose == 0,
        desc="glove",
    )
    start = time.time()
    cost = float("nan")
    for epoch in range(first, epochs):
        cost = glove_lib.train_epoch(
            trainer,
            matrix,
            learning_rate=m.glove_learning_rate,
            seed=cfg.runtime.seed * 1000 + epoch,
            progress=bar.update,
        )
        if not np.isfinite(cost):
            raise training.TrainingDiverged(
                f"glove: the cost became {cost} in epoch {epoch + 1}; lower "
                "model.glove_learning_rate"
            )
        trainer.epochs_done.assign(epoch + 1)
        manager.save()
        log(epoch, {"loss": cost})
    bar.close()
    seconds = time.time() - start
    _finish_embeddings(run_dir, trainer.vectors())
    return {
        "method": "glove",
        "epochs_run": epochs - first,
        "final_loss": cost,
        "nonzeros": int(matrix.nnz),
        "count_seconds": round(count_seconds, 1),
        "train_seconds": round(seconds, 1),
    }


def train_ngram(cfg: EmbedConfig, run_dir: Path, vocab, splits) -> dict:
    """Counts a Kneser-Ney n-gram model; reports validation perplexity."""
    start = time.time()
    model = KneserNeyLM(cfg.model.order, len(vocab)).fit(splits["train"].ids)
    seconds = time.time() - start
    runs.atomic_write(run_dir / NGRAM_FILE, model.save)
    return {
        "method": "ngram",
        "order": cfg.model.order,
        "discounts": [round(d, 4) for d in model.discounts],
        "train_seconds": round(seconds, 1),
        "valid_perplexity": model.perplexity(splits["valid"].ids),
    }


# The sparse trainers, by `model.method` (`ngram` counts instead).
OWN_LOOPS = {
    "sgns": train_word2vec,
    "cbow": train_word2vec,
    "glove": train_glove,
}
OWN_LOOP_METHODS = (*OWN_LOOPS, "ngram")


def train(cfg: EmbedConfig, run_dir: Path, *, resuming: bool = False) -> dict:
    """Trains `sgns`, `cbow`, `glove` or `ngram` into `run_dir`; resumes
    an interrupted run (only the keys `apps.common.lifecycle` allows may
    differ from its saved config).

    Returns:
        The method's summary with the corpus' (also written as
        `train_summary.json`).

    Raises:
        lifecycle.ConfigChanged: resuming with a key that may not change.
    """
    if cfg.model.method not in OWN_LOOP_METHODS:
        raise ValueError(
            f"Expected one of {OWN_LOOP_METHODS}. Received: "
            f"model.method={cfg.model.method!r}"
        )
    run_dir = Path(run_dir)
    changes = {}
    if resuming:
        changes = lifecycle.check_resumed(EmbedConfig, cfg, run_dir)
        print(f"Resuming {run_dir} from its last finished epoch")
    apply_runtime(cfg.runtime)
    print(f"Reading {corpus_name(cfg.data)}")
    corpus = read_corpus(cfg, progress=True)
    runs.ensure_dir(run_dir)
    lifecycle.apply_resumed(run_dir, changes)
    corpus.vocab.save(run_dir / VOCAB_FILE)
    config_lib.dump_yaml(cfg, run_dir / runs.CONFIG_FILE)
    if cfg.model.method == "ngram":
        summary = train_ngram(cfg, run_dir, corpus.vocab, corpus.splits)
    else:
        trainer = OWN_LOOPS[cfg.model.method]
        summary = trainer(cfg, run_dir, corpus.vocab, corpus.splits["train"])
    summary.update(corpus.summary())
    runs.write_json(run_dir / "train_summary.json", summary)
    return summary
