"""A small, pinned patch that lets Keras 3 `fit` run under
`tf.distribute.MultiWorkerMirroredStrategy` with more than one worker, and
under `MirroredStrategy` when a first batch does not split evenly.

Upstream: keras-team/keras issue 20585 (open since Keras 3.7; checked on
Keras 3.15.1 with TensorFlow 2.21). Two functions of Keras' TensorFlow
trainer call `strategy.reduce(...)` in ways that fail:

1. `TensorFlowTrainer._maybe_symbolic_build` averages the first *data*
   batch over the replicas (`reduce("MEAN", batch, axis=None)`) just to
   know its shapes. Under multi-worker the collective reduce refuses the
   `PerReplica` batch ("Attempt to convert a value (PerReplica...) to a
   Tensor"); under MirroredStrategy it fails when the replicas' shares
   differ in shape (a bucketed or last batch of 47 examples splits into
   24 and 23: "Inputs to operation AddN ... must have the same size").
   The patch takes the first local replica's batch instead: the shapes
   Keras needs, and no reduction.
2. `reduce_per_replica(..., reduction="auto")` averages each replica's
   logged metrics with `reduce("MEAN", v, axis=0)` under multi-worker,
   which fails on the scalar losses and metrics ("Invalid reduction
   dimension 0 for input with 0 dimensions"); on one worker Keras
   averages over replicas only. The patch reduces with `axis=None`: the
   mean over replicas, as on one worker.

Everything else (`train_step`, callbacks, `BackupAndRestore`, saving) is
Keras' own. `apply()` is idempotent and only called when `runtime.strategy`
is not `default`. The test
`tests/apps/common/test_distribute_cluster.py::test_upstream_fit_still_
fails_under_multi_worker` runs unpatched `fit` on two workers and fails
once upstream works: then check both points and delete what is fixed.
"""

import sys

KNOWN_BROKEN = "3.15"  # the Keras minor version this patch was checked on


def _trainer_class():
    """Keras' TensorFlow trainer: the class in `keras.Model`'s MRO that
    defines `_maybe_symbolic_build` (found through the public
    `keras.Model`, not by importing Keras' private modules)."""
    import keras

    for cls in keras.Model.__mro__:
        if "_maybe_symbolic_build" in vars(cls):
            return cls
    return None


def _first_local(strategy, value):
    import tensorflow as tf

    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _is_multi_worker(strategy) -> bool:
    import tensorflow as tf

    return isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ) and bool(strategy.extended._in_multi_worker_mode())


def apply() -> bool:
    """Patches Keras' trainer (once); returns whether it is patched.

    Raises:
        RuntimeError: this Keras has neither hook (its trainer changed:
            check whether upstream fixed issue 20585).
    """
    import tensorflow as tf

    trainer = _trainer_class()
    module = sys.modules.get(getattr(trainer, "__module__", ""), None)
    if trainer is None or not hasattr(module, "reduce_per_replica"):
        raise RuntimeError(
            "apps.common.mwms_compat: Keras' TensorFlow trainer has changed "
            "(no _maybe_symbolic_build / reduce_per_replica); check keras "
            "issue 20585 and whether the patch is still needed"
        )
    if getattr(trainer, "_dlsuite_mwms_patched", False):
        return True
    import keras

    if not keras.__version__.startswith(KNOWN_BROKEN + "."):
        print(
            f"Note: the multi-worker patch was checked on Keras "
            f"{KNOWN_BROKEN}, this is {keras.__version__}: run "
            "tests/apps/common/test_distribute.py -m slow",
            file=sys.stderr,
        )
    original_reduce = module.reduce_per_replica

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        strategy = self.distribute_strategy
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(
                    lambda v: _first_local(strategy, v), batch
                )
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and _is_multi_worker(strategy):
            return tf.nest.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None), values
            )
        return original_reduce(values, strategy, reduction)

    trainer._maybe_symbolic_build = maybe_symbolic_build
    module.reduce_per_replica = reduce_per_replica
    trainer._dlsuite_mwms_patched = True
    return True
