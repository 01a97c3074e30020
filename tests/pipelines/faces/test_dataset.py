"""Face arrays, P x K identity batches, eval and classification datasets."""

import numpy as np
import pytest
import tensorflow as tf

from pipelines.datasets.spec import default_data_root
from pipelines.errors import DataError
from pipelines.faces.dataset import augment_face_batch
from pipelines.faces.dataset import build_classification_dataset
from pipelines.faces.dataset import build_eval_dataset
from pipelines.faces.dataset import build_identity_batches
from pipelines.faces.dataset import load_face_arrays
from pipelines.faces.dataset import load_face_image
from pipelines.faces.folders import read_faces
from pipelines.faces.index import FaceIndex
from pipelines.faces.prepare import prepare_faces
from pipelines.faces.tfds_lfw import lfw_examples_to_arrays
from pipelines.faces.tfds_lfw import load_tfds_lfw
from pipelines.images import ImageReadError
from pipelines.images import decode_image_file
from pipelines.synthetic.faces import make_synthetic_faces
from pipelines.synthetic.faces import write_synthetic_faces


def _orl_subjects(count):
    root = default_data_root()
    if root is None or not (root / "att_faces").is_dir():
        pytest.skip("att_faces not in the shared data folder")
    return read_faces(root / "att_faces", verify=False).subset(range(count))


def _distinct_images(counts, size=8):
    """uint8 images whose first pixel is a unique serial number."""
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.int32)
    images = np.zeros((len(labels), size, size, 1), np.uint8)
    images[:, 0, 0, 0] = np.arange(len(labels))
    images[:, 1:, :, 0] = (labels * 20)[:, None, None]
    return images, labels


def _batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_orl_arrays_match_the_export_preprocessing():
    index = _orl_subjects(2)
    images = load_face_arrays(index, image_size=32, channels=1)
    assert images.shape == (20, 32, 32, 1) and images.dtype == np.uint8
    expected = prepare_faces(
        [decode_image_file(p) for p in index.paths[:3]], 32, 1
    )
    np.testing.assert_array_equal(images[:3], expected)
    # Different people differ; the arrays are not blank.
    assert 40 < images.mean() < 220
    assert np.abs(images[0].astype(int) - images[10]).mean() > 10


def test_load_face_image_reads_pgm_inside_tf_data():
    index = _orl_subjects(1)
    ds = tf.data.Dataset.from_tensor_slices(list(index.paths[:2])).map(
        lambda p: load_face_image(p, image_size=16, channels=3),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    first = next(iter(ds))
    assert first.shape == (16, 16, 3) and first.dtype == tf.uint8
    # A grey photo stays grey in RGB.
    assert np.array_equal(first[..., 0], first[..., 2])


def test_arrays_from_a_written_folder_and_bad_files(tmp_path):
    write_synthetic_faces(tmp_path, 3, 2, image_size=24, channels=3)
    index = read_faces(tmp_path)
    images = load_face_arrays(index, image_size=24, channels=3)
    expected, labels = make_synthetic_faces(3, 2, image_size=24, channels=3)
    np.testing.assert_array_equal(images, expected)
    assert index.labels == tuple(labels)
    (tmp_path / "id_000" / "00.png").write_bytes(b"broken since indexed")
    with pytest.raises(ImageReadError, match=r"id_000/00\.png: not a read"):
        load_face_arrays(index, image_size=24, channels=3)
    empty = FaceIndex((), (), ())
    assert load_face_arrays(empty, image_size=8, channels=1).shape == (
        0,
        8,
        8,
        1,
    )


def test_identity_batches_are_p_by_k():
    images, labels = _distinct_images([5, 5, 6, 4, 5, 5])
    ds = build_identity_batches(
        images,
        labels,
        identities_per_batch=3,
        images_per_identity=4,
        augment=False,
        seed=0,
    )
    # 30 images // (3 * 4) = 2 steps by default.
    assert int(ds.cardinality()) == 2
    assert ds.element_spec[0].shape == (12, 8, 8, 1)
    for x, y in _batches(ds):
        assert x.dtype == np.float32 and y.dtype == np.int32
        blocks = y.reshape(3, 4)
        assert (blocks == blocks[:, :1]).all()
        assert len(set(blocks[:, 0])) == 3
        serial = np.rint(x[:, 0, 0, 0] * 255).astype(int)
        assert (labels[serial] == y).all()
        # Every identity has >= K images here: no repeats within a batch.
        assert len(set(serial)) == 12


def test_identity_batches_are_deterministic_and_change_per_epoch():
    images, labels = _distinct_images([3] * 8)
    kwargs = dict(
        identities_per_batch=4,
        images_per_identity=2,
        augment=True,
        seed=3,
        steps_per_epoch=5,
    )
    ds = build_identity_batches(images, labels, **kwargs)
    first, second = _batches(ds), _batches(ds)
    again = _batches(build_identity_batches(images, labels, **kwargs))
    assert len(first) == 5
    for (xa, ya), (xb, yb) in zip(first, again):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(xa, xb)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(first, second))
    other = _batches(
        build_identity_batches(images, labels, **{**kwargs, "seed": 4})
    )
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(first, other))


