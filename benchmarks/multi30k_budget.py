"""Multi30k En->De under a fixed CPU budget: the GRU + attention model and
the small Transformer, each trained from scratch for `--minutes` of wall
time, then scored on test_2016_flickr with sacreBLEU (beam 4, alpha 0.6),
chrF and perplexity, plus the cheatsheet's error analysis (search vs
model) on the same test set.

    python benchmarks/multi30k_budget.py [--minutes 60] [--output FILE.json]
        [--sequential | --cores 0,1] [--workdir /tmp/multi30k_budget]

By default the two trainings run at the same time, each pinned to its own
core (`taskset`) with one compute thread (`runtime.threads=1`), so each
gets one of this machine's two cores for the whole budget. `--sequential`
trains them one after the other with both cores. Each training is

    python -m apps.translate train --config apps/translate/configs/<c>.yaml
        --set train.time_budget_minutes=M --set train.epochs=1000 ...

(the budget stops it before an epoch would overrun and fits the cosine
schedule to the epochs that fit; 1000 is only an upper bound). The
budget counts `fit` only: WordPiece vocabulary learning (about a minute)
and the evaluation come on top and are reported. Needs
`$DLSUITE_DATA/multi30k` (or `../shared/data/multi30k`).
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import _env

REPO = Path(__file__).resolve().parent.parent
MODELS = {
    "gru_attention": "apps/translate/configs/multi30k_rnn.yaml",
    "transformer": "apps/translate/configs/multi30k.yaml",
}


def _train_command(config: str, run_dir: Path, minutes: float, threads):
    command = [
        sys.executable, "-m", "apps.translate", "train",
        "--config", config, "--run", str(run_dir), "--overwrite",
        "--set", f"train.time_budget_minutes={minutes}",
        "--set", "train.epochs=1000",
        "--set", "train.verbose=2",
    ]  # fmt: skip
    if threads:
        command += ["--set", f"runtime.threads={threads}"]
    return command


def _app(verb: str, run_dir: Path, *extra: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "apps.translate", verb, "--run", str(run_dir),
         *extra],
        cwd=REPO, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--sequential", action="store_true")
    parser.add_argument("--cores", default="0,1", help="gru,transformer cores")
    parser.add_argument(
        "--workdir", type=Path, default=Path("/tmp/multi30k_budget")
    )
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    mode = "sequential" if args.sequential else "concurrent, one core each"
    _env.header(f"Multi30k En->De, {args.minutes:g} min budget each ({mode})")
    names = args.models.split(",")
    cores = args.cores.split(",")
    jobs = {}
    for i, name in enumerate(names):
        run_dir = workdir / name
        command = _train_command(
            MODELS[name], run_dir, args.minutes, 0 if args.sequential else 1
        )
        if not args.sequential:
            command = ["taskset", "-c", cores[i % len(cores)], *command]
        jobs[name] = (command, dict(os.environ), workdir / f"{name}.log")
    load_before = _env.load()
    timeout = args.minutes * 60 * 1.5 + 1800
    processes = _env.run_jobs(jobs, args.sequential, timeout, cwd=REPO)
    load_after_training = _env.load()
    rows = {}
    for name in names:
        run_dir = workdir / name
        if processes[name]["exit"] != 0:
            rows[name] = {"error": f"training exited {processes[name]['exit']}"}
            continue
        summary = json.loads((run_dir / "train_summary.json").read_text())
        _app("evaluate", run_dir, "--split", "test")
        metrics = json.loads((run_dir / "metrics.json").read_text())
        _app("analyze", run_dir, "--split", "test", "--limit", "0")
        analysis = json.loads((run_dir / "error_analysis.json").read_text())
        analysis.pop("rows")
        rows[name] = {
            "epochs": summary["epochs_run"],
            "train_seconds": summary["train_seconds"],
            "target_tokens_per_second": summary.get("target_tokens_per_second"),
            "val_perplexity": summary.get("final_val_perplexity"),
            "test_bleu": metrics["bleu"],
            "test_chrf": metrics["chrf"],
            "test_perplexity": metrics["perplexity"],
            "signature": metrics["signature"],
            "beam_size": metrics["beam_size"],
            "alpha": metrics["alpha"],
            "decode_sentences_per_second": metrics["sentences_per_second"],
            "error_analysis": analysis,
        }
        print(f"[{name}] {json.dumps(rows[name])}", flush=True)
    report = {
        "command": " ".join(["python", "benchmarks/multi30k_budget.py",
                             *(argv if argv is not None else sys.argv[1:])]),
        "mode": mode,
        "minutes": args.minutes,
        "load_before": load_before,
        "load_after_training": load_after_training,
        "machine": f"nproc={os.cpu_count()}, cpu={_env.cpu_model()}",
        "versions": {p: _env.version(p) for p in _env.PACKAGES},
        "processes": processes,
        "models": rows,
    }  # fmt: skip
    print()
    print("| model | epochs | train s | test BLEU | chrF | test ppl |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        if "error" in r:
            print(f"| {name} | {r['error']} | | | | |")
            continue
        print(
            f"| {name} | {r['epochs']} | {r['train_seconds']:.0f} | "
            f"{r['test_bleu']:.1f} | {r['test_chrf']:.1f} | "
            f"{r['test_perplexity']:.2f} |"
        )
    if args.output:
        args.output.write_text(json.dumps(report, indent=2))
    _env.footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
