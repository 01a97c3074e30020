"""The raw signature's helpers that need no trained run."""

import numpy as np
import pytest

from apps.common.runs import RunError
from apps.detect import raw


def test_default_path_needs_an_export(tmp_path):
    with pytest.raises(RunError, match="run `export` first"):
        raw.default_path(tmp_path, "model_float32.tflite")
    (tmp_path / "export" / "1").mkdir(parents=True)
    (tmp_path / "export" / "10").mkdir()
    assert raw.default_path(tmp_path, "m.onnx") == (
        tmp_path / "export" / "10" / "m.onnx"
    )


def test_check_pixels_adds_the_batch_axis_and_names_bad_shapes():
    one = raw.check_pixels(np.zeros((8, 8, 3)), 8, "pixels")
    assert one.shape == (1, 8, 8, 3) and one.dtype == np.float32
    with pytest.raises(ValueError, match=r"representative\.shape"):
        raw.check_pixels(np.zeros((2, 4, 4, 3)), 8, "representative")


def test_median_ms_calls_warmup_plus_repeat_times():
    calls = []
    ms = raw.median_ms(lambda: calls.append(1), repeat=3, warmup=2)
    assert len(calls) == 5 and ms >= 0
