"""Resuming a run with a changed config (`apps.common.lifecycle`)."""

import dataclasses
import json

import pytest

from apps.common import config as config_lib
from apps.common import lifecycle
from apps.common.sections import TrainConfig
from apps.common.sections import TuneConfig


@dataclasses.dataclass
class ModelConfig:
    width: float = 1.0
    anchors: list[list[float]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ToyConfig:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    tune: TuneConfig = dataclasses.field(default_factory=TuneConfig)


def _with(cfg, section, **changes):
    return dataclasses.replace(
        cfg, **{section: dataclasses.replace(getattr(cfg, section), **changes)}
    )


def test_more_epochs_a_longer_budget_and_tuning_may_change(tmp_path):
    saved = ToyConfig()
    new = _with(saved, "train", epochs=30, time_budget_minutes=90.0)
    new = _with(new, "tune", max_trials=9)
    changes = lifecycle.check_resume(saved, new, tmp_path)
    assert changes == {
        "train.epochs": (10, 30),
        "train.time_budget_minutes": (None, 90.0),
        "tune.max_trials": (4, 9),
    }


def test_nothing_changed_is_a_plain_resume(tmp_path):
    assert lifecycle.check_resume(ToyConfig(), ToyConfig(), tmp_path) == {}


def test_other_keys_are_refused_one_line_each_then_the_way_out(tmp_path):
    saved = _with(ToyConfig(), "model", anchors=[[0.1, 0.2]])
    new = _with(saved, "model", width=0.5, anchors=[])
    new = _with(new, "train", batch_size=8, epochs=20)
    with pytest.raises(lifecycle.ConfigChanged) as err:
        lifecycle.check_resume(saved, new, tmp_path)
    lines = err.value.lines
    assert lines[:3] == [
        f"{tmp_path}: cannot resume with model.anchors changed (saved "
        "[[0.1, 0.2]], new [])",
        f"{tmp_path}: cannot resume with model.width changed (saved 1.0, "
        "new 0.5)",
        f"{tmp_path}: cannot resume with train.batch_size changed (saved "
        "32, new 8)",
    ]
    assert len(lines) == 4
    assert "--overwrite" in lines[3] and "--run" in lines[3]
    assert "train.epochs" in lines[3]  # what may change is named


def test_a_resume_resolves_over_the_saved_config(tmp_path):
    saved = _with(ToyConfig(), "model", width=0.25)
    config_lib.dump_yaml(saved, tmp_path / "config.yaml")
    cfg = lifecycle.resolve_for_run(
        ToyConfig, tmp_path, resuming=True, sets=["train.epochs=3"]
    )
    assert cfg.model.width == 0.25  # the saved value, not the default
    assert cfg.train.epochs == 3
    fresh = lifecycle.resolve_for_run(ToyConfig, tmp_path, resuming=False)
    assert fresh.model.width == 1.0


def test_each_resume_is_recorded(tmp_path):
    lifecycle.record_resume(tmp_path, {"train.epochs": (10, 30)})
    lifecycle.record_resume(tmp_path, {})
    log = json.loads((tmp_path / lifecycle.RESUME_LOG).read_text())
    assert [r["changed"] for r in log["resumes"]] == [
        {"train.epochs": {"saved": 10, "new": 30}},
        {},
    ]
