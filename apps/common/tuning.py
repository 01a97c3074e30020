"""keras-tuner sweeps shared by every app.

The app's `HyperModel` calls the same build function as `train`; the sweep
lives in `<run>/tuner/` and resumes after a kill (`overwrite=False`): trials
already completed are not run again.
"""

from pathlib import Path

from apps.common.config import TuneConfig
from apps.common.config import check_tune


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


def run_sweep(hypermodel, cfg, run_dir: Path, *, verbose: int = 1) -> dict:
    """Runs the sweep of `cfg.tune` in `run_dir/tuner` (resuming one a
    kill interrupted) and writes `best.yaml` and `trials.json`.

    Args:
        hypermodel: the app's HyperModel; its `config_for(hp)` gives the
            full config of a trial (or `best_config(hp)` when it has one:
            what to write for the best trial).
        cfg: the app's root config (its `tune` section drives the sweep).
        run_dir: the sweep's run folder.
        verbose: Keras verbosity of each trial.

    Returns:
        `{"best": values, "best_config": path, "trials": rows}`.
    """
    from apps.common import config as config_lib
    from apps.common import runs

    tuner = make_tuner(hypermodel, cfg.tune, Path(run_dir) / "tuner")
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
