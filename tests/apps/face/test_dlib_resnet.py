"""dlib's face ResNet in standard Keras layers: shapes, weights, parity."""

import hashlib
import json

import keras
import numpy as np
import pytest

from apps.common.config import ConfigError
from apps.face.dlib_format import DlibLayer
from apps.face.dlib_format import DlibNetwork
from apps.face.dlib_resnet import LICENCE
from apps.face.dlib_resnet import MEAN_RGB
from apps.face.dlib_resnet import build_dlib_resnet
from apps.face.dlib_resnet import load_dlib_resnet
from apps.face.dlib_resnet import packaged_weights_path
from apps.face.dlib_resnet import set_dlib_weights
from apps.face.dlib_resnet import weights_provenance
from apps.face.dlib_resnet import write_provenance
from pipelines.datasets.spec import default_data_root
from pipelines.errors import DataError
from pipelines.images import decode_image_file


@pytest.fixture(scope="module")
def model():
    return build_dlib_resnet()


def _fake_network(model, rng) -> DlibNetwork:
    """A `DlibNetwork` with random weights shaped like dlib's file."""
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            channels = layer.get_weights()[1].shape[0]
            arrays = {
                "gamma": rng.normal(size=channels).astype("f4"),
                "beta": rng.normal(size=channels).astype("f4"),
            }
            layers.append(DlibLayer("affine_", 0, {}, arrays))
        elif isinstance(layer, keras.layers.Conv2D):
            h, w, k, n = layer.get_weights()[0].shape
            arrays = {
                "filters": rng.normal(size=(n, k, h, w)).astype("f4"),
                "biases": rng.normal(size=n).astype("f4"),
            }
            layers.append(DlibLayer("con_4", 0, {}, arrays))
            layers.append(DlibLayer("relu_", 0, {}, {}))
        elif isinstance(layer, keras.layers.Dense):
            arrays = {"weights": rng.normal(size=(256, 128)).astype("f4")}
            layers.append(DlibLayer("fc_2", 0, {}, arrays))
    return DlibNetwork("fake.dat", {}, {}, [], layers)


def test_shapes_and_parameter_count(model):
    assert model.input.shape == (None, 150, 150, 3)
    assert model.output.shape == (None, 128)
    assert model.count_params() == 5_614_592
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 29
    assert kinds.count("DepthwiseConv2D") == 29
    assert kinds.count("Add") == 14
    assert kinds.count("AveragePooling2D") == 4
    for layer in model.layers:
        # Standard layers only: each is its public `keras.layers` class.
        kind = type(layer)
        assert getattr(keras.layers, kind.__name__, None) is kind, layer
    assert model.get_layer("stem_pool").output.shape == (None, 35, 35, 32)
    # dlib's add_prev pads the 3x3 (then 1x1) main path at the bottom/right
    # to the 4x4 (then 2x2) average-pooled shortcut.
    out = [model.get_layer(f"stage{s}_block1_out") for s in (2, 3, 4, 5)]
    sizes = [layer.output.shape[1:] for layer in out]
    assert sizes == [(17, 17, 64), (8, 8, 128), (4, 4, 256), (2, 2, 256)]
    assert kinds.count("ZeroPadding2D") == 2
    assert not model.get_layer("embedding").use_bias


def test_normalisation_and_channel_padding(model):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (1, 150, 150, 3)).astype("uint8")
    names = ["normalise", "stage2_block1_pool", "stage2_block1_add_b_4d"]
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    normal, pooled, padded = probe(image.astype("float32"))
    expected = (image - np.array(MEAN_RGB)) / 256.0
    np.testing.assert_allclose(normal, expected, atol=1e-5)
    # add_prev: the shortcut's 32 channels first, zeros on the missing 32.
    assert padded.shape == (1, 17, 17, 64)
    np.testing.assert_array_equal(padded[..., :32], pooled)
    assert not np.any(np.asarray(padded[..., 32:]))


def test_weights_go_where_dlib_puts_them(model):
    rng = np.random.default_rng(1)
    net = _fake_network(model, rng)
    set_dlib_weights(model, net)
    con = net.layers[0].arrays
    kernel, bias = model.get_layer("stem_conv").get_weights()
    np.testing.assert_array_equal(
        kernel[2, 5, 1, 7], con["filters"][7, 1, 2, 5]
    )
    np.testing.assert_array_equal(bias, con["biases"])
    affine = net.layers[2].arrays
    scale, shift = model.get_layer("stem_affine").get_weights()
    np.testing.assert_array_equal(scale[0, 0, :, 0], affine["gamma"])
    np.testing.assert_array_equal(shift, affine["beta"])
    dense = model.get_layer("embedding").get_weights()[0]
    np.testing.assert_array_equal(dense, net.layers[-1].arrays["weights"])


