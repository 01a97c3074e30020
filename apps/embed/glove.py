"""The GloVe trainer: AdaGrad over the non-zero entries of `X`, as the
Stanford tool trains, with sparse updates in one graph call per chunk.

The cost and its gradients are `layers.losses.glove` (tested against
automatic differentiation); this module only batches the entries and
applies AdaGrad as the Stanford C code does (`w -= lr * g / sqrt(G)`,
then `G += (lr * g)^2`, accumulators starting at 1) with scatter updates.
"""

import numpy as np
import tensorflow as tf

from apps.embed.word2vec import quiet_xla_compile
from layers.losses.glove import glove_gradients


class GloVeTrainer(tf.Module):
    """Word vectors `w`, context vectors `c`, their biases and AdaGrad
    accumulators.

    Args:
        vocab_size: `V`.
        dim: `d`.
        x_max: the weighting cut-off.
        alpha: the weighting exponent.
        batch_size: entries per sparse update (a chunk is padded to whole
            batches with `X = 0` entries, which cost nothing).
        jit_compile: compile the per-batch step with XLA.
        seed: initialisation seed.
    """

    def __init__(
        self,
        vocab_size,
        dim,
        *,
        x_max=100.0,
        alpha=0.75,
        batch_size=4096,
        jit_compile=True,
        seed=0,
    ):
        super().__init__(name="glove")
        self.x_max = float(x_max)
        self.alpha = float(alpha)
        self.batch_size = int(batch_size)
        rng = np.random.default_rng(seed)

        def uniform(*shape):
            return ((rng.random(shape, np.float32) - 0.5) / dim).astype(
                np.float32
            )

        self.word = tf.Variable(uniform(vocab_size, dim), name="word")
        self.context = tf.Variable(uniform(vocab_size, dim), name="context")
        self.word_bias = tf.Variable(uniform(vocab_size), name="word_bias")
        self.context_bias = tf.Variable(
            uniform(vocab_size), name="context_bias"
        )
        ones = tf.ones_like
        self.slots = [
            tf.Variable(ones(v), name=f"{v.name.split(':')[0]}_gradsq")
            for v in (
                self.word,
                self.context,
                self.word_bias,
                self.context_bias,
            )
        ]
        self.epochs_done = tf.Variable(0, dtype=tf.int64, name="epochs_done")
        self.jit_compile = bool(jit_compile)
        self.step = tf.function(self._step, jit_compile=self.jit_compile)
        self.train_chunk = tf.function(
            self._train_chunk,
            input_signature=[
                tf.TensorSpec([None], tf.int32),
                tf.TensorSpec([None], tf.int32),
                tf.TensorSpec([None], tf.float32),
                tf.TensorSpec([], tf.float32),
            ],
        )

    def _adagrad(self, var, slot, ids, grad, lr):
        # The Stanford tool's AdaGrad: the accumulator sums the squares of
        # the scaled steps `(lr * g)^2`, not of `g` (standard AdaGrad),
        # which keeps steps larger for longer.
        step = lr * grad
        var.scatter_sub(
            tf.IndexedSlices(step / tf.sqrt(tf.gather(slot, ids)), ids)
        )
        slot.scatter_add(tf.IndexedSlices(tf.square(step), ids))

    def _step(self, i, j, x, lr):
        cost, d_word, d_context, d_bias = glove_gradients(
            tf.gather(self.word, i),
            tf.gather(self.context, j),
            tf.gather(self.word_bias, i),
            tf.gather(self.context_bias, j),
            x,
            self.x_max,
            self.alpha,
        )
        sw, sc, sbw, sbc = self.slots
        self._adagrad(self.word, sw, i, d_word, lr)
        self._adagrad(self.context, sc, j, d_context, lr)
        self._adagrad(self.word_bias, sbw, i, d_bias, lr)
        self._adagrad(self.context_bias, sbc, j, d_bias, lr)
        return tf.reduce_sum(cost)

    def _train_chunk(self, rows, cols, values, lr):
        """One AdaGrad pass over a chunk of entries; returns the summed
        cost."""
        n = tf.shape(rows)[0]
        size = self.batch_size
        batches = tf.maximum(1, (n + size - 1) // size)  # one for n = 0
        pad = [[0, batches * size - n]]
        rows, cols, values = (tf.pad(t, pad) for t in (rows, cols, values))
        total = tf.constant(0.0)
        for b in tf.range(batches):
            lo = b * size
            total += self.step(
                rows[lo : lo + size],
                cols[lo : lo + size],
                values[lo : lo + size],
                lr,
            )
        return total

    def warm_up(self) -> None:
        """Traces and compiles `train_chunk` on an empty chunk (its padded
        entries have `X = 0`: no update)."""
        empty = tf.zeros([0], tf.int32)
        self.train_chunk(empty, empty, tf.zeros([0]), tf.constant(0.0))

    def vectors(self) -> np.ndarray:
        """The cheatsheet's final embedding `(e_w + theta_w) / 2`."""
        return ((self.word + self.context) / 2.0).numpy()


def train_epoch(
    trainer: GloVeTrainer,
    matrix,
    *,
    learning_rate: float,
    seed: int,
    chunk: int = 1 << 20,
    progress=None,
) -> float:
    """One pass over the shuffled non-zeros of `matrix` (a coo matrix);
    returns the mean cost per entry."""
    if trainer.jit_compile:
        with quiet_xla_compile():
            trainer.warm_up()
    rng = np.random.default_rng(seed)
    order = rng.permutation(matrix.nnz)
    rows = matrix.row.astype(np.int32)
    cols = matrix.col.astype(np.int32)
    values = matrix.data.astype(np.float32)
    total = 0.0
    lr = tf.constant(learning_rate, tf.float32)
    for start in range(0, matrix.nnz, chunk):
        part = order[start : start + chunk]
        total += float(
            trainer.train_chunk(rows[part], cols[part], values[part], lr)
        )
        if progress is not None:
            progress(len(part))
    return total / max(matrix.nnz, 1)
