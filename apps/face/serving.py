"""The face model's SavedModel: image bytes in, embeddings and decisions out.

Signatures (a server needs no Python from this repository):
- `serving_default` and `embed(images: string[batch])`: encoded
  JPEG/PNG/BMP/GIF bytes; each is decoded, centre-cropped, resized and
  converted like the training data (`pipelines.faces.prepare`), and
  embedded. Returns `embeddings (batch, D)`, unit L2 norm.
- `embed_uint8(pixels: uint8[batch, S, S, C])`: prepared faces.
- `verify(image1: string[batch], image2: string[batch])`: `distance`
  (squared L2), `cosine` (`1 - distance / 2`), `same` (distance <= the
  run's threshold) and, when the run was calibrated, `confidence` (the
  calibrated P(same | distance)).
The threshold and its source are in `assets.extra/verification.json`.
"""

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from apps.face.model import embed
from pipelines.faces.prepare import prepare_face
from pipelines.images import tf_decode_image


def write_saved_model(
    embedder: keras.Model,
    path: Path,
    *,
    image_size: int,
    channels: int,
    threshold: float,
    calibrator: dict | None,
    info: dict,
    flip_tta: bool = False,
) -> None:
    """Writes the SavedModel of an embedder (see the module docstring).

    Args:
        embedder: `(batch, S, S, C)` pixels in [0, 1] -> embeddings.
        path: the folder to write.
        image_size: S.
        channels: C.
        threshold: squared-distance threshold of `verify`.
        calibrator: `{"intercept", "slope"}` of `P(same | d) =
            sigmoid(intercept + slope d)`, or None (then `verify` has no
            `confidence`).
        info: written to `assets.extra/verification.json`.
        flip_tta: add the mirrored face's embedding (`model.embed`).
    """
    size = image_size
    dim = embedder.output.shape[-1]

    def embed_pixels(pixels):
        # oneDNN's batch norm rejects an empty batch: answer it directly.
        return tf.cond(
            tf.shape(pixels)[0] > 0,
            lambda: embed(
                embedder,
                tf.cast(pixels, tf.float32) / 255.0,
                flip_tta=flip_tta,
            ),
            lambda: tf.zeros((0, dim), tf.float32),
        )

    def decode(encoded):
        return prepare_face(
            tf_decode_image(encoded, channels=3), size, channels
        )

    def embed_bytes(images):
        pixels = tf.map_fn(
            decode,
            images,
            fn_output_signature=tf.TensorSpec((size, size, channels), tf.uint8),
        )
        return embed_pixels(pixels)

    def serve_embed(images):
        return {"embeddings": embed_bytes(images)}

    def serve_uint8(pixels):
        # Restored signatures do not check shapes: check them here.
        pixels = tf.ensure_shape(pixels, (None, size, size, channels))
        return {"embeddings": embed_pixels(pixels)}

    def serve_verify(image1, image2):
        tf.debugging.assert_equal(
            tf.shape(image1),
            tf.shape(image2),
            message="image1 and image2 must have the same batch size",
        )
        first, second = embed_bytes(image1), embed_bytes(image2)
        distance = tf.reduce_sum(tf.square(first - second), axis=-1)
        out = {
            "distance": distance,
            "cosine": 1.0 - distance / 2.0,
            "same": distance <= threshold,
        }
        if calibrator is not None:
            out["confidence"] = tf.sigmoid(
                calibrator["intercept"] + calibrator["slope"] * distance
            )
        return out

    strings = tf.TensorSpec((None,), tf.string)
    archive = keras.export.ExportArchive()
    archive.track(embedder)
    for name in ("serving_default", "embed"):
        archive.add_endpoint(
            name,
            serve_embed,
            input_signature=[tf.TensorSpec((None,), tf.string, name="images")],
        )
    archive.add_endpoint(
        "embed_uint8",
        serve_uint8,
        input_signature=[
            tf.TensorSpec((None, size, size, channels), tf.uint8, name="pixels")
        ],
    )
    archive.add_endpoint(
        "verify",
        serve_verify,
        input_signature=[
            tf.TensorSpec.from_spec(strings, name="image1"),
            tf.TensorSpec.from_spec(strings, name="image2"),
        ],
    )
    archive.write_out(str(path), verbose=False)
    extra = Path(path) / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / "verification.json").write_text(json.dumps(info, indent=2))


def reference_embeddings(
    embedder: keras.Model,
    images: list[np.ndarray],
    *,
    image_size,
    channels,
    flip_tta: bool = False,
) -> np.ndarray:
    """What `embed` must return for RGB uint8 images, in this process."""
    pixels = np.stack(
        [prepare_face(im, image_size, channels).numpy() for im in images]
    )
    pixels = pixels.astype(np.float32) / 255.0
    return keras.ops.convert_to_numpy(
        embed(embedder, pixels, flip_tta=flip_tta)
    )
