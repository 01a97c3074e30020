"""The sequence loss of an encoder-decoder trained with teacher forcing.

    L(y, y_hat) = sum_t mask_t * CE_eps(y<t>, softmax(z<t>))

summed over the time steps of each sentence (the cheatsheet's loss of a
conditional language model), with padding (`pad_id`) masked out. With
label smoothing `eps`, the target distribution is `(1 - eps)` on the true
token plus `eps / V` everywhere (Szegedy et al. 2016), so
`CE_eps = (1 - eps) * CE(y) + eps * mean_v(-log p_v)`.
"""

import keras
import tensorflow as tf

from layers.serialization import register


def sequence_cross_entropy(
    y_true, logits, *, label_smoothing: float = 0.0, pad_id: int = 0
):
    """Per-sentence summed, padding-masked, label-smoothed cross-entropy.

    Args:
        y_true: `(batch, T)` int target ids.
        logits: `(batch, T, V)` unnormalised scores.
        label_smoothing: eps in `[0, 1)`.
        pad_id: the id whose positions are ignored.

    Returns:
        `(batch,)` loss per sentence (0 for an all-padding row).

    Example:

    >>> sequence_cross_entropy([[1, 0]], tf.zeros((1, 2, 4)))  # log 4
    <tf.Tensor: shape=(1,), dtype=float32, numpy=array([1.3862944], ...)>
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(
            "Expected label_smoothing in [0, 1). "
            f"Received: label_smoothing={label_smoothing}"
        )
    logits = tf.convert_to_tensor(logits)
    y_true = tf.cast(tf.convert_to_tensor(y_true), tf.int32)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    true_nll = -tf.gather(log_probs, y_true, axis=-1, batch_dims=2)
    nll = true_nll
    if label_smoothing:
        uniform_nll = -tf.reduce_mean(log_probs, axis=-1)
        nll = (1.0 - label_smoothing) * true_nll + label_smoothing * uniform_nll
    mask = tf.cast(tf.not_equal(y_true, pad_id), nll.dtype)
    return tf.reduce_sum(nll * mask, axis=-1)


@register
class SequenceCrossEntropy(keras.losses.Loss):
    """`sequence_cross_entropy` as a Keras loss (mean over sentences).

    Args:
        label_smoothing: eps in `[0, 1)`.
        pad_id: the id whose positions are ignored.
    """

    def __init__(
        self,
        label_smoothing: float = 0.0,
        pad_id: int = 0,
        name: str = "sequence_cross_entropy",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                "Expected label_smoothing in [0, 1). "
                f"Received: label_smoothing={label_smoothing}"
            )
        self.label_smoothing = float(label_smoothing)
        self.pad_id = int(pad_id)

    def call(self, y_true, y_pred):
        return sequence_cross_entropy(
            y_true,
            y_pred,
            label_smoothing=self.label_smoothing,
            pad_id=self.pad_id,
        )

    def get_config(self):
        config = super().get_config()
        config.update(label_smoothing=self.label_smoothing, pad_id=self.pad_id)
        return config
