"""The config tree of `apps.style`."""

import dataclasses

from apps.common.config import check
from apps.common.sections import RuntimeConfig

EXTRACTORS = ("random", "vgg19")
INITS = ("content", "noise", "blend")


@dataclasses.dataclass
class ImagesConfig:
    """Which images, at which size.

    `content` and `style` are image paths (`$DLSUITE_DATA` expands); empty
    means the defaults: `$DLSUITE_DATA/style_transfer/content/astronaut.png`
    and `.../style/starry_night.jpg` when the shared data exists, else
    matplotlib's `grace_hopper.jpg` and a painting-like pattern generated
    from `seed` (offline, nothing downloaded). The content image is
    resized so its longer side is `size`; the style image is resized and
    centre-cropped to the same `H x W` (the cheatsheet's style cost
    compares Gram matrices of equal `n_H n_W`).
    """

    content: str = ""
    style: str = ""
    size: int = 160
    seed: int = 0


@dataclasses.dataclass
class ExtractorConfig:
    """The fixed network whose activations define the costs.

    `name: random` (offline default) is a VGG-style network whose filters
    are random and fixed (seeded): no download, and it still measures
    colours and local texture statistics (Ustyuzhaninov et al. 2017 found
    random multi-scale filters enough for texture synthesis); it does not
    know objects, so results are colour and brush-stroke transfer rather
    than Gatys-quality painting. `name: vgg19` is Keras' VGG19 with
    `weights: imagenet` (downloaded by Keras on first use: only when you
    ask), a local weights file `PATH` (`.h5` of `keras.applications.VGG19`,
    `include_top=False`), or `none` (random init: for shape checks only).
    Layers default to the extractor's usual ones when empty.
    """

    name: str = "random"
    weights: str = "imagenet"
    content_layers: list[str] = dataclasses.field(default_factory=list)
    style_layers: list[str] = dataclasses.field(default_factory=list)
    width: int = 48
    seed: int = 0


@dataclasses.dataclass
class CostConfig:
    """`J(G) = alpha J_content + beta J_style + tv_weight TV(G)`.

    Adam is invariant to the overall scale, so only the ratios matter.
    null means the extractor's default (see `apps/style/model.py`).
    `style_weights` are `lambda[l]` per style layer (equal when empty).
    """

    alpha: float | None = None
    beta: float | None = None
    tv_weight: float | None = None
    style_weights: list[float] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class OptimizeConfig:
    """Adam on the pixels of `G` (kept in [0, 1]).

    `init`: start from the content image, from noise, or from a blend of
    both. `save_every`: steps between intermediate PNGs, checkpoints and
    TensorBoard scalars.
    """

    steps: int = 300
    learning_rate: float = 0.02
    init: str = "content"
    save_every: int = 50
    verbose: int = 1


@dataclasses.dataclass
class StyleConfig:
    """Root config of `python -m apps.style`."""

    images: ImagesConfig = dataclasses.field(default_factory=ImagesConfig)
    extractor: ExtractorConfig = dataclasses.field(
        default_factory=ExtractorConfig
    )
    cost: CostConfig = dataclasses.field(default_factory=CostConfig)
    optimize: OptimizeConfig = dataclasses.field(default_factory=OptimizeConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)

    def validate(self) -> None:
        """Range checks that types alone cannot express."""
        i, e, c, o = self.images, self.extractor, self.cost, self.optimize
        check(
            32 <= i.size <= 1024, "images.size", "in [32, 1024] pixels", i.size
        )
        check(
            e.name in EXTRACTORS,
            "extractor.name",
            f"one of {', '.join(EXTRACTORS)}",
            e.name,
        )
        check(
            bool(e.weights),
            "extractor.weights",
            "imagenet, PATH or none",
            e.weights,
        )
        check(e.width >= 4, "extractor.width", ">= 4", e.width)
        for key in ("alpha", "beta", "tv_weight"):
            value = getattr(c, key)
            check(
                value is None or value >= 0,
                f"cost.{key}",
                ">= 0 or null",
                value,
            )
        check(
            all(w >= 0 for w in c.style_weights),
            "cost.style_weights",
            "weights >= 0",
            c.style_weights,
        )
        check(o.steps >= 1, "optimize.steps", ">= 1", o.steps)
        check(
            o.learning_rate > 0,
            "optimize.learning_rate",
            "> 0",
            o.learning_rate,
        )
        check(
            o.init in INITS,
            "optimize.init",
            f"one of {', '.join(INITS)}",
            o.init,
        )
        check(o.save_every >= 1, "optimize.save_every", ">= 1", o.save_every)
