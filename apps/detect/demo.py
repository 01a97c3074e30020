"""`python -m apps.detect` with no verb: the embedded default, end to end.

Trains on the embedded synthetic shapes dataset, evaluates mAP on a
held-out split, exports a SavedModel (checked in a fresh process) and
draws detections on held-out images.
"""

import time

from apps.common import runs
from apps.detect import app
from apps.detect.config import DetectConfig
from apps.detect.report import metrics_line
from pipelines.synthetic.shapes import write_shapes_folder


def demo() -> int:
    """Train -> evaluate -> export -> predict on the embedded default."""
    start = time.time()
    cfg = DetectConfig()
    run_dir, _ = runs.run_dir_for_training("detect", runs.timestamped("demo"))
    print(f"dlsuite detect demo: synthetic shapes, run folder {run_dir}")
    app.train(cfg, run_dir)
    result = app.evaluate(run_dir, split="test")
    print(metrics_line(result))
    exported = app.export(run_dir)
    print(
        f"Exported SavedModel {exported['path']} (fresh-process check: "
        f"max |diff| {exported['max_abs_diff']:.2g})"
    )
    samples = run_dir / "samples"
    write_shapes_folder(
        samples, 4, cfg.data.image_size, seed=cfg.data.seed * 1000 + 7
    )
    predictions = app.predict(run_dir, samples, run_dir / "predictions")
    print(f"Done in {time.time() - start:.0f} s. Where everything went:")
    for label, path in [
        ("config", run_dir / runs.CONFIG_FILE),
        ("model", run_dir / runs.MODEL_FILE),
        ("metrics", run_dir / runs.METRICS_FILE),
        ("training curves", run_dir / "plots" / "training.png"),
        ("precision-recall", run_dir / "plots" / "pr_curve.png"),
        ("TensorBoard logs", run_dir / "logs"),
        ("SavedModel", exported["path"]),
        ("annotated image", predictions[0]["image"]),
        ("all predictions", run_dir / "predictions" / "predictions.json"),
    ]:
        print(f"  {label:18s} {path}")
    return 0
