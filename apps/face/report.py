"""What the verbs of `python -m apps.face` print for a person.

Each `report(result, args)` receives what the verb's function in
`apps.face.app` returned and the parsed command line
(`apps.common.verbs.on_run`); the demo prints `verification_line` too.
"""

import argparse
from pathlib import Path

from apps.common.cli import print_json


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


def evaluated(result: dict, args: argparse.Namespace) -> None:
    """`evaluate`: the protocol's table, verification and rank-1."""
    print(result["text"])
    print(verification_line(result))
    print(
        f"one-shot identification rank-1 {result['rank1']:.4f} +- "
        f"{result['rank1_std']:.4f} on {result['identities']} unseen people"
    )


def calibrated(result: dict, args: argparse.Namespace) -> None:
    """`calibrate`: the figures and where the threshold went."""
    print(result["text"])
    print(verification_line(result))
    print(
        f"Wrote {Path(args.run) / 'calibration.json'}; ROC curve: "
        f"{Path(args.run) / 'plots' / 'roc.png'}"
    )


def enrolled(result: dict, args: argparse.Namespace) -> None:
    """`enroll`: the gallery and who was added, as JSON."""
    print_json(result)


def identified(result: dict, args: argparse.Namespace) -> None:
    """`identify`: one line per image, then the threshold used."""
    for m in result["matches"]:
        extra = (
            f", confidence {m['confidence']:.3f}" if "confidence" in m else ""
        )
        print(
            f"{m['file']}: {m['name']} (squared distance {m['distance']:.3f},"
            f" cosine {m['cosine']:.3f}{extra}; status {m['status']})"
        )
    print(f"threshold {result['threshold']:.3f} ({result['threshold_source']})")


def verified(result: dict, args: argparse.Namespace) -> None:
    """`verify`: the decision with distance, cosine and confidence."""
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


def predicted(result: dict, args: argparse.Namespace) -> None:
    """`predict`: how many embeddings and where they went."""
    print(f"{len(result['items'])} embeddings -> {result['embeddings']}")


def exported(result: dict, args: argparse.Namespace) -> None:
    """`export`: the SavedModel, its signatures and its checks."""
    print(
        f"SavedModel: {result['path']} (signatures "
        f"{', '.join(result['signatures'])}; fresh-process check: max |diff| "
        f"{result['max_abs_diff']:.2g}; threshold {result['threshold']:.3f}, "
        f"{result['threshold_source']})"
    )