def test_a_different_network_is_refused(model):
    rng = np.random.default_rng(2)
    net = _fake_network(model, rng)
    short = DlibNetwork("short.dat", {}, {}, [], net.layers[:-1])
    with pytest.raises(ConfigError, match=r"^short.dat: expected 59 layers"):
        set_dlib_weights(model, short)
    con = net.layers[0]
    con.arrays["filters"] = con.arrays["filters"][:, :, :5, :5]
    with pytest.raises(ConfigError) as err:
        set_dlib_weights(model, net)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("fake.dat: byte 0: con_4 for stem_conv: ")


def test_saved_copy_loads_without_custom_objects(model, tmp_path):
    path = tmp_path / "dlib_resnet.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(3).uniform(0, 255, (2, 150, 150, 3))
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5
    )


def test_altered_file_is_one_line(tmp_path):
    path = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"
    path.write_bytes(b"\x01\x01\x01\x0dloss_metric_2\x03")
    with pytest.raises(DataError) as err:
        load_dlib_resnet(path)
    message = str(err.value)
    assert message.startswith(f"{path}: byte 18: loss margin (mantissa)")
    assert "\n" not in message and "truncated" in message


def test_provenance_names_the_file(tmp_path):
    path = tmp_path / "weights.dat"
    path.write_bytes(b"dlib weights")
    provenance = weights_provenance(path)
    assert provenance == {
        "package": None,
        "version": None,
        "file": "weights.dat",
        "sha256": hashlib.sha256(b"dlib weights").hexdigest(),
        "bytes": 12,
        "licence": LICENCE,
        "source": "dlib_face_recognition_resnet_model_v1 by Davis King",
    }
    written = write_provenance(tmp_path, provenance)
    assert json.loads(written.read_text()) == provenance


def _packaged():
    try:
        return packaged_weights_path()
    except ConfigError:
        pytest.skip("face_recognition_models not installed")


def test_packaged_provenance():
    path = _packaged()
    provenance = weights_provenance(path)
    assert provenance["package"].startswith("face-recognition-models")
    assert provenance["version"]
    assert provenance["file"] == "dlib_face_recognition_resnet_model_v1.dat"
    assert provenance["bytes"] == 22_466_066
    assert len(provenance["sha256"]) == 64


def _chips(dlib, path, count: int) -> np.ndarray:
    """Aligned 150x150 chips cut by dlib itself: ORL faces (dlib's detector,
    its 5-point shape predictor, `get_face_chip`) where the shared data
    holds them, smooth random images otherwise."""
    root = default_data_root()
    orl = None if root is None else root / "att_faces"
    if orl is None or not orl.is_dir():
        rng = np.random.default_rng(4)
        small = rng.integers(0, 256, (count, 15, 15, 3)).astype("uint8")
        return np.repeat(np.repeat(small, 10, axis=1), 10, axis=2)
    predictor = dlib.shape_predictor(
        str(path.parent / "shape_predictor_5_face_landmarks.dat")
    )
    detector = dlib.get_frontal_face_detector()
    chips = []
    for person in range(1, count + 1):
        image = decode_image_file(orl / f"s{person}" / "1.pgm")
        image = np.repeat(np.asarray(image)[..., :1], 3, axis=-1)
        image = np.ascontiguousarray(image.astype("uint8"))
        found = detector(image, 1)
        height, width = image.shape[:2]
        box = found[0] if found else dlib.rectangle(0, 0, width, height)
        shape = predictor(image, box)
        chips.append(dlib.get_face_chip(image, shape, 150, 0.25))
    return np.stack(chips)


def test_parity_with_dlib():
    dlib = pytest.importorskip("dlib")
    path = _packaged()
    chips = _chips(dlib, path, count=10)
    recogniser = dlib.face_recognition_model_v1(str(path))
    expected = np.array(
        [recogniser.compute_face_descriptor(chip) for chip in chips]
    )
    model = load_dlib_resnet(path)
    found = model.predict(chips.astype("float32"), verbose=0)
    assert found.shape == (len(chips), 128)
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-4)
