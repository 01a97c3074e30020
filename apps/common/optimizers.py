"""Optimizers, regularizers and learning-rate schedules shared by every app.

`make_optimizer` builds the optimizer of the `optimizer` config section
(its learning rate from `make_learning_rate`: a float or an
`AdjustableCosineDecay`), `make_regularizer` the kernel regularizer of the
`regularization` section.
"""

import keras

from apps.common import distribute
from apps.common.gradnorm import record_gradient_norm
from apps.common.sections import OptimizerConfig
from apps.common.sections import RegularizationConfig
from apps.common.sections import check_optimizer
from apps.common.sections import check_regularization
from layers.serialization import register


def make_regularizer(cfg: RegularizationConfig):
    """L1, L2 or elastic-net (both) kernel regularizer, or None."""
    check_regularization(cfg)
    if cfg.l1 and cfg.l2:
        return keras.regularizers.L1L2(l1=cfg.l1, l2=cfg.l2)
    if cfg.l1:
        return keras.regularizers.L1(cfg.l1)
    if cfg.l2:
        return keras.regularizers.L2(cfg.l2)
    return None


def make_optimizer(
    cfg: OptimizerConfig,
    *,
    total_steps: int | None = None,
    steps_per_epoch: int | None = None,
):
    """SGD with momentum, RMSprop or Adam(W), with `clipnorm` or
    `global_clipnorm` clipping, recording the global gradient norm of
    each step (`apps.common.gradnorm`: `grad_norm` in the epoch logs).

    Args:
        cfg: the `optimizer` config section.
        total_steps: steps of the whole run, for the cosine schedule.
        steps_per_epoch: steps of one epoch, for warm-up in epochs.
    """
    check_optimizer(cfg)
    name = cfg.name
    lr = make_learning_rate(cfg, total_steps, steps_per_epoch)
    clip = {"clipnorm": cfg.clipnorm, "global_clipnorm": cfg.global_clipnorm}
    if name == "sgd":
        optimizer = keras.optimizers.SGD(
            lr, momentum=cfg.momentum, nesterov=True, **clip
        )
    elif name == "rmsprop":
        optimizer = keras.optimizers.RMSprop(lr, momentum=cfg.momentum, **clip)
    elif cfg.weight_decay:
        optimizer = keras.optimizers.AdamW(
            lr, weight_decay=cfg.weight_decay, **clip
        )
    else:
        optimizer = keras.optimizers.Adam(lr, **clip)
    optimizer = record_gradient_norm(optimizer)
    # Under a strategy: clip and record the sum over replicas.
    return distribute.sum_gradients_first(optimizer)


def make_learning_rate(cfg, total_steps, steps_per_epoch):
    """A float, or a cosine schedule (with linear warm-up) over the run.

    The schedule is an `AdjustableCosineDecay`: `TimeBudget` can move its
    end while training runs.
    """
    check_optimizer(cfg)
    if cfg.schedule == "constant" or not total_steps:
        return cfg.learning_rate
    warmup = int(round(cfg.warmup_epochs * (steps_per_epoch or 0)))
    warmup = min(warmup, total_steps - 1)
    if warmup > 0:
        return AdjustableCosineDecay(
            cfg.learning_rate * 0.01,
            max(1, total_steps - warmup),
            alpha=0.01,
            warmup_target=cfg.learning_rate,
            warmup_steps=warmup,
        )
    return AdjustableCosineDecay(
        cfg.learning_rate, max(1, total_steps), alpha=0.01
    )


@register
class AdjustableCosineDecay(keras.optimizers.schedules.CosineDecay):
    """Keras' `CosineDecay` (with optional linear warm-up) whose length
    can change while training runs.

    The decay length lives in a non-trainable variable, read inside the
    compiled train step, so `set_total_steps` takes effect at the next
    step without retracing; `get_config` returns the current length, so a
    `.keras` file keeps it. Until it is changed, the learning rate is
    exactly `CosineDecay`'s.

    Args:
        initial_learning_rate: the start of the warm-up, or of the decay
            without warm-up.
        decay_steps: steps of the cosine decay, after the warm-up.
        alpha: the floor, as a fraction of the peak learning rate.
        name: name of the schedule's operations.
        warmup_target: the peak reached after `warmup_steps`, or None.
        warmup_steps: steps of linear warm-up.

    Example:

    >>> schedule = AdjustableCosineDecay(0.1, 100, alpha=0.01)
    >>> schedule.set_total_steps(50)
    >>> round(float(schedule(50)), 6)
    0.001
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        alpha=0.0,
        name="AdjustableCosineDecay",
        warmup_target=None,
        warmup_steps=0,
    ):
        super().__init__(
            initial_learning_rate,
            decay_steps,
            alpha=alpha,
            name=name,
            warmup_target=warmup_target,
            warmup_steps=warmup_steps,
        )
        self.decay_variable = keras.Variable(
            float(decay_steps),
            dtype="float32",
            trainable=False,
            name="decay_steps",
        )

    def set_total_steps(self, total_steps: int) -> None:
        """Makes the decay end at step `total_steps` (warm-up included);
        the decay keeps at least one step."""
        steps = max(1, int(total_steps) - int(self.warmup_steps))
        self.decay_steps = steps
        self.decay_variable.assign(float(steps))

    def __call__(self, step):
        ops = keras.ops
        with keras.name_scope(self.name):
            initial = ops.convert_to_tensor(self.initial_learning_rate)
            dtype = initial.dtype
            decay_steps = ops.cast(self.decay_variable, dtype)
            step = ops.cast(step, dtype)
            if self.warmup_target is None:
                step = ops.minimum(step, decay_steps)
                return self._decay_function(step, decay_steps, initial, dtype)
            target = ops.cast(self.warmup_target, dtype)
            warmup = ops.cast(self.warmup_steps, dtype)
            step = ops.minimum(step, decay_steps + warmup)
            return ops.cond(
                step < warmup,
                lambda: self._warmup_function(step, warmup, target, initial),
                lambda: self._decay_function(
                    step - warmup, decay_steps, target, dtype
                ),
            )


def adjustable_schedule(optimizer):
    """The optimizer's `AdjustableCosineDecay`, or None."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # loss scale
    schedule = getattr(optimizer, "_learning_rate", None)
    return schedule if isinstance(schedule, AdjustableCosineDecay) else None


def run_optimizer(cfg, steps_per_epoch: int | None = None):
    """The optimizer of a training run of the app config `cfg`: its
    `optimizer` section, the schedule spanning `cfg.train.epochs` epochs
    of `steps_per_epoch` steps (constant when that is unknown)."""
    total = steps_per_epoch * cfg.train.epochs if steps_per_epoch else None
    return make_optimizer(
        cfg.optimizer, total_steps=total, steps_per_epoch=steps_per_epoch
    )
