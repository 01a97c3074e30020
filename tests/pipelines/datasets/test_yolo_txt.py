"""Ultralytics YOLO txt: images/ + labels/, normalized cx cy w h."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.datasets.yolo_txt import label_path
from pipelines.datasets.yolo_txt import read_yolo
from pipelines.errors import DataError

NAMES = ["cat", "dog"]


def _dataset(tmp_path, labels):
    """`labels`: {stem: label text or None}; 100x50 images in images/a."""
    (tmp_path / "images" / "a").mkdir(parents=True)
    (tmp_path / "labels" / "a").mkdir(parents=True)
    for stem, text in labels.items():
        Image.new("RGB", (100, 50)).save(tmp_path / "images/a" / f"{stem}.jpg")
        if text is not None:
            (tmp_path / "labels/a" / f"{stem}.txt").write_text(text)
    return tmp_path / "images" / "a"


def _read(source, **kwargs):
    kwargs.setdefault("image_size", 100)
    kwargs.setdefault("max_boxes", 3)
    kwargs.setdefault("class_names", NAMES)
    return read_yolo(source, progress=False, **kwargs)


def test_label_path_follows_ultralytics():
    assert (
        str(label_path(Path("d/images/train/x.jpg"))) == "d/labels/train/x.txt"
    )
    assert str(label_path(Path("images/images/x.png"))) == "images/labels/x.txt"
    assert str(label_path(Path("d/x.jpg"))) == "d/x.txt"


def test_boxes_polygons_and_missing_labels(tmp_path):
    folder = _dataset(
        tmp_path,
        {
            "x": "1 0.3 0.4 0.4 0.4\n\n0 0.1 0.2 0.5 0.2 0.5 0.6 0.1 0.6\n",
            "y": "0 0.9 0.9 0.4 0.4\n",
            "z": None,
        },
    )
    arrays, names, report = _read(folder)
    assert names == NAMES
    # 100x50 on a 100 square: y maps to 0.25 + y / 2.
    np.testing.assert_allclose(
        arrays["boxes"][0, :2],
        [[0.1, 0.35, 0.5, 0.55], [0.1, 0.35, 0.5, 0.55]],
        atol=1e-6,
    )
    assert arrays["classes"][:, 0].tolist() == [1, 0, -1]
    assert report.clipped_boxes == 1  # y's box passes the corner
    assert report.missing_labels == 1
    assert "1 images without a label file" in report.summary("train")


def test_list_file_and_escaping_paths(tmp_path):
    _dataset(tmp_path, {"x": "0 0.5 0.5 0.2 0.2\n", "y": ""})
    (tmp_path / "train.txt").write_text("./images/a/y.jpg\nimages/a/x.jpg\n")
    arrays, _, report = _read(tmp_path / "train.txt", root=tmp_path)
    assert report.images == 2
    assert arrays["classes"][:, 0].tolist() == [-1, 0]
    (tmp_path / "bad.txt").write_text("images/a/x.jpg\n../../etc/x.jpg\n")
    with pytest.raises(DataError, match=r"bad\.txt:2: path .* leaves"):
        _read(tmp_path / "bad.txt", root=tmp_path)


@pytest.mark.parametrize(
    "line, match",
    [
        ("0 0.5 0.5 0.2", "expected 'class x_center y_center width height'"),
        ("0 0.5 0.5 0.2 zero", "expected numbers"),
        ("2 0.5 0.5 0.2 0.2", r"class 2 out of range .* 0\.\.1\)"),
        ("0.5 0.5 0.5 0.2 0.2", "class 0.5 out of range"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, line, match):
    folder = _dataset(tmp_path, {"x": f"0 0.5 0.5 0.2 0.2\n{line}\n"})
    with pytest.raises(DataError, match=rf"labels/a/x\.txt:2: {match}"):
        _read(folder)


def test_no_labels_no_images_no_names(tmp_path):
    folder = _dataset(tmp_path, {"x": None})
    with pytest.raises(DataError, match="no label files"):
        _read(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        _read(tmp_path / "empty")
    with pytest.raises(DataError, match="need class names"):
        _read(folder, class_names=[])
