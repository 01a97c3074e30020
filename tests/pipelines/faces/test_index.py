"""Face index: its checks, identity subsets, splits and summaries."""

import pytest

from pipelines.faces.index import FaceIndex
from pipelines.faces.index import natural_key
from pipelines.faces.index import split_by_identity
from pipelines.faces.index import summary


def _index(counts):
    """What a reader gives for `root/<name>/<i>.png`, `counts[name]` each;
    names are given in natural order."""
    paths, labels = [], []
    for label, (name, count) in enumerate(counts.items()):
        paths += [f"root/{name}/{i}.png" for i in range(count)]
        labels += [label] * count
    return FaceIndex(tuple(paths), tuple(labels), tuple(counts))


def test_natural_key_orders_digit_runs_as_numbers():
    names = ["s10", "s2", "S1", "s1"]
    assert sorted(names, key=natural_key) == ["S1", "s1", "s2", "s10"]


def test_subset_and_split_by_identity():
    index = _index({f"p{i}": 2 for i in range(10)})
    sub = index.subset([7, 2])
    assert sub.names == ("p2", "p7") and sub.labels == (0, 0, 1, 1)
    with pytest.raises(ValueError, match="distinct ids"):
        index.subset([1, 1])
    train, test = split_by_identity(index, num_test_identities=3, seed=4)
    assert (train.num_identities, test.num_identities) == (7, 3)
    assert not set(train.names) & set(test.names)
    assert len(train) + len(test) == len(index)
    again = split_by_identity(index, num_test_identities=3, seed=4)[1]
    assert again.names == test.names
    others = {
        split_by_identity(index, num_test_identities=3, seed=s)[1].names
        for s in range(5)
    }
    assert len(others) > 1
    with pytest.raises(ValueError, match="num_test_identities must be"):
        split_by_identity(index, num_test_identities=10, seed=0)


def test_face_index_checks_its_fields():
    with pytest.raises(ValueError, match="same length"):
        FaceIndex(("a",), (0, 0), ("x",))
    with pytest.raises(ValueError, match="labels must lie in 0..0"):
        FaceIndex(("a",), (1,), ("x",))


def test_summary_statistics():
    index = _index({"a": 1, "b": 2, "c": 6})
    assert summary(index) == (
        "3 identities, 9 images (per identity: min 1, median 2, max 6); "
        "0 skipped."
    )
