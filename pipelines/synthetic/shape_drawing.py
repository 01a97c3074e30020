"""Drawing for the synthetic shapes: backgrounds, colours, shape masks.

Everything is drawn with numpy from pixel-centre coordinates (no
anti-aliasing), so a mask is exactly the set of pixels an object covers,
and everything comes from the `numpy.random.Generator` passed in.
`pipelines.synthetic.shapes` places these shapes into images and datasets.

Example:

```python
rng = np.random.default_rng(0)
background, anchors = draw_background(rng, 64)
x0, y0, mask = draw_shape_mask(rng, kind=0, size=64, extent=20.0)
colour = pick_colour(rng, anchors, neighbours=[])
```
"""

import numpy as np

# Colour distances are Euclidean in 0..255 RGB.
_MIN_BACKGROUND_DISTANCE = 120.0
_MIN_NEIGHBOUR_DISTANCE = 70.0


def draw_background(
    rng: np.random.Generator, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draws a solid, gradient or noise-textured square background.

    Args:
        rng: the generator all randomness comes from.
        size: side of the square image, in pixels.

    Returns:
        `(image, anchors)`: a float32 `(size, size, 3)` image in 0..255 and a
        `(k, 3)` array of colours whose convex span covers the background's
        palette (used to keep object colours distinct from it).
    """
    kind = rng.integers(3)
    base = rng.uniform(0.0, 255.0, size=3)
    if kind == 0:
        image = np.broadcast_to(base, (size, size, 3)).astype(np.float32)
        return image, base[None]
    if kind == 1:
        other = np.clip(base + rng.uniform(-90.0, 90.0, size=3), 0.0, 255.0)
        angle = rng.uniform(0.0, 2.0 * np.pi)
        coords = np.arange(size, dtype=np.float32) + 0.5
        proj = coords[None, :] * np.cos(angle) + coords[:, None] * np.sin(angle)
        t = (proj - proj.min()) / max(float(np.ptp(proj)), 1e-6)
        image = base + t[..., None] * (other - base)
        return image.astype(np.float32), np.linspace(base, other, 5)
    # Smooth low-frequency texture (bilinear upsampling of a small random
    # grid, so it never forms hard edges that could look like a shape) plus a
    # little per-pixel grain.
    grid = int(rng.integers(3, 9))
    amplitude = rng.uniform(10.0, 35.0)
    cells = rng.uniform(-amplitude, amplitude, size=(grid, grid, 3))
    positions = (np.arange(size) + 0.5) * (grid - 1) / size
    lower = np.minimum(positions.astype(np.int64), grid - 2)
    frac = positions - lower
    interp = np.zeros((size, grid), dtype=np.float64)
    interp[np.arange(size), lower] = 1.0 - frac
    interp[np.arange(size), lower + 1] = frac
    rows = np.tensordot(interp, cells, axes=(1, 0))  # (size, grid, 3)
    smooth = np.einsum("yjc,xj->yxc", rows, interp, optimize=True)
    grain = rng.uniform(-8.0, 8.0, size=(size, size, 3))
    image = np.clip(base + smooth + grain, 0.0, 255.0).astype(np.float32)
    spread = amplitude + 8.0
    anchors = np.clip(
        base + spread * np.array([[0, 0, 0], [1, 1, 1], [-1, -1, -1]]),
        0.0,
        255.0,
    )
    return image, anchors


def _segment_distance(colours, anchors):
    """Distance from each candidate colour to the polyline through anchors."""
    if len(anchors) == 1:
        return np.linalg.norm(colours - anchors[0], axis=-1)
    best = np.full(len(colours), np.inf)
    for start, end in zip(anchors[:-1], anchors[1:], strict=True):
        direction = end - start
        length2 = max(float(direction @ direction), 1e-9)
        t = np.clip((colours - start) @ direction / length2, 0.0, 1.0)
        nearest = start + t[:, None] * direction
        best = np.minimum(best, np.linalg.norm(colours - nearest, axis=-1))
    return best


def pick_colour(
    rng: np.random.Generator, anchors: np.ndarray, neighbours: list
) -> np.ndarray:
    """Picks an object colour far from the background and its neighbours.

    Of 32 random candidates, the first at least 120 (Euclidean, 0..255 RGB)
    from the polyline through `anchors` and at least 70 from every
    neighbour's colour is taken; when none is, the one that comes closest.

    Args:
        rng: the generator all randomness comes from.
        anchors: `(k, 3)` colours describing the background, as
            `draw_background` returns them.
        neighbours: colours (each `(3,)`) of the objects it may touch.

    Returns:
        A uint8 `(3,)` colour.
    """
    candidates = rng.integers(0, 256, size=(32, 3)).astype(np.float64)
    score = _segment_distance(candidates, anchors) / _MIN_BACKGROUND_DISTANCE
    if neighbours:
        near = np.stack(neighbours).astype(np.float64)
        dist = np.linalg.norm(candidates[:, None] - near[None], axis=-1)
        score = np.minimum(score, dist.min(axis=1) / _MIN_NEIGHBOUR_DISTANCE)
    good = np.flatnonzero(score >= 1.0)
    index = good[0] if len(good) else int(np.argmax(score))
    return candidates[index].astype(np.uint8)


def draw_shape_mask(
    rng: np.random.Generator, kind: int, size: int, extent: float
) -> tuple[int, int, np.ndarray] | None:
    """Draws one shape's mask at a random place, from pixel centres.

    Args:
        rng: the generator all randomness comes from.
        kind: 0 circle, 1 axis-aligned square, 2 triangle (the index into
            `pipelines.synthetic.shapes.SHAPE_CLASSES`).
        size: side of the square image, in pixels.
        extent: the shape's diameter or side, in pixels.

    Returns:
        `(x0, y0, mask)`: the window's top-left pixel and a boolean mask, or
        `None` if the mask came out empty.
    """
    half = extent / 2.0
    cx = rng.uniform(half, size - half)
    cy = rng.uniform(half, size - half)
    x0 = max(int(np.floor(cx - half)), 0)
    y0 = max(int(np.floor(cy - half)), 0)
    x1 = min(int(np.ceil(cx + half)), size)
    y1 = min(int(np.ceil(cy + half)), size)
    xs = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5
    ys = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5
    if kind == 0:
        mask = (xs - cx) ** 2 + (ys - cy) ** 2 <= half**2
    elif kind == 1:
        side = max(int(round(extent)), 2)
        left = min(max(int(round(cx - side / 2.0)), 0), size - side)
        top = min(max(int(round(cy - side / 2.0)), 0), size - side)
        return left, top, np.ones((side, side), dtype=bool)
    else:
        angles = rng.uniform(0.0, 2.0 * np.pi) + (
            np.arange(3) * 2.0 * np.pi / 3.0 + rng.uniform(-0.25, 0.25, 3)
        )
        vx = cx + half * np.cos(angles)
        vy = cy + half * np.sin(angles)
        inside = []
        for i in range(3):
            j = (i + 1) % 3
            cross = (vx[j] - vx[i]) * (ys - vy[i]) - (vy[j] - vy[i]) * (
                xs - vx[i]
            )
            inside.append(cross)
        # Vertices go counter-clockwise in maths axes, i.e. clockwise with
        # y pointing down: accept either sign consistently.
        pos = (inside[0] >= 0) & (inside[1] >= 0) & (inside[2] >= 0)
        neg = (inside[0] <= 0) & (inside[1] <= 0) & (inside[2] <= 0)
        mask = pos | neg
    if not mask.any():
        return None
    return x0, y0, mask
