"""The run lifecycle every app shares: `train` and `tune`, written once.

An app describes what differs in a `Recipe` (how to read its data, build
and compile its model, make its datasets, and what to report); this
module does the rest the same way for every app: resolve the config
(resuming a run applies only the keys that may change), create or resume
the run folder once the data was read, enter the `tf.distribute` scope,
fit with the shared callbacks (backup and restore, time budget, NaN stop,
gradient norm, TensorBoard, best checkpoint, early stopping), save the
model and the curves, and write the summary. `tune` reads the data once
and searches the config's `tune.space` with the same builders.

Example:

```python
class MyRecipe(lifecycle.Recipe):
    app = "myapp"
    config_cls = MyConfig

    def load(self, cfg, splits=("train", "val"), *, progress=False):
        return {s: read_split(cfg.data, s) for s in splits}

    def build(self, cfg, data, *, steps_per_epoch=None):
        return build_and_compile(cfg, steps_per_epoch)

    def datasets(self, cfg, data):
        return make_ds(data["train"]), make_ds(data["val"])

summary = lifecycle.train(MyRecipe(), cfg, run_dir)
```
"""

import datetime
import time
from pathlib import Path
from typing import Any

import keras

from apps.common import config as config_lib
from apps.common import distribute
from apps.common import runs
from apps.common import training
from apps.common import tuning
from apps.common.config import ConfigError

# Keys a resumed run may change: they extend or watch the run, and do not
# change what the saved weights and optimizer state mean.
RESUMABLE_PREFIXES = (
    "train.epochs",
    "train.time_budget_minutes",
    "train.verbose",
    "tune.",
)
RESUME_LOG = "resumes.json"


class ConfigChanged(ConfigError):
    """`train` was asked to resume a run with keys that cannot change.

    Its `lines` are printed one per line (one per key, then the way out).
    """

    def __init__(self, lines: list[str]):
        super().__init__("; ".join(lines))
        self.lines = lines


class Recipe:
    """What an app supplies to the shared lifecycle.

    Subclasses set `app` and `config_cls` and override `load`, `build` and
    `datasets`; the other methods have defaults that fit most apps.
    `data` is whatever `load` returns (read once per run or sweep).
    """

    app: str = ""
    config_cls: type = type(None)
    # Split names `train` reads; the first is the training split.
    splits: tuple[str, ...] = ("train", "val")

    def check(self, cfg, dist) -> None:
        """Refuses a batch the strategy cannot split (before reading data)."""
        dist.check_batch(cfg.train.batch_size, "train.batch_size")

    def load(self, cfg, splits: tuple[str, ...], *, progress: bool = False):
        """Reads the data of `splits` (raising `DataError` on bad input)."""
        raise NotImplementedError

    def describe_data(self, cfg) -> str:
        """The 'Preparing ...' line printed before `load`."""
        return f"Preparing data ({getattr(cfg.data, 'source', 'data')})"

    def complete(self, cfg, data):
        """`cfg` with what is derived from the data filled in (anchors,
        class names); recorded in the run folder."""
        return cfg

    def attach(self, cfg, data, run_dir: Path, *, resuming: bool):
        """Writes or reloads run-folder state that goes with the data
        (vocabularies, tokenizers) once the folder exists; returns the
        data `build` and `datasets` use."""
        return data

    def steps_per_epoch(self, cfg, data) -> int | None:
        """Steps of one epoch (for the learning-rate schedule)."""
        return None

    def fit_steps(self, cfg, steps: int | None) -> int | None:
        """The `steps_per_epoch` given to `fit` (None: one pass over a
        finite training dataset)."""
        return steps

    def build(self, cfg, data, *, steps_per_epoch: int | None = None):
        """The compiled training model (called in the strategy's scope)."""
        raise NotImplementedError

    def datasets(self, cfg, data) -> tuple[Any, Any]:
        """`(train_ds, val_ds)` for `fit` (`val_ds` may be None)."""
        raise NotImplementedError

    def describe(self, cfg, data, model: keras.Model, steps) -> str:
        """The line printed before `fit`."""
        return (
            f"Training {model.count_params():,} parameters, "
            f"{cfg.train.epochs} epochs"
        )

    def trained(self, model: keras.Model) -> keras.Model:
        """The model `evaluate`, `predict` and `export` load."""
        return model

    def summary(self, cfg, data, history, seconds: float) -> dict:
        """The summary `train` returns and writes."""
        logs = history.history
        return {
            "epochs_run": len(logs.get("loss", [])),
            "final_loss": last(logs.get("loss")),
            "final_val_loss": last(logs.get("val_loss")),
            "train_seconds": round(seconds, 1),
        }

    def check_tune(self, cfg, data) -> None:
        """Refuses a sweep the data cannot score."""

    def score(self, cfg, model: keras.Model, data) -> dict:
        """Metrics of a tuning trial beyond Keras' logs (its objective)."""
        return {}


