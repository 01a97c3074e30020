"""TFLite conversion of the tiny detector, with parity checks."""

from pathlib import Path

import numpy as np
import pytest

from apps.detect import raw
from apps.detect import tflite
from apps.detect.parity import FLOAT_TOLERANCES
from apps.detect.parity import INT8_MIN_MEAN_IOU


@pytest.fixture(scope="module")
def converted(tiny_run):
    """The three TFLite files in `export/1/`, by quantization."""
    (tiny_run / "export" / "1").mkdir(parents=True)
    return {
        q: tflite.to_tflite(tiny_run, quantization=q)
        for q in tflite.QUANTIZATIONS
    }


def test_each_quantization_passes_its_parity_check(tiny_run, converted):
    for q, result in converted.items():
        path = Path(result["path"])
        assert path == tiny_run / "export" / "1" / f"model_{q}.tflite"
        assert path.stat().st_size == result["size_bytes"]
        parity = result["parity"]
        assert parity["quantization"] == q
        assert parity["slot_mean_iou"] >= INT8_MIN_MEAN_IOU
        if q != "int8":
            assert parity["max_abs_diff_boxes"] <= FLOAT_TOLERANCES[q]
            assert parity["max_abs_diff_scores"] <= FLOAT_TOLERANCES[q]
    sizes = [converted[q]["size_bytes"] for q in ("float32", "float16", "int8")]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] > 1.4 * sizes[1] and sizes[1] > 1.2 * sizes[2]
    assert not list((tiny_run / "export" / "1").glob(".*partial*"))


def test_check_tflite_parity_reloads_the_file(tiny_run, converted):
    again = tflite.check_tflite_parity(
        tiny_run, converted["int8"]["path"], quantization="int8"
    )
    assert again["slot_mean_iou"] == pytest.approx(
        converted["int8"]["parity"]["slot_mean_iou"]
    )


def test_run_tflite_then_our_nms(tiny_run, converted):
    cfg, model = raw.load_raw_model(tiny_run)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3))
    path = converted["float32"]["path"]
    boxes, scores = tflite.run_tflite(path, pixels)
    # k=2 anchors on an 8x8 grid, 3 classes.
    assert boxes.shape == (2, 128, 4) and scores.shape == (2, 128, 3)
    want = model(pixels.astype(np.float32))
    np.testing.assert_allclose(boxes, want["boxes"], atol=1e-4)
    out = tflite.tflite_detections(
        path, pixels[0], score_threshold=0.0, max_detections=5
    )
    assert out["boxes"].shape == (1, 5, 4)
    assert out["num_detections"][0] == 5
    with pytest.raises(ValueError, match=r"\(N, 64, 64, 3\)"):
        tflite.run_tflite(path, pixels[:, :32])


def test_latency_helper(converted):
    ms = tflite.time_tflite(converted["int8"]["path"], 64, 5, num_threads=2)
    assert 0 < ms < 1000


def test_failed_parity_leaves_no_file(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setitem(FLOAT_TOLERANCES, "float16", 0.0)
    out = tmp_path / "m.tflite"
    with pytest.raises(RuntimeError, match="float16 outputs differ"):
        tflite.to_tflite(tiny_run, out, quantization="float16")
    assert not list(tmp_path.iterdir())


def test_bad_arguments(tiny_run, tmp_path):
    with pytest.raises(ValueError, match="quantization"):
        tflite.to_tflite(tiny_run, tmp_path / "m", quantization="int4")
    with pytest.raises(ValueError, match="representative"):
        tflite.to_tflite(
            tiny_run,
            tmp_path / "m",
            quantization="int8",
            representative=np.zeros((4, 32, 32, 3)),
        )
