"""An `export` killed with SIGKILL leaves the previous version intact and
loadable, and the next `export` cleans up after it.

`export` writes into `export/.partial-*/` and renames into
`export/<version>/` once the fresh-process check passed. The export (with
the check's child process) is killed twice: while the SavedModel is being
written, and while the fresh process checks it.
"""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.helpers import copy_run

ROOT = Path(__file__).resolve().parents[2]


def _main(app: str):
    if app == "face":
        from apps.face.__main__ import main
    else:
        from apps.detect.__main__ import main
    return main


def _probe(export_dir: Path, app: str) -> np.ndarray:
    """What the export answers for one fixed PNG."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    pixels = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    images = tf.constant([buffer.getvalue()])
    model = tf.saved_model.load(str(export_dir))
    if app == "face":
        return model.signatures["embed"](images=images)["embeddings"].numpy()
    out = model.signatures["serving_default"](images=images)
    return np.concatenate([out["boxes"].numpy().ravel(), out["scores"][0]])


def _children(pid: int) -> list[str]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return path.read_text().split() if path.exists() else []


def _writing(export_root: Path, pid: int) -> bool:
    return any(export_root.glob(".partial-*/model"))


def _checking(export_root: Path, pid: int) -> bool:
    return bool(_children(pid)) and _writing(export_root, pid)


@pytest.fixture(
    scope="module",
    params=["face", pytest.param("detect", marks=pytest.mark.slow)],
)
def exported(request, tiny_runs, tmp_path_factory):
    """`(app, run folder, answer of export/1)` of a tiny trained run (a
    copy of the session's exported one)."""
    app = request.param
    run = copy_run(
        tiny_runs.exported(app),
        tmp_path_factory.mktemp(f"runs_{app}"),
        app,
        export=True,
    )
    return app, run, _probe(run / "export" / "1", app)


def _kill_export_when(run: Path, ready) -> None:
    """Starts `export` and kills it, and its check process, once
    `ready(export_root, pid)` holds."""
    proc = subprocess.Popen(
        [sys.executable, "-m", f"apps.{run.parent.name}", "export"]
        + ["--run", str(run)],
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own group: the check process too
    )
    try:
        deadline = time.monotonic() + 600
        while not ready(run / "export", proc.pid):
            if proc.poll() is not None:
                pytest.fail(
                    "export ended before the kill: "
                    + proc.stderr.read().decode()[-2000:]
                )
            assert time.monotonic() < deadline, "kill point never reached"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()


def _versions(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "export").iterdir())


@pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
    reason="needs /proc/<pid>/task/<pid>/children to see the check process",
)
def test_killed_export_leaves_previous_version_intact(exported, capsys):
    app, run, answer = exported
    for ready in (_writing, _checking):
        _kill_export_when(run, ready)
        left = _versions(run)
        # No new version; the killed attempt's temporary folder remains.
        assert [name for name in left if name.isdigit()] == ["1"], left
        assert any(name.startswith(".partial-") for name in left), left
        assert np.array_equal(_probe(run / "export" / "1", app), answer)
        assert (run / "export" / "1" / "saved_model.pb").is_file()
    # The next export cleans the leftovers and adds version 2.
    assert _main(app)(["export", "--run", str(run)]) == 0
    assert _versions(run) == ["1", "2"]
    out = capsys.readouterr().out
    assert str(run / "export" / "2") in out
    np.testing.assert_allclose(
        _probe(run / "export" / "2", app), answer, atol=1e-5
    )
    info = run / "export" / "2" / "assets.extra"
    assert info.is_dir() and any(info.iterdir())
    if app == "face":
        text = (info / "verification.json").read_text()
        assert json.loads(text)["image_size"] == 32
