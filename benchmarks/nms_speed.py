"""NMS speed: dlsuite's class-aware NMS against TensorFlow's and KerasHub's.

Random boxes (YOLOv8-like: 8,400 candidates x 80 classes at 640 px) through
each implementation, all in `tf.function`, batch 1:
- dlsuite `non_max_suppression` (per-class offsets, one NMS call per image)
- a per-class loop of `tf.image.non_max_suppression`
- `tf.image.combined_non_max_suppression` (TF's batched class-aware NMS)
- `keras_hub.layers.NonMaxSuppression` (when `keras_hub` imports), in
  `tf.function` and, for context, called eagerly as it is.

Two score distributions: "sparse" (about 190 of the 8,400 boxes score above
the threshold, as with a trained detector) and "dense" (nearly all do).

Timing: the implementations take turns (`--rounds` rounds of `--repeat`
calls each, after warm-up), so that the load of other jobs on the machine
falls on all of them alike; the table gives the median milliseconds of all
calls and the ratio to dlsuite.

Check: dlsuite's kept boxes (box, class, score) must be identical to those
of a plain per-class NumPy NMS with the same rule (boxes scoring below the
threshold dropped; per class, greedily keep the best box and drop those
with IoU >= the IoU threshold; the best `max_detections` of all classes),
both at the timed `max_detections` and with no cap. The per-class loop is
checked the same way. KerasHub's layer is class-agnostic (one NMS over all
boxes, each scored by its best class), so it is compared with a
class-agnostic NumPy reference; combined NMS runs NMS on every class's
score of every box, a different rule, and is not compared.

    python benchmarks/nms_speed.py [--quick] [--boxes 8400] [--classes 80]
        [--repeat 20] [--rounds 5]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _env import footer  # noqa: E402
from _env import header  # noqa: E402

from layers.boxes.nms import non_max_suppression  # noqa: E402


def _data(n, classes, logit_mean, seed=0):
    """Random xyxy boxes in a 720 px image and sigmoid class scores whose
    logits are normal with mean `logit_mean` and deviation 2."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 600, (n, 2))
    wh = rng.uniform(8, 120, (n, 2))
    boxes = np.concatenate([xy, xy + wh], -1).astype(np.float32)
    logits = rng.normal(logit_mean, 2, (n, classes))
    scores = (1 / (1 + np.exp(-logits))).astype(np.float32)
    return boxes[None], scores[None]


def _iou_one_to_many(box, boxes):
    """IoU of one xyxy box with many, in float64."""
    box = box.astype(np.float64)
    boxes = boxes.astype(np.float64)
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _greedy(boxes, scores, iou, k):
    """Indices kept by greedy NMS (IoU >= `iou` suppresses), best first."""
    order = np.argsort(-scores, kind="stable")
    kept = []
    while order.size and len(kept) < k:
        best = order[0]
        kept.append(best)
        rest = order[1:]
        order = rest[_iou_one_to_many(boxes[best], boxes[rest]) < iou]
    return kept


def reference_nms(boxes, scores, score, iou, k, class_aware=True):
    """Plain NumPy NMS of one image: boxes `(N, 4)`, scores `(N, C)`.

    Each box takes its best class and that class's score; boxes scoring
    below `score` are dropped; greedy NMS per class (or over all boxes
    when not `class_aware`); the best `k` of the kept boxes.

    Returns:
        A sorted list of `(x1, y1, x2, y2, class, score)` tuples.
    """
    classes = scores.argmax(-1)
    best = scores.max(-1)
    keep = np.flatnonzero(best >= score)
    groups = np.unique(classes[keep]) if class_aware else [None]
    kept = []
    for c in groups:
        idx = keep if c is None else keep[classes[keep] == c]
        kept.extend(idx[_greedy(boxes[idx], best[idx], iou, k)])
    kept = sorted(kept, key=lambda i: -best[i])[:k]
    return sorted(
        (*map(float, boxes[i]), int(classes[i]), float(best[i])) for i in kept
    )


def _as_tuples(boxes, classes, scores, num):
    return sorted(
        (*map(float, boxes[i]), int(classes[i]), float(scores[i]))
        for i in range(int(num))
    )


