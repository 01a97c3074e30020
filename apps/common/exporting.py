"""Atomic, versioned SavedModel exports, verified in a fresh process.

`export/<version>/` is written to a temporary sibling folder and renamed into
place, so a kill at any point leaves earlier versions intact and loadable. The
verification loads the export with plain `tf.saved_model.load` in a new
Python process in which this repository cannot be imported, as a server
would, and compares its outputs with the Keras model's.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from apps.common.runs import RunError

# The fresh process: blocks imports of this repo's packages, loads the
# SavedModel once, calls each listed signature on inputs from an .npz and
# writes its outputs to another.
_VERIFY_SCRIPT = r"""
import importlib.abc, json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("apps", "layers", "pipelines"):
            raise ImportError(f"{name} must not be imported by a server")
        return None

sys.meta_path.insert(0, _Block())
export_dir, calls_path = sys.argv[1:3]
import numpy as np
import tensorflow as tf
for module in sys.argv[3:]:
    __import__(module)
loaded = tf.saved_model.load(export_dir)

def _plain(value):
    # String outputs come back as object arrays, which np.load refuses
    # without pickle: store them as fixed-width bytes.
    value = value.numpy()
    return value.astype(bytes) if value.dtype == object else value

for call in json.load(open(calls_path)):
    fn = loaded.signatures[call["signature"]]
    inputs = dict(np.load(call["inputs"], allow_pickle=False))
    outputs = fn(**{k: tf.constant(v) for k, v in inputs.items()})
    np.savez(call["outputs"], **{k: _plain(v) for k, v in outputs.items()})
"""


def next_version(export_root: Path) -> int:
    """1 + the highest numbered version folder under `export_root`."""
    versions = [
        int(p.name) for p in Path(export_root).glob("*") if p.name.isdigit()
    ]
    return max(versions, default=0) + 1


def atomic_export(
    run_dir: Path,
    write: Callable[[Path], None],
    verify: Callable[[Path], object] | None = None,
) -> tuple[Path, object]:
    """Writes into a temporary folder, verifies, then renames it into
    `export/<version>`; a failed write or check leaves no new version.

    Args:
        run_dir: the run folder.
        write: writes the SavedModel into the folder it is given.
        verify: optional check of the written folder; raises on failure.

    Returns:
        `(path, verify_result)`: the final `export/<version>` path and what
        `verify` returned (None without one).
    """
    export_root = Path(run_dir) / "export"
    try:
        export_root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=export_root))
    except OSError as err:
        raise RunError(f"{export_root}: cannot write export ({err.strerror})")
    try:
        target = tmp / "model"
        write(target)
        checked = verify(target) if verify else None
        final = export_root / str(next_version(export_root))
        os.replace(target, final)
    except OSError as err:
        raise RunError(
            f"{export_root}: export failed, earlier versions untouched "
            f"({err.strerror or err})"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final, checked


def clean_partial_exports(run_dir: Path) -> int:
    """Removes `.partial-*` leftovers of killed exports; returns the count."""
    leftovers = list((Path(run_dir) / "export").glob(".partial-*"))
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return len(leftovers)


def run_in_fresh_process(
    export_dir: Path,
    signature: str,
    inputs: dict[str, np.ndarray],
    *,
    imports: tuple[str, ...] = (),
    timeout: float = 300,
) -> dict[str, np.ndarray]:
    """Calls `signature` of a SavedModel in a new process that cannot import
    this repository (`run_calls_in_fresh_process` with one call).

    Args:
        export_dir: the SavedModel folder.
        signature: the signature name, e.g. `serving_default`.
        inputs: keyword inputs of the signature.
        imports: modules the server must import first (e.g.
            `tensorflow_text`).
        timeout: seconds before the process is killed.

    Returns:
        The signature's outputs as numpy arrays.
    """
    return run_calls_in_fresh_process(
        export_dir, [(signature, inputs)], imports=imports, timeout=timeout
    )[0]


def run_calls_in_fresh_process(
    export_dir: Path,
    calls: list[tuple[str, dict[str, np.ndarray]]],
    *,
    imports: tuple[str, ...] = (),
    timeout: float = 300,
) -> list[dict[str, np.ndarray]]:
    """Loads a SavedModel once in a new process that cannot import this
    repository, as a server would, and calls signatures in turn.

    Args:
        export_dir: the SavedModel folder.
        calls: `(signature name, keyword inputs)` pairs, called in order.
        imports: modules the server must import first (e.g.
            `tensorflow_text`).
        timeout: seconds before the process is killed.

    Returns:
        Each call's outputs as numpy arrays, in the order of `calls`.
    """
    with tempfile.TemporaryDirectory() as tmp:
        listed = []
        for i, (signature, inputs) in enumerate(calls):
            inputs_path = Path(tmp) / f"inputs{i}.npz"
            np.savez(inputs_path, **inputs)
            listed.append(
                {
                    "signature": signature,
                    "inputs": str(inputs_path),
                    "outputs": str(Path(tmp) / f"outputs{i}.npz"),
                }
            )
        calls_path = Path(tmp) / "calls.json"
        calls_path.write_text(json.dumps(listed))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.run(
            [
                sys.executable,
                "-I",
                "-c",
                _VERIFY_SCRIPT,
                str(Path(export_dir).resolve()),
                str(calls_path),
                *imports,
            ],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(
                f"{export_dir}: fresh-process load failed: {tail[0]}"
            )
        results = []
        for call in listed:
            with np.load(call["outputs"]) as data:
                results.append({k: data[k] for k in data.files})
        return results


def compare_outputs(
    expected: dict[str, np.ndarray],
    actual: dict[str, np.ndarray],
    *,
    atol: float = 1e-4,
) -> float:
    """Max absolute difference over the shared keys; raises past `atol`."""
    worst = 0.0
    for key, want in expected.items():
        if key not in actual:
            raise RuntimeError(f"export output '{key}' is missing")
        got = actual[key]
        if got.shape != want.shape:
            raise RuntimeError(
                f"export output '{key}' has shape {got.shape}, "
                f"expected {want.shape}"
            )
        diff = float(np.max(np.abs(got.astype(np.float64) - want), initial=0))
        worst = max(worst, diff)
        if diff > atol:
            raise RuntimeError(
                f"export output '{key}' differs from the Keras model by "
                f"{diff:.3g} (tolerance {atol})"
            )
    return worst
