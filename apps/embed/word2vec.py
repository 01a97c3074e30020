"""The fast word2vec trainer: SGNS and CBOW as sparse SGD in one graph
call per chunk of training examples.

Why not `fit`: a word2vec step touches a few thousand rows of two
`(V, d)` matrices. Keras optimizers update whole variables, and a Python
hop per batch of 4,096 pairs costs more than the batch itself. Here
(following the measured prototype in NOTES.md):

- one `tf.function` call trains a whole chunk (millions of pairs): the
  batch loop runs inside the graph, and each batch's step is compiled
  with XLA (`jit_compile`), which fuses the element-wise work around the
  matrix products (twice as fast here; the chunk is padded to whole
  batches so every step has the same shape);
- each batch draws `S` negatives from the unigram^0.75 table, shared by
  all its pairs, so the negative term is two matrix products; weighting
  it by `k / S` keeps word2vec's expected gradient for `k` negatives;
- gradients come from `layers.losses.word2vec.sgns_gradients` (tested
  against automatic differentiation) and are applied as sparse
  scatter-subtracts, no optimizer slots;
- each row's summed update is scaled by `1 / max(1, n / row_cap)` where
  `n` is how often the row occurs in the batch: plain summed SGD at batch
  4,096 overshoots on frequent rows and diverges;
- the loss is only monitored, so it is computed on the first `loss_rows`
  pairs of each batch;
- the learning rate decays linearly with the words processed, as in
  word2vec, from `learning_rate` to `min_learning_rate`;
- `workers` Python threads call the same function on the same variables
  (Hogwild, as word2vec and gensim do); TensorFlow releases the GIL. The
  compiled step holds the locks of the variables it touches, so the
  threads' updates are serialized: the threads overlap the rest (chunk
  slicing, negative draws, the input pipeline), not the updates.
"""

import threading

import numpy as np
import tensorflow as tf

from apps.common.runtime import parked_stderr
from layers.losses.word2vec import sgns_gradients
from layers.losses.word2vec import sgns_loss
from layers.losses.word2vec import sgns_scores


def quiet_xla_compile():
    """Parks stderr while XLA compiles a step: XLA prints its start-up
    lines through absl before logging is set up, past
    `TF_CPP_MIN_LOG_LEVEL` (`apps.common.runtime.parked_stderr`)."""
    return parked_stderr()


def _row_scale(ids, weights, vocab_size, cap):
    """`(n,)` factors `1 / max(1, count / cap)`, `count` the (weighted)
    number of times each row occurs in the batch (a segment sum over the
    vocabulary: no `unique`, which XLA cannot compile)."""
    counts = tf.math.unsorted_segment_sum(weights, ids, vocab_size)
    return 1.0 / tf.maximum(1.0, tf.gather(counts, ids) / cap)


