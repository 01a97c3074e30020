"""GloVe's co-occurrence matrix `X`, counted with vectorised passes.

`X_ij` sums `1 / d` over every occurrence of word `j` at distance `d <=
window` from word `i` in the same sentence (GloVe's default weighting);
with `symmetric=True` both directions count, so `X` is symmetric, as the
Stanford tool's `-symmetric 1`. Counting goes a chunk of about
`chunk_tokens` positions at a time: all pairs at offset `d` of a chunk
are one pair of array slices, and `scipy.sparse` sums duplicates, so no
Python loop runs per word.
"""

import numpy as np
import scipy.sparse

from pipelines.text.corpus import EncodedCorpus
from pipelines.text.skipgram import chunk_bounds


def cooccurrence_matrix(
    corpus: EncodedCorpus,
    vocab_size: int,
    *,
    window: int = 10,
    symmetric: bool = True,
    distance_weighting: bool = True,
    chunk_tokens: int = 1 << 21,
) -> scipy.sparse.coo_matrix:
    """Counts the co-occurrence matrix of an encoded corpus.

    Args:
        corpus: ids and sentence indices.
        vocab_size: `V`.
        window: largest distance counted.
        symmetric: count left and right contexts (else right only).
        distance_weighting: add `1 / d` (GloVe) instead of 1.
        chunk_tokens: positions counted per pass.

    Returns:
        A `(V, V)` float64 `coo_matrix` without explicit zeros, indices
        sorted by row then column.
    """
    total = scipy.sparse.csr_matrix((vocab_size, vocab_size))
    for start, end in chunk_bounds(corpus.sentence, chunk_tokens):
        ids = corpus.ids[start:end]
        sentence = corpus.sentence[start:end]
        rows, cols, vals = [], [], []
        for d in range(1, min(window, len(ids) - 1) + 1):
            same = sentence[:-d] == sentence[d:]
            rows.append(ids[:-d][same])
            cols.append(ids[d:][same])
            weight = 1.0 / d if distance_weighting else 1.0
            vals.append(np.full(int(same.sum()), weight))
        if not rows:
            continue
        part = scipy.sparse.coo_matrix(
            (
                np.concatenate(vals),
                (np.concatenate(rows), np.concatenate(cols)),
            ),
            shape=(vocab_size, vocab_size),
        ).tocsr()
        total = total + part
    if symmetric:
        total = total + total.T
    total = total.tocsr()
    total.eliminate_zeros()
    total.sort_indices()
    return total.tocoo()
