"""Where the model to inspect comes from: an app, a `.keras` file, or a
SavedModel.

An app's model is built untrained from its config (defaults, `--config`,
`--set`) by the app's own `model.inspect_model(cfg)`, found through
`apps.common.apps.load_app`: inspect imports no app and knows none of
their internals.
"""

from pathlib import Path

import keras

from apps.common import config as config_lib
from apps.common.apps import load_app
from apps.common.runs import RunError


def model_from_app(
    name: str, *, config_file: str | None = None, sets=()
) -> tuple[keras.Model, list[str]]:
    """Builds app `name`'s untrained model from its resolved config.

    Returns:
        `(model, notes)`: notes say what stand-ins the app used.
    """
    handle = load_app(name)
    cfg = config_lib.resolve(
        handle.config_cls, config_file=config_file, sets=sets
    )
    return handle.inspect_model(cfg)


def model_from_file(path: str | Path) -> keras.Model:
    """Loads a `.keras` file (needs this project's custom objects, which
    importing `layers` registers)."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: model file not found")
    if path.suffix != ".keras":
        raise RunError(f"{path}: expected a .keras file")
    _import_custom_objects()
    try:
        return keras.saving.load_model(path, compile=False)
    except (ValueError, TypeError, OSError) as err:
        reason = " ".join(str(err).split())[:200]
        raise RunError(f"{path}: cannot load the model ({reason})")


def _import_custom_objects() -> None:
    """Imports every module under `layers/`, so every registered custom
    object of this project is known to the loader."""
    import importlib
    import pkgutil

    import layers

    for info in pkgutil.walk_packages(layers.__path__, "layers."):
        importlib.import_module(info.name)


def _spec_dict(spec) -> dict:
    return {
        "shape": None if spec.shape.rank is None else list(spec.shape),
        "dtype": spec.dtype.name,
    }


def saved_model_summary(path: str | Path) -> dict:
    """What can be recovered from a SavedModel without the code that made
    it: signatures (input and output names, shapes, dtypes) and variables
    (count and number of values).

    A SavedModel keeps a graph of TensorFlow ops, not Keras layers: the
    per-layer table (output sizes, receptive fields, per-layer FLOPs)
    cannot be rebuilt from it.

    Returns:
        A JSON-ready dict.
    """
    import tensorflow as tf

    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise RunError(f"{path}: not a SavedModel (no saved_model.pb)")
    try:
        loaded = tf.saved_model.load(str(path))
    except (ValueError, OSError, tf.errors.OpError) as err:
        reason = " ".join(str(err).split())[:200]
        raise RunError(f"{path}: cannot load the SavedModel ({reason})")
    signatures = {}
    for key, fn in loaded.signatures.items():
        _, kwargs = fn.structured_input_signature
        outputs = fn.structured_outputs
        signatures[key] = {
            "inputs": {k: _spec_dict(v) for k, v in kwargs.items()},
            "outputs": {k: _spec_dict(v) for k, v in outputs.items()},
        }
    variables = list(getattr(loaded, "variables", []))
    trainable = list(getattr(loaded, "trainable_variables", []))
    return {
        "path": str(path),
        "signatures": signatures,
        "variables": len(variables),
        "values": int(sum(v.shape.num_elements() or 0 for v in variables)),
        "trainable_values": int(
            sum(v.shape.num_elements() or 0 for v in trainable)
        ),
        "not_recoverable": (
            "a SavedModel holds TensorFlow ops, not Keras layers: "
            "per-layer output sizes, padding, receptive fields and FLOPs "
            "need the .keras file or the app's config (--model or --app)"
        ),
    }
