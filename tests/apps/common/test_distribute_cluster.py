"""Real clusters on 127.0.0.1, each process a child with its own
`TF_CONFIG` or `KERASTUNER_*` environment: MirroredStrategy on two logical
CPUs against one device, MultiWorkerMirroredStrategy `train` with a kill
and a resume, the upstream canary for keras issue 20585, and keras-tuner
distributed sweeps (complete, resumed after a kill, chief supervised).

Every child is killed when its test ends, passes or fails, and every wait
has a deadline: a hung cluster fails the test instead of hanging CI.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from apps.common.callbacks import finished_epochs

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
FIT_SCRIPT = Path(__file__).with_name("distributed_fit.py")
DETECT_TINY = "apps/detect/configs/tiny.yaml"
TRANSLATE_TINY = "apps/translate/configs/tiny.yaml"

# Plain Keras `fit` under MultiWorkerMirroredStrategy, no patch.
PLAIN_FIT = r"""
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()
import keras
with strategy.scope():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
x = np.ones((32, 4), "float32")
ds = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(8).repeat()
try:
    model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)
    print("PLAIN FIT OK")
except Exception as err:
    print("PLAIN FIT FAILED:", type(err).__name__, " ".join(str(err).split()))
"""


def free_ports(n: int) -> list[int]:
    """`n` distinct loopback ports free right now."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports, index: int) -> str:
    return json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": index},
        }
    )


class Cluster:
    """Child processes with their own environment and log files; `close`
    kills whatever still runs."""

    def __init__(self, tmp_path: Path, runs: Path | None = None):
        self.tmp_path = tmp_path
        self.runs = runs
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], **env) -> None:
        full = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **env)
        for key in ("TF_CONFIG", "KERASTUNER_TUNER_ID"):
            if key not in env:
                full.pop(key, None)
        if self.runs is not None:
            full["DLSUITE_RUNS"] = str(self.runs)
        log = open(self.tmp_path / f"{name}.log", "w")
        self.procs[name] = subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def wait(self, timeout: float, names=None) -> dict[str, int]:
        """Return codes; every child still running at the deadline is
        killed and the test fails with the logs' tails."""
        deadline = time.monotonic() + timeout
        names = list(names or self.procs)
        codes = {}
        for name in names:
            left = max(0.1, deadline - time.monotonic())
            try:
                codes[name] = self.procs[name].wait(left)
            except subprocess.TimeoutExpired:
                self.close()
                tails = "\n".join(
                    f"--- {n}:\n{self.log(n)[-1500:]}" for n in self.procs
                )
                pytest.fail(f"{name} still running after {timeout} s\n{tails}")
        return codes

    def signal_all(self, sig) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(sig)

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.procs = {}


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, runs=tmp_path / "runs")
    yield c
    c.close()


def _fit(cluster, name, run_dir, strategy, cpus, **env):
    cluster.start(
        name,
        [str(FIT_SCRIPT), str(run_dir), strategy, str(cpus), "3", "0.5"],
        **env,
    )


def test_mirrored_first_batch_that_splits_unevenly(cluster, tmp_path):
    """Keras learns shapes from the first batch by averaging it over the
    replicas, which failed (AddN) for a batch of 7 on 2 replicas."""
    for name, strategy, cpus in (("one", "default", 0), ("two", "mirrored", 2)):
        cluster.start(
            name,
            [
                str(FIT_SCRIPT),
                str(tmp_path / name),
                strategy,
                str(cpus),
                "2",
                "0.5",
                "uneven",
            ],
        )
    codes = cluster.wait(300)
    assert codes == {"one": 0, "two": 0}, cluster.log("two")[-2000:]
    one, two = _result(tmp_path / "one"), _result(tmp_path / "two")
    # Each replica averages its own share (4 and 3): close, not equal.
    assert two["loss"] == pytest.approx(one["loss"], rel=0.05)


def _result(run_dir: Path) -> dict:
    return json.loads((run_dir / "weights.json").read_text())


