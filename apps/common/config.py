"""Configs as dataclass trees: defaults, then a YAML file, then `--set`.

The order is fixed: dataclass defaults, then the `--config` YAML file, then
each `--set a.b=c` in the order given (values parsed with `yaml.safe_load`,
never `eval`). Unknown keys are rejected with the nearest valid key, and a
value of the wrong type is rejected with the expected type.
"""

import dataclasses
import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from layers.blocks.residual import NORM_POSITIONS


class ConfigError(ValueError):
    """A bad config key or value; its message is one line for the user."""


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
    acc, auc or map are maximised, the others minimised.
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


def check(ok: bool, key: str, expected: str, value) -> None:
    """Raises `ConfigError("key: expected ..., received ...")` unless ok."""
    if not ok:
        raise ConfigError(f"{key}: expected {expected}, received {value!r}")


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


def _field_types(cls) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _nearest(key: str, options) -> str:
    match = difflib.get_close_matches(key, list(options), n=1, cutoff=0.0)
    return match[0] if match else ""


def _type_name(tp) -> str:
    args = typing.get_args(tp)
    if args:
        return " or ".join(_type_name(a) for a in args)
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _coerce(value, tp, where: str):
    """Checks `value` against the annotation `tp`, converting int->float."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(
            f"{where}: expected {_type_name(tp)}, received {value!r}"
        )
    if tp is type(None):
        if value is None:
            return None
    elif tp is Any:
        return value
    elif origin in (list, tuple):
        if isinstance(value, (list, tuple)):
            (item_tp, *_) = typing.get_args(tp) or (Any,)
            return [
                _coerce(v, item_tp, f"{where}[{i}]")
                for i, v in enumerate(value)
            ]
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            # YAML 1.1 reads `1e-3` (no dot) as a string.
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is str:
        if isinstance(value, str):
            return value
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, dict):
            source, _, path = where.partition(": ")
            return merge(tp(), value, source=source, prefix=f"{path}.")
    raise ConfigError(f"{where}: expected {_type_name(tp)}, received {value!r}")


def from_dict(cls, data: dict, *, source: str = "config"):
    """Builds dataclass `cls` from a nested dict, rejecting unknown keys."""
    return merge(cls(), data, source=source)


def merge(config, data: dict, *, source: str = "config", prefix: str = ""):
    """Returns a copy of `config` with the nested dict `data` applied.

    Args:
        config: a dataclass instance.
        data: nested dict of new values.
        source: where `data` came from, for error messages.
        prefix: dotted path of `config` inside the root config.
    """
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: {prefix.rstrip('.') or 'config'}: expected a "
            f"mapping, received {data!r}"
        )
    types_ = _field_types(type(config))
    changes = {}
    for key, value in data.items():
        if key not in types_:
            near = _nearest(str(key), types_)
            raise ConfigError(
                f"{source}: unknown key '{prefix}{key}' "
                f"(nearest valid key: '{prefix}{near}')"
            )
        current = getattr(config, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[key] = merge(
                current, value, source=source, prefix=f"{prefix}{key}."
            )
        else:
            changes[key] = _coerce(
                value, types_[key], f"{source}: {prefix}{key}"
            )
    return dataclasses.replace(config, **changes)


def parse_set(item: str) -> dict:
    """Turns `a.b=c` into `{"a": {"b": yaml.safe_load("c")}}`."""
    if "=" not in item:
        raise ConfigError(f"--set {item}: expected KEY=VALUE, e.g. a.b=3")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {item}: value is not valid YAML ({err})")
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set {item}: expected a dotted key like a.b")
    nested = value
    for part in reversed(parts):
        nested = {part: nested}
    return nested


def load_yaml(path: str | Path) -> dict:
    """Reads a YAML mapping, with one-line errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())
        raise ConfigError(f"{path}: not valid YAML ({reason})")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def resolve(cls, *, config_file=None, sets=(), base=None):
    """Defaults -> `config_file` -> each `--set`, validated on the way.

    Args:
        cls: the app's root config dataclass.
        config_file: optional path of a YAML file.
        sets: `a.b=c` strings, applied in order.
        base: optional starting config instead of `cls()`.

    Returns:
        The resolved config, an instance of `cls`.
    """
    config = base if base is not None else cls()
    if config_file:
        config = merge(config, load_yaml(config_file), source=str(config_file))
    for item in sets:
        config = merge(config, parse_set(item), source=f"--set {item}")
    validate = getattr(config, "validate", None)
    if validate:
        validate()
    return config


def to_dict(config) -> dict:
    """The config as plain nested dicts and lists."""
    return dataclasses.asdict(config)


def dump_yaml(config, path: str | Path) -> None:
    """Writes the config as YAML atomically (temp file then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(
            yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8"
        )
        tmp.replace(path)
    finally:
        # A failed write (disk full) must not leave debris that makes the
        # run folder look like something else.
        tmp.unlink(missing_ok=True)
