"""The sparse trainers learn: words that share contexts end up closer
than words that do not (SGNS, CBOW, GloVe), and the learning rate decays
linearly as in word2vec."""

import numpy as np
import pytest

from apps.embed.glove import GloVeTrainer
from apps.embed.glove import train_epoch as glove_epoch
from apps.embed.query import WordVectors
from apps.embed.word2vec import Word2VecTrainer
from apps.embed.word2vec import learning_rate_at
from apps.embed.word2vec import train_epoch
from pipelines.text.cooccurrence import cooccurrence_matrix
from pipelines.text.corpus import EncodedCorpus
from pipelines.text.skipgram import build_pair_dataset
from pipelines.text.skipgram import noise_table


def two_topic_corpus(seed=0, sentences=600, length=8):
    """Words 0-9 only meet words 0-9, words 10-19 only 10-19."""
    rng = np.random.default_rng(seed)
    ids, sent = [], []
    for s in range(sentences):
        topic = s % 2
        ids.extend(rng.integers(0, 10, length) + 10 * topic)
        sent.extend([s] * length)
    ids = np.array(ids, np.int32)
    return EncodedCorpus(ids, np.array(sent, np.int32), len(ids))


def topic_gap(vectors):
    wv = WordVectors([str(i) for i in range(20)], vectors)
    sims = wv.unit @ wv.unit.T
    topic = np.arange(20) // 10
    same = topic[:, None] == topic[None, :]
    off_diagonal = ~np.eye(20, dtype=bool)
    return sims[same & off_diagonal].mean() - sims[~same].mean()


def test_learning_rate_decays_linearly():
    assert learning_rate_at(0, 100, 0.025, 1e-4) == 0.025
    assert learning_rate_at(50, 100, 0.025, 1e-4) == pytest.approx(0.01255)
    assert learning_rate_at(100, 100, 0.025, 1e-4) == 1e-4


@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
def test_word2vec_separates_topics(mode):
    corpus = two_topic_corpus()
    counts = np.bincount(corpus.ids, minlength=20)
    trainer = Word2VecTrainer(
        20,
        8,
        noise_table(counts, size=4096),
        mode=mode,
        shared_negatives=8,
        batch_size=256,
        window=3,
        seed=0,
    )
    before = topic_gap(trainer.embeddings.numpy())
    losses = []
    for epoch in range(3):
        ds = build_pair_dataset(
            corpus,
            counts,
            mode=mode,
            window=3,
            sample=0,
            chunk_tokens=2000,
            epochs=epoch + 1,
            start_epoch=epoch,
        )
        result = train_epoch(
            trainer,
            ds,
            total_words=3 * len(corpus.ids),
            learning_rate=0.05 if mode == "cbow" else 0.025,
            min_learning_rate=1e-4,
            workers=2,
        )
        losses.append(result["loss"])
    assert losses[-1] < losses[0]
    assert topic_gap(trainer.embeddings.numpy()) > before + 0.3
    assert int(trainer.words_done.numpy()) == 3 * len(corpus.ids)


def test_glove_separates_topics_and_cost_falls():
    corpus = two_topic_corpus(seed=1)
    matrix = cooccurrence_matrix(corpus, 20, window=3)
    trainer = GloVeTrainer(20, 8, x_max=10.0, batch_size=64, seed=0)
    costs = [
        glove_epoch(trainer, matrix, learning_rate=0.05, seed=e)
        for e in range(15)
    ]
    assert costs[-1] < 0.5 * costs[0]
    assert topic_gap(trainer.vectors()) > 0.3
