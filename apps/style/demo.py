"""`python -m apps.style` with no verb: the default config end to end.

The shared data's astronaut in the style of The Starry Night when
`$DLSUITE_DATA/style_transfer` exists, otherwise matplotlib's Grace
Hopper photo and a generated swirl pattern, with the offline random-filter
extractor.
"""

from apps.common import runs
from apps.style import app
from apps.style.config import StyleConfig
from apps.style.folders import run_dir_for
from apps.style.report import print_summary


def demo() -> int:
    """The default config end to end, into a dated run folder."""
    cfg = StyleConfig()
    run_dir, _ = run_dir_for("style", runs.timestamped("demo"), overwrite=False)
    print(f"dlsuite style demo: run folder {run_dir}")
    result = app.stylize(cfg, run_dir)
    print(f"content: {result['content_image']}; style: {result['style_image']}")
    print_summary(result)
    return 0
