"""ONNX conversion of the tiny detector, checked in onnxruntime."""

import importlib.util
import sys

import numpy as np
import pytest

from apps.common.config import ConfigError
from apps.detect import onnx
from apps.detect.parity import ONNX_TOLERANCE

HAS_ONNX = all(
    importlib.util.find_spec(name) for name in ("tf2onnx", "onnxruntime")
)


@pytest.mark.skipif(
    not HAS_ONNX,
    reason="tf2onnx and onnxruntime are optional: pip install 'dlsuite[onnx]'",
)
def test_onnx_export_runs_in_onnxruntime(tiny_run, tmp_path):
    result = onnx.to_onnx(tiny_run, tmp_path / "model.onnx")
    assert result["parity"]["max_abs_diff_boxes"] <= ONNX_TOLERANCE
    assert result["parity"]["runtime"] == "onnxruntime"
    boxes, scores = onnx.run_onnx(result["path"], np.zeros((1, 64, 64, 3)))
    assert boxes.shape == (1, 128, 4) and scores.shape == (1, 128, 3)
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="onnxruntime rejects"):
        onnx.load_onnx(tmp_path / "broken.onnx")


def test_onnx_without_its_packages_says_what_to_install(tmp_path, monkeypatch):
    # The packages are checked before the run is read: no run is needed.
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    with pytest.raises(ConfigError, match=r"pip install 'dlsuite\[onnx\]'"):
        onnx.to_onnx(tmp_path)
