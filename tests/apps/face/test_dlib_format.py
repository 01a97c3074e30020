"""dlib's serialize format: a tiny writer of the same bytes, read back."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from apps.face.dlib_format import parse_dlib_network
from apps.face.dlib_format import read_dlib_network
from pipelines.errors import DataError


def w_int(value: int) -> bytes:
    """dlib's int: a control byte (count, +0x80 when negative), then bytes."""
    size = max(1, (abs(value).bit_length() + 7) // 8)
    control = size | (0x80 if value < 0 else 0)
    return bytes([control]) + abs(value).to_bytes(size, "little")


def w_double(value: float) -> bytes:
    """dlib's double: mantissa and exponent ints (value = m * 2**e)."""
    if math.isinf(value):
        return w_int(0) + w_int(32000 if value > 0 else 32001)
    if math.isnan(value):
        return w_int(0) + w_int(32002)
    mantissa, exponent = math.frexp(value)
    return w_int(int(mantissa * 2**53)) + w_int(exponent - 53)


def w_bool(value: bool) -> bytes:
    return b"1" if value else b"0"


def w_str(text: str) -> bytes:
    return w_int(len(text)) + text.encode("ascii")


def w_tensor(array) -> bytes:
    array = np.asarray(array, "<f4")
    dims = tuple(array.shape) + (1,) * (4 - array.ndim)
    return w_int(2) + b"".join(map(w_int, dims)) + array.tobytes()


def w_alias(*dims: int) -> bytes:
    return w_int(1) + b"".join(map(w_int, dims))


def w_state() -> bytes:
    """A wrapper's training state: three bools, three empty tensors."""
    empty = w_int(2) + w_int(0) * 4
    return w_bool(True) + w_bool(True) + w_bool(False) + empty * 3


MEAN = (122.782, 117.001, 104.298)


def tiny_network(rng=None) -> tuple:
    """The bytes of con(2 filters 3x3/2) -> affine -> relu -> global avg
    pool -> fc(2 -> 3, no bias), with a tag wrapper; and its weights."""
    rng = rng or np.random.default_rng(0)
    filters = rng.normal(size=(2, 3, 3, 3)).astype("f4")
    biases = rng.normal(size=2).astype("f4")
    gamma = rng.normal(size=2).astype("f4")
    beta = rng.normal(size=2).astype("f4")
    fc = rng.normal(size=(2, 3)).astype("f4")
    ones = w_double(1.0) * 3 + w_double(0.0)
    con = (
        w_str("con_4")
        + w_tensor(np.concatenate([filters.ravel(), biases]))
        + b"".join(map(w_int, (2, 3, 3, 2, 2, 0, 0)))
        + w_alias(2, 3, 3, 3)
        + w_alias(1, 2, 1, 1)
        + ones
        + w_state()
        + w_int(1)
    )
    affine = (
        w_str("affine_")
        + w_tensor(np.concatenate([gamma, beta]))
        + w_alias(1, 2, 1, 1) * 2
        + w_int(0)
        + w_state()
    )
    relu = w_str("relu_") + w_state()
    pool = w_str("avg_pool_2") + b"".join(map(w_int, (0, 0, 1, 1, 0, 0)))
    dense = (
        w_str("fc_2")
        + w_int(3)
        + w_int(2)
        + w_tensor(fc.reshape(2, 3, 1, 1))
        + w_alias(2, 3, 1, 1)
        + w_alias(0, 0, 0, 0)
        + w_int(1)
        + ones
        + w_state()
    )
    data = (
        w_int(1)
        + w_str("loss_metric_2")
        + w_double(-0.04)
        + w_double(math.inf)
        + b"".join(map(w_int, (2, 2, 1, 2, 2, 3)))
        + w_str("input_rgb_image_sized")
        + b"".join(w_double(m) for m in MEAN)
        + w_int(150)
        + w_int(150)
        + con
        + affine
        + relu
        + pool
        + w_state()
        + dense
    )
    weights = {"filters": filters, "biases": biases, "gamma": gamma}
    weights.update(beta=beta, fc=fc)
    return data, weights


def test_round_trip_values():
    data, weights = tiny_network()
    net = parse_dlib_network(data, "tiny.dat")
    assert net.loss == {
        "tag": "loss_metric_2",
        "margin": -0.04,
        "dist_thresh": math.inf,
    }
    assert net.input["mean_rgb"] == list(MEAN)
    assert (net.input["rows"], net.input["cols"]) == (150, 150)
    assert net.wrappers == [2, 2, 1, 2, 2, 3]
    tags = [layer.tag for layer in net.layers]
    assert tags == ["con_4", "affine_", "relu_", "avg_pool_2", "fc_2"]
    con, affine, _, pool, fc = net.layers
    np.testing.assert_array_equal(con.arrays["filters"], weights["filters"])
    np.testing.assert_array_equal(con.arrays["biases"], weights["biases"])
    assert con.arrays["filters"].dtype == np.float32
    assert con.attrs["stride_y"] == 2 and con.attrs["padding_x"] == 0
    assert con.attrs["bias_wd_mult"] == 0.0 and con.attrs["lr_mult"] == 1.0
    np.testing.assert_array_equal(affine.arrays["gamma"], weights["gamma"])
    np.testing.assert_array_equal(affine.arrays["beta"], weights["beta"])
    assert pool.attrs["nr"] == 0 and pool.arrays == {}
    np.testing.assert_array_equal(fc.arrays["weights"], weights["fc"])
    assert "biases" not in fc.arrays and fc.attrs["bias_mode"] == 1
    assert data[con.offset + 2 : con.offset + 7] == b"con_4"


def test_ints_of_every_size_and_sign():
    data, _ = tiny_network()
    for value in (0, 1, 255, 256, -1, -300, 2**40, -(2**62)):
        assert w_int(value)[0] & 0x7F == max(
            1, (abs(value).bit_length() + 7) // 8
        )
    # A negative wrapper version is read as negative, hence rejected.
    header = w_int(1) + w_str("loss_metric_2") + w_double(-0.04)
    start = len(header + w_double(math.inf))
    assert data[start : start + 2] == w_int(2)
    bad = data[:start] + w_int(-2) + data[start + 2 :]
    with pytest.raises(DataError, match=r"found -2$"):
        parse_dlib_network(bad, "neg.dat")


def _one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_reads_a_file_and_names_it(tmp_path):
    data, _ = tiny_network()
    path = tmp_path / "tiny.dat"
    path.write_bytes(data)
    assert len(read_dlib_network(path).layers) == 5
    path.write_bytes(data[:-7])
    with pytest.raises(DataError) as err:
        read_dlib_network(path)
    message = _one_line(err)
    assert message.startswith(f"{path}: byte ")
    assert "truncated" in message


@pytest.mark.parametrize("cut", [1, 10, 100, 200])
def test_truncated_file_is_one_line(cut):
    data, _ = tiny_network()
    with pytest.raises(DataError) as err:
        parse_dlib_network(data[:-cut], "cut.dat")
    message = _one_line(err)
    assert message.startswith("cut.dat: byte ")
    assert "expected" in message and "truncated" in message


def test_trailing_bytes_are_refused():
    data, _ = tiny_network()
    with pytest.raises(DataError) as err:
        parse_dlib_network(data + b"\x01\x00", "long.dat")
    message = _one_line(err)
    assert message == (
        f"long.dat: byte {len(data)}: end of network: expected end of "
        "file, found 2 trailing bytes"
    )


def test_unknown_layer_tag_is_refused():
    data, _ = tiny_network()
    at = data.index(b"relu_")
    bad = data[:at] + b"relu9" + data[at + 5 :]
    with pytest.raises(DataError) as err:
        parse_dlib_network(bad, "tag.dat")
    message = _one_line(err)
    assert message.startswith(f"tag.dat: byte {at - 2}: layer 2 tag: ")
    assert "expected one of" in message and "found 'relu9'" in message


def test_altered_header_and_versions_are_refused():
    data, _ = tiny_network()
    cases = {
        "version": (w_int(2) + data[2:], "byte 0: loss layer version: "),
        "loss": (
            data.replace(b"loss_metric_2", b"loss_metric_3"),
            "byte 2: loss tag: expected 'loss_metric_2'",
        ),
        "input": (
            data.replace(b"input_rgb_image_sized", b"input_rgb_image_sizex"),
            "input tag: expected 'input_rgb_image_sized'",
        ),
        "tensor": (
            data.replace(b"con_4" + w_int(2), b"con_4" + w_int(3), 1),
            "con params (tensor version): expected 2, found 3",
        ),
    }
    for name, (bad, expected) in cases.items():
        with pytest.raises(DataError) as err:
            parse_dlib_network(bad, f"{name}.dat")
        message = _one_line(err)
        assert message.startswith(f"{name}.dat: ")
        assert expected in message, message


def test_bad_bool_is_refused():
    data, _ = tiny_network()
    at = data.index(b"relu_") + 5
    bad = data[:at] + b"x" + data[at + 1 :]
    with pytest.raises(DataError, match=r"byte \d+: layer 2 \(relu_\) "):
        parse_dlib_network(bad, "bool.dat")


def _packaged_dat() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None:
        pytest.skip("face_recognition_models not installed")
    folder = Path(list(spec.submodule_search_locations)[0])
    return folder / "models" / "dlib_face_recognition_resnet_model_v1.dat"


def test_reads_the_packaged_model_exactly():
    path = _packaged_dat()
    net = read_dlib_network(path)
    tags = [layer.tag for layer in net.layers]
    assert tags.count("con_4") == 29 and tags.count("affine_") == 29
    assert tags.count("add_prev_") == 14 and tags[-1] == "fc_2"
    sizes = [a.size for lay in net.layers for a in lay.arrays.values()]
    assert sum(sizes) == 5_614_592
    assert net.layers[0].arrays["filters"].shape == (32, 3, 7, 7)
    assert net.loss["dist_thresh"] == pytest.approx(0.6)
    assert net.input["mean_rgb"] == pytest.approx(MEAN)
