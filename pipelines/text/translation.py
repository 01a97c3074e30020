"""Batches of token ids for sequence-to-sequence training (teacher forcing).

```
sources, targets (str) --tokenize once--> ids --drop over-long pairs-->
  shuffle --map: add [START] / [END]--> bucket by length, pad with 0 -->
  ((source_ids (B, S), target_in (B, T)), target_out (B, T))  int32
```

`target_in` is `[START] + ids` and `target_out` is `ids + [END]`: the
decoder reads `target_in[:, t]` and is trained to emit `target_out[:, t]`.
Pairs are tokenized once, eagerly, so the number of over-long pairs is
known before training: they are dropped (never truncated), counted in the
`TranslationReport` and logged as a warning.
"""

import dataclasses
import logging
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from pipelines.text.tokenizers import END_ID
from pipelines.text.tokenizers import PAD_ID
from pipelines.text.tokenizers import START_ID

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class TranslationReport:
    """What `build_translation_dataset` kept and dropped.

    Attributes:
        pairs: pairs given.
        kept: pairs in the dataset.
        too_long: pairs dropped because a side exceeded `max_length`.
        empty: pairs dropped because a side has no token.
        longest_source: most source tokens in a given pair.
        longest_target: most target tokens (`[END]` included) in a pair.
        target_tokens: target tokens kept, `[END]` included (the tokens a
            training epoch predicts).
        bucket_boundaries: the length boundaries used (empty when not
            bucketing).
    """

    pairs: int = 0
    kept: int = 0
    too_long: int = 0
    empty: int = 0
    longest_source: int = 0
    longest_target: int = 0
    target_tokens: int = 0
    bucket_boundaries: tuple[int, ...] = ()


def _tokenize_all(texts: Sequence[str], tokenizer, chunk: int = 4096):
    """All texts as one int32 `(n, None)` RaggedTensor."""
    parts = [
        tokenizer.tokenize(tf.constant(list(texts[i : i + chunk]), tf.string))
        for i in range(0, len(texts), chunk)
    ]
    if not parts:
        return tf.RaggedTensor.from_row_lengths(
            tf.zeros([0], tf.int32), tf.zeros([0], tf.int64)
        )
    return tf.concat(parts, axis=0)


def bucket_boundaries(
    lengths: np.ndarray, *, max_length: int, num_buckets: int = 8
) -> list[int]:
    """Length boundaries at quantiles of the data, for
    `bucket_by_sequence_length` (a length `L` goes to the first bucket
    whose boundary exceeds it).

    Args:
        lengths: `(n,)` padded length of each element.
        max_length: the largest length allowed.
        num_buckets: at most this many buckets.

    Returns:
        Increasing boundaries in `2..max_length`.
    """
    if len(lengths) == 0:
        return []
    quantiles = np.linspace(0, 1, num_buckets + 1)[1:-1]
    cuts = np.quantile(np.asarray(lengths), quantiles).astype(int) + 1
    return sorted({int(c) for c in cuts if 1 < c <= max_length})


