"""The tolerances a converted file must meet (`parity.enforce`)."""

from pathlib import Path

import pytest

from apps.detect import parity


def _numbers(quantization, *, diff=0.0, iou=1.0, score_diff=0.0):
    return {
        "quantization": quantization,
        "max_abs_diff_boxes": diff,
        "max_abs_diff_scores": diff,
        "slot_mean_iou": iou,
        "slot_mean_score_diff": score_diff,
    }


def test_enforce_applies_each_quantizations_tolerance():
    path = Path("m.tflite")
    ok = _numbers("float16", diff=parity.FLOAT_TOLERANCES["float16"])
    assert parity.enforce(ok, path) is ok
    with pytest.raises(RuntimeError, match="float32 outputs differ"):
        parity.enforce(_numbers("float32", diff=1e-3), path)
    with pytest.raises(RuntimeError, match="onnx outputs differ"):
        parity.enforce(_numbers("onnx", diff=1e-3), path)
    # int8 is held to the anchor slots, not to the largest difference.
    assert parity.enforce(_numbers("int8", diff=1.0), path)
    with pytest.raises(RuntimeError, match="mean IoU 0.500"):
        parity.enforce(_numbers("int8", iou=0.5), path)
