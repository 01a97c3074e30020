"""`python -m apps.detect`: YOLO object detection.

With no verb, runs the demo (`apps.detect.demo`). The verbs are the
shared ones (`apps.common.verbs`) over `apps.detect.app`.
"""

from apps.common.runtime import start_tensorflow

start_tensorflow()

import sys  # noqa: E402

from apps.common import cli  # noqa: E402
from apps.common import verbs  # noqa: E402
from apps.detect.config import DetectConfig  # noqa: E402

APP = cli.AppCli(
    "detect",
    DetectConfig,
    "YOLO object detection (CS230: IoU, anchors, NMS, YOLO). With no verb, "
    "runs the demo on the embedded synthetic shapes dataset.",
    [],
)
PROG = APP.prog
APP.examples = [
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


def _evaluated(result: dict, args) -> None:
    from apps.detect.report import metrics_line

    print(metrics_line(result))
    cli.print_json({k: v for k, v in result.items() if k != "per_class"})


def _predicted(results: list[dict], args) -> None:
    for item in results:
        print(
            f"{item['file']}: {len(item['detections'])} detections -> "
            f"{item['image']}"
        )


def _exported(result: dict, args) -> None:
    print(
        f"SavedModel: {result['path']} (fresh-process check: max |diff| "
        f"{result['max_abs_diff']:.2g})"
    )
    converted = result.get(args.format)
    if converted:
        print(
            f"{args.format}: {converted['path']} "
            f"({converted['size_bytes'] / 1e6:.2f} MB)"
        )
    cli.print_json(result)


def _add_predict(p) -> None:
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
    *verbs.standard(
        APP,
        train_help="train a detector into a run folder (resumes after a kill)",
        tune_help="keras-tuner sweep over tune.space; writes the best "
        "config as YAML",
    ),
    verbs.evaluate(
        APP,
        "COCO mAP@0.5 and mAP@0.5:0.95, per-class AP, PR plot",
        report=_evaluated,
    ),
    verbs.predict(
        APP,
        "detect objects in images; JSON + annotated PNGs",
        add_arguments=_add_predict,
        options={"input": "input_path", "output": "output_dir"},
        report=_predicted,
    ),
    verbs.export(
        APP,
        "versioned SavedModel (bytes in, boxes out), checked in a fresh "
        "process; TFLite (float32/float16/int8) and ONNX with parity checks",
        add_arguments=_add_export,
        options=("format", "quantization"),
        report=_exported,
    ),
]


def demo() -> int:
    """The embedded default, end to end (`apps.detect.demo`)."""
    from apps.detect.demo import demo as run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.main(APP, VERBS, demo, argv)


if __name__ == "__main__":
    sys.exit(main())
