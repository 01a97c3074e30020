"""Parity of a converted file (TFLite or ONNX) with the Keras model.

Every converted file is checked against the run's Keras model on held-out
synthetic images before it is renamed into place, so a failed conversion
or check leaves nothing behind. `compare_outputs` gives every number;
`enforce` applies the tolerances below.
"""

from pathlib import Path

import keras
import numpy as np

from apps.detect.config import DetectConfig
from apps.detect.raw import synthetic_pixels
from layers.boxes.iou import elementwise_iou
from layers.boxes.iou import pairwise_iou
from layers.boxes.nms import non_max_suppression

# Largest |TFLite - Keras| on raw boxes and scores (measured on the demo
# model, 96 px, mAP@0.5 0.93: 2e-6 for float32, 1e-3 for float16).
FLOAT_TOLERANCES = {"float32": 1e-4, "float16": 1e-2}
# int8, on the 10 best Keras detections of each image: mean IoU with the
# TFLite box of the same anchor slot, and mean |score difference|
# (measured on the demo model: 0.90 and 0.007, mAP@0.5 0.923 against
# 0.932; with TF's default quantizer the score error was 0.11).
INT8_MIN_MEAN_IOU = 0.8
INT8_MAX_MEAN_SCORE_DIFF = 0.05
ONNX_TOLERANCE = 1e-4
PARITY_IMAGES = 8
# Parity compares each image's 10 best detections after NMS, whatever their
# score, so that barely trained models (tests, smoke runs) are compared too.
PARITY_TOP_K = 10
# The NMS-to-NMS matching (reported, not enforced) skips detections below
# this score: int8 rounds their scores to 0 and drops them, and a junk box
# would then be matched with a confident neighbour.
PARITY_MIN_SCORE = 0.05
# Seeds of the synthetic images, apart from the training splits' (+0..+2).
PARITY_SEED = 7


def reference_outputs(
    cfg: DetectConfig, model: keras.Model, num_images: int
) -> tuple[np.ndarray, dict]:
    """The held-out parity images and the Keras model's raw outputs.

    Returns:
        `(pixels, want)`: `(num_images, S, S, 3)` synthetic pixels (seed
        offset `PARITY_SEED`) and the dict of numpy `boxes` and `scores`.
    """
    pixels = synthetic_pixels(cfg, num_images, PARITY_SEED)
    want = {k: v.numpy() for k, v in model(pixels, training=False).items()}
    return pixels, want


def _nms(cfg: DetectConfig, raw: dict, max_detections: int) -> dict:
    """Our NMS at the run's IoU threshold and no score threshold."""
    out = non_max_suppression(
        raw["boxes"],
        raw["scores"],
        score_threshold=0.0,
        iou_threshold=cfg.detection.iou_threshold,
        max_detections=max_detections,
    )
    return {k: v.numpy() for k, v in out.items()}


def _summary(prefix: str, ious: list, diffs: list) -> dict:
    return {
        f"{prefix}mean_iou": float(np.mean(ious)) if ious else 1.0,
        f"{prefix}min_iou": float(np.min(ious)) if ious else 1.0,
        f"{prefix}mean_score_diff": float(np.mean(diffs)) if diffs else 0.0,
        f"{prefix}max_score_diff": float(np.max(diffs)) if diffs else 0.0,
    }


def compare_detections(
    want: dict, got: dict, *, top_k: int, min_score: float
) -> dict:
    """Each of the `top_k` best `want` detections of every image that score
    at least `min_score` against its best-IoU `got` detection of the same
    class (IoU 0 and score 0 when there is none). Both are outputs of
    `non_max_suppression`.

    Returns:
        `nms_mean_iou`, `nms_min_iou`, `nms_mean_score_diff`,
        `nms_max_score_diff` and `matched`, the number of `want`
        detections compared.
    """
    ious, diffs = [], []
    for i in range(len(want["num_detections"])):
        n = min(int(want["num_detections"][i]), top_k)
        n = int(np.sum(want["scores"][i, :n] >= min_score))
        m = int(got["num_detections"][i])
        iou = pairwise_iou(want["boxes"][i, :n], got["boxes"][i, :m]).numpy()
        same = want["classes"][i, :n, None] == got["classes"][i, None, :m]
        iou = np.where(same, iou, 0.0).reshape(n, m)
        best_iou = iou.max(axis=1, initial=0.0)
        best = iou.argmax(axis=1) if m else np.zeros(n, dtype=int)
        got_scores = got["scores"][i, best] if m else np.zeros(n)
        got_scores = np.where(best_iou > 0, got_scores, 0.0)
        ious.extend(best_iou)
        diffs.extend(np.abs(got_scores - want["scores"][i, :n]))
    return {**_summary("nms_", ious, diffs), "matched": len(ious)}


