"""The cheatsheet's sanity checks (`apps.common.sanity`, the `sanity`
verb): overfitting one batch, and gradient checks of custom parts."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.common import sanity


@keras.saving.register_keras_serializable(package="dlsuite")
class SanityScale(keras.layers.Layer):
    """y = x * w, one weight per feature (a correct custom layer)."""

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1],), initializer="ones", name="w"
        )

    def call(self, x):
        return x * self.w


@keras.saving.register_keras_serializable(package="dlsuite")
class SanityBrokenScale(SanityScale):
    """Same forward pass, but the weight's gradient is doubled: the kind of
    bug a hand-written gradient hides."""

    def call(self, x):
        @tf.custom_gradient
        def scale(x, w):
            def grad(upstream):
                return upstream * w, 2.0 * tf.reduce_sum(upstream * x, axis=0)

            return x * w, grad

        return scale(x, tf.identity(self.w))


def _model(layer_cls):
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, activation="tanh")(inputs)
    outputs = keras.layers.Dense(1)(layer_cls()(hidden))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    return model


def _batch():
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(8, 3)).astype("float32"),
        rng.normal(size=(8, 1)).astype("float32"),
    )


def test_a_healthy_model_overfits_one_batch():
    keras.utils.set_random_seed(0)
    result = sanity.overfit_batch(_model(SanityScale), _batch(), steps=300)
    assert result["passed"]
    assert result["final_loss"] <= 0.1 * result["first_loss"]
    assert result["steps"] == len(result["losses"]) < 300  # stopped early


def test_a_frozen_model_fails_to_overfit():
    keras.utils.set_random_seed(0)
    model = _model(SanityScale)
    for layer in model.layers:
        layer.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    result = sanity.overfit_batch(model, _batch(), steps=20)
    assert not result["passed"]
    assert result["steps"] == 20
    assert result["ratio"] == pytest.approx(1.0)


def test_gradient_check_passes_a_correct_layer_in_float64():
    keras.utils.set_random_seed(0)
    rows = sanity.check_custom_gradients(_model(SanityScale), _batch())
    layer_rows = [r for r in rows if "SanityScale" in r["part"]]
    assert len(layer_rows) == 1 and layer_rows[0]["precision"] == "float64"
    assert layer_rows[0]["relative_error"] < 1e-8
    assert all(r["passed"] for r in rows)


def test_gradient_check_catches_a_wrong_layer_gradient():
    keras.utils.set_random_seed(0)
    rows = sanity.check_custom_gradients(_model(SanityBrokenScale), _batch())
    (row,) = [r for r in rows if "SanityBrokenScale" in r["part"]]
    assert not row["passed"]
    # Half the direction is the analytic gradient's own, so a doubled
    # gradient is far off (about 1/3 relative error or more).
    assert row["relative_error"] > 0.1


def test_gradient_check_catches_a_wrong_loss_gradient():
    @tf.custom_gradient
    def bad_square(d):
        return d * d, lambda upstream: upstream * d  # should be 2 d

    def loss(y_true, y_pred):
        return tf.reduce_mean(bad_square(y_pred - y_true), axis=-1)

    keras.utils.set_random_seed(0)
    model = _model(SanityScale)
    model.compile(optimizer="adam", loss=loss)
    rows = sanity.check_custom_gradients(model, _batch())
    (row,) = [r for r in rows if r["part"].startswith("loss")]
    assert not row["passed"]


def test_float64_copy_has_the_same_outputs():
    keras.utils.set_random_seed(0)
    model = _model(SanityScale)
    x, _ = _batch()
    copy, x64 = sanity.float64_copy(model, x)
    assert copy is not None and x64.dtype == tf.float64
    assert all(w.dtype == "float64" for w in copy.weights)
    np.testing.assert_allclose(
        copy(x64).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6
    )
    assert keras.config.dtype_policy().name == "float32"  # put back


def test_batches_with_sample_weights():
    # (x, y, sample_weight) batches, as language models give them.
    keras.utils.set_random_seed(0)
    x, y = _batch()
    weights = np.array([1, 1, 1, 1, 0, 0, 0, 0], "float32")
    model = _model(SanityScale)
    rows = sanity.check_custom_gradients(model, (x, y, weights))
    assert all(r["passed"] for r in rows)
    result = sanity.overfit_batch(model, (x, y, weights), steps=300)
    assert result["passed"]
