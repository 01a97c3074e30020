"""The one place where process-wide state is set: devices, seeds, threads,
precision, and how much TensorFlow logs.

Nothing else in the project sets seeds, determinism, logical devices, a
mixed-precision policy or TensorFlow's log levels; every app's
`__main__` calls `start_tensorflow()` first (before anything imports
TensorFlow), then apps call `apply_runtime(config.runtime)` once, at the
start of a verb (`train` and `tune` through `distribute.setup`, which
then creates the `tf.distribute` strategy).

This module imports nothing heavy at import time, so that importing it
does not start TensorFlow before the log level is decided.
"""

import contextlib
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.common.sections import RuntimeConfig

# `python -m apps.<app> --verbose VERB ...`, or this environment variable
# set to anything but "" or "0": TensorFlow logs as it does by default.
VERBOSE_FLAG = "--verbose"
VERBOSE_ENV = "DLSUITE_VERBOSE"


@contextlib.contextmanager
def parked_stderr():
    """Parks stderr (file descriptor 2) in a temporary file inside the
    block: TensorFlow and XLA print start-up lines through absl before
    `TF_CPP_MIN_LOG_LEVEL` is read. If the block raises, what was printed
    is replayed before the error. With `$DLSUITE_VERBOSE` set (which
    `start_tensorflow` does for `--verbose`) nothing is parked."""
    if _verbose_env():
        yield
        return
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


def _verbose_env() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def verbose_requested(argv: Sequence[str] | None = None) -> bool:
    """Whether TensorFlow should log as it does by default.

    Args:
        argv: the command line after the program name (default:
            `sys.argv[1:]`); `--verbose` counts before the verb only, as
            the top-level flag of `apps.common.cli.build_parser`.

    Returns:
        True when `argv` has `--verbose` before its first positional
        argument, or `$DLSUITE_VERBOSE` is set to anything but "" or "0".
    """
    if _verbose_env():
        return True
    for arg in sys.argv[1:] if argv is None else argv:
        if arg == VERBOSE_FLAG:
            return True
        if arg == "--" or not arg.startswith("-"):
            return False
    return False


def quiet_tensorflow() -> None:
    """Imports TensorFlow without its start-up chatter on stderr.

    - TF 2.21 prints oneDNN, CUDA-stub and CPU-feature lines through absl
      while its libraries load, before absl's logging is initialised and
      before `TF_CPP_MIN_LOG_LEVEL` is read (absl's C++ logging has no
      environment variable), so stderr is parked (`parked_stderr`)
      during the import.
    - The first device listing loads the CUDA platform, whose failed
      `cuInit` on a machine without a GPU driver is an absl error line:
      it is parked too (devices are listed, not changed: on a GPU machine
      TensorFlow sees the same GPUs).
    - Later C++ lines obey `TF_CPP_MIN_LOG_LEVEL` (set to 3 unless the
      environment already sets it), and TensorFlow's and absl's Python
      loggers show errors only.

    Python tracebacks and the apps' own messages are untouched.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        with parked_stderr():
            import tensorflow as tf

            tf.config.list_physical_devices()
    import absl.logging
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    absl.logging.set_verbosity(absl.logging.ERROR)


def start_tensorflow(argv: Sequence[str] | None = None) -> None:
    """The first call of every app's `__main__`: imports TensorFlow, quiet
    (`quiet_tensorflow`) unless `verbose_requested(argv)`, in which case
    every C++ and Python log line is shown (`TF_CPP_MIN_LOG_LEVEL=0`,
    and `$DLSUITE_VERBOSE=1` so that `parked_stderr` parks nothing later
    in the process or in its children).

    The log level must be decided before TensorFlow's first import, so
    this runs before the `__main__` imports anything else.

    Args:
        argv: the command line after the program name (default:
            `sys.argv[1:]`).
    """
    if verbose_requested(argv):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        os.environ[VERBOSE_ENV] = "1"
        import tensorflow  # noqa: F401

        return
    quiet_tensorflow()


def configure_logical_cpus(count: int) -> None:
    """Splits the first CPU into `count` logical devices (0: no change).

    Device configuration must precede TensorFlow's initialisation: in a
    process where TF already started, asking for a different count is a
    `ConfigError`.
    """
    if not count:
        return
    import tensorflow as tf

    from apps.common.config import ConfigError

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


def apply_runtime(runtime: "RuntimeConfig") -> None:
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
