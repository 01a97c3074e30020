"""A pure-Python reader of dlib's `serialize` format for DNN weight files.

It reads `dlib_face_recognition_resnet_model_v1.dat` (and any network built
from the same layer kinds) byte by byte, never unpickling and never running
code from the file. The layout, as dlib's `add_loss_layer` writes it:

- an int: one control byte (the byte count, +0x80 when negative), then that
  many little-endian bytes of the absolute value;
- a double: mantissa then exponent, two such ints (value `m * 2**e`;
  exponents 32000, 32001 and 32002 stand for +inf, -inf and NaN);
- a bool: the ASCII byte `'1'` or `'0'`; a string: a length, then bytes;
- a tensor: version 2, four dims `(n, k, nr, nc)`, then little-endian
  float32 values; an alias tensor (a view into a layer's `params`):
  version 1 and four dims, no values.

The file starts with version 1, the loss (`loss_metric_2`: margin, distance
threshold), then one version int per wrapper from the top of the network down
(2 for a computational layer, 1 for a tag or skip, 3 for the layer that sits
on the input). The records follow from the input up: the input layer
(`input_rgb_image_sized`: mean red, green, blue, rows, columns), then per
computational layer its tag and fields, three bools, three (empty) tensors,
and after the first one the sample expansion factor (an int).

Example:

```python
net = read_dlib_network("dlib_face_recognition_resnet_model_v1.dat")
net.layers[0].tag, net.layers[0].arrays["filters"].shape
# ('con_4', (32, 3, 7, 7))
```
"""

import dataclasses
import math
import os

import numpy as np

from pipelines.errors import DataError

_LOSS_TAG = "loss_metric_2"
_INPUT_TAG = "input_rgb_image_sized"
_SPECIAL_EXPONENTS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
_MAX_WRAPPERS = 100_000


@dataclasses.dataclass
class DlibLayer:
    """One computational layer of a dlib network, in file order.

    Attributes:
        tag: dlib's layer tag, e.g. `"con_4"`, `"affine_"`, `"fc_2"`.
        offset: byte offset of the tag in the file.
        attrs: the layer's scalar fields (ints, doubles) by name.
        arrays: the layer's weights as float32 numpy arrays by name:
            `con_4` gives `filters` (filters, in, h, w) and `biases`
            (filters,); `affine_` gives `gamma` and `beta` (channels,);
            `fc_2` gives `weights` (inputs, outputs) and, with a bias,
            `biases` (outputs,).
    """

    tag: str
    offset: int
    attrs: dict
    arrays: dict


@dataclasses.dataclass
class DlibNetwork:
    """A dlib network as read from its file.

    Attributes:
        path: the file read.
        loss: the loss tag and fields, e.g. `{"tag": "loss_metric_2",
            "margin": 0.04, "dist_thresh": 0.6}`.
        input: the input layer: `tag`, `mean_rgb` (3 floats), `rows`,
            `cols`.
        wrappers: the version ints from the top of the network down (one
            per layer, tag or skip wrapper).
        layers: the computational layers from the input up.
    """

    path: str
    loss: dict
    input: dict
    wrappers: list
    layers: list