def _keras_hub_layer(score, iou, k):
    """KerasHub's NMS layer, or the reason it is not available."""
    try:
        import keras_hub
    except Exception as err:  # noqa: BLE001 - any import failure is reported
        return None, f"keras_hub does not import: {type(err).__name__}: {err}"
    layer = keras_hub.layers.NonMaxSuppression(
        bounding_box_format="xyxy",
        from_logits=False,
        iou_threshold=iou,
        confidence_threshold=score,
        max_detections=k,
    )
    return layer, None


def _time_rounds(fns, args, repeat, rounds, warmup):
    """Median ms per call of each fn, the fns taking turns in rounds."""
    for fn in fns.values():
        for _ in range(warmup):
            tf.nest.map_structure(lambda t: t.numpy(), fn(*args))
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(repeat):
                start = time.perf_counter()
                tf.nest.map_structure(lambda t: t.numpy(), fn(*args))
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


# (name, mean of the class logits): "sparse" is what a trained detector
# gives (about 190 of 8,400 boxes score >= 0.25); "dense" lets nearly every
# box through (the data of the first version of this script).
SCENARIOS = (("sparse", -8.0), ("dense", -4.0))
OURS = "dlsuite non_max_suppression"
LOOP = "per-class loop of tf.image NMS"
COMBINED = "tf.image.combined_non_max_suppression"
KERAS_HUB = "keras_hub.layers.NonMaxSuppression"
KERAS_HUB_EAGER = "keras_hub.layers.NonMaxSuppression, eager"


def _functions(num_classes, score, iou, k, layer):
    """The implementations, each a `tf.function` of (boxes, scores)."""

    @tf.function
    def ours(b, s):
        return non_max_suppression(
            b, s, score_threshold=score, iou_threshold=iou, max_detections=k
        )

    @tf.function
    def per_class(b, s):
        best = tf.argmax(s[0], -1, output_type=tf.int32)
        top = tf.reduce_max(s[0], -1)
        kept_boxes, kept_scores, kept_classes = [], [], []
        for c in range(num_classes):
            mask = tf.equal(best, c)
            cb = tf.boolean_mask(b[0], mask)
            cs = tf.boolean_mask(top, mask)
            idx = tf.image.non_max_suppression(cb, cs, k, iou, score)
            kept_boxes.append(tf.gather(cb, idx))
            kept_scores.append(tf.gather(cs, idx))
            kept_classes.append(tf.fill(tf.shape(idx), c))
        all_scores = tf.concat(kept_scores, 0)
        n = tf.minimum(tf.shape(all_scores)[0], k)
        top_scores, order = tf.math.top_k(all_scores, n)
        return {
            "boxes": tf.gather(tf.concat(kept_boxes, 0), order)[None],
            "scores": top_scores[None],
            "classes": tf.gather(tf.concat(kept_classes, 0), order)[None],
            "num_detections": n[None],
        }

    @tf.function
    def combined(b, s):
        return tf.image.combined_non_max_suppression(
            b[:, :, None, :], s, k, k, iou, score, clip_boxes=False
        )

    fns = {OURS: ours, LOOP: per_class, COMBINED: combined}
    if layer is not None:

        @tf.function
        def keras_hub_nms(b, s):
            return layer(b, s)

        fns[KERAS_HUB] = keras_hub_nms
        # For context: the layer called as is, outside tf.function.
        fns[KERAS_HUB_EAGER] = layer
    return fns


def _kept(out, classes="classes", scores="scores"):
    out = {key: value.numpy() for key, value in out.items()}
    return _as_tuples(
        out["boxes"][0],
        out[classes][0],
        out[scores][0],
        out["num_detections"][0],
    )


