"""Skip-gram and CBOW training examples, generated a chunk at a time.

word2vec (Mikolov et al. 2013) learns from (center, context) pairs: every
word `t` within `b` positions of a center word `c` in the same sentence,
where `b` (the reduced, or dynamic, window) is drawn uniformly from
`1..window` for each center, so near words are seen more often. Frequent
words are first subsampled: a word of corpus frequency `f` is kept with
probability `(sqrt(f / s) + 1) * s / f` (capped at 1; `s` is `sample`),
word2vec's and gensim's formula. Negatives come from the unigram
distribution raised to `3/4` (`noise_table`).

Pairs are never enumerated word by word in Python: `skipgram_pairs` makes
all pairs at offset `d` of a chunk at once with two vectorised masks per
offset (same sentence, `d <= b`). A 1 M-token chunk takes tens of
milliseconds, so `build_pair_dataset` (a `from_generator` over chunks,
prefetched) keeps a training loop fed from one Python thread.
"""

from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from pipelines.text.corpus import EncodedCorpus

MODES = ("skipgram", "cbow")


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Probability of keeping each word in frequent-word subsampling.

    Args:
        counts: `(V,)` corpus counts.
        sample: word2vec's `sample` threshold (e.g. `1e-3`); 0 keeps all.

    Returns:
        `(V,)` float64 probabilities in `(0, 1]`.
    """
    counts = np.asarray(counts, np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    threshold = sample * counts.sum()
    safe = np.maximum(counts, 1e-12)
    keep = (np.sqrt(safe / threshold) + 1.0) * threshold / safe
    return np.minimum(keep, 1.0)


def noise_distribution(counts: np.ndarray, power: float = 0.75):
    """`P_n(w) = count(w)^power / sum_v count(v)^power` as `(V,)` float64."""
    weights = np.asarray(counts, np.float64) ** power
    return weights / weights.sum()


def noise_table(
    counts: np.ndarray, power: float = 0.75, size: int = 1 << 20
) -> np.ndarray:
    """word2vec's unigram table: `size` int32 ids, word `w` filling about
    `size * P_n(w)` slots, so a uniform slot is a draw from `P_n`."""
    cumulative = np.cumsum(noise_distribution(counts, power))
    slots = (np.arange(size, dtype=np.float64) + 0.5) / size
    table = np.searchsorted(cumulative, slots, side="right")
    return np.minimum(table, len(counts) - 1).astype(np.int32)


def skipgram_pairs(
    ids: np.ndarray,
    sentence: np.ndarray,
    reduced_window: np.ndarray,
    window: int,
) -> tuple[np.ndarray, np.ndarray]:
    """All (center, context) pairs of a chunk, vectorised by offset.

    Position `j` is a context of center `i` when `0 < |i - j| <=
    reduced_window[i]` and both lie in the same sentence.

    Args:
        ids: `(n,)` int32 word ids.
        sentence: `(n,)` sentence index of each position.
        reduced_window: `(n,)` ints in `1..window`, each center's window.
        window: the largest window.

    Returns:
        `(centers, contexts)`, two `(P,)` int32 arrays, grouped by offset.
    """
    n = len(ids)
    centers, contexts = [], []
    for d in range(1, min(window, n - 1) + 1):
        same = sentence[:-d] == sentence[d:]
        right = same & (reduced_window[:-d] >= d)  # center i, context i+d
        centers.append(ids[:-d][right])
        contexts.append(ids[d:][right])
        left = same & (reduced_window[d:] >= d)  # center i+d, context i
        centers.append(ids[d:][left])
        contexts.append(ids[:-d][left])
    if not centers:
        empty = np.zeros([0], np.int32)
        return empty, empty
    return (
        np.concatenate(centers).astype(np.int32),
        np.concatenate(contexts).astype(np.int32),
    )


def cbow_windows(
    ids: np.ndarray,
    sentence: np.ndarray,
    reduced_window: np.ndarray,
    window: int,
    pad: int = -1,
) -> tuple[np.ndarray, np.ndarray]:
    """CBOW examples: each center with its context words as one row.

    Args:
        ids, sentence, reduced_window, window: as in `skipgram_pairs`.
        pad: the id of an empty slot.

    Returns:
        `(centers, contexts)`: `(n',)` int32 and `(n', 2 * window)` int32
        (slots `window - d` and `window + d - 1` hold offsets `-d` and
        `+d`); centers without any context are left out.
    """
    n = len(ids)
    contexts = np.full((n, 2 * window), pad, np.int32)
    for d in range(1, min(window, n - 1) + 1):
        same = sentence[:-d] == sentence[d:]
        right = same & (reduced_window[:-d] >= d)
        contexts[:-d, window + d - 1] = np.where(right, ids[d:], pad)
        left = same & (reduced_window[d:] >= d)
        contexts[d:, window - d] = np.where(left, ids[:-d], pad)
    has = (contexts != pad).any(axis=1)
    return ids[has].astype(np.int32), contexts[has]


def chunk_bounds(sentence: np.ndarray, chunk_tokens: int) -> list[tuple]:
    """`(start, end)` of chunks of about `chunk_tokens` positions, cut at
    sentence boundaries where possible (a longer sentence is cut)."""
    n = len(sentence)
    bounds, start = [], 0
    while start < n:
        end = min(n, start + chunk_tokens)
        if end < n:
            boundary = int(np.searchsorted(sentence, sentence[end], "left"))
            if boundary > start:
                end = boundary
        bounds.append((start, end))
        start = end
    return bounds


def iter_chunks(
    corpus: EncodedCorpus,
    counts: np.ndarray,
    *,
    mode: str = "skipgram",
    window: int = 5,
    sample: float = 1e-3,
    chunk_tokens: int = 1 << 20,
    epochs: int = 1,
    start_epoch: int = 0,
    seed: int = 0,
    shuffle: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray, int, int]]:
    """Yields `(centers, contexts, words_done, epoch)` per chunk.

    `words_done` counts the corpus positions (before subsampling) of all
    chunks up to and including this one, over all epochs: the progress
    that word2vec's linear learning-rate decay follows. Each epoch draws
    its subsampling and windows from `seed + epoch`, so a resumed run sees
    the same data as an uninterrupted one.
    """
    if mode not in MODES:
        raise ValueError(
            f"Expected `mode` to be one of {MODES}. Received: mode={mode!r}"
        )
    keep_prob = keep_probabilities(counts, sample)
    bounds = chunk_bounds(corpus.sentence, chunk_tokens)
    n = len(corpus.ids)
    for epoch in range(start_epoch, epochs):
        rng = np.random.default_rng([seed, epoch])
        for start, end in bounds:
            ids = corpus.ids[start:end]
            sentence = corpus.sentence[start:end]
            if sample > 0:
                keep = rng.random(len(ids)) < keep_prob[ids]
                ids, sentence = ids[keep], sentence[keep]
            reduced = rng.integers(1, window + 1, size=len(ids), dtype=np.int32)
            if mode == "skipgram":
                centers, contexts = skipgram_pairs(
                    ids, sentence, reduced, window
                )
            else:
                centers, contexts = cbow_windows(ids, sentence, reduced, window)
            if shuffle and len(centers):
                order = rng.permutation(len(centers))
                centers, contexts = centers[order], contexts[order]
            yield centers, contexts, epoch * n + end, epoch


def build_pair_dataset(
    corpus: EncodedCorpus,
    counts: np.ndarray,
    *,
    mode: str = "skipgram",
    window: int = 5,
    sample: float = 1e-3,
    chunk_tokens: int = 1 << 20,
    epochs: int = 1,
    start_epoch: int = 0,
    seed: int = 0,
) -> tf.data.Dataset:
    """`iter_chunks` as a prefetched `tf.data.Dataset` of chunk dicts.

    Each element is one chunk: `centers (P,)` int32, `contexts (P,)` (or
    `(P, 2 * window)` for CBOW) int32, `words_done ()` int64, `epoch ()`
    int32. The generator runs ahead of training by two chunks.
    """
    context_shape = [None] if mode == "skipgram" else [None, 2 * window]

    def generate():
        for centers, contexts, done, epoch in iter_chunks(
            corpus,
            counts,
            mode=mode,
            window=window,
            sample=sample,
            chunk_tokens=chunk_tokens,
            epochs=epochs,
            start_epoch=start_epoch,
            seed=seed,
        ):
            yield {
                "centers": centers,
                "contexts": contexts,
                "words_done": np.int64(done),
                "epoch": np.int32(epoch),
            }

    signature = {
        "centers": tf.TensorSpec([None], tf.int32),
        "contexts": tf.TensorSpec(context_shape, tf.int32),
        "words_done": tf.TensorSpec([], tf.int64),
        "epoch": tf.TensorSpec([], tf.int32),
    }
    ds = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return ds.prefetch(2)
