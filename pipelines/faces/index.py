"""The index of a face dataset: image paths, identity labels and names.

A `FaceIndex` is what every face reader returns
(`pipelines.faces.folders`) and what `pipelines.faces.dataset` decodes.
Identities are numbered in natural order of their names (`natural_key`:
`s2` before `s10`), so the same data always gives the same labels.
`split_by_identity` makes the disjoint train/test identities of the
one-shot protocol, and `summary` describes an index in one paragraph.
"""

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class FaceIndex:
    """Image paths with identity labels.

    Attributes:
        paths: image files, grouped by identity, in natural order.
        labels: identity id of each path, in `0..num_identities - 1`.
        names: identity name of each label (`names[labels[i]]`).
        skipped: `(path, reason)` of each file or identity left out.
    """

    paths: tuple[str, ...]
    labels: tuple[int, ...]
    names: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        if len(self.paths) != len(self.labels):
            raise ValueError(
                "paths and labels must have the same length. Received: "
                f"{len(self.paths)} paths, {len(self.labels)} labels"
            )
        bad = [x for x in self.labels if not 0 <= x < len(self.names)]
        if bad:
            raise ValueError(
                f"labels must lie in 0..{len(self.names) - 1}. Received: "
                f"labels={sorted(set(bad))[:5]}"
            )

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_identities(self) -> int:
        """Number of identities (`len(names)`)."""
        return len(self.names)

    def images_per_identity(self) -> dict[str, int]:
        """`{name: number of images}` in label order."""
        counts = np.bincount(
            np.asarray(self.labels, np.int64), minlength=len(self.names)
        )
        return {name: int(c) for name, c in zip(self.names, counts)}

    def subset(self, label_ids: Iterable[int]) -> "FaceIndex":
        """Keeps some identities and relabels them `0..k-1`.

        Args:
            label_ids: labels to keep; the new labels follow their
                ascending order, so names stay in natural order.

        Returns:
            A `FaceIndex` with the same `skipped` list.

        Raises:
            ValueError: an id out of range or repeated.
        """
        keep = [int(i) for i in label_ids]
        if len(set(keep)) != len(keep) or any(
            not 0 <= i < len(self.names) for i in keep
        ):
            raise ValueError(
                "label_ids must be distinct ids in "
                f"0..{len(self.names) - 1}. Received: label_ids={keep}"
            )
        new_id = {old: new for new, old in enumerate(sorted(keep))}
        rows = [
            (p, new_id[x])
            for p, x in zip(self.paths, self.labels)
            if x in new_id
        ]
        return FaceIndex(
            paths=tuple(p for p, _ in rows),
            labels=tuple(x for _, x in rows),
            names=tuple(self.names[old] for old in sorted(keep)),
            skipped=self.skipped,
        )


def natural_key(name: str) -> tuple:
    """Sort key where digit runs compare as numbers: `s2 < s10`."""
    parts = re.split(r"(\d+)", name)
    key = [int(p) if p.isdigit() else p.lower() for p in parts]
    return (key, name)


def split_by_identity(
    index: FaceIndex, *, num_test_identities: int, seed: int
) -> tuple[FaceIndex, FaceIndex]:
    """Splits into training identities and unseen test identities.

    No identity is in both parts, as the one-shot protocol needs.

    Args:
        index: the full index.
        num_test_identities: identities drawn for the test part.
        seed: the draw; the same seed gives the same split.

    Returns:
        `(train, test)`, each relabelled `0..k-1`.

    Raises:
        ValueError: `num_test_identities` not in `1..num_identities - 1`.

    Example:

    >>> train, test = split_by_identity(index, num_test_identities=10,
    ...                                 seed=0)
    """
    total = index.num_identities
    if not 0 < num_test_identities < total:
        raise ValueError(
            f"num_test_identities must be in 1..{total - 1} (the index has "
            f"{total} identities). Received: "
            f"num_test_identities={num_test_identities}"
        )
    order = np.random.default_rng(seed).permutation(total)
    test = order[:num_test_identities]
    train = order[num_test_identities:]
    return index.subset(train), index.subset(test)


def summary(index: FaceIndex, *, max_reasons: int = 3) -> str:
    """One paragraph describing an index, for logs and CLIs.

    Example:

    >>> print(summary(index))
    40 identities, 400 images (per identity: min 10, median 10, max 10);
    0 skipped.
    """
    counts = np.array(list(index.images_per_identity().values()))
    text = (
        f"{index.num_identities} identities, {len(index)} images (per "
        f"identity: min {counts.min()}, median {np.median(counts):g}, "
        f"max {counts.max()}); {len(index.skipped)} skipped"
    )
    if not index.skipped:
        return text + "."
    shown = "; ".join(
        f"{Path(path).name}: {reason}"
        for path, reason in index.skipped[:max_reasons]
    )
    more = ", ..." if len(index.skipped) > max_reasons else ""
    return f"{text} ({shown}{more})."
