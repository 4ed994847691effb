"""The user-data workspace: imported records and their provenance, apart from the embedded dataset, in DuckDB or PostgreSQL.

The embedded dataset is rebuilt by ``make data`` and opened read-only; users' imports live
here instead so a rebuild never loses them.  Each imported file is written in one
transaction: its records, its provenance row and the workspace version are committed
together or not at all.

Two backends (`data.storage`): by default a DuckDB file (``data/build/workspace.duckdb``, or
``$YRD_WORKSPACE``), which one read-write process may open at a time (a second gets
`WorkspaceBusy`); with a database URL configured (``$YRD_DATABASE_URL`` or the site
config's ``[storage] database_url``) a PostgreSQL/PostGIS database that any number of app
servers and command-line imports share.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd

from data.schema import INTEGER_COLUMNS, SAMPLE_SCHEMAS
from data.storage import database_url, open_backend
from data.storage.base import Backend, WorkspaceBusy, WorkspaceError, is_database_url, with_geometry
from data.storage.duck import BUSY_MESSAGE
from data.schema import POINT_LAYERS, ROOT

__all__ = ["BUSY_MESSAGE", "IMPORT_COLUMNS", "WORKSPACE_LAYERS", "Workspace", "WorkspaceBusy", "WorkspaceError", "columns", "empty_layer", "workspace_path"]

log = logging.getLogger(__name__)

DEFAULT_WORKSPACE = ROOT / "data" / "build" / "workspace.duckdb"
#: Bumped when the workspace tables change.
WORKSPACE_SCHEMA = 1

#: Tables that hold imported records, by layer.
WORKSPACE_LAYERS = (*POINT_LAYERS, "inventory", "contacts", "closures", "townships")
_SPATIAL = (*POINT_LAYERS, "closures", "townships")
_KEYED = (*POINT_LAYERS, "contacts", "closures", "townships")  # layers whose `id` is unique
_UNIQUE = {("townships", "code")}  # other columns the database keeps unique (a concurrent import of the same township fails)
_DOUBLE = {"lon", "lat", "quantity"}
#: Columns of the provenance record of one import.
IMPORT_COLUMNS: dict[str, str] = {
    "import_id": "VARCHAR PRIMARY KEY", "layer": "VARCHAR", "file_name": "VARCHAR", "format": "VARCHAR",
    "crs": "VARCHAR", "encoding": "VARCHAR", "mode": "VARCHAR", "who": "VARCHAR", "imported_at": "TIMESTAMP",
    "rows_total": "BIGINT", "rows_accepted": "BIGINT", "rows_rejected": "BIGINT", "source": "VARCHAR",
    "licence": "VARCHAR", "real": "BOOLEAN",
}
#: Tables whose rows are never changed or removed: on PostgreSQL the database refuses it (`Workspace.append_only`).
APPEND_ONLY_TABLES = ("incident_log", "auth_audit")


def workspace_path(path: str | os.PathLike | None = None) -> Path:
    """Return the DuckDB workspace path: `path`, else ``$YRD_WORKSPACE``, else ``data/build/workspace.duckdb``."""
    if path is not None:
        return Path(path)
    env = os.environ.get("YRD_WORKSPACE")
    return Path(env) if env else DEFAULT_WORKSPACE


def columns(layer: str) -> list[str]:
    """Columns of `layer` as the store returns them (without geometry and `origin`)."""
    if layer not in WORKSPACE_LAYERS:
        msg = f"`layer` was {layer!r} but is expected to be in {WORKSPACE_LAYERS}."
        raise ValueError(msg)
    if layer == "closures":
        return ["id", "name", "reason"]
    if layer == "townships":  # `code`: the township's own code (its id when the file gave none); its county as a point's
        return ["id", "name", "code", "county_code", "province_code", "city_code", "county_name"]
    extra = ["province_code", "city_code", "county_name"] if layer in POINT_LAYERS else []
    return [*SAMPLE_SCHEMAS[layer], *extra]


def _sql_type(column: str) -> str:
    return "BIGINT" if column in INTEGER_COLUMNS else "DOUBLE" if column in _DOUBLE else "VARCHAR"


class Workspace:
    """Read-write access to the workspace (created, with its tables, when missing), on DuckDB or PostgreSQL.

    Use one instance per process and a cursor per query (the app shares one through
    ``st.cache_resource``).

    Parameters
    ----------
    path : path-like or str, optional
        The DuckDB file (default `workspace_path`), or a ``postgresql://`` URL.  A database
        URL configured in ``$YRD_DATABASE_URL`` or ``[storage] database_url`` takes
        precedence over a file path: one setting moves the app, the CLI and the benchmarks
        onto the shared database.
    url : str, optional
        A PostgreSQL URL, taking precedence over everything (keyword-only).
    pool_max : int
        PostgreSQL only: most pooled connections of this process (keyword-only).

    Attributes
    ----------
    path : Path or str
        The DuckDB file, or the database URL without its password: shown in messages and a
        stable cache key.
    kind : str
        'duckdb' or 'postgres'.
    shared : bool
        Whether other processes may open the same workspace meanwhile (PostgreSQL).

    Raises
    ------
    WorkspaceBusy
        When another process holds the DuckDB file.
    WorkspaceError
        When the workspace cannot be opened or is not a workspace of this version.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, url: str | None = None, pool_max: int = 8):
        if url is None:
            url = str(path) if is_database_url(path) else database_url()
        self._backend: Backend = open_backend(url, pool_max=pool_max) if url else open_backend(workspace_path(path))
        self.kind, self.shared = self._backend.kind, self._backend.shared
        self.path: Path | str = self._backend.path if self.kind == "duckdb" else self._backend.label
        try:
            self._setup()
        except BaseException:
            self._backend.close()
            raise

    @property
    def _con(self):
        """The DuckDB connection (DuckDB only: raw access for tests and maintenance)."""
        return self._backend.con

    def _setup(self) -> None:
        b = self._backend
        ddl = ["CREATE TABLE IF NOT EXISTS ws_meta (schema_version INTEGER, version BIGINT)"]
        ddl.append("CREATE TABLE IF NOT EXISTS imports (" + ", ".join(f'"{c}" {b.sql_type(t.split()[0])}{t[len(t.split()[0]):]}' for c, t in IMPORT_COLUMNS.items()) + ")")
        for layer in WORKSPACE_LAYERS:
            cols = [f'"{c}" {b.sql_type(_sql_type(c))}' + (" PRIMARY KEY" if c == "id" and layer in _KEYED else " UNIQUE" if (layer, c) in _UNIQUE else "")
                    for c in columns(layer)]  # fmt: skip
            cols += ['"import_id" VARCHAR NOT NULL', '"seq" BIGINT'] + ([f'"geom" {b.sql_type("GEOMETRY")}'] if layer in _SPATIAL else [])
            ddl.append(f'CREATE TABLE IF NOT EXISTS "{layer}" ({", ".join(cols)})')
        with self.transaction(f"workspace {self.path} is not usable ({{exc}}); move the file away to start an empty workspace.") as cur:
            for sql in ddl:
                cur.execute(sql)
            for layer in _SPATIAL:
                b.spatial_index(cur, layer)
            if cur.execute("SELECT count(*) FROM ws_meta").fetchone()[0] == 0:
                cur.execute("INSERT INTO ws_meta VALUES (?, 0)", [WORKSPACE_SCHEMA])
            existing = {r[0] for r in cur.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        schema = int(self.query("SELECT schema_version FROM ws_meta")["schema_version"].iloc[0])
        if schema != WORKSPACE_SCHEMA:
            msg = f"workspace {self.path} has schema {schema}, the app needs {WORKSPACE_SCHEMA}; export its layers with the matching app version, then move it away."
            raise WorkspaceError(msg)
        for table in APPEND_ONLY_TABLES:
            if table in existing:
                self.append_only(table)

    def close(self) -> None:
        """Close the connection (PostgreSQL: the pool and any listener)."""
        self._backend.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self, failed: str, *, lock: str | None = None) -> Iterator:
        """A cursor inside one transaction: committed when the block ends, rolled back on any error.

        The cursor takes ``cur.execute(sql, params)`` with ``?`` placeholders (on either
        backend), then ``cur.fetchone()`` / ``cur.fetchall()``.  A database error (in the
        block or at commit, e.g. a key written meanwhile by another session) becomes
        `WorkspaceError` with the message `failed` (``{exc}`` is the cause).  `lock` names a
        table that other writers (other processes too, on PostgreSQL) wait for until this
        transaction ends; readers are not held up.
        """
        with self._backend.transaction(failed, lock=lock) as cur:
            yield cur

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run one read (``?`` placeholders) and return its rows as a data frame."""
        return self._backend.query(sql, params)

    def append_only(self, table: str) -> bool:
        """Have the database refuse UPDATE, DELETE and TRUNCATE on `table` from now on.

        Returns True on PostgreSQL (a trigger); False on DuckDB, which has no triggers (there
        the hash chain of the incident log is what shows a change).
        """
        return self._backend.append_only(table)

    def listen(self, channel: str, callback) -> object:
        """Call ``callback(payload)`` on every notification of `channel` (PostgreSQL); returns a stop function, or None on DuckDB."""
        return self._backend.listen(channel, callback)

    def notify(self, cur, channel: str, payload: str) -> None:
        """Notify listeners of `channel` with `payload` once `cur`'s transaction commits (PostgreSQL; nothing on DuckDB)."""
        self._backend.notify(cur, channel, payload)

    def version(self) -> int:
        """A counter that grows with every committed import or removal."""
        return int(self.query("SELECT version FROM ws_meta")["version"].iloc[0])

    def layer(self, name: str) -> pd.DataFrame:
        """Imported records of `name` with an `origin` column (the import id); GeoDataFrame for spatial layers."""
        cols = ", ".join(f'"{c}"' for c in columns(name))
        order = "ORDER BY import_id, seq"
        if name not in _SPATIAL:
            return self.query(f'SELECT {cols}, import_id AS origin FROM "{name}" {order}')
        return with_geometry(self.query(f'SELECT {cols}, import_id AS origin, {self._backend.wkb_of("geom")} AS _wkb FROM "{name}" {order}'))

    def imports(self) -> pd.DataFrame:
        """One row per committed import: who, when, file, CRS, counts, source and licence."""
        return self.query("SELECT * FROM imports ORDER BY import_id")

    def provenance(self) -> pd.DataFrame:
        """Imports as rows of the dataset's provenance table (layer, source, licence, date, real, note, records, origin)."""
        imp = self.imports()
        note = [
            f"{r.file_name}; CRS {r.crs}; {r.rows_accepted} of {r.rows_total} rows; by {r.who}; {r.imported_at:%Y-%m-%d %H:%M}"
            for r in imp.itertuples()
        ]
        return pd.DataFrame(
            {
                "layer": imp["layer"],
                "source": [s or f"imported file {f}" for s, f in zip(imp["source"], imp["file_name"], strict=True)],
                "licence": imp["licence"],
                "date": [f"{d:%Y-%m-%d}" for d in imp["imported_at"]],
                "real": imp["real"].astype(bool),
                "note": note,
                "source_zh": [s or f"导入文件 {f}" for s, f in zip(imp["source"], imp["file_name"], strict=True)],
                "licence_zh": imp["licence"],
                "note_zh": [
                    f"{r.file_name}；坐标系 {r.crs}；{r.rows_total} 行中导入 {r.rows_accepted} 行；导入人 {r.who}；{r.imported_at:%Y-%m-%d %H:%M}"
                    for r in imp.itertuples()
                ],
                "records": imp["rows_accepted"].astype("int64"),
                "origin": imp["import_id"],
            }
        )

    def commit(self, layer: str, frame: pd.DataFrame, record: Mapping[str, object]) -> None:
        """Write `frame` into `layer` with its provenance `record`, in one transaction.

        `frame` has the layer's `columns` (plus ``geom_wkb``, WKB in EPSG:4326, for spatial
        layers); `record` has the `IMPORT_COLUMNS`.  On any failure the transaction is rolled
        back and the workspace is as it was.

        Raises
        ------
        WorkspaceError
            When the database refuses the write (e.g. an id written by a concurrent import).
        """
        cols = columns(layer) + (["geom_wkb"] if layer in _SPATIAL else [])
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            msg = f"`frame` lacks columns {missing} of layer {layer!r}."
            raise ValueError(msg)
        if set(record) != set(IMPORT_COLUMNS):
            msg = f"`record` has keys {sorted(record)}, expected {sorted(IMPORT_COLUMNS)}."
            raise ValueError(msg)
        incoming = frame[cols].reset_index(drop=True)
        incoming.insert(len(columns(layer)), "import_id", record["import_id"])
        incoming.insert(len(columns(layer)) + 1, "seq", range(len(incoming)))
        names = ", ".join(f'"{c}"' for c in IMPORT_COLUMNS)
        with self.transaction(f"import of {len(incoming):,} rows into {layer} failed ({{exc}}); nothing was written.") as cur:
            cur.execute(f"INSERT INTO imports ({names}) VALUES ({', '.join('?' * len(IMPORT_COLUMNS))})", [record[c] for c in IMPORT_COLUMNS])
            self._backend.insert_frame(cur, layer, incoming, wkb="geom_wkb" if layer in _SPATIAL else None)
            cur.execute("UPDATE ws_meta SET version = version + 1")
        log.info("workspace: import %s wrote %s rows into %s", record["import_id"], f"{len(incoming):,}", layer)

    def remove(self, import_id: str) -> int:
        """Delete one import (its records and provenance) in one transaction; return the records removed."""
        found = self.query("SELECT layer FROM imports WHERE import_id = ?", [import_id])
        if found.empty:
            msg = f"`import_id` was {import_id!r}, which is not an import of workspace {self.path}."
            raise ValueError(msg)
        layer = str(found["layer"].iloc[0])
        with self.transaction(f"removing import {import_id} failed ({{exc}}); nothing was changed.") as cur:
            n = cur.execute(f'SELECT count(*) FROM "{layer}" WHERE import_id = ?', [import_id]).fetchone()[0]
            cur.execute(f'DELETE FROM "{layer}" WHERE import_id = ?', [import_id])
            cur.execute("DELETE FROM imports WHERE import_id = ?", [import_id])
            cur.execute("UPDATE ws_meta SET version = version + 1")
        return int(n)


def empty_layer(name: str) -> pd.DataFrame:
    """An empty frame with the columns of imported `name` records (GeoDataFrame for spatial layers)."""
    frame = pd.DataFrame({c: pd.Series(dtype=_pandas_type(c)) for c in [*columns(name), "origin"]})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=4326)) if name in _SPATIAL else frame


def _pandas_type(column: str) -> str:
    return {"BIGINT": "int64", "DOUBLE": "float64"}.get(_sql_type(column), "object")
