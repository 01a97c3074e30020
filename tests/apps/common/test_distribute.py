"""`runtime.strategy` and `tune --distributed`: the checks that need no
cluster (fast), then real clusters on 127.0.0.1 in child processes
(slow: `tests/apps/common/test_distribute_cluster.py`)."""

import json
import threading

import pytest
import tensorflow as tf

from apps.common import config as config_lib
from apps.common import distribute
from apps.common import tuning
from apps.common.config import ConfigError
from apps.common.sections import RuntimeConfig


def _tf_config(cluster, task_type, index):
    return json.dumps(
        {"cluster": cluster, "task": {"type": task_type, "index": index}}
    )


def test_worker_zero_is_the_chief_unless_the_cluster_names_one():
    workers = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    first = distribute.parse_tf_config(_tf_config(workers, "worker", 0))
    second = distribute.parse_tf_config(_tf_config(workers, "worker", 1))
    assert (first.is_chief, second.is_chief) == (True, False)
    assert first.num_workers == 2
    with_chief = dict(workers, chief=["127.0.0.1:3"])
    chief = distribute.parse_tf_config(_tf_config(with_chief, "chief", 0))
    worker0 = distribute.parse_tf_config(_tf_config(with_chief, "worker", 0))
    assert chief.is_chief and not worker0.is_chief
    assert chief.num_workers == 3
    assert distribute.parse_tf_config(None).is_chief  # no cluster


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{not json", "TF_CONFIG: expected JSON"),
        ('{"cluster": {}}', "TF_CONFIG: expected JSON"),
        (
            _tf_config({"worker": ["a:1"]}, "worker", 3),
            "task index 3 is not in the cluster's 1 worker",
        ),
    ],
)
def test_bad_tf_config_is_one_line_naming_it(text, expected):
    with pytest.raises(ConfigError) as err:
        distribute.parse_tf_config(text)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_global_batch_must_divide_over_the_replicas():
    assert distribute.check_global_batch(32, 4, "train.batch_size") == 8
    with pytest.raises(ConfigError) as err:
        distribute.check_global_batch(30, 4, "train.batch_size")
    assert str(err.value) == (
        "train.batch_size: expected a global batch divisible by the 4 "
        "replicas of the strategy, received 30"
    )


def test_only_the_chief_writes_the_run_folder(tmp_path):
    run = tmp_path / "detect" / "r"
    workers = {"worker": ["a:1", "b:2"]}
    chief = distribute.parse_tf_config(_tf_config(workers, "worker", 0))
    other = distribute.parse_tf_config(_tf_config(workers, "worker", 1))
    assert distribute.worker_dir(run, chief) == run
    assert distribute.worker_dir(run, other) == run.with_name(".r.worker-1")
    dist = distribute.Distribution(tf.distribute.get_strategy(), "x", other)
    written = dist.writable(run)
    written.mkdir(parents=True)
    (written / "model.keras").write_text("w")
    dist.finish(written)
    assert not written.exists()


@pytest.mark.parametrize(
    "sets, expected",
    [
        (
            ["runtime.strategy=horovod"],
            "runtime.strategy: expected one of default, mirrored, "
            "multi_worker, tpu, received 'horovod'",
        ),
        (
            ["runtime.strategi=mirrored"],
            "nearest valid key: 'runtime.strategy'",
        ),
        (["runtime.logical_cpus=-1"], "runtime.logical_cpus: expected >= 0"),
        (
            ["runtime.strategy=multi_worker", "train.time_budget_minutes=5"],
            "train.time_budget_minutes: expected null with "
            "runtime.strategy=multi_worker",
        ),
        (["tune.worker_timeout_seconds=0"], "tune.worker_timeout_seconds"),
    ],
)
def test_runtime_config_errors_name_the_key(sets, expected):
    from apps.detect.config import DetectConfig

    with pytest.raises(ConfigError) as err:
        config_lib.resolve(DetectConfig, sets=sets)
    assert expected in str(err.value)


def test_datasets_are_sharded_by_data():
    ds = tf.data.Dataset.range(4).batch(2)
    sharded = distribute.with_shard_policy(ds)
    policy = sharded.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA
    assert distribute.with_shard_policy(None) is None
    assert list(sharded.as_numpy_iterator())[1].tolist() == [2, 3]


def test_default_strategy_leaves_the_optimizer_alone():
    import keras

    optimizer = keras.optimizers.SGD(0.1, global_clipnorm=1.0)
    apply = optimizer.apply
    assert distribute.sum_gradients_first(optimizer) is optimizer
    assert optimizer.apply == apply
    dist = distribute.make_distribution(RuntimeConfig())
    assert (dist.replicas, dist.is_chief) == (1, True)
    assert dist.describe() == "one device"


