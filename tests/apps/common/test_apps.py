"""Tests of apps/common/apps.py: apps found and loaded by name."""

import pytest

from apps.common.apps import app_names
from apps.common.apps import config_class_name
from apps.common.apps import load_app
from apps.common.config import ConfigError


def test_app_names_are_the_model_apps():
    names = app_names()
    assert {"detect", "face", "translate", "style"} <= set(names)
    assert "common" not in names and "inspect" not in names


def test_load_app_finds_config_and_builders():
    handle = load_app("detect")
    assert handle.config_cls.__name__ == "DetectConfig"
    assert callable(handle.build_model)
    assert handle.inspect_model is None
    assert handle.tiny_config.name == "tiny.yaml"
    style = load_app("style")
    assert callable(style.inspect_model)
    assert config_class_name("style") == "StyleConfig"


def test_unknown_app_lists_the_apps():
    with pytest.raises(ConfigError, match="no such app .*detect"):
        load_app("nope")
