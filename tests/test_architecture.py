"""The import rules of docs/architecture.rst, checked on the source so a violation fails CI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _walk_runtime(node: ast.AST) -> list[ast.AST]:
    """Every node that runs, skipping ``if TYPE_CHECKING:`` blocks (annotations only)."""
    found: list[ast.AST] = []
    for child in ast.iter_child_nodes(node):
        if _is_type_checking_block(child):
            continue
        found.append(child)
        found.extend(_walk_runtime(child))
    return found


def _imports(path: Path) -> set[str]:
    """Every module a file imports at run time, at any depth (lazy imports count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in _walk_runtime(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _top(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("path", _sources("core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_bot_or_the_entry_point(path: Path) -> None:
    bad = {m for m in _imports(path) if _top(m) in {"bot", "smask", "vkbottle", "huey"}}
    assert not bad, f"{path} imports {sorted(bad)}"


# The tracker's torch side: only core/analysis/pitch.py loads and runs it (core/pipeline.py names
# ``Tracker`` in annotations only). models.units is plain numpy that every layer may use.
TRACKER_MODULES = {"models.network", "models.checkpoint", "models.cqt", "models.decode"}
# Training and its data: never needed to load or run the shipped tracker.
TRAINING_MODULES = {
    "models.training.train",
    "models.training.train_refiner",
    "models.training.dataset",
    "models.training.synth",
    "models.training.evaluate",
    "models.training.rooms",
    "models.training.augment",
    "models.training.train_onsets",
}


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


@pytest.mark.parametrize("path", _sources("core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_core_pitch_runs_the_tracker(path: Path) -> None:
    reached = {m for m in _imports(path) if m in TRACKER_MODULES or m == "models"}
    assert not reached or path.name == "pitch.py", f"{path} imports {sorted(reached)}"


@pytest.mark.parametrize("path", _sources("models"), ids=lambda p: str(p.relative_to(ROOT)))
def test_models_never_import_core_or_bot(path: Path) -> None:
    """One way: core/ calls models/, never the reverse (training included)."""
    bad = {m for m in _imports(path) if _top(m) in {"core", "bot", "smask", "vkbottle", "huey"}}
    assert not bad, f"{path} imports {sorted(bad)}"


@pytest.mark.parametrize(
    "path",
    [p for p in _sources("models") if _module(p) not in TRAINING_MODULES],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_loading_the_tracker_never_imports_training(path: Path) -> None:
    bad = {m for m in _imports(path) if m in TRAINING_MODULES}
    assert not bad, f"{path} imports {sorted(bad)}"


def test_units_is_a_leaf() -> None:
    """models.units is imported by every layer, so it imports nothing of ours and no torch."""
    found = _imports(ROOT / "models" / "units.py")
    assert {_top(m) for m in found} <= {"__future__", "math", "re", "numpy"}, sorted(found)


@pytest.mark.parametrize(
    ("lower", "upper"),
    [("core/media/probe.py", "core.media.io"), ("core/plan/targets.py", "core.retune.psola")],
)
def test_split_modules_point_one_way(lower: str, upper: str) -> None:
    """core.media.io decodes and writes through core.media.probe; core.retune.psola shifts
    along core.plan.targets' plan."""
    assert upper not in _imports(ROOT / lower)


def test_planning_needs_no_torch() -> None:
    found = _imports(ROOT / "core" / "plan" / "targets.py")
    assert not {m for m in found if _top(m) == "torch"}, sorted(found)


def test_nnaudio_lives_behind_one_module() -> None:
    """The CQT is nnAudio's: models/cqt.py takes its kernels, and no other module knows it."""
    users = [
        p.relative_to(ROOT).as_posix()
        for pkg in ("core", "models", "bot")
        for p in _sources(pkg)
        if any(_top(m) == "nnAudio" for m in _imports(p))
    ]
    assert users == ["models/cqt.py"]


def test_vk_is_spoken_only_in_bot() -> None:
    users = [
        p.relative_to(ROOT).as_posix()
        for pkg in ("core", "models", "smask")
        for p in _sources(pkg)
        if any(_top(m) == "vkbottle" for m in _imports(p))
    ]
    assert users == []


# ----------------------------------------------------------------------------------------------
# The whole house: no import circles, no function too long to hold in one's head, and a module
# map (docs/architecture.rst) that names only modules that exist.

PRODUCT = ("core", "bot", "models", "smask")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _product_modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PRODUCT for p in _sources(pkg)}


def _edges(path: Path, modules: dict[str, Path]) -> set[str]:
    """The product modules ``path`` imports at run time, lazy imports included.

    ``from a.b import c`` counts as an import of ``a.b.c`` when that is a module, else of
    ``a.b``; a package's own ``__init__`` is never counted as a dependency of its children.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in _walk_runtime(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if sub in modules:
                    found.add(sub)
                elif node.module in modules:
                    found.add(node.module)
    return found - {_module_name(path)}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles_among_the_product_modules() -> None:
    """Imports inside functions count: a lazy import still ties two modules together."""
    modules = _product_modules()
    graph = {name: _edges(path, modules) for name, path in modules.items()}
    assert _circles(graph) == []


# One algorithm each, said so in their docstrings; everything else stays under the bound.
MAX_FUNCTION_LINES = 140


def test_no_product_function_is_too_long_to_read() -> None:
    long = []
    for pkg in PRODUCT:
        for path in _sources(pkg):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} {lines}")
    assert long == []


def test_the_architecture_doc_names_only_modules_that_exist() -> None:
    import re

    text = (ROOT / "docs" / "architecture.rst").read_text(encoding="utf-8")
    modules = _product_modules()
    named = set(re.findall(r"\b((?:core|bot|models|smask)(?:\.[a-z_][a-z0-9_]*)+)\b", text))
    paths = set(re.findall(r"\b((?:core|bot|models|smask)(?:/[a-z_][a-z0-9_]*)+\.py)\b", text))
    missing = []
    for name in sorted(named):
        # ``core.media.io.decode_into``: a module, or an attribute of the longest module prefix.
        parts = name.split(".")
        prefixes = [".".join(parts[:k]) for k in range(len(parts), 0, -1)]
        owner = next((p for p in prefixes if p in modules), None)
        if owner is None or len(parts) - len(owner.split(".")) > 2:
            missing.append(name)
    missing += [p for p in sorted(paths) if not (ROOT / p).is_file()]
    assert named, "the module map names no modules"
    assert missing == []
