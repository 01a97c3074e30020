"""Arrows go one way: apps -> pipelines -> layers; no app imports another;
no import cycles; no private names of another module."""

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


# -- No import cycles, no private names across modules --------------------
#
# The module graph: one node per module (a package's `__init__.py` is the
# package's own module), one edge per import anywhere in a file (module
# level and lazy imports inside functions alike). `from pkg import name`
# points at `pkg.name` when that is a submodule, else at `pkg`. Importing
# `a.b.c` also runs `a` and `a.b` first, but Python finishes a parent
# package before its child, so those implicit edges are left out.

CYCLE_PACKAGES = ("apps", "layers", "pipelines")
PRIVATE_PACKAGES = CYCLE_PACKAGES + ("benchmarks",)


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path, packages) -> dict[str, Path]:
    """Dotted name -> file of every module under `packages`."""
    return {
        _module_name(path, root): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
    }


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (
        name.startswith("__") and name.endswith("__")
    )


def _from_base(node: ast.ImportFrom, me: str, is_package: bool) -> str:
    """The absolute module named by `from X import ...` in module `me`."""
    if not node.level:
        return node.module or ""
    package = me.split(".") if is_package else me.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def _owner(name: str, modules) -> str | None:
    """The longest prefix of dotted `name` that is a module, if any."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _imports_of(path: Path, me: str, modules):
    """`(node, base, alias, target)` for each imported name of `path`:
    `base` the module named after `from` (or the imported module),
    `target` the project module it resolves to (None if outside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name, alias, _owner(alias.name, modules)
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, me, is_package)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                target = full if full in modules else _owner(base, modules)
                yield node, base, alias, target


def _import_graph(root: Path, packages) -> dict[str, set[str]]:
    modules = _modules(root, packages)
    graph = {name: set() for name in modules}
    for me, path in modules.items():
        for _, _, _, target in _imports_of(path, me, modules):
            if target is not None and target != me:
                graph[me].add(target)
    return graph