class _Reader:
    """Reads dlib's primitives from bytes; every failure names the file,
    the byte offset, the field and what was expected."""

    def __init__(self, data: bytes, path: str):
        self.data = data
        self.path = path
        self.pos = 0

    def fail(self, field: str, expected: str, found: str, at=None):
        at = self.pos if at is None else at
        raise DataError(
            f"{self.path}: byte {at}: {field}: expected {expected}, "
            f"found {found}"
        )

    def take(self, count: int, field: str) -> bytes:
        end = self.pos + count
        if end > len(self.data):
            self.fail(
                field,
                f"{count} more bytes",
                f"end of file ({len(self.data)} bytes; file truncated?)",
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def int_(self, field: str) -> int:
        start = self.pos
        control = self.take(1, field)[0]
        size = control & 0x7F
        if size > 8:
            self.fail(field, "an int of at most 8 bytes", f"{size}", start)
        value = int.from_bytes(self.take(size, field), "little")
        return -value if control & 0x80 else value

    def double(self, field: str) -> float:
        mantissa = self.int_(f"{field} (mantissa)")
        exponent = self.int_(f"{field} (exponent)")
        if exponent in _SPECIAL_EXPONENTS:
            return _SPECIAL_EXPONENTS[exponent]
        return math.ldexp(float(mantissa), exponent)

    def bool_(self, field: str) -> bool:
        start = self.pos
        byte = self.take(1, field)
        if byte not in (b"0", b"1"):
            self.fail(field, "'0' or '1'", repr(byte), start)
        return byte == b"1"

    def string(self, field: str, limit: int = 256) -> str:
        start = self.pos
        length = self.int_(f"{field} (length)")
        if not 0 <= length <= limit:
            self.fail(
                field, f"a string of at most {limit} bytes", length, start
            )
        raw = self.take(length, field)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            self.fail(field, "an ASCII string", repr(raw[:20]), start)

    def expect_int(self, field: str, expected: int) -> None:
        start = self.pos
        value = self.int_(field)
        if value != expected:
            self.fail(field, f"{expected}", f"{value}", start)

    def dims(self, field: str) -> tuple:
        start = self.pos
        shape = tuple(self.int_(f"{field} (dim {i})") for i in range(4))
        if any(d < 0 for d in shape):
            self.fail(field, "four non-negative dims", f"{shape}", start)
        return shape

    def tensor(self, field: str) -> np.ndarray:
        self.expect_int(f"{field} (tensor version)", 2)
        shape = self.dims(field)
        count = math.prod(shape)
        raw = self.take(4 * count, f"{field} ({count} float32 values)")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self, field: str) -> tuple:
        self.expect_int(f"{field} (alias version)", 1)
        return self.dims(field)


def _view(params: np.ndarray, start: int, shape: tuple, r, field: str):
    """The slice of a layer's flat `params` that an alias tensor names."""
    count = math.prod(shape)
    if start + count > params.size:
        r.fail(field, f"{start + count} params", f"{params.size}")
    return params.reshape(-1)[start : start + count].reshape(shape)


def _read_con(r: _Reader, tag: str) -> tuple:
    params = r.tensor("con params")
    names = ("num_filters", "nr", "nc", "stride_y", "stride_x")
    attrs = {name: r.int_(f"con {name}") for name in names}
    attrs["padding_y"] = r.int_("con padding_y")
    attrs["padding_x"] = r.int_("con padding_x")
    filters = r.alias("con filters")
    biases = r.alias("con biases")
    for name in ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult"):
        attrs[name] = r.double(f"con {name}")
    n, k, nr, nc = filters
    if (n, nr, nc) != (attrs["num_filters"], attrs["nr"], attrs["nc"]):
        r.fail("con filters", "(num_filters, in, nr, nc)", f"{filters}")
    arrays = {"filters": _view(params, 0, filters, r, "con filters")}
    arrays["biases"] = _view(
        params, math.prod(filters), (math.prod(biases),), r, "con biases"
    )
    return attrs, arrays


def _read_affine(r: _Reader, tag: str) -> tuple:
    params = r.tensor("affine params")
    gamma = r.alias("affine gamma")
    beta = r.alias("affine beta")
    attrs = {"mode": r.int_("affine mode")}
    size = math.prod(gamma)
    arrays = {
        "gamma": _view(params, 0, (size,), r, "affine gamma"),
        "beta": _view(params, size, (math.prod(beta),), r, "affine beta"),
    }
    return attrs, arrays


def _read_pool(r: _Reader, tag: str) -> tuple:
    names = ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
    return {name: r.int_(f"{tag} {name}") for name in names}, {}


def _read_fc(r: _Reader, tag: str) -> tuple:
    attrs = {"num_outputs": r.int_("fc num_outputs")}
    attrs["num_inputs"] = r.int_("fc num_inputs")
    params = r.tensor("fc params")
    weights = r.alias("fc weights")
    biases = r.alias("fc biases")
    attrs["bias_mode"] = r.int_("fc bias_mode")
    for name in ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult"):
        attrs[name] = r.double(f"fc {name}")
    inputs, outputs = weights[0], weights[1]
    if (inputs, outputs) != (attrs["num_inputs"], attrs["num_outputs"]):
        r.fail("fc weights", "(num_inputs, num_outputs, 1, 1)", f"{weights}")
    arrays = {"weights": _view(params, 0, (inputs, outputs), r, "fc weights")}
    if math.prod(biases):
        arrays["biases"] = _view(
            params, inputs * outputs, (math.prod(biases),), r, "fc biases"
        )
    return attrs, arrays


