"""`python -m apps.face` with no verb: the embedded default, end to end.

Train on 40 synthetic people, calibrate the threshold on 5 validation
people, evaluate on 15 people never seen in training, export, then enroll
10 of the unseen people from ONE image each and identify every other image
of all 15 (the 5 not enrolled must come out "unknown").
"""

import time
from pathlib import Path

import numpy as np

from apps.common import runs
from apps.face import app
from apps.face import people
from apps.face.config import FaceConfig
from apps.face.data import load_splits
from apps.face.inference import CALIBRATION_FILE
from apps.face.inference import GALLERY_FILE
from apps.face.report import verification_line

ENROLLED = 10


def write_people(faces, root: Path) -> list[Path]:
    """One PNG folder per person of a split; returns the folders."""
    from PIL import Image

    folders = []
    for label, name in enumerate(faces.names):
        folder = runs.ensure_dir(root / name)
        for k, image in enumerate(faces.images[faces.labels == label]):
            Image.fromarray(
                image[..., 0] if image.shape[-1] == 1 else image
            ).save(folder / f"{k:02d}.png")
        folders.append(folder)
    return folders


def demo() -> int:
    """Train -> calibrate -> evaluate -> export -> enroll -> identify ->
    verify on the embedded synthetic faces."""
    start = time.time()
    cfg = FaceConfig()
    run_dir, _ = runs.run_dir_for_training("face", runs.timestamped("demo"))
    print(f"dlsuite face demo: synthetic faces, run folder {run_dir}")
    app.train(cfg, run_dir)
    calibration = app.calibrate(run_dir, split="val")
    print(
        "Calibrated on the validation people: " + verification_line(calibration)
    )
    result = app.evaluate(run_dir, split="test")
    print(result["text"])
    print("Unseen test people: " + verification_line(result))
    print(
        f"One-shot identification rank-1 {result['rank1']:.3f} +- "
        f"{result['rank1_std']:.3f} ({result['identities']} unseen people)"
    )
    exported = app.export(run_dir)
    print(
        f"Exported SavedModel {exported['path']} (fresh-process check: max "
        f"|diff| {exported['max_abs_diff']:.2g})"
    )
    test = load_splits(cfg.data, ("test",))["test"]
    folders = write_people(test, run_dir / "demo_people")
    probes = runs.ensure_dir(run_dir / "demo_probes")
    truth = {}
    for k, folder in enumerate(folders):
        images = sorted(folder.glob("*.png"))
        if k < ENROLLED:
            people.enroll(run_dir, images[0], name=folder.name)
        for image in images[1:]:
            target = probes / f"{folder.name}_{image.name}"
            target.write_bytes(image.read_bytes())
            truth[target.name] = folder.name if k < ENROLLED else "unknown"
    found = people.identify(run_dir, probes)
    hits = [m["name"] == truth[Path(m["file"]).name] for m in found["matches"]]
    known = [
        h
        for m, h in zip(found["matches"], hits)
        if truth[Path(m["file"]).name] != "unknown"
    ]
    unknown = [
        h
        for m, h in zip(found["matches"], hits)
        if truth[Path(m["file"]).name] == "unknown"
    ]
    print(
        f"Enrolled {ENROLLED} unseen people from one image each; identified "
        f"{np.mean(known):.3f} of {len(known)} images of them correctly and "
        f"rejected {np.mean(unknown):.3f} of {len(unknown)} images of "
        f"{len(folders) - ENROLLED} people not enrolled as unknown "
        f"(threshold {found['threshold']:.3f}, {found['threshold_source']})"
    )
    pair = people.verify(run_dir, folders[0] / "01.png", folders[0] / "02.png")
    print(f"verify same person: {pair}")
    pair = people.verify(run_dir, folders[0] / "01.png", folders[1] / "01.png")
    print(f"verify two people: {pair}")
    print(f"Done in {time.time() - start:.0f} s. Where everything went:")
    for label, path in [
        ("config", run_dir / runs.CONFIG_FILE),
        ("model", run_dir / runs.MODEL_FILE),
        ("metrics", run_dir / runs.METRICS_FILE),
        ("calibration", run_dir / CALIBRATION_FILE),
        ("training curves", run_dir / "plots" / "training.png"),
        ("ROC curve", run_dir / "plots" / "roc.png"),
        ("distances", run_dir / "plots" / "distances.png"),
        ("TensorBoard logs", run_dir / "logs"),
        ("SavedModel", exported["path"]),
        ("gallery", run_dir / GALLERY_FILE),
    ]:
        print(f"  {label:18s} {path}")
    return 0
