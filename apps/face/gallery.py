"""A gallery of enrolled people: names and their face embeddings."""

import dataclasses
import zipfile
from pathlib import Path

import numpy as np

from apps.common import runs

UNKNOWN = "unknown"
FORMAT_VERSION = 1
_NORM_TOLERANCE = 1e-2


@dataclasses.dataclass(frozen=True)
class Match:
    """The answer for one probe embedding.

    Attributes:
        name: the enrolled person, or `"unknown"` when even the nearest one
            is farther than the threshold.
        distance: squared L2 distance to the nearest enrolled embedding.
        cosine: the same as a cosine similarity, `1 - distance / 2`.
        second_best_name: the nearest other person (None with one person).
        second_best_distance: their distance (NaN with one person).
        nearest_name: the nearest person, also when `name` is `"unknown"`.
    """

    name: str
    distance: float
    cosine: float
    second_best_name: str | None
    second_best_distance: float
    nearest_name: str


class Gallery:
    """Enrolled people, several unit-norm embeddings each.

    A probe is compared with every enrolled embedding and a person's
    distance is that of their nearest embedding (nearest neighbour, the
    standard choice: it keeps each pose or lighting that was enrolled).
    Enrolling adds embeddings; nothing is retrained.

    Example:

    >>> gallery = Gallery()
    >>> gallery.enroll("ada", ada_embeddings)  # (k, dim), unit norm
    >>> gallery.identify(probe, threshold=1.0)[0].name
    'ada'
    >>> gallery.save("gallery.npz")
    """

    def __init__(self):
        self._people: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._people)

    def __contains__(self, name) -> bool:
        return name in self._people

    @property
    def dim(self) -> int | None:
        """Embedding size, None while the gallery is empty."""
        for emb in self._people.values():
            return emb.shape[1]
        return None

    def names(self) -> list[str]:
        """Enrolled names, in enrolment order."""
        return list(self._people)

    def embeddings(self, name: str) -> np.ndarray:
        """`(k, dim)` embeddings enrolled for `name`."""
        self._check_enrolled(name)
        return self._people[name].copy()

    def enroll(self, name: str, embeddings) -> None:
        """Adds `(dim,)` or `(k, dim)` unit-norm embeddings to `name`
        (a new person, or more samples of one already enrolled)."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"Expected a non-empty name. Received: {name!r}")
        if name == UNKNOWN:
            raise ValueError(
                f"{UNKNOWN!r} is what identify() answers for a stranger; "
                "enroll this person under another name."
            )
        emb = np.asarray(embeddings, np.float32)
        if emb.ndim == 1:
            emb = emb[None]
        if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0:
            raise ValueError(
                "Expected embeddings `(dim,)` or `(k, dim)`. Received: "
                f"shape={np.shape(embeddings)}"
            )
        if self.dim is not None and emb.shape[1] != self.dim:
            raise ValueError(
                f"Expected embeddings of size {self.dim}, like those already "
                f"enrolled. Received: {emb.shape[1]}"
            )
        norms = np.linalg.norm(emb, axis=1)
        if not np.all(np.abs(norms - 1) <= _NORM_TOLERANCE):
            raise ValueError(
                "Expected unit-norm embeddings (distances assume them). "
                f"Received: norms from {norms.min():.4g} to {norms.max():.4g}"
            )
        old = self._people.get(name, np.zeros((0, emb.shape[1]), np.float32))
        self._people[name] = np.concatenate([old, emb])

    def remove(self, name: str) -> None:
        """Forgets `name` and all their embeddings."""
        self._check_enrolled(name)
        del self._people[name]

    def _check_enrolled(self, name):
        if name not in self._people:
            raise ValueError(
                f"{name!r} is not enrolled. Enrolled: "
                f"{', '.join(self._people) or 'nobody'}"
            )

    def identify(self, embeddings, *, threshold: float) -> list[Match]:
        """The nearest enrolled person for each probe, or `"unknown"`.

        Args:
            embeddings: `(dim,)` or `(q, dim)` unit-norm probe embeddings.
            threshold: squared L2 distance at or under which the nearest
                person is accepted (a cosine `c` is `2 - 2 c`).

        Returns:
            One `Match` per probe.
        """
        if not self._people:
            raise ValueError(
                "The gallery is empty: enroll someone first "
                "(Gallery.enroll(name, embeddings))."
            )
        if not (np.isfinite(threshold) and threshold >= 0):
            raise ValueError(
                "Expected a squared-distance threshold >= 0. Received: "
                f"threshold={threshold}"
            )
        probes = np.asarray(embeddings, np.float64)
        if probes.ndim == 1:
            probes = probes[None]
        if probes.ndim != 2 or probes.shape[1] != self.dim:
            raise ValueError(
                f"Expected probes `(dim,)` or `(q, {self.dim})`. Received: "
                f"shape={np.shape(embeddings)}"
            )
        names = self.names()
        per_person = np.stack(
            [_min_distances(self._people[n], probes) for n in names], axis=1
        )
        order = np.argsort(per_person, axis=1, kind="stable")
        matches = []
        for row, ranked in zip(per_person, order):
            best = float(row[ranked[0]])
            second = ranked[1] if len(names) > 1 else None
            matches.append(
                Match(
                    name=names[ranked[0]] if best <= threshold else UNKNOWN,
                    distance=best,
                    cosine=1.0 - best / 2.0,
                    second_best_name=None if second is None else names[second],
                    second_best_distance=(
                        float("nan") if second is None else float(row[second])
                    ),
                    nearest_name=names[ranked[0]],
                )
            )
        return matches

    def save(self, path) -> Path:
        """Writes the gallery to a `.npz` file, atomically.

        The file holds `names` `(people,)` unicode, `embeddings` `(n, dim)`
        float32, `owners` `(n,)` int (index into `names`) and
        `format_version`; nothing in it needs unpickling.
        """
        names = self.names()
        dim = self.dim or 0
        arrays = {
            "format_version": np.array(FORMAT_VERSION, np.int64),
            "names": np.array(names, dtype=str),
            "embeddings": np.concatenate(
                [self._people[n] for n in names]
                or [np.zeros((0, dim), np.float32)]
            ),
            "owners": np.repeat(
                np.arange(len(names), dtype=np.int64),
                [len(self._people[n]) for n in names],
            ),
        }

        def write(tmp):
            with open(tmp, "wb") as f:  # a file object: no ".npz" appended
                np.savez(f, **arrays)

        runs.atomic_write(Path(path), write, Gallery.load)
        return Path(path)

    @classmethod
    def load(cls, path) -> "Gallery":
        """Reads a gallery written by `save` (never unpickles anything)."""
        path = Path(path)
        expected = (
            "a gallery .npz from Gallery.save with names (people,) unicode, "
            "embeddings (n, dim) float, owners (n,) int and format_version"
        )
        try:
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array")
            with data:
                arrays = {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise ValueError(f"{path}: gallery file not found")
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
            raise ValueError(f"{path}: expected {expected}; got {err}")
        problem = _format_problem(arrays)
        if problem:
            raise ValueError(f"{path}: expected {expected}; {problem}")
        gallery = cls()
        for k, name in enumerate(arrays["names"].tolist()):
            emb = arrays["embeddings"][arrays["owners"] == k]
            gallery._people[name] = emb.astype(np.float32)
        return gallery


def _min_distances(enrolled: np.ndarray, probes: np.ndarray) -> np.ndarray:
    """`(q,)` squared L2 distance from each probe to its nearest row."""
    e = enrolled.astype(np.float64)
    d = (
        np.einsum("qd,qd->q", probes, probes)[:, None]
        + np.einsum("kd,kd->k", e, e)[None]
        - 2.0 * probes @ e.T
    )
    return np.maximum(d.min(axis=1), 0.0)


def _format_problem(arrays: dict) -> str | None:
    """What is wrong with a loaded gallery's arrays, or None."""
    missing = {"format_version", "names", "embeddings", "owners"} - set(arrays)
    if missing:
        return f"missing {', '.join(sorted(missing))}"
    version = arrays["format_version"]
    if version.shape != () or int(version) != FORMAT_VERSION:
        return f"format_version {version} is not {FORMAT_VERSION}"
    names, emb, owners = arrays["names"], arrays["embeddings"], arrays["owners"]
    if names.ndim != 1 or names.dtype.kind != "U":
        return f"names has dtype {names.dtype} and shape {names.shape}"
    if len(set(names.tolist())) != names.size or UNKNOWN in names:
        return "names repeat or include 'unknown'"
    if emb.ndim != 2 or emb.dtype.kind != "f":
        return f"embeddings has dtype {emb.dtype} and shape {emb.shape}"
    if not np.all(np.isfinite(emb)):
        return "embeddings are not all finite"
    if owners.shape != emb.shape[:1] or owners.dtype.kind not in "iu":
        return f"owners has dtype {owners.dtype} and shape {owners.shape}"
    if owners.size and (owners.min() < 0 or owners.max() >= names.size):
        return "owners point outside names"
    if np.unique(owners).size != names.size:
        return "some names have no embeddings"
    return None
