"""`python -m apps.face`: face verification and recognition.

With no verb, runs the demo: trains an embedding on the embedded synthetic
faces, evaluates verification (10-fold) and one-shot identification on
people it never saw, calibrates the threshold, exports a SavedModel
(checked in a fresh process), enrolls unseen people and identifies them.
"""

from apps.common.runtime import quiet_tensorflow

quiet_tensorflow()

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from apps.common import cli  # noqa: E402
from apps.face.config import FaceConfig  # noqa: E402

PROG = "python -m apps.face"
DESCRIPTION = (
    "Face verification and one-shot recognition (CS230: Siamese network, "
    "triplet loss, ArcFace). With no verb, runs the demo on synthetic faces."
)
ORL = "$DLSUITE_DATA/att_faces"
EXAMPLES = [
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


def _app():
    from apps.face import app

    return app


def verification_line(result: dict) -> str:
    """One line of the verification figures a user checks first."""
    tar = result.get("tar_at_far") or {}
    folds = len(result.get("fold_accuracies", []))
    tars = ", ".join(
        f"TAR@FAR={far} "
        + (f"{v['tar']:.3f}" if v.get("tar") is not None else "n/a")
        for far, v in tar.items()
    )
    return (
        f"verification accuracy {result['accuracy_mean']:.4f} +- "
        f"{result['accuracy_std']:.4f} ({folds}-fold), AUC "
        f"{result['auc']:.4f}, EER {result['eer']:.4f}, {tars}; "
        f"threshold: squared distance {result['threshold']:.3f} = cosine "
        f"{result['threshold_cosine']:.3f}"
    )


def _evaluate(args) -> int:
    result = _app().evaluate(Path(args.run), split=args.split)
    print(result["text"])
    print(verification_line(result))
    print(
        f"one-shot identification rank-1 {result['rank1']:.4f} +- "
        f"{result['rank1_std']:.4f} on {result['identities']} unseen people"
    )
    return 0


def _calibrate(args) -> int:
    result = _app().calibrate(
        Path(args.run),
        input_path=Path(args.input) if args.input else None,
        split=args.split,
    )
    print(result["text"])
    print(verification_line(result))
    print(
        f"Wrote {Path(args.run) / 'calibration.json'}; ROC curve: "
        f"{Path(args.run) / 'plots' / 'roc.png'}"
    )
    return 0


def _people():
    from apps.face import people

    return people


def _enroll(args) -> int:
    cli.print_json(
        _people().enroll(
            Path(args.run),
            Path(args.input),
            name=args.name,
            gallery=args.gallery,
        )
    )
    return 0


def _identify(args) -> int:
    result = _people().identify(
        Path(args.run),
        Path(args.input),
        gallery=args.gallery,
        threshold=args.threshold,
    )
    for m in result["matches"]:
        extra = (
            f", confidence {m['confidence']:.3f}" if "confidence" in m else ""
        )
        print(
            f"{m['file']}: {m['name']} (squared distance {m['distance']:.3f},"
            f" cosine {m['cosine']:.3f}{extra}; status {m['status']})"
        )
    print(f"threshold {result['threshold']:.3f} ({result['threshold_source']})")
    return 0


def _verify(args) -> int:
    result = _people().verify(
        Path(args.run), Path(args.image1), Path(args.image2)
    )
    verdict = "SAME person" if result["same"] else "DIFFERENT people"
    extra = (
        f", calibrated P(same) {result['confidence_same']:.3f}"
        if "confidence_same" in result
        else ""
    )
    print(
        f"{verdict}: squared distance {result['distance']:.3f} (cosine "
        f"{result['cosine']:.3f}) vs threshold {result['threshold']:.3f} "
        f"({result['threshold_source']}){extra}"
    )
    return 0


def _predict(args) -> int:
    result = _people().predict(
        Path(args.run),
        Path(args.input),
        Path(args.output) if args.output else None,
    )
    print(f"{len(result['items'])} embeddings -> {result['embeddings']}")
    return 0


def _export(args) -> int:
    result = _app().export(Path(args.run))
    print(
        f"SavedModel: {result['path']} (signatures "
        f"{', '.join(result['signatures'])}; fresh-process check: max |diff| "
        f"{result['max_abs_diff']:.2g}; threshold {result['threshold']:.3f}, "
        f"{result['threshold_source']})"
    )
    return 0


def _add_split(p) -> None:
    cli.add_run_argument(p, help_text="run folder, e.g. saved_models/face/NAME")
    p.add_argument("--split", default="test", choices=["val", "test"])


def _add_calibrate(p) -> None:
    _add_split(p)
    p.add_argument(
        "--input",
        metavar="DIR",
        help="a folder of people (one sub-folder each) instead of --split",
    )


def _add_gallery(p) -> None:
    cli.add_run_argument(p, help_text="run folder, e.g. saved_models/face/NAME")
    p.add_argument(
        "--gallery",
        metavar="FILE",
        help="gallery file (default: <run>/gallery.npz)",
    )


def _add_enroll(p) -> None:
    _add_gallery(p)
    p.add_argument(
        "--input",
        required=True,
        metavar="PATH",
        help="images of one person (with --name), or one sub-folder per person",
    )
    p.add_argument("--name", help="the person's name")


def _add_identify(p) -> None:
    _add_gallery(p)
    p.add_argument(
        "--input",
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
    cli.add_run_argument(p, help_text="run folder, e.g. saved_models/face/NAME")
    p.add_argument("image1")
    p.add_argument("image2")


def _add_predict(p) -> None:
    cli.add_run_argument(p, help_text="run folder, e.g. saved_models/face/NAME")
    p.add_argument(
        "--input",
        required=True,
        metavar="PATH",
        help="an image or a folder of images",
    )
    p.add_argument(
        "--output",
        metavar="DIR",
        help="where to write (default: run/predictions)",
    )


def _add_export(p) -> None:
    cli.add_run_argument(p, help_text="run folder, e.g. saved_models/face/NAME")


VERBS = [
    cli.sanity_verb("face", FaceConfig, _app),
    cli.lr_find_verb("face", FaceConfig, _app),
    cli.train_verb(
        "face",
        FaceConfig,
        _app,
        "train the embedding (resumes after a kill)",
    ),
    cli.Verb(
        "evaluate",
        "10-fold verification and one-shot rank-1 on "
        "people never seen in training; ROC plot",
        _add_split,
        _evaluate,
    ),
    cli.Verb(
        "calibrate",
        "choose the threshold (10-fold protocol): accuracy "
        "+- std, AUC, EER, TAR@FAR, ROC; writes calibration.json",
        _add_calibrate,
        _calibrate,
    ),
    cli.Verb(
        "enroll",
        "add people to the gallery without retraining",
        _add_enroll,
        _enroll,
    ),
    cli.Verb(
        "identify",
        "who is in each image (or unknown)",
        _add_identify,
        _identify,
    ),
    cli.Verb(
        "verify",
        "same person or not, with distance and confidence",
        _add_verify,
        _verify,
    ),
    cli.Verb(
        "predict", "embeddings of images (.npz + JSON)", _add_predict, _predict
    ),
    cli.Verb(
        "export",
        "versioned SavedModel (embed, embed_uint8, verify), "
        "checked in a fresh process",
        _add_export,
        _export,
    ),
    cli.tune_verb(
        "face",
        FaceConfig,
        _app,
        "keras-tuner sweep (triplet vs ArcFace); writes the "
        "best config as YAML",
        PROG,
    ),
]


def demo() -> int:
    """Train -> evaluate -> calibrate -> export -> enroll -> identify."""
    from apps.face.demo import run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.main(PROG, DESCRIPTION, VERBS, EXAMPLES, demo, argv)


if __name__ == "__main__":
    sys.exit(main())