def _assert_same_training(a: dict, b: dict, tol: float) -> None:
    assert a["loss"] == pytest.approx(b["loss"], rel=tol, abs=tol)
    assert len(a["weights"]) == len(b["weights"])
    for wa, wb in zip(a["weights"], b["weights"]):
        np.testing.assert_allclose(wa, wb, rtol=tol, atol=tol)


def test_mirrored_two_logical_cpus_matches_one_device(cluster, tmp_path):
    # global_clipnorm=0.5 clips every step: the sum over replicas must be
    # clipped, not each replica's share.
    _fit(cluster, "one", tmp_path / "one", "default", 0)
    _fit(cluster, "two", tmp_path / "two", "mirrored", 2)
    codes = cluster.wait(300)
    assert codes == {"one": 0, "two": 0}, cluster.log("two")[-2000:]
    one, two = _result(tmp_path / "one"), _result(tmp_path / "two")
    assert (one["replicas"], two["replicas"]) == (1, 2)
    assert one["loss"][-1] < 0.5 * one["loss"][0]  # it did train
    _assert_same_training(one, two, 1e-5)


def test_multi_worker_on_loopback_matches_one_device(cluster, tmp_path):
    ports = free_ports(2)
    run = tmp_path / "mw"
    for i in range(2):
        _fit(
            cluster,
            f"w{i}",
            run,
            "multi_worker",
            0,
            TF_CONFIG=tf_config(ports, i),
        )
    _fit(cluster, "one", tmp_path / "one", "default", 0)
    codes = cluster.wait(300)
    assert codes == {"w0": 0, "w1": 0, "one": 0}, cluster.log("w1")[-2000:]
    chief = _result(run)
    assert chief["chief"] and chief["replicas"] == 2
    _assert_same_training(_result(tmp_path / "one"), chief, 1e-5)
    # Only the chief's folder remains; the worker's was deleted.
    assert (run / "checkpoints" / "last.keras").is_file()
    assert not run.with_name(".mw.worker-1").exists()
    assert '"chief": false' in cluster.log("w1")


def test_translate_app_mirrored_loss_curve_matches(cluster, tmp_path):
    """The same app, config and global batch on one device and on two
    logical CPUs: the loss curves agree to 0.1 % (each replica averages
    its own tokens, so they are not bit-identical)."""
    for name, strategy, cpus in (
        ("one", "default", 0),
        ("two", "mirrored", 2),
    ):
        cluster.start(
            name,
            [
                "-m",
                "apps.translate",
                "train",
                "--config",
                TRANSLATE_TINY,
                "--set",
                "train.epochs=3",
                "--set",
                "runtime.deterministic=true",
                "--set",
                f"runtime.strategy={strategy}",
                "--set",
                f"runtime.logical_cpus={cpus}",
                "--run",
                name,
            ],
        )
    assert cluster.wait(500) == {"one": 0, "two": 0}, cluster.log("two")
    assert "mirrored strategy, 2 replicas" in cluster.log("two")
    curves = {}
    for name in ("one", "two"):
        lines = (
            (tmp_path / "runs" / "translate" / name / "history.csv")
            .read_text()
            .splitlines()
        )
        column = lines[0].split(",").index("loss")
        curves[name] = [float(row.split(",")[column]) for row in lines[1:]]
    assert len(curves["one"]) == 3
    assert curves["one"][-1] < curves["one"][0]
    assert curves["two"] == pytest.approx(curves["one"], rel=1e-3)


def _detect_train(cluster, name, run, epochs, ports, index):
    cluster.start(
        name,
        [
            "-m",
            "apps.detect",
            "train",
            "--config",
            DETECT_TINY,
            "--set",
            f"train.epochs={epochs}",
            "--set",
            "runtime.strategy=multi_worker",
            "--run",
            run,
        ],
        TF_CONFIG=tf_config(ports, index),
    )


def _rows(history: Path) -> int:
    try:
        return len(history.read_text().splitlines()) - 1
    except OSError:
        return 0