def _strongly_connected(graph) -> list[list[str]]:
    """Tarjan's components with more than one module."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _shortest_cycle(graph, start: str, allowed: set[str]) -> list[str]:
    """The shortest path `start -> ... -> start` inside `allowed`."""
    parent, frontier = {start: None}, [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v] & allowed):
                if w == start:
                    path = [v]
                    while parent[path[-1]] is not None:
                        path.append(parent[path[-1]])
                    return path[::-1]
                if w not in parent:
                    parent[w] = v
                    following.append(w)
        frontier = following
    return [start]


def _import_cycles(root: Path, packages) -> list[str]:
    """Each cycle as `a -> b -> a`: the shortest one through every module
    of every strongly connected component, each cycle once."""
    graph = _import_graph(root, packages)
    cycles = set()
    for component in _strongly_connected(graph):
        for start in component:
            cycle = _shortest_cycle(graph, start, set(component))
            first = cycle.index(min(cycle))
            cycles.add(tuple(cycle[first:] + cycle[:first]))
    return sorted(" -> ".join(c + (c[0],)) for c in cycles)


def _attribute_chain(node: ast.Attribute) -> list[str] | None:
    """`a.b.c` -> `["a", "b", "c"]`; None unless it starts at a name."""
    chain = []
    while isinstance(node, ast.Attribute):
        chain.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *chain[::-1]]


def _private_uses(root: Path, packages) -> list[str]:
    """`from m import _x` and `m._x` of another project module `m`."""
    modules = _modules(root, PRIVATE_PACKAGES)
    bad = set()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            me = _module_name(path, root)
            rel = path.relative_to(root)
            bound = {}  # local name -> module it names
            for node, base, alias, _ in _imports_of(path, me, modules):
                if isinstance(node, ast.Import):
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        head = alias.name.split(".")[0]
                        bound[head] = head
                    continue
                full = f"{base}.{alias.name}"
                if full in modules:
                    bound[alias.asname or alias.name] = full
                owner = _owner(base, modules)
                if owner and owner != me and _is_private(alias.name):
                    bad.add(
                        (
                            str(rel),
                            node.lineno,
                            f"from {base} import {alias.name}",
                        )
                    )
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Attribute):
                    continue
                chain = _attribute_chain(node)
                if not chain or chain[0] not in bound:
                    continue
                module = bound[chain[0]]
                for i, attr in enumerate(chain[1:], start=1):
                    if f"{module}.{attr}" in modules:
                        module = f"{module}.{attr}"
                        continue
                    if module in modules and module != me and _is_private(attr):
                        text = ".".join(chain[: i + 1])
                        bad.add((str(rel), node.lineno, f"{text} ({module})"))
                    break
    return [f"{rel}:{line}: {text}" for rel, line, text in sorted(bad)]


def test_no_import_cycles():
    cycles = _import_cycles(ROOT, CYCLE_PACKAGES)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_private_names_across_modules():
    bad = _private_uses(ROOT, PRIVATE_PACKAGES)
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_cycle_check_sees_a_lazy_cycle(tmp_path):
    # app imports hypermodel at module level; hypermodel imports app
    # lazily, inside a function, as `from apps.x import app`.
    _tree(
        tmp_path,
        {
            "apps/__init__.py": "",
            "apps/x/__init__.py": "",
            "apps/x/app.py": "from apps.x.hypermodel import build\n",
            "apps/x/hypermodel.py": (
                "def build():\n    from apps.x import app\n    return app\n"
            ),
            "apps/x/ok.py": "import apps.x.app\n",
        },
    )
    assert _import_cycles(tmp_path, ("apps",)) == [
        "apps.x.app -> apps.x.hypermodel -> apps.x.app"
    ]


def test_the_cycle_check_counts_a_package_init(tmp_path):
    # `from apps.x import helper` names apps/x/__init__.py when `helper`
    # is no submodule; the package's __init__ imports the module back.
    _tree(
        tmp_path,
        {
            "apps/__init__.py": "",
            "apps/x/__init__.py": "from .a import helper\n",
            "apps/x/a.py": "def helper():\n    pass\n",
            "apps/x/b.py": "from apps.x import helper\n",
            "apps/x/c.py": "from apps.x import a\n",
            "layers/__init__.py": "",
            "layers/p.py": "import layers.q\n",
            "layers/q.py": "import layers.r\n",
            "layers/r.py": "def f():\n    import layers.p\n",
        },
    )
    assert _import_cycles(tmp_path, ("apps", "layers")) == [
        "layers.p -> layers.q -> layers.r -> layers.p"
    ]
    _tree(tmp_path, {"apps/x/a.py": "from apps.x import b\nhelper = b\n"})
    assert _import_cycles(tmp_path, ("apps", "layers")) == [
        "apps.x -> apps.x.a -> apps.x.b -> apps.x",
        "layers.p -> layers.q -> layers.r -> layers.p",
    ]


def test_the_private_check_sees_imports_and_attributes(tmp_path):
    _tree(
        tmp_path,
        {
            "pipelines/__init__.py": "",
            "pipelines/boxes.py": "def _clip():\n    pass\n__all__ = []\n",
            "pipelines/mosaic.py": (
                "from pipelines.boxes import _clip\n"
                "from pipelines.boxes import __all__\n"
                "from pipelines import boxes\n"
                "import pipelines.boxes as b\n"
                "import pipelines.boxes\n"
                "from numpy import _globals\n"
                "def f():\n"
                "    boxes._clip()\n"
                "    b._clip()\n"
                "    pipelines.boxes._clip()\n"
                "    boxes.public()\n"
                "    b.__all__\n"
            ),
            "pipelines/own.py": (
                "def _mine():\n    pass\nimport pipelines.own as me\n"
                "me._mine()\n"
            ),
        },
    )
    assert _private_uses(tmp_path, ("pipelines",)) == [
        "pipelines/mosaic.py:1: from pipelines.boxes import _clip",
        "pipelines/mosaic.py:8: boxes._clip (pipelines.boxes)",
        "pipelines/mosaic.py:9: b._clip (pipelines.boxes)",
        "pipelines/mosaic.py:10: pipelines.boxes._clip (pipelines.boxes)",
    ]