def _check(np_boxes, np_scores, args, layer):
    """Kept boxes of each implementation against the NumPy references, at
    the timed `max_detections` and with no cap (every kept box)."""
    score, iou = args.score, args.iou
    same = {}
    lines = []
    for k in (args.max_detections, args.boxes):
        want = reference_nms(np_boxes[0], np_scores[0], score, iou, k)
        fns = _functions(args.classes, score, iou, k, None)
        boxes, scores = tf.constant(np_boxes), tf.constant(np_scores)
        for name in (OURS, LOOP):
            got = _kept(fns[name](boxes, scores))
            ok = got == want
            same[name] = same.get(name, True) and ok
            if not ok:
                lines.append(
                    f"  {name}, max_detections={k}: {len(got)} kept, "
                    f"{len(set(got) ^ set(want))} boxes differ"
                )
        cap = "timed cap" if k == args.max_detections else "no cap"
        lines.append(
            f"  reference ({cap}, max_detections={k}) keeps {len(want)}"
        )
    k = args.max_detections
    boxes, scores = tf.constant(np_boxes), tf.constant(np_scores)
    out = _functions(args.classes, score, iou, k, None)[COMBINED](boxes, scores)
    verdict = {name: "yes" if ok else "no" for name, ok in same.items()}
    verdict[COMBINED] = (
        "n/a: NMS per class on every class's score "
        f"({int(out.valid_detections[0])} kept)"
    )
    if layer is not None:
        agnostic = reference_nms(
            np_boxes[0], np_scores[0], score, iou, k, class_aware=False
        )
        eager = _kept(layer(boxes, scores), "labels", "confidence")
        graph = _kept(
            tf.function(lambda b, s: layer(b, s))(boxes, scores),
            "labels",
            "confidence",
        )
        for name, got in ((KERAS_HUB, graph), (KERAS_HUB_EAGER, eager)):
            differ = len(set(got) ^ set(agnostic))
            verdict[name] = (
                "n/a: class-agnostic NMS; vs a class-agnostic reference: "
                + (f"{differ} boxes differ" if differ else "same")
            )
    return same[OURS], verdict, lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=8400)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--score", type=float, default=0.25)
    parser.add_argument("--iou", type=float, default=0.5)
    parser.add_argument("--max-detections", type=int, default=100)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 3 calls, 1 round"
    )
    args = parser.parse_args()
    tf.get_logger().setLevel("ERROR")
    if args.quick:
        args.repeat, args.rounds, args.warmup = 3, 1, 1
    header("NMS speed (benchmarks/nms_speed.py)")
    score, iou, k = args.score, args.iou, args.max_detections
    layer, keras_hub_error = _keras_hub_layer(score, iou, k)
    print(
        f"{args.boxes} boxes x {args.classes} classes, batch 1, "
        f"score >= {score}, IoU >= {iou} suppresses, max {k} detections; "
        f"all in tf.function; median of {args.rounds} rounds x "
        f"{args.repeat} calls per implementation, taking turns, after "
        f"{args.warmup} warm-up calls; TF's default threads "
        f"({os.cpu_count()} cores)"
    )
    if keras_hub_error:
        print(f"KerasHub left out: {keras_hub_error}")
    all_identical = True
    for scenario, logit_mean in SCENARIOS:
        np_boxes, np_scores = _data(args.boxes, args.classes, logit_mean)
        candidates = int(np.sum(np_scores[0].max(-1) >= score))
        print()
        print(
            f"## {scenario}: class logits ~ N({logit_mean}, 2); "
            f"{candidates} of {args.boxes} boxes score >= {score}"
        )
        identical, same, lines = _check(np_boxes, np_scores, args, layer)
        all_identical = all_identical and identical
        print(f"identical kept boxes: {'yes' if identical else 'no'}")
        print("\n".join(lines))
        fns = _functions(args.classes, score, iou, k, layer)
        ms = _time_rounds(
            fns,
            (tf.constant(np_boxes), tf.constant(np_scores)),
            args.repeat,
            args.rounds,
            args.warmup,
        )
        base = ms[OURS]
        print()
        print(
            "| implementation | ms / image | x dlsuite "
            "| same kept boxes as per-class reference |"
        )
        print("|---|---|---|---|")
        for name, value in ms.items():
            print(
                f"| {name} | {value:.2f} | {value / base:.1f} | {same[name]} |"
            )
        print()
        if KERAS_HUB in ms:
            ratio = ms[KERAS_HUB] / base
            verdict = "met" if ratio >= 50 else "NOT met"
            print(
                f"target, dlsuite >= 50x faster than KerasHub: {ratio:.1f}x "
                f"({verdict})"
            )
        fastest = min((LOOP, COMBINED), key=ms.get)
        ratio = ms[fastest] / base
        verdict = "met" if ratio >= 1 else "NOT met"
        print(
            "target, dlsuite no slower than the fastest TF peer "
            f"({fastest}): {ratio:.2f}x ({verdict})"
        )
    print()
    print(
        f"identical kept boxes (all scenarios): "
        f"{'yes' if all_identical else 'no'}"
    )
    footer()


if __name__ == "__main__":
    main()
