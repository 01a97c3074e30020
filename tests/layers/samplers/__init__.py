"""A tiny fake model with the decoding interface, whose every output
sequence can be enumerated and scored in numpy; shared by the tests of
`layers.samplers` and `layers.metrics.error_analysis`."""

import itertools

import numpy as np
import tensorflow as tf

VOCAB = 5
BOS = 1
EOS = 2
A = 3
B = 4
WORDS = (1, 3, 4)  # what a decoder may emit besides eos (never pad 0)


class MarkovModel:
    """A fixed table of logits, with the decoding interface.

    The next-token logits depend on the previous token, the token before it
    (kept in the cache: a wrong cache reorder changes them), the counts of
    all tokens fed so far (a cache preallocated for `max_length`), the step
    and the source tokens. The attention depends on the fed token.
    """

    bos_id = BOS
    eos_id = EOS

    def __init__(self, first, second=None, count=None, source=None, step=None):
        zeros = np.zeros((VOCAB, VOCAB), np.float32)
        self.first = np.asarray(first, np.float32)
        self.second = zeros if second is None else np.float32(second)
        self.count = zeros if count is None else np.float32(count)
        self.source = zeros if source is None else np.float32(source)
        self.step = np.zeros(VOCAB, np.float32) if step is None else step
        self.step = np.float32(self.step)

    @classmethod
    def random(cls, seed):
        rng = np.random.default_rng(seed)

        def table(scale):
            return rng.normal(size=(VOCAB, VOCAB)) * scale

        count = table(0.5)
        count[0] = 0.0
        source = table(0.5)
        source[0] = 0.0
        return cls(
            table(1.5), table(1.0), count, source, rng.normal(size=VOCAB)
        )

    @classmethod
    def from_probs(cls, probs):
        """First-order Markov chain: `probs[previous, next]`."""
        return cls(np.log(np.maximum(np.asarray(probs, np.float64), 1e-9)))

    def encode(self, source_ids, training=False):
        counts = tf.reduce_sum(tf.one_hot(source_ids, VOCAB), axis=1)
        return {
            "bias": tf.matmul(counts, self.source),
            "keys": tf.cast(source_ids, tf.float32),
        }

    def initial_cache(self, encoded, max_length):
        batch = tf.shape(encoded["bias"])[0]
        return {
            "before": tf.zeros([batch], tf.int32),
            "history": tf.zeros([batch, max_length], tf.int32),
        }

    def next(self, tokens, cache, encoded, step):
        history = cache["history"]
        counts = tf.reduce_sum(tf.one_hot(history, VOCAB), axis=1)
        step_f = tf.cast(step, tf.float32)
        logits = (
            tf.gather(self.first, tokens)
            + tf.gather(self.second, cache["before"])
            + tf.matmul(counts, self.count)
            + encoded["bias"]
            + step_f * self.step
        )
        attention = tf.nn.softmax(
            encoded["keys"]
            * (0.3 * tf.cast(tokens, tf.float32)[:, None] + 0.1 * step_f),
            axis=-1,
        )
        at = tf.range(tf.shape(history)[1])[None, :] == step
        history = tf.where(at, tokens[:, None], history)
        return logits, {"before": tokens, "history": history}, attention


def numpy_score(model, source_row, sequence):
    """Log-probability of `sequence` and its attention rows, in float64."""
    source_row = np.asarray(source_row)
    bias = model.source[source_row].sum(0).astype(np.float64)
    keys = source_row.astype(np.float64)
    fed, before, history = BOS, 0, []
    total, rows, log_probs = 0.0, [], []
    for t, token in enumerate(sequence):
        counts = np.bincount(history, minlength=VOCAB).astype(np.float64)
        logits = (
            model.first[fed]
            + model.second[before]
            + counts @ model.count
            + bias
            + t * model.step
        ).astype(np.float64)
        log_p = logits - logits.max()
        log_p -= np.log(np.exp(log_p).sum())
        log_probs.append(log_p)
        total += log_p[token]
        z = keys * (0.3 * fed + 0.1 * t)
        rows.append(np.exp(z - z.max()) / np.exp(z - z.max()).sum())
        history.append(fed)
        before, fed = fed, token
    return total, np.array(rows), log_probs


def all_sequences(max_length):
    """Every output: words then eos (Ty <= max_length), or truncated."""
    for n in range(1, max_length + 1):
        for prefix in itertools.product(WORDS, repeat=n - 1):
            yield prefix + (EOS,)
    yield from itertools.product(WORDS, repeat=max_length)


def brute_force(model, source_row, max_length, alpha):
    scored = []
    for sequence in all_sequences(max_length):
        log_prob = numpy_score(model, source_row, sequence)[0]
        score = log_prob / len(sequence) ** alpha
        scored.append((score, log_prob, sequence))
    return sorted(scored, key=lambda x: -x[0])


def padded(sequence, max_length):
    return list(sequence) + [0] * (max_length - len(sequence))


SOURCES = np.array([[3, 4, 2, 0], [4, 4, 1, 3], [1, 0, 0, 0]], np.int32)
