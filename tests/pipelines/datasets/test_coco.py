"""COCO JSON: xywh boxes, category order, crowds, named errors."""

import json

import numpy as np
import pytest
from PIL import Image

from pipelines.datasets.coco import read_coco
from pipelines.errors import DataError


def _coco(tmp_path, annotations, images=None, categories=None):
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (100, 50)).save(tmp_path / name)
    data = {
        "images": images
        or [{"id": 7, "file_name": "a.jpg"}, {"id": 9, "file_name": "b.jpg"}],
        "annotations": annotations,
        "categories": categories
        or [{"id": 5, "name": "dog"}, {"id": 2, "name": "cat"}],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(data, indent=1))
    return path


def _ann(image_id, category_id, bbox, **extra):
    return {
        "image_id": image_id,
        "category_id": category_id,
        "bbox": bbox,
        **extra,
    }


def _read(path, **kwargs):
    kwargs.setdefault("image_size", 100)
    kwargs.setdefault("max_boxes", 3)
    return read_coco(path, progress=False, **kwargs)


def test_boxes_categories_and_crowds(tmp_path):
    path = _coco(
        tmp_path,
        [
            _ann(7, 5, [10, 5, 40, 20]),
            _ann(7, 2, [0, 0, 100, 50]),
            _ann(7, 2, [1, 1, 5, 5], iscrowd=1),
        ],
    )
    arrays, names, report = _read(path)
    # Contiguous indices in ascending category id: 2 -> 0, 5 -> 1.
    assert names == ["cat", "dog"]
    # 100x50 on a 100 square: 25 rows of padding on top.
    np.testing.assert_allclose(
        arrays["boxes"][0, :2],
        [[0.10, 0.30, 0.50, 0.50], [0, 0.25, 1, 0.75]],
        atol=1e-6,
    )
    assert arrays["classes"].tolist() == [[1, 0, -1], [-1, -1, -1]]
    assert (report.images, report.boxes, report.crowd_boxes) == (2, 2, 1)
    assert "1 crowd boxes skipped" in report.summary("val")
    # Given names map by category name.
    arrays, names, _ = _read(path, class_names=["dog", "cat"])
    assert arrays["classes"][0, :2].tolist() == [0, 1]


def test_images_folder_and_bad_boxes(tmp_path):
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (20, 20)).save(tmp_path / "imgs" / "c.png")
    path = tmp_path / "ann" / "c.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "c.png"}],
                "annotations": [
                    _ann(1, 1, [-5, 0, 10, 10]),
                    _ann(1, 1, [5, 5, 0, 8]),
                    _ann(1, 1, [5, 5, -3, 8]),
                ],
                "categories": [{"id": 1, "name": "x"}],
            }
        )
    )
    _, _, report = _read(path, images_dir=tmp_path / "imgs")
    assert (report.boxes, report.clipped_boxes, report.dropped_boxes) == (
        1,
        1,
        2,
    )


@pytest.mark.parametrize(
    "annotations, images, match",
    [
        ([_ann(8, 5, [0, 0, 1, 1])], None, r"annotations\[0\]: unknown ima"),
        ([_ann(7, 4, [0, 0, 1, 1])], None, r"annotations\[0\]: unknown cat"),
        ([_ann(7, 5, [0, 0, 1])], None, r"annotations\[0\]\.bbox: expected"),
        ([{"image_id": 7, "bbox": [0, 0, 1, 1]}], None, "'category_id'"),
        ([], [{"id": 1}], r"images\[0\]: missing field 'file_name'"),
        ([], [{"id": 1, "file_name": "../x.jpg"}], "leaves the dataset"),
        (
            [],
            [{"id": 1, "file_name": "a.jpg"}, {"id": 1, "file_name": "a"}],
            r"images\[1\]: image id 1 appears twice",
        ),
    ],
)
def test_malformed_entries_are_named(tmp_path, annotations, images, match):
    path = _coco(tmp_path, annotations, images)
    with pytest.raises(DataError, match=match) as err:
        _read(path)
    assert str(path) in str(err.value)


def test_unknown_class_and_bad_json(tmp_path):
    path = _coco(tmp_path, [_ann(7, 5, [0, 0, 1, 1])])
    with pytest.raises(
        DataError, match=r"annotations\[0\]: unknown class 'dog'"
    ):
        _read(path, class_names=["cat"])
    path.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(DataError, match=r"coco\.json:2:12: not valid JSON"):
        _read(path)
    path.write_text('{"images": []}')
    with pytest.raises(DataError, match="missing field 'categories'"):
        _read(path)
