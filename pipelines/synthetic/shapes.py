"""Synthetic "shapes" detection data: the embedded default dataset.

Each image holds a few filled circles, axis-aligned squares and triangles in
colours that stand out from a solid, gradient or noise-textured background.
Everything is drawn with numpy from pixel-centre coordinates (no
anti-aliasing, `pipelines.synthetic.shape_drawing`), so every box is the
exact tight bound of its object's visible pixels, and everything is
reproducible from the random generator (or seed) that is passed in.

Pixel boxes are `xyxy` with an exclusive upper edge: an object covering the
pixel columns `3..7` has `x_min = 3`, `x_max = 8`. Dividing by the image size
gives the project's normalized boxes.
"""

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipelines.synthetic.shape_drawing import draw_background
from pipelines.synthetic.shape_drawing import draw_shape_mask
from pipelines.synthetic.shape_drawing import pick_colour

SHAPE_CLASSES = ("circle", "square", "triangle")

_MAX_BOX_IOU = 0.5
_MIN_VISIBLE_FRACTION = 0.4
_MIN_OBJECT_PIXELS = 4.0
_ATTEMPTS_PER_OBJECT = 30


def _mask_box(x0, y0, mask):
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array(
        [x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1],
        dtype=np.float64,
    )


def _box_iou(box, boxes):
    if not len(boxes):
        return np.zeros(0)
    boxes = np.asarray(boxes)
    ix = np.clip(
        np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]),
        0,
        None,
    )
    iy = np.clip(
        np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]),
        0,
        None,
    )
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + areas - inter)


def generate_shapes_sample(
    rng: np.random.Generator,
    image_size: int,
    *,
    min_objects: int = 1,
    max_objects: int = 6,
    min_size_frac: float = 0.12,
    max_size_frac: float = 0.45,
    return_instances: bool = False,
) -> tuple[np.ndarray, ...]:
    """Draws one shapes image with its exact boxes.

    Objects may overlap, but a placement is rejected when its box IoU with an
    earlier box exceeds 0.5 or when it would leave an earlier object with
    less than 40% of its pixels visible. Each box is the tight bound of the
    object's visible pixels in the final image.

    Args:
        rng: the `numpy.random.Generator` that all randomness comes from.
        image_size: side of the square image, in pixels (at least 8).
        min_objects: fewest objects per image (at least 1).
        max_objects: most objects per image.
        min_size_frac: smallest object extent, as a fraction of `image_size`.
        max_size_frac: largest object extent, as a fraction of `image_size`.
        return_instances: also return the instance map.

    Returns:
        `(image, boxes, classes)`: a uint8 `(H, W, 3)` image, float32
        `(n, 4)` pixel `xyxy` boxes (exclusive upper edge) and int32 `(n,)`
        indices into `SHAPE_CLASSES`. With `return_instances=True` a fourth
        item, an int32 `(H, W)` map holding the row of `boxes` that owns each
        pixel, or -1 for background.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> image, boxes, classes = generate_shapes_sample(rng, 64)
    >>> image.shape, boxes.shape[1]
    ((64, 64, 3), 4)
    """
    if image_size < 8:
        raise ValueError(
            f"Expected image_size >= 8. Received: image_size={image_size}"
        )
    if not 1 <= min_objects <= max_objects:
        raise ValueError(
            "Expected 1 <= min_objects <= max_objects. Received: "
            f"min_objects={min_objects}, max_objects={max_objects}"
        )
    if not 0.0 < min_size_frac <= max_size_frac <= 1.0:
        raise ValueError(
            "Expected 0 < min_size_frac <= max_size_frac <= 1. Received: "
            f"min_size_frac={min_size_frac}, max_size_frac={max_size_frac}"
        )
    size = int(image_size)
    background, anchors = draw_background(rng, size)
    image = np.clip(np.rint(background), 0, 255).astype(np.uint8)
    owner = np.full((size, size), -1, dtype=np.int32)
    target = int(rng.integers(min_objects, max_objects + 1))
    min_extent = max(min_size_frac * size, _MIN_OBJECT_PIXELS)
    max_extent = max(max_size_frac * size, min_extent)

    boxes, classes, colours, drawn, visible = [], [], [], [], []
    while len(boxes) < target:
        placed = False
        # Required objects get more tries (and shrink towards the minimum
        # size) so that `min_objects` is met on crowded settings.
        attempts = _ATTEMPTS_PER_OBJECT * (3 if len(boxes) < min_objects else 1)
        for attempt in range(attempts):
            shrink = 1.0 - attempt / attempts
            hi = min_extent + (max_extent - min_extent) * shrink
            extent = rng.uniform(min_extent, hi)
            kind = int(rng.integers(len(SHAPE_CLASSES)))
            drawn_mask = draw_shape_mask(rng, kind, size, extent)
            if drawn_mask is None:
                continue
            x0, y0, mask = drawn_mask
            box = _mask_box(x0, y0, mask)
            if np.any(_box_iou(box, boxes) > _MAX_BOX_IOU):
                continue
            h, w = mask.shape
            window = owner[y0 : y0 + h, x0 : x0 + w]
            covered = window[mask]
            covered = covered[covered >= 0]
            if covered.size:
                lost = np.bincount(covered, minlength=len(boxes))
                left = np.asarray(visible) - lost
                if np.any(left < _MIN_VISIBLE_FRACTION * np.asarray(drawn)):
                    continue
                visible = list(left)
            neighbours = [
                colours[i] for i in np.flatnonzero(_box_iou(box, boxes) > 0.0)
            ]
            colour = pick_colour(rng, anchors, neighbours)
            index = len(boxes)
            window[mask] = index
            image[y0 : y0 + h, x0 : x0 + w][mask] = colour
            boxes.append(box)
            classes.append(kind)
            colours.append(colour)
            count = int(mask.sum())
            drawn.append(count)
            visible.append(count)
            placed = True
            break
        if not placed:
            break

    # Final boxes: tight bounds of what is still visible.
    final = np.zeros((len(boxes), 4), dtype=np.float32)
    for i, box in enumerate(boxes):
        x0, y0, x1, y1 = (int(v) for v in box)
        final[i] = _mask_box(x0, y0, owner[y0:y1, x0:x1] == i)
    result = (image, final, np.asarray(classes, dtype=np.int32))
    if return_instances:
        result += (owner,)
    return result


