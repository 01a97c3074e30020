"""keras-tuner sweeps shared by every app.

The app's `HyperModel` calls the same build function as `train`; the sweep
lives in `<run>/tuner/` and resumes after a kill (`overwrite=False`): trials
already completed are not run again.

Distributed sweeps (`tune --distributed`) are keras-tuner's own: one chief
process serves the oracle over gRPC and worker processes run the trials,
each told its role by `KERASTUNER_TUNER_ID` (`chief`, or a stable worker
name such as `tuner0`), `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`.
Only the chief writes the run folder (`best.yaml`, `trials.json`, the
oracle's state); a worker keeps its trial checkpoints in its own folder
beside it (`sweep_dir`), deleted when its search ends. keras-tuner's chief
waits for ever when workers die; here it is supervised
(`supervised_search`): with no request from any worker for
`tune.worker_timeout_seconds` it stops with a `SweepStalled` error, and
running the same commands again resumes the sweep (trials that were
running are retried).
"""

import os
import threading
import time
from pathlib import Path

from apps.common.config import ConfigError
from apps.common.runs import RunError
from apps.common.sections import TuneConfig
from apps.common.sections import check_tune

TUNER_ENV = (
    "KERASTUNER_TUNER_ID",
    "KERASTUNER_ORACLE_IP",
    "KERASTUNER_ORACLE_PORT",
)
# The oracle calls a worker makes (`OracleServicer`); each one counts as
# a sign of life for the supervisor.
WORKER_CALLS = (
    "get_space",
    "update_space",
    "create_trial",
    "update_trial",
    "end_trial",
    "get_trial",
    "get_best_trials",
)


class SweepStalled(RunError):
    """The chief of a distributed sweep heard from no worker in time."""


def tuner_role(environ=None) -> str | None:
    """None for a local sweep, `"chief"`, or this worker's tuner id, from
    keras-tuner's environment variables (checked: one-line errors)."""
    environ = os.environ if environ is None else environ
    given = [name for name in TUNER_ENV if environ.get(name)]
    if not given:
        return None
    missing = [name for name in TUNER_ENV if name not in given]
    if missing:
        raise ConfigError(
            f"{missing[0]}: expected it set for a distributed sweep (with "
            f"{', '.join(given)}), received nothing"
        )
    port = environ["KERASTUNER_ORACLE_PORT"]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"KERASTUNER_ORACLE_PORT: expected a port number, received {port!r}"
        )
    tuner_id = environ["KERASTUNER_TUNER_ID"]
    # keras-tuner's own test: a tuner id containing "chief" is the chief.
    return "chief" if "chief" in tuner_id else tuner_id


def check_distributed_flag(distributed: bool, environ=None) -> str | None:
    """`tune --distributed` needs keras-tuner's three variables, and they
    are refused without the flag (keras-tuner would silently join a
    sweep). Returns `tuner_role()`."""
    role = tuner_role(environ)
    if distributed and role is None:
        raise ConfigError(
            "tune --distributed: expected KERASTUNER_TUNER_ID (chief or a "
            "worker name), KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT "
            "in the environment, received none"
        )
    if not distributed and role is not None:
        raise ConfigError(
            "KERASTUNER_ORACLE_IP: set, so keras-tuner would join a "
            "distributed sweep: pass tune --distributed, or unset it"
        )
    return role


def sweep_dir(run_dir: Path, role: str | None) -> Path:
    """Where this process writes: the run folder, except for a worker of
    a distributed sweep (`.<run>.<tuner id>` beside it)."""
    run_dir = Path(run_dir)
    if role in (None, "chief"):
        return run_dir
    return run_dir.with_name(f".{run_dir.name}.{role}")


def make_tuner(
    hypermodel,
    cfg: TuneConfig,
    directory: Path,
    *,
    project_name: str = "sweep",
    **kwargs,
):
    """Builds a keras-tuner tuner for `cfg.algorithm`.

    Args:
        hypermodel: a `keras_tuner.HyperModel`.
        cfg: the `tune` config section.
        directory: where trials are stored (the run's `tuner/`).
        project_name: the sub-folder of this sweep.
        **kwargs: passed to the tuner (e.g. `distribution_strategy`).

    Returns:
        A `keras_tuner.Tuner` that resumes from `directory` when it exists.
    """
    import keras_tuner

    check_tune(cfg)
    objective = keras_tuner.Objective(cfg.objective, direction=cfg.direction)
    common = dict(
        objective=objective,
        directory=str(directory),
        project_name=project_name,
        overwrite=False,
        seed=cfg.seed,
        executions_per_trial=cfg.executions_per_trial,
        **kwargs,
    )
    if cfg.algorithm == "random":
        return keras_tuner.RandomSearch(
            hypermodel, max_trials=cfg.max_trials, **common
        )
    if cfg.algorithm == "bayesian":
        return keras_tuner.BayesianOptimization(
            hypermodel, max_trials=cfg.max_trials, **common
        )
    return keras_tuner.Hyperband(
        hypermodel, max_epochs=max(2, cfg.epochs), factor=3, **common
    )


