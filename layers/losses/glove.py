"""GloVe's weighted least-squares loss (Pennington et al. 2014).

The cheatsheet's cost over the co-occurrence matrix `X` (`X_ij`: how often
word `j` occurs in the context of word `i`):

    J = 1/2 * sum_ij f(X_ij) (theta_i^T e_j + b_i + b'_j - log X_ij)^2

with the weighting function

    f(x) = (x / x_max)^alpha  if x < x_max,  else 1;   f(0) = 0

(`x_max = 100`, `alpha = 3/4`), so pairs that never co-occur cost nothing
and very frequent pairs are not overweighted. The final embedding of a
word is `(e_w + theta_w) / 2`.
"""

import keras
import tensorflow as tf

from layers.serialization import register


def _check_args(x_max, alpha):
    if not x_max > 0:
        raise ValueError(f"Expected `x_max` > 0. Received: x_max={x_max}")
    if not alpha > 0:
        raise ValueError(f"Expected `alpha` > 0. Received: alpha={alpha}")


def glove_weight(x, x_max=100.0, alpha=0.75):
    """The weighting function `f(x)` (module docstring), element-wise.

    Example:

    >>> glove_weight(tf.constant([0.0, 50.0, 100.0, 300.0])).numpy()
    array([0.        , 0.59460356, 1.        , 1.        ], dtype=float32)
    """
    _check_args(x_max, alpha)
    x = tf.convert_to_tensor(x)
    ratio = tf.maximum(x, 0.0) / tf.cast(x_max, x.dtype)
    return tf.where(x < x_max, ratio ** tf.cast(alpha, x.dtype), 1.0)


def glove_loss(x, prediction, x_max=100.0, alpha=0.75):
    """Per-entry GloVe cost `1/2 f(x) (prediction - log x)^2`; 0 where
    `x = 0` (without a NaN gradient).

    Args:
        x: `(B,)` co-occurrence values `X_ij`.
        prediction: `(B,)` values `theta_i^T e_j + b_i + b'_j`.
        x_max: the weighting cut-off.
        alpha: the weighting exponent.

    Returns:
        `(B,)` costs.
    """
    prediction = tf.convert_to_tensor(prediction)
    x = tf.cast(x, prediction.dtype)
    weight = glove_weight(x, x_max, alpha)
    log_x = tf.math.log(tf.where(x > 0, x, 1.0))
    return 0.5 * weight * tf.square(prediction - log_x)


def glove_gradients(
    word, context, word_bias, context_bias, x, x_max=100.0, alpha=0.75
):
    """The GloVe cost of a batch of entries and its gradients, written out
    (what the trainer applies as sparse AdaGrad updates).

    With `r = f(x) (w_i^T c_j + b_i + b'_j - log x)`: `dJ/dw_i = r c_j`,
    `dJ/dc_j = r w_i`, `dJ/db_i = dJ/db'_j = r`.

    Args:
        word: `(B, d)` vectors `w_i`.
        context: `(B, d)` vectors `c_j`.
        word_bias: `(B,)` biases `b_i`.
        context_bias: `(B,)` biases `b'_j`.
        x: `(B,)` co-occurrence values.
        x_max: the weighting cut-off.
        alpha: the weighting exponent.

    Returns:
        `(cost, d_word, d_context, d_bias)`: `(B,)` costs, the gradients
        of their sum (`d_bias` is both biases' gradient).
    """
    prediction = (
        tf.reduce_sum(word * context, axis=-1) + word_bias + context_bias
    )
    x = tf.cast(x, prediction.dtype)
    weight = glove_weight(x, x_max, alpha)
    diff = prediction - tf.math.log(tf.where(x > 0, x, 1.0))
    residual = weight * diff
    cost = 0.5 * residual * diff
    return (
        cost,
        residual[:, None] * context,
        residual[:, None] * word,
        residual,
    )


@register
class GloVeLoss(keras.losses.Loss):
    """The GloVe cost as a Keras `Loss`.

    Args:
        x_max: the weighting cut-off. Defaults to 100.
        alpha: the weighting exponent. Defaults to 0.75.
        name: name of the loss.
        **kwargs: base loss keyword arguments, such as `reduction`.

    Call arguments:
        y_true: `(batch,)` co-occurrence values `X_ij`.
        y_pred: `(batch,)` predictions `theta_i^T e_j + b_i + b'_j`.
    """

    def __init__(self, x_max=100.0, alpha=0.75, name="glove", **kwargs):
        super().__init__(name=name, **kwargs)
        _check_args(x_max, alpha)
        self.x_max = float(x_max)
        self.alpha = float(alpha)

    def call(self, y_true, y_pred):
        return glove_loss(y_true, y_pred, self.x_max, self.alpha)

    def get_config(self):
        config = super().get_config()
        config.update(x_max=self.x_max, alpha=self.alpha)
        return config
