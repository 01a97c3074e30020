"""Class-aware, batched non-max suppression (NMS).

The cheatsheet's algorithm, per class: discard every box whose probability
`p < score_threshold`; then, while boxes remain, keep the most probable box
and discard every box whose IoU with it is `>= iou_threshold`.

All classes go through ONE `tf.image.non_max_suppression` call per image:
each box is moved to a cell of a grid of copies of the image, one cell per
class, so that boxes of different classes never overlap. This gives the
same boxes as a loop over classes, at the cost of one op: about 2 ms per
image for 8,400 boxes x 80 classes on a 2-core CPU, against 7 ms for a loop
over classes and 150-200 ms for the padded NMS of KerasCV/KerasHub.

`tf.image.non_max_suppression` keeps a box when `score > score_threshold`
and suppresses it when `IoU > iou_threshold` (both strict). The thresholds
are therefore passed to it as the next float32 below the requested ones,
which turns both tests into the cheatsheet's `>=` for float32 values.
"""

import math
import numbers

import keras
import tensorflow as tf

from layers.serialization import register


def _validate(
    score_threshold: float, iou_threshold: float, max_detections: int
) -> None:
    if isinstance(score_threshold, bool) or not (
        isinstance(score_threshold, numbers.Real) and 0 <= score_threshold <= 1
    ):
        raise ValueError(
            "Expected score_threshold in [0, 1]. "
            f"Received: score_threshold={score_threshold}"
        )
    if isinstance(iou_threshold, bool) or not (
        isinstance(iou_threshold, numbers.Real) and 0 < iou_threshold <= 1
    ):
        raise ValueError(
            "Expected iou_threshold in (0, 1]. "
            f"Received: iou_threshold={iou_threshold}"
        )
    if isinstance(max_detections, bool) or not (
        isinstance(max_detections, numbers.Integral) and max_detections > 0
    ):
        raise ValueError(
            "Expected max_detections to be a positive integer. "
            f"Received: max_detections={max_detections}"
        )


def _just_below(value: float) -> tf.Tensor:
    """The largest float32 strictly below float32(`value`)."""
    value = tf.constant(value, tf.float32)
    return tf.math.nextafter(value, tf.constant(-math.inf, tf.float32))


