"""Scaling of `train` over TensorFlow's strategies on this machine.

One app, one config, one global batch, three engines:
- `default`: one device;
- `mirrored`: MirroredStrategy over 2 logical CPU devices
  (`runtime.logical_cpus=2`) in one process;
- `multi_worker`: MultiWorkerMirroredStrategy, 2 worker processes on
  127.0.0.1 (`TF_CONFIG`), one CPU device each.

Each engine trains `python -m apps.translate train` (a small Transformer
on the embedded dates task; `--config apps/translate/configs/tiny.yaml`
plus the overrides below) twice, for `--short` and for `--long` epochs,
one run at a time. The steady time of an epoch is
`(T_long - T_short) / (long - short)` (T: `train_seconds` of the chief's
`train_summary.json`), which cancels start-up, tracing and the first
epoch's warm-up; steps/s and examples/s follow from it, and `warm-up` is
what the first epoch costs beyond a steady one.

All engines share the machine's cores: on a 2-core CPU, 2 logical devices
or 2 workers split the same cores, so no speed-up is expected; the point
is what the distribution costs. On GPUs, `mirrored` spreads the global
batch over the cards.

    python benchmarks/scaling.py [--short 1] [--long 3] [--pairs 1024]
        [--output FILE]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = [
    "data.num_val=64",
    "model.architecture=transformer",
    "model.d_model=64",
    "model.num_heads=4",
    "model.ff_dim=128",
    "model.num_layers=2",
    "model.dropout=0.0",
    "train.batch_size=64",
    "train.verbose=0",
    "runtime.deterministic=true",
]
ENGINES = {
    "default (1 device)": ("default", 0, 1),
    "mirrored (2 logical CPUs)": ("mirrored", 2, 1),
    "multi_worker (2 processes)": ("multi_worker", 0, 2),
}


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def train(
    engine, epochs: int, runs: Path, name: str, overrides: list[str]
) -> dict:
    """One `train` (all workers of it); the chief's summary."""
    strategy, cpus, workers = engine
    argv = [
        sys.executable,
        "-m",
        "apps.translate",
        "train",
        "--config",
        "apps/translate/configs/tiny.yaml",
        "--run",
        name,
        "--set",
        f"train.epochs={epochs}",
        "--set",
        f"runtime.strategy={strategy}",
        "--set",
        f"runtime.logical_cpus={cpus}",
    ]
    for item in overrides:
        argv += ["--set", item]
    env = dict(os.environ, DLSUITE_RUNS=str(runs), TF_CPP_MIN_LOG_LEVEL="3")
    ports = free_ports(workers)
    procs = []
    for index in range(workers):
        if workers > 1:
            env["TF_CONFIG"] = json.dumps(
                {
                    "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                    "task": {"type": "worker", "index": index},
                }
            )
        log = open(runs / f"{name}.{index}.log", "w")
        procs.append(
            subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        )
        log.close()
    for proc in procs:
        try:
            proc.wait(1800)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        if proc.returncode:
            log = (runs / f"{name}.0.log").read_text()[-2000:]
            raise RuntimeError(f"{name} failed ({proc.returncode}):\n{log}")
    summary_path = runs / "translate" / name / "train_summary.json"
    summary = json.loads(summary_path.read_text())
    history = (runs / "translate" / name / "history.csv").read_text()
    summary["history"] = history.splitlines()
    return summary


def steps_and_examples(runs: Path, overrides: list[str]) -> tuple[int, int]:
    """Batches and kept pairs of one epoch: the pairs from the run's
    printed line, the batches counted on the app's own (bucketed)
    dataset."""
    import re

    log = (runs / "default-short.0.log").read_text()
    kept = int(re.search(r" on ([\d,]+) pairs", log).group(1).replace(",", ""))
    sys.path.insert(0, str(ROOT))
    from apps.common import config as config_lib
    from apps.translate.config import TranslateConfig
    from apps.translate.data import build_tokenizers
    from apps.translate.data import load_pairs
    from apps.translate.data import make_dataset

    cfg = config_lib.resolve(
        TranslateConfig,
        config_file=ROOT / "apps/translate/configs/tiny.yaml",
        sets=overrides,
    )
    pairs = load_pairs(cfg.data, ("train",))
    tokenizers = build_tokenizers(cfg.data, *pairs["train"])
    ds, _ = make_dataset(cfg, pairs["train"], tokenizers, shuffle=True)
    return int(ds.cardinality()), kept


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=1)
    parser.add_argument("--long", type=int, default=3)
    parser.add_argument(
        "--pairs", type=int, default=1024, help="training pairs (dates)"
    )
    parser.add_argument("--output", help="also write the results as JSON")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from _env import footer
    from _env import header

    header("Scaling of train over tf.distribute strategies (scaling.py)")
    overrides = [f"data.num_train={args.pairs}", *OVERRIDES]
    print(f"app: python -m apps.translate train, overrides {overrides}")
    print(f"epochs: {args.short} and {args.long} per engine, one at a time")
    results = {}
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        runs = Path(tmp)
        for label, engine in ENGINES.items():
            key = engine[0]
            times = {}
            for tag, epochs in (("short", args.short), ("long", args.long)):
                start = time.monotonic()
                summary = train(engine, epochs, runs, f"{key}-{tag}", overrides)
                times[tag] = summary["train_seconds"]
                print(
                    f"  {label}: {epochs} epoch(s), fit {times[tag]:.1f} s, "
                    f"process {time.monotonic() - start:.1f} s, final loss "
                    f"{summary['final_loss']:.4f}",
                    flush=True,
                )
            epoch = (times["long"] - times["short"]) / (args.long - args.short)
            results[label] = {
                "fit_seconds": times,
                "epoch_seconds": epoch,
                "warmup_seconds": times["short"] - args.short * epoch,
                "final_loss": summary["final_loss"],
            }
        steps, kept = steps_and_examples(runs, overrides)
    base = results["default (1 device)"]["epoch_seconds"]
    print()
    print(
        f"one epoch: {steps} steps (bucketed batches of at most 64), "
        f"{kept} pairs"
    )
    print(
        "| engine | s/epoch (steady) | steps/s | examples/s | vs 1 device "
        "| first-epoch warm-up s | final loss |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, r in results.items():
        e = r["epoch_seconds"]
        r.update(steps_per_second=steps / e, examples_per_second=kept / e)
        print(
            f"| {label} | {e:.2f} | {steps / e:.2f} | {kept / e:.0f} | "
            f"{base / e:.2f}x | {r['warmup_seconds']:.1f} | "
            f"{r['final_loss']:.4f} |"
        )
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2))
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
