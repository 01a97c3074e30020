"""How detect's verbs print their results for a person."""


def metrics_line(result: dict) -> str:
    """`mAP@0.5 = ..., mAP@0.5:0.95 = ... (AP@0.5: per class)`."""
    per_class = ", ".join(
        f"{name} {v['ap50']:.3f}" for name, v in result["per_class"].items()
    )
    return (
        f"mAP@0.5 = {result['map50']:.3f}, mAP@0.5:0.95 = "
        f"{result['map50_95']:.3f} on {result['images']} {result['split']} "
        f"images (AP@0.5: {per_class})"
    )
