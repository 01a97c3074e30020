"""Pascal VOC XML: devkit and flat layouts, 1-based boxes, named errors."""

import numpy as np
import pytest
from PIL import Image

from pipelines.datasets.voc import parse_voc_xml
from pipelines.datasets.voc import read_voc
from pipelines.errors import DataError
from pipelines.images import ImageReadError


def _obj(name, box, difficult=0):
    x0, y0, x1, y1 = box
    return (
        f"  <object>\n    <name>{name}</name>\n"
        f"    <difficult>{difficult}</difficult>\n"
        f"    <bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
        f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox>\n  </object>\n"
    )


def _xml(filename, *objects):
    return (
        f"<annotation>\n  <filename>{filename}</filename>\n"
        "  <size><width>100</width><height>50</height></size>\n"
        + "".join(objects)
        + "</annotation>\n"
    )


def _devkit(tmp_path, annotations, splits):
    """`annotations`: {id: xml text}; one 100x50 JPEG per id."""
    root = tmp_path / "voc"
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True)
    for stem, text in annotations.items():
        Image.new("RGB", (100, 50)).save(root / "JPEGImages" / f"{stem}.jpg")
        (root / "Annotations" / f"{stem}.xml").write_text(text)
    for split, ids in splits.items():
        (root / "ImageSets/Main" / f"{split}.txt").write_text(
            "\n".join(ids) + "\n"
        )
    return root


def _read(root, split=None, **kwargs):
    kwargs.setdefault("image_size", 100)
    kwargs.setdefault("max_boxes", 4)
    return read_voc(root, split, progress=False, **kwargs)


def test_devkit_split_boxes_are_one_based_inclusive(tmp_path):
    root = _devkit(
        tmp_path,
        {
            "a": _xml("a.jpg", _obj("dog", (11, 21, 50, 40))),
            "b": _xml("b.jpg", _obj("cat", (1, 1, 100, 50))),
            "c": _xml("c.jpg", _obj("cat", (1, 1, 2, 2))),
        },
        {"train": ["b", "a"], "test": ["c"]},
    )
    arrays, names, report = _read(root, "train", class_names=["cat", "dog"])
    assert names == ["cat", "dog"]
    assert (report.images, report.boxes, report.clipped_boxes) == (2, 2, 0)
    # 100x50 on a 100 square: scale 1, 25 rows of padding on top.
    np.testing.assert_allclose(
        arrays["boxes"][:, 0],
        [[0, 0.25, 1, 0.75], [0.10, 0.45, 0.50, 0.65]],
        atol=1e-6,
    )
    assert arrays["classes"][:, 0].tolist() == [0, 1]
    # Without class names: the sorted names found in the split.
    _, names, _ = _read(root, "test")
    assert names == ["cat"]


def test_zero_area_and_reversed_boxes_are_dropped_and_counted(tmp_path):
    objects = [
        _obj("cat", (504, 337, 504, 337)),  # BCCD's zero-area click
        _obj("cat", (30, 10, 20, 40)),  # reversed
        _obj("cat", (0, 0, 10, 10)),  # 0-based tools: -1 gets clipped
        _obj("cat", (90, 40, 120, 60)),  # past the image: clipped
    ]
    root = _devkit(tmp_path, {"a": _xml("a.jpg", *objects)}, {})
    arrays, _, report = _read(root)
    assert report.dropped_boxes == 2  # the first is also clipped
    assert report.clipped_boxes == 3
    assert report.boxes == 2
    np.testing.assert_allclose(
        arrays["boxes"][0, :2],
        [[0, 0.25, 0.10, 0.35], [0.89, 0.64, 1.0, 0.75]],
        atol=1e-6,
    )


def test_difficult_objects_are_kept_and_counted_or_dropped(tmp_path):
    objects = [_obj("cat", (1, 1, 9, 9), 1), _obj("dog", (1, 1, 9, 9))]
    root = _devkit(tmp_path, {"a": _xml("a.jpg", *objects)}, {})
    arrays, _, report = _read(root)
    assert report.difficult_boxes == 1 and report.boxes == 2
    assert "1 difficult boxes kept" in report.summary("train")
    arrays, names, report = _read(root, drop_difficult=True)
    assert report.dropped_difficult == 1 and report.boxes == 1
    assert arrays["classes"][0, :2].tolist() == [1, -1]
    assert names == ["cat", "dog"]


