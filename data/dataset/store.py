"""Read and write the embedded dataset: one DuckDB file with the spatial extension, loaded offline.

Pages and CLIs talk to the dataset only through `Store` (and `write_dataset` for the build),
so that a PostgreSQL/PostGIS backend can later implement the same small interface without
touching pages.  Geometry travels as WKB in and out; every geometry is WGS84 (EPSG:4326).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import geopandas as gpd
import pandas as pd
import shapely

from data.schema import POINT_LAYERS, ROOT
from data.storage.base import with_geometry
from data.storage.duck import ExtensionMissing, duck_connect

if TYPE_CHECKING:
    from data.storage.workspace import Workspace

log = logging.getLogger(__name__)

#: Bumped when the table layout changes; an older file is reported as needing a rebuild.
SCHEMA_VERSION = 2

DEFAULT_PATH = ROOT / "data" / "build" / "yrd.duckdb"

#: Every table the app needs; a file without one of them is corrupt.
REQUIRED_TABLES = ("meta", "provenance", "jurisdictions", "places", *POINT_LAYERS, "inventory", "contacts")

REBUILD_HINT = "make data"


class DatasetError(RuntimeError):
    """The dataset file is missing, unreadable or from another schema version; rebuild it."""


def dataset_path(path: str | os.PathLike | None = None) -> Path:
    """Return the dataset path: `path`, else ``$YRD_DATASET``, else ``data/build/yrd.duckdb``."""
    if path is not None:
        return Path(path)
    env = os.environ.get("YRD_DATASET")
    return Path(env) if env else DEFAULT_PATH


def connect(path: str | os.PathLike | None = None, *, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection (a file, or ``':memory:'``) with the spatial extension loaded offline."""
    target = ":memory:" if path == ":memory:" else str(dataset_path(path))
    try:
        return duck_connect(target, read_only=read_only)
    except ExtensionMissing as exc:
        raise DatasetError(str(exc)) from exc


def _to_frame(gdf: pd.DataFrame) -> pd.DataFrame:
    """A plain DataFrame with geometry (if any) as a WKB column `geom_wkb`."""
    if isinstance(gdf, gpd.GeoDataFrame):
        if gdf.crs is None or gdf.crs.to_epsg() != 4326:
            msg = f"layers must be stored in EPSG:4326, got {gdf.crs}; call .to_crs(4326) first."
            raise ValueError(msg)
        frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        for col in gdf.columns:
            if col != gdf.geometry.name and isinstance(gdf[col].dtype, gpd.array.GeometryDtype):
                frame[col + "_wkb"] = shapely.to_wkb(gdf[col].values)
                frame = frame.drop(columns=col)
        frame["geom_wkb"] = shapely.to_wkb(gdf.geometry.values)
        return frame
    return pd.DataFrame(gdf)


