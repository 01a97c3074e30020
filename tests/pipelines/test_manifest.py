"""The JSON manifest reader: boxes letterboxed, problems named by file."""

import json

import numpy as np
import pytest
from PIL import Image

from pipelines.errors import DataError
from pipelines.images import ImageReadError
from pipelines.manifest import read_manifest
from pipelines.synthetic.shapes import make_shapes_arrays
from pipelines.synthetic.shapes import write_shapes_folder


def _manifest(tmp_path, images, classes=("a", "b")):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"classes": list(classes), "images": images}))
    return path


def test_shapes_folder_reads_back_like_the_arrays(tmp_path):
    manifest = write_shapes_folder(tmp_path, 6, 32, seed=3)
    arrays, names, report = read_manifest(
        manifest, image_size=32, max_boxes=8, progress=False
    )
    want = make_shapes_arrays(6, 32, seed=3, max_boxes=8)
    assert names == ["circle", "square", "triangle"]
    np.testing.assert_array_equal(arrays["images"], want["images"])
    np.testing.assert_array_equal(arrays["classes"], want["classes"])
    np.testing.assert_allclose(arrays["boxes"], want["boxes"], atol=1e-6)
    assert report.images == 6 and not report.skipped_images


def test_letterbox_maps_boxes_onto_the_square(tmp_path):
    Image.new("RGB", (100, 50)).save(tmp_path / "w.png")
    path = _manifest(
        tmp_path,
        [{"file": "w.png", "boxes": [[0, 0, 50, 50]], "classes": ["b"]}],
    )
    arrays, _, _ = read_manifest(
        path, image_size=64, max_boxes=2, progress=False
    )
    # 100x50 -> scale 0.64, 64x32 content padded by 16 rows at the top.
    np.testing.assert_allclose(
        arrays["boxes"][0, 0], [0, 16 / 64, 32 / 64, 48 / 64], atol=1e-6
    )
    assert arrays["classes"][0].tolist() == [1, -1]


def test_clipped_dropped_and_truncated_boxes_are_counted(tmp_path):
    Image.new("RGB", (20, 20)).save(tmp_path / "x.png")
    boxes = [
        [-5, 2, 10, 10],
        [3, 3, 3, 9],
        [12, 12, 8, 15],
        [1, 1, 5, 5],
        [2, 2, 6, 6],
    ]
    path = _manifest(
        tmp_path, [{"file": "x.png", "boxes": boxes, "classes": ["a"] * 5}]
    )
    arrays, _, report = read_manifest(
        path, image_size=20, max_boxes=2, progress=False
    )
    assert report.clipped_boxes == 1
    assert report.dropped_boxes == 2  # zero width, reversed
    assert report.truncated_boxes == 1
    assert report.boxes == 2
    np.testing.assert_allclose(arrays["boxes"][0, 0], [0, 0.1, 0.5, 0.5])
    assert "1 boxes clipped" in report.summary("train")


def test_corrupt_image_is_skipped_or_fails_with_strict(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    images = [
        {"file": "ok.png", "boxes": [[1, 1, 4, 4]], "classes": ["a"]},
        {"file": "bad.jpg", "boxes": [], "classes": []},
    ]
    path = _manifest(tmp_path, images)
    arrays, _, report = read_manifest(
        path, image_size=16, max_boxes=2, progress=False
    )
    assert len(arrays["images"]) == 1
    assert report.skipped_images == [str((tmp_path / "bad.jpg").resolve())]
    with pytest.raises(ImageReadError, match="bad.jpg"):
        read_manifest(
            path, image_size=16, max_boxes=2, strict=True, progress=False
        )


@pytest.mark.parametrize(
    "images, match",
    [
        (
            [{"file": "x.png", "boxes": [[0, 0, 1, 1]], "classes": ["zebra"]}],
            r"images\[0\]\.classes\[0\]: unknown class 'zebra'",
        ),
        (
            [{"file": "x.png", "boxes": [[0, 0, 1]], "classes": ["a"]}],
            r"images\[0\]\.boxes\[0\]: expected",
        ),
        ([{"boxes": [], "classes": []}], r"images\[0\]: missing field 'file'"),
        (
            [{"file": "../x.png", "boxes": [], "classes": []}],
            "leaves the dataset folder",
        ),
        (
            [{"file": "x.png", "boxes": [[0, 0, 1, 1]], "classes": []}],
            "1 boxes but 0 classes",
        ),
    ],
)
def test_malformed_entries_name_file_and_field(tmp_path, images, match):
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    path = _manifest(tmp_path, images)
    with pytest.raises(DataError, match=match) as err:
        read_manifest(path, image_size=16, max_boxes=2, progress=False)
    assert str(path) in str(err.value)


def test_bad_json_and_missing_file(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_manifest(path, image_size=16, max_boxes=2, progress=False)
    with pytest.raises(DataError, match="manifest not found"):
        read_manifest(tmp_path / "none.json", image_size=16, max_boxes=2)
