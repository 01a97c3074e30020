"""Training shared by every app: `fit` with the standard callbacks, and
what every app saves when training ends (`save_trained`)."""

import time
from pathlib import Path

from apps.common import distribute
from apps.common.callbacks import StopOnNaN
from apps.common.callbacks import finished_epochs
from apps.common.callbacks import standard_callbacks
from apps.common.runs import atomic_write
from apps.common.sections import TrainConfig


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite (the message names the step)."""


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