class Word2VecTrainer(tf.Module):
    """The two embedding matrices of word2vec and their training step.

    Args:
        vocab_size: `V`.
        dim: `d`.
        noise_table: int32 unigram^0.75 table (`pipelines.text.skipgram.
            noise_table`).
        mode: `skipgram` or `cbow`.
        negative: `k`, word2vec's negatives per pair.
        shared_negatives: `S`, negatives drawn per batch.
        batch_size: pairs per sparse update (a chunk is padded to a
            multiple of it; padded pairs have weight 0).
        row_cap: batch count above which a row's update is scaled down.
        window: the CBOW window (contexts are `(n, 2 * window)`).
        jit_compile: compile the per-batch step with XLA (fuses the
            element-wise work around the matrix products; about 2x here).
        parallel: compile only the part of the step that touches no
            variable, so that several threads calling `train_chunk` really
            update at once (a compiled step holds its variables' locks,
            which serializes them). Off by default: at 32 shared
            negatives, truly concurrent updates diverged on realmix.
        loss_rows: pairs of each batch whose loss is reported (the loss is
            only monitored; computing it for every pair costs a tenth of
            the step).
        seed: initialisation and negative-sampling seed.

    Attributes:
        embeddings: `(V, d)` input vectors `E` (word2vec's syn0), the
            embeddings to keep.
        output: `(V, d)` output vectors `theta` (syn1neg), zeros at start.
    """

    def __init__(
        self,
        vocab_size,
        dim,
        noise_table,
        *,
        mode="skipgram",
        negative=5,
        shared_negatives=64,
        batch_size=4096,
        row_cap=16.0,
        window=5,
        jit_compile=True,
        parallel=False,
        loss_rows=256,
        seed=0,
    ):
        super().__init__(name="word2vec")
        if mode not in ("skipgram", "cbow"):
            raise ValueError(f"Expected skipgram or cbow. Received: {mode!r}")
        self.mode = mode
        self.vocab_size = int(vocab_size)
        self.batch_size = int(batch_size)
        self.shared_negatives = int(shared_negatives)
        self.negative_weight = float(negative) / float(shared_negatives)
        self.row_cap = float(row_cap)
        self.window = int(window)
        self.loss_rows = int(min(loss_rows, batch_size))
        rng = np.random.default_rng(seed)
        init = (rng.random((vocab_size, dim), np.float32) - 0.5) / dim
        self.embeddings = tf.Variable(init, name="embeddings")
        self.output = tf.Variable(
            tf.zeros([vocab_size, dim]), name="output_vectors"
        )
        self.table = tf.constant(noise_table, tf.int32)
        self.generator = tf.random.Generator.from_seed(seed)
        self.words_done = tf.Variable(0, dtype=tf.int64, name="words_done")
        self.epochs_done = tf.Variable(0, dtype=tf.int64, name="epochs_done")
        context_shape = [None] if mode == "skipgram" else [None, 2 * window]
        self.jit_compile = bool(jit_compile)
        self.parallel = bool(parallel)
        if self.jit_compile and not self.parallel:
            # One thread: the whole step in XLA, gathers and scatters too.
            self.updates = self._updates
            self.step = tf.function(self._step, jit_compile=True)
        else:
            # XLA locks every variable a compiled step touches, which
            # would serialize Hogwild threads: compile only the pure part.
            self.updates = tf.function(
                self._updates, jit_compile=self.jit_compile
            )
            self.step = self._step
        self.train_chunk = tf.function(
            self._train_chunk,
            input_signature=[
                tf.TensorSpec([None], tf.int32),
                tf.TensorSpec(context_shape, tf.int32),
                tf.TensorSpec([], tf.float32),
                tf.TensorSpec([], tf.float32),
            ],
        )

    def warm_up(self) -> None:
        """Traces and compiles `train_chunk` on an empty chunk (no update:
        every padded pair has weight 0)."""
        shape = [0] if self.mode == "skipgram" else [0, 2 * self.window]
        self.train_chunk(
            tf.zeros([0], tf.int32),
            tf.zeros(shape, tf.int32),
            tf.constant(0.0),
            tf.constant(0.0),
        )

    def _updates(self, rows, targets, negatives, contexts, mask, lr, ids):
        """The pure part of a step: from the gathered rows to the scaled
        updates of `E` and `theta`, and the monitored loss.

        Args:
            rows: `(B, d)` center rows (skip-gram) or `(B, 2W, d)` context
                rows (CBOW) of `E`.
            targets: `(B, d)` output vectors of the predicted words.
            negatives: `(S, d)` output vectors of the shared negatives.
            contexts: `(B, 2W)` CBOW context ids (-1: none), or `(B,)`.
            mask: `(B,)` 1 for a real pair, 0 for padding.
            lr: the learning rate.
            ids: `(in_ids, out_ids)`: the rows of `E` and `theta` updated.

        Returns:
            `(in_update, out_update, loss_sum, loss_count)`.
        """
        in_ids, out_ids = ids
        if self.mode == "skipgram":
            # Padded pairs get zero vectors: they then add nothing to the
            # shared negatives' gradient `G^T E_c` either.
            vectors = rows * mask[:, None]
        else:
            # CBOW: the mean of the context rows (word2vec's `cbow_mean`),
            # each context getting `1 / count` of the gradient.
            valid = tf.cast(contexts >= 0, tf.float32)
            count = tf.maximum(tf.reduce_sum(valid, 1, keepdims=True), 1)
            share = valid / count * mask[:, None]
            vectors = tf.reduce_sum(rows * share[..., None], axis=1)
        _, d_in, d_target, d_neg = sgns_gradients(
            vectors, targets, negatives, self.negative_weight
        )
        out_weight = tf.concat([mask, tf.ones([self.shared_negatives])], 0)
        out_grad = tf.concat([d_target * mask[:, None], d_neg], axis=0)
        out_scale = lr * _row_scale(
            out_ids, out_weight, self.vocab_size, self.row_cap
        )
        if self.mode == "skipgram":
            in_grad, in_weight = d_in * mask[:, None], mask
        else:
            dim = tf.shape(d_in)[-1]
            in_weight = tf.cast(tf.reshape(share > 0, [-1]), tf.float32)
            in_grad = tf.reshape(share[..., None] * d_in[:, None], [-1, dim])
        in_scale = lr * _row_scale(
            in_ids, in_weight, self.vocab_size, self.row_cap
        )
        m = self.loss_rows
        positive, negative = sgns_scores(vectors[:m], targets[:m], negatives)
        loss = sgns_loss(positive, negative, self.negative_weight)
        return (
            in_scale[:, None] * in_grad,
            out_scale[:, None] * out_grad,
            tf.reduce_sum(loss * mask[:m]),
            tf.reduce_sum(mask[:m]),
        )

    def _step(self, centers, contexts, mask, slots, lr):
        """One sparse SGD update on a `(B,)` batch: gathers, `updates`,
        scatter-subtracts; returns the summed loss of its first
        `loss_rows` pairs and their count."""
        # Skip-gram predicts the context from the center; CBOW predicts
        # the center from the mean of its contexts.
        target_ids = contexts if self.mode == "skipgram" else centers
        in_ids = centers if self.mode == "skipgram" else tf.maximum(contexts, 0)
        negative_ids = tf.gather(self.table, slots)
        out_ids = tf.concat([target_ids, negative_ids], axis=0)
        in_update, out_update, loss, count = self.updates(
            tf.gather(self.embeddings, in_ids),
            tf.gather(self.output, target_ids),
            tf.gather(self.output, negative_ids),
            contexts,
            mask,
            lr,
            (tf.reshape(in_ids, [-1]), out_ids),
        )
        self.output.scatter_sub(tf.IndexedSlices(out_update, out_ids))
        self.embeddings.scatter_sub(
            tf.IndexedSlices(in_update, tf.reshape(in_ids, [-1]))
        )
        return loss, count

    def _train_chunk(self, centers, contexts, lr_start, lr_end):
        """Trains on one chunk; returns the mean SGNS loss of the pairs
        whose loss was computed."""
        n = tf.shape(centers)[0]
        size = self.batch_size
        batches = tf.maximum(1, (n + size - 1) // size)  # one for n = 0
        pad = batches * size - n
        centers = tf.pad(centers, [[0, pad]])
        pad_contexts = [[0, pad]] + [[0, 0]] * (contexts.shape.rank - 1)
        contexts = tf.pad(contexts, pad_contexts, constant_values=-1)
        if self.mode == "skipgram":
            contexts = tf.maximum(contexts, 0)
        mask = tf.pad(tf.ones([n]), [[0, pad]])
        table_size = tf.shape(self.table, out_type=tf.int32)[0]
        total = tf.constant(0.0)
        counted = tf.constant(0.0)
        for b in tf.range(batches):
            lo = b * size
            frac = tf.cast(b, tf.float32) / tf.cast(batches, tf.float32)
            slots = self.generator.uniform(
                [self.shared_negatives], 0, table_size, dtype=tf.int32
            )
            loss, pairs = self.step(
                centers[lo : lo + size],
                contexts[lo : lo + size],
                mask[lo : lo + size],
                slots,
                lr_start + (lr_end - lr_start) * frac,
            )
            total += loss
            counted += pairs
        return total / tf.maximum(counted, 1.0)


def learning_rate_at(words_done, total_words, start, end) -> float:
    """word2vec's linear decay: `start` at 0 words, `end` at the last."""
    progress = min(1.0, words_done / max(total_words, 1))
    return max(end, start - (start - end) * progress)


def train_epoch(
    trainer: Word2VecTrainer,
    dataset,
    *,
    total_words: int,
    learning_rate: float,
    min_learning_rate: float,
    workers: int = 2,
    progress=None,
) -> dict:
    """Runs `workers` Hogwild threads over the chunks of `dataset` (one
    epoch of `pipelines.text.skipgram.build_pair_dataset`).

    Args:
        trainer: the model.
        dataset: chunk dicts (`centers`, `contexts`, `words_done`).
        total_words: corpus positions of the whole run (all epochs), for
            the learning-rate decay.
        learning_rate: the starting rate.
        min_learning_rate: the final rate.
        workers: threads.
        progress: optional callable `(words, loss)` after each chunk.

    Returns:
        `{"pairs": ..., "loss": mean loss, "words_done": ...}`.
    """
    iterator = iter(dataset)
    lock = threading.Lock()
    if trainer.jit_compile:
        with quiet_xla_compile():  # compile once, before the threads start
            trainer.warm_up()
    state = {
        "last": int(trainer.words_done.numpy()),
        "pairs": 0,
        "loss": 0.0,
        "error": None,
    }

    def work():
        while True:
            with lock:
                if state["error"] is not None:
                    return
                try:
                    chunk = next(iterator)
                except StopIteration:
                    return
                done = int(chunk["words_done"])
                start_words = state["last"]
                state["last"] = done
            try:
                lr0 = learning_rate_at(
                    start_words, total_words, learning_rate, min_learning_rate
                )
                lr1 = learning_rate_at(
                    done, total_words, learning_rate, min_learning_rate
                )
                loss = float(
                    trainer.train_chunk(
                        chunk["centers"],
                        chunk["contexts"],
                        tf.constant(lr0, tf.float32),
                        tf.constant(lr1, tf.float32),
                    )
                )
            except Exception as err:  # noqa: BLE001 - re-raised below
                with lock:
                    state["error"] = err
                return
            pairs = int(chunk["centers"].shape[0])
            with lock:
                state["pairs"] += pairs
                state["loss"] += loss * pairs
            if progress is not None:
                progress(done - start_words, loss)

    threads = [threading.Thread(target=work) for _ in range(max(1, workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if state["error"] is not None:
        raise state["error"]
    trainer.words_done.assign(state["last"])
    return {
        "pairs": state["pairs"],
        "loss": state["loss"] / max(state["pairs"], 1),
        "words_done": state["last"],
    }