def _freeze_at_same_epoch(cluster, backups, history, deadline):
    """Stops both workers (SIGSTOP) at a moment their backups record the
    same finished epoch (>= 2), which the chief's `history.csv` also has
    (its row is written after the backup); returns that epoch."""

    def state():
        return [finished_epochs(b) for b in backups] + [_rows(history)]

    while time.monotonic() < deadline:
        seen = state()
        if min(seen) >= 2 and len(set(seen)) == 1:
            cluster.signal_all(signal.SIGSTOP)
            if state() == seen:
                return seen[0]
            cluster.signal_all(signal.SIGCONT)
        if any(p.poll() is not None for p in cluster.procs.values()):
            pytest.fail(cluster.log("w0")[-2000:] + cluster.log("w1")[-2000:])
        time.sleep(0.05)
    pytest.fail("the workers did not reach epoch 2 in time")


def test_multi_worker_train_is_killed_and_resumes(cluster, tmp_path):
    runs = tmp_path / "runs" / "detect"
    run, worker = runs / "r", runs / ".r.worker-1"
    epochs = 30
    ports = free_ports(2)
    for i in range(2):
        _detect_train(cluster, f"w{i}", "r", epochs, ports, i)
    done = _freeze_at_same_epoch(
        cluster,
        [run / "backup", worker / "backup"],
        run / "history.csv",
        time.monotonic() + 400,
    )
    cluster.signal_all(signal.SIGKILL)
    cluster.close()
    assert 2 <= done < epochs
    assert not (run / "model.keras").exists()
    ports = free_ports(2)
    for i in range(2):
        _detect_train(cluster, f"w{i}", "r", epochs, ports, i)
    codes = cluster.wait(500)
    assert codes == {"w0": 0, "w1": 0}, cluster.log("w1")[-2000:]
    assert "Resuming" in cluster.log("w0")
    rows = (run / "history.csv").read_text().splitlines()[1:]
    seen = [int(row.split(",")[0]) for row in rows]
    assert sorted(set(seen)) == list(range(epochs))
    assert len(seen) <= epochs + 1  # the interrupted epoch at most twice
    assert (run / "model.keras").is_file()
    assert not (run / "backup").exists()
    assert not worker.exists()


def test_upstream_fit_still_fails_under_multi_worker(cluster):
    """Canary for keras-team/keras#20585. When this fails because plain
    `fit` works, upstream fixed it: delete `apps/common/mwms_compat.py`
    and its call in `apps/common/distribute.py`."""
    ports = free_ports(2)
    for i in range(2):
        cluster.start(f"w{i}", ["-c", PLAIN_FIT], TF_CONFIG=tf_config(ports, i))
    cluster.wait(300)
    log = cluster.log("w0")
    if "PLAIN FIT OK" in log:
        pytest.fail(
            "Keras fit now works under MultiWorkerMirroredStrategy with two "
            "workers (keras#20585 fixed?): remove apps/common/mwms_compat.py"
        )
    assert "PLAIN FIT FAILED" in log, log[-2000:]
    assert "PerReplica" in log


def _tune(cluster, name, tuner_id, port, *sets, run="sweep"):
    argv = [
        "-m",
        "apps.detect",
        "tune",
        "--distributed",
        "--config",
        DETECT_TINY,
        "--run",
        run,
    ]
    for item in sets:
        argv += ["--set", item]
    cluster.start(
        name,
        argv,
        KERASTUNER_TUNER_ID=tuner_id,
        KERASTUNER_ORACLE_IP="127.0.0.1",
        KERASTUNER_ORACLE_PORT=str(port),
    )


def _start_sweep(cluster, port, *sets):
    _tune(cluster, "chief", "chief", port, *sets)
    for i in range(2):
        _tune(cluster, f"tuner{i}", f"tuner{i}", port, *sets)