ENV = {
    "KERASTUNER_TUNER_ID": "chief",
    "KERASTUNER_ORACLE_IP": "127.0.0.1",
    "KERASTUNER_ORACLE_PORT": "8000",
}


def test_tuner_roles_from_kerastuner_variables(tmp_path):
    assert tuning.tuner_role({}) is None
    assert tuning.tuner_role(ENV) == "chief"
    assert tuning.tuner_role(dict(ENV, KERASTUNER_TUNER_ID="tuner1")) == (
        "tuner1"
    )
    run = tmp_path / "r"
    assert tuning.sweep_dir(run, None) == run
    assert tuning.sweep_dir(run, "chief") == run
    assert tuning.sweep_dir(run, "tuner1") == tmp_path / ".r.tuner1"


@pytest.mark.parametrize(
    "environ, distributed, expected",
    [
        ({}, True, "tune --distributed: expected KERASTUNER_TUNER_ID"),
        (ENV, False, "pass tune --distributed"),
        (
            {k: v for k, v in ENV.items() if k != "KERASTUNER_ORACLE_PORT"},
            True,
            "KERASTUNER_ORACLE_PORT: expected it set",
        ),
        (
            dict(ENV, KERASTUNER_ORACLE_PORT="http"),
            True,
            "KERASTUNER_ORACLE_PORT: expected a port number",
        ),
    ],
)
def test_distributed_flag_and_environment_must_agree(
    environ, distributed, expected
):
    with pytest.raises(ConfigError) as err:
        tuning.check_distributed_flag(distributed, environ)
    assert expected in str(err.value)


def test_tune_distributed_cli_errors_exit_2(monkeypatch, capsys, tmp_path):
    from apps.face.__main__ import main

    monkeypatch.setenv("DLSUITE_RUNS", str(tmp_path))
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    assert main(["tune", "--distributed", "--run", "s"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m apps.face tune: error: tune --distrib")
    assert len(err.splitlines()) == 1
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["tune", "--distributed"]) == 2
    assert "expected --run NAME" in capsys.readouterr().err
    assert main(["tune", "--run", "s"]) == 2
    assert "pass tune --distributed" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written


class _Trial:
    def __init__(self, trial_id):
        self.trial_id = trial_id


class _Oracle:
    """The parts of a keras-tuner oracle the supervisor touches."""

    def __init__(self):
        self.ongoing_trials = {"tuner0": _Trial("03")}
        self._project_dir = "runs/s/tuner/sweep"
        self.calls = 0

    def create_trial(self, tuner_id):
        self.calls += 1


for _name in tuning.WORKER_CALLS:
    if not hasattr(_Oracle, _name):
        setattr(_Oracle, _name, lambda self, *a, **k: None)


class _ChiefTuner:
    """`search` blocks like keras-tuner's chief until `done` is set."""

    def __init__(self):
        self.oracle = _Oracle()
        self.done = threading.Event()

    def search(self, **kwargs):
        self.done.wait(30)


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_chief_stops_when_no_worker_reports():
    tuner, clock = _ChiefTuner(), _Clock()

    def advance():
        # Each poll of the supervisor moves the clock by 10 s.
        while not tuner.done.is_set():
            clock.now += 10
            tuner.done.wait(0.01)

    ticker = threading.Thread(target=advance, daemon=True)
    ticker.start()
    try:
        with pytest.raises(tuning.SweepStalled) as err:
            tuning.supervised_search(
                tuner,
                epochs=1,
                verbose=0,
                timeout=60,
                clock=clock,
                poll=0.01,
            )
    finally:
        tuner.done.set()
    message = str(err.value)
    assert "no worker has reported for" in message
    assert "tune.worker_timeout_seconds=60" in message
    assert "trials running: 03" in message
    assert "runs/s/tuner/sweep" in message


def test_worker_calls_keep_the_chief_alive():
    tuner, clock = _ChiefTuner(), _Clock()

    def workers():
        # A worker calls every 40 s (< 60 s) for 5 calls, then the sweep
        # ends: the supervisor must not fire.
        for _ in range(5):
            clock.now += 40
            tuner.oracle.create_trial("tuner0")
            tuner.done.wait(0.05)
        tuner.done.set()

    thread = threading.Thread(target=workers, daemon=True)
    thread.start()
    tuning.supervised_search(
        tuner, epochs=1, verbose=0, timeout=60, clock=clock, poll=0.01
    )
    thread.join(5)
    assert tuner.oracle.calls == 5
