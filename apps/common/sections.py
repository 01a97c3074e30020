"""The config sections every app shares, and their range checks.

`optimizer`, `regularization`, `train`, `tune` (with its search space) and
`runtime`; an app's root config holds them beside its own sections, and
its `validate()` calls `validate_common`. Reading and merging configs is
`apps.common.config`.
"""

import dataclasses
from typing import Any

from apps.common.config import check
from layers.blocks.residual import NORM_POSITIONS


@dataclasses.dataclass
class OptimizerConfig:
    """Optimizer choice with gradient clipping (all apps).

    `name` is one of sgd (with `momentum`), rmsprop or adam (AdamW when
    `weight_decay` > 0). `clipnorm` clips each gradient, `global_clipnorm`
    the norm of all of them together; `schedule` is constant or cosine
    (with `warmup_epochs` of linear warm-up).
    """

    name: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    clipnorm: float | None = None
    global_clipnorm: float | None = 10.0
    schedule: str = "cosine"
    warmup_epochs: float = 0.0


@dataclasses.dataclass
class RegularizationConfig:
    """Weight regularization: L1, L2, or both (elastic net), and dropout."""

    l1: float = 0.0
    l2: float = 0.0
    dropout: float = 0.0


@dataclasses.dataclass
class TrainConfig:
    """The `fit` loop and its callbacks.

    `time_budget_minutes` bounds the wall time of `fit`: training stops
    when the next epoch would not finish within it (mean epoch time so
    far), and the cosine schedule is re-fitted after each epoch to the
    epochs that fit, so the learning rate reaches its floor when the
    budget ends. `epochs` is then an upper bound.

    `monitor` is the logged value that picks `checkpoints/best.keras` and
    drives early stopping (`early_stopping_patience` epochs without
    improvement; the best weights are restored): empty means `val_loss`
    (`loss` without validation data); e.g. `val_perplexity`. Names with
    the word acc(uracy), auc, map, bleu, chrf, f1, precision, recall or
    rank1 are maximised, the others (`mape` too) minimised.
    """

    epochs: int = 10
    batch_size: int = 32
    steps_per_epoch: int | None = None
    early_stopping_patience: int | None = None
    monitor: str = ""
    checkpoint_every_epoch: bool = True
    verbose: int = 1
    time_budget_minutes: float | None = None


@dataclasses.dataclass
class SearchDim:
    """One hyperparameter of a `tune` sweep and the config keys it sets.

    `values` makes it a choice; otherwise it ranges over [`low`, `high`]
    (`kind` float or int, `sampling` linear or log). `keys` are the dotted
    config keys that receive the sampled value (one or more, e.g. a width
    shared by two layers). With `parent`, the dimension is active only
    while the hyperparameter named `parent` takes one of `parent_values`
    (keras-tuner's conditional hyperparameters).

    Example:
        `{name: learning_rate, keys: [optimizer.learning_rate], low: 3e-4,
        high: 3e-3, sampling: log}`
    """

    name: str = ""
    keys: list[str] = dataclasses.field(default_factory=list)
    values: list[Any] = dataclasses.field(default_factory=list)
    low: float | None = None
    high: float | None = None
    kind: str = "float"
    sampling: str = "linear"
    parent: str = ""
    parent_values: list[Any] = dataclasses.field(default_factory=list)


def search(name: str, *keys: str, **options) -> SearchDim:
    """A `SearchDim` for config defaults: `search("lr", "optimizer.lr",
    low=1e-4, high=1e-2, sampling="log")`; `keys` default to `(name,)`."""
    return SearchDim(name=name, keys=list(keys or (name,)), **options)


@dataclasses.dataclass
class TuneConfig:
    """A keras-tuner sweep: algorithm random, bayesian or hyperband.

    `worker_timeout_seconds` supervises a `tune --distributed` chief: it
    stops with an error when no worker has asked for, reported or ended a
    trial for that long (workers report once a trial ends: keep it above
    the longest trial).
    """

    algorithm: str = "random"
    max_trials: int = 4
    epochs: int = 2
    objective: str = "val_loss"
    direction: str = "min"
    executions_per_trial: int = 1
    seed: int = 0
    worker_timeout_seconds: float = 1800.0
    space: list[SearchDim] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class RuntimeConfig:
    """Process-wide settings, applied once by `apps.common.runtime`.

    `strategy` picks the `tf.distribute` engine of `train` and `tune`
    (`apps.common.distribute`): default (one device), mirrored (all local
    GPUs, or the logical CPUs), multi_worker (`TF_CONFIG`) or tpu (`tpu`
    names the TPU; empty: the local one or `TPU_NAME`). `logical_cpus`
    splits the CPU into that many logical devices (0: leave it whole),
    which lets `mirrored` run on a machine without GPUs. `mixed_precision`
    uses mixed_float16 (mixed_bfloat16 under tpu).
    """

    seed: int = 0
    deterministic: bool = False
    threads: int = 0
    mixed_precision: bool = False
    strategy: str = "default"
    logical_cpus: int = 0
    tpu: str = ""


OPTIMIZERS = ("sgd", "rmsprop", "adam")
SCHEDULES = ("constant", "cosine")
TUNE_ALGORITHMS = ("random", "bayesian", "hyperband")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
FREEZE_POLICIES = ("auto", "none", "backbone", "early")


