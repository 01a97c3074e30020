"""NMS speed: dlsuite's class-aware NMS against TensorFlow's own options.

Same random boxes (YOLOv8-like: 8,400 candidates x 80 classes at 640 px)
through three implementations, all in `tf.function`, batch 1:
- dlsuite `non_max_suppression` (per-class offsets, one NMS call per image)
- a per-class loop of `tf.image.non_max_suppression`
- `tf.image.combined_non_max_suppression` (TF's batched class-aware NMS)

Prints milliseconds per image and the ratio to dlsuite.

    python benchmarks/nms_speed.py [--boxes 8400] [--classes 80] [--repeat 30]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from layers.boxes.nms import non_max_suppression  # noqa: E402


def _data(n, classes, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 600, (n, 2))
    wh = rng.uniform(8, 120, (n, 2))
    boxes = np.concatenate([xy, xy + wh], -1).astype(np.float32)
    logits = rng.normal(-4, 2, (n, classes))
    scores = (1 / (1 + np.exp(-logits))).astype(np.float32)
    return tf.constant(boxes[None]), tf.constant(scores[None])


def _time(fn, boxes, scores, repeat):
    fn(boxes, scores)  # trace
    start = time.perf_counter()
    for _ in range(repeat):
        out = fn(boxes, scores)
    tf.nest.map_structure(lambda t: t.numpy(), out)
    return (time.perf_counter() - start) / repeat * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=8400)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--score", type=float, default=0.25)
    args = parser.parse_args()
    boxes, scores = _data(args.boxes, args.classes)
    score, iou, k = args.score, 0.5, 100

    @tf.function
    def ours(b, s):
        return non_max_suppression(
            b, s, score_threshold=score, iou_threshold=iou, max_detections=k
        )

    @tf.function
    def per_class(b, s):
        best = tf.argmax(s[0], -1, output_type=tf.int32)
        top = tf.reduce_max(s[0], -1)
        kept = []
        for c in range(args.classes):
            mask = tf.equal(best, c)
            cb = tf.boolean_mask(b[0], mask)
            cs = tf.boolean_mask(top, mask)
            idx = tf.image.non_max_suppression(cb, cs, k, iou, score)
            kept.append(tf.gather(cs, idx))
        return tf.concat(kept, 0)

    @tf.function
    def combined(b, s):
        return tf.image.combined_non_max_suppression(
            b[:, :, None, :], s, k, k, iou, score, clip_boxes=False
        )

    rows = [
        (
            "dlsuite non_max_suppression",
            _time(ours, boxes, scores, args.repeat),
        ),
        (
            "per-class loop of tf.image NMS",
            _time(per_class, boxes, scores, args.repeat),
        ),
        (
            "tf.image.combined_non_max_suppression",
            _time(combined, boxes, scores, args.repeat),
        ),
    ]
    base = rows[0][1]
    print(
        f"{args.boxes} boxes x {args.classes} classes, batch 1, "
        f"score >= {score}, IoU {iou}"
    )
    print("| implementation | ms / image | x dlsuite |")
    print("|---|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.2f} | {ms / base:.1f} |")


if __name__ == "__main__":
    main()