def compare_slots(want: dict, got: dict, final: dict, *, top_k: int) -> dict:
    """The `top_k` best detections of `final` (NMS of `want`) against the
    raw `got` box and score of the same anchor slot.

    Slots are the same boxes of the same grid cells and anchors in both
    models, so this comparison does not depend on the order NMS finds in
    near-equal scores (which quantization reshuffles in barely trained
    models).

    Returns:
        `slot_mean_iou`, `slot_min_iou`, `slot_mean_score_diff`,
        `slot_max_score_diff` (the score of the Keras class) and
        `slot_class_agreement` (fraction whose best class is unchanged).
    """
    ious, diffs, agree = [], [], []
    for i in range(len(final["num_detections"])):
        n = min(int(final["num_detections"][i]), top_k)
        classes = final["classes"][i, :n]
        scores = want["scores"][i][:, classes].T
        # Each detection is a row of the raw outputs, copied exactly.
        distance = np.abs(
            want["boxes"][i][None] - final["boxes"][i, :n, None]
        ).sum(-1) + np.abs(scores - final["scores"][i, :n, None])
        slot = distance.argmin(axis=1)
        ious.extend(
            elementwise_iou(want["boxes"][i, slot], got["boxes"][i, slot])
            .numpy()
            .tolist()
        )
        got_scores = got["scores"][i, slot, classes]
        diffs.extend(np.abs(got_scores - want["scores"][i, slot, classes]))
        agree.extend(got["scores"][i, slot].argmax(-1) == classes)
    agreement = float(np.mean(agree)) if agree else 1.0
    return {**_summary("slot_", ious, diffs), "slot_class_agreement": agreement}


def compare_outputs(
    cfg: DetectConfig, want: dict, got: dict, quantization: str
) -> dict:
    """Every parity number of a converted file against the Keras model.

    Args:
        cfg: the run's config (NMS IoU threshold).
        want: the Keras model's raw `boxes` and `scores`.
        got: the converted file's.
        quantization: recorded in the result.

    Returns:
        `max_abs_diff_boxes`, `max_abs_diff_scores`, the numbers of
        `compare_slots` and of `compare_detections` (detections scoring at
        least `PARITY_MIN_SCORE`; the converted side's NMS keeps every box,
        so no match is lost to `max_detections`),
        and `quantization`.
    """
    numbers = {
        f"max_abs_diff_{k}": float(np.max(np.abs(got[k] - want[k])))
        for k in ("boxes", "scores")
    }
    final = _nms(cfg, want, cfg.detection.max_detections)
    numbers.update(compare_slots(want, got, final, top_k=PARITY_TOP_K))
    numbers.update(
        compare_detections(
            final,
            _nms(cfg, got, got["boxes"].shape[1]),
            top_k=PARITY_TOP_K,
            min_score=PARITY_MIN_SCORE,
        )
    )
    numbers["quantization"] = quantization
    return numbers


def enforce(numbers: dict, path: Path) -> dict:
    """`numbers` (of `compare_outputs`) when within the tolerances of
    their `quantization`: int8 by anchor slot (`INT8_MIN_MEAN_IOU`,
    `INT8_MAX_MEAN_SCORE_DIFF`), float32 and float16 by
    `FLOAT_TOLERANCES`, anything else (ONNX) by `ONNX_TOLERANCE`.

    Raises:
        RuntimeError: naming `path` and the number beyond its limit.
    """
    quantization = numbers["quantization"]
    if quantization == "int8":
        iou = numbers["slot_mean_iou"]
        diff = numbers["slot_mean_score_diff"]
        bad = not (
            iou >= INT8_MIN_MEAN_IOU and diff <= INT8_MAX_MEAN_SCORE_DIFF
        )
        limits = (
            f"mean IoU {iou:.3f} (min {INT8_MIN_MEAN_IOU}), mean score "
            f"diff {diff:.3g} (max {INT8_MAX_MEAN_SCORE_DIFF})"
        )
    else:
        tol = FLOAT_TOLERANCES.get(quantization, ONNX_TOLERANCE)
        worst = max(
            numbers["max_abs_diff_boxes"], numbers["max_abs_diff_scores"]
        )
        bad = not worst <= tol
        limits = f"max abs diff {worst:.3g} (tolerance {tol})"
    if bad:
        raise RuntimeError(
            f"{path}: {quantization} outputs differ from the Keras model: "
            f"{limits}"
        )
    return numbers
