"""How style's verbs print their results for a person."""


def print_summary(result: dict) -> None:
    """The cost terms at the start and the end, and where the images are."""
    start, end = result["start"], result["end"]
    colour = result["colour_distance_to_style"]
    print(
        f"{result['steps']} steps in {result['seconds']:.0f} s "
        f"({result['extractor']} extractor, {result['size'][0]}x"
        f"{result['size'][1]}): J {start['J']:.4g} -> {end['J']:.4g}, "
        f"J_style {start['J_style']:.4g} -> {end['J_style']:.4g}, "
        f"J_content 0 -> {end['J_content']:.4g}; colour distance to the "
        f"style {colour['content']:.3f} (content) -> {colour['result']:.3f}"
        " (result)"
    )
    print(f"Result: {result['result']}")
    print(f"Side by side: {result['side_by_side']}")
