"""The serving export of word vectors: a SavedModel with two signatures.

- `lookup(words: (n,) string)` -> `vectors (n, d)` unit-norm float32
  (zeros for an unknown word), `known (n,)` bool, `ids (n,)` int32 (-1
  unknown).
- `neighbors(words: (n,) string)` -> `neighbors (n, k)` string, `scores
  (n, k)` float32 cosine similarities, best first, the word itself
  excluded (empty strings and -1 for an unknown word), `known (n,)`.

Words are lower-cased first when the corpus was (text8 tokenizer). The
vocabulary table and the unit vectors live inside the SavedModel: a
server needs TensorFlow only.
"""

import numpy as np
import tensorflow as tf

from apps.embed.query import unit_rows


class EmbeddingServer(tf.Module):
    """The exported module (see the module docstring).

    Args:
        words: the vocabulary.
        vectors: `(V, d)` embeddings.
        top_k: neighbours returned by `neighbors`.
        lower: lower-case queries first.
    """

    def __init__(self, words, vectors, *, top_k=10, lower=True):
        super().__init__(name="embedding_server")
        self.lower = bool(lower)
        self.top_k = int(min(top_k, len(words) - 1))
        self.vocab = tf.constant(list(words))
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                self.vocab, tf.range(len(words), dtype=tf.int32)
            ),
            default_value=-1,
        )
        self.unit = tf.Variable(unit_rows(vectors), trainable=False)
        spec = [tf.TensorSpec([None], tf.string, name="words")]
        self.lookup = tf.function(self._lookup, input_signature=spec)
        self.neighbors = tf.function(self._neighbors, input_signature=spec)

    def _ids(self, words):
        words = tf.ensure_shape(words, [None])
        keys = tf.strings.lower(words) if self.lower else words
        ids = self.table.lookup(keys)
        return ids, ids >= 0

    def _lookup(self, words):
        ids, known = self._ids(words)
        vectors = tf.gather(self.unit, tf.maximum(ids, 0))
        vectors *= tf.cast(known, tf.float32)[:, None]
        return {"vectors": vectors, "known": known, "ids": ids}

    def _neighbors(self, words):
        ids, known = self._ids(words)
        query = tf.gather(self.unit, tf.maximum(ids, 0))
        scores = tf.matmul(query, self.unit, transpose_b=True)
        own = tf.one_hot(tf.maximum(ids, 0), tf.shape(self.unit)[0]) > 0
        scores = tf.where(own, -np.inf, scores)
        top = tf.math.top_k(scores, k=self.top_k)
        mask = tf.broadcast_to(known[:, None], tf.shape(top.indices))
        return {
            "neighbors": tf.where(mask, tf.gather(self.vocab, top.indices), ""),
            "scores": tf.where(mask, top.values, -1.0),
            "known": known,
        }


def save_server(server: EmbeddingServer, path) -> None:
    """Writes the SavedModel with `lookup`, `neighbors` and
    `serving_default` (= `lookup`)."""
    tf.saved_model.save(
        server,
        str(path),
        signatures={
            "serving_default": server.lookup,
            "lookup": server.lookup,
            "neighbors": server.neighbors,
        },
    )
