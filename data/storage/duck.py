"""The embedded backend: one DuckDB file with the spatial extension, opened read-write by one process at a time."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import pandas as pd

from data.storage.base import Backend, WorkspaceBusy, WorkspaceError



class ExtensionMissing(RuntimeError):
    """The DuckDB spatial extension is not where the ``duckdb-extension-spatial`` wheel puts it."""


def spatial_extension_file() -> Path:
    """Path of the DuckDB spatial extension shipped in the ``duckdb-extension-spatial`` wheel (loaded offline, never downloaded)."""
    import duckdb_extension_spatial

    version = duckdb.__version__
    path = Path(duckdb_extension_spatial.__file__).parent / "extensions" / f"v{version}" / "spatial.duckdb_extension"
    if not path.exists():
        msg = f"DuckDB spatial extension not found at {path}; install `duckdb-extension-spatial=={version}` (run `make setup`)."
        raise ExtensionMissing(msg)
    return path


def duck_connect(target: str | os.PathLike, *, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection (a file, or ``':memory:'``) with the spatial extension loaded offline."""
    target = str(target)
    con = duckdb.connect(target, read_only=read_only and target != ":memory:")
    con.execute(f"LOAD '{spatial_extension_file()}'")
    return con


BUSY_MESSAGE = "workspace in use by a running app; import from the data page or stop the app"


class DuckDBBackend(Backend):
    """A DuckDB workspace file (created when missing); a cursor per query, so threads may share it.

    Raises
    ------
    WorkspaceBusy
        When another process holds the file.
    WorkspaceError
        When the file cannot be opened.
    """

    kind = "duckdb"
    shared = False

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.label = str(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duck_connect(self.path, read_only=False)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise WorkspaceBusy(f"{BUSY_MESSAGE} ({self.path}).") from exc
            raise WorkspaceError(f"workspace {self.path} cannot be opened ({exc}); move the file away to start an empty workspace.") from exc
        except duckdb.Error as exc:
            raise WorkspaceError(f"workspace {self.path} cannot be opened ({exc}); move the file away to start an empty workspace.") from exc

    def close(self) -> None:
        self.con.close()

    @contextlib.contextmanager
    def transaction(self, failed: str, *, lock: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        # `lock` needs nothing here: one process holds the file, and its threads are
        # serialised by the callers' locks (DuckDB's own conflict check catches the rest at COMMIT).
        cur = self.con.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")  # a commit that fails is rolled back by DuckDB itself
        except duckdb.Error as exc:
            raise WorkspaceError(failed.format(exc=exc)) from exc
        finally:
            cur.close()

    def query(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        cur = self.con.cursor()
        try:
            return cur.execute(sql, list(params or [])).df()
        except duckdb.Error as exc:
            raise WorkspaceError(f"workspace {self.path} query failed ({exc}).") from exc
        finally:
            cur.close()

    def sql_type(self, generic: str) -> str:
        return generic

    def wkb_of(self, column: str) -> str:
        return f'ST_AsWKB("{column}")'

    def insert_frame(self, cur, table: str, frame: pd.DataFrame, *, wkb: str | None = None, geometry: str = "geom") -> None:
        plain = [c for c in frame.columns if c != wkb]
        targets = ", ".join(f'"{c}"' for c in plain) + (f', "{geometry}"' if wkb else "")
        values = ", ".join(f'"{c}"' for c in plain) + (f', ST_GeomFromWKB("{wkb}")' if wkb else "")
        cur.register("_incoming", frame)
        cur.execute(f'INSERT INTO "{table}" ({targets}) SELECT {values} FROM _incoming')
        cur.unregister("_incoming")
