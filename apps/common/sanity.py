"""The cheatsheet's sanity checks before a long training run.

- **Overfit a small batch**: a model that cannot drive its loss near zero
  on one batch, with regularization and augmentation off, has a bug (in
  the data, the loss, or the wiring) that more data will not fix.
  `overfit_batch` trains on one batch until the loss falls to `target`
  times its first value, or gives up after `steps`.
- **Gradient checking**: for every part of the model this project wrote
  (layers registered in the `dlsuite` package, and the loss), the
  analytic directional derivative `grad(J) . v` along a unit direction
  `v` is compared with the two-sided difference
  `(J(w + eps v) - J(w - eps v)) / (2 eps)`; the relative error
  `|a - n| / max(|a| + |n|, tiny)` must stay under `tolerance`. Layers
  are checked on a float64 copy of the model (float32 round-off in a
  full model's output swamps a small layer's effect), through a fixed
  random projection of the output; the loss is checked in the model's
  own precision against its output, where the signal is large.

Every app's `probe_setup(cfg, batch_size=..., overfit=True)` returns a
fresh compiled model (regularization, dropout and augmentation off) and
its training batches; `apps.common.probe_verbs.sanity` runs both checks on
the first batch.
"""

import math

import keras
import numpy as np
import tensorflow as tf

DEFAULT_STEPS = 500
DEFAULT_TARGET = 0.1
DEFAULT_TOLERANCE = 0.05


def overfit_batch(
    model, batch, *, steps: int = DEFAULT_STEPS, target: float = DEFAULT_TARGET
) -> dict:
    """Trains `model` on one batch until its loss is at most `target`
    times the first step's loss.

    Args:
        model: a compiled Keras model.
        batch: `(x, y)` or `(x, y, sample_weight)`, one batch as the
            model's `fit` takes it.
        steps: the most training steps.
        target: the fraction of the first loss to reach, in (0, 1).

    Returns:
        A dict: `passed`, `first_loss`, `final_loss`, `ratio`, `steps`
        (taken), `target`, and `losses` (every step's loss).
    """
    if not 0 < target < 1:
        raise ValueError(f"Expected 0 < target < 1. Received: target={target}")
    x, y, weights = keras.utils.unpack_x_y_sample_weight(batch)
    losses = []
    for _ in range(int(steps)):
        logs = model.train_on_batch(
            x, y, sample_weight=weights, return_dict=True
        )
        losses.append(float(logs["loss"]))
        if not math.isfinite(losses[-1]):
            break
        if losses[-1] <= target * losses[0]:
            break
    first, final = losses[0], losses[-1]
    ratio = final / first if first > 0 else float("nan")
    return {
        "passed": bool(math.isfinite(final) and final <= target * first),
        "first_loss": first,
        "final_loss": final,
        "ratio": ratio,
        "steps": len(losses),
        "target": target,
        "losses": losses,
    }


def _loss(model, x, y, weights=None, y_pred=None):
    if y_pred is None:
        y_pred = model(x, training=False)
    loss = model.compute_loss(
        x=x, y=y, y_pred=y_pred, sample_weight=weights, training=False
    )
    return tf.cast(loss, tf.float64)


def custom_layers(model) -> list:
    """The layers of `model` (searched recursively) whose class is
    registered in the `dlsuite` package and that hold trainable weights,
    each once."""
    found, seen = [], set()

    def visit(layer):
        for child in getattr(layer, "layers", None) or []:
            if id(child) in seen:
                continue
            seen.add(id(child))
            name = keras.saving.get_registered_name(type(child))
            if name.startswith("dlsuite>") and child.trainable_weights:
                found.append(child)
            visit(child)

    visit(model)
    return found


def _relative_error(analytic: float, numeric: float) -> float:
    return abs(analytic - numeric) / max(abs(analytic) + abs(numeric), 1e-12)


def _directional_check(objective, variables, rng, eps):
    """`(analytic, numeric)` derivatives of `objective()` along a unit
    direction over `variables` (tf.Variables, restored after).

    The direction is half the analytic gradient's own (normalized) and
    half random: along a purely random direction in a large space the
    derivative is tiny and float32 round-off swamps the difference, while
    the gradient's direction gives a large signal that a wrong sign, a
    wrong scale or a missing term cannot fake; the random half covers
    what the analytic gradient leaves out (a zero gradient then gives
    `analytic = 0` against a nonzero difference).
    """
    with tf.GradientTape() as tape:
        value = objective()
    grads = tape.gradient(value, variables)
    grads = [
        np.zeros(v.shape) if g is None else tf.convert_to_tensor(g).numpy()
        for g, v in zip(grads, variables)
    ]
    grads = [g.astype("float64") for g in grads]

    def unit(arrays):
        norm = math.sqrt(sum(float(np.sum(a * a)) for a in arrays))
        return [a / norm for a in arrays] if norm > 0 else arrays

    random = unit([rng.normal(size=v.shape) for v in variables])
    directions = unit([a + b for a, b in zip(unit(grads), random)])
    analytic = sum(float(np.sum(g * d)) for g, d in zip(grads, directions))
    originals = [v.numpy() for v in variables]
    values = []
    for sign in (1.0, -1.0):
        for v, o, d in zip(variables, originals, directions):
            v.assign((o + sign * eps * d).astype(o.dtype))
        values.append(float(objective()))
    for v, o in zip(variables, originals):
        v.assign(o)
    return analytic, (values[0] - values[1]) / (2 * eps)


