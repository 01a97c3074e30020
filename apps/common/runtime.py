"""The one place where process-wide state is set: devices, seeds, threads,
precision.

Nothing else in the project sets seeds, determinism, logical devices or a
mixed-precision policy; apps call `apply_runtime(config.runtime)` once, at
the start of a verb (`train` and `tune` through `distribute.setup`, which
then creates the `tf.distribute` strategy).
"""

import contextlib
import os
import sys
import tempfile

from apps.common.config import ConfigError
from apps.common.config import RuntimeConfig


@contextlib.contextmanager
def parked_stderr():
    """Parks stderr (file descriptor 2) in a temporary file inside the
    block: TensorFlow and XLA print start-up lines through absl before
    `TF_CPP_MIN_LOG_LEVEL` is read. If the block raises, what was printed
    is replayed before the error."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as parked:
        os.dup2(parked.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            parked.seek(0)
            sys.stderr.write(parked.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quiet_tensorflow() -> None:
    """Imports TensorFlow without its C++ start-up chatter on stderr.

    TF 2.21 prints oneDNN and CUDA-probe lines through absl before
    `TF_CPP_MIN_LOG_LEVEL` is read, so stderr is parked
    (`parked_stderr`) during the import and the device probe.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    with parked_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()


def configure_logical_cpus(count: int) -> None:
    """Splits the first CPU into `count` logical devices (0: no change).

    Device configuration must precede TensorFlow's initialisation: in a
    process where TF already started, asking for a different count is a
    `ConfigError`.
    """
    if not count:
        return
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * count
        )
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have != count:
            raise ConfigError(
                f"runtime.logical_cpus: expected it set before TensorFlow "
                f"starts (a fresh process); this one already has {have} "
                f"logical CPU(s), received {count}"
            )


def apply_runtime(runtime: RuntimeConfig) -> None:
    """Applies logical devices, seeds, op determinism, thread counts and
    precision.

    Args:
        runtime: the `runtime` section of an app config.
    """
    import keras
    import tensorflow as tf

    configure_logical_cpus(runtime.logical_cpus)
    keras.utils.set_random_seed(runtime.seed)
    if runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    if runtime.threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(
                runtime.threads
            )
            tf.config.threading.set_inter_op_parallelism_threads(
                runtime.threads
            )
        except RuntimeError:
            pass  # TF already initialised its thread pools in this process.
    mixed = "mixed_bfloat16" if runtime.strategy == "tpu" else "mixed_float16"
    keras.mixed_precision.set_global_policy(
        mixed if runtime.mixed_precision else "float32"
    )


@contextlib.contextmanager
def dtype_policy(name: str):
    """Sets Keras' global dtype policy to `name` inside the block and puts
    the previous one back after (the sanity check builds a float64 copy
    of a model this way: sublayers made in a layer's `__init__` follow
    the global policy)."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