def check_optimizer(opt: OptimizerConfig) -> None:
    """Range checks of an `optimizer` section."""
    check(
        opt.name in OPTIMIZERS,
        "optimizer.name",
        f"one of {', '.join(OPTIMIZERS)}",
        opt.name,
    )
    check(
        opt.schedule in SCHEDULES,
        "optimizer.schedule",
        f"one of {', '.join(SCHEDULES)}",
        opt.schedule,
    )
    check(
        opt.learning_rate > 0,
        "optimizer.learning_rate",
        "> 0",
        opt.learning_rate,
    )
    check(
        opt.clipnorm is None or opt.global_clipnorm is None,
        "optimizer.clipnorm",
        "null when global_clipnorm is set (not both)",
        opt.clipnorm,
    )
    for key in ("clipnorm", "global_clipnorm"):
        value = getattr(opt, key)
        check(
            value is None or value > 0, f"optimizer.{key}", "> 0 or null", value
        )


def check_regularization(reg: RegularizationConfig) -> None:
    """Range checks of a `regularization` section."""
    check(reg.l1 >= 0, "regularization.l1", ">= 0", reg.l1)
    check(reg.l2 >= 0, "regularization.l2", ">= 0", reg.l2)
    check(
        0 <= reg.dropout < 1, "regularization.dropout", "in [0, 1)", reg.dropout
    )


def check_tune(tune: TuneConfig) -> None:
    """Range checks of a `tune` section."""
    check(
        tune.algorithm in TUNE_ALGORITHMS,
        "tune.algorithm",
        f"one of {', '.join(TUNE_ALGORITHMS)}",
        tune.algorithm,
    )
    check(
        tune.direction in ("min", "max"),
        "tune.direction",
        "min or max",
        tune.direction,
    )
    check(tune.max_trials >= 1, "tune.max_trials", ">= 1", tune.max_trials)
    check(tune.epochs >= 1, "tune.epochs", ">= 1", tune.epochs)
    check(
        tune.worker_timeout_seconds > 0,
        "tune.worker_timeout_seconds",
        "> 0",
        tune.worker_timeout_seconds,
    )
    for i, dim in enumerate(tune.space):
        check_search_dim(dim, f"tune.space[{i}]")


def check_search_dim(dim: SearchDim, where: str) -> None:
    """Range checks of one `tune.space` entry."""
    check(bool(dim.name), f"{where}.name", "a hyperparameter name", dim.name)
    check(bool(dim.keys), f"{where}.keys", "at least one config key", dim.keys)
    if dim.values:
        return
    check(
        dim.low is not None and dim.high is not None and dim.low < dim.high,
        f"{where}.low/high",
        "values, or low < high",
        (dim.low, dim.high),
    )
    check(
        dim.kind in ("float", "int"), f"{where}.kind", "float or int", dim.kind
    )
    check(
        dim.sampling in ("linear", "log"),
        f"{where}.sampling",
        "linear or log",
        dim.sampling,
    )
    check(
        dim.sampling != "log" or dim.low > 0,
        f"{where}.low",
        "> 0 for log sampling",
        dim.low,
    )


def check_runtime(runtime: RuntimeConfig, train=None) -> None:
    """Range checks of a `runtime` section (and of what the chosen
    strategy cannot do with the `train` section)."""
    check(
        runtime.strategy in STRATEGIES,
        "runtime.strategy",
        f"one of {', '.join(STRATEGIES)}",
        runtime.strategy,
    )
    check(
        runtime.logical_cpus >= 0,
        "runtime.logical_cpus",
        ">= 0",
        runtime.logical_cpus,
    )
    if runtime.strategy == "multi_worker" and train is not None:
        # Each worker reads its own clock: one would stop while the others
        # wait in the next all-reduce.
        check(
            train.time_budget_minutes is None,
            "train.time_budget_minutes",
            "null with runtime.strategy=multi_worker (workers would not "
            "agree when to stop)",
            train.time_budget_minutes,
        )


INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
)


def check_conv_options(model, prefix: str = "model") -> None:
    """`initializer` (Xavier/Glorot, He or LeCun) and `norm` (where batch
    norm sits: before or after the activation, or none) of a model
    section built from `layers.blocks` convolutions."""
    check(
        model.initializer in INITIALIZERS,
        f"{prefix}.initializer",
        f"one of {INITIALIZERS}",
        model.initializer,
    )
    check(
        model.norm in NORM_POSITIONS,
        f"{prefix}.norm",
        f"one of {NORM_POSITIONS}",
        model.norm,
    )


def validate_common(config) -> None:
    """Range checks of the sections every app shares, at config time, so a
    bad value fails before any data is read. The builders (optimizer,
    regularizer, tuner) call the same checks."""
    if getattr(config, "optimizer", None) is not None:
        check_optimizer(config.optimizer)
    if getattr(config, "regularization", None) is not None:
        check_regularization(config.regularization)
    train = getattr(config, "train", None)
    if train is not None:
        check(train.epochs >= 1, "train.epochs", ">= 1", train.epochs)
        check(
            train.batch_size >= 1, "train.batch_size", ">= 1", train.batch_size
        )
        budget = train.time_budget_minutes
        check(
            budget is None or budget > 0,
            "train.time_budget_minutes",
            "> 0 or null",
            budget,
        )
    if getattr(config, "tune", None) is not None:
        check_tune(config.tune)
    if getattr(config, "runtime", None) is not None:
        check_runtime(config.runtime, train)