def make_shapes_arrays(
    num_images: int,
    image_size: int,
    *,
    seed: int,
    max_boxes: int = 8,
    min_objects: int = 1,
    max_objects: int = 6,
    min_size_frac: float = 0.12,
    max_size_frac: float = 0.45,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Builds a whole shapes dataset as padded numpy arrays.

    Args:
        num_images: number of images `N`.
        image_size: side of each square image, in pixels.
        seed: seed of the `numpy.random.Generator` behind every image.
        max_boxes: rows per image in `boxes` and `classes`; must be at least
            `max_objects`.
        min_objects: fewest objects per image.
        max_objects: most objects per image.
        min_size_frac: smallest object extent, as a fraction of `image_size`.
        max_size_frac: largest object extent, as a fraction of `image_size`.
        progress: show a tqdm progress bar.

    Returns:
        A dict with `"images"`: uint8 `(N, H, W, 3)`, `"boxes"`: float32
        `(N, max_boxes, 4)` normalized `xyxy` padded with zero rows, and
        `"classes"`: int32 `(N, max_boxes)` padded with -1.

    Example:

    >>> data = make_shapes_arrays(4, 32, seed=0, max_boxes=6)
    >>> data["boxes"].shape
    (4, 6, 4)
    """
    if num_images < 0:
        raise ValueError(
            f"Expected num_images >= 0. Received: num_images={num_images}"
        )
    if max_boxes < max_objects:
        raise ValueError(
            "Expected max_boxes >= max_objects. Received: "
            f"max_boxes={max_boxes}, max_objects={max_objects}"
        )
    rng = np.random.default_rng(seed)
    images = np.zeros((num_images, image_size, image_size, 3), np.uint8)
    boxes = np.zeros((num_images, max_boxes, 4), np.float32)
    classes = np.full((num_images, max_boxes), -1, np.int32)
    for i in tqdm(range(num_images), desc="shapes", disable=not progress):
        image, pixel_boxes, labels = generate_shapes_sample(
            rng,
            image_size,
            min_objects=min_objects,
            max_objects=max_objects,
            min_size_frac=min_size_frac,
            max_size_frac=max_size_frac,
        )
        n = len(labels)
        images[i] = image
        boxes[i, :n] = pixel_boxes / np.float32(image_size)
        classes[i, :n] = labels
    return {"images": images, "boxes": boxes, "classes": classes}


def write_shapes_folder(
    root: str | Path,
    num_images: int,
    image_size: int,
    *,
    seed: int,
    max_objects: int = 6,
    progress: bool = False,
) -> Path:
    """Writes shapes images as PNG files plus an `annotations.json` manifest.

    The images are the same as `make_shapes_arrays` gives for the same
    arguments. The manifest reads:

    ```
    {"classes": ["circle", "square", "triangle"],
     "images": [{"file": "shape_00000.png", "width": 128, "height": 128,
                 "boxes": [[x_min, y_min, x_max, y_max], ...],
                 "classes": ["square", ...]}, ...]}
    ```

    with boxes in integer pixels, upper edges exclusive.

    Args:
        root: folder to write into (created if needed).
        num_images: number of images.
        image_size: side of each square image, in pixels.
        seed: seed of the `numpy.random.Generator` behind every image.
        max_objects: most objects per image.
        progress: show a tqdm progress bar.

    Returns:
        The path of `annotations.json`.

    Example:

    >>> manifest = write_shapes_folder("/tmp/shapes", 8, 128, seed=0)
    """
    from PIL import Image

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    data = make_shapes_arrays(
        num_images,
        image_size,
        seed=seed,
        max_boxes=max_objects,
        max_objects=max_objects,
        progress=progress,
    )
    entries = []
    for i in range(num_images):
        name = f"shape_{i:05d}.png"
        Image.fromarray(data["images"][i]).save(root / name)
        keep = data["classes"][i] >= 0
        pixel = np.rint(data["boxes"][i][keep] * image_size).astype(int)
        entries.append(
            {
                "file": name,
                "width": image_size,
                "height": image_size,
                "boxes": pixel.tolist(),
                "classes": [SHAPE_CLASSES[c] for c in data["classes"][i][keep]],
            }
        )
    manifest = root / "annotations.json"
    manifest.write_text(
        json.dumps({"classes": list(SHAPE_CLASSES), "images": entries})
    )
    return manifest