def trial_table(tuner, n: int = 10) -> list[dict]:
    """The best `n` trials as rows of hyperparameters and score."""
    rows = []
    for trial in tuner.oracle.get_best_trials(n):
        row = dict(trial.hyperparameters.values)
        row["score"] = trial.score
        row["trial_id"] = trial.trial_id
        rows.append(row)
    return rows


def supervised_search(
    tuner,
    *,
    epochs: int,
    verbose: int,
    timeout: float,
    clock=time.monotonic,
    poll: float = 1.0,
) -> None:
    """`tuner.search` of a distributed sweep's chief, which serves the
    oracle until the workers are done, supervised: raises `SweepStalled`
    when no worker called the oracle for `timeout` seconds (the search
    thread is a daemon: it ends with the process).
    """
    oracle = tuner.oracle
    last = [clock()]

    def alive(original):
        def call(*args, **kwargs):
            last[0] = clock()
            return original(*args, **kwargs)

        return call

    for name in WORKER_CALLS:
        setattr(oracle, name, alive(getattr(oracle, name)))
    failed = []

    def search():
        try:
            tuner.search(epochs=epochs, verbose=verbose)
        except BaseException as err:  # noqa: BLE001 - re-raised below
            failed.append(err)

    thread = threading.Thread(target=search, name="oracle-chief", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(poll)
        silent = clock() - last[0]
        if thread.is_alive() and silent > timeout:
            running = sorted(t.trial_id for t in oracle.ongoing_trials.values())
            raise SweepStalled(
                f"tune: no worker has reported for {silent:.0f} s "
                f"(tune.worker_timeout_seconds={timeout:g}; trials running: "
                f"{', '.join(running) or 'none'}); the sweep is saved in "
                f"{oracle._project_dir}: start the workers and this command "
                "again to resume it"
            )
    if failed:
        raise failed[0]


def run_sweep(
    hypermodel,
    cfg,
    run_dir: Path,
    *,
    verbose: int = 1,
    distribution=None,
) -> dict:
    """Runs the sweep of `cfg.tune` in `run_dir/tuner` (resuming one a
    kill interrupted) and writes `best.yaml` and `trials.json`.

    In a distributed sweep (`tuner_role()`), the chief runs
    `supervised_search` and writes the results; a worker runs trials
    until the oracle stops it and writes nothing but its own folder.

    Args:
        hypermodel: the app's HyperModel; its `config_for(hp)` gives the
            full config of a trial (or `best_config(hp)` when it has one:
            what to write for the best trial).
        cfg: the app's root config (its `tune` section drives the sweep).
        run_dir: the sweep's run folder (`sweep_dir` of it for a worker).
        verbose: Keras verbosity of each trial.
        distribution: the `apps.common.distribute.Distribution` of the
            trials (mirrored or tpu), or None for one device.

    Returns:
        `{"best": values, "best_config": path, "trials": rows}`; for a
        worker `{"worker": id, "trials_run": n}`.
    """
    import shutil

    from apps.common import config as config_lib
    from apps.common import runs

    role = tuner_role()
    kwargs = {}
    if distribution is not None and distribution.kind != "default":
        if distribution.kind == "multi_worker":
            raise ConfigError(
                "runtime.strategy: expected default, mirrored or tpu for "
                "tune (trials spread over machines with tune --distributed), "
                "received 'multi_worker'"
            )
        kwargs["distribution_strategy"] = distribution.strategy
    tuner = make_tuner(hypermodel, cfg.tune, Path(run_dir) / "tuner", **kwargs)
    if role not in (None, "chief"):
        trials = Path(tuner.project_dir)
        before = len(list(trials.glob("trial_*")))
        tuner.search(epochs=cfg.tune.epochs, verbose=verbose)
        after = len(list(trials.glob("trial_*")))
        if Path(run_dir).name.endswith(f".{role}"):  # its own folder only
            shutil.rmtree(run_dir, ignore_errors=True)
        return {"worker": role, "trials_run": after - before}
    if role == "chief":
        print(
            "Serving the oracle on "
            f"{os.environ['KERASTUNER_ORACLE_IP']}:"
            f"{os.environ['KERASTUNER_ORACLE_PORT']} for the workers "
            f"(supervised: tune.worker_timeout_seconds="
            f"{cfg.tune.worker_timeout_seconds:g})"
        )
        supervised_search(
            tuner,
            epochs=cfg.tune.epochs,
            verbose=verbose,
            timeout=cfg.tune.worker_timeout_seconds,
        )
    else:
        tuner.search(epochs=cfg.tune.epochs, verbose=verbose)
    best_hp = tuner.get_best_hyperparameters(1)[0]
    best_path = Path(run_dir) / "best.yaml"
    best_config = getattr(hypermodel, "best_config", hypermodel.config_for)
    config_lib.dump_yaml(best_config(best_hp), best_path)
    table = trial_table(tuner)
    runs.write_json(Path(run_dir) / "trials.json", {"trials": table})
    return {
        "best": dict(best_hp.values),
        "best_config": str(best_path),
        "trials": table,
    }
