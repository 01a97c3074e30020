"""Tests of layers/blocks/csp.py: YOLOv8's C2f, SPPF, backbone and neck."""

import keras
import numpy as np
import pytest

from layers.blocks.csp import SIZES
from layers.blocks.csp import c2f_block
from layers.blocks.csp import csp_backbone
from layers.blocks.csp import pan_neck
from layers.blocks.csp import scale_channels
from layers.blocks.csp import scale_depth
from layers.blocks.csp import sppf_block
from layers.heads.anchor_free import anchor_free_head


def conv_flops(model):
    """2 * multiply-adds of every Conv2D (the GFLOPs convention of
    Ultralytics' model summaries)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += 2 * kh * kw * cin * cout * h * w
    return total


def detector(size, image_size=640, num_classes=80):
    depth, width = SIZES[size]
    inputs = keras.Input((image_size, image_size, 3))
    features = csp_backbone(inputs, width=width, depth=depth)
    necks = pan_neck(features, width=width, depth=depth)
    outputs = anchor_free_head(necks, num_classes)
    return keras.Model(inputs, [*features, *necks, outputs])


def test_scaling_rules():
    # YOLOv8n: 64 * 0.25 -> 16, 1024 * 0.25 -> 256; 6 * 0.33 -> 2.
    assert [scale_channels(c, 0.25) for c in (64, 256, 1024)] == [16, 64, 256]
    assert scale_channels(2048, 0.5) == 512  # capped at max_channels
    assert scale_channels(64, 0.01) == 8
    assert [scale_depth(n, 0.33) for n in (1, 3, 6)] == [1, 1, 2]


def test_yolov8n_params_flops_and_strides():
    model = detector("n")
    p3, p4, p5, n3, n4, n5, head = model.outputs
    assert [tuple(t.shape) for t in (p3, p4, p5)] == [
        (None, 80, 80, 64),
        (None, 40, 40, 128),
        (None, 20, 20, 256),
    ]
    assert [tuple(t.shape) for t in (n3, n4, n5)] == [
        (None, 80, 80, 64),
        (None, 40, 40, 128),
        (None, 20, 20, 256),
    ]
    assert tuple(head.shape) == (None, 80 * 80 + 40 * 40 + 20 * 20, 64 + 80)
    # Ultralytics YOLOv8n: 3,157,200 parameters (16 of them the fixed DFL
    # conv), 8.7 GFLOPs. count_params() also counts the BN moving stats.
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 3_157_184
    assert abs(model.count_params() - 3.2e6) / 3.2e6 < 0.10
    assert conv_flops(model) / 1e9 == pytest.approx(8.7, rel=0.02)


def test_yolov8s_params_and_flops():
    model = detector("s")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    # Ultralytics YOLOv8s: 11,166,560 parameters, 28.6 GFLOPs.
    assert trainable == 11_166_544
    assert conv_flops(model) / 1e9 == pytest.approx(28.6, rel=0.02)
    assert tuple(model.outputs[5].shape) == (None, 20, 20, 512)


def test_small_input_strides_and_names():
    inputs = keras.Input((64, 96, 3))
    features = csp_backbone(inputs, width=0.0625, depth=0.33, name="bb")
    necks = pan_neck(features, width=0.0625, depth=0.33, name="nk")
    assert [tuple(f.shape[1:3]) for f in features] == [(8, 12), (4, 6), (2, 3)]
    assert [tuple(f.shape[1:3]) for f in necks] == [(8, 12), (4, 6), (2, 3)]
    model = keras.Model(inputs, necks)
    names = [layer.name for layer in model.layers[1:]]
    assert all(n.startswith(("bb_", "nk_")) for n in names)
    y = model(np.zeros((1, 64, 96, 3), "float32"))
    assert [tuple(t.shape) for t in y] == [
        (1, 8, 12, 16),
        (1, 4, 6, 32),
        (1, 2, 3, 64),
    ]


def test_c2f_structure_and_params():
    inputs = keras.Input((8, 8, 6))
    outputs = c2f_block(inputs, 8, 2, name="c")
    model = keras.Model(inputs, outputs)
    assert tuple(outputs.shape) == (None, 8, 8, 8)
    c = 4
    # cv1: 6 -> 2c (1x1); 2 bottlenecks of two 3x3 c -> c; cv2: 4c -> 8.
    # Each conv has no bias and a BN of 4 values per channel.
    expected = (6 * 2 * c + 4 * 2 * c) + 2 * 2 * (9 * c * c + 4 * c)
    expected += 4 * c * 8 + 4 * 8
    assert model.count_params() == expected
    adds = [
        layer for layer in model.layers if isinstance(layer, keras.layers.Add)
    ]
    assert len(adds) == 2
    assert model.get_layer("c_concat").output.shape[-1] == 4 * c
    no_skip = keras.Model(
        inputs, c2f_block(inputs, 8, 2, shortcut=False, name="d")
    )
    assert not any(isinstance(x, keras.layers.Add) for x in no_skip.layers)


def test_c2f_shortcut_is_identity_when_bottleneck_is_zero():
    # With the bottleneck's last BN at gamma = beta = 0 (and zero moving
    # mean), silu(0) = 0 and the residual add passes b through: the
    # concat holds b twice.
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, c2f_block(inputs, 4, 1, name="c"))
    bn = model.get_layer("c_m0_cv2_bn")
    bn.gamma.assign(np.zeros(2))
    bn.beta.assign(np.zeros(2))
    probe = keras.Model(inputs, model.get_layer("c_concat").output)
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype("float32")
    taps = probe(x, training=False).numpy()
    np.testing.assert_allclose(taps[..., 4:6], taps[..., 2:4], atol=1e-6)


def test_sppf_pools_equal_spp_pyramid():
    # SPPF's chained 5x5 pools equal SPP's 5, 9 and 13 pools.
    inputs = keras.Input((16, 16, 4))
    outputs = sppf_block(inputs, 6, name="s")
    model = keras.Model(inputs, outputs)
    assert tuple(outputs.shape) == (None, 16, 16, 6)
    probe = keras.Model(
        inputs,
        [model.get_layer(f"s_pool{i}").output for i in range(3)]
        + [model.get_layer("s_cv1_act").output],
    )
    x = np.random.default_rng(0).normal(size=(1, 16, 16, 4)).astype("float32")
    *pools, base = [t.numpy() for t in probe(x, training=False)]
    for pool, size in zip(pools, (5, 9, 13)):
        direct = keras.layers.MaxPooling2D(size, strides=1, padding="same")
        np.testing.assert_allclose(pool, direct(base).numpy(), atol=0)


@pytest.mark.parametrize("kwargs", [{"width": 0}, {"depth": -1.0}])
def test_invalid_multipliers(kwargs):
    args = {"width": 0.25, "depth": 0.33, **kwargs}
    with pytest.raises(ValueError, match="Received"):
        csp_backbone(keras.Input((32, 32, 3)), **args)
