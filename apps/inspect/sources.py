"""Where the model to inspect comes from: an app, a `.keras` file, or a
SavedModel.

An app's model is built untrained from its config (defaults, `--config`,
`--set`), through `apps.common.apps.load_app`, never by importing the app.
An app may define `inspect_model(cfg) -> keras.Model`; otherwise its
`build_model` is called with the arguments that only data would give
replaced by stand-ins that change no cost (detect: placeholder anchors,
whose values do not enter any shape; face: the number of training
identities the config implies; translate: `data.vocab_size` for both
vocabularies, whereas a character tokenizer's real size comes from the
data).
"""

import dataclasses
import inspect
from pathlib import Path

import keras

from apps.common import config as config_lib
from apps.common.apps import load_app
from apps.common.config import ConfigError
from apps.common.runs import RunError


def _detect_model(handle, cfg):
    m = cfg.model
    if m.head == "yolo" and not m.anchors:
        # Anchor values never enter a shape or a parameter count.
        anchors = [[0.1 * (i + 1)] * 2 for i in range(m.num_anchors)]
        cfg = dataclasses.replace(
            cfg, model=dataclasses.replace(m, anchors=anchors)
        )
    return handle.build_model(cfg), []


def _face_model(handle, cfg):
    d = cfg.data
    classes = max(2, d.num_identities - d.num_test_identities)
    model = handle.build_model(cfg, num_classes=classes)
    notes = []
    if cfg.model.loss == "arcface":
        notes.append(
            f"ArcFace head sized for {classes} training identities "
            "(data.num_identities - data.num_test_identities)"
        )
    return model, notes


def _translate_model(handle, cfg):
    vocab = cfg.data.vocab_size
    model = handle.build_model(cfg, vocab, vocab)
    return model, [
        f"vocabularies of data.vocab_size = {vocab} tokens each (a "
        "character tokenizer's real size comes from the data)"
    ]


ADAPTERS = {
    "detect": _detect_model,
    "face": _face_model,
    "translate": _translate_model,
}


def model_from_app(
    name: str, *, config_file: str | None = None, sets=()
) -> tuple[keras.Model, list[str]]:
    """Builds app `name`'s untrained model from its resolved config.

    Returns:
        `(model, notes)`: notes say what stand-ins were used.
    """
    handle = load_app(name)
    cfg = config_lib.resolve(
        handle.config_cls, config_file=config_file, sets=sets
    )
    if handle.inspect_model is not None:
        return handle.inspect_model(cfg), []
    if name in ADAPTERS:
        return ADAPTERS[name](handle, cfg)
    if handle.build_model is None:
        raise ConfigError(
            f"--app {name}: the app has neither inspect_model(cfg) nor "
            "build_model(cfg)"
        )
    required = [
        p.name
        for p in list(
            inspect.signature(handle.build_model).parameters.values()
        )[1:]
        if p.default is inspect.Parameter.empty
        and p.kind
        not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if required:
        raise ConfigError(
            f"--app {name}: build_model needs {', '.join(required)}; add "
            "inspect_model(cfg) to the app"
        )
    return handle.build_model(cfg), []


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