def test_small_identities_are_sampled_with_replacement():
    images, labels = _distinct_images([1, 2, 5])
    ds = build_identity_batches(
        images,
        labels,
        identities_per_batch=3,
        images_per_identity=4,
        augment=False,
        seed=1,
        steps_per_epoch=3,
    )
    for x, y in _batches(ds):
        blocks = y.reshape(3, 4)
        assert (blocks == blocks[:, :1]).all()
        serial = np.rint(x[:, 0, 0, 0] * 255).astype(int)
        assert (labels[serial] == y).all()
        by_label = {int(k): set(serial[y == k]) for k in np.unique(y)}
        assert by_label[0] == {0}
        assert by_label[1] <= {1, 2}
        assert len(by_label[2]) == 4 and (labels[list(by_label[2])] == 2).all()


def test_identity_batches_reject_bad_arguments():
    images, labels = _distinct_images([2, 2, 2])
    with pytest.raises(
        ValueError, match=r"identities_per_batch must be in 2\.\.3"
    ):
        build_identity_batches(
            images,
            labels,
            identities_per_batch=4,
            images_per_identity=2,
            augment=False,
            seed=0,
        )
    with pytest.raises(ValueError, match="images_per_identity must be"):
        build_identity_batches(
            images,
            labels,
            identities_per_batch=2,
            images_per_identity=1,
            augment=False,
            seed=0,
        )
    with pytest.raises(ValueError, match="images must be uint8"):
        build_eval_dataset(images.astype(np.float32), labels, batch_size=2)
    with pytest.raises(ValueError, match="labels must be 6 integers"):
        build_eval_dataset(images, labels[:5], batch_size=2)


def test_augment_varies_each_image_within_bounds():
    images, _ = make_synthetic_faces(1, 1, image_size=32, variation=0.0)
    batch = tf.repeat(tf.cast(images, tf.float32) / 255.0, 8, axis=0)
    out = augment_face_batch(batch, tf.constant([5, 6], tf.int64)).numpy()
    same = augment_face_batch(batch, tf.constant([5, 6], tf.int64)).numpy()
    assert out.shape == (8, 32, 32, 1) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(out, same)
    # Each copy gets its own draw, yet stays close to the face.
    diffs = np.abs(out[1:] - out[:1]).mean(axis=(1, 2, 3))
    assert (diffs > 1e-3).all()
    original = batch.numpy()
    mirrored = original[:, :, ::-1]
    error = np.minimum(
        np.abs(out - original).mean(axis=(1, 2, 3)),
        np.abs(out - mirrored).mean(axis=(1, 2, 3)),
    )
    assert (error < 0.15).all()


def test_augment_flips_left_right_only():
    quadrant = np.zeros((16, 32, 32, 1), np.float32)
    quadrant[:, :16, :16] = 1.0  # top-left bright
    out = augment_face_batch(quadrant, tf.constant([1, 2], tf.int64)).numpy()
    top, bottom = out[:, :16].mean(axis=(1, 2, 3)), out[:, 16:].mean((1, 2, 3))
    assert (top > bottom + 0.2).all()
    left_bright = out[:, :, :16].mean((1, 2, 3)) > out[:, :, 16:].mean(
        (1, 2, 3)
    )
    assert 0 < left_bright.sum() < 16


