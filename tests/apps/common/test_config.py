"""Config order, unknown keys with the nearest valid key, type checks."""

import dataclasses

import pytest

from apps.common import config as config_lib
from apps.common.config import ConfigError


@dataclasses.dataclass
class Inner:
    rate: float = 0.1
    steps: int = 3
    name: str = "adam"
    clip: float | None = None
    pairs: list[list[float]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Root:
    inner: Inner = dataclasses.field(default_factory=Inner)
    seed: int = 0


def test_order_defaults_then_file_then_sets(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inner:\n  rate: 0.5\n  steps: 7\nseed: 2\n")
    cfg = config_lib.resolve(
        Root, config_file=path, sets=["inner.steps=9", "inner.steps=11"]
    )
    assert cfg.inner.rate == 0.5  # from the file
    assert cfg.inner.steps == 11  # the last --set wins
    assert cfg.seed == 2
    assert cfg.inner.name == "adam"  # default kept


def test_set_values_are_yaml_not_eval():
    cfg = config_lib.resolve(
        Root,
        sets=[
            "inner.pairs=[[0.1, 0.2]]",
            "inner.clip=null",
            "inner.name=__import__('os')",
        ],
    )
    assert cfg.inner.pairs == [[0.1, 0.2]]
    assert cfg.inner.clip is None
    assert cfg.inner.name == "__import__('os')"


def test_int_is_accepted_for_float_but_not_the_reverse():
    assert config_lib.resolve(Root, sets=["inner.rate=1"]).inner.rate == 1.0
    with pytest.raises(ConfigError, match=r"inner\.steps: expected int"):
        config_lib.resolve(Root, sets=["inner.steps=1.5"])


def test_exponent_without_a_dot_is_a_float_not_a_string():
    # YAML 1.1 (PyYAML) reads 1e-3 as the string "1e-3".
    assert config_lib.resolve(Root, sets=["inner.rate=1e-3"]).inner.rate == 1e-3
    assert (
        config_lib.resolve(Root, sets=["inner.rate=-2E+2"]).inner.rate == -200
    )
    with pytest.raises(ConfigError, match=r"inner\.rate: expected float"):
        config_lib.resolve(Root, sets=["inner.rate=1e-3x"])
    with pytest.raises(ConfigError, match=r"inner\.steps: expected int"):
        config_lib.resolve(Root, sets=["inner.steps=1e3"])


def test_unknown_key_names_the_nearest_valid_key():
    with pytest.raises(ConfigError) as err:
        config_lib.resolve(Root, sets=["inner.stepz=3"])
    msg = str(err.value)
    assert "unknown key 'inner.stepz'" in msg
    assert "nearest valid key: 'inner.steps'" in msg
    assert "\n" not in msg


def test_unknown_key_in_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("sed: 1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown key 'sed'"):
        config_lib.resolve(Root, config_file=path)


@pytest.mark.parametrize(
    "text, match",
    [("inner: [1, 2\n", "not valid YAML"), ("- 1\n", "mapping")],
)
def test_bad_yaml_file(tmp_path, text, match):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        config_lib.resolve(Root, config_file=path)


def test_missing_file_and_bad_set_syntax(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config_lib.resolve(Root, config_file=tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        config_lib.resolve(Root, sets=["seed"])


def test_dump_and_reload_round_trip(tmp_path):
    cfg = config_lib.resolve(Root, sets=["inner.pairs=[[1, 2]]", "seed=5"])
    config_lib.dump_yaml(cfg, tmp_path / "c.yaml")
    again = config_lib.resolve(Root, config_file=tmp_path / "c.yaml")
    assert again == cfg


def test_validate_hook_runs():
    from apps.detect.config import DetectConfig

    with pytest.raises(ConfigError, match="data.image_size"):
        config_lib.resolve(DetectConfig, sets=["data.image_size=100"])
    with pytest.raises(ConfigError, match="model.anchors"):
        config_lib.resolve(
            DetectConfig, sets=["model.num_anchors=2", "model.anchors=[[1, 1]]"]
        )
