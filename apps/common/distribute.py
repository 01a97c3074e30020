"""Scale-out with TensorFlow's own engines: the one place that picks a
`tf.distribute` strategy, shards input and decides who writes.

`runtime.strategy` chooses the engine:

- `default`: one device, TensorFlow's default strategy.
- `mirrored`: `tf.distribute.MirroredStrategy` over the local GPUs, or
  over the logical CPUs of `runtime.logical_cpus` when there is no GPU.
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`, whose
  cluster and own task come from the `TF_CONFIG` environment variable
  (without it, one worker). Keras 3's `fit` needs the pinned patch of
  `apps.common.mwms_compat` there (keras issue 20585), and `mirrored`
  needs half of it; it is applied here for every strategy but `default`.
- `tpu`: `tf.distribute.TPUStrategy` on the TPU named by `runtime.tpu`.

How an app opts in (what `train` of every app does)::

    dist = distribute.setup(cfg.runtime)  # first: before any tensor
    ...                                    # read data, resolve the config
    dist.check_batch(global_batch, "train.batch_size")
    run_dir = dist.writable(run_dir)       # workers write elsewhere
    with dist.scope():
        model = build_model(cfg, ...)      # build AND compile in scope
    training.fit(model, train_ds, ...)     # datasets batched GLOBALLY
    ...                                    # save, plot, summarize
    dist.finish(run_dir)                   # workers delete their folder

and `tune` passes `dist` to `tuning.run_sweep`. Batches stay global:
`train.batch_size` is the batch of one step over all replicas; each
replica gets `global / replicas` examples (`check_batch` refuses a batch
that does not divide).

Sharding: `with_shard_policy` (called by `training.fit` on every dataset)
sets `AutoShardPolicy.DATA`. The pipelines here read in-memory arrays,
generators or a few files, so FILE sharding has nothing to split (AUTO
would fall back to DATA with a warning); DATA makes every worker run the
same pipeline and keep its own slice of each global batch, so one global
step sees exactly the examples it would see on one device, and a resumed
run that skips finished batches skips the same ones on every worker.
(The cost: each worker reads all the input.)

Writes: only the chief writes into the run folder. A non-chief worker
writes the same files (checkpoints, `BackupAndRestore` backup, logs,
`model.keras`, plots) into its own folder beside it,
`.<run>.<task_type>-<index>` (the standard Keras multi-worker pattern of
a temporary directory per worker): the collective ops need every worker
to save, the folder keeps each worker's own backup for resuming, and
`finish` deletes it when training ended.
"""

import contextlib
import dataclasses
import json
import os
import shutil
from pathlib import Path

from apps.common.config import ConfigError
from apps.common.sections import RuntimeConfig


@dataclasses.dataclass(frozen=True)
class Task:
    """This process's place in a `TF_CONFIG` cluster.

    Args:
        task_type: `chief`, `worker`, ... or None outside a cluster.
        index: the task's index within its type.
        num_workers: chief plus workers (1 outside a cluster).
        has_chief: whether the cluster names a `chief` task (otherwise
            worker 0 is the chief).
    """

    task_type: str | None = None
    index: int = 0
    num_workers: int = 1
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        """The chief writes; the other workers only compute."""
        if self.task_type in (None, "chief"):
            return True
        return (
            self.task_type == "worker"
            and self.index == 0
            and (not self.has_chief)
        )


def parse_tf_config(text: str | None) -> Task:
    """Reads a `TF_CONFIG` value (JSON), with one-line errors.

    Example:

    >>> parse_tf_config(
    ...     '{"cluster": {"worker": ["a:1", "b:2"]},'
    ...     ' "task": {"type": "worker", "index": 1}}'
    ... ).is_chief
    False
    """
    if not text:
        return Task()
    try:
        data = json.loads(text)
        cluster = data["cluster"]
        task = data["task"]
        task_type, index = str(task["type"]), int(task["index"])
        counts = {
            name: len(addresses)
            for name, addresses in cluster.items()
            if name in ("chief", "worker")
        }
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(
            'TF_CONFIG: expected JSON like {"cluster": {"worker": '
            '["host:port", ...]}, "task": {"type": "worker", '
            f'"index": 0}}}} ({type(err).__name__}: {err})'
        )
    if task_type in counts and not 0 <= index < counts[task_type]:
        raise ConfigError(
            f"TF_CONFIG: task index {index} is not in the cluster's "
            f"{counts[task_type]} {task_type} address(es)"
        )
    return Task(
        task_type=task_type,
        index=index,
        num_workers=max(1, sum(counts.values())),
        has_chief="chief" in counts,
    )


def check_global_batch(batch: int, replicas: int, key: str) -> int:
    """The per-replica batch of a global `batch`; a `ConfigError` naming
    `key` unless `replicas` divides it.

    Example:

    >>> check_global_batch(32, 4, "train.batch_size")
    8
    """
    if replicas < 1 or batch % replicas:
        raise ConfigError(
            f"{key}: expected a global batch divisible by the {replicas} "
            f"replicas of the strategy, received {batch}"
        )
    return batch // replicas


def worker_dir(run_dir: Path, task: Task) -> Path:
    """Where a task writes: the run folder for the chief, a sibling
    `.<run>.<type>-<index>` folder for the other workers."""
    run_dir = Path(run_dir)
    if task.is_chief:
        return run_dir
    return run_dir.with_name(f".{run_dir.name}.{task.task_type}-{task.index}")


