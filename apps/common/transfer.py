"""Transfer learning: load pretrained weights by layer name, then freeze by
the size of the training set, as the cheatsheet's table says.

| training set | what to train                               | policy     |
|--------------|---------------------------------------------|------------|
| small        | freeze all but the head                     | `backbone` |
| medium       | freeze the early layers, train the rest     | `early`    |
| large        | train everything, starting from the weights | `none`     |

`auto` picks from the number of training images: under `SMALL` images is
small, under `LARGE` is medium, otherwise large. Without pretrained weights
there is nothing worth freezing, so `auto` trains everything.
"""

from pathlib import Path

import keras

from apps.common.config import ConfigError
from apps.common.sections import FREEZE_POLICIES

SMALL = 1_000
LARGE = 10_000


def choose_policy(policy: str, num_images: int, *, pretrained: bool) -> str:
    """Resolves `auto` to `backbone`, `early` or `none`."""
    if policy not in FREEZE_POLICIES:
        raise ConfigError(
            f"model.freeze: expected one of {', '.join(FREEZE_POLICIES)}, "
            f"received {policy!r}"
        )
    if policy != "auto":
        return policy
    if not pretrained:
        return "none"
    if num_images < SMALL:
        return "backbone"
    return "early" if num_images < LARGE else "none"


def load_weights_by_name(model: keras.Model, path: str | Path) -> int:
    """Copies weights from a `.keras` file into layers of the same name and
    weight shapes (a backbone trained elsewhere, another head); loads a
    `.weights.h5` file of the same architecture as is.

    Returns:
        The number of layers whose weights were loaded.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model.backbone_weights: {path}: file not found")
    if path.name.endswith(".weights.h5"):
        try:
            model.load_weights(path)
        except (ValueError, OSError) as err:
            raise ConfigError(
                f"model.backbone_weights: {path}: does not fit this model "
                f"({' '.join(str(err).split())[:200]})"
            )
        return len([layer for layer in model.layers if layer.weights])
    if path.suffix != ".keras":
        raise ConfigError(
            f"model.backbone_weights: {path}: expected a .keras or "
            ".weights.h5 file"
        )
    source = keras.saving.load_model(path, compile=False, safe_mode=True)
    by_name = {layer.name: layer for layer in source.layers}
    loaded = 0
    for layer in model.layers:
        other = by_name.get(layer.name)
        if other is None or not layer.weights:
            continue
        mine = [w.shape for w in layer.get_weights()]
        theirs = [w.shape for w in other.get_weights()]
        if mine == theirs:
            layer.set_weights(other.get_weights())
            loaded += 1
    if not loaded:
        raise ConfigError(
            f"model.backbone_weights: {path}: no layer name and shape "
            "matches this model"
        )
    return loaded


def apply_freeze(
    model: keras.Model,
    policy: str,
    *,
    backbone: tuple[str, ...],
    early: tuple[str, ...],
) -> int:
    """Freezes layers whose names start with the policy's prefixes.

    Frozen batch-norm layers also stop updating their statistics (Keras 3
    runs a non-trainable BatchNormalization in inference mode).

    Args:
        model: the model, before `compile`.
        policy: `none`, `backbone` or `early` (see the module docstring).
        backbone: name prefixes of every backbone layer.
        early: name prefixes of the early backbone layers.

    Returns:
        The number of layers frozen.
    """
    prefixes = {"none": (), "backbone": backbone, "early": early}[policy]
    frozen = 0
    for layer in model.layers:
        if prefixes and layer.name.startswith(prefixes) and layer.weights:
            layer.trainable = False
            frozen += 1
    return frozen


def transfer(
    model: keras.Model,
    model_cfg,
    num_images: int,
    *,
    backbone: tuple[str, ...],
    early: tuple[str, ...],
) -> str:
    """The cheatsheet's transfer learning on a model before `compile`:
    loads `model_cfg.backbone_weights` by layer name when set, then
    freezes by `model_cfg.freeze` (`auto`: by `num_images`), saying what
    it did.

    Args:
        model: the model to train.
        model_cfg: a config section with `backbone_weights` and `freeze`.
        num_images: the size of the training set.
        backbone: name prefixes of every backbone layer.
        early: name prefixes of the early backbone layers.

    Returns:
        The freeze policy applied.
    """
    pretrained = bool(model_cfg.backbone_weights)
    if pretrained:
        loaded = load_weights_by_name(model, model_cfg.backbone_weights)
        print(
            f"Loaded pretrained weights into {loaded} layers from "
            f"{model_cfg.backbone_weights}"
        )
    policy = choose_policy(model_cfg.freeze, num_images, pretrained=pretrained)
    frozen = apply_freeze(model, policy, backbone=backbone, early=early)
    if frozen:
        print(f"Freeze policy '{policy}': {frozen} layers frozen")
    return policy