def _nms_one_image(
    boxes, scores, score_threshold, iou_threshold, max_detections
):
    """NMS for one image: boxes `(N, 4)`, scores `(N, C)`, float32.

    `score_threshold` is already the float just below the user's threshold
    (see `_just_below`), so `best > score_threshold` means `best >= t`.
    """
    # Drop boxes under the threshold before the per-box argmax: on a
    # trained detector most of the N x C scores are tiny, and the argmax
    # over all of them was most of the time (benchmarks/nms_speed.py).
    best = tf.reduce_max(scores, axis=-1)
    keep = tf.where(best > score_threshold)[:, 0]
    boxes = tf.gather(boxes, keep)
    best = tf.gather(best, keep)
    classes = tf.argmax(tf.gather(scores, keep), axis=-1, output_type=tf.int32)

    # Lay the classes out on a k x k grid of copies of the coordinate range
    # (k = ceil(sqrt(num_classes))). Each copy is `span` wide, more than the
    # extent of all the boxes, so boxes of different classes are disjoint in
    # x or in y. A grid rather than a line keeps the shifted coordinates
    # about sqrt(num_classes) times smaller, hence more precise in float32.
    # Class 0 is not moved at all.
    num_classes = tf.shape(scores)[-1]
    k = tf.cast(
        tf.math.ceil(tf.sqrt(tf.cast(num_classes, tf.float32))), tf.int32
    )
    k = tf.maximum(k, 1)
    # With no box left, max - min is -inf: any positive span will do.
    span = tf.maximum(tf.reduce_max(boxes) - tf.reduce_min(boxes) + 1.0, 1.0)
    col = tf.cast(classes % k, tf.float32)
    row = tf.cast(classes // k, tf.float32)
    offset = tf.stack([col, row, col, row], axis=-1) * span

    # IoU is symmetric in x and y, so "xyxy" boxes can be handed to an op
    # that documents "yxyx".
    selected = tf.image.non_max_suppression(
        boxes + offset,
        best,
        max_output_size=max_detections,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
    )
    num = tf.shape(selected)[0]
    pad = max_detections - num
    out_boxes = tf.pad(tf.gather(boxes, selected), [[0, pad], [0, 0]])
    out_scores = tf.pad(tf.gather(best, selected), [[0, pad]])
    out_classes = tf.pad(
        tf.gather(classes, selected), [[0, pad]], constant_values=-1
    )
    out_boxes.set_shape([max_detections, 4])
    out_scores.set_shape([max_detections])
    out_classes.set_shape([max_detections])
    return out_boxes, out_scores, out_classes, num


def non_max_suppression(
    boxes,
    scores,
    *,
    score_threshold: float = 0.6,
    iou_threshold: float = 0.5,
    max_detections: int = 100,
) -> dict[str, tf.Tensor]:
    """Class-aware, batched non-max suppression.

    Each box takes its most probable class (argmax of `scores`) and that
    class's probability as its score. Then, per image and per class, the
    cheatsheet's NMS: discard boxes with `score < score_threshold`; while
    boxes remain, keep the highest-scoring one and discard the boxes whose
    IoU with it is `>= iou_threshold`. The kept boxes of all classes are
    sorted by descending score and the first `max_detections` returned.

    Works in eager mode, in `tf.function` and in a SavedModel with an
    unknown batch size (one `tf.image.non_max_suppression` per image, via
    `tf.map_fn`). Computation is in float32; the comparisons with the
    thresholds are exact in float32 (see the module docstring).

    Args:
        boxes: float tensor of shape `(batch, N, 4)`, `"xyxy"`, in any
            coordinate scale (normalized or pixels, negative values allowed).
            Boxes are assumed valid (`x_min <= x_max`, `y_min <= y_max`).
        scores: float tensor of shape `(batch, N, num_classes)`, per-class
            probabilities.
        score_threshold: Python float in `[0, 1]`; boxes scoring below it
            are discarded.
        iou_threshold: Python float in `(0, 1]`; a box whose IoU with a kept
            box of its class is at least this value is discarded.
        max_detections: positive Python int; number of output slots per
            image.

    Returns:
        A dict of tensors:
        - `"boxes"`: `(batch, max_detections, 4)`, the kept boxes in the
            input coordinates, zero padded; dtype of `boxes`.
        - `"scores"`: `(batch, max_detections)`, descending, zero padded;
            dtype of `scores`.
        - `"classes"`: `(batch, max_detections)` int32, `-1` padded.
        - `"num_detections"`: `(batch,)` int32, the number of valid slots.

    Example:

    >>> boxes = [[[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 1.0]]]
    >>> scores = [[[0.1, 0.9], [0.2, 0.8]]]
    >>> out = non_max_suppression(boxes, scores, max_detections=3)
    >>> out["num_detections"].numpy(), out["classes"].numpy()
    (array([1], dtype=int32), array([[ 1, -1, -1]], dtype=int32))
    """
    _validate(score_threshold, iou_threshold, max_detections)
    max_detections = int(max_detections)
    boxes = tf.convert_to_tensor(boxes)
    scores = tf.convert_to_tensor(scores)
    if boxes.shape.rank is not None and (
        boxes.shape.rank != 3 or boxes.shape[-1] not in (4, None)
    ):
        raise ValueError(
            "Expected boxes of shape (batch, N, 4). "
            f"Received: boxes.shape={boxes.shape}"
        )
    if scores.shape.rank is not None and scores.shape.rank != 3:
        raise ValueError(
            "Expected scores of shape (batch, N, num_classes). "
            f"Received: scores.shape={scores.shape}"
        )
    boxes_dtype = boxes.dtype
    scores_dtype = scores.dtype
    score_t = _just_below(score_threshold)
    iou_t = _just_below(iou_threshold)

    def per_image(args):
        image_boxes, image_scores = args
        return _nms_one_image(
            image_boxes, image_scores, score_t, iou_t, max_detections
        )

    out_boxes, out_scores, out_classes, num = tf.map_fn(
        per_image,
        (tf.cast(boxes, tf.float32), tf.cast(scores, tf.float32)),
        fn_output_signature=(
            tf.TensorSpec([max_detections, 4], tf.float32),
            tf.TensorSpec([max_detections], tf.float32),
            tf.TensorSpec([max_detections], tf.int32),
            tf.TensorSpec([], tf.int32),
        ),
    )
    return {
        "boxes": tf.cast(out_boxes, boxes_dtype),
        "scores": tf.cast(out_scores, scores_dtype),
        "classes": out_classes,
        "num_detections": num,
    }


@register
class DetectionNMS(keras.layers.Layer):
    """Class-aware, batched non-max suppression as a Keras layer.

    Wraps `non_max_suppression`; see it for the algorithm. The layer has no
    weights. Use it at the end of a detector so that an exported model
    returns final detections.

    Args:
        score_threshold: float in `[0, 1]`; boxes whose best class
            probability is below it are discarded. Defaults to `0.6`.
        iou_threshold: float in `(0, 1]`; a box whose IoU with a kept box
            of the same class is at least this value is discarded.
            Defaults to `0.5`.
        max_detections: positive int, number of detections kept per image.
            Defaults to `100`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        boxes: float tensor of shape `(batch, N, 4)`, `"xyxy"` in any
            coordinate scale.
        scores: float tensor of shape `(batch, N, num_classes)`, per-class
            probabilities.

    Returns:
        A dict: `"boxes"` `(batch, max_detections, 4)`, `"scores"`
        `(batch, max_detections)`, `"classes"` `(batch, max_detections)`
        int32 (`-1` padded), `"num_detections"` `(batch,)` int32.

    Example:

    >>> boxes = keras.Input((None, 4))
    >>> scores = keras.Input((None, 3))
    >>> out = DetectionNMS(max_detections=10)(boxes, scores)
    >>> out["boxes"].shape
    (None, 10, 4)
    """

    def __init__(
        self,
        score_threshold=0.6,
        iou_threshold=0.5,
        max_detections=100,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _validate(score_threshold, iou_threshold, max_detections)
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = int(max_detections)

    def build(self, boxes_shape, scores_shape):
        if len(boxes_shape) != 3 or boxes_shape[-1] not in (4, None):
            raise ValueError(
                "Expected boxes of shape (batch, N, 4). "
                f"Received: boxes_shape={boxes_shape}"
            )
        if len(scores_shape) != 3:
            raise ValueError(
                "Expected scores of shape (batch, N, num_classes). "
                f"Received: scores_shape={scores_shape}"
            )

    def call(self, boxes, scores):
        return non_max_suppression(
            boxes,
            scores,
            score_threshold=self.score_threshold,
            iou_threshold=self.iou_threshold,
            max_detections=self.max_detections,
        )

    def compute_output_shape(self, boxes_shape, scores_shape):
        batch = boxes_shape[0]
        return {
            "boxes": (batch, self.max_detections, 4),
            "scores": (batch, self.max_detections),
            "classes": (batch, self.max_detections),
            "num_detections": (batch,),
        }

    def compute_output_spec(self, boxes, scores):
        # Written so that "classes" and "num_detections" are int32 in a
        # functional model; the default would give them the float dtype.
        shapes = self.compute_output_shape(boxes.shape, scores.shape)
        dtypes = {
            "boxes": self.compute_dtype,
            "scores": self.compute_dtype,
            "classes": "int32",
            "num_detections": "int32",
        }
        return {
            key: keras.KerasTensor(shape, dtype=dtypes[key])
            for key, shape in shapes.items()
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "score_threshold": self.score_threshold,
                "iou_threshold": self.iou_threshold,
                "max_detections": self.max_detections,
            }
        )
        return config
