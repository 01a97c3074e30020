"""Triplet loss with online mining inside a batch (FaceNet, Hermans et al.).

The cheatsheet's triplet loss of an anchor `A`, a positive `P` (same
identity) and a negative `N` (another identity) is

    L(A, P, N) = max(d(A, P) - d(A, N) + alpha, 0)

Libraries disagree silently on every detail, so each choice is pinned
here and by golden values in the tests:

- Distance: `squared=True` (default) is the squared L2 distance
  `||f(A) - f(P)||^2`, the cheatsheet's and FaceNet's form; with unit
  embeddings it lies in `[0, 4]`. `squared=False` is the plain L2
  distance (TensorFlow Addons' `distance_metric="L2"`). Distances use the
  Gram expansion `|a|^2 - 2 a.b + |b|^2` clipped at 0 with an exact zero
  diagonal; the plain root has zero gradient where a distance is 0 (the
  diagonal, coinciding embeddings), never NaN.
- Margin: `alpha = 0.2` by default, the cheatsheet's and FaceNet's value
  for unit embeddings and squared L2 (TF Addons defaults to 1.0).
- Embeddings are used as given: L2-normalise them in the model.
- A valid triplet has `a != p`, `label(a) == label(p)` and `label(n) !=
  label(a)`.

Mining modes (`mining=`):

- `"batch_all"` (Hermans et al. 2017, "batch all", their BA!=0 variant):
  every valid triplet; the loss is the mean over the triplets whose loss
  is positive (not over all valid triplets, which the easy ones would
  dilute).
- `"batch_hard"` (Hermans et al. 2017): per anchor the hardest positive
  (largest `d(A, P)`) and the hardest negative (smallest `d(A, N)`); the
  mean over the anchors that have at least one positive and one negative.
  (TF Addons' `triplet_hard_loss` divides by the whole batch instead.)
- `"semi_hard"` (FaceNet, Schroff et al. 2015), TF Addons'
  `triplet_semihard_loss` semantics exactly: for each anchor-positive
  pair, the negative is the closest one farther than the positive
  (`d(A, N) > d(A, P)`, strict, without the upper bound `d(A, P) +
  alpha`). When no such negative exists the fallback is the LARGEST
  `d(A, N)` of the anchor (the easiest negative, all of which are then
  closer than the positive), not the hardest one. The loss is the mean
  over all anchor-positive pairs, zero-loss pairs included. As in TF
  Addons, an anchor with no negative at all in the batch takes
  `d(A, N) = 0` (its distance to itself), so its pairs add
  `alpha + d(A, P)`: e.g. margin 1.0, plain L2, labels `[0, 0]`,
  embeddings `[[0, 1], [1, 0]]` give `1 + sqrt(2) = 2.4142137`.

In every mode an anchor without a positive contributes nothing, and a
batch without any anchor-positive pair (or, for `"batch_all"` and
`"batch_hard"`, without any valid triplet) gives 0, not NaN (TF Addons
gives NaN). The loss is one scalar per batch: it is not a mean of
per-sample values, so `sample_weight` only scales it. float16 and
bfloat16 embeddings are computed in float32. Memory and time: `O(B^2)`
for `"batch_hard"`, `O(B^3)` for `"batch_all"` and `"semi_hard"`.
"""

import numbers

import keras
import tensorflow as tf

from layers.serialization import register

MINING_MODES = ("batch_all", "semi_hard", "batch_hard")


def _check_args(margin, mining):
    if mining not in MINING_MODES:
        raise ValueError(
            f"Expected mining to be one of {MINING_MODES}. "
            f"Received: mining={mining!r}"
        )
    if (
        isinstance(margin, bool)
        or not isinstance(margin, numbers.Real)
        or not margin >= 0
    ):
        raise ValueError(
            f"Expected margin to be a number >= 0. Received: margin={margin!r}"
        )


def _precise(embeddings):
    embeddings = tf.convert_to_tensor(embeddings)
    if embeddings.dtype in (tf.float16, tf.bfloat16):
        embeddings = tf.cast(embeddings, tf.float32)
    elif not embeddings.dtype.is_floating:
        embeddings = tf.cast(embeddings, keras.backend.floatx())
    return embeddings


