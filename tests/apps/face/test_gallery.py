"""The gallery: enrol, identify, reject strangers, save and load."""

import math

import numpy as np
import pytest

from apps.face.gallery import Gallery


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


ADA = _unit([[1, 0, 0, 0], [1, 0.2, 0, 0]])
BOB = _unit([[0, 1, 0, 0]])
CY = _unit([[0, 0, 1, 0.1]])


@pytest.fixture
def gallery():
    g = Gallery()
    g.enroll("ada", ADA)
    g.enroll("bob", BOB[0])  # a single `(dim,)` embedding
    return g


def test_identify_nearest_person_with_distances_both_ways(gallery):
    probe = _unit([[1, 0.1, 0, 0], [0.1, 1, 0, 0]])
    first, second = gallery.identify(probe, threshold=1.0)
    assert first.name == "ada" and second.name == "bob"
    # Nearest of ada's two embeddings, not their mean.
    expected = min(np.sum((ADA - probe[0]) ** 2, axis=1))
    assert first.distance == pytest.approx(expected)
    assert first.cosine == pytest.approx(1 - expected / 2)
    assert first.second_best_name == "bob"
    assert first.second_best_distance == pytest.approx(
        np.sum((BOB[0] - probe[0]) ** 2)
    )
    assert second.second_best_name == "ada"


def test_stranger_is_unknown_but_nearest_is_kept(gallery):
    stranger = _unit([0, 0, 0, 1])  # d = 2 to everyone (cosine 0)
    (match,) = gallery.identify(stranger, threshold=1.0)
    assert match.name == "unknown"
    assert match.distance == pytest.approx(2.0)
    assert match.cosine == pytest.approx(0.0)
    assert match.nearest_name in {"ada", "bob"}
    (accepted,) = gallery.identify(stranger, threshold=2.0 + 1e-6)
    assert accepted.name == accepted.nearest_name


def test_enroll_adds_remove_forgets(gallery):
    gallery.enroll("cy", CY)
    gallery.enroll("bob", _unit([0, 1, 0.3, 0]))
    assert gallery.names() == ["ada", "bob", "cy"]
    assert gallery.embeddings("bob").shape == (2, 4)
    gallery.remove("ada")
    assert gallery.names() == ["bob", "cy"] and "ada" not in gallery
    (match,) = gallery.identify(ADA[0], threshold=4.0)
    assert match.name != "ada"
    with pytest.raises(ValueError, match="'ada' is not enrolled"):
        gallery.remove("ada")


def test_single_person_has_no_second_best():
    g = Gallery()
    g.enroll("ada", ADA)
    (match,) = g.identify(ADA[1], threshold=0.5)
    assert match.name == "ada" and match.distance == pytest.approx(0, abs=1e-6)
    assert match.second_best_name is None
    assert math.isnan(match.second_best_distance)


def test_empty_gallery_and_bad_input_errors(gallery):
    with pytest.raises(ValueError, match="The gallery is empty: enroll"):
        Gallery().identify(ADA, threshold=1.0)
    with pytest.raises(ValueError, match="unit-norm"):
        gallery.enroll("dan", [[2.0, 0, 0, 0]])
    with pytest.raises(ValueError, match="size 4"):
        gallery.enroll("dan", _unit([1, 1, 1]))
    with pytest.raises(ValueError, match="another name"):
        gallery.enroll("unknown", ADA)
    with pytest.raises(ValueError, match=r"\(q, 4\)"):
        gallery.identify(_unit([1, 1]), threshold=1.0)
    with pytest.raises(ValueError, match="threshold"):
        gallery.identify(ADA, threshold=-1.0)


def test_save_load_round_trip(gallery, tmp_path):
    gallery.enroll("zoë 李", CY)  # non-ASCII names survive
    path = gallery.save(tmp_path / "people" / "gallery.npz")
    assert path.is_file() and not list(path.parent.glob(".*partial*"))
    loaded = Gallery.load(path)
    assert loaded.names() == ["ada", "bob", "zoë 李"]
    for name in loaded.names():
        np.testing.assert_allclose(
            loaded.embeddings(name), gallery.embeddings(name), rtol=1e-6
        )
    probe = _unit([[1, 0.1, 0, 0], [0, 0, 1, 0]])
    assert loaded.identify(probe, threshold=1.0) == gallery.identify(
        probe, threshold=1.0
    )
    with np.load(path, allow_pickle=False) as data:  # no pickled objects
        assert data["names"].dtype.kind == "U"
    # Any file name works (np.savez would append ".npz" to a path).
    other = gallery.save(tmp_path / "gallery.bin")
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == [other.name]
    assert Gallery.load(other).names() == loaded.names()
    empty = Gallery.load(Gallery().save(tmp_path / "empty.npz"))
    assert len(empty) == 0 and empty.dim is None


def test_malformed_files_name_the_file(gallery, tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("not a gallery")
    with pytest.raises(ValueError, match=r"notes\.npz: expected a gallery"):
        Gallery.load(text)
    missing = tmp_path / "missing.npz"
    np.savez(missing, names=np.array(["ada"]))
    with pytest.raises(ValueError, match=r"missing\.npz: .*missing embeddings"):
        Gallery.load(missing)
    bad = tmp_path / "bad.npz"
    np.savez(
        bad,
        format_version=np.array(1),
        names=np.array(["ada", "bob"]),
        embeddings=np.asarray(ADA, np.float32),
        owners=np.array([0, 5]),
    )
    with pytest.raises(ValueError, match=r"bad\.npz: .*owners point outside"):
        Gallery.load(bad)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, names=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"pickled\.npz: expected"):
        Gallery.load(pickled)
    with pytest.raises(ValueError, match="not found"):
        Gallery.load(tmp_path / "nowhere.npz")
