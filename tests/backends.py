"""Which tests touch storage (the workspace, the incident log, accounts, imports, pages, served apps), for the PostgreSQL pass.

``pytest --backend=postgres`` runs only these tests, each on a fresh PostgreSQL database; a test
that never opens a workspace (geometry, routing, readers) gains nothing from a second pass.  The
choice is made from the tests' own code, so a new storage test cannot be left out by forgetting a
mark: a test touches storage when

- it uses a fixture in `STORAGE_FIXTURES` (directly or through other fixtures), or
- its code, or the code of a module-level function, class, constant or fixture of its module that it
  names (followed through further names and through ``from tests.x import y``), contains a word
  of `STORAGE_WORDS` -- string constants included, so code run in a subprocess counts too, or
- it carries ``@pytest.mark.storage`` (for what the two rules above cannot see).
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable
from pathlib import Path

#: Fixtures that open the app or a storage backend.
STORAGE_FIXTURES = frozenset({"open_app", "backend", "postgres_database", "postgres_cluster"})
#: Names whose use means the test reads or writes the workspace: the storage classes, the import
#: commit, the AppTest and served app (every page opens the workspace and the accounts).
STORAGE_WORDS = re.compile(r"\b(Workspace|IncidentLog|Accounts|cheap_accounts|commit|AppTest|open_app|serve)\b|\bPeople\(")  # not "People's Square"
_IDENTIFIER = re.compile(r"\b[A-Za-z_]\w*\b")
#: The browser tests that the PostgreSQL pass runs: those that reach storage paths the AppTests do not
#: (two servers on one database, the pushed board, single sign-on, an upload through the browser).
#: The other browser tests (maps, dispatch, the walk over every page) read the same workspace
#: through the same code as the AppTests and would add many minutes of CI for nothing new.
BROWSER_ON_POSTGRES = frozenset({"test_browser_cluster", "test_browser_consultation", "test_browser_sso", "test_browser_data"})


@functools.cache
def module_names(path: str) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """The module-level definitions of the test module at `path` (name -> source) and the names it
    imports from other modules of its ``tests`` package (name -> (their module's path, their name))."""
    file = Path(path)
    source = file.read_text(encoding="utf-8")
    defined: dict[str, str] = {}
    imported: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined[node.name] = ast.get_source_segment(source, node) or ""
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    defined[target.id] = ast.get_source_segment(source, node) or ""
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("tests."):
            other = file.parent.joinpath(*node.module.split(".")[1:]).with_suffix(".py")
            if other.exists():
                for alias in node.names:
                    imported[alias.asname or alias.name] = (str(other), alias.name)
    return defined, imported


def reaches_storage(path: str | Path, names: Iterable[str]) -> bool:
    """Whether any of `names` (a test function and its fixtures) of the test module at `path`
    contains, or names something that contains, a word of `STORAGE_WORDS`."""
    todo = [(str(path), name) for name in names]
    seen: set[tuple[str, str]] = set()
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        where, name = key
        defined, imported = module_names(where)
        if name in imported:
            todo.append(imported[name])
            continue
        source = defined.get(name)
        if source is None:
            continue
        if STORAGE_WORDS.search(source):
            return True
        todo.extend((where, word) for word in set(_IDENTIFIER.findall(source)) if word != name and (word in defined or word in imported))
    return False


def touches_storage(item) -> bool:
    """Whether the collected pytest `item` touches storage (see the module docstring)."""
    if item.get_closest_marker("storage") is not None:
        return True
    fixtures = set(getattr(item, "fixturenames", ()))
    if fixtures & STORAGE_FIXTURES:
        return True
    path = getattr(item, "path", None)
    name = getattr(item, "originalname", None) or getattr(item, "name", "")
    return path is not None and str(path).endswith(".py") and reaches_storage(path, [name, *sorted(fixtures)])
