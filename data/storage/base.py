"""What every storage backend shares: the `Backend` interface, its errors, and turning WKB into geometry."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

#: The environment variable holding the database URL of the shared store.
DATABASE_URL_ENV = "YRD_DATABASE_URL"
URL_SCHEMES = ("postgresql://", "postgres://")


def with_geometry(df: pd.DataFrame, column: str = "_wkb") -> gpd.GeoDataFrame:
    """`df` with its WKB `column` (as ``ST_AsWKB`` returns it) turned into the geometry (EPSG:4326)."""
    geometry = shapely.from_wkb(df.pop(column).map(bytes).to_numpy())
    return gpd.GeoDataFrame(df, geometry=geometry, crs=4326)


class WorkspaceError(RuntimeError):
    """The workspace cannot be opened or written; the message says why and what to do."""


class WorkspaceBusy(WorkspaceError):
    """Another process (a running app) holds the workspace file (DuckDB only)."""


def is_database_url(value: object) -> bool:
    """Whether `value` is a PostgreSQL URL (``postgresql://`` or ``postgres://``)."""
    return isinstance(value, str) and value.strip().lower().startswith(URL_SCHEMES)


class Backend(abc.ABC):
    """One open store: transactions, queries to data frames, and the few dialect differences.

    Attributes
    ----------
    kind : str
        'duckdb' or 'postgres'.
    label : str
        The store as shown in messages and used as a cache key: the DuckDB file, or the
        database URL without its password.
    shared : bool
        Whether several processes may open the store at once.
    """

    kind: str
    label: str
    shared: bool

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection(s) and stop any listener."""

    @abc.abstractmethod
    def transaction(self, failed: str, *, lock: str | None = None) -> contextlib.AbstractContextManager:
        """A cursor (``execute(sql, params)``, ``fetchone()``, ``fetchall()``) inside one transaction.

        Committed when the block ends, rolled back on any error; a database error becomes
        `WorkspaceError` with the message `failed` (``{exc}`` is the cause).  `lock` names a
        table that other writers must wait for until the transaction ends (PostgreSQL:
        ``LOCK TABLE … IN EXCLUSIVE MODE``, readers go on; DuckDB: one process, nothing to do).
        """

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        """Run one read and return its rows as a data frame (DuckDB's dtypes: int64, Int64 with NULLs, datetime64[us], object)."""

    @abc.abstractmethod
    def sql_type(self, generic: str) -> str:
        """The column type for `generic` ('VARCHAR', 'BIGINT', 'DOUBLE', 'BOOLEAN', 'TIMESTAMP', 'INTEGER', 'GEOMETRY')."""

    @abc.abstractmethod
    def wkb_of(self, column: str) -> str:
        """SQL expression giving the WKB of geometry `column`."""

    @abc.abstractmethod
    def insert_frame(self, cur: Any, table: str, frame: pd.DataFrame, *, wkb: str | None = None, geometry: str = "geom") -> None:
        """Insert every row of `frame` (columns named as the table's) with cursor `cur`.

        `wkb` names the frame's column of WKB (EPSG:4326) written into the table's geometry
        column `geometry`.
        """

    def spatial_index(self, cur: Any, table: str, column: str = "geom") -> None:  # noqa: B027 (optional)
        """Create a spatial index on `table`.`column` where the backend has one."""

    def append_only(self, table: str) -> bool:
        """Make the database refuse UPDATE, DELETE and TRUNCATE on `table`; return whether it can (DuckDB cannot)."""
        return False

    def notify(self, cur: Any, channel: str, payload: str) -> None:  # noqa: B027 (optional)
        """Tell listeners of `channel` `payload` when `cur`'s transaction commits (PostgreSQL only)."""

    def listen(self, channel: str, callback: Callable[[str], None]) -> Callable[[], None] | None:
        """Call ``callback(payload)`` on every notification of `channel`; return a function that stops it, or None without notifications."""
        return None