def test_eval_dataset_keeps_order_and_values():
    images, labels = _distinct_images([3, 2])
    batches = _batches(build_eval_dataset(images, labels, batch_size=2))
    assert [len(y) for _, y in batches] == [2, 2, 1]
    x = np.concatenate([b[0] for b in batches])
    np.testing.assert_allclose(x, images / 255.0, atol=1e-7)
    assert np.concatenate([b[1] for b in batches]).tolist() == [0, 0, 0, 1, 1]


def test_classification_dataset_shuffles_whole_epochs():
    images, labels = _distinct_images([4, 3, 3])
    ds = build_classification_dataset(
        images, labels, batch_size=4, augment=False, seed=2
    )

    def epoch():
        batches = _batches(ds)
        x = np.concatenate([b[0] for b in batches])
        y = np.concatenate([b[1] for b in batches])
        return np.rint(x[:, 0, 0, 0] * 255).astype(int), y

    first_serial, first_labels = epoch()
    second_serial, _ = epoch()
    assert sorted(first_serial) == list(range(10))
    assert (labels[first_serial] == first_labels).all()
    assert first_serial.tolist() != second_serial.tolist()
    assert first_serial.tolist() != list(range(10))
    again = build_classification_dataset(
        images, labels, batch_size=4, augment=True, seed=2
    )
    x, y = next(iter(again))
    assert x.shape == (4, 8, 8, 1) and y.dtype == tf.int32
    assert float(tf.reduce_max(x)) <= 1.0


def _lfw_examples():
    """Hand-made examples with the tfds `lfw` feature names."""
    people = [b"Zoe_Ball", b"Ann_Lee", "Zoe_Ball", b"Bo_2", b"Bo_10"]
    return [
        {"image": np.full((250, 250, 3), 40 * i, np.uint8), "label": name}
        for i, name in enumerate(people)
    ]


def test_lfw_feature_names_match_the_tfds_builder(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    builder = tfds.builder("lfw", data_dir=str(tmp_path))
    features = builder.info.features
    assert set(features) == {"image", "label"}
    assert tuple(features["image"].shape) == (250, 250, 3)
    with pytest.raises(DataError, match="'lfw': not prepared"):
        load_tfds_lfw(data_dir=tmp_path, download=False)


def test_lfw_examples_to_arrays():
    images, labels, names = lfw_examples_to_arrays(_lfw_examples(), 16)
    assert names == ("Ann_Lee", "Bo_2", "Bo_10", "Zoe_Ball")
    assert images.shape == (5, 16, 16, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int32 and labels.tolist() == [0, 1, 2, 3, 3]
    # Identity-major, example order within a person: Zoe's are 0 then 2.
    assert images[:, 0, 0, 0].tolist() == [40, 120, 160, 0, 80]
    grey, labels, names = lfw_examples_to_arrays(
        _lfw_examples(), 8, channels=1, min_images=2
    )
    assert names == ("Zoe_Ball",) and grey.shape == (2, 8, 8, 1)
    one = {"image": np.zeros((30, 20, 1), np.uint8), "label": "Solo"}
    assert lfw_examples_to_arrays([one], 8)[0].shape == (1, 8, 8, 3)


def test_lfw_examples_errors():
    with pytest.raises(DataError, match=r"lfw\[0\]: expected keys"):
        lfw_examples_to_arrays([{"image": np.zeros((4, 4, 3), np.uint8)}], 8)
    bad = {"image": np.zeros((4, 4), np.uint8), "label": b"x"}
    with pytest.raises(DataError, match=r"lfw\[0\]: expected a uint8"):
        lfw_examples_to_arrays([bad], 8)
    with pytest.raises(DataError, match="no person with at least 3"):
        lfw_examples_to_arrays(_lfw_examples(), 8, min_images=3)
