"""Optimizers, clipping, regularizers and the adjustable cosine schedule."""

import keras
import numpy as np
import pytest

from apps.common import optimizers
from apps.common.config import ConfigError
from apps.common.sections import OptimizerConfig
from apps.common.sections import RegularizationConfig


@pytest.mark.parametrize(
    "name, cls",
    [
        ("sgd", keras.optimizers.SGD),
        ("rmsprop", keras.optimizers.RMSprop),
        ("adam", keras.optimizers.Adam),
    ],
)
def test_optimizer_choice_and_clipping(name, cls):
    opt = optimizers.make_optimizer(
        OptimizerConfig(name=name, global_clipnorm=1.0, schedule="constant")
    )
    assert isinstance(opt, cls)
    assert opt.global_clipnorm == 1.0
    opt = optimizers.make_optimizer(
        OptimizerConfig(
            name=name, clipnorm=0.5, global_clipnorm=None, schedule="constant"
        )
    )
    assert opt.clipnorm == 0.5


def test_global_clipnorm_bounds_the_update():
    # One SGD step with lr 1 on loss = 1000 * sum(w): the gradient norm is
    # 1000 * sqrt(4) = 2000; clipped to 1, the update has norm exactly 1.
    opt = optimizers.make_optimizer(
        OptimizerConfig(
            name="sgd",
            learning_rate=1.0,
            momentum=0.0,
            global_clipnorm=1.0,
            schedule="constant",
        )
    )
    w = keras.Variable(np.zeros(4, "float32"))
    grads = [keras.ops.ones(4) * 1000.0]
    opt.apply_gradients(zip(grads, [w]))
    assert np.linalg.norm(w.numpy()) == pytest.approx(1.0, rel=1e-5)


def test_weight_decay_gives_adamw_and_bad_names_fail():
    opt = optimizers.make_optimizer(OptimizerConfig(weight_decay=1e-4))
    assert isinstance(opt, keras.optimizers.AdamW)
    with pytest.raises(ConfigError, match="optimizer.name"):
        optimizers.make_optimizer(OptimizerConfig(name="adagrad"))
    with pytest.raises(ConfigError, match="not both"):
        optimizers.make_optimizer(OptimizerConfig(clipnorm=1.0))


def test_cosine_schedule_with_warmup():
    schedule = optimizers.make_learning_rate(
        OptimizerConfig(learning_rate=0.1, warmup_epochs=1.0), 100, 10
    )
    assert float(schedule(10)) == pytest.approx(0.1, rel=1e-3)  # peak
    assert float(schedule(0)) < 0.01  # warming up
    assert float(schedule(100)) == pytest.approx(0.001, rel=1e-2)  # alpha


def test_regularizers():
    assert optimizers.make_regularizer(RegularizationConfig()) is None
    l1 = optimizers.make_regularizer(RegularizationConfig(l1=0.1))
    l2 = optimizers.make_regularizer(RegularizationConfig(l2=0.1))
    both = optimizers.make_regularizer(RegularizationConfig(l1=0.1, l2=0.1))
    w = keras.ops.convert_to_tensor(np.array([1.0, -2.0], "float32"))
    assert float(l1(w)) == pytest.approx(0.3)  # 0.1 * (1 + 2)
    assert float(l2(w)) == pytest.approx(0.5)  # 0.1 * (1 + 4)
    assert float(both(w)) == pytest.approx(0.8)  # elastic net
    with pytest.raises(ConfigError):
        optimizers.make_regularizer(RegularizationConfig(l1=-1.0))


def test_adjustable_cosine_matches_keras_then_moves_its_end():
    kwargs = dict(alpha=0.01, warmup_target=0.1, warmup_steps=10)
    ours = optimizers.AdjustableCosineDecay(0.001, 90, **kwargs)
    keras_schedule = keras.optimizers.schedules.CosineDecay(0.001, 90, **kwargs)
    for step in (0, 5, 10, 40, 100, 150):
        assert float(ours(step)) == pytest.approx(float(keras_schedule(step)))
    ours.set_total_steps(50)  # warm-up included: 40 decay steps
    assert ours.get_config()["decay_steps"] == 40
    assert float(ours(10)) == pytest.approx(0.1)  # peak after warm-up
    assert float(ours(30)) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))
    assert float(ours(50)) == pytest.approx(0.001)  # floor: alpha * peak
    assert float(ours(80)) == pytest.approx(0.001)
