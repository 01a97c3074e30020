"""Shared checks for custom layers and gradients.

- `check_layer`: what every custom layer must survive: building on random
  input, output shapes (given and `compute_output_shape`), a config round
  trip, a `.keras` round trip, use inside `tf.data`, and one `fit` step.
- `check_gradients`: the cheatsheet's gradient checking, analytic gradient
  (`tf.GradientTape`) against the two-sided numerical difference
  `(f(x + eps) - f(x - eps)) / (2 eps)`, in float64.
- `check_layer_gradients`: the same for a layer, with respect to its inputs
  and each trainable weight.
"""

import inspect
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

_RTOL = 1e-5
_ATOL = 1e-6


# --------------------------------------------------------------- structures


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(
        isinstance(d, (int, type(None))) and not isinstance(d, bool)
        for d in value
    )


def _shape_leaves(structure):
    """Flattens a shape structure in the order of `keras.tree.flatten`."""
    if _is_shape(structure):
        return [tuple(structure)]
    if isinstance(structure, dict):
        keys = sorted(structure)
        return [leaf for k in keys for leaf in _shape_leaves(structure[k])]
    if isinstance(structure, (tuple, list)):
        return [leaf for s in structure for leaf in _shape_leaves(s)]
    raise TypeError(f"Not a shape structure: {structure!r}")


def _to_numpy_leaves(outputs):
    return [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(outputs)]


def _skeleton(structure):
    """The nesting of `structure` with tuples as lists: a functional model
    with tuple outputs returns lists after a `.keras` round trip."""
    if isinstance(structure, (list, tuple)):
        return [_skeleton(s) for s in structure]
    if isinstance(structure, dict):
        return {k: _skeleton(v) for k, v in structure.items()}
    return 0


def _assert_outputs_close(actual, expected, what):
    assert _skeleton(actual) == _skeleton(expected), (
        f"{what}: outputs nest as {_skeleton(actual)}, "
        f"expected {_skeleton(expected)}"
    )
    for i, (a, e) in enumerate(
        zip(_to_numpy_leaves(actual), _to_numpy_leaves(expected), strict=True)
    ):
        np.testing.assert_allclose(
            a,
            e,
            rtol=_RTOL,
            atol=_ATOL,
            err_msg=f"{what}: output {i} differs",
        )


def _assert_shapes_match(actual_shapes, reference_shapes, what):
    assert len(actual_shapes) == len(reference_shapes), (
        f"{what}: {len(reference_shapes)} shapes for "
        f"{len(actual_shapes)} outputs"
    )
    for i, (actual, reference) in enumerate(
        zip(actual_shapes, reference_shapes, strict=True)
    ):
        ok = len(actual) == len(reference) and all(
            r is None or a is None or a == r
            for a, r in zip(actual, reference, strict=True)
        )
        assert ok, (
            f"{what}: output {i} has shape {actual}, expected {reference}"
        )


# ----------------------------------------------------------------- calling


def _spreads_inputs(layer, num_inputs):
    """True when `call` takes the inputs as separate positional arguments
    (`layer(boxes, scores)`), False when it takes one list
    (`keras.layers.Add()([a, b])`)."""
    if num_inputs < 2:
        return False
    kinds = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )
    positional = [
        p
        for p in inspect.signature(layer.call).parameters.values()
        if p.kind in kinds and p.name not in ("training", "mask")
    ]
    return len(positional) >= num_inputs


def _call(layer, inputs, multi, spread):
    if spread:
        return layer(*inputs)
    if multi:
        return layer(list(inputs))
    return layer(inputs[0])


def _random_array(shape, dtype, rng):
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 10, size=shape).astype(dtype)
    if dtype == np.bool_:
        return rng.random(size=shape) > 0.5
    return rng.normal(size=shape).astype(dtype)


def _plain(value):
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, (bool, int, float, str, type(None)))


def _normalize(value):
    if isinstance(value, (list, tuple)):
        return [_normalize(v) for v in value]
    return value


# ------------------------------------------------------------- check_layer


