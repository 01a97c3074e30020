"""The per-image work shared by every reader: clean, letterbox, pad."""

import numpy as np
import pytest
from PIL import Image

from pipelines.datasets.records import ReadReport
from pipelines.datasets.records import Record
from pipelines.datasets.records import records_to_arrays
from pipelines.datasets.records import resolve_inside
from pipelines.errors import DataError
from pipelines.images import ImageReadError


def _image(path, width, height):
    Image.new("RGB", (width, height), (200, 10, 10)).save(path)
    return path


def _read(records, names=("a", "b"), **kwargs):
    kwargs.setdefault("image_size", 64)
    kwargs.setdefault("max_boxes", 4)
    return records_to_arrays(records, list(names), progress=False, **kwargs)


def test_manifest_reexports_the_same_report():
    from pipelines.manifest import ReadReport as ManifestReport

    assert ManifestReport is ReadReport


def test_boxes_are_letterboxed_exactly(tmp_path):
    file = _image(tmp_path / "w.png", 100, 50)
    record = Record(file, [(10, 5, 60, 45), (0, 0, 100, 50)], ["b", "a"], "w")
    arrays, report = _read([record])
    # 100x50 -> scale 0.64, 64x32 content, 16 rows of padding on top.
    s, top = 0.64, 16
    want = [
        [10 * s / 64, (5 * s + top) / 64, 60 * s / 64, (45 * s + top) / 64],
        [0, top / 64, 1, (32 + top) / 64],
    ]
    np.testing.assert_allclose(arrays["boxes"][0, :2], want, atol=1e-6)
    assert arrays["boxes"][0, 2:].tolist() == [[0] * 4] * 2
    assert arrays["classes"][0].tolist() == [1, 0, -1, -1]
    assert arrays["images"].shape == (1, 64, 64, 3)
    assert arrays["images"].dtype == np.uint8
    assert arrays["images"][0, 0, 0].tolist() == [114, 114, 114]
    assert arrays["images"][0, 32, 32].tolist() == [200, 10, 10]
    assert (report.images, report.boxes) == (1, 2)
    assert report.summary("train") == "train: 1 images, 2 boxes"


def test_normalized_boxes_scale_by_the_decoded_size(tmp_path):
    file = _image(tmp_path / "w.png", 100, 50)
    record = Record(file, [(0.1, 0.2, 0.5, 0.6)], ["a"], "w", normalized=True)
    arrays, _ = _read([record], image_size=100)
    np.testing.assert_allclose(
        arrays["boxes"][0, 0], [0.1, 0.35, 0.5, 0.55], atol=1e-6
    )


def test_bad_boxes_are_clipped_dropped_truncated_and_counted(tmp_path):
    file = _image(tmp_path / "x.png", 20, 20)
    boxes = [
        (-5, 2, 10, 10),  # negative: clipped
        (15, 15, 30, 30),  # out of the image: clipped
        (3, 3, 3, 9),  # zero width: dropped
        (12, 12, 8, 15),  # reversed: dropped
        (25, 25, 40, 40),  # entirely outside: clipped, then dropped
        (1, 1, 5, 5),
        (2, 2, 6, 6),  # beyond max_boxes=3: truncated
    ]
    record = Record(file, boxes, ["a"] * 7, "x", difficult=[True] + [0] * 6)
    arrays, report = _read([record], image_size=20, max_boxes=3)
    assert report.clipped_boxes == 3
    assert report.dropped_boxes == 3
    assert report.truncated_boxes == 1
    assert report.boxes == 3
    assert report.difficult_boxes == 1
    np.testing.assert_allclose(
        arrays["boxes"][0],
        [[0, 0.1, 0.5, 0.5], [0.75, 0.75, 1, 1], [0.05, 0.05, 0.25, 0.25]],
    )
    summary = report.summary("val")
    assert summary.startswith("val: 1 images, 3 boxes (3 boxes clipped")
    assert "3 zero-area boxes dropped" in summary
    assert "1 boxes over max_boxes dropped" in summary
    assert "1 difficult boxes kept" in summary


def test_corrupt_image_is_skipped_or_raised_with_strict(tmp_path):
    good = Record(_image(tmp_path / "ok.png", 8, 8), [], [], "ok")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    bad = Record(tmp_path / "bad.jpg", [(1, 1, 2, 2)], ["a"], "bad")
    arrays, report = _read([good, bad])
    assert len(arrays["images"]) == 1
    assert report.skipped_images == [str(tmp_path / "bad.jpg")]
    assert "1 unreadable images skipped" in report.summary("x")
    with pytest.raises(ImageReadError, match="bad.jpg: not a readable"):
        _read([good, bad], strict=True)
    with pytest.raises(DataError, match="src: no readable images"):
        _read([bad], source="src")


@pytest.mark.parametrize(
    "record, match",
    [
        (
            Record("x.png", [(0, 0, 1, 1)], ["zebra"], "f", ["f:7"]),
            r"^f:7: unknown class 'zebra' \(expected one of a, b\)$",
        ),
        (
            Record("x.png", [(0, 0, 1, 1)], ["zebra"], "f.xml"),
            "^f.xml: unknown class 'zebra'",
        ),
        (
            Record("x.png", [(0, float("nan"), 1, 1)], ["a"], "f", ["f:3"]),
            "^f:3: expected 4 finite box coordinates",
        ),
        (Record("x.png", [(0, 0, 1)], ["a"], "f"), "^f: expected 4 finite"),
        (Record("x.png", [(0, 0, 1, 1)], [], "f"), "^f: 1 boxes but 0"),
    ],
)
def test_labels_and_boxes_are_checked_before_decoding(record, match):
    # x.png does not exist: the check fails before any image is read.
    with pytest.raises(DataError, match=match):
        _read([record])


def test_class_names_must_be_unique_and_records_present():
    with pytest.raises(DataError, match="'a' appears twice"):
        _read([], names=["a", "a"])
    with pytest.raises(DataError, match="ds: no images"):
        _read([], source="ds")


def test_paths_may_not_leave_the_root(tmp_path):
    assert resolve_inside(tmp_path, "a/b.jpg", "w") == tmp_path / "a/b.jpg"
    assert resolve_inside(tmp_path, "a/../b.jpg", "w") == tmp_path / "b.jpg"
    for name in ("../x.jpg", "a/../../x.jpg", "/etc/passwd"):
        with pytest.raises(DataError, match="w: path .* leaves the dataset"):
            resolve_inside(tmp_path, name, "w")