def _completed_trials(project: Path) -> dict[str, float]:
    """trial id -> mtime of its trial.json, for the COMPLETED ones."""
    done = {}
    for path in project.glob("trial_*/trial.json"):
        try:
            if json.loads(path.read_text()).get("status") == "COMPLETED":
                done[path.parent.name] = path.stat().st_mtime
        except (OSError, ValueError):
            continue
    return done


def test_distributed_sweep_chief_and_two_workers(cluster, tmp_path):
    port = free_ports(1)[0]
    _start_sweep(cluster, port, "tune.max_trials=3")
    codes = cluster.wait(500)
    assert codes == {"chief": 0, "tuner0": 0, "tuner1": 0}, cluster.log(
        "chief"
    )[-2000:]
    sweep = tmp_path / "runs" / "detect" / "sweep"
    trials = json.loads((sweep / "trials.json").read_text())["trials"]
    assert len(trials) == 3
    assert (sweep / "best.yaml").is_file()
    ran = 0
    for i in range(2):
        log = cluster.log(f"tuner{i}")
        ran += json.loads(log[log.index("{") : log.rindex("}") + 1])[
            "trials_run"
        ]
        assert not (sweep.parent / f".sweep.tuner{i}").exists()
    assert ran == 3  # the trials ran on the workers, each once


def test_distributed_sweep_resumes_after_a_kill(cluster, tmp_path):
    sets = ("tune.max_trials=4",)
    port = free_ports(1)[0]
    project = tmp_path / "runs" / "detect" / "sweep" / "tuner" / "sweep"
    _start_sweep(cluster, port, *sets)
    deadline = time.monotonic() + 400
    while not _completed_trials(project):
        if time.monotonic() > deadline or cluster.procs["chief"].poll():
            pytest.fail(cluster.log("chief")[-2000:])
        time.sleep(0.2)
    cluster.signal_all(signal.SIGKILL)
    cluster.close()
    before = _completed_trials(project)
    assert 1 <= len(before) < 4
    port = free_ports(1)[0]
    _start_sweep(cluster, port, *sets)
    codes = cluster.wait(500)
    assert codes == {"chief": 0, "tuner0": 0, "tuner1": 0}, cluster.log(
        "chief"
    )[-2000:]
    after = _completed_trials(project)
    assert len(after) == 4
    # The trials finished before the kill were not run again.
    assert {t: after[t] for t in before} == before


def _ongoing(path: Path) -> dict:
    try:
        return json.loads(path.read_text()).get("ongoing_trials") or {}
    except (OSError, ValueError):
        return {}


def test_chief_stops_when_its_workers_die(cluster, tmp_path):
    port = free_ports(1)[0]
    sets = ("tune.max_trials=3", "tune.worker_timeout_seconds=20")
    _tune(cluster, "chief", "chief", port, *sets)
    _tune(cluster, "tuner0", "tuner0", port, *sets)
    oracle = tmp_path / "runs" / "detect" / "sweep" / "tuner" / "sweep"
    deadline = time.monotonic() + 300
    # Kill the worker once it holds a trial (the oracle records it).
    while not _ongoing(oracle / "oracle.json"):
        if time.monotonic() > deadline or cluster.procs["tuner0"].poll():
            pytest.fail(cluster.log("tuner0")[-2000:])
        time.sleep(0.2)
    cluster.procs["tuner0"].kill()
    start = time.monotonic()
    codes = cluster.wait(200, names=["chief"])
    assert codes["chief"] == 2
    assert time.monotonic() - start < 200
    err = cluster.log("chief").strip().splitlines()[-1]
    assert "no worker has reported for" in err
    assert "start the workers and this command again" in err
    assert oracle.is_dir()


def test_tpu_strategy_without_a_tpu_is_one_line():
    from apps.common import distribute
    from apps.common.config import ConfigError
    from apps.common.sections import RuntimeConfig

    with pytest.raises(ConfigError) as err:
        distribute.make_distribution(RuntimeConfig(strategy="tpu"))
    assert str(err.value).startswith("runtime.strategy: tpu: no TPU reachable")
    assert "\n" not in str(err.value)