def last(values):
    """The last value as a float, or None."""
    return float(values[-1]) if values else None


def resolve_for_run(
    config_cls,
    run_dir: Path,
    *,
    resuming: bool,
    config_file=None,
    sets=(),
):
    """The config of a `train` call: defaults, `config_file`, `sets`; when
    resuming, the run's saved config takes the place of the defaults, so
    only what the user gives again can differ (`check_resume` decides)."""
    base = None
    if resuming:
        base = config_lib.resolve(
            config_cls, config_file=Path(run_dir) / runs.CONFIG_FILE
        )
    return config_lib.resolve(
        config_cls, config_file=config_file, sets=sets, base=base
    )


def flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to `{"a.b": value}` (lists are values)."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def changed_keys(saved, requested) -> dict[str, tuple[Any, Any]]:
    """`{key: (saved value, requested value)}` of every differing key."""
    old = flatten(config_lib.to_dict(saved))
    new = flatten(config_lib.to_dict(requested))
    return {
        key: (old.get(key), new.get(key))
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    }


def resumable(key: str, prefixes=RESUMABLE_PREFIXES) -> bool:
    """Whether a resumed run may change `key` (a key in `prefixes`, or
    under one that ends with a dot)."""
    return any(
        key == p or (p.endswith(".") and key.startswith(p)) for p in prefixes
    )


def check_resume(
    saved, requested, run_dir: Path, *, prefixes=RESUMABLE_PREFIXES
) -> dict:
    """The changes a resumed run applies, or `ConfigChanged` naming each
    key that cannot change (saved and new value) and the way out.

    Args:
        saved: the run's saved config.
        requested: the config the resumed run was asked for.
        run_dir: the run folder, for the messages.
        prefixes: the keys that may change (default: `RESUMABLE_PREFIXES`).
    """
    changes = changed_keys(saved, requested)
    refused = {k: v for k, v in changes.items() if not resumable(k, prefixes)}
    if refused:
        lines = [
            f"{run_dir}: cannot resume with {key} changed (saved "
            f"{old!r}, new {new!r})"
            for key, (old, new) in refused.items()
        ]
        lines.append(
            "keep the saved values, pass --overwrite to start this run "
            "again, or choose a new --run name (only "
            + ", ".join(p.rstrip(".") for p in prefixes)
            + " may change on resume)"
        )
        raise ConfigChanged(lines)
    return changes


def check_resumed(
    config_cls, cfg, run_dir: Path, *, prefixes=RESUMABLE_PREFIXES
) -> dict:
    """`check_resume` of `cfg` against the config saved in `run_dir`."""
    saved = config_lib.resolve(
        config_cls, config_file=Path(run_dir) / runs.CONFIG_FILE
    )
    return check_resume(saved, cfg, run_dir, prefixes=prefixes)


