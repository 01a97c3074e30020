"""Transfer learning: weights by name, freeze policy by data size."""

import keras
import numpy as np
import pytest

from apps.common import transfer
from apps.common.config import ConfigError


def _model(head_units=2, name="m"):
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="backbone_early")(inputs)
    x = keras.layers.Dense(3, name="backbone_late")(x)
    out = keras.layers.Dense(head_units, name="head")(x)
    return keras.Model(inputs, out, name=name)


@pytest.mark.parametrize(
    "n, pretrained, want",
    [
        (500, True, "backbone"),
        (5_000, True, "early"),
        (50_000, True, "none"),
        (500, False, "none"),
    ],
)
def test_auto_policy_follows_the_cheatsheet_table(n, pretrained, want):
    assert transfer.choose_policy("auto", n, pretrained=pretrained) == want
    assert transfer.choose_policy("early", n, pretrained=pretrained) == "early"


def test_unknown_policy_is_a_config_error():
    with pytest.raises(ConfigError, match="model.freeze"):
        transfer.choose_policy("all", 10, pretrained=True)


def test_weights_copied_by_name_and_shape(tmp_path):
    source = _model(head_units=5)  # a different head: not copied
    source.save(tmp_path / "src.keras")
    target = _model(head_units=2)
    before = target.get_layer("head").get_weights()[0].copy()
    assert transfer.load_weights_by_name(target, tmp_path / "src.keras") == 2
    for name in ("backbone_early", "backbone_late"):
        for got, want in zip(
            target.get_layer(name).get_weights(),
            source.get_layer(name).get_weights(),
        ):
            np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(
        target.get_layer("head").get_weights()[0], before
    )


def test_bad_weight_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        transfer.load_weights_by_name(_model(), tmp_path / "none.keras")
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(ConfigError, match="expected a .keras"):
        transfer.load_weights_by_name(_model(), tmp_path / "w.txt")
    other = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(1, name="zzz")]
    )
    other.save(tmp_path / "o.keras")
    with pytest.raises(ConfigError, match="no layer name"):
        transfer.load_weights_by_name(_model(), tmp_path / "o.keras")


def test_frozen_layers_do_not_move_in_fit():
    model = _model()
    frozen = transfer.apply_freeze(
        model, "backbone", backbone=("backbone",), early=("backbone_early",)
    )
    assert frozen == 2
    model.compile(keras.optimizers.SGD(0.1), "mse")
    before = [layer.get_weights()[0].copy() for layer in model.layers[1:]]
    x = np.random.rand(16, 4).astype("float32")
    model.fit(x, np.ones((16, 2)), epochs=1, verbose=0)
    after = [layer.get_weights()[0] for layer in model.layers[1:]]
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert not np.array_equal(before[2], after[2])  # the head trained


def test_early_policy_freezes_only_early_layers():
    model = _model()
    assert (
        transfer.apply_freeze(
            model, "early", backbone=("backbone",), early=("backbone_early",)
        )
        == 1
    )
    assert not model.get_layer("backbone_early").trainable
    assert model.get_layer("backbone_late").trainable
