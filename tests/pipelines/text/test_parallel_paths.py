"""Where Multi30k and spa-eng lie, and reading them (when present)."""

import pytest

from pipelines.datasets.spec import default_data_root
from pipelines.errors import DataError
from pipelines.text.parallel import read_parallel_files
from pipelines.text.parallel import read_tsv_pairs
from pipelines.text.parallel_paths import multi30k_paths
from pipelines.text.parallel_paths import spa_eng_path


def _real(name):
    root = default_data_root()
    if root is None or not (root / name).is_dir():
        pytest.skip(f"{name} not in the shared data folder")
    return root / name


def test_multi30k_paths_errors(tmp_path):
    with pytest.raises(DataError, match="unknown split 'dev'"):
        multi30k_paths(tmp_path, "dev")
    with pytest.raises(DataError, match=r"val\.en\.gz: Multi30k file not"):
        multi30k_paths(tmp_path, "validation")


def test_real_multi30k_val_split():
    en, de = multi30k_paths(_real("multi30k"), "val")
    assert (en.name, de.name) == ("val.en.gz", "val.de.gz")
    test_en, _ = multi30k_paths(None, "test")
    assert test_en.name == "test_2016_flickr.en.gz"
    corpus = read_parallel_files(en, de)
    assert len(corpus) == 1014 and corpus.skipped == []
    assert sum(len(s.split()) for s in corpus.sources) == 12167
    assert sum(len(s.split()) for s in corpus.targets) == 11568


def test_real_spa_eng():
    corpus = read_tsv_pairs(spa_eng_path(_real("spa_eng")))
    assert len(corpus) == 118964 and corpus.skipped == []
    assert (corpus.sources[0], corpus.targets[0]) == ("Go.", "Ve.")
