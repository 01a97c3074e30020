"""Training shared by every app: optimizer, regularizer, callbacks, `fit`."""

import math
import time
from pathlib import Path

import keras

from apps.common import distribute
from apps.common.config import ConfigError
from apps.common.config import OptimizerConfig
from apps.common.config import RegularizationConfig
from apps.common.config import TrainConfig
from apps.common.config import check_optimizer
from apps.common.config import check_regularization
from apps.common.gradnorm import GradientNormLog
from apps.common.gradnorm import LearningRateLog
from apps.common.gradnorm import record_gradient_norm
from apps.common.runs import atomic_write
from apps.common.runs import read_json
from apps.common.runs import write_json
from layers.serialization import register

BUDGET_STATE_FILE = "time_budget.json"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite (the message names the step)."""


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


class TimeBudget(keras.callbacks.Callback):
    """Fits training into a wall-clock budget, as Ultralytics' `time=`.

    At the end of each epoch, with `mean` the mean epoch time so far
    (validation and checkpoints included, counted from the start of
    `fit`): training stops when `elapsed + mean > budget`, i.e. when the
    next epoch would not finish in time; otherwise the model's
    `AdjustableCosineDecay` is re-fitted to end after
    `floor(budget / mean)` epochs (at most `max_epochs`), so the learning
    rate reaches its floor when the budget runs out.

    With `state_path` (kept inside the `BackupAndRestore` folder), the
    seconds spent and the schedule's length are written after each
    epoch, so a killed run that is resumed counts the time it already
    spent.

    Args:
        minutes: the budget, > 0.
        max_epochs: the upper bound (`train.epochs`).
        state_path: optional JSON file for resuming.
        clock: returns seconds; `time.monotonic` unless a test injects
            a fake one. Called once when training begins and once per
            epoch.
    """

    def __init__(
        self,
        minutes: float,
        *,
        max_epochs: int,
        state_path: Path | None = None,
        clock=time.monotonic,
    ):
        super().__init__()
        if not minutes > 0:
            raise ValueError(
                f"Expected minutes > 0. Received: minutes={minutes}"
            )
        self.minutes = minutes
        self.max_epochs = max_epochs
        self.state_path = Path(state_path) if state_path else None
        self.clock = clock
        self.estimated_epochs = max_epochs
        self.stopped_after = None

    def on_train_begin(self, logs=None):
        self.start = self.clock()
        self.spent_before = 0.0
        self.stopped_after = None
        if self.state_path and self.state_path.is_file():
            state = read_json(self.state_path)
            self.spent_before = float(state["seconds"])
            schedule = adjustable_schedule(self.model.optimizer)
            if schedule is not None and state.get("total_steps"):
                schedule.set_total_steps(state["total_steps"])

    def on_epoch_end(self, epoch, logs=None):
        budget = 60.0 * self.minutes
        elapsed = self.spent_before + self.clock() - self.start
        done = epoch + 1  # counts the epochs of a resumed run too
        mean = elapsed / done
        stop = elapsed + mean > budget
        estimate = done if stop else math.floor(budget / mean)
        self.estimated_epochs = min(max(estimate, done), self.max_epochs)
        schedule = adjustable_schedule(self.model.optimizer)
        total_steps = None
        if schedule is not None:
            steps = self.params.get("steps") or max(
                1, int(self.model.optimizer.iterations) // done
            )
            total_steps = self.estimated_epochs * steps
            schedule.set_total_steps(total_steps)
        if self.state_path:
            write_json(
                self.state_path,
                {
                    "seconds": elapsed,
                    "epochs": done,
                    "total_steps": total_steps,
                },
            )
        if stop:
            self.stopped_after = done
            self.model.stop_training = True
            print(
                f"Time budget: stopping after epoch {done} ({elapsed:.0f} "
                f"s of {budget:.0f} s; an epoch takes about {mean:.0f} s)"
            )


class StopOnNaN(keras.callbacks.Callback):
    """Saves the last good epoch; stops at the first NaN/inf loss.

    The model is written to `checkpoint_path` at the end of each epoch whose
    losses were finite, through a temporary file and a rename, so the
    checkpoint is never half-written and never holds diverged weights.
    """

    def __init__(self, checkpoint_path: Path):
        super().__init__()
        self.checkpoint_path = Path(checkpoint_path)
        self.epoch = 0
        self.failed_at = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.failed_at = (self.epoch + 1, batch + 1, float(loss))
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.failed_at:
            return
        atomic_write(self.checkpoint_path, self.model.save)

    def message(self) -> str:
        epoch, step, loss = self.failed_at
        last = (
            str(self.checkpoint_path)
            if self.checkpoint_path.exists()
            else "none (no epoch finished)"
        )
        return (
            f"training stopped: loss became {loss} at epoch {epoch}, step "
            f"{step}; last good checkpoint: {last} (lower "
            "optimizer.learning_rate or set optimizer.global_clipnorm)"
        )


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the model when `monitor` improves, through a temporary file
    and a rename (`runs.atomic_write`): unlike Keras' `ModelCheckpoint`,
    which writes in place, a kill or a full disk never leaves a
    half-written `best.keras`.

    Args:
        path: the `.keras` file.
        monitor: the logged value to watch; lower is better unless its
            name says accuracy, AUC or mAP.
    """

    def __init__(self, path: Path, *, monitor: str = "val_loss"):
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.higher_is_better = any(
            key in monitor for key in ("acc", "auc", "map")
        )
        self.best = None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.higher_is_better:
            return value > self.best
        return value < self.best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            logged = ", ".join(sorted(logs or {})) or "nothing"
            raise ConfigError(
                f"train.monitor: {self.monitor!r} is not logged by this "
                f"model; expected one of: {logged}"
            )
        if not math.isfinite(float(value)):
            return
        if self._improved(float(value)):
            self.best = float(value)
            atomic_write(self.path, self.model.save)