def apply_resumed(run_dir: Path, changes: dict) -> None:
    """Says what a resumed run changed and records it in `resumes.json`
    (nothing when it changed nothing)."""
    if not changes:
        return
    for key, (old, new) in changes.items():
        print(f"  {key}: {old!r} -> {new!r}")
    record_resume(run_dir, changes)


def record_resume(run_dir: Path, changes: dict) -> None:
    """Appends this resume and what it changed to `resumes.json`."""
    path = Path(run_dir) / RESUME_LOG
    log = runs.read_json(path) if path.exists() else {"resumes": []}
    log["resumes"].append(
        {
            "at": datetime.datetime.now().isoformat(timespec="seconds"),
            "changed": {
                key: {"saved": old, "new": new}
                for key, (old, new) in changes.items()
            },
        }
    )
    runs.write_json(path, log)


def train(recipe: Recipe, cfg, run_dir: Path, *, resuming: bool = False):
    """Trains `recipe`'s model into `run_dir`; resumes an interrupted run.

    Args:
        recipe: the app's `Recipe`.
        cfg: the config (for a resumed run: the saved config with the
            user's changes, see `resolve_for_run`).
        run_dir: the run folder (created once the data was read).
        resuming: continue the run from its last finished epoch.

    Returns:
        The recipe's summary (also written as `train_summary.json`).

    Raises:
        ConfigChanged: resuming with a key that may not change.
    """
    dist = distribute.setup(cfg.runtime)
    run_dir = Path(run_dir)
    recipe.check(cfg, dist)
    print(recipe.describe_data(cfg))
    data = recipe.load(cfg, recipe.splits, progress=True)
    cfg = recipe.complete(cfg, data)
    changes = {}
    if resuming:
        changes = check_resumed(recipe.config_cls, cfg, run_dir)
        print(f"Resuming {run_dir} from its last finished epoch")
    run_dir = dist.writable(run_dir)
    runs.ensure_dir(run_dir)
    apply_resumed(run_dir, changes)
    data = recipe.attach(cfg, data, run_dir, resuming=resuming)
    config_lib.dump_yaml(cfg, run_dir / runs.CONFIG_FILE)
    steps = recipe.steps_per_epoch(cfg, data)
    with dist.scope():
        model = recipe.build(cfg, data, steps_per_epoch=steps)
    train_ds, val_ds = recipe.datasets(cfg, data)
    print(
        f"{recipe.describe(cfg, data, model, steps)} "
        f"(TensorBoard: tensorboard --logdir {run_dir / 'logs'})"
    )
    start = time.time()
    history = training.fit(
        model,
        train_ds,
        val_ds,
        cfg.train,
        run_dir,
        steps_per_epoch=recipe.fit_steps(cfg, steps),
    )
    seconds = time.time() - start
    training.save_trained(recipe.trained(model), run_dir)
    summary = recipe.summary(cfg, data, history, seconds)
    runs.write_json(run_dir / "train_summary.json", summary)
    dist.finish(run_dir)
    return summary


def tune(recipe: Recipe, cfg, run_dir: Path) -> dict:
    """A keras-tuner sweep over `cfg.tune.space` into `run_dir`; writes
    the best config as `best.yaml` (see `apps.common.tuning.run_sweep`)."""
    from apps.common.search import ConfigHyperModel

    if not cfg.tune.space:
        raise ConfigError(
            "tune.space: expected at least one dimension to search, received []"
        )
    dist = distribute.setup(cfg.runtime)
    recipe.check(cfg, dist)
    run_dir = Path(run_dir)
    print(recipe.describe_data(cfg))
    data = recipe.load(cfg, recipe.splits, progress=True)
    recipe.check_tune(cfg, data)
    runs.ensure_dir(run_dir)
    data = recipe.attach(cfg, data, run_dir, resuming=False)
    config_lib.dump_yaml(cfg, run_dir / runs.CONFIG_FILE)
    return tuning.run_sweep(
        ConfigHyperModel(recipe, cfg, data),
        cfg,
        run_dir,
        verbose=cfg.train.verbose,
        distribution=dist,
    )
