"""The verbs of `python -m apps.style` as plain Python functions.

`stylize` optimises the pixels of the generated image `G` with Adam to
minimise the cheatsheet's `J(G) = alpha J_content(C, G) + beta
J_style(S, G)` (+ total variation), the costs coming from
`layers.losses.style`. It writes into the run folder: `config.yaml`,
`steps/step_NNNN.png` every `save_every` steps, `result.png`,
`side_by_side.png` (content | style | result), `plots/costs.png`,
TensorBoard scalars in `logs/`, `metrics.json`, and `state.npz` (the
image, the step and Adam's moments), from which a killed run resumes.
"""

import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from apps.common import config as config_lib
from apps.common import lifecycle
from apps.common import plots
from apps.common import runs
from apps.common.runtime import apply_runtime
from apps.style import images as images_lib
from apps.style.config import StyleConfig
from apps.style.folders import RESULT_FILE
from apps.style.folders import STATE_FILE
from apps.style.model import build_extractor
from apps.style.model import cost_weights
from apps.style.model import layer_names
from layers.losses.style import content_cost
from layers.losses.style import gram_matrix
from layers.losses.style import style_cost
from layers.losses.style import total_variation

SIDE_BY_SIDE_FILE = "side_by_side.png"
# Keys a resumed run may change.
RESUMABLE = ("optimize.steps", "optimize.save_every", "optimize.verbose")


def style_weights(cfg: StyleConfig, count: int) -> list[float]:
    """`lambda[l]`: the config's, or `1 / L` each."""
    weights = list(cfg.cost.style_weights)
    if not weights:
        return [1.0 / count] * count
    if len(weights) != count:
        raise config_lib.ConfigError(
            f"cost.style_weights: expected {count} weights (one per style "
            f"layer), received {weights}"
        )
    return weights


class Costs:
    """The cost terms of one (content, style) pair for one extractor.

    The style image's Gram matrices and the content image's activations
    are computed once; `terms(G)` gives `(J, J_content, J_style, TV)`.
    """

    def __init__(self, cfg: StyleConfig, extractor, content, style):
        self.extractor = extractor
        weights = cost_weights(cfg)
        self.alpha = weights["alpha"]
        self.beta = weights["beta"]
        self.tv_weight = weights["tv_weight"]
        c_feats = extractor(content[None], training=False)
        s_feats = extractor(style[None], training=False)
        self.content_targets = [tf.constant(a) for a in c_feats["content"]]
        self.style_grams = [
            tf.constant(gram_matrix(a)) for a in s_feats["style"]
        ]
        self.style_weights = style_weights(cfg, len(self.style_grams))

    def terms(self, image):
        """`(J, J_content, J_style, TV)` of a `(1, H, W, 3)` image."""
        feats = self.extractor(image, training=False)
        j_content = tf.add_n(
            [
                content_cost(t, a)
                for t, a in zip(self.content_targets, feats["content"])
            ]
        )
        j_style = style_cost(
            self.style_grams, feats["style"], self.style_weights
        )
        tv = total_variation(image, squared=True)
        total = (
            self.alpha * j_content + self.beta * j_style + self.tv_weight * tv
        )
        return total[0], j_content[0], j_style[0], tv[0]


