"""The learning-rate range test (Smith 2017, popularised by fastai's
`lr_find`): train a fresh model for a few steps while the learning rate
grows exponentially from `start` to `stop`, record the loss, and read
the rate to use off the curve.

At step `i` of `n` the rate is `start * (stop / start)^(i / (n - 1))`.
The loss is smoothed with a bias-corrected exponential moving average
(`beta`); the test stops early once the smoothed loss exceeds
`divergence` times its minimum. Two suggestions are returned:

- `steepest`: the rate where the smoothed loss falls fastest against
  `log(lr)` (the usual pick);
- `min_over_10`: a tenth of the rate at the minimum smoothed loss (the
  conservative pick).

The model's weights are restored afterwards; the verb uses a fresh model
anyway.
"""

import math
from pathlib import Path

import keras
import numpy as np


def _set_learning_rate(optimizer, value: float) -> None:
    lr = optimizer.learning_rate
    if not hasattr(lr, "assign"):
        raise ValueError(
            "the learning-rate finder needs a constant learning rate "
            "(optimizer.schedule: constant); the optimizer has a schedule"
        )
    lr.assign(value)


def find_learning_rate(
    model,
    batches,
    *,
    start: float = 1e-7,
    stop: float = 1.0,
    steps: int = 100,
    beta: float = 0.98,
    divergence: float = 4.0,
    progress: bool = True,
) -> dict:
    """Runs the range test.

    Args:
        model: a compiled Keras model whose optimizer has a constant
            learning rate.
        batches: an iterable of `(x, y)` training batches (at least
            `steps` of them; repeat the dataset).
        start: the first learning rate, > 0.
        stop: the last learning rate, > `start`.
        steps: the most steps (one batch each), >= 5.
        beta: the smoothing of the loss, in [0, 1).
        divergence: stop when the smoothed loss exceeds this many times
            its minimum.
        progress: show a Keras progress bar.

    Returns:
        A dict: `learning_rates`, `losses` (raw) and `smoothed`, one per
        step run; `steepest` and `min_over_10` (suggested rates, None
        when the curve is too short), `stopped_early`.
    """
    if not 0 < start < stop:
        raise ValueError(
            f"Expected 0 < start < stop. Received: start={start}, stop={stop}"
        )
    if steps < 5:
        raise ValueError(f"Expected steps >= 5. Received: steps={steps}")
    if not 0 <= beta < 1:
        raise ValueError(f"Expected 0 <= beta < 1. Received: beta={beta}")
    weights = model.get_weights()
    rates, losses, smoothed = [], [], []
    average, best, stopped = 0.0, math.inf, False
    bar = keras.utils.Progbar(steps) if progress else None
    iterator = iter(batches)
    try:
        for i in range(steps):
            rate = start * (stop / start) ** (i / (steps - 1))
            x, y = next(iterator)
            _set_learning_rate(model.optimizer, rate)
            loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
            rates.append(rate)
            losses.append(loss)
            if not math.isfinite(loss):
                stopped = True
                break
            average = beta * average + (1 - beta) * loss
            value = average / (1 - beta ** (i + 1))
            smoothed.append(value)
            if bar:
                bar.update(i + 1, [("lr", rate), ("loss", value)])
            best = min(best, value)
            if i > 0 and value > divergence * best:
                stopped = True
                break
    finally:
        model.set_weights(weights)
    steepest, min_over_10 = suggest(rates[: len(smoothed)], smoothed)
    return {
        "learning_rates": rates,
        "losses": losses,
        "smoothed": smoothed,
        "steepest": steepest,
        "min_over_10": min_over_10,
        "stopped_early": stopped,
    }


def suggest(rates, smoothed) -> tuple[float | None, float | None]:
    """`(steepest, min_over_10)` from a smoothed loss curve (see the
    module docstring), searched after the first tenth of the points
    (at least 2); None where fewer than 3 points remain."""
    # The first points of a bias-corrected average still swing with
    # single batches: the search starts after a tenth of the curve.
    skip = max(2, len(smoothed) // 10)
    if len(smoothed) < skip + 3:
        return None, None
    logs = np.log(np.asarray(rates, dtype="float64"))
    values = np.asarray(smoothed, dtype="float64")
    slopes = np.gradient(values, logs)
    lowest = skip + int(np.argmin(values[skip:]))
    # Only the descent before the minimum counts as "falling".
    steepest = skip + int(np.argmin(slopes[skip : lowest + 1]))
    return float(rates[steepest]), float(rates[lowest]) / 10.0


def plot_range_test(result: dict, out_png: Path) -> Path:
    """The loss against the learning rate (log scale), raw and smoothed,
    with both suggestions marked."""
    from apps.common.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    rates = result["learning_rates"]
    ax.plot(rates, result["losses"], alpha=0.3, label="loss")
    ax.plot(
        rates[: len(result["smoothed"])], result["smoothed"], label="smoothed"
    )
    for key, style in (("steepest", "--"), ("min_over_10", ":")):
        if result[key]:
            ax.axvline(
                result[key],
                linestyle=style,
                color="black",
                label=f"{key} {result[key]:.2g}",
            )
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    finite = [v for v in result["smoothed"] if math.isfinite(v)]
    if finite:
        ax.set_ylim(min(finite) * 0.9, min(max(finite), 4 * min(finite)) * 1.1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
