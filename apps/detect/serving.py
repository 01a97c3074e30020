"""The detector's SavedModel: bytes in, final detections out.

Signatures:
- `serving_default(images: string[batch])`: encoded JPEG/PNG/BMP/GIF
  bytes; each image is decoded, letterboxed, run through the detector,
  decoded, NMS'd, and its boxes mapped back to the input's pixels. Returns
  `boxes (batch, max_detections, 4)` pixel xyxy, `scores`, `classes`
  (int32, -1 padded) and `num_detections`.
- `detect_float(pixels: float32[batch, S, S, 3])`: pixels in [0, 255] at
  the training size; boxes are normalized xyxy. This is the signature to
  convert to TFLite or ONNX.
Class names are in `assets.extra/labels.txt`, one per line (the TensorFlow
Serving convention for extra files).
"""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from pipelines.images import tf_decode_image
from pipelines.letterbox import letterbox
from pipelines.letterbox import unletterbox_boxes


def write_saved_model(
    model: keras.Model, path: Path, *, image_size: int, labels: list[str]
) -> None:
    """Writes the SavedModel of an inference model (see module docstring)."""
    size = image_size
    max_det = model.output["boxes"].shape[1]

    def detect(pixels):
        # oneDNN's batch norm rejects an empty batch: answer it directly.
        def empty():
            return {
                "boxes": tf.zeros((0, max_det, 4)),
                "scores": tf.zeros((0, max_det)),
                "classes": tf.zeros((0, max_det), tf.int32),
                "num_detections": tf.zeros((0,), tf.int32),
            }

        return tf.cond(
            tf.shape(pixels)[0] > 0,
            lambda: dict(model(pixels, training=False)),
            empty,
        )

    def preprocess(encoded):
        image = tf_decode_image(encoded, channels=3)
        square, scale, offset = letterbox(image, size)
        hw = tf.cast(tf.shape(image)[:2], tf.float32)
        return square, tf.concat([[scale], offset, hw], axis=0)

    def serve_bytes(images):
        squares, meta = tf.map_fn(
            preprocess,
            images,
            fn_output_signature=(
                tf.TensorSpec((size, size, 3), tf.float32),
                tf.TensorSpec((5,), tf.float32),
            ),
        )
        out = detect(squares)

        def to_pixels(args):
            boxes, m = args
            return unletterbox_boxes(boxes, size, m[0], m[1:3], m[3:5])

        pixels = tf.map_fn(
            to_pixels,
            (out["boxes"], meta),
            fn_output_signature=tf.TensorSpec((None, 4), tf.float32),
        )
        valid = tf.cast(out["classes"] >= 0, tf.float32)[..., None]
        return {
            "boxes": pixels * valid,
            "scores": out["scores"],
            "classes": out["classes"],
            "num_detections": out["num_detections"],
        }

    def serve_float(pixels):
        # Restored signatures do not check shapes: a rank-3 tensor reached
        # the convolution and aborted the process (found by the fuzz test).
        pixels = tf.ensure_shape(pixels, (None, size, size, 3))
        return detect(pixels)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        serve_bytes,
        input_signature=[tf.TensorSpec((None,), tf.string, name="images")],
    )
    archive.add_endpoint(
        "detect_float",
        serve_float,
        input_signature=[
            tf.TensorSpec((None, size, size, 3), tf.float32, name="pixels")
        ],
    )
    archive.write_out(str(path), verbose=False)
    extra = Path(path) / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / "labels.txt").write_text("\n".join(labels) + "\n")


def reference_outputs(
    model: keras.Model, images: list[np.ndarray], *, image_size: int
) -> dict[str, np.ndarray]:
    """What `serving_default` must return, computed in this process."""
    results = {"boxes": [], "scores": [], "classes": [], "num_detections": []}
    for image in images:
        square, scale, offset = letterbox(image, image_size)
        out = model(square[None], training=False)
        pixels = unletterbox_boxes(
            out["boxes"][0], image_size, scale, offset, image.shape[:2]
        )
        valid = tf.cast(out["classes"][0] >= 0, tf.float32)[:, None]
        results["boxes"].append((pixels * valid).numpy())
        results["scores"].append(out["scores"][0].numpy())
        results["classes"].append(out["classes"][0].numpy())
        results["num_detections"].append(out["num_detections"][0].numpy())
    return {k: np.stack(v) for k, v in results.items()}
