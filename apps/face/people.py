"""The people verbs of `python -m apps.face`: predict, enroll, identify,
verify. A gallery of enrolled people is a `.npz` of embeddings (no
pickle), by default `<run>/gallery.npz`.
"""

from pathlib import Path

import numpy as np

from apps.common import runs
from apps.face.inference import GALLERY_FILE
from apps.face.inference import calibrator_of
from apps.face.inference import decision_threshold
from apps.face.inference import embed_arrays
from apps.face.inference import embed_fn
from apps.face.inference import load_run
from pipelines.errors import DataError


def load_embedding(run_dir: Path):
    """`(cfg, fn)`: the run's config and its traced embedding function."""
    cfg, embedder = load_run(run_dir)
    return cfg, embed_fn(embedder, flip_tta=cfg.model.flip_tta, traced=False)


def embed_inputs(loaded, input_path: Path):
    """Reads, prepares and embeds a file or folder of images.

    Args:
        loaded: `load_embedding(run_dir)`.
        input_path: an image file or a folder of images.

    Returns:
        `(paths, embeddings, statuses)`; images where alignment found no
        face keep status "no_face" (and are embedded as they are).
    """
    from apps.face.data import read_input_faces

    cfg, fn = loaded
    paths, images, statuses = read_input_faces(Path(input_path), cfg.data)
    return paths, embed_arrays(fn, images), statuses


def predict(
    run_dir: Path, input_path: Path, output_dir: Path | None = None
) -> dict:
    """Embeds images: `embeddings.npz` (paths + vectors) and a JSON list;
    with an enrolled gallery, also who each face is."""
    loaded = load_embedding(run_dir)
    paths, embeddings, statuses = embed_inputs(loaded, input_path)
    output_dir = runs.ensure_dir(
        Path(output_dir or Path(run_dir) / "predictions")
    )
    runs.atomic_write(
        output_dir / "embeddings.npz",
        lambda p: np.savez(
            p, paths=np.array([str(x) for x in paths]), embeddings=embeddings
        ),
    )
    people = None
    gallery_path = Path(run_dir) / GALLERY_FILE
    if gallery_path.exists():
        people = match_gallery(
            run_dir, loaded[0], gallery_path, paths, statuses, embeddings
        )["matches"]
    items = [
        {
            "file": str(path),
            "status": status,
            "identity": people[k]["name"] if people else None,
        }
        for k, (path, status) in enumerate(zip(paths, statuses))
    ]
    runs.write_json(output_dir / "predictions.json", {"predictions": items})
    return {"embeddings": str(output_dir / "embeddings.npz"), "items": items}


def _gallery_path(run_dir: Path, gallery: Path | None) -> Path:
    return Path(gallery) if gallery else Path(run_dir) / GALLERY_FILE


def enroll(
    run_dir: Path,
    input_path: Path,
    *,
    name: str | None = None,
    gallery: Path | None = None,
) -> dict:
    """Adds people to the gallery without retraining.

    With `name`, every image of `input_path` (a file or a folder) is that
    person; without it, `input_path` holds one sub-folder per person.
    """
    from apps.face.gallery import Gallery

    path = _gallery_path(run_dir, gallery)
    book = Gallery.load(path) if path.exists() else Gallery()
    input_path = Path(input_path)
    if name:
        people = [(name, input_path)]
    else:
        people = (
            sorted((p.name, p) for p in input_path.iterdir() if p.is_dir())
            if input_path.is_dir()
            else []
        )
        if not people:
            raise DataError(
                f"{input_path}: expected one sub-folder per person (or "
                "give --name for a single person)"
            )
    loaded = load_embedding(run_dir)
    added = {}
    for person, folder in people:
        _, embeddings, statuses = embed_inputs(loaded, folder)
        keep = [k for k, s in enumerate(statuses) if s != "no_face"]
        if not keep:
            raise DataError(f"{folder}: no face found in any image")
        book.enroll(person, embeddings[keep])
        added[person] = len(keep)
    book.save(path)
    return {"gallery": str(path), "added": added, "people": len(book.names())}


def identify(
    run_dir: Path,
    input_path: Path,
    *,
    gallery: Path | None = None,
    threshold: float | None = None,
) -> dict:
    """Who is in each image: the nearest enrolled person, or "unknown"
    when the squared distance is above the threshold."""
    gallery_path = _existing_gallery(run_dir, gallery)
    loaded = load_embedding(run_dir)
    paths, embeddings, statuses = embed_inputs(loaded, input_path)
    return match_gallery(
        run_dir,
        loaded[0],
        gallery_path,
        paths,
        statuses,
        embeddings,
        threshold=threshold,
    )


def _existing_gallery(run_dir: Path, gallery: Path | None) -> Path:
    path = _gallery_path(run_dir, gallery)
    if not path.exists():
        raise DataError(
            f"{path}: no gallery yet; enroll someone first "
            "(python -m apps.face enroll --run RUN --input PHOTOS --name NAME)"
        )
    return path


def match_gallery(
    run_dir: Path,
    cfg,
    gallery_path: Path,
    paths,
    statuses,
    embeddings,
    *,
    threshold: float | None = None,
) -> dict:
    """`identify` on embeddings already computed (`predict` reuses them)."""
    from apps.face.gallery import Gallery

    if threshold is None:
        threshold, source = decision_threshold(run_dir, cfg)
    else:
        source = "--threshold"
    try:
        found = Gallery.load(gallery_path).identify(
            embeddings, threshold=threshold
        )
    except ValueError as err:
        raise DataError(str(err))
    calibrator = calibrator_of(run_dir)
    matches = []
    for path, status, match in zip(paths, statuses, found):
        item = {
            "file": str(path),
            "status": status,
            "name": match.name,
            "distance": round(float(match.distance), 4),
            "cosine": round(float(match.cosine), 4),
            "runner_up": match.second_best_name,
        }
        if calibrator is not None:
            item["confidence"] = round(
                float(calibrator.predict_proba(match.distance)), 4
            )
        matches.append(item)
    return {
        "threshold": threshold,
        "threshold_source": source,
        "matches": matches,
    }


def verify(run_dir: Path, image1: Path, image2: Path) -> dict:
    """Same person or not: the squared distance, the cosine, the decision
    at the run's threshold and (after `calibrate`) a calibrated P(same)."""
    loaded = load_embedding(run_dir)
    cfg = loaded[0]
    _, first, _ = embed_inputs(loaded, image1)
    _, second, _ = embed_inputs(loaded, image2)
    distance = float(np.sum((first[0] - second[0]) ** 2))
    threshold, source = decision_threshold(run_dir, cfg)
    result = {
        "same": distance <= threshold,
        "distance": round(distance, 4),
        "cosine": round(1.0 - distance / 2.0, 4),
        "threshold": round(threshold, 4),
        "threshold_source": source,
    }
    calibrator = calibrator_of(run_dir)
    if calibrator is not None:
        result["confidence_same"] = round(
            float(calibrator.predict_proba(distance)), 4
        )
    return result
