"""`python -m apps.style`: neural style transfer (Gatys et al. 2016).

With no verb, runs the demo: the shared data's astronaut in the style of
The Starry Night when `$DLSUITE_DATA/style_transfer` exists, otherwise
matplotlib's Grace Hopper photo and a generated swirl pattern, with the
offline random-filter extractor. Nothing is downloaded unless you ask for
`extractor.name=vgg19` with `extractor.weights=imagenet`.
"""

from apps.common.runtime import quiet_tensorflow

quiet_tensorflow()

import shutil  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from apps.common import cli  # noqa: E402
from apps.common import config as config_lib  # noqa: E402
from apps.common import runs  # noqa: E402
from apps.style.config import StyleConfig  # noqa: E402

PROG = "python -m apps.style"
DESCRIPTION = (
    "Neural style transfer: optimise an image G to minimise the "
    "cheatsheet's J(G) = alpha J_content(C, G) + beta J_style(S, G). With "
    "no verb, runs the offline demo."
)
DATA = "$DLSUITE_DATA/style_transfer"
EXAMPLES = [
    f"{PROG}",
    f"{PROG} run --content {DATA}/content/chelsea.png "
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


def _app():
    from apps.style import app

    return app


def _add_run(p) -> None:
    cli.add_train_arguments(p)
    p.add_argument("--content", metavar="IMAGE", help="content image C")
    p.add_argument("--style", metavar="IMAGE", help="style image S")


def run_dir_for(name: str | None, *, overwrite: bool) -> tuple[Path, bool]:
    """The run folder: new, resumed (a state.npz without result.png), or
    refused when finished (unless `overwrite`)."""
    run_dir = runs.default_root() / "style" / (name or runs.timestamped("run"))
    app = _app()
    if run_dir.exists() and any(run_dir.iterdir()):
        is_run = (run_dir / runs.CONFIG_FILE).exists()
        if overwrite and is_run:
            shutil.rmtree(run_dir)
            return run_dir, False
        if (run_dir / app.RESULT_FILE).exists():
            raise runs.RunError(
                f"{run_dir}: run already finished; choose another --run "
                "name or pass --overwrite"
            )
        if (run_dir / app.STATE_FILE).exists():
            return run_dir, True
        if not is_run:
            raise runs.RunError(
                f"{run_dir}: folder exists and is not a run; choose another "
                "--run name"
            )
    return run_dir, False


def _print_summary(result: dict) -> None:
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


def _run(args) -> int:
    sets = list(args.sets)
    if args.content:
        sets.append(f"images.content={args.content}")
    if args.style:
        sets.append(f"images.style={args.style}")
    cfg = config_lib.resolve(StyleConfig, config_file=args.config, sets=sets)
    run_dir, resuming = run_dir_for(args.run, overwrite=args.overwrite)
    result = _app().stylize(cfg, run_dir, resuming=resuming)
    _print_summary(result)
    print(f"Run folder: {run_dir}")
    return 0


def _export(args) -> int:
    result = _app().export(Path(args.run))
    print(
        f"SavedModel: {result['path']} (signature {result['signature']}: "
        "content, style, generated images -> J, J_content, J_style, TV; "
        f"fresh-process check: max |diff| {result['max_abs_diff']:.2g})"
    )
    return 0


VERBS = [
    cli.Verb(
        "run",
        "stylise --content with --style; resumes a killed run",
        _add_run,
        _run,
    ),
    cli.Verb(
        "export",
        "SavedModel of the run's cost J(G) (extractor + costs) for any "
        "content, style and generated image, checked in a fresh process",
        lambda p: cli.add_run_argument(
            p, help_text="run folder, e.g. saved_models/style/NAME"
        ),
        _export,
    ),
]


def demo() -> int:
    """The default config end to end, into a dated run folder."""
    cfg = StyleConfig()
    run_dir, _ = run_dir_for(runs.timestamped("demo"), overwrite=False)
    print(f"dlsuite style demo: run folder {run_dir}")
    result = _app().stylize(cfg, run_dir)
    print(f"content: {result['content_image']}; style: {result['style_image']}")
    _print_summary(result)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.main(PROG, DESCRIPTION, VERBS, EXAMPLES, demo, argv)


if __name__ == "__main__":
    sys.exit(main())
