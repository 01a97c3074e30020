"""One registration point for every custom Keras object of dlsuite.

Every custom Layer, Loss and Metric is decorated with `register` so that a
`.keras` file written by one process reloads in another (with this package
importable) under the names `dlsuite>ClassName`.
"""

import keras

PACKAGE = "dlsuite"


def register(obj):
    """Registers `obj` with Keras under the `dlsuite` package.

    Args:
        obj: a class or function to make serialisable.

    Returns:
        `obj` itself, registered.
    """
    return keras.saving.register_keras_serializable(package=PACKAGE)(obj)
