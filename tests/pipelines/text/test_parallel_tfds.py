"""Parallel corpora from tensorflow-datasets translation examples."""

import numpy as np
import pytest

from pipelines.errors import DataError
from pipelines.text.parallel_tfds import translation_examples_to_corpus


def test_tfds_translation_examples_use_language_keys():
    # tfds Translation features: one bytes field per language code.
    examples = [
        {"pt": np.bytes_("olá mundo".encode()), "en": b"hello world"},
        {"pt": b"", "en": b"empty source"},
        {"pt": "obrigado", "en": b"thanks"},
    ]
    corpus = translation_examples_to_corpus(
        examples, source_lang="pt", target_lang="en", where="ted[train]"
    )
    assert corpus.sources == ["olá mundo", "obrigado"]
    assert corpus.targets == ["hello world", "thanks"]
    assert corpus.skipped == [("ted[train]", 2, "pt: empty line")]
    with pytest.raises(DataError, match=r"example 1 has no 'de' field"):
        translation_examples_to_corpus(
            examples, source_lang="de", target_lang="en"
        )
