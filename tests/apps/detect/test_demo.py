"""The README's first command: the demo trains, evaluates, exports, draws."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_demo_reaches_map50_of_0_8_within_5_minutes(tmp_path):
    env = dict(os.environ, DLSUITE_RUNS=str(tmp_path))
    start = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "apps.detect"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    seconds = time.time() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = re.search(r"mAP@0\.5 = ([0-9.]+)", proc.stdout)
    assert found, proc.stdout[-3000:]
    assert float(found.group(1)) >= 0.8
    assert seconds < 300, f"demo took {seconds:.0f} s"
    run = next((tmp_path / "detect").iterdir())
    assert (run / "export" / "1" / "saved_model.pb").is_file()
    assert list((run / "predictions").glob("*.detections.png"))