def build_translation_dataset(
    sources: Sequence[str],
    targets: Sequence[str],
    source_tokenizer,
    target_tokenizer,
    *,
    batch_size: int,
    max_length: int,
    shuffle: bool,
    seed: int | None,
    bucket: bool = True,
    num_buckets: int = 8,
    report: TranslationReport | None = None,
) -> tf.data.Dataset:
    """Builds the teacher-forcing dataset of a parallel corpus.

    A pair is kept when the source has `1..max_length` tokens and the
    target `1..max_length - 1` (so `target_in` and `target_out`, one
    token longer, fit in `max_length`). Dropped pairs are counted in
    `report` and logged.

    Args:
        sources: source sentences.
        targets: target sentences, aligned with `sources`.
        source_tokenizer: has `tokenize((B,) strings) -> ragged ids`
            (a `TextTokenizer`).
        target_tokenizer: same, for the target language.
        batch_size: pairs per batch (the last batch of a bucket may be
            smaller).
        max_length: the largest `S` and `T`.
        shuffle: shuffle the pairs each epoch (before bucketing).
        seed: shuffle seed; the same seed gives the same batches (None:
            a different order each run).
        bucket: group pairs of similar length
            (`tf.data.Dataset.bucket_by_sequence_length`) to pad less;
            False pads each batch in order.
        num_buckets: at most this many length buckets.
        report: a `TranslationReport`, filled in place.

    Returns:
        A dataset of `((source_ids (B, S), target_in (B, T)),
        target_out (B, T))`, int32, padded with 0 (`[PAD]`), `S` and `T`
        varying per batch, at most `max_length`.

    Raises:
        ValueError: sources and targets of different lengths, or a bad
            `batch_size` / `max_length`.

    Example:

    >>> ds = build_translation_dataset(corpus.sources, corpus.targets,
    ...     src_tok, tgt_tok, batch_size=64, max_length=40, shuffle=True,
    ...     seed=0)
    >>> (src, tgt_in), tgt_out = next(iter(ds))
    """
    if len(sources) != len(targets):
        raise ValueError(
            "sources and targets must have the same length. Received: "
            f"{len(sources)} sources, {len(targets)} targets"
        )
    if batch_size < 1 or max_length < 2:
        raise ValueError(
            "batch_size must be >= 1 and max_length >= 2. Received: "
            f"batch_size={batch_size}, max_length={max_length}"
        )
    report = report if report is not None else TranslationReport()
    src_ids = _tokenize_all(list(sources), source_tokenizer)
    tgt_ids = _tokenize_all(list(targets), target_tokenizer)
    src_len = src_ids.row_lengths().numpy()
    tgt_len = tgt_ids.row_lengths().numpy() + 1
    empty = (src_len == 0) | (tgt_len == 1)
    too_long = ~empty & ((src_len > max_length) | (tgt_len > max_length))
    keep = ~(empty | too_long)
    report.pairs = len(sources)
    report.kept = int(keep.sum())
    report.too_long = int(too_long.sum())
    report.empty = int(empty.sum())
    report.longest_source = int(src_len.max(initial=0))
    report.longest_target = int(tgt_len.max(initial=0))
    report.target_tokens = int(tgt_len[keep].sum())
    if report.too_long or report.empty:
        _LOG.warning(
            "translation dataset: dropped %d of %d pairs longer than "
            "max_length=%d tokens (longest source %d, target %d) and %d "
            "with an empty side",
            report.too_long,
            report.pairs,
            max_length,
            report.longest_source,
            report.longest_target,
            report.empty,
        )
    kept = tf.constant(np.flatnonzero(keep))
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.gather(src_ids, kept), tf.gather(tgt_ids, kept))
    )
    if shuffle:
        dataset = dataset.shuffle(
            max(report.kept, 1), seed=seed, reshuffle_each_iteration=True
        )
    dataset = dataset.map(_teacher_forcing, num_parallel_calls=tf.data.AUTOTUNE)
    lengths = np.maximum(src_len[keep], tgt_len[keep])
    boundaries = (
        bucket_boundaries(
            lengths, max_length=max_length, num_buckets=num_buckets
        )
        if bucket
        else []
    )
    report.bucket_boundaries = tuple(boundaries)
    if boundaries:
        dataset = dataset.bucket_by_sequence_length(
            element_length_func=_pair_length,
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padding_values=((PAD_ID, PAD_ID), PAD_ID),
        )
    else:
        dataset = dataset.padded_batch(
            batch_size, padding_values=((PAD_ID, PAD_ID), PAD_ID)
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _teacher_forcing(source, target):
    source = tf.cast(source, tf.int32)
    target = tf.cast(target, tf.int32)
    target_in = tf.concat([[START_ID], target], axis=0)
    target_out = tf.concat([target, [END_ID]], axis=0)
    return (source, target_in), target_out


def _pair_length(inputs, target_out):
    source, _ = inputs
    return tf.maximum(tf.shape(source)[0], tf.shape(target_out)[0])


def count_tokens(dataset: tf.data.Dataset) -> int:
    """Target tokens in one pass of a translation dataset: the non-pad
    entries of `target_out` (`[END]` included), for tokens/s figures."""
    total = dataset.reduce(
        tf.constant(0, tf.int64),
        lambda total, batch: (
            total + tf.math.count_nonzero(batch[1] != PAD_ID, dtype=tf.int64)
        ),
    )
    return int(total)
