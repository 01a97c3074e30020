"""`python -m apps.style`: neural style transfer (Gatys et al. 2016).

`train` (alias `run`) optimises one image, not a Keras model's weights, so
it is not the shared `apps.common.lifecycle` fit: it has its own resume
state (`state.npz`) and run-folder rule (`apps.style.folders`), and takes
`--content`/`--style` besides the shared config flags. The verb shells
are the shared ones (`apps.common.verbs`). It has no `tune`, `sanity` or
`lr-find`: there is no model to train.

With no verb, runs the demo: the shared data's astronaut in the style of
The Starry Night when `$DLSUITE_DATA/style_transfer` exists, otherwise
matplotlib's Grace Hopper photo and a generated swirl pattern, with the
offline random-filter extractor. Nothing is downloaded unless you ask for
`extractor.name=vgg19` with `extractor.weights=imagenet`.
"""

from apps.common.runtime import start_tensorflow

start_tensorflow()

import sys  # noqa: E402

from apps.common import cli  # noqa: E402
from apps.common import verbs  # noqa: E402
from apps.style.config import StyleConfig  # noqa: E402
from apps.style.folders import run_dir_for  # noqa: E402
from apps.style.report import print_summary  # noqa: E402

DATA = "$DLSUITE_DATA/style_transfer"
APP = cli.AppCli(
    "style",
    StyleConfig,
    "Neural style transfer: optimise an image G to minimise the "
    "cheatsheet's J(G) = alpha J_content(C, G) + beta J_style(S, G). With "
    "no verb, runs the offline demo.",
    [],
)
PROG = APP.prog
APP.examples = [
    f"{PROG}",
    f"{PROG} train --content {DATA}/content/chelsea.png "
    f"--style {DATA}/style/wave.jpg --run cat_wave",
    f"{PROG} run --content photo.jpg --style painting.jpg "
    "--set optimize.steps=500 --set images.size=256",
    f"{PROG} run --set extractor.name=vgg19 "
    "--set extractor.weights=vgg19_notop.h5",
    f"{PROG} run --set extractor.name=vgg19 --set extractor.weights=imagenet"
    "   (downloads 80 MB once)",
    f"{PROG} export --run saved_models/style/cat_wave",
    "python -m apps.inspect --app style",
]


def _add_images(p) -> None:
    p.add_argument("--content", metavar="IMAGE", help="content image C")
    p.add_argument("--style", metavar="IMAGE", help="style image S")


def _image_sets(args) -> list[str]:
    sets = []
    if args.content:
        sets.append(f"images.content={args.content}")
    if args.style:
        sets.append(f"images.style={args.style}")
    return sets


def _exported(result: dict, args) -> None:
    print(
        f"SavedModel: {result['path']} (signature {result['signature']}: "
        "content, style, generated images -> J, J_content, J_style, TV; "
        f"fresh-process check: max |diff| {result['max_abs_diff']:.2g})"
    )


VERBS = [
    verbs.train(
        APP,
        "stylise --content with --style; resumes a killed run",
        aliases=["run"],
        add_arguments=_add_images,
        sets_of=_image_sets,
        run_dir_for=run_dir_for,
        report=lambda result, args: print_summary(result),
    ),
    verbs.export(
        APP,
        "SavedModel of the run's cost J(G) (extractor + costs) for any "
        "content, style and generated image, checked in a fresh process",
        report=_exported,
    ),
]


def demo() -> int:
    """The embedded default, end to end (`apps.style.demo`)."""
    from apps.style.demo import demo as run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.main(APP, VERBS, demo, argv)


if __name__ == "__main__":
    sys.exit(main())
