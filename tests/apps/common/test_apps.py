"""Tests of apps/common/apps.py: apps found and loaded by name."""

import sys
import types

import keras
import pytest

from apps.common import config as config_lib
from apps.common.apps import app_names
from apps.common.apps import config_class_name
from apps.common.apps import load_app
from apps.common.config import ConfigError


def test_app_names_are_the_model_apps():
    names = app_names()
    assert {"detect", "embed", "face", "translate", "style"} <= set(names)
    assert "common" not in names and "inspect" not in names


def test_load_app_finds_config_and_builders():
    handle = load_app("detect")
    assert handle.config_cls.__name__ == "DetectConfig"
    assert callable(handle.inspect_model)
    assert handle.inspect_model.__module__ == "apps.detect.model"
    assert handle.tiny_config.name == "tiny.yaml"
    style = load_app("style")
    assert callable(style.inspect_model)
    assert config_class_name("style") == "StyleConfig"


@pytest.mark.parametrize(
    "name", ["detect", "embed", "face", "style", "translate"]
)
def test_every_app_gives_inspect_its_model(name):
    # By convention: apps.<name>.model.inspect_model(cfg) ->
    # (untrained keras.Model, notes), from the config alone.
    handle = load_app(name)
    cfg = config_lib.resolve(handle.config_cls, config_file=handle.tiny_config)
    model, notes = handle.inspect_model(cfg)
    assert isinstance(model, keras.Model) and model.count_params() > 0
    assert all(isinstance(note, str) for note in notes)


def test_an_app_without_inspect_model_is_one_error(tmp_path, monkeypatch):
    from apps.common import apps as apps_lib

    (tmp_path / "bare").mkdir()
    for part in ("config", "model"):
        (tmp_path / "bare" / f"{part}.py").write_text("")
        monkeypatch.setitem(
            sys.modules, f"apps.bare.{part}", types.ModuleType(part)
        )
    sys.modules["apps.bare.config"].BareConfig = type("BareConfig", (), {})
    monkeypatch.setattr(apps_lib, "APPS_DIR", tmp_path)
    with pytest.raises(ConfigError, match="bare/model.py: expected .*inspect"):
        load_app("bare")
