"""Dataset YAMLs: roots, $DLSUITE_DATA, per-format splits, real data."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.datasets.spec import default_data_root
from pipelines.datasets.spec import load_dataset_split
from pipelines.datasets.spec import read_dataset_spec
from pipelines.datasets.voc import read_split_file
from pipelines.errors import DataError

ROOT = Path(__file__).resolve().parents[3]
DATASETS = ROOT / "apps" / "detect" / "configs" / "datasets"


def _yaml(tmp_path, text, name="data.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _voc(root):
    (root / "ann").mkdir(parents=True)
    (root / "img").mkdir()
    Image.new("RGB", (40, 40)).save(root / "img" / "a.png")
    (root / "ann" / "a.xml").write_text(
        "<annotation><filename>a.png</filename><object><name>b</name>"
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>20</xmax><ymax>40</ymax>"
        "</bndbox></object></annotation>"
    )
    (root / "train.txt").write_text("a\n")


def _load(path, split="train", max_boxes=2):
    return load_dataset_split(
        path, split, image_size=32, max_boxes=max_boxes, progress=False
    )


def test_voc_flat_with_names_dict_and_relative_path(tmp_path):
    _voc(tmp_path / "sets" / "mini")
    path = _yaml(
        tmp_path / "sets",
        "path: mini\nformat: voc\nlayout: flat\nimages: img\n"
        "annotations: ann\ntrain: train.txt\nval: train.txt\n"
        "names: {1: b, 0: a}\nnc: 2\n",
    )
    spec = read_dataset_spec(path)
    assert spec.root == tmp_path / "sets" / "mini"
    assert spec.names == ["a", "b"] and list(spec.splits) == ["train", "val"]
    arrays, names, report = _load(path)
    assert names == ["a", "b"] and report.boxes == 1
    np.testing.assert_allclose(arrays["boxes"][0, 0], [0, 0, 0.5, 1])
    assert arrays["classes"][0].tolist() == [1, -1]


def test_data_root_variable(tmp_path, monkeypatch):
    _voc(tmp_path / "shared" / "mini")
    text = (
        "format: voc\nannotations: ann\nimages: img\ntrain: train.txt\n"
        "names: [a, b]\n"
    )
    braces = _yaml(tmp_path, "path: ${DLSUITE_DATA}/mini\n" + text, "1.yaml")
    plain = _yaml(tmp_path, "path: $DLSUITE_DATA/mini\n" + text, "2.yaml")
    # The argument wins over the environment.
    monkeypatch.setenv("DLSUITE_DATA", str(tmp_path / "elsewhere"))
    spec = read_dataset_spec(braces, data_root=tmp_path / "shared")
    assert spec.root == tmp_path / "shared" / "mini"
    monkeypatch.setenv("DLSUITE_DATA", str(tmp_path / "shared"))
    assert default_data_root() == tmp_path / "shared"
    _, _, report = _load(plain)
    assert report.images == 1
    # Unset: <repo>/../shared/data when it exists.
    monkeypatch.delenv("DLSUITE_DATA")
    shared = ROOT.parent / "shared" / "data"
    assert default_data_root() == (shared if shared.is_dir() else None)


@pytest.mark.parametrize("fmt", ["coco", "manifest", "yolo"])
def test_other_formats(tmp_path, fmt):
    (tmp_path / "images" / "t").mkdir(parents=True)
    Image.new("RGB", (40, 20)).save(tmp_path / "images" / "t" / "a.png")
    if fmt == "coco":
        (tmp_path / "c.json").write_text(
            json.dumps(
                {
                    "images": [{"id": 1, "file_name": "a.png"}],
                    "annotations": [
                        {
                            "image_id": 1,
                            "category_id": 3,
                            "bbox": [0, 0, 20, 20],
                        }
                    ],
                    "categories": [{"id": 3, "name": "b"}],
                }
            )
        )
        entry = "{annotations: c.json, images: images/t}"
    elif fmt == "manifest":
        (tmp_path / "m.json").write_text(
            json.dumps(
                {
                    "classes": ["a", "b"],
                    "images": [
                        {
                            "file": "images/t/a.png",
                            "boxes": [[0, 0, 20, 20]],
                            "classes": ["b"],
                        }
                    ],
                }
            )
        )
        entry = "m.json"
    else:
        (tmp_path / "labels" / "t").mkdir(parents=True)
        (tmp_path / "labels" / "t" / "a.txt").write_text("1 0.25 0.5 0.5 1\n")
        entry = "[images/t]"
    path = _yaml(tmp_path, f"format: {fmt}\ntrain: {entry}\nnames: [a, b]\n")
    arrays, names, report = _load(path)
    assert names == ["a", "b"] and report.boxes == 1
    np.testing.assert_allclose(
        arrays["boxes"][0, 0], [0, 0.25, 0.5, 0.75], atol=1e-6
    )
    assert arrays["classes"][0].tolist() == [1, -1]


@pytest.mark.parametrize(
    "text, match",
    [
        ("names: [a\ntrain: x\n", r"data\.yaml:2: not valid YAML"),
        ("- a\n", "expected a mapping"),
        ("format: vox\nnames: [a]\n", r":1: format expected one of voc"),
        (
            "format: voc\nnames: [a]\nlayuot: flat\n",
            r"data\.yaml:3: unknown key 'layuot' .*did you mean 'layout'",
        ),
        ("format: coco\ntrain: x\n", "missing 'names'"),
        ("names: [a, a]\n", "'a' appears twice"),
        ("names: {0: a, 2: b}\n", r"names expected ids 0\.\.1"),
        ("names: [a]\nnc: 2\n", r"data\.yaml:2: nc is 2 but names has 1"),
        ("format: voc\nlayout: x\nnames: [a]\n", ":2: layout expected"),
        ("path: $NOT_SET_ANYWHERE_X/d\nnames: [a]\n", "unset environment"),
    ],
)
def test_bad_yaml_names_file_and_line(tmp_path, text, match):
    with pytest.raises(DataError, match=match) as err:
        read_dataset_spec(_yaml(tmp_path, text))
    assert "data.yaml" in str(err.value)


def test_missing_split_and_folder(tmp_path):
    path = _yaml(tmp_path, "path: nowhere\ntrain: x\ntest:\nnames: [a]\n")
    with pytest.raises(DataError, match=r"no 'val' entry \(splits listed: "):
        _load(path, "val")
    with pytest.raises(DataError, match="dataset folder .*nowhere not found"):
        _load(path, "train")
    with pytest.raises(DataError, match="dataset YAML not found"):
        _load(tmp_path / "none.yaml")


def _real(name):
    data = default_data_root()
    if data is None or not (data / name).is_dir():
        pytest.skip(f"shared dataset {name} not found")
    return DATASETS / f"{name}.yaml"


def test_bccd_official_splits_match_the_readme():
    path = _real("bccd")
    counts = {}
    per_class = np.zeros(3, int)
    for split in ("train", "val", "test"):
        arrays, names, report = _load(path, split, max_boxes=32)
        assert arrays["images"].shape[1:] == (32, 32, 3)
        counts[split] = (report.images, report.boxes, report.dropped_boxes)
        assert not report.skipped_images and not report.truncated_boxes
        assert report.clipped_boxes == 0
        valid = arrays["classes"][arrays["classes"] >= 0]
        per_class += np.bincount(valid, minlength=3)
    assert names == ["RBC", "WBC", "Platelets"]
    # README: trainval 292 (train 205 + val 87), test 72; 364 images,
    # 4,888 boxes, of which two zero-area RBC boxes are dropped.
    assert counts == {
        "train": (205, 2804, 1),
        "val": (87, 1137, 1),
        "test": (72, 945, 0),
    }
    assert sum(c[1] + c[2] for c in counts.values()) == 4888
    assert per_class.tolist() == [4155 - 2, 372, 361]
    main = read_dataset_spec(path).root / "ImageSets" / "Main"
    ids = {s: set(read_split_file(main / f"{s}.txt")) for s in counts}
    assert set(read_split_file(main / "trainval.txt")) == (
        ids["train"] | ids["val"]
    )
    assert not (ids["train"] | ids["val"]) & ids["test"]


def test_raccoon_csv_split_matches_the_readme():
    path = _real("raccoon")
    spec = read_dataset_spec(path)
    assert spec.splits["val"] == spec.splits["test"]
    counts = {}
    for split in ("train", "test"):
        arrays, names, report = _load(path, split, max_boxes=32)
        counts[split] = (report.images, report.boxes)
        assert report.summary(split) == (
            f"{split}: {report.images} images, {report.boxes} boxes"
        )
    assert names == ["raccoon"]
    # README: 160 train images / 173 boxes, 40 test images / 44 boxes.
    assert counts == {"train": (160, 173), "test": (40, 44)}


def test_data_root_variable_without_a_root(tmp_path, monkeypatch):
    import pipelines.datasets.spec as spec

    monkeypatch.delenv("DLSUITE_DATA", raising=False)
    monkeypatch.setattr(spec, "default_data_root", lambda: None)
    path = _yaml(tmp_path, "path: $DLSUITE_DATA/x\nnames: [a]\n")
    with pytest.raises(DataError, match=r"uses \$DLSUITE_DATA, which is not"):
        read_dataset_spec(path)
