"""The one place where process-wide state is set: seeds, threads, precision.

Nothing else in the project sets seeds, determinism or a mixed-precision
policy; apps call `apply_runtime(config.runtime)` once, at the start of a
verb.
"""

import os
import sys
import tempfile

from apps.common.config import RuntimeConfig


def quiet_tensorflow() -> None:
    """Imports TensorFlow without its C++ start-up chatter on stderr.

    TF 2.21 prints oneDNN and CUDA-probe lines through absl before
    `TF_CPP_MIN_LOG_LEVEL` is read, so stderr (file descriptor 2) is parked
    in a temporary file during the import and the device probe. If the
    import fails, what was printed is replayed before the error.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as parked:
        os.dup2(parked.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        except BaseException:
            os.dup2(saved, 2)
            parked.seek(0)
            sys.stderr.write(parked.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def apply_runtime(runtime: RuntimeConfig) -> None:
    """Applies seeds, op determinism, thread counts and precision.

    Args:
        runtime: the `runtime` section of an app config.
    """
    import keras
    import tensorflow as tf

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
    keras.mixed_precision.set_global_policy(
        "mixed_float16" if runtime.mixed_precision else "float32"
    )