def check_layer(
    layer_cls,
    init_kwargs,
    input_shape_or_shapes,
    *,
    expected_output_shape=None,
    input_dtype="float32",
    fit=True,
    input_data=None,
):
    """Puts a custom layer through everything it must survive.

    In order: build and call on random input (or `input_data`); output
    shapes against `expected_output_shape` and `compute_output_shape`;
    config round trip (every constructor argument appears in `get_config`,
    `from_config` with copied weights gives the same outputs); `.keras`
    round trip of a functional model wrapping the layer, reloaded WITHOUT
    `custom_objects` (so an unregistered layer fails); `dataset.map(layer)`
    gives the same outputs as an eager call; one `fit` step (MSE on the
    float outputs, random targets) changes every trainable weight, when the
    layer has trainable weights and `fit` is true.

    Args:
        layer_cls: the layer class.
        init_kwargs: dict of constructor arguments.
        input_shape_or_shapes: full input shape including the batch size,
            e.g. `(2, 5, 3)`, or a list of such shapes for a layer with
            several inputs. Several inputs are passed as separate positional
            arguments when `call` accepts that many (`layer(boxes,
            scores)`), otherwise as one list (`layer([a, b])`).
        expected_output_shape: optional shape, or a structure of shapes
            (dict, list) matching the outputs; `None` entries match any
            size.
        input_dtype: dtype of the inputs, or a list with one per input.
        fit: whether to run the `fit` step when the layer has trainable
            weights.
        input_data: optional array, or list of arrays, to use instead of
            random inputs (e.g. valid boxes); must match the shapes.

    Returns:
        The built layer, after the `fit` step.
    """
    multi = isinstance(input_shape_or_shapes, (list, tuple)) and (
        len(input_shape_or_shapes) > 0
        and all(_is_shape(s) for s in input_shape_or_shapes)
    )
    shapes = (
        [tuple(s) for s in input_shape_or_shapes]
        if multi
        else [tuple(input_shape_or_shapes)]
    )
    dtypes = (
        list(input_dtype)
        if isinstance(input_dtype, (list, tuple))
        else [input_dtype] * len(shapes)
    )
    assert len(dtypes) == len(shapes), "one input_dtype per input shape"
    if input_data is None:
        rng = np.random.default_rng(0)
        inputs = [
            _random_array(s, d, rng)
            for s, d in zip(shapes, dtypes, strict=True)
        ]
    else:
        inputs = list(input_data) if multi else [input_data]
        inputs = [np.asarray(x) for x in inputs]
        for x, s in zip(inputs, shapes, strict=True):
            assert tuple(x.shape) == s, f"input_data {x.shape} != shape {s}"
        dtypes = [x.dtype.name for x in inputs]
    name = layer_cls.__name__

    # 1. Build and call.
    layer = layer_cls(**init_kwargs)
    spread = _spreads_inputs(layer, len(shapes))
    outputs = _call(layer, inputs, multi, spread)
    actual_shapes = [tuple(o.shape) for o in keras.tree.flatten(outputs)]

    # 2. Output shapes.
    if expected_output_shape is not None:
        _assert_shapes_match(
            actual_shapes,
            _shape_leaves(expected_output_shape),
            f"{name} vs expected_output_shape",
        )
    if spread:
        computed = layer.compute_output_shape(*shapes)
    elif multi:
        computed = layer.compute_output_shape(shapes)
    else:
        computed = layer.compute_output_shape(shapes[0])
    _assert_shapes_match(
        actual_shapes,
        _shape_leaves(computed),
        f"{name} vs {name}.compute_output_shape",
    )

    # 3. Config round trip.
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert key in config, (
            f"{name}.get_config() lacks the constructor argument {key!r}"
        )
        if _plain(value) and _plain(config[key]):
            assert _normalize(config[key]) == _normalize(value), (
                f"{name}.get_config()[{key!r}] is {config[key]!r}, "
                f"constructed with {value!r}"
            )
    clone = layer_cls.from_config(config)
    clone_outputs = _call(clone, inputs, multi, spread)
    assert len(clone.weights) == len(layer.weights), (
        f"{name}.from_config(get_config()) has {len(clone.weights)} "
        f"weights, the original {len(layer.weights)}"
    )
    clone.set_weights(layer.get_weights())
    clone_outputs = _call(clone, inputs, multi, spread)
    _assert_outputs_close(clone_outputs, outputs, f"{name} config round trip")

    # 4. .keras round trip.
    symbolic = [
        keras.Input(shape=s[1:], dtype=d)
        for s, d in zip(shapes, dtypes, strict=True)
    ]
    symbolic_out = _call(layer, symbolic, multi, spread)
    model = keras.Model(symbolic if multi else symbolic[0], symbolic_out)
    model_inputs = inputs if multi else inputs[0]
    _assert_outputs_close(model(model_inputs), outputs, f"{name} in a Model")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    _assert_outputs_close(
        loaded(model_inputs), outputs, f"{name} .keras round trip"
    )

    # 5. tf.data.
    batch = min(2, shapes[0][0])
    slices = tuple(inputs) if multi else inputs[0]
    dataset = tf.data.Dataset.from_tensor_slices(slices).batch(batch)
    if multi and not spread:
        dataset = dataset.map(
            lambda *xs: layer(list(xs)), num_parallel_calls=tf.data.AUTOTUNE
        )
    else:
        dataset = dataset.map(layer, num_parallel_calls=tf.data.AUTOTUNE)
    first = next(iter(dataset))
    eager = _call(layer, [x[:batch] for x in inputs], multi, spread)
    _assert_outputs_close(first, eager, f"{name} in tf.data")

    # 6. One fit step.
    if fit and layer.trainable_weights:
        _check_fit_step(layer, symbolic, symbolic_out, model_inputs, name)
    return layer


