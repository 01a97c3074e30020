"""Tests of apps/inspect/analysis.py: the cheatsheet's formulas on models
where every number is computed by hand, its own example (two 3x3 filters
at stride 1 give R_2 = 5), TensorFlow's profiler for FLOPs, and loud
mismatches for layers whose formula and Keras disagree."""

import keras
import pytest
import tensorflow as tf

from apps.inspect.analysis import GLOBAL
from apps.inspect.analysis import analyze
from apps.inspect.analysis import output_size
from apps.inspect.analysis import receptive_field
from apps.inspect.analysis import same_padding
from apps.inspect.report import format_table
from layers.padding import FullPadding2D


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


def test_receptive_field_formula_with_strides():
    # R = 1 + (3-1) + (2-1)*1 + (3-1)*1*2 = 8.
    assert receptive_field([3, 2, 3], [1, 2, 1]) == 8


def test_output_size_and_same_padding_by_hand():
    assert output_size(32, 5, 1, 0, 0) == 28
    assert output_size(7, 3, 2, 1, 1) == 4
    # same at stride 2 on 14: P = (7 - 1) * 2 + 3 - 14 = 1, at the end.
    assert same_padding(14, 3, 2) == (0, 1)
    assert same_padding(5, 3, 1) == (1, 1)


def hand_model():
    x = keras.Input((32, 32, 3), name="image")
    y = keras.layers.Conv2D(8, 5, name="conv1")(x)
    y = keras.layers.BatchNormalization(name="bn1")(y)
    y = keras.layers.MaxPooling2D(2, name="pool1")(y)
    y = keras.layers.Conv2D(
        16, 3, strides=2, padding="same", use_bias=False, name="conv2"
    )(y)
    y = keras.layers.Flatten(name="flat")(y)
    y = keras.layers.Dense(10, name="fc")(y)
    return keras.Model(x, y, name="hand")


def test_every_number_of_a_hand_computed_model():
    report = analyze(hand_model())
    rows = rows_by_name(report)
    conv1 = rows["conv1"]
    # O = (32 - 5 + 0 + 0) / 1 + 1 = 28; (F x F x C + 1) x K = 608.
    assert conv1.formula_shape[1:] == (28, 28, 8)
    assert conv1.params == conv1.formula_params == (5 * 5 * 3 + 1) * 8
    assert conv1.flops == 2 * 28 * 28 * 8 * 75 + 28 * 28 * 8
    assert conv1.activation_bytes == 28 * 28 * 8 * 4
    assert conv1.receptive_field == 5 and conv1.padding == "valid"
    assert rows["bn1"].params == 4 * 8
    pool = rows["pool1"]
    assert pool.params == 0 and pool.formula_shape[1:] == (14, 14, 8)
    assert pool.receptive_field == 6 and pool.jump == 2
    conv2 = rows["conv2"]
    # same, stride 2 on 14: P = (0, 1), O = (14 - 3 + 1) / 2 + 1 = 7.
    assert conv2.pads == (0, 1, 0, 1) and conv2.padding == "same"
    assert conv2.formula_shape[1:] == (7, 7, 16)
    assert conv2.params == 3 * 3 * 8 * 16
    assert conv2.receptive_field == 6 + 2 * 2 and conv2.jump == 4
    assert rows["flat"].receptive_field == GLOBAL
    fc = rows["fc"]
    assert fc.params == (7 * 7 * 16 + 1) * 10
    assert fc.flops == 2 * 784 * 10 + 10
    assert (
        report.total_params == report.keras_params == (608 + 32 + 1152 + 7850)
    )
    assert report.trainable_params == 608 + 16 + 1152 + 7850
    assert not report.mismatches


def test_full_padding_is_reported_as_full():
    x = keras.Input((6, 6, 2))
    y = FullPadding2D(3, name="full")(x)
    y = keras.layers.Conv2D(4, 3, name="conv")(y)
    rows = rows_by_name(analyze(keras.Model(x, y)))
    conv = rows["conv"]
    # P_start = P_end = F - 1 = 2: O = (6 - 3 + 2 + 2) / 1 + 1 = I + F - 1.
    assert conv.padding == "full" and conv.pads == (2, 2, 2, 2)
    assert conv.input_shape[1:3] == (6, 6)
    assert conv.formula_shape[1:3] == (8, 8) and not conv.mismatch
    assert rows["full"].formula_shape[1:3] == (10, 10)


def test_flops_agree_with_tensorflow_profiler():
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    x = keras.Input((8, 8, 3), batch_size=1)
    y = keras.layers.Conv2D(4, 3, padding="same")(x)
    y = keras.layers.Conv2D(5, 3, strides=2, use_bias=False)(y)
    y = keras.layers.DepthwiseConv2D(3, padding="same")(y)
    y = keras.layers.Flatten()(y)
    y = keras.layers.Dense(7)(y)
    model = keras.Model(x, y)
    fn = tf.function(model).get_concrete_function(tf.TensorSpec((1, 8, 8, 3)))
    graph = convert_variables_to_constants_v2(fn).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
    assert analyze(model).flops == profile.total_float_ops


class CroppingConv(keras.layers.Conv2D):
    """A hand-made layer whose config says one thing and whose output
    another (it crops a pixel): the formula must disagree with Keras."""

    def call(self, inputs):
        return super().call(inputs)[:, 1:, 1:, :]

    def compute_output_shape(self, input_shape):
        b, h, w, _ = super().compute_output_shape(input_shape)
        return (b, h - 1, w - 1, self.filters)


class ExtraWeightDense(keras.layers.Dense):
    """A Dense with one more weight than `(N_in + 1) N_out`."""

    def build(self, input_shape):
        super().build(input_shape)
        self.extra = self.add_weight(shape=(3,), name="extra")


def test_mismatches_are_loud():
    x = keras.Input((8, 8, 2))
    y = CroppingConv(3, 3, name="crop")(x)
    y = keras.layers.Flatten()(y)
    y = ExtraWeightDense(2, name="extra")(y)
    report = analyze(keras.Model(x, y))
    rows = rows_by_name(report)
    assert "output [None, 6, 6, 3] by formula" in rows["crop"].mismatch[0]
    # Flatten of the cropped 5 x 5 x 3: (75 + 1) x 2 = 152, plus 3 extra.
    assert rows["extra"].mismatch == [
        "parameters 152 by formula != 155 by Keras"
    ]
    assert len(report.mismatches) == 2
    text = format_table(report)
    assert "MISMATCH" in text and "2 DISAGREEMENT(S) WITH KERAS" in text


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
