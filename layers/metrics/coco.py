"""COCO-style detection metrics through pycocotools.

mAP@0.5 and mAP@0.5:0.95 (the mean over IoU thresholds 0.50, 0.55, ...,
0.95), per-class AP and the precision-recall curves behind them, computed by
the reference implementation rather than re-written here.
"""

import contextlib
import io

import numpy as np


def _xyxy_to_xywh(box) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [x0, y0, x1 - x0, y1 - y0]


def coco_evaluate(
    ground_truth: list[dict],
    detections: list[dict],
    class_names: list[str] | tuple[str, ...],
) -> dict:
    """Evaluates detections against ground truth with pycocotools.

    Args:
        ground_truth: one dict per image: `width`, `height`, `boxes`
            `(n, 4)` pixel xyxy and `classes` `(n,)` ints.
        detections: one dict per image (same order): `boxes` `(m, 4)` pixel
            xyxy, `scores` `(m,)`, `classes` `(m,)`.
        class_names: names of the class ids 0..p-1.

    Returns:
        A dict with `map50`, `map50_95`, `per_class` (name -> `ap50`,
        `ap50_95`) and `pr_curves` (name -> `(recall, precision, ap50)`
        numpy arrays at IoU 0.5).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, results = [], [], []
    for image_id, (gt, det) in enumerate(zip(ground_truth, detections)):
        images.append(
            {"id": image_id, "width": gt["width"], "height": gt["height"]}
        )
        for box, cls in zip(gt["boxes"], gt["classes"]):
            xywh = _xyxy_to_xywh(box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(cls),
                    "bbox": xywh,
                    "area": xywh[2] * xywh[3],
                    "iscrowd": 0,
                }
            )
        for box, score, cls in zip(det["boxes"], det["scores"], det["classes"]):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(cls),
                    "bbox": _xyxy_to_xywh(box),
                    "score": float(score),
                }
            )
    categories = [{"id": i, "name": n} for i, n in enumerate(class_names)]
    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet:
        coco_gt = COCO()
        coco_gt.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        coco_gt.createIndex()
        if not results:
            return _empty(class_names)
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # precision: (iou thresholds T, recall points R, classes K, areas, maxDets)
    precision = evaluator.eval["precision"][:, :, :, 0, -1]
    recall_points = evaluator.params.recThrs

    def ap(p):
        p = p[p > -1]
        return float(p.mean()) if p.size else float("nan")

    per_class, curves = {}, {}
    for k, name in enumerate(class_names):
        per_class[name] = {
            "ap50": ap(precision[0, :, k]),
            "ap50_95": ap(precision[:, :, k]),
        }
        pr = np.clip(precision[0, :, k], 0.0, None)
        curves[name] = (recall_points, pr, per_class[name]["ap50"])
    return {
        "map50": float(evaluator.stats[1]),
        "map50_95": float(evaluator.stats[0]),
        "per_class": per_class,
        "pr_curves": curves,
    }


def _empty(class_names) -> dict:
    zeros = np.zeros(101)
    return {
        "map50": 0.0,
        "map50_95": 0.0,
        "per_class": {n: {"ap50": 0.0, "ap50_95": 0.0} for n in class_names},
        "pr_curves": {
            n: (np.linspace(0, 1, 101), zeros, 0.0) for n in class_names
        },
    }