def _to_float64(config):
    """A serialized Keras object with every float32 dtype made float64."""
    if isinstance(config, dict):
        out = {}
        for key, value in config.items():
            if key == "dtype" and value in ("float32", "float16"):
                value = "float64"
            elif key == "name" and value in ("float32", "mixed_float16"):
                value = "float64"  # a DTypePolicy's config
            else:
                value = _to_float64(value)
            out[key] = value
        return out
    if isinstance(config, list):
        return [_to_float64(v) for v in config]
    return config


def _float64_tensor(value):
    value = tf.convert_to_tensor(value)
    return tf.cast(value, tf.float64) if value.dtype.is_floating else value


def float64_copy(model, x):
    """The same model rebuilt in float64 with the same weights, or None
    when it cannot be (then the checks run in float32)."""
    from apps.common.runtime import dtype_policy

    try:
        config = _to_float64(keras.saving.serialize_keras_object(model))
        with dtype_policy("float64"):
            copy = keras.saving.deserialize_keras_object(config)
            _cast = tf.nest.map_structure(_float64_tensor, x)
            copy(_cast, training=False)
            weights = model.get_weights()
            copy.set_weights(
                [
                    w.astype("float64") if w.dtype.kind == "f" else w
                    for w in weights
                ]
            )
        return copy, _cast
    except Exception:  # noqa: BLE001 - any model; fall back to float32
        return None, x


def check_custom_gradients(
    model,
    batch,
    *,
    eps: float = 1e-4,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
) -> list[dict]:
    """Gradient checks of the model's custom parts on one batch.

    One row per custom layer with weights: the model is copied into
    float64 (`float64_copy`) and the objective is a fixed random
    projection of its output, `J = sum(R * model(x))`, perturbed through
    that layer's trainable weights; one row for the loss, in the model's
    own precision, perturbed through the model's output `y_pred` before
    the loss. Each row: `part`, `precision`, `analytic`, `numeric`,
    `relative_error`, `passed`. A part whose analytic derivative
    vanishes while the numeric one does not fails.
    """
    x, y, weights = keras.utils.unpack_x_y_sample_weight(batch)
    rng = np.random.default_rng(seed)
    rows = []

    def add(part, precision, analytic, numeric):
        error = _relative_error(analytic, numeric)
        rows.append(
            {
                "part": part,
                "precision": precision,
                "analytic": analytic,
                "numeric": numeric,
                "relative_error": error,
                "passed": bool(error <= tolerance),
            }
        )

    outputs = model(x, training=False)  # builds a subclassed model
    if custom_layers(model):
        copy, x64 = float64_copy(model, x)
        precision = "float64" if copy is not None else "float32"
        probe, probe_x = (copy, x64) if copy is not None else (model, x)
        step = eps if copy is not None else 1e-2
        projections = [
            tf.constant(rng.normal(size=t.shape), t.dtype)
            for t in tf.nest.flatten(probe(probe_x, training=False))
        ]

        def projected():
            out = tf.nest.flatten(probe(probe_x, training=False))
            return tf.add_n(
                [
                    tf.reduce_sum(tf.cast(r * o, tf.float64))
                    for r, o in zip(projections, out)
                ]
            )

        for layer in custom_layers(probe):
            analytic, numeric = _directional_check(
                projected, layer.trainable_weights, rng, step
            )
            add(
                f"layer {layer.name} ({type(layer).__name__})",
                precision,
                analytic,
                numeric,
            )
    y_pred = tf.nest.map_structure(
        lambda t: tf.Variable(tf.cast(t, tf.float32)), outputs
    )
    analytic, numeric = _directional_check(
        lambda: _loss(
            model,
            x,
            y,
            weights,
            y_pred=tf.nest.map_structure(tf.identity, y_pred),
        ),
        tf.nest.flatten(y_pred),
        rng,
        1e-2,
    )
    loss = model.loss
    name = type(loss).__name__ if not isinstance(loss, dict) else "losses"
    add(
        f"loss ({name}) w.r.t. the model's output", "float32", analytic, numeric
    )
    return rows


def report_lines(overfit: dict, gradients: list[dict]) -> list[str]:
    """The verb's human-readable report, one line per check."""
    verdict = "PASS" if overfit["passed"] else "FAIL"
    lines = [
        f"overfit one batch: {verdict}: loss {overfit['first_loss']:.4g} -> "
        f"{overfit['final_loss']:.4g} in {overfit['steps']} steps "
        f"(ratio {overfit['ratio']:.3g}, target <= {overfit['target']:g})"
    ]
    for row in gradients:
        verdict = "PASS" if row["passed"] else "FAIL"
        lines.append(
            f"gradient check, {row['part']}, {row['precision']}: {verdict}: "
            f"relative error "
            f"{row['relative_error']:.2e} (analytic {row['analytic']:.6g}, "
            f"numeric {row['numeric']:.6g})"
        )
    return lines


def probe_config(cfg, *, overfit: bool):
    """`cfg` for a probe of a fresh model: a constant learning rate (no
    warm-up or decay), and with `overfit` (the sanity check) weight
    decay, L1/L2 and dropout off too; app-specific parts (augmentation,
    label smoothing) are the app's to turn off."""
    import dataclasses

    replace = {}
    if hasattr(cfg, "optimizer"):
        optimizer = dataclasses.replace(cfg.optimizer, schedule="constant")
        if overfit:
            optimizer = dataclasses.replace(optimizer, weight_decay=0.0)
        replace["optimizer"] = optimizer
    if overfit and hasattr(cfg, "regularization"):
        replace["regularization"] = dataclasses.replace(
            cfg.regularization, l1=0.0, l2=0.0, dropout=0.0
        )
    return dataclasses.replace(cfg, **replace)
