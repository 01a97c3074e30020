"""Tests of apps/style/model.py and images.py: extractors, defaults,
preprocessing against Keras' own `vgg19.preprocess_input`."""

import dataclasses

import keras
import numpy as np
import pytest

from apps.common.config import ConfigError
from apps.style import images
from apps.style.config import ImagesConfig
from apps.style.config import StyleConfig
from apps.style.model import build_extractor
from apps.style.model import cost_weights


def config(**extractor):
    cfg = StyleConfig()
    return dataclasses.replace(
        cfg, extractor=dataclasses.replace(cfg.extractor, **extractor)
    )


def test_random_extractor_shapes_and_frozen():
    model = build_extractor(config(width=4))
    out = model(np.random.default_rng(0).random((1, 32, 24, 3)))
    assert [tuple(a.shape) for a in out["content"]] == [(1, 8, 6, 16)]
    assert [tuple(a.shape) for a in out["style"]] == [
        (1, 32, 24, 4),
        (1, 16, 12, 8),
        (1, 8, 6, 16),
        (1, 4, 3, 32),
    ]
    assert not model.trainable_weights
    # Fixed seed: the same filters every time.
    again = build_extractor(config(width=4))
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_vgg19_preprocessing_matches_keras():
    model = build_extractor(
        config(
            name="vgg19",
            weights="none",
            content_layers=["block1_conv2"],
            style_layers=["block1_conv1"],
        ),
        size=32,
    )
    x = np.random.default_rng(1).random((1, 32, 32, 3)).astype("float32")
    taps = model.get_layer("vgg19")
    reference = taps(keras.applications.vgg19.preprocess_input(x * 255.0))
    ours = model(x)
    np.testing.assert_allclose(
        ours["style"][0], reference["style"][0], rtol=1e-4, atol=1e-3
    )


def test_bad_layer_and_missing_weights_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="extractor.style_layers: 'nope'"):
        build_extractor(config(width=4, style_layers=["nope"]))
    with pytest.raises(ConfigError, match="weights file not found"):
        build_extractor(
            config(name="vgg19", weights=str(tmp_path / "missing.h5"))
        )
    junk = tmp_path / "junk.h5"
    junk.write_text("not weights")
    with pytest.raises(ConfigError, match="not a VGG19 include_top=False"):
        build_extractor(config(name="vgg19", weights=str(junk)))


def test_cost_defaults_and_overrides():
    assert cost_weights(StyleConfig())["beta"] == 3.0e6
    cfg = StyleConfig()
    cfg = dataclasses.replace(cfg, cost=dataclasses.replace(cfg.cost, beta=3.0))
    assert cost_weights(cfg) == {"alpha": 1.0, "beta": 3.0, "tv_weight": 10.0}
    vgg = config(name="vgg19")
    assert cost_weights(vgg)["beta"] == 20.0


def test_offline_default_images(monkeypatch, tmp_path):
    # No shared data: matplotlib's photo and a generated painting.
    monkeypatch.setenv("DLSUITE_DATA", str(tmp_path))
    content, name = images.load_content(ImagesConfig(size=40))
    assert name.endswith("grace_hopper.jpg")
    assert max(content.shape[:2]) == 40 and content.dtype == np.float32
    style, style_name = images.load_style(ImagesConfig(), *content.shape[:2])
    assert style_name == images.GENERATED_STYLE
    assert style.shape == content.shape
    assert 0.0 <= style.min() and style.max() <= 1.0


def test_cover_crop_and_colour_distance():
    image = np.zeros((10, 20, 3), np.uint8)
    assert images.cover_crop(image, 8, 8).shape == (8, 8, 3)
    assert images.fit_longer_side(image, 40).shape == (20, 40, 3)
    a = np.zeros((4, 4, 3))
    b = np.full((4, 4, 3), 0.5)
    assert images.colour_distance(a, b) == pytest.approx(0.5)
    assert images.colour_distance(b, b) == 0.0


def test_vgg19_loads_a_local_weights_file(tmp_path):
    # The user's real weights: here a VGG19 with other random weights,
    # saved and loaded through extractor.weights=PATH (no network).
    source = keras.applications.VGG19(
        include_top=False, weights=None, input_shape=(None, None, 3)
    )
    path = tmp_path / "vgg19_notop.weights.h5"
    source.save_weights(path)
    model = build_extractor(
        config(
            name="vgg19",
            weights=str(path),
            content_layers=["block1_conv1"],
            style_layers=["block1_conv1"],
        )
    )
    np.testing.assert_array_equal(
        model.get_layer("vgg19").get_layer("block1_conv1").get_weights()[0],
        source.get_layer("block1_conv1").get_weights()[0],
    )
