"""Tests of apps/embed/query.py and evaluation.py: cosine similarity
against scikit-learn, neighbours and analogies on hand-built vectors,
analogy accuracy and Spearman against direct computations."""

import numpy as np
import pytest
import scipy.stats

from apps.embed.evaluation import evaluate_analogies
from apps.embed.evaluation import evaluate_word_pairs
from apps.embed.evaluation import read_analogies
from apps.embed.evaluation import read_word_pairs
from apps.embed.query import WordVectors
from apps.embed.query import cosine_similarity
from pipelines.errors import DataError

# king = royal + man, queen = royal + woman: king - man + woman = queen.
WORDS = ["man", "woman", "king", "queen", "apple", "pear"]
VECTORS = np.array(
    [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [1.0, 0.0, 1.0, 0.0],
        [0.0, 1.0, 1.0, 0.0],
        [0.0, 0.0, 0.1, 1.0],
        [0.1, 0.0, 0.0, 1.0],
    ]
)


def test_cosine_similarity_matches_sklearn_and_formula():
    from sklearn.metrics.pairwise import cosine_similarity as sk_cosine

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 7)), rng.normal(size=(3, 7))
    np.testing.assert_allclose(cosine_similarity(a, b), sk_cosine(a, b), 1e-5)
    # The cheatsheet's example-free definition on two hand vectors.
    got = cosine_similarity(np.array([1.0, 0.0]), np.array([1.0, 1.0]))
    assert got[0, 0] == pytest.approx(1 / np.sqrt(2))


def test_neighbors_analogy_similarity():
    wv = WordVectors(WORDS, VECTORS)
    assert wv.similarity("KING", "queen") == pytest.approx(0.5)
    top = wv.most_similar(["apple"], top_k=2)
    assert top[0][0] == "pear" and "apple" not in [w for w, _ in top]
    assert wv.analogy("king", "man", "woman")[0][0] == "queen"
    scores = [s for _, s in wv.most_similar(["king"], top_k=5)]
    assert scores == sorted(scores, reverse=True)


def test_unknown_word_names_close_spellings():
    wv = WordVectors(WORDS, VECTORS)
    with pytest.raises(
        DataError, match=r"'quen' is not in the vocabulary.*queen"
    ):
        wv.most_similar(["quen"])


def test_analogy_accuracy_by_section(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text(
        ": royal\nman king woman queen\nMAN KING woman pear\n"
        "man king dragon queen\n: gram-fruit\napple pear man woman\n"
    )
    sections = read_analogies(path)
    assert [name for name, _ in sections] == ["royal", "gram-fruit"]
    result = evaluate_analogies(WordVectors(WORDS, VECTORS), sections)
    royal = result["sections"]["royal"]
    assert (royal["correct"], royal["total"], royal["questions"]) == (1, 2, 3)
    assert result["semantic"]["accuracy"] == pytest.approx(0.5)
    assert result["total"]["coverage"] == pytest.approx(3 / 4)
    bad = tmp_path / "bad.txt"
    bad.write_text(": s\na b c\n")
    with pytest.raises(DataError, match="bad.txt:2"):
        read_analogies(bad)


def test_word_pairs_spearman_matches_scipy(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text(
        "# header\nking\tqueen\t8\nman\tapple\t1\nking\tman\t6\n"
        "apple\tpear\t9\nwoman\tunknownword\t3\n"
    )
    pairs = read_word_pairs(path)
    wv = WordVectors(WORDS, VECTORS)
    result = evaluate_word_pairs(wv, pairs)
    known = pairs[:4]
    expected = scipy.stats.spearmanr(
        [s for _, _, s in known], [wv.similarity(a, b) for a, b, _ in known]
    ).statistic
    assert result["spearman"] == pytest.approx(expected)
    assert (result["pairs"], result["total"]) == (4, 5)
