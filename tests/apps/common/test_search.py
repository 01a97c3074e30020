"""`tune.space` in the config drives the sweep (`apps.common.search`)."""

import dataclasses

import keras_tuner
import pytest

from apps.common import config as config_lib
from apps.common import sections
from apps.common.config import ConfigError
from apps.common.lifecycle import Recipe
from apps.common.search import ConfigHyperModel
from apps.common.sections import OptimizerConfig
from apps.common.sections import TrainConfig
from apps.common.sections import TuneConfig
from apps.common.sections import search


@dataclasses.dataclass
class ModelConfig:
    loss: str = "triplet"
    width: float = 1.0
    units: int = 8
    margin: float = 0.2
    arc_margin: float = 0.5


@dataclasses.dataclass
class ToyConfig:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = dataclasses.field(
        default_factory=OptimizerConfig
    )
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    tune: TuneConfig = dataclasses.field(
        default_factory=lambda: TuneConfig(
            space=[
                search(
                    "learning_rate",
                    "optimizer.learning_rate",
                    low=1e-4,
                    high=1e-2,
                    sampling="log",
                ),
                search("width", "model.width", "model.units", values=[4, 16]),
                search("loss", "model.loss", values=["triplet", "arcface"]),
                search(
                    "margin",
                    "model.margin",
                    values=[0.1, 0.3],
                    parent="loss",
                    parent_values=["triplet"],
                ),
                search(
                    "arc_margin",
                    "model.arc_margin",
                    values=[0.2],
                    parent="loss",
                    parent_values=["arcface"],
                ),
            ]
        )
    )

    def validate(self):
        sections.check_tune(self.tune)


class ToyRecipe(Recipe):
    app = "toy"
    config_cls = ToyConfig


def _config(cfg, values: dict):
    """The trial config when keras-tuner picked `values` (names of
    `tune.space`); names left out take their dimension's default."""
    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    return ConfigHyperModel(ToyRecipe(), cfg, data=None).config_for(hp)


GRID = [
    {"learning_rate": lr, "width": w, "loss": loss, margin: m}
    for lr in (1e-4, 1e-2)
    for w in (4, 16)
    for loss, margin, m in (
        ("triplet", "margin", 0.3),
        ("arcface", "arc_margin", 0.2),
    )
]


def test_trial_configs_take_the_sampled_values_at_every_key():
    for values in GRID:
        cfg = _config(ToyConfig(), values)
        assert cfg.optimizer.learning_rate == values["learning_rate"]
        # One value, two keys.
        assert cfg.model.width == cfg.model.units == values["width"]
        assert cfg.model.loss == values["loss"]
        # Conditional dimensions apply only under their parent's value.
        if values["loss"] == "triplet":
            assert (cfg.model.margin, cfg.model.arc_margin) == (0.3, 0.5)
        else:
            assert (cfg.model.margin, cfg.model.arc_margin) == (0.2, 0.2)


def test_keras_tuner_sees_the_space_with_its_ranges():
    hp = keras_tuner.HyperParameters()
    ConfigHyperModel(ToyRecipe(), ToyConfig(), data=None).config_for(hp)
    space = {p.name: p for p in hp.space}
    assert set(space) == {
        "learning_rate",
        "width",
        "loss",
        "margin",
        "arc_margin",
    }
    lr = space["learning_rate"]
    assert (lr.min_value, lr.max_value, lr.sampling) == (1e-4, 1e-2, "log")
    assert list(space["width"].values) == [4, 16]
    assert hp.is_active(space["margin"])
    assert not hp.is_active(space["arc_margin"])


def test_a_space_given_by_config_replaces_the_default():
    cfg = config_lib.resolve(
        ToyConfig,
        sets=["tune.space=[{name: width, keys: [model.width], values: [7]}]"],
    )
    hp = keras_tuner.HyperParameters()
    trial = ConfigHyperModel(ToyRecipe(), cfg, data=None).config_for(hp)
    assert [p.name for p in hp.space] == ["width"]
    assert trial.model.width == 7
    assert trial.optimizer.learning_rate == 1e-3


def test_the_space_round_trips_through_yaml(tmp_path):
    cfg = ToyConfig()
    config_lib.dump_yaml(cfg, tmp_path / "best.yaml")
    again = config_lib.resolve(ToyConfig, config_file=tmp_path / "best.yaml")
    assert again == cfg


@pytest.mark.parametrize(
    "item, message",
    [
        ("[{name: w, keys: [model.nope], values: [1]}]", "model.nope"),
        ("[{name: w, keys: [model.width], low: 2, high: 1}]", "low < high"),
        (
            "[{name: w, keys: [model.width], low: 0, high: 1, sampling: log}]",
            "> 0 for log",
        ),
        ("[{name: w, values: [1]}]", "keys"),
    ],
)
def test_a_bad_space_is_one_clear_error(item, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        cfg = config_lib.resolve(ToyConfig, sets=[f"tune.space={item}"])
        _config(cfg, {})
