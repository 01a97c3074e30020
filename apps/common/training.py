"""Training shared by every app: optimizer, regularizer, callbacks, `fit`."""

import math
from pathlib import Path

import keras

from apps.common.config import OptimizerConfig
from apps.common.config import RegularizationConfig
from apps.common.config import TrainConfig
from apps.common.config import check_optimizer
from apps.common.config import check_regularization
from apps.common.runs import atomic_write


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
    `global_clipnorm` clipping.

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
        return keras.optimizers.SGD(
            lr, momentum=cfg.momentum, nesterov=True, **clip
        )
    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr, momentum=cfg.momentum, **clip)
    if cfg.weight_decay:
        return keras.optimizers.AdamW(lr, weight_decay=cfg.weight_decay, **clip)
    return keras.optimizers.Adam(lr, **clip)


def make_learning_rate(cfg, total_steps, steps_per_epoch):
    """A float, or a cosine schedule (with linear warm-up) over the run."""
    check_optimizer(cfg)
    if cfg.schedule == "constant" or not total_steps:
        return cfg.learning_rate
    warmup = int(round(cfg.warmup_epochs * (steps_per_epoch or 0)))
    warmup = min(warmup, total_steps - 1)
    if warmup > 0:
        return keras.optimizers.schedules.CosineDecay(
            cfg.learning_rate * 0.01,
            max(1, total_steps - warmup),
            alpha=0.01,
            warmup_target=cfg.learning_rate,
            warmup_steps=warmup,
        )
    return keras.optimizers.schedules.CosineDecay(
        cfg.learning_rate, max(1, total_steps), alpha=0.01
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


def standard_callbacks(
    run_dir: Path, cfg: TrainConfig, *, monitor: str = "val_loss"
) -> list:
    """BackupAndRestore, checkpoints, early stopping, NaN guard, logs.

    `BackupAndRestore` (in `run_dir/backup`) makes a killed `train` resume
    from the last finished epoch when the same command is run again; it is
    deleted when training ends normally.
    """
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    last = ckpt_dir / "last.keras"
    callbacks = [
        # double_checkpoint keeps the previous epoch's backup, which Keras
        # falls back to when a kill left the newest one half-written.
        keras.callbacks.BackupAndRestore(
            str(run_dir / "backup"), double_checkpoint=True
        ),
        StopOnNaN(last),
        keras.callbacks.ModelCheckpoint(
            str(ckpt_dir / "best.keras"), monitor=monitor, save_best_only=True
        ),
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
):
    """`model.fit` with the standard callbacks; raises `TrainingDiverged`.

    Returns:
        The Keras `History`.
    """
    monitor = "val_loss" if val_ds is not None else "loss"
    callbacks = standard_callbacks(run_dir, cfg, monitor=monitor)
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
