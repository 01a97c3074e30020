"""`data.source: tfds`: the app reads a tensorflow-datasets translation
builder (mocked here: tfds generates examples from the builder's feature
spec, nothing is downloaded)."""

import pytest

from apps.common.config import ConfigError
from apps.common.config import resolve
from apps.translate.config import TranslateConfig
from apps.translate.data import load_pairs


def _cfg(**data):
    sets = [f"data.{k}={v}" for k, v in data.items()]
    return resolve(TranslateConfig, sets=["data.source=tfds", *sets])


def test_tfds_builder_gives_train_val_and_test_pairs():
    tfds = pytest.importorskip("tensorflow_datasets")
    cfg = _cfg(
        tfds_name="ted_hrlr_translate/pt_to_en",
        source_lang="pt",
        target_lang="en",
        max_pairs=4,
    )
    with tfds.testing.mock_data(
        num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        pairs = load_pairs(cfg.data)
    assert set(pairs) == {"train", "val", "test"}
    sources, targets = pairs["train"]
    assert len(sources) == len(targets) == 4  # max_pairs caps train only
    assert len(pairs["test"][0]) == 6
    assert all(isinstance(s, str) and s.strip() for s in sources + targets)


def test_tfds_source_needs_a_builder_name():
    with pytest.raises(ConfigError, match="data.tfds_name"):
        _cfg()


def test_unknown_language_names_the_builder_and_the_field():
    tfds = pytest.importorskip("tensorflow_datasets")
    from pipelines.errors import DataError

    cfg = _cfg(
        tfds_name="ted_hrlr_translate/pt_to_en",
        source_lang="de",
        target_lang="en",
    )
    with tfds.testing.mock_data(
        num_examples=2, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        with pytest.raises(DataError, match="ted_hrlr_translate") as err:
            load_pairs(cfg.data, ("test",))
    assert "de" in str(err.value)
