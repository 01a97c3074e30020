"""Fuzzing the translator's SavedModel: every call answers or raises an
InvalidArgument-style error; the process never crashes or hangs.

Its signatures (`serving_default`, `translate`, `translate_greedy`) take
a batch of strings: random bytes (mostly invalid UTF-8), empty strings,
very long inputs, characters the vocabulary never saw, wrong dtypes and
shapes, empty batches.
"""

import os
from pathlib import Path

import pytest

from tests.helpers import run_fuzz_script

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "apps" / "translate" / "configs" / "tiny.yaml")

# In a child process, so that a crash shows up as a return code.
FUZZ = r"""
import sys, numpy as np, tensorflow as tf, tensorflow_text
export_dir, n = sys.argv[1], int(sys.argv[2])
m = tf.saved_model.load(export_dir)
rng = np.random.default_rng(0)
expected = (tf.errors.InvalidArgumentError, ValueError, TypeError)
counts = {"answered": 0, "raised": 0}

def check(out, batch):
    text = out["translations"].numpy()
    assert text.shape[0] == batch, text.shape
    assert np.isfinite(out["scores"].numpy()).all()
    for row in text:
        for t in row:
            t.decode("utf-8")  # always valid UTF-8 out

def call(fn, value):
    try:
        out = fn(strings=tf.constant(value))
    except expected:
        counts["raised"] += 1
        return
    check(out, len(value))
    counts["answered"] += 1

fixed = [
    [b""], [b" "], [b"\n\t"], ["3 march 1998".encode()], [b"x" * 20000],
    ["日付 ☃ ∑ 12/25/99".encode()], [b"\xff\xfe\xfd"], [b"\x00\x00"],
    ["1 jan 2000 ".encode() * 300], [b"ok", b"", b"\xc3\x28"],
]
for name in ("serving_default", "translate", "translate_greedy"):
    fn = m.signatures[name]
    for value in fixed:
        call(fn, value)
    for _ in range(n):
        size = int(rng.integers(1, 4))
        call(fn, [rng.bytes(int(rng.integers(0, 200))) for _ in range(size)])
    out = fn(strings=tf.constant([], tf.string))
    assert out["translations"].shape[0] == 0
    for bad in (np.zeros((2, 2), np.int32), [[b"a", b"b"]], b"scalar"):
        try:
            fn(strings=tf.constant(bad))
            counts["answered"] += 1
        except expected:
            counts["raised"] += 1
print(" ".join(f"{k}={v}" for k, v in counts.items()))
"""


@pytest.fixture(scope="module")
def translate_export(tiny_runs):
    """The session's tiny translate run's export, read only."""
    return tiny_runs.exported("translate") / "export" / "1"


def test_malformed_strings_never_crash(translate_export, tmp_path):
    n = int(os.environ.get("DLSUITE_FUZZ_CASES", "100"))
    counts = run_fuzz_script(FUZZ, translate_export, n, tmp_path)
    total = sum(counts.values())
    assert total == 3 * (10 + n + 3)
    # Every well-formed batch of strings gets an answer, whatever bytes it
    # holds; the 3 wrong dtypes/shapes per signature are refused.
    assert counts["answered"] == 3 * (10 + n)
    assert counts["raised"] == 3 * 3
