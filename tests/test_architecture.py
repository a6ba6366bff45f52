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


# The tracker's torch side: only core/pitch.py loads and runs it (core/pipeline.py names
# ``Tracker`` in annotations only). models.units is plain numpy that every layer may use.
TRACKER_MODULES = {"models.network", "models.checkpoint", "models.cqt", "models.decode"}
# Training and its data: never needed to load or run the shipped tracker.
TRAINING_MODULES = {
    "models.train",
    "models.train_refiner",
    "models.dataset",
    "models.synth",
    "models.evaluate",
    "models.rooms",
    "models.augment",
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
    ("lower", "upper"), [("core/probe.py", "core.media"), ("core/targets.py", "core.psola")]
)
def test_split_modules_point_one_way(lower: str, upper: str) -> None:
    """core.media decodes/writes through core.probe; core.psola shifts along core.targets' plan."""
    assert upper not in _imports(ROOT / lower)


def test_planning_needs_no_torch() -> None:
    found = _imports(ROOT / "core" / "targets.py")
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
