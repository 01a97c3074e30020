"""Detections drawn on images, for people to look at."""

from pathlib import Path

import numpy as np

PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
)


def draw_detections(
    image: np.ndarray, detections: list[dict], out_path: Path
) -> Path:
    """Writes `image` with each detection's box, class and score as a PNG.

    Args:
        image: `(H, W, 3)` uint8 RGB.
        detections: dicts with `box` (pixel xyxy), `class`, `class_id`,
            `score`.
        out_path: the PNG to write.
    """
    from PIL import Image
    from PIL import ImageDraw

    canvas = Image.fromarray(image).convert("RGB")
    scale = max(1, round(512 / max(canvas.size)))
    if scale > 1:
        canvas = canvas.resize(
            (canvas.width * scale, canvas.height * scale), Image.NEAREST
        )
    draw = ImageDraw.Draw(canvas)
    for det in detections:
        colour = PALETTE[det["class_id"] % len(PALETTE)]
        x0, y0, x1, y1 = (v * scale for v in det["box"])
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=2)
        label = f"{det['class']} {det['score']:.2f}"
        left, top, right, bottom = draw.textbbox((x0, y0), label)
        top_y = max(0, y0 - (bottom - top) - 2)
        draw.rectangle(
            [x0, top_y, x0 + (right - left) + 4, top_y + (bottom - top) + 2],
            fill=colour,
        )
        draw.text((x0 + 2, top_y), label, fill=(255, 255, 255))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp.png")
    canvas.save(tmp)
    tmp.replace(out_path)
    return out_path
