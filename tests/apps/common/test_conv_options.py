"""`model.initializer` and `model.norm` (Xavier/Glorot vs He, batch norm
before or after the activation) as config, in the apps whose models are
built from `layers.blocks`."""

import pytest

from apps.common.config import ConfigError
from apps.common.config import resolve
from apps.detect.config import DetectConfig
from apps.face.config import FaceConfig


@pytest.mark.parametrize("cls", [DetectConfig, FaceConfig])
@pytest.mark.parametrize(
    "key, value", [("initializer", "zeros"), ("norm", "sideways")]
)
def test_unknown_choice_names_the_key(cls, key, value):
    with pytest.raises(ConfigError, match=f"model.{key}: expected one of"):
        resolve(cls, sets=[f"model.{key}={value}"])


def test_face_embedder_follows_the_config():
    from apps.face.model import build_model

    cfg = resolve(
        FaceConfig,
        sets=[
            "model.norm=after",
            "model.initializer=he_normal",
            "data.image_size=32",
        ],
    )
    model = build_model(cfg, num_classes=4)
    conv = model.get_layer("stem_conv")
    assert conv.use_bias  # batch norm after the activation
    assert type(conv.kernel_initializer).__name__ == "HeNormal"
    names = [layer.name for layer in model.layers]
    assert names.index("stem_act") < names.index("stem_bn")