def pairwise_distances(embeddings, *, squared: bool = True):
    """Distances between all pairs of rows of `embeddings`.

    Computed with the Gram expansion `|a|^2 - 2 a.b + |b|^2`, clipped at 0
    (round-off), with an exact zero diagonal. For `squared=False` the root
    has a zero gradient, not NaN, wherever the squared distance is 0.

    Args:
        embeddings: float tensor of shape `(batch, dim)`.
        squared: squared L2 distances when true, plain L2 when false.

    Returns:
        A `(batch, batch)` symmetric tensor of distances, zero on the
        diagonal.

    Example:

    >>> pairwise_distances([[0.0, 1.0], [1.0, 0.0]], squared=False)
    <tf.Tensor: shape=(2, 2), dtype=float32, numpy=
    array([[0.       , 1.4142135],
           [1.4142135, 0.       ]], dtype=float32)>
    """
    embeddings = _precise(embeddings)
    gram = tf.matmul(embeddings, embeddings, transpose_b=True)
    norms = tf.linalg.diag_part(gram)
    d2 = norms[:, None] - 2.0 * gram + norms[None, :]
    d2 = tf.maximum(d2, 0.0)
    d2 = tf.linalg.set_diag(d2, tf.zeros_like(norms))
    if squared:
        return d2
    zero = tf.equal(d2, 0.0)
    root = tf.sqrt(tf.where(zero, tf.ones_like(d2), d2))
    return tf.where(zero, tf.zeros_like(d2), root)


def _label_masks(labels):
    """`(positive, negative)` boolean `(batch, batch)` masks: same label
    off the diagonal, and different label."""
    labels = tf.reshape(tf.convert_to_tensor(labels), [-1])
    same = tf.equal(labels[:, None], labels[None, :])
    eye = tf.cast(tf.eye(tf.shape(labels)[0]), tf.bool)
    return tf.logical_and(same, tf.logical_not(eye)), tf.logical_not(same)


def _triplet_terms(labels, distances, margin):
    """`d(a, p) - d(a, n) + margin` of every `(a, p, n)`, `(B, B, B)`, and
    the mask of valid triplets."""
    positive, negative = _label_masks(labels)
    terms = distances[:, :, None] - distances[:, None, :] + margin
    valid = tf.logical_and(positive[:, :, None], negative[:, None, :])
    return terms, valid


def _count(mask, dtype):
    return tf.reduce_sum(tf.cast(mask, dtype))


def _batch_all(labels, distances, margin):
    terms, valid = _triplet_terms(labels, distances, margin)
    losses = tf.where(valid, tf.maximum(terms, 0.0), tf.zeros_like(terms))
    active = _count(losses > 0.0, distances.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(losses), active)


def _batch_hard(labels, distances, margin):
    positive, negative = _label_masks(labels)
    # Fill values strictly outside the range of distances, so that they
    # never tie with (and steal gradient from) a real distance.
    below = -tf.ones_like(distances)
    above = tf.ones_like(distances) + tf.stop_gradient(tf.reduce_max(distances))
    hardest_positive = tf.reduce_max(
        tf.where(positive, distances, below), axis=1
    )
    hardest_negative = tf.reduce_min(
        tf.where(negative, distances, above), axis=1
    )
    valid = tf.logical_and(
        tf.reduce_any(positive, axis=1), tf.reduce_any(negative, axis=1)
    )
    losses = tf.maximum(hardest_positive - hardest_negative + margin, 0.0)
    losses = tf.where(valid, losses, tf.zeros_like(losses))
    return tf.math.divide_no_nan(
        tf.reduce_sum(losses), _count(valid, distances.dtype)
    )


def _semi_hard(labels, distances, margin):
    positive, negative = _label_masks(labels)
    below = -tf.ones_like(distances)
    above = tf.ones_like(distances) + tf.stop_gradient(tf.reduce_max(distances))
    # [a, p, n]: n is a negative of a farther from a than p.
    outside = tf.logical_and(
        negative[:, None, :], distances[:, None, :] > distances[:, :, None]
    )
    d_an = tf.broadcast_to(distances[:, None, :], tf.shape(outside))
    fill = tf.broadcast_to(above[:, None, :], tf.shape(outside))
    closest_outside = tf.reduce_min(tf.where(outside, d_an, fill), axis=2)
    has_outside = tf.reduce_any(outside, axis=2)
    # Fallback: the largest negative distance of the anchor; 0 (the
    # anchor's distance to itself) when it has no negative at all.
    largest = tf.reduce_max(
        tf.where(negative, distances, below), axis=1, keepdims=True
    )
    largest = tf.where(
        tf.reduce_any(negative, axis=1, keepdims=True),
        largest,
        tf.zeros_like(largest),
    )
    chosen = tf.where(has_outside, closest_outside, largest)
    losses = tf.maximum(distances - chosen + margin, 0.0)
    losses = tf.where(positive, losses, tf.zeros_like(losses))
    return tf.math.divide_no_nan(
        tf.reduce_sum(losses), _count(positive, distances.dtype)
    )


