"""Arrows go one way: apps -> pipelines -> layers; no app imports another."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("apps", "layers", "pipelines")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and not (node.level)
        ):
            names.add(node.module)
    return names


def _files(package: str):
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", ["layers", "pipelines"])
def test_lower_layers_do_not_import_upwards(package):
    forbidden = {"layers": ("apps", "pipelines"), "pipelines": ("apps",)}
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _files(package)
        for name in _imports(path)
        if name.split(".")[0] in forbidden[package]
    ]
    assert not bad, bad


def test_no_app_imports_another_app():
    bad = []
    for path in _files("apps"):
        rel = path.relative_to(ROOT / "apps").parts
        if len(rel) < 2:
            continue
        own = rel[0]
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "apps" and len(parts) > 1:
                if parts[1] not in ("common", own):
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, bad


def test_common_imports_no_app():
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _files("apps/common")
        for name in _imports(path)
        if name.startswith("apps.") and not name.startswith("apps.common")
    ]
    assert not bad, bad


def test_no_private_keras_or_shadowing_imports():
    bad = []
    for package in PACKAGES + ("tests",):
        for path in _files(package):
            text = path.read_text(encoding="utf-8")
            if "keras.src" in text or "from keras import layers" in text:
                if path.name != "test_import_boundaries.py":
                    bad.append(str(path.relative_to(ROOT)))
    assert not bad, bad


def test_the_boundary_check_sees_a_violation(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import apps.detect.app\nfrom pipelines import x\n")
    assert {"apps.detect.app", "pipelines"} <= _imports(sample)
