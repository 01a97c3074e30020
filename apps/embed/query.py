"""Word vectors as a user queries them: cosine similarity, nearest
neighbours and analogies (what gensim's `KeyedVectors` offers).

Cosine similarity is `cos(w1, w2) = w1^T w2 / (||w1|| ||w2||)`. An
analogy `a - b + c` (king - man + woman) is answered, as in word2vec and
gensim (3CosAdd), by the word whose unit vector is closest in cosine to
`u(a) - u(b) + u(c)` (`u` normalises), the three query words excluded.
"""

import difflib

import numpy as np

from pipelines.errors import DataError


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of the rows of `a` `(n, d)` with those of `b`
    `(m, d)`: an `(n, m)` matrix."""
    return unit_rows(np.atleast_2d(a)) @ unit_rows(np.atleast_2d(b)).T


class WordVectors:
    """Words and their vectors, with cosine queries.

    Args:
        words: the vocabulary, most frequent first.
        vectors: `(V, d)` embeddings, row `i` of `words[i]`.
        lower: look words up lower-cased (text8-normalised corpora).
    """

    def __init__(self, words: list[str], vectors: np.ndarray, lower=True):
        if len(words) != len(vectors):
            raise ValueError(
                f"Expected one vector per word. Received: {len(words)} "
                f"words, {len(vectors)} vectors"
            )
        self.words = list(words)
        self.vectors = np.asarray(vectors, np.float32)
        self.unit = unit_rows(self.vectors)
        self.lower = lower
        self.index = {w: i for i, w in enumerate(self.words)}

    def __contains__(self, word: str) -> bool:
        return self._key(word) in self.index

    def _key(self, word: str) -> str:
        return word.lower() if self.lower else word

    def id_of(self, word: str) -> int:
        """The row of `word`.

        Raises:
            DataError: the word is not in the vocabulary (the message
                names the closest spellings that are).
        """
        key = self._key(word)
        if key in self.index:
            return self.index[key]
        near = difflib.get_close_matches(key, self.words[:20000], n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise DataError(
            f"word {word!r} is not in the vocabulary of "
            f"{len(self.words):,} words{hint}"
        )

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self.unit[self.id_of(a)] @ self.unit[self.id_of(b)])

    def most_similar(
        self,
        positive: list[str],
        negative: list[str] = (),
        *,
        top_k: int = 10,
    ) -> list[tuple[str, float]]:
        """Words closest in cosine to `sum u(positive) - sum u(negative)`,
        the query words excluded: `[(word, cosine), ...]`, best first."""
        pos = [self.id_of(w) for w in positive]
        neg = [self.id_of(w) for w in negative]
        query = self.unit[pos].sum(axis=0) - self.unit[neg].sum(axis=0)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        scores = self.unit @ query
        scores[pos + neg] = -np.inf
        k = min(top_k, len(self.words) - len(set(pos + neg)))
        top = np.argpartition(-scores, k - 1)[:k] if k > 0 else []
        top = sorted(top, key=lambda i: -scores[i])
        return [(self.words[i], float(scores[i])) for i in top]

    def analogy(self, a: str, b: str, c: str, *, top_k: int = 1):
        """`a - b + c` (king - man + woman -> queen)."""
        return self.most_similar([a, c], [b], top_k=top_k)