def write_dataset(path: str | os.PathLike, tables: Mapping[str, pd.DataFrame]) -> Path:
    """Write `tables` into a new DuckDB file at `path`, atomically.

    The file is written beside the target and renamed over it only when complete, so an
    interrupted build never leaves a half-written dataset where the app looks for it.
    GeoDataFrames get a GEOMETRY column ``geom`` (and ``<name>`` for extra geometry columns).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    con = connect(tmp, read_only=False)
    try:
        for name, table in tables.items():
            frame = _to_frame(table)
            geo_cols = [c for c in frame.columns if c.endswith("_wkb")]
            select = ", ".join(
                [f'"{c}"' for c in frame.columns if c not in geo_cols]
                + [f'ST_GeomFromWKB("{c}") AS "{c[:-4] if c != "geom_wkb" else "geom"}"' for c in geo_cols]
            )
            con.register("_incoming", frame)
            con.execute(f'CREATE TABLE "{name}" AS SELECT {select} FROM _incoming')
            con.unregister("_incoming")
            log.info("wrote table %s with %s rows", name, f"{len(frame):,}")
        con.execute("CREATE OR REPLACE TABLE meta AS SELECT ? AS schema_version, now() AS built_at", [SCHEMA_VERSION])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, path)
    return path


class Store:
    """Read access to the embedded dataset (DuckDB backend).

    Parameters
    ----------
    path : path-like, optional
        Dataset file; default from `dataset_path`.
    workspace : data.workspace.Workspace, optional
        Users' imported records: `layer` and `table` then return the dataset's records
        followed by the imported ones, with an ``origin`` column ('base' or the import id).

    Raises
    ------
    DatasetError
        When the file is missing, is not a DuckDB database, lacks a table, or has another
        schema version.  The message says to run ``make data``.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, workspace: Workspace | None = None):
        self.path = dataset_path(path)
        self.workspace = workspace
        if not self.path.exists():
            msg = f"dataset not found at {self.path}; build it with `{REBUILD_HINT}`."
            raise DatasetError(msg)
        try:
            self._con = connect(self.path, read_only=True)
            tables = {r[0] for r in self._con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            missing = [t for t in REQUIRED_TABLES if t not in tables]
            if missing:
                msg = f"dataset {self.path} lacks tables {missing}; rebuild it with `{REBUILD_HINT}`."
                raise DatasetError(msg)
            version = self._con.execute("SELECT schema_version FROM meta").fetchone()[0]
        except duckdb.Error as exc:
            msg = f"dataset {self.path} cannot be read ({type(exc).__name__}: {exc}); rebuild it with `{REBUILD_HINT}`."
            raise DatasetError(msg) from exc
        if version != SCHEMA_VERSION:
            msg = f"dataset {self.path} has schema {version}, the app needs {SCHEMA_VERSION}; rebuild it with `{REBUILD_HINT}`."
            raise DatasetError(msg)

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        # A cursor per query: DuckDB connections are not to be shared across threads.
        cur = self._con.cursor()
        try:
            return cur.execute(sql, params or []).df()
        except duckdb.Error as exc:
            msg = f"dataset {self.path} query failed ({exc}); rebuild it with `{REBUILD_HINT}`."
            raise DatasetError(msg) from exc
        finally:
            cur.close()

    def _geo_query(self, table: str, where: str = "", params: list | None = None, *, geom: str = "geom") -> gpd.GeoDataFrame:
        cols = self._query(f'SELECT * FROM "{table}" LIMIT 0').columns
        geom_cols = [c for c in cols if c == "geom" or c.startswith("geom_")]
        plain = ", ".join(f'"{c}"' for c in cols if c not in geom_cols)
        return with_geometry(self._query(f'SELECT {plain}, ST_AsWKB("{geom}") AS _wkb FROM "{table}" {where}', params))

    def _with_imports(self, base: pd.DataFrame, name: str) -> pd.DataFrame:
        """`base` records (origin 'base') followed by the workspace's records of `name`."""
        base["origin"] = "base"
        if self.workspace is None or name == "places":
            return base
        imported = self.workspace.provenance() if name == "provenance" else self.workspace.layer(name)
        return base if imported.empty else pd.concat([base, imported[base.columns]], ignore_index=True)

    def jurisdictions(self, level: str | None = None, *, detail: str = "display") -> gpd.GeoDataFrame:
        """Jurisdiction polygons (EPSG:4326), all or of one `level` ('province', 'city', 'county').

        `detail` picks the outline: 'full' (source resolution, for spatial joins), 'display'
        (coverage-simplified to about 110 m, for maps of a city or county) or 'overview'
        (about 1 km, islets under 1 km² dropped, for the regional map).  Simplified outlines
        keep shared borders shared.
        """
        levels = ("province", "city", "county")
        if level is not None and level not in levels:
            msg = f"`level` was {level!r} but is expected to be in {levels}."
            raise ValueError(msg)
        columns = {"full": "geom", "display": "geom_display", "overview": "geom_overview"}
        if detail not in columns:
            msg = f"`detail` was {detail!r} but is expected to be in {tuple(columns)}."
            raise ValueError(msg)
        where, params = ("WHERE level = ?", [level]) if level else ("", [])
        return self._geo_query("jurisdictions", where + " ORDER BY code", params, geom=columns[detail])

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """A point layer ('places' or one of `POINT_LAYERS`) as a GeoDataFrame (EPSG:4326), imported records included."""
        allowed = ("places", *POINT_LAYERS)
        if name not in allowed:
            msg = f"`name` was {name!r} but is expected to be in {allowed}."
            raise ValueError(msg)
        return self._with_imports(self._geo_query(name, "ORDER BY id"), name)

    def table(self, name: str) -> pd.DataFrame:
        """A non-spatial table: 'inventory', 'contacts', 'provenance' (one row per import added) or
        'network_audit' (the road backbone's connectivity audit, `geo.backbone.audit`; never imported)."""
        allowed = ("inventory", "contacts", "provenance", "network_audit")
        if name not in allowed:
            msg = f"`name` was {name!r} but is expected to be in {allowed}."
            raise ValueError(msg)
        if name == "network_audit":
            from geo.backbone import AUDIT_KINDS

            return self._query('SELECT * FROM "network_audit" ORDER BY list_position(?::VARCHAR[], kind), component, county_codes', [list(AUDIT_KINDS)])
        return self._with_imports(self._query(f'SELECT * FROM "{name}"'), name)

    def closures(self) -> gpd.GeoDataFrame:
        """Road-closure areas imported by users (id, name, reason, origin; polygons, EPSG:4326)."""
        from data.storage.workspace import empty_layer

        return empty_layer("closures") if self.workspace is None else self.workspace.layer("closures")

    def townships(self) -> gpd.GeoDataFrame:
        """Township (乡镇/街道) polygons imported by users, EPSG:4326: id, name, code (unique), county_code,
        province_code, city_code, county_name, origin; empty without a workspace.

        ``code`` is the township's code as imported (its id when the file gave none), unique in
        the store, so the frame (with ``county_name`` as ``county``) is what
        `geo.township.township_indicators` takes.
        """
        from data.storage.workspace import empty_layer

        return empty_layer("townships") if self.workspace is None else self.workspace.layer("townships")

    def imports(self) -> pd.DataFrame:
        """One row per import into the workspace (who, when, file, CRS, counts); empty without a workspace."""
        from data.storage.workspace import IMPORT_COLUMNS

        return pd.DataFrame(columns=list(IMPORT_COLUMNS)) if self.workspace is None else self.workspace.imports()

    def built_at(self) -> datetime:
        """When the dataset was built, in Beijing time (UTC+8), to the second."""
        value = self._query("SELECT built_at FROM meta")["built_at"].iloc[0]
        when = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
        if when.tzinfo is None:  # DuckDB's now() is timestamptz; a naive value is UTC
            when = when.replace(tzinfo=timezone.utc)
        return when.astimezone(timezone(timedelta(hours=8))).replace(microsecond=0)
