"""Configs as dataclass trees: defaults, then a YAML file, then `--set`.

The sections every app shares (optimizer, train, tune, runtime ...) and
their range checks are in `apps.common.sections`.

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


class ConfigError(ValueError):
    """A bad config key or value; its message is one line for the user."""


def check(ok: bool, key: str, expected: str, value) -> None:
    """Raises `ConfigError("key: expected ..., received ...")` unless ok."""
    if not ok:
        raise ConfigError(f"{key}: expected {expected}, received {value!r}")


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