def triplet_loss(
    labels,
    embeddings,
    *,
    margin: float = 0.2,
    mining: str = "semi_hard",
    squared: bool = True,
):
    """Triplet loss `max(d(A, P) - d(A, N) + margin, 0)` mined in a batch.

    See the module docstring for the distance, the three mining modes,
    their reductions and the fallbacks.

    Args:
        labels: int tensor of identity ids, shape `(batch,)` or
            `(batch, 1)`.
        embeddings: float tensor of shape `(batch, dim)`, normally unit
            vectors.
        margin: alpha, a number >= 0.
        mining: `"semi_hard"`, `"batch_all"` or `"batch_hard"`.
        squared: squared L2 distances when true, plain L2 when false.

    Returns:
        A scalar tensor (float32 for half-precision embeddings, else the
        embeddings' dtype); 0 when the batch has no triplet to learn
        from.

    Example:

    >>> triplet_loss(
    ...     [0, 0], [[0.0, 1.0], [1.0, 0.0]], margin=1.0, squared=False
    ... )
    <tf.Tensor: shape=(), dtype=float32, numpy=2.4142137>
    """
    _check_args(margin, mining)
    distances = pairwise_distances(embeddings, squared=squared)
    margin = tf.constant(margin, distances.dtype)
    if mining == "batch_all":
        return _batch_all(labels, distances, margin)
    if mining == "batch_hard":
        return _batch_hard(labels, distances, margin)
    return _semi_hard(labels, distances, margin)


def mining_stats(
    labels, embeddings, *, margin: float = 0.2, squared: bool = True
):
    """How many triplets of a batch are valid and how many still violate
    the margin (worth logging: the fraction falls as training converges).

    Args:
        labels: int tensor of identity ids, shape `(batch,)` or
            `(batch, 1)`.
        embeddings: float tensor of shape `(batch, dim)`.
        margin: alpha, a number >= 0.
        squared: squared L2 distances when true, plain L2 when false.

    Returns:
        A dict of scalar tensors: `num_valid_triplets` (int32),
        `num_positive_triplets` (int32, valid triplets with a loss > 0)
        and `fraction_positive_triplets` (their ratio, 0 when there is
        no valid triplet).
    """
    _check_args(margin, "batch_all")
    distances = pairwise_distances(embeddings, squared=squared)
    terms, valid = _triplet_terms(
        labels, distances, tf.constant(margin, distances.dtype)
    )
    num_valid = _count(valid, tf.int32)
    num_positive = _count(tf.logical_and(valid, terms > 0.0), tf.int32)
    fraction = tf.math.divide_no_nan(
        tf.cast(num_positive, distances.dtype),
        tf.cast(num_valid, distances.dtype),
    )
    return {
        "fraction_positive_triplets": fraction,
        "num_valid_triplets": num_valid,
        "num_positive_triplets": num_positive,
    }


@register
class TripletLoss(keras.losses.Loss):
    """The triplet loss with online mining as a Keras `Loss`.

    See `triplet_loss` and the module docstring for the formula and the
    mining modes. The loss is one scalar per batch, so mining sees the
    whole batch: feed batches with several samples per identity (e.g. P
    identities x K images).

    Args:
        margin: alpha. Defaults to `0.2`.
        mining: `"semi_hard"` (default), `"batch_all"` or `"batch_hard"`.
        squared: squared L2 distances (default) or plain L2.
        name: name of the loss. Defaults to `"triplet_loss"`.
        **kwargs: base loss keyword arguments, such as `dtype`.

    Call arguments:
        y_true: `(batch,)` or `(batch, 1)` identity ids.
        y_pred: `(batch, dim)` embeddings.

    Example:

    >>> loss = TripletLoss(margin=1.0, squared=False)
    >>> round(float(loss([0, 0], [[0.0, 1.0], [1.0, 0.0]])), 6)
    2.414214
    """

    def __init__(
        self,
        *,
        margin=0.2,
        mining="semi_hard",
        squared=True,
        name="triplet_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        _check_args(margin, mining)
        self.margin = float(margin)
        self.mining = mining
        self.squared = bool(squared)

    def call(self, y_true, y_pred):
        return triplet_loss(
            y_true,
            y_pred,
            margin=self.margin,
            mining=self.mining,
            squared=self.squared,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            margin=self.margin, mining=self.mining, squared=self.squared
        )
        return config
