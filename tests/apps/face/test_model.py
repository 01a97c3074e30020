"""Tests of apps/face/model.py and the identity split of apps/face/data.py."""

import keras
import numpy as np
import pytest

from apps.face.config import DataConfig
from apps.face.data import split_identities
from apps.face.model import build_arcface_trainer
from apps.face.model import build_embedder
from apps.face.model import embedder_of
from pipelines.errors import DataError


@pytest.mark.parametrize("architecture", ["residual", "inception"])
def test_embedder_outputs_unit_vectors(architecture):
    model = build_embedder(
        image_size=32,
        channels=1,
        embedding_dim=8,
        width=8,
        architecture=architecture,
    )
    x = np.random.default_rng(0).uniform(size=(3, 32, 32, 1))
    out = model(x.astype("float32"), training=False).numpy()
    assert out.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # Siamese: the same weights embed both images of a pair, so equal
    # images give distance 0.
    single = model(x[:1].astype("float32"), training=False).numpy()
    np.testing.assert_allclose(out[0], single[0], rtol=1e-4, atol=1e-5)


def test_inception_adds_its_modules():
    names = [
        layer.name
        for layer in build_embedder(
            image_size=32,
            channels=3,
            embedding_dim=4,
            width=8,
            architecture="inception",
        ).layers
    ]
    assert "stage2_inception_concat" in names
    assert "stage1_inception_concat" not in names


def test_arcface_trainer_keeps_the_embedder():
    embedder = build_embedder(
        image_size=16, channels=1, embedding_dim=4, width=4
    )
    trainer = build_arcface_trainer(embedder, 3, scale=10.0, margin=0.2)
    assert embedder_of(trainer) is embedder
    assert embedder_of(embedder) is embedder
    logits = trainer([np.zeros((2, 16, 16, 1)), np.array([0, 2])])
    assert tuple(logits.shape) == (2, 3)
    assert keras.ops.max(keras.ops.abs(logits)) <= 10.0 + 1e-4


def test_bad_architecture():
    with pytest.raises(ValueError, match="architecture"):
        build_embedder(
            image_size=16, channels=1, embedding_dim=4, architecture="vgg"
        )


def test_identity_split_is_disjoint_and_seeded():
    cfg = DataConfig(num_test_identities=4, num_val_identities=3, seed=5)
    a = split_identities(20, cfg)
    assert sorted(a["train"] + a["val"] + a["test"]) == list(range(20))
    assert (len(a["test"]), len(a["val"]), len(a["train"])) == (4, 3, 13)
    assert a == split_identities(20, cfg)
    other = split_identities(
        20, DataConfig(num_test_identities=4, num_val_identities=3, seed=6)
    )
    assert other["test"] != a["test"]


def test_too_few_identities_is_a_data_error():
    cfg = DataConfig(num_test_identities=4, num_val_identities=3)
    with pytest.raises(DataError, match="identities"):
        split_identities(8, cfg)


def test_flip_tta_is_mirror_invariant():
    from apps.face.model import embed

    model = build_embedder(image_size=16, channels=1, embedding_dim=4, width=4)
    x = np.random.default_rng(1).uniform(size=(2, 16, 16, 1)).astype("float32")
    mirrored = x[:, :, ::-1, :]
    plain = embed(model, x).numpy()
    with_tta = embed(model, x, flip_tta=True).numpy()
    np.testing.assert_allclose(
        with_tta, embed(model, mirrored, flip_tta=True).numpy(), atol=1e-5
    )
    np.testing.assert_allclose(np.linalg.norm(with_tta, axis=1), 1, atol=1e-5)
    assert not np.allclose(plain, embed(model, mirrored).numpy(), atol=1e-3)
