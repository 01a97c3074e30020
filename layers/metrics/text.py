"""Text metrics: corpus BLEU, sacreBLEU and chrF, perplexity.

`corpus_bleu` is BLEU (Papineni et al. 2002) written out, on whitespace
tokens, and equals sacrebleu with `tokenize="none"`. For each n-gram order
`n = 1..N` the clipped counts of every segment are added up over the
corpus:

    p_n  = sum_seg sum_g min(count_hyp(g), max_ref count_ref(g))
           / sum_seg (len_hyp - n + 1)
    BP   = 1 if c > r else exp(1 - r / c)
    BLEU = BP * exp(1/N * sum_n log p_n)

where `c` is the total hypothesis length and `r` the sum over segments of
the reference length closest to the hypothesis length (the shorter one on
ties). BLEU is 0 when any `p_n` is 0 (no smoothing). Scores are on
sacrebleu's 0-100 scale. `sacrebleu_score` is what to report: sacreBLEU
with its standard tokenizer, chrF and their signature strings.

Perplexity is the cheatsheet's `PP = prod_t (1 / p(y<t>))^(1/T)`, i.e.
`exp(NLL / T)` with NLL the summed negative log-likelihood of `T` tokens.
"""

import collections
import math

import keras
import tensorflow as tf

from layers.serialization import register


def _reference_lists(hypotheses, references) -> list[list[str]]:
    """One list of reference strings per hypothesis."""
    if len(references) != len(hypotheses):
        raise ValueError(
            "Expected one reference (or one list of references) per "
            f"hypothesis. Received: {len(hypotheses)} hypotheses, "
            f"{len(references)} references"
        )
    lists = [[r] if isinstance(r, str) else list(r) for r in references]
    if any(not refs for refs in lists):
        raise ValueError(
            "Expected at least one reference per hypothesis. Received: an "
            "empty reference list"
        )
    return lists


def _ngrams(tokens: list[str], max_order: int) -> collections.Counter:
    return collections.Counter(
        tuple(tokens[i : i + n])
        for n in range(1, max_order + 1)
        for i in range(len(tokens) - n + 1)
    )


def _closest_length(hyp_len: int, ref_lens: list[int]) -> int:
    return min(ref_lens, key=lambda r: (abs(r - hyp_len), r))


def corpus_bleu(
    hypotheses: list[str],
    references: list[str] | list[list[str]],
    *,
    max_order: int = 4,
    smooth: bool = False,
) -> dict:
    """Corpus BLEU on whitespace tokens (see the module docstring).

    No tokenization, lowercasing or detokenization happens here: the
    strings are split on whitespace (`str.split()`), so tokenize them the
    same way before scoring. Equals `sacrebleu.corpus_bleu(hypotheses,
    [references], tokenize="none", smooth_method="none")`.

    Args:
        hypotheses: one string per segment.
        references: one reference string per segment, or per segment a
            list of reference strings (this is the transpose of
            sacrebleu's list of reference streams).
        max_order: the largest n-gram order N.
        smooth: if True, Lin and Och (2004) add-one smoothing for orders
            `n >= 2` (`(matches + 1) / (total + 1)`), as sacrebleu's
            `smooth_method="add-k", smooth_value=1`.

    Returns:
        A dict with `bleu` (0-100), `precisions` (the N values `100 *
        p_n`), `brevity_penalty`, `ratio` (`c / r`), `hyp_len` (`c`) and
        `ref_len` (`r`).

    Example:

    >>> corpus_bleu(["the cat sat on the mat"], ["the cat is on the mat"])
    ... ["precisions"]
    [83.33333333333333, 60.0, 25.0, 0.0]
    """
    if not isinstance(max_order, int) or max_order < 1:
        raise ValueError(
            f"Expected `max_order` to be a positive int. "
            f"Received: max_order={max_order}"
        )
    reference_lists = _reference_lists(hypotheses, references)
    matches = [0] * max_order
    totals = [0] * max_order
    hyp_len = ref_len = 0
    for hypothesis, refs in zip(hypotheses, reference_lists):
        tokens = hypothesis.split()
        ref_tokens = [r.split() for r in refs]
        hyp_len += len(tokens)
        ref_len += _closest_length(len(tokens), [len(r) for r in ref_tokens])
        max_ref_counts = collections.Counter()
        for r in ref_tokens:
            max_ref_counts |= _ngrams(r, max_order)  # element-wise max
        for gram, count in _ngrams(tokens, max_order).items():
            matches[len(gram) - 1] += min(count, max_ref_counts[gram])
        for n in range(1, max_order + 1):
            totals[n - 1] += max(0, len(tokens) - n + 1)

    brevity_penalty = 1.0
    if hyp_len < ref_len:
        brevity_penalty = math.exp(1 - ref_len / hyp_len) if hyp_len else 0.0
    precisions = [0.0] * max_order
    if any(matches):
        for n in range(max_order):
            added = 1 if smooth and n > 0 else 0
            if totals[n] + added == 0:
                break
            precisions[n] = 100.0 * (matches[n] + added) / (totals[n] + added)
    if all(p > 0 for p in precisions):
        log_mean = sum(math.log(p / 100.0) for p in precisions) / max_order
        bleu = 100.0 * brevity_penalty * math.exp(log_mean)
    else:
        bleu = 0.0
    return {
        "bleu": bleu,
        "precisions": precisions,
        "brevity_penalty": brevity_penalty,
        "ratio": hyp_len / ref_len if ref_len else 0.0,
        "hyp_len": hyp_len,
        "ref_len": ref_len,
    }


