"""Tests of apps/inspect/analysis.py: the walk over a model's graph (the
cheatsheet's own example, two 3x3 filters at stride 1 give R_2 = 5;
nested, shared, Sequential and subclassed models; the apps' backbones)."""

import keras
import pytest
import tensorflow as tf

from apps.inspect.analysis import analyze
from apps.inspect.formulas import receptive_field


def rows_by_name(report):
    return {r.name: r for r in report.rows}


def test_cheatsheet_receptive_field_example():
    # Two 3x3 filters at stride 1: R_2 = 1 + 2 + 2 = 5.
    assert receptive_field([3, 3], [1, 1]) == 5
    x = keras.Input((16, 16, 1))
    y = keras.layers.Conv2D(1, 3, name="c1")(x)
    y = keras.layers.Conv2D(1, 3, name="c2")(y)
    rows = rows_by_name(analyze(keras.Model(x, y)))
    assert rows["c1"].receptive_field == 3
    assert rows["c2"].receptive_field == 5


def test_nested_and_shared_models():
    inner_in = keras.Input((8, 8, 1))
    inner = keras.Model(
        inner_in,
        keras.layers.Conv2D(2, 3, name="c")(inner_in),
        name="tower",
    )
    a, b = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    merged = keras.layers.Subtract(name="diff")([inner(a), inner(b)])
    model = keras.Model([a, b], merged)
    report = analyze(model)
    names = [r.name for r in report.rows]
    assert names.count("tower/c") == 2
    # The shared tower's weights count once, as count_params() does.
    assert report.total_params == report.keras_params == 20
    assert not report.mismatches
    assert rows_by_name(report)["tower/c"].receptive_field == 3


def test_sequential_and_subclassed_models():
    seq = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, name="c")]
    )
    report = analyze(seq)
    assert report.total_params == report.keras_params == 20
    assert rows_by_name(report)["c"].formula_shape[1:] == (4, 4, 2)

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    sub = Sub()
    sub(tf.zeros((1, 4)))
    report = analyze(sub)
    assert report.total_params == report.keras_params == 15
    assert "subclassed" in report.notes[0]


@pytest.mark.parametrize("architecture", ["residual", "inception"])
def test_app_backbones_agree_with_keras(architecture):
    from layers.blocks.inception import inception_block
    from layers.blocks.residual import residual_block

    x = keras.Input((16, 16, 8))
    y = residual_block(x, 12, name="res")
    if architecture == "inception":
        y = inception_block(
            y,
            filters_1x1=4,
            reduce_3x3=2,
            filters_3x3=4,
            reduce_5x5=2,
            filters_5x5=2,
            pool_proj=2,
            name="inc",
        )
    report = analyze(keras.Model(x, y))
    assert not report.mismatches
    assert report.total_params == report.keras_params


def test_yolov8n_flops_match_ultralytics():
    # Ultralytics reports YOLOv8n (80 classes, 640 x 640) at 8.7 GFLOPs
    # (2 x multiply-adds of the convolutions); the detector's own test
    # pins the architecture to it.
    from layers.blocks.csp import csp_backbone
    from layers.blocks.csp import pan_neck
    from layers.heads.anchor_free import anchor_free_head

    x = keras.Input((640, 640, 3))
    features = csp_backbone(x, width=0.25, depth=0.33)
    features = pan_neck(features, width=0.25, depth=0.33)
    model = keras.Model(x, anchor_free_head(features, 80, reg_max=16))
    report = analyze(model)
    conv = sum(r.flops for r in report.rows if r.kind == "Conv2D")
    assert conv / 1e9 == pytest.approx(8.7, rel=0.02)
    assert not report.mismatches