def _check_fit_step(layer, symbolic, symbolic_out, model_inputs, name):
    float_out = [
        o
        for o in keras.tree.flatten(symbolic_out)
        if "float" in keras.backend.standardize_dtype(o.dtype)
    ]
    assert float_out, f"{name} has trainable weights but no float output"
    model = keras.Model(
        symbolic if len(symbolic) > 1 else symbolic[0], float_out
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1),
        loss=["mse"] * len(float_out),
    )
    rng = np.random.default_rng(1)
    batch = tf.nest.flatten(model_inputs)[0].shape[0]
    targets = [
        rng.normal(size=(batch, *o.shape[1:])).astype("float32")
        for o in float_out
    ]
    before = [w.numpy().copy() for w in layer.trainable_weights]
    history = model.fit(
        model_inputs, targets, batch_size=batch, epochs=1, verbose=0
    )
    loss = history.history["loss"][-1]
    assert np.isfinite(loss), f"{name}: fit step gave loss {loss}"
    for w, old in zip(layer.trainable_weights, before, strict=True):
        assert not np.array_equal(w.numpy(), old), (
            f"{name}: weight {w.path} did not change in a fit step "
            "(no gradient reaches it?)"
        )


# --------------------------------------------------------- check_gradients


def check_gradients(fn, inputs, *, eps=1e-3, rtol=1e-2, atol=1e-4):
    """The cheatsheet's gradient checking, in float64.

    For every element `x_i` of every input, the numerical derivative
    `(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)` is compared with the
    analytic gradient from `tf.GradientTape`. Keep inputs small: `fn` runs
    twice per element. Avoid inputs at kinks (ties in `max`, zeros of
    `relu`), where the two legitimately differ.

    Args:
        fn: function of the input tensors (float64) returning a scalar, or a
            tensor which is summed. It should compute in float64 throughout;
            a float32 step inside makes the numerical derivative noisy.
        inputs: an array, or a list of arrays, passed positionally to `fn`
            after conversion to float64.
        eps: step of the numerical difference.
        rtol: relative tolerance, per element: the check passes when
            `|analytic - numeric| <= atol + rtol * |numeric|`.
        atol: absolute tolerance, per element.

    Returns:
        The cheatsheet's relative error `||g - g_approx|| / (||g|| +
        ||g_approx||)`, the largest over the inputs (0 when both vanish).

    Raises:
        AssertionError: when an element is outside the tolerance; the
            message names the input and the mismatching elements.
    """
    single = not isinstance(inputs, (list, tuple))
    values = [
        np.array(x, dtype=np.float64) for x in ([inputs] if single else inputs)
    ]

    def objective(*args):
        return tf.reduce_sum(tf.cast(fn(*args), tf.float64))

    tensors = [tf.constant(v) for v in values]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        y = objective(*tensors)
    analytic = tape.gradient(
        y, tensors, unconnected_gradients=tf.UnconnectedGradients.ZERO
    )
    worst = 0.0
    for i, base in enumerate(values):
        numeric = np.zeros_like(base)
        for index in np.ndindex(base.shape):
            shifted = []
            for sign in (1.0, -1.0):
                moved = base.copy()
                moved[index] += sign * eps
                args = list(tensors)
                args[i] = tf.constant(moved)
                shifted.append(float(objective(*args)))
            numeric[index] = (shifted[0] - shifted[1]) / (2 * eps)
        grad = tf.convert_to_tensor(analytic[i]).numpy()
        denominator = np.linalg.norm(grad) + np.linalg.norm(numeric)
        if denominator > 0:
            worst = max(
                worst, float(np.linalg.norm(grad - numeric) / denominator)
            )
        np.testing.assert_allclose(
            grad,
            numeric,
            rtol=rtol,
            atol=atol,
            err_msg=f"analytic vs numerical gradient of input {i}",
        )
    return worst


