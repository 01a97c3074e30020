"""What a benchmark prints first: versions, machine, date and load.

Imported by the scripts in this folder when they run as
`python benchmarks/<script>.py` (the script's folder is on `sys.path`).
"""

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
import threading
import time

PACKAGES = (
    "tensorflow",
    "keras",
    "onnxruntime",
    "tf2onnx",
    "ai-edge-litert",
    "torch",
    "ultralytics",
    "keras-hub",
    "numpy",
)


def version(name: str) -> str:
    """The installed distribution's version, or "not installed"."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    """The "model name" line of /proc/cpuinfo (or `platform`'s guess)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` prints them."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def _cpu_snapshot():
    """(wall s, machine busy CPU s, this process's CPU s), or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle, iowait
    busy = (sum(fields[:8]) - idle) / ticks  # up to steal, not guest
    times = os.times()
    own = times.user + times.system + times.children_user
    own += times.children_system
    return time.monotonic(), busy, own


_START = None


def header(title: str) -> None:
    """Prints the title, date, machine, load and package versions."""
    now = datetime.datetime.now().astimezone()
    print(f"# {title}")
    print(f"date: {now.isoformat(timespec='seconds')}")
    print(f"machine: nproc={os.cpu_count()}, cpu={cpu_model()}")
    print(f"python: {sys.version.split()[0]} ({sys.executable})")
    print(f"load average before (1, 5, 15 min): {load()}")
    global _START
    _START = _cpu_snapshot()
    versions = ", ".join(f"{name} {version(name)}" for name in PACKAGES)
    print(f"versions: {versions}")
    print()


def footer() -> None:
    """Prints the load average at the end of the run."""
    print()
    print(f"load average after (1, 5, 15 min): {load()}")
    end = _cpu_snapshot()
    if _START and end:
        wall = end[0] - _START[0]
        cores = os.cpu_count() or 1
        busy = (end[1] - _START[1]) / wall
        own = (end[2] - _START[2]) / wall
        print(
            f"CPU during the run ({wall:.0f} s): machine busy {busy:.2f} "
            f"of {cores} cores, this benchmark {own:.2f}, other jobs "
            f"about {max(busy - own, 0):.2f}"
        )


def _wait(proc, start: float, out: dict) -> None:
    """Reaps `proc` with `os.wait4`, keeping its CPU seconds."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.update(
        exit=proc.returncode,
        wall_seconds=time.time() - start,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )


def run_jobs(jobs: dict, sequential: bool, timeout: float, cwd) -> dict:
    """Runs the jobs, `{name: (command, env, log path)}`, together or in
    turn, in `cwd`; returns each one's exit code, wall seconds and CPU
    seconds (user + system, its children included). A job still running
    `timeout` seconds after its batch started is killed."""
    done = {name: {} for name in jobs}
    batches = [[n] for n in jobs] if sequential else [list(jobs)]
    for batch in batches:
        waiting = []
        for name in batch:
            command, env, log = jobs[name]
            print(f"[{name}] {' '.join(command)}  (log: {log})", flush=True)
            with open(log, "w") as f:
                proc = subprocess.Popen(
                    command, env=env, cwd=cwd, stdout=f, stderr=f
                )
            thread = threading.Thread(
                target=_wait, args=(proc, time.time(), done[name])
            )
            thread.start()
            waiting.append((name, proc, thread))
        deadline = time.time() + timeout
        for name, proc, thread in waiting:
            thread.join(max(0.0, deadline - time.time()))
            if thread.is_alive():
                proc.kill()  # only our own child, by its pid
                thread.join()
            r = done[name]
            print(
                f"[{name}] exit {r['exit']} after {r['wall_seconds']:.0f} s, "
                f"{r['cpu_seconds']:.0f} CPU s",
                flush=True,
            )
    return done
