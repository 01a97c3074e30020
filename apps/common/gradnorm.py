"""What the optimizer did in each epoch, in the epoch logs: the global
gradient norm of every step and the learning rate.

Exploding gradients are the failure that `optimizer.global_clipnorm`
exists for; they are visible only if the norm is logged. Keras' `fit`
does not expose gradients to callbacks, so the optimizer made by
`apps.common.optimizers.make_optimizer` records, inside the compiled train
step, the norm `||g|| = sqrt(sum_i ||g_i||^2)` of the gradients it is
given (before clipping) into a small variable: the running sum, the
number of steps and the largest norm of the epoch. `GradientNormLog`
turns those into `grad_norm` (the epoch's mean) and `grad_norm_max` in
the epoch logs, so `history.csv`, TensorBoard and the training curves
show them. Reading the variable once per epoch costs nothing per step.
`LearningRateLog` adds the learning rate the schedule reached.
"""

import keras
import tensorflow as tf


class _Stats:
    """Holds the statistics variable outside TensorFlow's object tracking,
    so checkpoints and `.keras` files of the optimizer are unchanged."""

    def __init__(self, variable):
        self.variable = variable


def record_gradient_norm(optimizer):
    """Makes `optimizer` record the global norm of the gradients it
    applies (sum, count and max over the steps since the last reset).

    Under a `tf.distribute` strategy the variable is created in the
    strategy's scope when this is called there, and
    `apps.common.distribute.sum_gradients_first` sums the replicas'
    gradients before this records them, so the norm is that of the whole
    step's gradient, as on one device (every replica then writes the same
    value; the first one's is kept).

    Args:
        optimizer: a Keras optimizer.

    Returns:
        The same optimizer.
    """
    variable = tf.Variable(
        tf.zeros([3]),
        trainable=False,
        name="gradient_norm_stats",
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
    )
    apply = optimizer.apply

    def apply_and_record(grads, trainable_variables=None):
        norm = tf.linalg.global_norm([g for g in grads if g is not None])
        norm = tf.cast(norm, tf.float32)
        variable.assign(
            tf.stack(
                [
                    variable[0] + norm,
                    variable[1] + 1.0,
                    tf.maximum(variable[2], norm),
                ]
            )
        )
        return apply(grads, trainable_variables)

    optimizer.apply = apply_and_record
    optimizer._gradient_norm = _Stats(variable)
    return optimizer


def gradient_norm_stats(optimizer):
    """The statistics variable `record_gradient_norm` added, or None
    (looks through a mixed-precision `LossScaleOptimizer`)."""
    for opt in (optimizer, getattr(optimizer, "inner_optimizer", None)):
        stats = getattr(opt, "_gradient_norm", None)
        if isinstance(stats, _Stats):
            return stats.variable
    return None


class GradientNormLog(keras.callbacks.Callback):
    """Adds `grad_norm` (mean over the epoch's steps) and `grad_norm_max`
    to the epoch logs, from the optimizer's recorded statistics.

    Put it before the callbacks that write logs (`CSVLogger`,
    `TensorBoard`): Keras hands every callback the same logs dict. Does
    nothing when the optimizer records no statistics.
    """

    def _stats(self):
        optimizer = getattr(self.model, "optimizer", None)
        return gradient_norm_stats(optimizer) if optimizer else None

    def on_epoch_begin(self, epoch, logs=None):
        stats = self._stats()
        if stats is not None:
            stats.assign(tf.zeros([3]))

    def on_epoch_end(self, epoch, logs=None):
        stats = self._stats()
        if stats is None or logs is None:
            return
        total, steps, largest = (float(v) for v in stats.numpy())
        if steps:
            logs["grad_norm"] = total / steps
            logs["grad_norm_max"] = largest


class LearningRateLog(keras.callbacks.Callback):
    """Adds `learning_rate`, the optimizer's rate at the end of the epoch
    (a schedule's current value), to the epoch logs; before the loggers,
    like `GradientNormLog`."""

    def on_epoch_end(self, epoch, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or logs is None:
            return
        logs["learning_rate"] = float(
            keras.ops.convert_to_numpy(optimizer.learning_rate)
        )
