"""Intrinsic evaluation of word vectors, as gensim reports it.

- Analogies (`questions-words.txt`: `: section` lines, then `a b c d`,
  read "a is to b as c is to d"): the answer to each question is the
  3CosAdd word for `b - a + c` among the `restrict_vocab` most frequent
  words, the three question words excluded. Accuracy is over the
  questions whose four words are all in that vocabulary (gensim skips the
  others silently; here the coverage is always reported), per section,
  for the semantic and syntactic (`gram*`) halves and overall.
- Word pairs (WordSim-353, SimLex-999: `word1<TAB>word2<TAB>score`,
  `#` comments): Spearman's rank correlation between the human scores and
  the cosine similarities, over the pairs with both words known.

Words are compared lower-cased, as gensim's `case_insensitive=True`.
"""

from pathlib import Path

import numpy as np
import scipy.stats

from apps.embed.query import WordVectors
from pipelines.errors import DataError


def read_analogies(path: str | Path) -> list[tuple[str, list[tuple]]]:
    """`[(section, [(a, b, c, d), ...]), ...]` of a questions-words file."""
    sections: list[tuple[str, list[tuple]]] = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.startswith(":"):
            sections.append((line[1:].strip(), []))
            continue
        words = line.lower().split()
        if len(words) != 4 or not sections:
            raise DataError(
                f"{path}:{number}: expected 4 words after a ': section' line"
            )
        sections[-1][1].append(tuple(words))
    return sections


def evaluate_analogies(
    wv: WordVectors,
    sections: list[tuple[str, list[tuple]]],
    *,
    restrict_vocab: int = 300000,
    batch: int = 512,
) -> dict:
    """Analogy accuracy per section and overall (see the module docstring).

    Returns:
        `{"sections": {name: {"correct", "total", "accuracy"}},
        "semantic", "syntactic", "total": the same, plus "questions" (all)
        and "coverage" (share answered)}`.
    """
    limit = min(restrict_vocab, len(wv.words))
    index = {w: i for i, w in enumerate(wv.words[:limit])}
    unit = wv.unit[:limit]
    out = {"sections": {}}
    sums = {k: [0, 0, 0] for k in ("semantic", "syntactic", "total")}
    for name, questions in sections:
        known = [
            [index[w] for w in q]
            for q in questions
            if all(w in index for w in q)
        ]
        correct = 0
        for start in range(0, len(known), batch):
            ids = np.array(known[start : start + batch])
            query = unit[ids[:, 1]] - unit[ids[:, 0]] + unit[ids[:, 2]]
            scores = query @ unit.T
            rows = np.arange(len(ids))[:, None]
            scores[rows, ids[:, :3]] = -np.inf
            correct += int((scores.argmax(axis=1) == ids[:, 3]).sum())
        out["sections"][name] = {
            "correct": correct,
            "total": len(known),
            "questions": len(questions),
            "accuracy": correct / len(known) if known else 0.0,
        }
        half = "syntactic" if name.startswith("gram") else "semantic"
        for key in (half, "total"):
            sums[key][0] += correct
            sums[key][1] += len(known)
            sums[key][2] += len(questions)
    for key, (correct, total, questions) in sums.items():
        out[key] = {
            "correct": correct,
            "total": total,
            "questions": questions,
            "accuracy": correct / total if total else 0.0,
            "coverage": total / questions if questions else 0.0,
        }
    return out


def read_word_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """`[(word1, word2, score), ...]` of a tab-separated pairs file."""
    pairs = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            pairs.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
        except (IndexError, ValueError):
            raise DataError(
                f"{path}:{number}: expected word1<TAB>word2<TAB>score"
            )
    return pairs


def evaluate_word_pairs(
    wv: WordVectors, pairs: list[tuple], *, restrict_vocab: int = 300000
) -> dict:
    """Spearman (and Pearson) correlation of cosine vs human scores.

    Returns:
        `{"spearman", "pearson", "pairs" (used), "total", "coverage"}`;
        the correlations are NaN with fewer than 2 known pairs.
    """
    limit = min(restrict_vocab, len(wv.words))
    index = {w: i for i, w in enumerate(wv.words[:limit])}
    known = [(a, b, s) for a, b, s in pairs if a in index and b in index]
    human = np.array([s for _, _, s in known])
    model = np.array(
        [float(wv.unit[index[a]] @ wv.unit[index[b]]) for a, b, _ in known]
    )
    if len(known) >= 2:
        spearman = float(scipy.stats.spearmanr(human, model).statistic)
        pearson = float(scipy.stats.pearsonr(human, model).statistic)
    else:
        spearman = pearson = float("nan")
    return {
        "spearman": spearman,
        "pearson": pearson,
        "pairs": len(known),
        "total": len(pairs),
        "coverage": len(known) / len(pairs) if pairs else 0.0,
    }
