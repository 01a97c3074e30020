"""Disk-full and permission errors while writing runs and exports, through
the CLI of each app: exit code 2, one clear line on stderr, nothing
half-written, and the same command works again once there is room.

A full disk is simulated by making one write raise `OSError(ENOSPC)` after
part of the file was written, as a failed `write()` does. A read-only run
folder is made with `chmod` when the tests do not run as root (root
ignores permissions); as root, creating, renaming or removing an entry in
that folder raises `PermissionError(EACCES)`, as the kernel would.
"""

import builtins
import contextlib
import errno
import io
import os
import shutil
from pathlib import Path

import keras
import pytest

from apps.common import runs

ROOT = Path(__file__).resolve().parents[2]
APPS = ["detect", "face"]
NO_SPACE = os.strerror(errno.ENOSPC)


def _main(app: str):
    if app == "face":
        from apps.face.__main__ import main
    else:
        from apps.detect.__main__ import main
    return main


def _serving(app: str):
    if app == "face":
        from apps.face import serving
    else:
        from apps.detect import serving
    return serving


def _cli(app: str, *argv: str) -> tuple[int, str, str]:
    """`(exit code, stdout, stderr)` of `python -m apps.<app> argv`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = _main(app)(list(argv))
    return code, out.getvalue(), err.getvalue()


def _train(app: str, *sets: str) -> tuple[int, str, str]:
    config = ROOT / "apps" / app / "configs" / "tiny.yaml"
    argv = ["train", "--config", str(config)]
    for item in sets:
        argv += ["--set", item]
    return _cli(app, *argv, "--run", "r")


def _error_line(err: str) -> str:
    """The one line a user reads; fails on a traceback or several lines."""
    lines = [
        line
        for line in err.splitlines()
        if line.strip() and "it/s]" not in line  # tqdm progress bars
    ]
    assert len(lines) == 1, err[-2000:]
    assert "Traceback" not in err
    return lines[0]


def _partials(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".partial-" in p.name]


def _disk_full_on_save(monkeypatch, matches) -> None:
    """`keras.Model.save` to a path for which `matches(name)` holds writes
    four bytes and raises ENOSPC."""
    real_save = keras.Model.save

    def save(self, filepath, *args, **kwargs):
        if matches(Path(filepath).name):
            Path(filepath).write_bytes(b"PK\x03\x04")
            raise OSError(errno.ENOSPC, NO_SPACE)
        return real_save(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save)


@pytest.fixture(
    scope="module",
    params=["detect", pytest.param("face", marks=pytest.mark.slow)],
)
def scenario(request, tmp_path_factory):
    """One run of the tiny config through three `train` commands:
    1. the disk fills while `checkpoints/best.keras` is written (epoch 1);
    2. the same command resumes, the disk fills while `model.keras` is
       written;
    3. the same command, with room again.
    Returns `(app, run folder, {step: (code, out, err, facts)})`."""
    app = request.param
    root = tmp_path_factory.mktemp(f"disk_{app}")
    run = root / app / "r"
    steps = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DLSUITE_RUNS", str(root))
        with pytest.MonkeyPatch.context() as fault:
            _disk_full_on_save(
                fault,  # in place, or through a temporary file
                lambda name: (
                    name == "best.keras"
                    or name.startswith(".best.keras.partial-")
                ),
            )
            result = _train(app)
        best = run / "checkpoints" / "best.keras"
        facts = {
            "backup": (run / "backup").is_dir(),
            "best_size": best.stat().st_size if best.exists() else None,
        }
        steps[1] = (*result, facts)
        with pytest.MonkeyPatch.context() as fault:
            _disk_full_on_save(
                fault, lambda name: name.startswith(".model.keras.partial-")
            )
            result = _train(app)
        last = run / "checkpoints" / "last.keras"
        facts = {
            "model": (run / runs.MODEL_FILE).exists(),
            "partials": _partials(run),
            "last_loads": keras.saving.load_model(last, compile=False)
            is not None,
        }
        steps[2] = (*result, facts)
        steps[3] = (*_train(app), {})
    return app, run, steps


def test_disk_full_in_a_checkpoint_is_one_line_and_resumable(scenario):
    app, run, steps = scenario
    code, _, err, facts = steps[1]
    assert code == 2
    line = _error_line(err)
    assert line.startswith(f"python -m apps.{app} train: error: ")
    assert line.endswith(NO_SPACE)
    assert facts["backup"]  # so the same command resumes
    assert "Resuming" in steps[2][1]


def test_disk_full_in_a_checkpoint_leaves_no_half_written_file(scenario):
    _, _, steps = scenario
    assert steps[1][3]["best_size"] is None  # no half-written best.keras


def test_disk_full_saving_the_model_names_it_and_writes_nothing(scenario):
    app, run, steps = scenario
    code, _, err, facts = steps[2]
    assert code == 2
    line = _error_line(err)
    assert line.endswith(f"{run / runs.MODEL_FILE}: {NO_SPACE}")
    assert not facts["model"] and not facts["partials"]
    assert facts["last_loads"]  # the trained weights survive
    # With room again, the same command completes the run.
    code, out, err, _ = steps[3]
    assert code == 0, err[-2000:]
    assert f"Run folder: {run}" in out
    assert keras.saving.load_model(run / runs.MODEL_FILE, compile=False)
    assert not _partials(run)


def test_disk_full_writing_an_export_leaves_no_version(scenario, monkeypatch):
    app, run, _ = scenario
    serving = _serving(app)

    def write_half(model, path, **kwargs):
        Path(path).mkdir(parents=True)
        (Path(path) / "saved_model.pb").write_bytes(b"\x08\x01")
        raise OSError(errno.ENOSPC, NO_SPACE)

    monkeypatch.setattr(serving, "write_saved_model", write_half)
    code, _, err = _cli(app, "export", "--run", str(run))
    assert code == 2
    line = _error_line(err)
    assert "export failed, earlier versions untouched" in line
    assert NO_SPACE in line
    assert list((run / "export").iterdir()) == []


def _deny_writes_in(folder: Path, monkeypatch) -> None:
    """Makes `folder` read-only: chmod, or (as root, which ignores modes)
    EACCES from every call that creates, renames or removes an entry."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return
    folder = folder.resolve()

    def denied(path) -> bool:
        """A new entry of `folder` (an existing one gives EEXIST/ENOENT
        before EACCES, as in the kernel)."""
        if not isinstance(path, (str, os.PathLike)) or os.path.exists(path):
            return False
        return Path(os.path.abspath(path)).parent == folder

    def exists_in(path) -> bool:
        return os.path.exists(path) and (
            Path(os.path.abspath(path)).parent == folder
        )

    def refuse(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)

    def guard(name, check):
        real = getattr(os, name)

        def call(*args, **kwargs):
            if check(*args):
                refuse(
                    str(args[-1] if name in ("replace", "rename") else args[0])
                )
            return real(*args, **kwargs)

        monkeypatch.setattr(os, name, call)

    guard("mkdir", lambda path, *a: denied(path))
    guard("open", lambda path, flags, *a: flags & os.O_CREAT and denied(path))
    for name in ("replace", "rename"):
        guard(name, lambda src, dst, *a: exists_in(src) or denied(dst))
    guard("unlink", lambda path, *a: exists_in(path))
    real_open = builtins.open

    def open_(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and denied(file):
            refuse(str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_)


@pytest.mark.parametrize("verb", ["export", "evaluate"])
def test_read_only_run_folder_is_one_line(scenario, monkeypatch, verb):
    app, run, _ = scenario
    before = sorted(p.name for p in run.iterdir())
    if verb == "export" and (run / "export").exists():
        # No export folder yet, so export must create one.
        shutil.rmtree(run / "export")
        before.remove("export")
    mode = run.stat().st_mode
    try:
        with monkeypatch.context() as mp:
            _deny_writes_in(run, mp)
            code, _, err = _cli(app, verb, "--run", str(run))
    finally:
        run.chmod(mode)
    assert code == 2
    line = _error_line(err)
    assert "Permission denied" in line and str(run) in line
    assert sorted(p.name for p in run.iterdir()) == before


@pytest.mark.parametrize("app", APPS)
def test_runs_folder_under_a_file_is_one_line(app, tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the runs folder should be\n")
    monkeypatch.setenv("DLSUITE_RUNS", str(blocker / "runs"))
    code, _, err = _train(app)
    assert code == 2
    line = _error_line(err)
    assert "cannot create folder (Not a directory)" in line
    assert str(blocker / "runs" / app / "r") in line
    assert blocker.read_text().startswith("a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_folder"]


def _disk_full_at_config(app, root, monkeypatch) -> tuple[int, str, Path]:
    """`train` with a disk that fills while `config.yaml` is written."""
    monkeypatch.setenv("DLSUITE_RUNS", str(root))
    real_write_text = Path.write_text

    def write_text(self, data, *args, **kwargs):
        if self.name.startswith("config.yaml"):
            real_write_text(self, data[: len(data) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, NO_SPACE)
        return real_write_text(self, data, *args, **kwargs)

    with monkeypatch.context() as mp:
        mp.setattr(Path, "write_text", write_text)
        code, _, err = _train(app)
    return code, err, root / app / "r"


@pytest.mark.parametrize("app", APPS)
def test_disk_full_writing_the_config_is_one_line(app, tmp_path, monkeypatch):
    code, err, _ = _disk_full_at_config(app, tmp_path, monkeypatch)
    assert code == 2
    line = _error_line(err)
    assert line.startswith(f"python -m apps.{app} train: error: ")
    assert line.endswith(NO_SPACE)


@pytest.mark.parametrize("app", APPS)
def test_disk_full_writing_the_config_leaves_no_debris(
    app, tmp_path, monkeypatch
):
    _, _, run = _disk_full_at_config(app, tmp_path, monkeypatch)
    assert not run.exists() or not any(run.iterdir()), list(run.iterdir())
    # The same command is accepted again.
    assert runs.run_dir_for_training(app, "r", root=tmp_path)[0] == run