def check_layer_gradients(layer, x, *, eps=1e-3, rtol=1e-2, atol=1e-4):
    """Gradient checking of a layer, wrt its inputs and trainable weights.

    The layer's float outputs are reduced to a scalar with a fixed random
    projection (a plain sum can hide errors, e.g. softmax sums to 1), and
    the weights are fed through `Layer.stateless_call` so that they can be
    perturbed like inputs.

    Args:
        layer: a layer constructed with `dtype="float64"`; built on `x` if
            not built yet.
        x: an array, or a list of arrays passed as separate positional
            arguments (`layer(boxes, scores)`).
        eps: see `check_gradients`.
        rtol: see `check_gradients`.
        atol: see `check_gradients`.

    Returns:
        The largest relative error, as `check_gradients`.
    """
    if keras.backend.standardize_dtype(layer.compute_dtype) != "float64":
        raise ValueError(
            "Expected a float64 layer (construct it with dtype='float64'). "
            f"Received: compute_dtype={layer.compute_dtype}"
        )
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    xs = [np.asarray(v, dtype=np.float64) for v in xs]
    outputs = layer(*xs)
    rng = np.random.default_rng(0)
    projections = [
        tf.constant(rng.normal(size=o.shape))
        if "float" in keras.backend.standardize_dtype(o.dtype)
        else None
        for o in keras.tree.flatten(outputs)
    ]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    num_inputs = len(xs)

    def fn(*args):
        outs, _ = layer.stateless_call(
            list(args[num_inputs:]), non_trainable, *args[:num_inputs]
        )
        terms = [
            tf.reduce_sum(tf.cast(o, tf.float64) * p)
            for o, p in zip(keras.tree.flatten(outs), projections, strict=True)
            if p is not None
        ]
        return tf.add_n(terms)

    weights = [v.numpy() for v in layer.trainable_variables]
    return check_gradients(fn, xs + weights, eps=eps, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ app runs


def main_under_runs_root(main, root, argv) -> int:
    """Calls an app's `main(argv)` with `DLSUITE_RUNS` set to `root`
    (restored afterwards), for module-scoped fixtures that cannot use
    `monkeypatch`.

    Returns:
        The exit code.
    """
    old = os.environ.get("DLSUITE_RUNS")
    os.environ["DLSUITE_RUNS"] = str(root)
    try:
        return main(list(argv))
    finally:
        if old is None:
            os.environ.pop("DLSUITE_RUNS")
        else:
            os.environ["DLSUITE_RUNS"] = old


def run_fuzz_script(
    script: str, export_dir, n: int, cwd, *, timeout: float = 600
) -> dict[str, int]:
    """Runs a fuzz `script` against a SavedModel in a child process that
    cannot import this repository, so that a crash (segfault, abort) shows
    up as a failed assertion on its return code instead of killing the
    test runner.

    The script gets `export_dir` and `n` as `sys.argv[1:3]` and prints its
    counters as `key=value` words on its last line.

    Returns:
        The counters, as ints.
    """
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    proc = subprocess.run(
        [sys.executable, "-I", "-c", script, str(export_dir), str(n)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    return {k: int(v) for k, v in (w.split("=") for w in last.split())}


def interrupted_copy(run_dir, root, app: str, name: str):
    """A run folder under `root/app/name` that looks like `run_dir` killed
    mid-training: its saved config and an empty `backup/` (what `train`
    resumes), nothing else.

    Returns:
        The new run folder.
    """
    import shutil
    from pathlib import Path

    dest = Path(root) / app / name
    (dest / "backup").mkdir(parents=True)
    shutil.copy(Path(run_dir) / "config.yaml", dest / "config.yaml")
    return dest


def assert_resume_refused(main, root, argv, keys) -> None:
    """`train` resuming with `keys` changed exits 2, printing one error
    line per key (saved and new value) and one line with the way out."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main_under_runs_root(main, root, argv)
    # Progress bars of the data read before the check may share stderr.
    lines = [
        line for line in err.getvalue().splitlines() if ": error: " in line
    ]
    assert code == 2, err.getvalue()
    assert len(lines) == len(keys) + 1, lines
    for key, line in zip(keys, lines):
        assert f"cannot resume with {key} changed (saved" in line, line
        assert "new" in line
    assert "--overwrite" in lines[-1] and "--run" in lines[-1]


class TinyRuns:
    """Each app's tiny config trained (and exported) once per test run, on
    first ask. Under pytest-xdist the workers share `root` and take turns
    through a lock file, so a run one worker made is the other's too.
    Tests never write into these folders: they take a `copy_run` of one,
    or only read its export.

    Args:
        root: the folder for the runs (shared by the workers).
    """

    def __init__(self, root):
        from pathlib import Path

        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def main_of(app: str):
        """The `main(argv)` of `python -m apps.<app>`."""
        import importlib

        return importlib.import_module(f"apps.{app}.__main__").main

    def _once(self, app: str, step: str, argv_of) -> None:
        """Runs `main(argv_of(run))` of `app` unless a worker already did
        (a marker file says so), holding the app's lock meanwhile."""
        import fcntl

        done = self.root / f".{app}.{step}.done"
        with open(self.root / f".{app}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                run = self.root / app / "tiny"
                code = main_under_runs_root(
                    self.main_of(app), self.root, argv_of(run)
                )
                assert code == 0, f"{app} {step} of the tiny run failed"
                done.touch()

    def trained(self, app: str):
        """The run folder of `apps/<app>/configs/tiny.yaml` trained."""
        from pathlib import Path

        tiny = Path(__file__).resolve().parents[1] / "apps" / app
        config = str(tiny / "configs" / "tiny.yaml")
        self._once(
            app,
            "train",
            lambda run: ["train", "--config", config, "--run", "tiny"],
        )
        return self.root / app / "tiny"

    def exported(self, app: str):
        """`trained(app)` with its `export/1` (checked by `export`)."""
        run = self.trained(app)
        self._once(app, "export", lambda run: ["export", "--run", str(run)])
        return run


def copy_run(run_dir, root, app: str, name: str = "tiny", *, export=False):
    """A copy of the run folder `run_dir` at `root/app/name`, for a test
    module that writes into its run (exports, predictions, calibration);
    without its `export/` folder unless `export`."""
    import shutil
    from pathlib import Path

    dest = Path(root) / app / name
    ignore = None if export else shutil.ignore_patterns("export")
    shutil.copytree(run_dir, dest, ignore=ignore)
    return dest