def _read_nothing(r: _Reader, tag: str) -> tuple:
    return {}, {}


_LAYER_READERS = {
    "con_4": _read_con,
    "affine_": _read_affine,
    "relu_": _read_nothing,
    "add_prev_": _read_nothing,
    "avg_pool_2": _read_pool,
    "max_pool_2": _read_pool,
    "fc_2": _read_fc,
}


def _read_state(r: _Reader, where: str) -> None:
    """Skips a layer wrapper's training state: three bools, three tensors."""
    for name in ("setup_called", "gradient_stale", "output_disabled"):
        r.bool_(f"{where} {name}")
    for name in ("x_grad", "cached_output", "params_grad"):
        r.tensor(f"{where} {name}")


def _read_layer(r: _Reader, index: int) -> DlibLayer:
    start = r.pos
    tag = r.string(f"layer {index} tag")
    if tag not in _LAYER_READERS:
        r.fail(
            f"layer {index} tag",
            "one of " + ", ".join(sorted(_LAYER_READERS)),
            repr(tag),
            start,
        )
    attrs, arrays = _LAYER_READERS[tag](r, tag)
    _read_state(r, f"layer {index} ({tag})")
    return DlibLayer(tag=tag, offset=start, attrs=attrs, arrays=arrays)


def parse_dlib_network(data: bytes, path: str = "<bytes>") -> DlibNetwork:
    """Reads a dlib network from the bytes of its `.dat` file.

    Args:
        data: the whole file.
        path: the file's name, for error messages.

    Returns:
        A `DlibNetwork`.

    Raises:
        DataError: the bytes are truncated, have bytes after the network,
            an unknown layer tag or an unexpected header or version; the
            message is one line with the file, byte offset, field and what
            was expected.
    """
    r = _Reader(data, path)
    r.expect_int("loss layer version", 1)
    start = r.pos
    tag = r.string("loss tag")
    if tag != _LOSS_TAG:
        r.fail("loss tag", repr(_LOSS_TAG), repr(tag), start)
    loss = {"tag": tag, "margin": r.double("loss margin")}
    loss["dist_thresh"] = r.double("loss dist_thresh")
    wrappers = []
    while not wrappers or wrappers[-1] != 3:
        start = r.pos
        version = r.int_("layer wrapper version")
        if version not in (1, 2, 3):
            r.fail("layer wrapper version", "1, 2 or 3", f"{version}", start)
        if len(wrappers) >= _MAX_WRAPPERS:
            r.fail("layer wrappers", f"at most {_MAX_WRAPPERS}", "more", start)
        wrappers.append(version)
    start = r.pos
    tag = r.string("input tag")
    if tag != _INPUT_TAG:
        r.fail("input tag", repr(_INPUT_TAG), repr(tag), start)
    mean = [r.double(f"input mean {c}") for c in ("red", "green", "blue")]
    net_input = {"tag": tag, "mean_rgb": mean}
    net_input["rows"] = r.int_("input rows")
    net_input["cols"] = r.int_("input cols")
    layers = [_read_layer(r, 0)]
    r.expect_int("sample expansion factor", 1)
    for index in range(1, wrappers.count(2) + 1):
        layers.append(_read_layer(r, index))
    if r.pos != len(data):
        r.fail(
            "end of network",
            "end of file",
            f"{len(data) - r.pos} trailing bytes",
        )
    return DlibNetwork(
        path=path, loss=loss, input=net_input, wrappers=wrappers, layers=layers
    )


def read_dlib_network(path) -> DlibNetwork:
    """Reads a dlib network from a `.dat` file (see `parse_dlib_network`).

    Args:
        path: the file, e.g. `dlib_face_recognition_resnet_model_v1.dat`.

    Returns:
        A `DlibNetwork` whose `layers` hold the weights as numpy arrays.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    return parse_dlib_network(data, path)
