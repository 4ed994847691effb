"""The house's rooms: `data/` is packages by concern with no import circles, `geo/` and `data/` never import Streamlit or pydeck."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("dataset", "imports", "incidents", "accounts", "storage", "scenarios")


def _modules(folder: str) -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules("data")
    return {name: {d for d in _imports(path) if d in mods and d != name} for name, path in mods.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(u: str, stack: list[str]) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                return [*stack[stack.index(v):], v]
            if not state.get(v) and (found := visit(v, stack)):
                return found
        stack.pop()
        state[u] = 2
        return None

    for m in sorted(graph):
        if not state.get(m) and (found := visit(m, [])):
            return found
    return None


def test_data_has_no_import_circle():
    assert _cycle(_graph()) is None, f"import circle: {' → '.join(_cycle(_graph()))}"


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_packages_depend_downwards_only():
    """schema and settings import nothing of data; storage only those; accounts and incidents never the dataset build or users' imports."""
    allowed = {
        "schema": set(), "settings": set(), "storage": {"schema", "settings"}, "dataset": {"schema", "storage"},
        "imports": {"schema", "storage", "dataset", "accounts"}, "accounts": {"schema", "storage"}, "incidents": {"schema", "storage", "accounts"},
        "scenarios": {"schema", "storage", "accounts", "incidents"},
    }  # fmt: skip
    for module, deps in _graph().items():
        room = module.split(".")[1] if "." in module else ""
        if room not in allowed:
            continue
        rooms = {d.split(".")[1] for d in deps if "." in d} - {room}
        assert rooms <= allowed[room], f"{module} imports {sorted(rooms - allowed[room])}"


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_says_what_it_holds(package):
    doc = ast.get_docstring(ast.parse((ROOT / "data" / package / "__init__.py").read_text(encoding="utf-8")))
    lines = (doc or "").splitlines()
    assert lines and (len(lines) == 1 or not lines[1].strip()), f"data/{package}/__init__.py needs a docstring opening with one summary line"


def test_the_old_flat_modules_are_gone():
    flat = sorted(p.name for p in (ROOT / "data").glob("*.py"))
    assert flat == ["__init__.py", "__main__.py", "schema.py", "settings.py"], flat


@pytest.mark.parametrize("folder", ["geo", "data", "layers"])
def test_pure_rooms_never_import_streamlit(folder):
    banned = {"streamlit"} | ({"pydeck"} if folder != "layers" else set())
    for name, path in _modules(folder).items():
        roots = {i.split(".")[0] for i in _imports(path)}
        assert not roots & banned, f"{name} imports {sorted(roots & banned)}"
