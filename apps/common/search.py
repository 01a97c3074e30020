"""The search space of `tune`, read from the config, as one HyperModel.

Every app's sweep searches the dimensions of its `tune.space` (the app's
config gives today's ranges as defaults; a YAML file or `--set` replaces
them). A trial's config is the base config with the sampled values set at
their dotted keys, so `best.yaml` is a plain config that `train --config`
reads back. Models and datasets come from the app's `Recipe`
(`apps.common.lifecycle`), the same functions `train` uses.
"""

import dataclasses
from typing import Any

import keras_tuner

from apps.common import config as config_lib
from apps.common.sections import SearchDim


def sample(hp, dim: SearchDim):
    """Registers `dim` with keras-tuner's `hp` and returns its value."""
    condition = {}
    if dim.parent:
        condition = {
            "parent_name": dim.parent,
            "parent_values": list(dim.parent_values),
        }
    if dim.values:
        return hp.Choice(dim.name, list(dim.values), **condition)
    if dim.kind == "int":
        return hp.Int(
            dim.name,
            int(dim.low),
            int(dim.high),
            sampling=dim.sampling,
            **condition,
        )
    return hp.Float(
        dim.name,
        float(dim.low),
        float(dim.high),
        sampling=dim.sampling,
        **condition,
    )


def nested(key: str, value: Any) -> dict:
    """`"a.b"`, 3 -> `{"a": {"b": 3}}`."""
    out: Any = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def with_values(cfg, values: dict[str, Any], *, source: str = "tune.space"):
    """`cfg` with each dotted key of `values` set (validated like `--set`).

    Raises:
        ConfigError: for an unknown key (naming the nearest valid one) or a
            value of the wrong type.
    """
    for key, value in values.items():
        cfg = config_lib.merge(cfg, nested(key, value), source=source)
    validate = getattr(cfg, "validate", None)
    if validate:
        validate()
    return cfg


def active(hp, dim: SearchDim) -> bool:
    """Whether a conditional dimension applies to this trial."""
    if not dim.parent:
        return True
    return hp.values.get(dim.parent) in list(dim.parent_values)


def trial_values(hp, space: list[SearchDim]) -> dict[str, Any]:
    """`{config key: value}` of one trial over `space`."""
    values = {}
    for dim in space:
        value = sample(hp, dim)
        if active(hp, dim):
            for key in dim.keys:
                values[key] = value
    return values


class ConfigHyperModel(keras_tuner.HyperModel):
    """A keras-tuner HyperModel over an app's `tune.space`.

    Args:
        recipe: the app's `apps.common.lifecycle.Recipe`.
        cfg: the base config of the sweep.
        data: what `recipe.load` returned (read once for all trials).
    """

    def __init__(self, recipe, cfg, data):
        super().__init__(name=recipe.app)
        self.recipe = recipe
        self.cfg = cfg
        self.data = data

    def config_for(self, hp):
        """The base config with this trial's values (what `best.yaml`
        holds: nothing that `train` derives from data is pinned)."""
        return with_values(self.cfg, trial_values(hp, self.cfg.tune.space))

    def trial_config(self, hp, epochs: int):
        """The config a trial trains with: completed from the data."""
        cfg = self.recipe.complete(self.config_for(hp), self.data)
        return dataclasses.replace(
            cfg, train=dataclasses.replace(cfg.train, epochs=epochs)
        )

    def build(self, hp):
        cfg = self.trial_config(hp, self.cfg.tune.epochs)
        steps = self.recipe.steps_per_epoch(cfg, self.data)
        return self.recipe.build(cfg, self.data, steps_per_epoch=steps)

    def fit(
        self, hp, model, *args, epochs=1, callbacks=None, verbose=1, **kwargs
    ):
        cfg = self.trial_config(hp, epochs)
        train_ds, val_ds = self.recipe.datasets(cfg, self.data)
        steps = self.recipe.steps_per_epoch(cfg, self.data)
        history = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            steps_per_epoch=self.recipe.fit_steps(cfg, steps),
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # the datasets shuffle themselves
        )
        result = {
            name: float(values[-1])
            for name, values in history.history.items()
            if values
        }
        result.update(self.recipe.score(cfg, model, self.data))
        return result
