"""`python -m apps.face`: face verification and recognition.

With no verb, runs the demo: trains an embedding on the embedded synthetic
faces, evaluates verification (10-fold) and one-shot identification on
people it never saw, calibrates the threshold, exports a SavedModel
(checked in a fresh process), enrolls unseen people and identifies them
(`apps.face.demo`). The verbs are the shared ones (`apps.common.verbs`)
over `apps.face.app`; what they print is `apps.face.report`.
"""

from apps.common.runtime import start_tensorflow

start_tensorflow()

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from apps.common import cli  # noqa: E402
from apps.common import verbs  # noqa: E402
from apps.face import report  # noqa: E402
from apps.face.config import FaceConfig  # noqa: E402

APP = cli.AppCli(
    "face",
    FaceConfig,
    "Face verification and one-shot recognition (CS230: Siamese network, "
    "triplet loss, ArcFace). With no verb, runs the demo on synthetic faces.",
    [],
)
PROG = APP.prog
ORL = "$DLSUITE_DATA/att_faces"
APP.examples = [
    f"{PROG}",
    f"{PROG} sanity --config apps/face/configs/tiny.yaml",
    f"{PROG} train --config apps/face/configs/tiny.yaml --run tiny",
    f"{PROG} train --config apps/face/configs/orl.yaml --run orl",
    f"{PROG} evaluate --run saved_models/face/orl",
    f"{PROG} calibrate --run saved_models/face/orl",
    f"{PROG} enroll --run saved_models/face/orl --input {ORL}/s1 --name s1",
    f"{PROG} identify --run saved_models/face/orl --input {ORL}/s1/2.pgm",
    f"{PROG} verify --run saved_models/face/orl {ORL}/s1/1.pgm {ORL}/s2/1.pgm",
    f"{PROG} predict --run saved_models/face/orl --input {ORL}/s3",
    f"{PROG} export --run saved_models/face/orl",
    f"{PROG} tune --config apps/face/configs/tiny.yaml "
    "--set tune.max_trials=6 --run sweep",
]


def _add_split(p) -> None:
    p.add_argument("--split", default="test", choices=["val", "test"])


def _add_calibrate(p) -> None:
    _add_split(p)
    p.add_argument(
        "--input",
        type=Path,
        metavar="DIR",
        help="a folder of people (one sub-folder each) instead of --split",
    )


def _add_gallery(p) -> None:
    p.add_argument(
        "--gallery",
        metavar="FILE",
        help="gallery file (default: <run>/gallery.npz)",
    )


def _add_enroll(p) -> None:
    _add_gallery(p)
    p.add_argument(
        "--input",
        type=Path,
        required=True,
        metavar="PATH",
        help="images of one person (with --name), or one sub-folder per person",
    )
    p.add_argument("--name", help="the person's name")


def _add_identify(p) -> None:
    _add_gallery(p)
    p.add_argument(
        "--input",
        type=Path,
        required=True,
        metavar="PATH",
        help="an image or a folder of images",
    )
    p.add_argument(
        "--threshold",
        type=float,
        help="squared-distance threshold (default: calibrated)",
    )


def _add_verify(p) -> None:
    p.add_argument("image1", type=Path)
    p.add_argument("image2", type=Path)


def _add_predict(p) -> None:
    p.add_argument(
        "--input",
        type=Path,
        required=True,
        metavar="PATH",
        help="an image or a folder of images",
    )
    p.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="where to write (default: run/predictions)",
    )


VERBS = [
    *verbs.standard(
        APP, train_help="train the embedding (resumes after a kill)"
    ),
    verbs.evaluate(
        APP,
        "10-fold verification and one-shot rank-1 on "
        "people never seen in training; ROC plot",
        report=report.evaluated,
    ),
    verbs.on_run(
        APP,
        "calibrate",
        "choose the threshold (10-fold protocol): accuracy "
        "+- std, AUC, EER, TAR@FAR, ROC; writes calibration.json",
        add_arguments=_add_calibrate,
        options={"input": "input_path", "split": "split"},
        report=report.calibrated,
    ),
    verbs.on_run(
        APP,
        "enroll",
        "add people to the gallery without retraining",
        add_arguments=_add_enroll,
        options={"input": "input_path", "name": "name", "gallery": "gallery"},
        report=report.enrolled,
    ),
    verbs.on_run(
        APP,
        "identify",
        "who is in each image (or unknown)",
        add_arguments=_add_identify,
        options={
            "input": "input_path",
            "gallery": "gallery",
            "threshold": "threshold",
        },
        report=report.identified,
    ),
    verbs.on_run(
        APP,
        "verify",
        "same person or not, with distance and confidence",
        add_arguments=_add_verify,
        options=("image1", "image2"),
        report=report.verified,
    ),
    verbs.predict(
        APP,
        "embeddings of images (.npz + JSON)",
        add_arguments=_add_predict,
        options={"input": "input_path", "output": "output_dir"},
        report=report.predicted,
    ),
    verbs.export(
        APP,
        "versioned SavedModel (embed, embed_uint8, verify), "
        "checked in a fresh process",
        report=report.exported,
    ),
    verbs.tune(
        APP,
        "keras-tuner sweep (triplet vs ArcFace); writes the "
        "best config as YAML",
    ),
]


def demo() -> int:
    """Train -> evaluate -> calibrate -> export -> enroll -> identify
    (`apps.face.demo`)."""
    from apps.face.demo import demo as run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.main(APP, VERBS, demo, argv)


if __name__ == "__main__":
    sys.exit(main())