def with_shard_policy(dataset):
    """`dataset` with `AutoShardPolicy.DATA` (see the module docstring);
    other strategies and one device ignore the option. Anything but a
    `tf.data.Dataset` (None, arrays) is returned as is."""
    if not hasattr(dataset, "with_options"):
        return dataset  # None, or arrays: nothing to shard here
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)


def sum_gradients_first(optimizer):
    """Makes `optimizer` sum the replicas' gradients before it clips them
    (and before `grad_norm` is recorded), as on one device.

    Keras 3's TensorFlow optimizer clips each replica's gradients
    (`clipnorm`, `global_clipnorm`) and only then sums them over the
    replicas, so under a strategy with R replicas the update could be up to
    R times the clipping norm, and the recorded gradient norm was one
    replica's. Here `apply` all-reduces first (one all-reduce, as before:
    the optimizer's own is turned off) and clips the total. A no-op
    outside a strategy's scope or with one replica.

    Args:
        optimizer: a Keras optimizer, created in the strategy's scope.

    Returns:
        The same optimizer.
    """
    import tensorflow as tf

    if not tf.distribute.has_strategy():
        return optimizer
    if tf.distribute.get_strategy().num_replicas_in_sync == 1:
        return optimizer
    if not hasattr(optimizer, "_all_reduce_sum_gradients"):
        raise RuntimeError(
            "Keras' TensorFlow optimizer has no _all_reduce_sum_gradients: "
            "check apps.common.distribute.sum_gradients_first"
        )
    apply = optimizer.apply

    def apply_summed(grads, trainable_variables=None):
        context = tf.distribute.get_replica_context()
        if context is not None:
            grads = list(grads)
            present = [i for i, g in enumerate(grads) if g is not None]
            summed = context.all_reduce(
                tf.distribute.ReduceOp.SUM, [grads[i] for i in present]
            )
            for i, g in zip(present, summed):
                grads[i] = g
        return apply(grads, trainable_variables)

    optimizer.apply = apply_summed
    optimizer._all_reduce_sum_gradients = list  # already summed above
    return optimizer


class Distribution:
    """A strategy and this process's task in it.

    Args:
        strategy: a `tf.distribute.Strategy`.
        kind: the `runtime.strategy` that made it.
        task: this process's `Task`.
    """

    def __init__(self, strategy, kind: str, task: Task):
        self.strategy = strategy
        self.kind = kind
        self.task = task

    @property
    def replicas(self) -> int:
        """Replicas in sync over all workers."""
        return int(self.strategy.num_replicas_in_sync)

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run folder."""
        return self.task.is_chief

    def scope(self):
        """Build and compile the model inside this context."""
        if self.kind == "default":
            return contextlib.nullcontext()
        return self.strategy.scope()

    def check_batch(self, batch: int, key: str) -> int:
        """The per-replica batch of the global `batch` (see
        `check_global_batch`)."""
        return check_global_batch(batch, self.replicas, key)

    def writable(self, run_dir: Path) -> Path:
        """The folder this process writes for `run_dir` (`worker_dir`)."""
        return worker_dir(run_dir, self.task)

    def finish(self, written: Path) -> None:
        """Deletes a worker's folder once training ended (no-op for the
        chief)."""
        if not self.is_chief:
            shutil.rmtree(written, ignore_errors=True)

    def describe(self) -> str:
        """One line for the logs."""
        if self.kind == "default":
            return "one device"
        where = ""
        if self.task.num_workers > 1:
            role = "chief" if self.is_chief else "worker"
            where = (
                f", {self.task.num_workers} workers, this one "
                f"{self.task.task_type}:{self.task.index} ({role})"
            )
        return f"{self.kind} strategy, {self.replicas} replicas{where}"


def _local_devices() -> list[str] | None:
    """The GPUs, else the logical CPUs when there are several; None lets
    TensorFlow choose."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return None
    cpus = tf.config.list_logical_devices("CPU")
    return [d.name for d in cpus] if len(cpus) > 1 else None


def _tpu_strategy(runtime: RuntimeConfig):
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=runtime.tpu or None
        )
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        reason = " ".join(str(err).split())[:200]
        raise ConfigError(
            f"runtime.strategy: tpu: no TPU reachable (runtime.tpu="
            f"{runtime.tpu!r}): {reason}"
        )
    return tf.distribute.TPUStrategy(resolver)


def make_distribution(runtime: RuntimeConfig) -> Distribution:
    """Creates the strategy of `runtime.strategy`.

    Must run before the process creates any tensor (MultiWorkerMirrored
    configures the collective ops at start-up): `setup` calls it first.
    """
    import tensorflow as tf

    kind = runtime.strategy
    task = Task()
    if kind != "default":
        from apps.common import mwms_compat

        mwms_compat.apply()
    if kind == "default":
        strategy = tf.distribute.get_strategy()
    elif kind == "mirrored":
        strategy = tf.distribute.MirroredStrategy(devices=_local_devices())
    elif kind == "multi_worker":
        task = parse_tf_config(os.environ.get("TF_CONFIG"))
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif kind == "tpu":
        strategy = _tpu_strategy(runtime)
    else:
        raise ConfigError(
            f"runtime.strategy: expected one of default, mirrored, "
            f"multi_worker, tpu, received {kind!r}"
        )
    return Distribution(strategy, kind, task)


def setup(runtime: RuntimeConfig) -> Distribution:
    """What `train` and `tune` call first, before any tensor exists: the
    runtime (`apply_runtime`: devices, threads, seeds, precision), then
    the strategy."""
    from apps.common.runtime import apply_runtime

    apply_runtime(runtime)
    dist = make_distribution(runtime)
    if runtime.strategy != "default":
        print(f"Distribution: {dist.describe()}")
    return dist