def finished_epochs(backup_dir: Path) -> int:
    """Epochs recorded by `BackupAndRestore` in `backup_dir` (0 when none).

    Reads the same file Keras reads on resume (`training_metadata.json`,
    or its `.bkp` copy that Keras falls back to).
    """
    import json

    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        path = Path(backup_dir) / name
        try:
            return int(json.loads(path.read_text())["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return 0


def standard_callbacks(
    run_dir: Path,
    cfg: TrainConfig,
    *,
    monitor: str = "val_loss",
    clock=time.monotonic,
) -> list:
    """Gradient-norm logging, BackupAndRestore, checkpoints, early
    stopping, NaN guard, logs, and `TimeBudget` when
    `cfg.time_budget_minutes` is set.

    `BackupAndRestore` (in `run_dir/backup`) makes a killed `train` resume
    from the last finished epoch when the same command is run again; it is
    deleted when training ends normally. `clock` is `TimeBudget`'s.
    """
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    last = ckpt_dir / "last.keras"
    callbacks = [
        GradientNormLog(),  # first: the loggers below see grad_norm
        LearningRateLog(),
        # double_checkpoint keeps the previous epoch's backup, which Keras
        # falls back to when a kill left the newest one half-written.
        keras.callbacks.BackupAndRestore(
            str(run_dir / "backup"), double_checkpoint=True
        ),
        StopOnNaN(last),
        BestCheckpoint(ckpt_dir / "best.keras", monitor=monitor),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.TensorBoard(
            str(run_dir / "logs"), write_graph=False, profile_batch=0
        ),
    ]
    if cfg.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                patience=cfg.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    if cfg.time_budget_minutes is not None:
        callbacks.append(
            TimeBudget(
                cfg.time_budget_minutes,
                max_epochs=cfg.epochs,
                state_path=run_dir / "backup" / BUDGET_STATE_FILE,
                clock=clock,
            )
        )
    return callbacks


def fit(
    model,
    train_ds,
    val_ds,
    cfg: TrainConfig,
    run_dir: Path,
    *,
    steps_per_epoch=None,
    extra_callbacks=(),
    clock=time.monotonic,
):
    """`model.fit` with the standard callbacks; raises `TrainingDiverged`.

    Under a `tf.distribute` strategy (`apps.common.distribute`) the model
    must have been built and compiled in its scope, the datasets are
    batched with the global batch, and `run_dir` is the folder this worker
    writes (`Distribution.writable`): each worker keeps its own
    `BackupAndRestore` backup there.

    Args:
        model: a compiled Keras model.
        train_ds: the training dataset.
        val_ds: the validation dataset, or None.
        cfg: the `train` config section.
        run_dir: the run folder (checkpoints, backup, logs).
        steps_per_epoch: steps per epoch, for a repeated dataset.
        extra_callbacks: callbacks run after the standard ones.
        clock: the clock of the time budget (tests inject a fake one).

    Returns:
        The Keras `History`.
    """
    monitor = cfg.monitor or ("val_loss" if val_ds is not None else "loss")
    # Datasets are batched globally; under a strategy each worker keeps its
    # slice of every global batch (see `distribute.with_shard_policy`).
    train_ds = distribute.with_shard_policy(train_ds)
    val_ds = distribute.with_shard_policy(val_ds)
    if steps_per_epoch:
        # BackupAndRestore restores the weights and the epoch, not the
        # position in the data stream: without this skip, resumed epoch k
        # would see the batches of epoch 0 and the run would not end with
        # the weights of an uninterrupted one.
        done = finished_epochs(Path(run_dir) / "backup")
        if done:
            train_ds = train_ds.skip(done * steps_per_epoch)
    callbacks = standard_callbacks(run_dir, cfg, monitor=monitor, clock=clock)
    callbacks += list(extra_callbacks)
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=cfg.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=cfg.verbose,
        shuffle=False,  # datasets shuffle themselves
    )
    guard = next(c for c in callbacks if isinstance(c, StopOnNaN))
    if guard.failed_at:
        raise TrainingDiverged(guard.message())
    return history


def save_trained(model, run_dir: Path) -> None:
    """What every app writes when training ends: `model.keras` (through a
    temporary file and a rename) and the training curves of
    `history.csv` (`plots/training.png`)."""
    from apps.common import plots
    from apps.common import runs

    run_dir = Path(run_dir)
    atomic_write(run_dir / runs.MODEL_FILE, model.save)
    plots.plot_history(
        run_dir / "history.csv", run_dir / "plots" / "training.png"
    )