def _initial_image(cfg: StyleConfig, content: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(cfg.images.seed)
    noise = rng.uniform(0.0, 1.0, content.shape).astype(np.float32)
    if cfg.optimize.init == "noise":
        return noise
    if cfg.optimize.init == "blend":
        return 0.6 * content + 0.4 * noise
    return content.copy()


def _save_state(run_dir: Path, image, step: int, optimizer) -> None:
    arrays = {"image": image, "step": np.array(step)}
    for i, v in enumerate(optimizer.variables):
        arrays[f"opt_{i}"] = keras.ops.convert_to_numpy(v)

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    runs.atomic_write(run_dir / STATE_FILE, write)


def _load_state(run_dir: Path, optimizer, variable) -> int:
    """Restores the image and Adam's state; returns the step reached."""
    path = run_dir / STATE_FILE
    if not path.is_file():
        return 0
    with np.load(path) as data:
        if data["image"].shape != tuple(variable.shape):
            raise runs.RunError(
                f"{path}: saved image {data['image'].shape} does not match "
                f"{tuple(variable.shape)}; use another --run"
            )
        variable.assign(data["image"])
        optimizer.build([variable])
        for i, v in enumerate(optimizer.variables):
            v.assign(data[f"opt_{i}"])
        return int(data["step"])


def train(cfg: StyleConfig, run_dir: Path, *, resuming: bool = False) -> dict:
    """`stylize` as the shared `train` verb calls it: a resumed run may
    change only the steps and how often it saves and talks (the others
    would change what the saved image and Adam state mean).

    Raises:
        ConfigChanged: resuming with another key changed.
    """
    if resuming:
        changes = lifecycle.check_resumed(
            StyleConfig, cfg, run_dir, prefixes=RESUMABLE
        )
        lifecycle.apply_resumed(run_dir, changes)
    return stylize(cfg, run_dir, resuming=resuming)


def stylize(cfg: StyleConfig, run_dir: Path, *, resuming: bool = False) -> dict:
    """Optimises `G` and writes the run folder (see the module docstring).

    Returns:
        A summary: the files written, the cost terms at the start and the
        end, the steps and seconds.
    """
    apply_runtime(cfg.runtime)
    run_dir = Path(run_dir)
    content, content_name = images_lib.load_content(cfg.images)
    style, style_name = images_lib.load_style(
        cfg.images, content.shape[0], content.shape[1]
    )
    extractor = build_extractor(cfg)
    costs = Costs(cfg, extractor, content, style)
    runs.ensure_dir(run_dir)
    config_lib.dump_yaml(cfg, run_dir / runs.CONFIG_FILE)
    steps_dir = runs.ensure_dir(run_dir / "steps")
    image = tf.Variable(_initial_image(cfg, content)[None], name="generated")
    optimizer = keras.optimizers.Adam(cfg.optimize.learning_rate)
    optimizer.build([image])
    start_step = _load_state(run_dir, optimizer, image) if resuming else 0
    if start_step:
        print(f"Resuming {run_dir} at step {start_step}")

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            total, j_c, j_s, tv = costs.terms(image)
        grad = tape.gradient(total, image)
        optimizer.apply([grad], [image])
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
        return total, j_c, j_s, tv

    def evaluate(x):
        return [float(v) for v in costs.terms(tf.constant(x))]

    first = evaluate(image.numpy())
    history = []
    writer = tf.summary.create_file_writer(str(run_dir / "logs"))
    o = cfg.optimize
    started = time.time()
    bar = tqdm(
        range(start_step, o.steps),
        initial=start_step,
        total=o.steps,
        desc="stylize",
        disable=not o.verbose,
        unit="step",
    )
    for i in bar:
        values = [float(v) for v in step()]
        history.append([i + 1, *values])
        bar.set_postfix(J=f"{values[0]:.4g}")
        if (i + 1) % o.save_every == 0 or i + 1 == o.steps:
            with writer.as_default(step=i + 1):
                for name, v in zip(("J", "J_content", "J_style", "TV"), values):
                    tf.summary.scalar(name, v)
            images_lib.save_png(
                image.numpy()[0], steps_dir / f"step_{i + 1:04d}.png"
            )
            _save_state(run_dir, image.numpy(), i + 1, optimizer)
    writer.flush()
    seconds = time.time() - started
    result = image.numpy()[0]
    last = evaluate(result[None])
    images_lib.save_png(result, run_dir / RESULT_FILE)
    images_lib.side_by_side(
        [content, style, result],
        ["content", "style", "result"],
        run_dir / SIDE_BY_SIDE_FILE,
    )
    _plot_costs(history, run_dir / "plots" / "costs.png")
    content_layers, style_layers = layer_names(cfg)
    summary = {
        "content_image": content_name,
        "style_image": style_name,
        "size": list(content.shape[:2]),
        "extractor": cfg.extractor.name,
        "content_layers": content_layers,
        "style_layers": style_layers,
        "weights": cost_weights(cfg),
        "steps": o.steps,
        "resumed_at": start_step,
        "seconds": round(seconds, 2),
        "start": dict(zip(("J", "J_content", "J_style", "TV"), first)),
        "end": dict(zip(("J", "J_content", "J_style", "TV"), last)),
        "colour_distance_to_style": {
            "content": images_lib.colour_distance(content, style),
            "result": images_lib.colour_distance(result, style),
        },
        "result": str(run_dir / RESULT_FILE),
        "side_by_side": str(run_dir / SIDE_BY_SIDE_FILE),
    }
    runs.write_json(run_dir / runs.METRICS_FILE, summary)
    return summary


def _plot_costs(history, out_png: Path) -> Path | None:
    if not history:
        return None
    plt = plots.pyplot()
    data = np.array(history)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, col, title in zip(axes, (1, 2, 3), ("J", "J_content", "J_style")):
        ax.plot(data[:, 0], data[:, col])
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


def load_run(run_dir: Path) -> StyleConfig:
    """The config of a finished style run."""
    run_dir = Path(run_dir)
    if not (run_dir / runs.CONFIG_FILE).is_file():
        raise runs.RunError(f"{run_dir}: not a style run (no config.yaml)")
    if not (run_dir / RESULT_FILE).is_file():
        raise runs.RunError(
            f"{run_dir}: run has no {RESULT_FILE}; finish it first "
            "(re-running resumes it)"
        )
    return config_lib.resolve(
        StyleConfig, config_file=run_dir / runs.CONFIG_FILE
    )


def cost_function(cfg: StyleConfig, extractor):
    """`(content, style, generated) -> {"J", "J_content", "J_style",
    "TV"}`, each `(batch,)`, for images `(batch, H, W, 3)` in [0, 1] of
    one size (the style cost compares Gram matrices of equal `n_H n_W`).
    """
    weights = cost_weights(cfg)
    _, style_layers = layer_names(cfg)
    lambdas = style_weights(cfg, len(style_layers))

    def fn(content, style, generated):
        c = extractor(content, training=False)
        s = extractor(style, training=False)
        g = extractor(generated, training=False)
        j_content = tf.add_n(
            [content_cost(a, b) for a, b in zip(c["content"], g["content"])]
        )
        j_style = style_cost(s["style"], g["style"], lambdas)
        tv = total_variation(generated, squared=True)
        total = (
            weights["alpha"] * j_content
            + weights["beta"] * j_style
            + weights["tv_weight"] * tv
        )
        return {
            "J": total,
            "J_content": j_content,
            "J_style": j_style,
            "TV": tv,
        }

    return fn


def export(run_dir: Path) -> dict:
    """Exports the run's cost `J(G)` (extractor + costs + weights) as a
    SavedModel, verified in a fresh process on the run's own images.

    A style transfer result is an image, not a model; what a server can
    reuse is the cost that judges a stylisation: `serving_default` takes
    `content`, `style` and `generated` float images `(batch, H, W, 3)` in
    [0, 1] and returns `J`, `J_content`, `J_style`, `TV` per image.
    """
    from apps.common import exporting

    run_dir = Path(run_dir)
    cfg = load_run(run_dir)
    content, _ = images_lib.load_content(cfg.images)
    style, _ = images_lib.load_style(
        cfg.images, content.shape[0], content.shape[1]
    )
    result = images_lib.load_result(run_dir / RESULT_FILE)
    extractor = build_extractor(cfg)
    fn = cost_function(cfg, extractor)
    spec = tf.TensorSpec((None, None, None, 3), tf.float32)
    archive = keras.export.ExportArchive()
    archive.track(extractor)
    archive.add_endpoint(
        name="serving_default",
        fn=tf.function(
            lambda content, style, generated: fn(content, style, generated)
        ),
        input_signature=[spec, spec, spec],
    )
    inputs = {
        "content": content[None],
        "style": style[None],
        "generated": result[None],
    }
    expected = {
        k: v.numpy()
        for k, v in fn(*(tf.constant(x) for x in inputs.values())).items()
    }

    def verify(path):
        actual = exporting.run_in_fresh_process(path, "serving_default", inputs)
        scale = max(float(np.max(np.abs(v))) for v in expected.values())
        return exporting.compare_outputs(
            expected, actual, atol=1e-5 * scale + 1e-4
        )

    path, diff = exporting.atomic_export(
        run_dir, lambda p: archive.write_out(str(p), verbose=False), verify
    )
    return {
        "path": str(path),
        "signature": "serving_default",
        "max_abs_diff": diff,
        "costs": {k: float(v[0]) for k, v in expected.items()},
    }