def sacrebleu_score(
    hypotheses: list[str],
    references: list[str] | list[list[str]],
    *,
    tokenize: str = "13a",
    lowercase: bool = False,
) -> dict:
    """sacreBLEU and chrF of detokenized text, with their signatures.

    The numbers to report: sacrebleu's defaults (BLEU with the `13a`
    tokenizer and exponential smoothing, chrF with character 6-grams,
    beta 2), computed by sacrebleu itself.

    Args:
        hypotheses: one detokenized string per segment.
        references: one reference string per segment, or per segment a
            list of references (segments may have different numbers).
        tokenize: sacrebleu's BLEU tokenizer (`"13a"`, `"intl"`,
            `"none"`, ...).
        lowercase: case-insensitive BLEU and chrF (sacrebleu's `-lc`;
            its signature then says `case:lc`).

    Returns:
        A dict with `bleu` and `chrf` (0-100) and `signature`, a dict of
        sacrebleu's signature strings under `bleu` and `chrf`.
    """
    from sacrebleu.metrics import BLEU
    from sacrebleu.metrics import CHRF

    reference_lists = _reference_lists(hypotheses, references)
    width = max(len(refs) for refs in reference_lists)
    streams = [
        [refs[k] if k < len(refs) else None for refs in reference_lists]
        for k in range(width)
    ]
    bleu = BLEU(tokenize=tokenize, lowercase=lowercase)
    chrf = CHRF(lowercase=lowercase)
    return {
        "bleu": bleu.corpus_score(hypotheses, streams).score,
        "chrf": chrf.corpus_score(hypotheses, streams).score,
        "signature": {
            "bleu": str(bleu.get_signature()),
            "chrf": str(chrf.get_signature()),
        },
    }


def perplexity(total_neg_log_likelihood, num_tokens):
    """Perplexity `exp(NLL / T)`, the cheatsheet's `prod_t (1/p)^(1/T)`.

    Args:
        total_neg_log_likelihood: the summed `-log p` (natural log) of the
            tokens, a number or a float tensor.
        num_tokens: the number of tokens `T`, same shape.

    Returns:
        A float64 tensor (NaN where `T` is 0).

    Example:

    >>> perplexity(3 * math.log(4.0), 3)  # uniform over 4 tokens
    <tf.Tensor: shape=(), dtype=float64, numpy=4.0>
    """
    nll = tf.cast(total_neg_log_likelihood, tf.float64)
    return tf.exp(nll / tf.cast(num_tokens, tf.float64))


@register
class Perplexity(keras.metrics.Metric):
    """Perplexity of next-token predictions, ignoring padding.

    Accumulates the token cross-entropy `-log p(y_true)` over all
    non-padding positions (and `sample_weight`, e.g. a Keras mask) and
    reports `exp(total / count)`: the exponential of the masked mean
    cross-entropy over everything seen since the last reset (not a mean of
    per-batch perplexities). 0 before any token is seen.

    Args:
        padding_id: target id to ignore, or None to count every position.
        from_logits: whether `y_pred` holds logits (True) or probabilities.
        name: metric name.
        dtype: dtype of the accumulators.

    Call arguments:
        y_true: `(batch, T)` int token ids.
        y_pred: `(batch, T, V)` logits (or probabilities).
        sample_weight: optional `(batch, T)` weights.

    Example:

    ```python
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[Perplexity()],
    )
    ```
    """

    def __init__(
        self,
        padding_id=0,
        from_logits=True,
        name="perplexity",
        dtype=None,
    ):
        super().__init__(name=name, dtype=dtype)
        if padding_id is not None and (
            not isinstance(padding_id, int) or isinstance(padding_id, bool)
        ):
            raise ValueError(
                "Expected `padding_id` to be an int or None. "
                f"Received: padding_id={padding_id}"
            )
        self.padding_id = padding_id
        self.from_logits = bool(from_logits)
        self.total = self.add_variable(
            shape=(), initializer="zeros", dtype=self.dtype, name="total"
        )
        self.count = self.add_variable(
            shape=(), initializer="zeros", dtype=self.dtype, name="count"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, tf.int32)
        y_pred = tf.cast(y_pred, tf.float32)
        losses = keras.losses.sparse_categorical_crossentropy(
            y_true, y_pred, from_logits=self.from_logits
        )
        weights = tf.ones_like(losses)
        if self.padding_id is not None:
            weights = tf.cast(y_true != self.padding_id, tf.float32)
        if sample_weight is not None:
            sample_weight = tf.cast(sample_weight, tf.float32)
            for _ in range(losses.shape.rank - sample_weight.shape.rank):
                sample_weight = sample_weight[..., None]
            weights = weights * sample_weight
        self.total.assign_add(
            tf.cast(tf.reduce_sum(losses * weights), self.dtype)
        )
        self.count.assign_add(tf.cast(tf.reduce_sum(weights), self.dtype))

    def result(self):
        return tf.where(
            self.count > 0,
            tf.exp(tf.math.divide_no_nan(self.total, self.count)),
            tf.zeros_like(self.total),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {"padding_id": self.padding_id, "from_logits": self.from_logits}
        )
        return config
