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


@pytest.mark.parametrize("path", _sources("core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_core_pitch_reaches_into_models(path: Path) -> None:
    uses_models = any(_top(m) == "models" for m in _imports(path))
    assert not uses_models or path.name == "pitch.py", f"{path} imports models/"


@pytest.mark.parametrize("path", _sources("models"), ids=lambda p: str(p.relative_to(ROOT)))
def test_models_use_only_core_leaf_modules(path: Path) -> None:
    allowed = {"core.units", "core.cqt", "core.audio", "core.decode", "core.voicing", "core.errors"}
    for module in _imports(path):
        if _top(module) in {"bot", "smask", "vkbottle", "huey"}:
            pytest.fail(f"{path} imports {module}")
        if _top(module) == "core":
            assert module in allowed, f"{path} imports {module}; only {sorted(allowed)} allowed"


def test_nnaudio_lives_behind_one_module() -> None:
    users = [
        p.relative_to(ROOT).as_posix()
        for pkg in ("core", "models", "bot")
        for p in _sources(pkg)
        if any(_top(m) == "nnAudio" for m in _imports(p))
    ]
    assert users == ["core/cqt.py"]


def test_vk_is_spoken_only_in_bot() -> None:
    users = [
        p.relative_to(ROOT).as_posix()
        for pkg in ("core", "models", "smask")
        for p in _sources(pkg)
        if any(_top(m) == "vkbottle" for m in _imports(p))
    ]
    assert users == []
