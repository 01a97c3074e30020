"""tensorflow-datasets detection examples, converted without downloads."""

import numpy as np
import pytest
import tensorflow as tf

from pipelines.datasets import tfds_source
from pipelines.datasets.records import ReadReport
from pipelines.datasets.tfds_source import example_to_sample
from pipelines.datasets.tfds_source import examples_to_arrays
from pipelines.datasets.tfds_source import load_tfds_split
from pipelines.errors import DataError


def _example(bbox, label, height=50, width=100, **flags):
    objects = {
        "bbox": np.array(bbox, np.float32).reshape(-1, 4),
        "label": np.array(label, np.int64),
    }
    objects.update({k: np.array(v, bool) for k, v in flags.items()})
    image = np.full((height, width, 3), 7, np.uint8)
    return {"image": image, "objects": objects}


def test_bbox_is_normalized_ymin_xmin_ymax_xmax():
    report = ReadReport()
    # (ymin, xmin, ymax, xmax) of a 100x50 image: x 10..50, y 10..40 px.
    example = _example([[0.2, 0.1, 0.8, 0.5]], [2])
    square, boxes, classes = example_to_sample(
        example, num_classes=3, image_size=100, max_boxes=2, report=report
    )
    # On the 100 square: 25 rows of padding on top.
    np.testing.assert_allclose(boxes[0], [0.1, 0.35, 0.5, 0.65], atol=1e-6)
    assert classes.tolist() == [2, -1]
    assert square.shape == (100, 100, 3) and square.dtype == np.uint8
    assert (report.images, report.boxes) == (1, 1)


def test_crowds_skipped_difficult_counted_grey_expanded():
    report = ReadReport()
    coco = _example(
        [[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]], [0, 1], is_crowd=[True, False]
    )
    voc = _example([[0, 0, 0.5, 0.5]], [1], is_difficult=[True])
    voc["image"] = voc["image"][..., :1]
    arrays, names, report = examples_to_arrays(
        [coco, voc], ["a", "b"], image_size=32, max_boxes=2
    )
    assert names == ["a", "b"]
    assert arrays["classes"].tolist() == [[1, -1], [1, -1]]
    assert (report.crowd_boxes, report.difficult_boxes) == (1, 1)
    assert arrays["images"].shape == (2, 32, 32, 3)


@pytest.mark.parametrize(
    "example, match",
    [
        (_example([[0, 0, 1, 1]], [3]), r"ex\[0\]: label out of range 0\.\.2"),
        (_example([[0, 0, 1, 1]], [0, 1]), r"ex\[0\]: 1 boxes but 2 labels"),
        (
            {"image": np.zeros((4, 4), np.uint8), "objects": {}},
            r"ex\[0\]: unexpected image shape",
        ),
    ],
)
def test_bad_examples_are_named(example, match):
    with pytest.raises(DataError, match=match):
        examples_to_arrays(
            [example], ["a", "b", "c"], image_size=32, max_boxes=2, desc="ex"
        )
    with pytest.raises(DataError, match="no readable images"):
        examples_to_arrays([], ["a"], image_size=32, max_boxes=2)


class _FakeBuilder:
    """What `load_tfds_split` uses of a tfds builder."""

    def __init__(self, prepared):
        label = type("Label", (), {"names": ["cat", "dog"]})()
        info = type("Info", (), {"features": {"objects": {"label": label}}})
        self.info, self.prepared, self.data_dir = info, prepared, "/fake"

    def is_prepared(self):
        return self.prepared

    def as_dataset(self, split, shuffle_files):
        assert (split, shuffle_files) == ("validation", False)
        examples = [_example([[0, 0, 0.5, 0.5]], [1]) for _ in range(3)]
        return tf.data.Dataset.from_generator(
            lambda: iter(examples),
            output_signature={
                "image": tf.TensorSpec((None, None, 3), tf.uint8),
                "objects": {
                    "bbox": tf.TensorSpec((None, 4), tf.float32),
                    "label": tf.TensorSpec((None,), tf.int64),
                },
            },
        )


def test_load_split_through_a_fake_builder(monkeypatch):
    monkeypatch.setattr(
        tfds_source, "_builder", lambda name, data_dir: _FakeBuilder(True)
    )
    arrays, names, report = load_tfds_split(
        "voc/2007", "validation", image_size=32, max_boxes=2
    )
    assert names == ["cat", "dog"] and report.images == 3
    np.testing.assert_allclose(arrays["boxes"][0, 0], [0, 0.25, 0.5, 0.5])
    monkeypatch.setattr(
        tfds_source, "_builder", lambda name, data_dir: _FakeBuilder(False)
    )
    with pytest.raises(DataError, match="'voc/2007': not prepared in /fake"):
        load_tfds_split("voc/2007", "validation", image_size=32, max_boxes=2)


def test_real_builder_without_download_is_a_data_error(tmp_path):
    # The voc builder is defined in code: no network, nothing prepared.
    with pytest.raises(DataError, match="'voc/2007': not prepared in"):
        load_tfds_split(
            "voc/2007",
            "validation",
            image_size=32,
            max_boxes=2,
            data_dir=tmp_path,
        )
    with pytest.raises(DataError, match="'no_such_set': no such dataset"):
        tfds_source.tfds_class_names("no_such_set")
