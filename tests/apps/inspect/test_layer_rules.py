"""Tests of apps/inspect/layer_rules.py: every number of each layer's row
on models computed by hand, TensorFlow's profiler for FLOPs, and loud
mismatches for layers whose formula and Keras disagree."""

import keras
import tensorflow as tf

from apps.inspect.analysis import analyze
from apps.inspect.layer_rules import GLOBAL
from apps.inspect.report import format_table
from layers.padding import FullPadding2D


def rows_by_name(report):
    return {r.name: r for r in report.rows}


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
