"""word2vec's skip-gram with negative sampling (SGNS) loss.

The cheatsheet's model: for a context word `c` and a target word `t`,
`P(y = 1 | c, t) = sigma(theta_t^T e_c)`, where `e_c = E o_c` is the
context word's embedding (a row of the shared matrix `E`) and `theta_t`
the target's output vector. With `k` negatives `n_1..n_k` drawn from the
unigram distribution to the power 3/4, each pair costs

    L = -log sigma(theta_t^T e_c) - w * sum_j log sigma(-theta_nj^T e_c)

with `w = 1`. In the shared-negatives form (`S` negatives drawn once for a
whole batch, so the negative term is one `(B, d) x (d, S)` matrix product
instead of `B * k` dot products), `w = k / S` keeps the expected gradient
equal to word2vec's `k` per-pair negatives.

`-log sigma(x)` is written `softplus(-x)`, which never overflows.
"""

import keras
import tensorflow as tf

from layers.serialization import register


def _check_weight(negative_weight):
    if not negative_weight > 0:
        raise ValueError(
            "Expected `negative_weight` to be > 0. "
            f"Received: negative_weight={negative_weight}"
        )


def sgns_scores(center, context, negatives):
    """Dot products of each center with its context and its negatives.

    Args:
        center: `(B, d)` center embeddings `e_c`.
        context: `(B, d)` output vectors `theta_t` of the true contexts.
        negatives: `(B, k, d)` per-pair negatives, or `(S, d)` negatives
            shared by the whole batch.

    Returns:
        `(positive, negative)`: `(B,)` scores `theta_t^T e_c` and `(B, k)`
        (or `(B, S)`) scores `theta_n^T e_c`.
    """
    positive = tf.reduce_sum(center * context, axis=-1)
    if negatives.shape.rank == 2:
        negative = tf.matmul(center, negatives, transpose_b=True)
    else:
        negative = tf.einsum("bd,bkd->bk", center, negatives)
    return positive, negative


def sgns_loss(positive, negative, negative_weight=1.0):
    """Per-pair SGNS loss from scores (see the module docstring).

    Args:
        positive: `(B,)` scores of the true pairs.
        negative: `(B, k)` scores of the negatives.
        negative_weight: `w`, 1 for per-pair negatives, `k / S` for `S`
            shared ones.

    Returns:
        `(B,)` losses `softplus(-pos) + w * sum_j softplus(neg_j)`.

    Example:

    >>> float(sgns_loss(tf.constant([0.0]), tf.constant([[0.0, 0.0]]))[0])
    2.0794415416798357  # 3 * log 2
    """
    _check_weight(negative_weight)
    positive = tf.convert_to_tensor(positive)
    negative = tf.cast(negative, positive.dtype)
    return tf.nn.softplus(-positive) + negative_weight * tf.reduce_sum(
        tf.nn.softplus(negative), axis=-1
    )


def sgns_gradients(center, context, negatives, negative_weight=1.0):
    """The SGNS loss of a batch with shared negatives and its gradients,
    written out (what the fast trainer applies as sparse updates).

    With `g_pos = sigma(pos) - 1` and `G = w * sigma(neg)` (`(B, S)`):
    `dL/de_c = g_pos theta_t + G N`, `dL/dtheta_t = g_pos e_c` and
    `dL/dN = G^T E_c`, where `L` is the summed loss of the batch.

    Args:
        center: `(B, d)` center embeddings.
        context: `(B, d)` context output vectors.
        negatives: `(S, d)` shared negative output vectors.
        negative_weight: `w`.

    Returns:
        `(loss, d_center, d_context, d_negatives)`: the `(B,)` per-pair
        losses and the gradients of their sum, shaped like the inputs.
    """
    positive, negative = sgns_scores(center, context, negatives)
    loss = sgns_loss(positive, negative, negative_weight)
    g_pos = tf.sigmoid(positive) - 1.0
    g_neg = negative_weight * tf.sigmoid(negative)
    d_center = g_pos[:, None] * context + tf.matmul(g_neg, negatives)
    d_context = g_pos[:, None] * center
    d_negatives = tf.matmul(g_neg, center, transpose_a=True)
    return loss, d_center, d_context, d_negatives


@register
class SkipGramNegativeSampling(keras.losses.Loss):
    """The SGNS loss as a Keras `Loss` over score columns.

    Args:
        negative_weight: `w` of the negative term. Defaults to 1.
        name: name of the loss.
        **kwargs: base loss keyword arguments, such as `reduction`.

    Call arguments:
        y_true: ignored (column 0 is the true context by construction);
            pass zeros of shape `(batch,)`.
        y_pred: `(batch, 1 + k)` scores: the true pair's, then the
            negatives'.

    Example:

    >>> loss = SkipGramNegativeSampling()
    >>> round(float(loss(tf.zeros([1]), tf.zeros([1, 3]))), 6)
    2.079442
    """

    def __init__(self, negative_weight=1.0, name="sgns", **kwargs):
        super().__init__(name=name, **kwargs)
        _check_weight(negative_weight)
        self.negative_weight = float(negative_weight)

    def call(self, y_true, y_pred):
        y_pred = tf.convert_to_tensor(y_pred)
        return sgns_loss(y_pred[:, 0], y_pred[:, 1:], self.negative_weight)

    def get_config(self):
        config = super().get_config()
        config.update(negative_weight=self.negative_weight)
        return config
