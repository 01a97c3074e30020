"""`python -m apps.detect`: YOLO object detection.

With no verb, runs the demo: trains on the embedded synthetic shapes
dataset, evaluates mAP on a held-out split, exports a SavedModel (checked
in a fresh process) and draws detections on held-out images.
"""

from apps.common.runtime import quiet_tensorflow

quiet_tensorflow()

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from apps.common import cli  # noqa: E402
from apps.common import runs  # noqa: E402
from apps.detect.config import DetectConfig  # noqa: E402

PROG = "python -m apps.detect"
DESCRIPTION = (
    "YOLO object detection (CS230: IoU, anchors, NMS, YOLO). With no verb, "
    "runs the demo on the embedded synthetic shapes dataset."
)
EXAMPLES = [
    f"{PROG}",
    f"{PROG} sanity --config apps/detect/configs/tiny.yaml",
    f"{PROG} train --config apps/detect/configs/tiny.yaml --run tiny",
    f"{PROG} train --set train.epochs=3 --set model.width=0.5 --run small",
    f"{PROG} evaluate --run saved_models/detect/tiny",
    f"{PROG} predict --run saved_models/detect/tiny --input photo.jpg "
    "--output out/",
    f"{PROG} export --run saved_models/detect/tiny",
    f"{PROG} export --run saved_models/detect/tiny --format tflite "
    "--quantization int8",
    f"{PROG} tune --config apps/detect/configs/tiny.yaml "
    "--set tune.max_trials=8 --run sweep",
]


def _app():
    from apps.detect import app

    return app


def _evaluate(args) -> int:
    result = _app().evaluate(Path(args.run), split=args.split)
    print(_metrics_line(result))
    cli.print_json({k: v for k, v in result.items() if k != "per_class"})
    return 0


def _predict(args) -> int:
    results = _app().predict(
        Path(args.run),
        Path(args.input),
        Path(args.output) if args.output else None,
    )
    for item in results:
        print(
            f"{item['file']}: {len(item['detections'])} detections -> "
            f"{item['image']}"
        )
    return 0


def _export(args) -> int:
    run = Path(args.run)
    result = _app().export(run)
    print(
        f"SavedModel: {result['path']} (fresh-process check: max |diff| "
        f"{result['max_abs_diff']:.2g})"
    )
    if args.format != "saved_model":
        from apps.detect import convert

        out = Path(result["path"]) / (
            f"model_{args.quantization}.tflite"
            if args.format == "tflite"
            else "model.onnx"
        )
        if args.format == "tflite":
            converted = convert.to_tflite(
                run, out, quantization=args.quantization
            )
        else:
            converted = convert.to_onnx(run, out)
        print(
            f"{args.format}: {converted['path']} "
            f"({converted['size_bytes'] / 1e6:.2f} MB)"
        )
        result[args.format] = converted
    cli.print_json(result)
    return 0


def _metrics_line(result: dict) -> str:
    per_class = ", ".join(
        f"{name} {v['ap50']:.3f}" for name, v in result["per_class"].items()
    )
    return (
        f"mAP@0.5 = {result['map50']:.3f}, mAP@0.5:0.95 = "
        f"{result['map50_95']:.3f} on {result['images']} {result['split']} "
        f"images (AP@0.5: {per_class})"
    )


def demo() -> int:
    """Train -> evaluate -> export -> predict on the embedded default."""
    start = time.time()
    app = _app()
    cfg = DetectConfig()
    run_dir, _ = runs.run_dir_for_training("detect", runs.timestamped("demo"))
    print(f"dlsuite detect demo: synthetic shapes, run folder {run_dir}")
    app.train(cfg, run_dir)
    result = app.evaluate(run_dir, split="test")
    print(_metrics_line(result))
    exported = app.export(run_dir)
    print(
        f"Exported SavedModel {exported['path']} (fresh-process check: "
        f"max |diff| {exported['max_abs_diff']:.2g})"
    )
    samples = run_dir / "samples"
    from pipelines.synthetic.shapes import write_shapes_folder

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


def _add_evaluate(p) -> None:
    cli.add_run_argument(p)
    p.add_argument("--split", default="test", choices=["val", "test"])


def _add_predict(p) -> None:
    cli.add_run_argument(p)
    p.add_argument(
        "--input",
        required=True,
        metavar="PATH",
        help="an image file or a folder of images",
    )
    p.add_argument(
        "--output",
        metavar="DIR",
        help="where to write predictions (default: run/predictions)",
    )


def _add_export(p) -> None:
    cli.add_run_argument(p)
    p.add_argument(
        "--format",
        default="saved_model",
        choices=["saved_model", "tflite", "onnx"],
        help="saved_model always; tflite/onnx are converted from its "
        "fixed-size float signature (before NMS) and checked for parity",
    )
    p.add_argument(
        "--quantization",
        default="float32",
        choices=["float32", "float16", "int8"],
        help="for --format tflite",
    )


VERBS = [
    cli.sanity_verb("detect", DetectConfig, _app),
    cli.lr_find_verb("detect", DetectConfig, _app),
    cli.train_verb(
        "detect",
        DetectConfig,
        _app,
        "train a detector into a run folder (resumes after a kill)",
    ),
    cli.Verb(
        "evaluate",
        "COCO mAP@0.5 and mAP@0.5:0.95, per-class AP, PR plot",
        _add_evaluate,
        _evaluate,
    ),
    cli.Verb(
        "predict",
        "detect objects in images; JSON + annotated PNGs",
        _add_predict,
        _predict,
    ),
    cli.Verb(
        "export",
        "versioned SavedModel (bytes in, boxes out), checked in a fresh "
        "process; TFLite (float32/float16/int8) and ONNX with parity checks",
        _add_export,
        _export,
    ),
    cli.tune_verb(
        "detect",
        DetectConfig,
        _app,
        "keras-tuner sweep; writes the best config as YAML",
        PROG,
    ),
]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.main(PROG, DESCRIPTION, VERBS, EXAMPLES, demo, argv)


if __name__ == "__main__":
    sys.exit(main())
