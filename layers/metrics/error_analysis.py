"""The cheatsheet's error analysis of a search: search error or model error.

Given a human reference `y*` and the search's output `y_hat` for a source
`x`, both are scored with the length-normalized log-likelihood of
`layers.samplers.scoring`, with the `alpha` of the search. If `P(y* | x) >
P(y_hat | x)` the search missed a hypothesis the model prefers (a search
error: a larger beam may help); otherwise the model ranks a wrong output
above the reference (a model error). Works with any model of the decoding
interface (`layers.samplers.interface`).
"""

import numpy as np
import tensorflow as tf

from layers.samplers.scoring import length_normalized_score
from layers.samplers.scoring import sequence_log_prob


def _as_rows(ids):
    """A `(batch, T)` int array from a tensor, an array or ragged lists."""
    if isinstance(ids, (tf.Tensor, np.ndarray)):
        return np.asarray(ids, np.int32)
    rows = [list(row) for row in ids]
    width = max([len(row) for row in rows] + [1])
    out = np.zeros([len(rows), width], np.int32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def _strip(row):
    return tuple(int(t) for t in row if t != 0)


def error_analysis(model, source_ids, references, hypotheses, *, alpha=0.6):
    """The cheatsheet's error analysis: is the search or the model at fault?

    For each source `x`, human reference `y*` and model output `y_hat`, both
    are scored with the length-normalized log-likelihood of the same
    `alpha` as the search. If `P(y* | x) > P(y_hat | x)` the model prefers
    the reference, so beam search missed it: the search is at fault
    (a larger beam may help). Otherwise the model ranks a wrong output
    above the reference: the model (RNN) is at fault. Pairs where the
    output equals the reference are skipped.

    Args:
        model: a model with the interface of `layers.samplers.interface`.
        source_ids: `(batch, S)` int source ids, 0-padded.
        references: `(batch, T1)` int reference ids ending in `eos`,
            0-padded (an array, a tensor or ragged lists).
        hypotheses: `(batch, T2)` int model outputs ending in `eos`,
            0-padded, e.g. `beam_search(...)["tokens"][:, 0]`.
        alpha: the length-normalization exponent used by the search.

    Returns:
        A dict with `counts` (`search`, `model`, `skipped`), `shares`
        (`search`, `model`: fractions of the compared pairs, 0 when none)
        and `rows`: one dict per example with `index`, `fault` (`"search"`,
        `"model"` or `"equal"`), `reference_score`, `hypothesis_score`
        (normalized), `reference_log_prob`, `hypothesis_log_prob` and
        `reference_length`, `hypothesis_length`.
    """
    references = _as_rows(references)
    hypotheses = _as_rows(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError(
            "Expected one hypothesis per reference. Received: "
            f"{len(references)} references, {len(hypotheses)} hypotheses"
        )
    reference_log_probs = sequence_log_prob(model, source_ids, references)
    hypothesis_log_probs = sequence_log_prob(model, source_ids, hypotheses)
    reference_lengths = np.count_nonzero(references, axis=1)
    hypothesis_lengths = np.count_nonzero(hypotheses, axis=1)
    reference_scores = length_normalized_score(
        reference_log_probs, reference_lengths, alpha
    ).numpy()
    hypothesis_scores = length_normalized_score(
        hypothesis_log_probs, hypothesis_lengths, alpha
    ).numpy()
    counts = {"search": 0, "model": 0, "skipped": 0}
    rows = []
    for i in range(len(references)):
        if _strip(references[i]) == _strip(hypotheses[i]):
            fault = "equal"
            counts["skipped"] += 1
        elif reference_scores[i] > hypothesis_scores[i]:
            fault = "search"
            counts["search"] += 1
        else:
            fault = "model"
            counts["model"] += 1
        rows.append(
            {
                "index": i,
                "fault": fault,
                "reference_score": float(reference_scores[i]),
                "hypothesis_score": float(hypothesis_scores[i]),
                "reference_log_prob": float(reference_log_probs[i]),
                "hypothesis_log_prob": float(hypothesis_log_probs[i]),
                "reference_length": int(reference_lengths[i]),
                "hypothesis_length": int(hypothesis_lengths[i]),
            }
        )
    compared = counts["search"] + counts["model"]
    shares = {
        key: counts[key] / compared if compared else 0.0
        for key in ("search", "model")
    }
    return {"counts": counts, "shares": shares, "rows": rows}
