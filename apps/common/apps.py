"""Loads an app by name at run time, for tools that work on any app.

`python -m apps.inspect --app detect` must build the detector without
`apps.inspect` importing `apps.detect` (no app imports another app, and
`tests/test_import_boundaries.py` parses imports to keep it so). This
module finds an app's parts by convention, through `importlib`:

- `apps.<name>.config.<Name>Config`: the root config dataclass;
- `apps.<name>.model.inspect_model(cfg) -> (keras.Model, list[str])`: the
  app's untrained model built from the config alone (stand-ins for what
  only data gives), with notes naming those stand-ins;
- `apps/<name>/configs/tiny.yaml`, optional: the smoke-test config.
"""

import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path

from apps.common.config import ConfigError

APPS_DIR = Path(__file__).resolve().parents[1]
# Packages under apps/ that are tools or shared code, not model apps.
NOT_APPS = ("common", "inspect")


@dataclasses.dataclass
class AppHandle:
    """What `load_app` found: the app's config class and model builder."""

    name: str
    config_cls: type
    inspect_model: Callable
    configs_dir: Path

    @property
    def tiny_config(self) -> Path | None:
        """`configs/tiny.yaml` of the app, when it has one."""
        path = self.configs_dir / "tiny.yaml"
        return path if path.is_file() else None


def app_names() -> list[str]:
    """The apps under `apps/` that have a `config.py` and a `model.py`."""
    return sorted(
        p.name
        for p in APPS_DIR.iterdir()
        if p.is_dir()
        and p.name not in NOT_APPS
        and (p / "config.py").is_file()
        and (p / "model.py").is_file()
    )


def config_class_name(name: str) -> str:
    """`detect` -> `DetectConfig`, the root config's conventional name."""
    return "".join(part.capitalize() for part in name.split("_")) + "Config"


def load_app(name: str) -> AppHandle:
    """Imports `apps.<name>.config` and `apps.<name>.model` at run time
    and returns the parts found by convention.

    Args:
        name: the app's package name, e.g. `detect`.

    Returns:
        An `AppHandle`.

    Raises:
        ConfigError: when no such app exists (the message lists the apps),
            or the app lacks its root config class or `inspect_model`.
    """
    names = app_names()
    if name not in names:
        raise ConfigError(
            f"--app {name}: no such app (expected one of {', '.join(names)})"
        )
    config_module = importlib.import_module(f"apps.{name}.config")
    cls_name = config_class_name(name)
    config_cls = getattr(config_module, cls_name, None)
    if config_cls is None:
        raise ConfigError(
            f"apps/{name}/config.py: expected a root config class {cls_name}"
        )
    model_module = importlib.import_module(f"apps.{name}.model")
    inspect_model = getattr(model_module, "inspect_model", None)
    if inspect_model is None:
        raise ConfigError(
            f"apps/{name}/model.py: expected a function inspect_model(cfg)"
        )
    return AppHandle(
        name=name,
        config_cls=config_cls,
        inspect_model=inspect_model,
        configs_dir=APPS_DIR / name / "configs",
    )
