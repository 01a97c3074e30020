"""Face folders: identity folders and flat Yale files."""

import numpy as np
import pytest
from PIL import Image

from pipelines.datasets.spec import default_data_root
from pipelines.errors import DataError
from pipelines.faces.folders import read_faces
from pipelines.faces.folders import read_flat_faces
from pipelines.faces.folders import read_identity_folders
from pipelines.faces.index import summary


def _image(path, value=100, fmt=None, size=(8, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size[::-1], value, np.uint8)).save(path, fmt)
    return path


def _folders(root, counts):
    for name, count in counts.items():
        for i in range(count):
            _image(root / name / f"{i}.png", value=10 * i)
    return root


def _real(name):
    root = default_data_root()
    if root is None or not (root / name).is_dir():
        pytest.skip(f"{name} not in the shared data folder")
    return root / name


def test_identity_folders_in_natural_order(tmp_path):
    root = _folders(tmp_path, {"s10": 2, "s2": 3, "s1": 1})
    index = read_identity_folders(root)
    assert index.names == ("s1", "s2", "s10")
    assert index.labels == (0, 1, 1, 1, 2, 2)
    assert index.paths[0].endswith("s1/0.png")
    assert index.num_identities == 3 and len(index) == 6
    assert index.images_per_identity() == {"s1": 1, "s2": 3, "s10": 2}
    assert index.skipped == ()


def test_bad_files_are_skipped_with_reasons(tmp_path):
    root = _folders(tmp_path, {"ann": 2, "bob": 2})
    (root / "ann" / "notes.txt").write_text("hello")
    (root / "bob" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "bob" / "empty.png").write_bytes(b"")
    (root / "bob" / ".hidden.png").write_bytes(b"")
    _image(root / "bob" / "nested" / "0.png")
    _image(root / "stray.png")
    (root / "README.md").write_text("about")
    index = read_identity_folders(root)
    assert len(index) == 4
    reasons = {p.split("/")[-1]: r for p, r in index.skipped}
    assert set(reasons) == {
        "notes.txt",
        "broken.jpg",
        "empty.png",
        "nested",
        "stray.png",
    }
    assert "not an image file" in reasons["notes.txt"]
    assert "empty file" in reasons["empty.png"]
    assert reasons["broken.jpg"] == "unknown or unsupported format"
    assert "outside any identity folder" in reasons["stray.png"]
    text = summary(index)
    assert "2 identities, 4 images" in text and "5 skipped" in text


def test_strict_raises_naming_the_file(tmp_path):
    root = _folders(tmp_path, {"ann": 2})
    (root / "ann" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"ann/bad\.png: .*unsupported"):
        read_identity_folders(root, strict=True)


def test_truncated_image_is_caught_by_decoding(tmp_path):
    root = _folders(tmp_path / "faces", {"ann": 2})
    pixels = np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)
    Image.fromarray(pixels).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (root / "ann" / "cut.png").write_bytes(data[:200])
    assert len(read_identity_folders(root, verify=True)) == 2
    # Header-only checking lets the truncated file through.
    assert len(read_identity_folders(root, verify=False)) == 3


def test_min_images_drops_identities_and_relabels(tmp_path):
    root = _folders(tmp_path, {"a": 3, "b": 1, "c": 2})
    index = read_identity_folders(root, min_images=2, strict=True)
    assert index.names == ("a", "c")
    assert sorted(set(index.labels)) == [0, 1]
    assert len(index.skipped) == 1
    reason = index.skipped[0][1]
    assert "'b' has 1 readable images, fewer than min_images=2" in reason
    with pytest.raises(ValueError, match="min_images must be an int >= 1"):
        read_identity_folders(root, min_images=0)


def test_missing_or_empty_root_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="nowhere: face dataset folder not"):
        read_faces(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no identity folder found"):
        read_identity_folders(tmp_path)
    (tmp_path / "empty_person").mkdir()
    with pytest.raises(DataError, match="no identity with at least 1"):
        read_identity_folders(tmp_path)


def _yale(folder):
    for subject in (1, 2, 10):
        for condition in ("happy", "sad", "wink"):
            name = f"subject{subject:02d}.{condition}"
            _image(folder / name, value=subject * 20, fmt="GIF")
    return folder


def test_flat_yale_files_without_extension(tmp_path):
    _yale(tmp_path)
    (tmp_path / "README.txt").write_text("about")
    (tmp_path / "subject03.bad").write_bytes(b"GIF89a broken")
    index = read_flat_faces(tmp_path)
    assert index.names == ("subject01", "subject02", "subject10")
    assert index.labels == (0, 0, 0, 1, 1, 1, 2, 2, 2)
    skipped = dict((p.split("/")[-1], r) for p, r in index.skipped)
    assert "does not match" in skipped["README.txt"]
    assert "subject03" in " ".join(r for _, r in index.skipped)
    custom = read_flat_faces(tmp_path, pattern=r"\.(happy|sad)$")
    assert custom.names == ("happy", "sad")
    with pytest.raises(DataError, match="no file name matches"):
        read_flat_faces(tmp_path, pattern=r"^person_")


def test_read_faces_detects_the_layout(tmp_path):
    _yale(tmp_path / "yale" / "images")
    (tmp_path / "yale" / "README.md").write_text("about")
    flat = read_faces(tmp_path / "yale")
    assert flat.num_identities == 3 and len(flat) == 9
    _folders(tmp_path / "lfw_tar" / "lfw", {"Ada": 2, "Bob": 1})
    nested = read_faces(tmp_path / "lfw_tar", min_images=2)
    assert nested.names == ("Ada",)
    one = read_faces(_folders(tmp_path / "solo", {"me": 2}))
    assert one.names == ("me",)


def test_real_orl_folders():
    index = read_faces(_real("att_faces"), verify=False)
    assert (index.num_identities, len(index)) == (40, 400)
    assert index.names[:3] == ("s1", "s2", "s3") and index.names[9] == "s10"
    assert set(index.images_per_identity().values()) == {10}
    assert index.skipped == ()


def test_real_yale_flat_files():
    index = read_faces(_real("yalefaces"), verify=False)
    assert (index.num_identities, len(index)) == (15, 164)
    assert index.images_per_identity()["subject01"] == 10
    assert index.paths[0].endswith("images/subject01.glasses")
