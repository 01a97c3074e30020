"""The callbacks every training run gets (`standard_callbacks`), and the
ones written here: `TimeBudget`, `StopOnNaN` and `BestCheckpoint`."""

import json
import math
import re
import time
from pathlib import Path

import keras

from apps.common.config import ConfigError
from apps.common.gradnorm import GradientNormLog
from apps.common.gradnorm import LearningRateLog
from apps.common.optimizers import adjustable_schedule
from apps.common.runs import atomic_write
from apps.common.runs import read_json
from apps.common.runs import write_json
from apps.common.sections import TrainConfig

BUDGET_STATE_FILE = "time_budget.json"


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


# Words of a logged name whose larger value is better; any other name is
# minimised (losses, errors, perplexity). Matched on whole words, so the
# error `mape` is not taken for `map`.
MAXIMIZED_WORDS = frozenset(
    {
        "acc",
        "accuracy",
        "auc",
        "map",
        "map50",
        "bleu",
        "chrf",
        "f1",
        "precision",
        "recall",
        "rank1",
    }
)


def monitor_mode(monitor: str) -> str:
    """`"max"` when a larger `monitor` is better, else `"min"`: the mode
    that `EarlyStopping` and `BestCheckpoint` share (Keras' "auto" refuses
    custom metrics such as `val_perplexity`)."""
    words = re.split(r"[^a-z0-9]+", monitor.lower())
    return "max" if MAXIMIZED_WORDS.intersection(words) else "min"


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the model when `monitor` improves, through a temporary file
    and a rename (`runs.atomic_write`): unlike Keras' `ModelCheckpoint`,
    which writes in place, a kill or a full disk never leaves a
    half-written `best.keras`.

    Args:
        path: the `.keras` file.
        monitor: the logged value to watch; lower is better unless
            `monitor_mode` says otherwise (accuracy, AUC, mAP, BLEU ...).
    """

    def __init__(self, path: Path, *, monitor: str = "val_loss"):
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.higher_is_better = monitor_mode(monitor) == "max"
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
        # Logged before the backup is written: a kill between the two runs
        # that epoch again (logged twice) instead of losing its row.
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        # double_checkpoint keeps the previous epoch's backup, which Keras
        # falls back to when a kill left the newest one half-written.
        keras.callbacks.BackupAndRestore(
            str(run_dir / "backup"), double_checkpoint=True
        ),
        StopOnNaN(last),
        BestCheckpoint(ckpt_dir / "best.keras", monitor=monitor),
        keras.callbacks.TensorBoard(
            str(run_dir / "logs"), write_graph=False, profile_batch=0
        ),
    ]
    if cfg.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                mode=monitor_mode(monitor),
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
