"""Tests of tests/helpers.py: each check passes on good code and fails on
the bug it exists to catch (a check that cannot fail is worthless)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import check_gradients
from tests.helpers import check_layer
from tests.helpers import check_layer_gradients

_PACKAGE = "dlsuite_tests"


# ------------------------------------------------------------ test layers


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScaledDense(keras.layers.Layer):
    """A correct layer: `factor * (x @ kernel + bias)`."""

    def __init__(self, units, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.factor = factor

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), initializer="glorot_uniform"
        )
        self.bias = self.add_weight(
            shape=(self.units,), initializer="random_normal"
        )

    def call(self, x):
        return self.factor * (x @ self.kernel + self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "factor": self.factor})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ForgetsFactor(ScaledDense):
    """Bug: `factor` is not in the config, so a reload uses 1.0."""

    def get_config(self):
        config = super().get_config()
        del config["factor"]
        return config


class Unregistered(ScaledDense):
    """Bug: not registered, so a `.keras` file cannot be reloaded."""


@keras.saving.register_keras_serializable(package=_PACKAGE)
class WrongShape(ScaledDense):
    """Bug: `compute_output_shape` disagrees with `call`."""

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units + 1)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FrozenBias(ScaledDense):
    """Bug: no gradient reaches the bias."""

    def call(self, x):
        return self.factor * (x @ self.kernel + tf.stop_gradient(self.bias))


@tf.custom_gradient
def _bad_multiply(x, w):
    """x * w with a wrong gradient for w (2x too large)."""

    def grad(dy):
        return dy * w, tf.reduce_sum(2.0 * dy * x, axis=0)

    return x * w, grad


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BadGradient(keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],))

    def call(self, x):
        return _bad_multiply(x, tf.convert_to_tensor(self.w))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PairSum(keras.layers.Layer):
    """Two inputs as positional arguments, dict output."""

    def call(self, a, b):
        return {"sum": a + b, "count": tf.ones_like(a[:, 0], dtype="int32")}

    def compute_output_shape(self, a_shape, b_shape):
        return {"sum": a_shape, "count": (a_shape[0],)}

    def compute_output_spec(self, a, b):
        return {
            "sum": keras.KerasTensor(a.shape, dtype=self.compute_dtype),
            "count": keras.KerasTensor((a.shape[0],), dtype="int32"),
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SplitHalves(keras.layers.Layer):
    """Tuple output: a `.keras` reload returns it as a list."""

    def call(self, x):
        half = x.shape[-1] // 2
        return x[..., :half], 2.0 * x[..., half:]

    def compute_output_shape(self, input_shape):
        half = (*input_shape[:-1], input_shape[-1] // 2)
        return half, half


# ------------------------------------------------------- check_gradients


def test_check_gradients_passes_on_correct_gradients():
    x = np.array([[0.3, -1.2], [2.0, 0.7]])
    y = np.array([[1.5], [-0.4]])
    error = check_gradients(
        lambda a, b: tf.sin(a) @ b + tf.reduce_sum(a**3), [x, y]
    )
    assert error < 1e-6


def test_check_gradients_catches_wrong_custom_gradient():
    @tf.custom_gradient
    def square(x):
        return x * x, lambda dy: dy * 3.0 * x  # should be 2x

    with pytest.raises(AssertionError, match="gradient of input 0"):
        check_gradients(square, np.array([0.5, -1.0, 2.0]))


def test_check_gradients_catches_missing_gradient():
    # stop_gradient hides a real dependence: analytic 0, numerical 1.
    with pytest.raises(AssertionError):
        check_gradients(lambda x: tf.stop_gradient(x), np.ones(3))


def test_check_layer_gradients_on_correct_layers():
    x = np.random.default_rng(0).normal(size=(2, 3))
    assert check_layer_gradients(ScaledDense(4, 2.0, dtype="float64"), x) < 1e-6
    assert (
        check_layer_gradients(keras.layers.Dense(2, "tanh", dtype="float64"), x)
        < 1e-6
    )


def test_check_layer_gradients_catches_wrong_weight_gradient():
    x = np.random.default_rng(0).normal(size=(2, 3))
    with pytest.raises(AssertionError, match="gradient of input 1"):
        check_layer_gradients(BadGradient(dtype="float64"), x)


def test_check_layer_gradients_requires_float64():
    with pytest.raises(ValueError, match="Expected a float64 layer"):
        check_layer_gradients(ScaledDense(2), np.ones((1, 2)))


# ----------------------------------------------------------- check_layer


def test_check_layer_passes_on_correct_layer():
    layer = check_layer(
        ScaledDense,
        {"units": 3, "factor": 2.0},
        (2, 5, 4),
        expected_output_shape=(2, 5, 3),
    )
    assert layer.built


def test_check_layer_several_inputs_and_dict_output():
    check_layer(
        PairSum,
        {},
        [(2, 3), (2, 3)],
        expected_output_shape={"sum": (2, 3), "count": (2,)},
    )


def test_check_layer_tuple_output():
    check_layer(SplitHalves, {}, (2, 4), expected_output_shape=((2, 2), (2, 2)))


def test_check_layer_catches_config_without_argument():
    with pytest.raises(AssertionError, match="lacks the constructor argument"):
        check_layer(ForgetsFactor, {"units": 3, "factor": 2.0}, (2, 4))


def test_check_layer_catches_wrong_compute_output_shape():
    with pytest.raises(AssertionError, match="compute_output_shape"):
        check_layer(WrongShape, {"units": 3}, (2, 4))


def test_check_layer_catches_wrong_expected_shape():
    with pytest.raises(AssertionError, match="expected_output_shape"):
        check_layer(
            ScaledDense, {"units": 3}, (2, 4), expected_output_shape=(2, 4)
        )


def test_check_layer_catches_unregistered_layer():
    with pytest.raises(TypeError, match="Unregistered"):
        check_layer(Unregistered, {"units": 3}, (2, 4))


@pytest.mark.filterwarnings("ignore:Gradients do not exist")
def test_check_layer_catches_weight_without_gradient():
    with pytest.raises(AssertionError, match="did not change"):
        check_layer(FrozenBias, {"units": 3}, (2, 4))
