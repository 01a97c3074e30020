"""An n-gram language model with interpolated Kneser-Ney smoothing.

Counts run over one stream of word ids (lines joined, each ending in its
`<eos>` as in the standard PTB set-up). With `c` the count of an n-gram
at the highest order and the continuation count `N1+(. g)` (how many
distinct words precede `g`) at lower orders (Kneser and Ney 1995; Chen
and Goodman 1998, interpolated form):

    P(w | h) = max(c(h w) - D, 0) / c(h .)
               + D * N1+(h .) / c(h .) * P(w | h')

where `h'` drops the oldest word of `h`, `c(h .)` sums the counts after
`h`, `N1+(h .)` is the number of distinct words after it, and one
discount `D = n1 / (n1 + 2 n2)` per order comes from the counts of counts.
Unseen histories back off entirely; the unigram level interpolates with
the uniform distribution over the vocabulary, so every word of the
vocabulary has a non-zero probability and each `P(. | h)` sums to 1.

Perplexity is the cheatsheet's `PP = prod_t (1 / P(y_t))^(1/T)` over the
`T` held-out tokens, computed by `layers.metrics.text.perplexity`.
"""

import math
from collections import Counter
from pathlib import Path

import numpy as np

from layers.metrics.text import perplexity

# The counts of a trained `ngram` run, in its run folder.
NGRAM_FILE = "ngram.npz"


class KneserNeyLM:
    """An interpolated Kneser-Ney n-gram model over word ids.

    Args:
        order: `N` (2 = bigram).
        vocab_size: `V`, for the uniform floor.
    """

    def __init__(self, order: int, vocab_size: int):
        if order < 1:
            raise ValueError(f"Expected `order` >= 1. Received: {order}")
        self.order = int(order)
        self.vocab_size = int(vocab_size)
        self.counts: list[Counter] = []  # per order n-1: n-gram -> count
        self._stats: list[dict] = []
        self.discounts: list[float] = []

    def fit(self, ids) -> "KneserNeyLM":
        """Counts the n-grams of a stream of ids."""
        ids = [int(i) for i in ids]
        top = Counter(zip(*[ids[k:] for k in range(self.order)]))
        counts = [top]
        for _ in range(self.order - 1):
            # Continuation counts: distinct words before the lower n-gram.
            counts.append(Counter(g[1:] for g in counts[-1]))
        self.counts = counts[::-1]  # counts[n - 1] holds n-grams
        self._finish()
        return self

    def _finish(self):
        self.discounts, self._stats = [], []
        for table in self.counts:
            of = Counter(table.values())
            n1, n2 = of.get(1, 0), of.get(2, 0)
            self.discounts.append(n1 / (n1 + 2 * n2) if n1 else 0.5)
            stats = {}
            for gram, c in table.items():
                total, distinct = stats.get(gram[:-1], (0, 0))
                stats[gram[:-1]] = (total + c, distinct + 1)
            self._stats.append(stats)

    def probability(self, word: int, history: tuple) -> float:
        """`P(word | history)`, history the preceding ids (oldest first)."""
        p = 1.0 / self.vocab_size
        history = tuple(history[len(history) - (self.order - 1) :])
        if self.order == 1:
            history = ()
        for n in range(1, self.order + 1):
            if n - 1 > len(history):
                break
            h = history[len(history) - (n - 1) :] if n > 1 else ()
            total, distinct = self._stats[n - 1].get(h, (0, 0))
            if total == 0:
                continue
            d = self.discounts[n - 1]
            c = self.counts[n - 1].get(h + (word,), 0)
            p = max(c - d, 0.0) / total + d * distinct / total * p
        return p

    def log_likelihood(self, ids) -> tuple[float, int]:
        """`(sum log P, T)` of a stream (natural log), each token given
        the up to `N - 1` tokens before it in the stream."""
        ids = [int(i) for i in ids]
        total = 0.0
        for t, word in enumerate(ids):
            history = tuple(ids[max(0, t - self.order + 1) : t])
            total += math.log(self.probability(word, history))
        return total, len(ids)

    def perplexity(self, ids) -> float:
        """The cheatsheet's perplexity of a held-out stream."""
        log_p, count = self.log_likelihood(ids)
        return float(perplexity(-log_p, count))

    def save(self, path: str | Path) -> None:
        """Writes the counts as arrays (`.npz`, no pickle)."""
        arrays = {"meta": np.array([self.order, self.vocab_size])}
        for n, table in enumerate(self.counts, start=1):
            grams = np.array(list(table.keys()), np.int32).reshape(-1, n)
            arrays[f"grams{n}"] = grams
            arrays[f"counts{n}"] = np.array(list(table.values()), np.int64)
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "KneserNeyLM":
        """Reads what `save` wrote."""
        with np.load(path, allow_pickle=False) as data:
            order, vocab_size = (int(v) for v in data["meta"])
            model = cls(order, vocab_size)
            for n in range(1, order + 1):
                grams = map(tuple, data[f"grams{n}"].tolist())
                model.counts.append(
                    Counter(dict(zip(grams, data[f"counts{n}"].tolist())))
                )
        model._finish()
        return model

    def sample(self, history, length: int, rng) -> list[int]:
        """Draws `length` ids after `history` (slow: `V` probabilities a
        step; for short demos)."""
        out = list(history)
        for _ in range(length):
            h = tuple(out[-(self.order - 1) :]) if self.order > 1 else ()
            probs = np.array(
                [self.probability(w, h) for w in range(self.vocab_size)]
            )
            out.append(int(rng.choice(self.vocab_size, p=probs / probs.sum())))
        return out[len(history) :]
