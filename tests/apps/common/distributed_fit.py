"""A tiny regression trained through `apps.common` (`distribute.setup`,
`make_optimizer`, `fit`) under the strategy named on the command line.

Run by `test_distribute.py` in fresh processes (logical devices and
multi-worker collectives must be set up before TensorFlow starts):

    python tests/apps/common/distributed_fit.py RUN_DIR STRATEGY CPUS \
        [EPOCHS [GLOBAL_CLIPNORM [uneven]]]

`uneven` makes every epoch start with a batch of 7 examples, which two
replicas split 4 / 3.

Writes `RUN_DIR/history.csv` (through `fit`) and `RUN_DIR/weights.json`
(chief only), and prints one JSON line: the final loss and the weights.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from apps.common.runtime import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from apps.common import distribute  # noqa: E402
from apps.common import optimizers  # noqa: E402
from apps.common import training  # noqa: E402
from apps.common.sections import OptimizerConfig  # noqa: E402
from apps.common.sections import RuntimeConfig  # noqa: E402
from apps.common.sections import TrainConfig  # noqa: E402

GLOBAL_BATCH = 8
STEPS = 4


def main(argv):
    run_dir, strategy, cpus = Path(argv[0]), argv[1], int(argv[2])
    epochs = int(argv[3]) if len(argv) > 3 else 3
    clip = float(argv[4]) if len(argv) > 4 else None
    uneven = len(argv) > 5 and argv[5] == "uneven"
    runtime = RuntimeConfig(
        seed=0, deterministic=True, strategy=strategy, logical_cpus=cpus
    )
    dist = distribute.setup(runtime)
    dist.check_batch(GLOBAL_BATCH, "train.batch_size")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(GLOBAL_BATCH * STEPS, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 1)) + 0.1).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    if uneven:
        first = tf.data.Dataset.from_tensor_slices((x[:7], y[:7])).batch(7)
        ds = first.concatenate(ds.skip(1))
    out = dist.writable(run_dir)
    with dist.scope():
        model = keras.Sequential(
            [
                keras.Input((5,)),
                keras.layers.Dense(8, activation="tanh"),
                keras.layers.Dense(1),
            ]
        )
        optimizer = optimizers.make_optimizer(
            OptimizerConfig(
                name="sgd",
                learning_rate=0.05,
                schedule="constant",
                global_clipnorm=clip,
            )
        )
        model.compile(optimizer=optimizer, loss="mse")
    cfg = TrainConfig(epochs=epochs, batch_size=GLOBAL_BATCH, verbose=0)
    history = training.fit(
        model, ds.repeat(), ds, cfg, out, steps_per_epoch=STEPS
    )
    weights = [w.tolist() for w in model.get_weights()]
    result = {
        "loss": history.history["loss"],
        "chief": dist.is_chief,
        "replicas": dist.replicas,
        "weights": weights,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "weights.json").write_text(json.dumps(result))
    dist.finish(out)
    print(json.dumps({k: v for k, v in result.items() if k != "weights"}))


if __name__ == "__main__":
    main(sys.argv[1:])