def test_flat_layout_with_csv_split_like_raccoon(tmp_path):
    root = tmp_path / "raccoon"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    (root / "splits").mkdir()
    for i in (1, 2, 3):
        Image.new("RGB", (100, 50)).save(root / "images" / f"r-{i}.jpg")
        (root / "annotations" / f"r-{i}.xml").write_text(
            _xml(f"r-{i}.jpg", _obj("raccoon", (i, 1, 50, 50)))
        )
    (root / "splits" / "train.csv").write_text(
        "filename,width,height,class,xmin,ymin,xmax,ymax\n"
        "r-3.jpg,100,50,raccoon,3,1,50,50\n"
        "r-1.jpg,100,50,raccoon,1,1,50,50\n"
        "r-3.jpg,100,50,raccoon,3,1,50,50\n"
    )
    arrays, names, report = _read(root, "splits/train.csv")
    assert names == ["raccoon"] and report.images == 2
    np.testing.assert_allclose(arrays["boxes"][:, 0, 0], [0.02, 0.0])
    _, _, report = _read(root)
    assert report.images == 3


def test_flat_layout_side_by_side_with_txt_split(tmp_path):
    Image.new("RGB", (100, 50)).save(tmp_path / "a.png")
    (tmp_path / "a.xml").write_text(_xml("a", _obj("x", (1, 1, 5, 5))))
    (tmp_path / "b.xml").write_text(_xml("b.jpg", _obj("x", (1, 1, 5, 5))))
    (tmp_path / "b.jpg").write_bytes(b"broken")
    (tmp_path / "list.txt").write_text("# ids\na\n")
    _, _, report = _read(tmp_path, "list.txt", layout="flat")
    assert report.images == 1 and not report.skipped_images
    _, _, report = _read(tmp_path)
    assert report.skipped_images == [str(tmp_path / "b.jpg")]
    with pytest.raises(ImageReadError, match="b.jpg"):
        _read(tmp_path, strict=True)


def test_malformed_xml_names_file_and_line(tmp_path):
    text = _xml("a.jpg", _obj("cat", (1, 1, 5, 5))).replace(
        "</name>", "</nam>", 1
    )
    root = _devkit(tmp_path, {"a": text}, {})
    with pytest.raises(DataError, match=r"a\.xml:5: malformed XML") as err:
        _read(root)
    assert "(mismatched tag, column 16)" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "obj, match",
    [
        (
            "<object><name>cat</name></object>",
            r"a\.xml:9: object\[1\]: missing <bndbox>$",
        ),
        (
            "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
            "<xmax>4</xmax></bndbox></object>",
            r"a\.xml:9: object\[1\]: missing <bndbox>/<ymax>$",
        ),
        (
            "<object><bndbox/></object>",
            r"a\.xml:9: object\[1\]: missing <name>$",
        ),
        (
            "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
            "<xmax>4</xmax>\n<ymax>four</ymax></bndbox></object>",
            r"a\.xml:10: object\[1\]: <ymax> expected a number, .*'four'",
        ),
        (
            _obj("zebra", (1, 1, 4, 4)),
            r"a\.xml:9: object\[1\]: unknown class 'zebra' "
            r"\(expected one of cat, dog\)$",
        ),
    ],
)
def test_bad_objects_name_file_line_and_index(tmp_path, obj, match):
    root = _devkit(
        tmp_path, {"a": _xml("a.jpg", _obj("cat", (1, 1, 4, 4)), obj)}, {}
    )
    with pytest.raises(DataError, match=match):
        _read(root, class_names=["cat", "dog"])


def test_entities_are_refused(tmp_path):
    path = tmp_path / "a.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE a [\n<!ENTITY x "xxxxxxxx">\n]>\n'
        "<annotation><filename>&x;</filename></annotation>\n"
    )
    with pytest.raises(DataError, match=r"a\.xml:3: XML entity decl"):
        parse_voc_xml(path)
    path.write_text("<not_voc/>")
    with pytest.raises(DataError, match="expected <annotation> at the top"):
        parse_voc_xml(path)


def test_paths_from_annotations_may_not_leave_the_dataset(tmp_path):
    root = _devkit(
        tmp_path, {"a": _xml("../../secret.jpg")}, {"train": ["../a"]}
    )
    with pytest.raises(DataError, match="leaves the dataset folder"):
        _read(root)
    with pytest.raises(DataError, match=r"train\.txt: path '\.\./a\.xml' "):
        _read(root, "train")


def test_missing_split_and_missing_annotation(tmp_path):
    root = _devkit(
        tmp_path, {"a": _xml("a.jpg")}, {"train": ["a"], "test": ["zz"]}
    )
    with pytest.raises(DataError, match=r"'val' .* has: test, train\)"):
        _read(root, "val")
    with pytest.raises(DataError, match=r"test\.txt: 'zz' has no annot"):
        _read(root, "test")
    with pytest.raises(DataError, match="VOC dataset folder not found"):
        _read(tmp_path / "nowhere")
