"""The learning-rate range test (`apps.common.lr_finder`) and the
`lr-find` verb."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.common import lr_finder


def _regression(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, 4)).astype("float32") * [1.0, 2.0, 0.5, 1.0]
    w = rng.normal(size=(4, 1)).astype("float32")
    y = x @ w + 0.01 * rng.normal(size=(64, 1)).astype("float32")
    return x.astype("float32"), y.astype("float32")


def _model(optimizer):
    inputs = keras.Input((4,))
    model = keras.Model(
        inputs, keras.layers.Dense(1, kernel_initializer="zeros")(inputs)
    )
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _batches(x, y):
    return tf.data.Dataset.from_tensors((x, y)).repeat()


def test_rates_grow_exponentially_from_start_to_stop():
    x, y = _regression()
    model = _model(keras.optimizers.SGD(0.01))
    result = lr_finder.find_learning_rate(
        model,
        _batches(x, y),
        start=1e-5,
        stop=1e-2,  # below the divergence point: the test runs to the end
        steps=10,
        progress=False,
    )
    rates = np.array(result["learning_rates"])
    assert len(rates) == 10 and not result["stopped_early"]
    np.testing.assert_allclose(rates[[0, -1]], [1e-5, 1e-2], rtol=1e-9)
    np.testing.assert_allclose(rates[1:] / rates[:-1], 10 ** (3 / 9), rtol=1e-9)


def test_suggestions_sit_below_the_divergence_point_of_gradient_descent():
    # Plain gradient descent on mean squared error diverges once
    # lr > 2 / lambda_max of the Hessian H = 2 X^T X / N: an independent
    # reference for where the range test must stop and what it may
    # suggest.
    x, y = _regression()
    critical = 2.0 / np.linalg.eigvalsh(2.0 * x.T @ x / len(x)).max()
    model = _model(keras.optimizers.SGD(0.01))
    before = [w.copy() for w in model.get_weights()]
    result = lr_finder.find_learning_rate(
        model, _batches(x, y), start=1e-4, stop=10.0, steps=80, progress=False
    )
    assert result["stopped_early"]
    assert result["learning_rates"][-1] > critical
    assert result["steepest"] < critical
    assert result["min_over_10"] < critical
    for a, b in zip(before, model.get_weights()):  # weights restored
        np.testing.assert_array_equal(a, b)


def test_suggest_on_a_hand_made_curve():
    rates = list(np.logspace(-6, 0, 31))
    # Flat, a steep fall around index 15, a minimum at index 24, a rise.
    values = [5.0] * 10 + [4.9, 4.5, 3.5, 2.5, 1.6, 1.0, 0.8, 0.7]
    values += [0.65, 0.62, 0.6, 0.58, 0.57, 0.56, 0.55, 0.7, 1.5]
    values += [3.0, 6.0, 9.0, 12.0]
    steepest, min_over_10 = lr_finder.suggest(rates, values)
    slopes = np.gradient(values, np.log(rates))
    assert steepest == rates[int(np.argmin(slopes[:25]))]
    assert min_over_10 == pytest.approx(rates[24] / 10)
    assert lr_finder.suggest(rates[:4], values[:4]) == (None, None)


def test_a_schedule_is_refused():
    x, y = _regression()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    model = _model(keras.optimizers.SGD(schedule))
    with pytest.raises(ValueError, match="constant learning rate"):
        lr_finder.find_learning_rate(
            model, _batches(x, y), steps=5, progress=False
        )


def test_lr_find_verb_writes_plot_and_curve(tmp_path, capsys):
    from apps.detect.__main__ import main
    from tests.apps.common.test_sanity_cli import TINY

    out = tmp_path / "lr.png"
    argv = ["lr-find", "--config", TINY["detect"], "--steps", "12"]
    assert main([*argv, "--output", str(out)]) == 0
    assert out.stat().st_size > 10_000
    curve = json.loads(out.with_suffix(".json").read_text())
    assert len(curve["losses"]) == 12
    assert "Plot:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--steps", "2"], "--steps"),
        (["--start", "1", "--stop", "0.1"], "--start"),
    ],
)
def test_lr_find_bad_flags_exit_2(argv, expected, capsys):
    from apps.detect.__main__ import main

    assert main(["lr-find", *argv]) == 2
    assert expected in capsys.readouterr().err
