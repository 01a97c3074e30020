"""Atomic versioned exports and the fresh-process check."""

import numpy as np
import pytest
import tensorflow as tf

from apps.common import exporting
from apps.common.runs import RunError


class _Doubler(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec((None,), tf.float32)])
    def __call__(self, x):
        return {"y": 2.0 * x}


def _write(path):
    module = _Doubler()
    tf.saved_model.save(
        module, str(path), signatures={"serving_default": module.__call__}
    )


def test_versions_increase_and_nothing_partial_is_left(tmp_path):
    first, _ = exporting.atomic_export(tmp_path, _write)
    second, _ = exporting.atomic_export(tmp_path, _write)
    assert first.name == "1" and second.name == "2"
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == [
        "1",
        "2",
    ]


def test_failed_write_or_check_leaves_previous_version_intact(tmp_path):
    good, _ = exporting.atomic_export(tmp_path, _write)

    def broken(path):
        path.mkdir()
        (path / "half").write_text("x")
        raise OSError(28, "No space left on device")

    with pytest.raises(RunError, match="No space left"):
        exporting.atomic_export(tmp_path, broken)

    def fail_check(path):
        raise RuntimeError("outputs differ")

    with pytest.raises(RuntimeError, match="outputs differ"):
        exporting.atomic_export(tmp_path, _write, fail_check)
    assert [p.name for p in (tmp_path / "export").iterdir()] == ["1"]
    loaded = tf.saved_model.load(str(good))
    out = loaded.signatures["serving_default"](x=tf.constant([1.5]))
    assert out["y"].numpy().tolist() == [3.0]


def test_fresh_process_answers_and_cannot_import_the_repo(tmp_path):
    path, _ = exporting.atomic_export(tmp_path, _write)
    # One process answers several calls, in order.
    got, again = exporting.run_calls_in_fresh_process(
        path,
        [
            ("serving_default", {"x": np.array([1.0, 2.0], np.float32)}),
            ("serving_default", {"x": np.array([5.0], np.float32)}),
        ],
    )
    assert got["y"].tolist() == [2.0, 4.0]
    assert again["y"].tolist() == [10.0]
    # The same process refuses to import this repository's packages.
    with pytest.raises(RuntimeError, match="must not be imported"):
        exporting.run_in_fresh_process(
            path,
            "serving_default",
            {"x": np.zeros(1, np.float32)},
            imports=("layers.boxes",),
        )


def test_compare_outputs_catches_a_difference():
    want = {"y": np.array([1.0, 2.0])}
    assert exporting.compare_outputs(want, {"y": np.array([1.0, 2.0])}) == 0
    with pytest.raises(RuntimeError, match="differs"):
        exporting.compare_outputs(want, {"y": np.array([1.0, 2.1])})
    with pytest.raises(RuntimeError, match="missing"):
        exporting.compare_outputs(want, {})
