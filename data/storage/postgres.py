"""The shared backend: PostgreSQL 15 with PostGIS through a psycopg 3 connection pool, open in many processes at once.

Differences from DuckDB that callers see nowhere: ``?`` placeholders are translated to
psycopg's ``%s`` (a literal ``%`` is doubled); results come back as data frames with
DuckDB's dtypes; geometry is a PostGIS ``geometry(Geometry, 4326)`` column (WKB in a
``bytea`` column only when the server has no PostGIS); DDL inside a transaction (``CREATE``,
``ALTER``, ``DROP``) first takes an advisory lock, so two servers starting at once do not
collide creating the same tables.  Transactions run at PostgreSQL's default isolation, READ
COMMITTED: a writer that must see the table as it is while it writes (the next id, the hash
chain) asks for ``lock=<table>``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from data.storage.base import DATABASE_URL_ENV, Backend, WorkspaceError

log = logging.getLogger(__name__)

#: Advisory-lock key taken before DDL ("YRD" in ASCII).
DDL_LOCK_KEY = 0x595244
_DDL = re.compile(r"^\s*(CREATE|ALTER|DROP)\b", re.IGNORECASE)
_INT, _FLOAT, _BOOL, _TIMESTAMP = {20, 21, 23, 26}, {700, 701, 1700}, {16}, {1114}

_REFUSE_FUNCTION = """CREATE OR REPLACE FUNCTION yrd_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $refuse$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege', HINT = 'add a row that corrects the earlier one instead';
END
$refuse$"""


def to_psycopg(sql: str) -> str:
    """`sql` with its ``?`` placeholders (outside quotes) as ``%s`` and every literal ``%`` as ``%%``."""
    out, quote = [], None
    for ch in sql:
        if ch == "%":
            out.append("%%")
        elif quote:
            quote = None if ch == quote else quote
            out.append(ch)
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        else:
            out.append("%s" if ch == "?" else ch)
    return "".join(out)


def describe(exc: BaseException) -> str:
    """A one-line account of a psycopg error: the server's message and its detail."""
    diag = getattr(exc, "diag", None)
    text = str(exc).strip()
    primary = (diag.message_primary if diag is not None else None) or (text.splitlines()[0] if text else type(exc).__name__)
    detail = diag.message_detail if diag is not None else None
    return f"{primary}: {detail.rstrip('.')}" if detail else primary


def _param(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _cell(value: object) -> object:
    value = _param(value)
    return None if isinstance(value, float) and math.isnan(value) else value


class Cursor:
    """A psycopg cursor taking ``?`` placeholders as DuckDB's does; `execute` returns the cursor, for ``.fetchone()``."""

    def __init__(self, raw: psycopg.Cursor):
        self.raw = raw
        self._ddl_locked = False

    def execute(self, sql: str, params: Sequence | None = None) -> Cursor:
        if not self._ddl_locked and _DDL.match(sql):
            self.raw.execute("SELECT pg_advisory_xact_lock(%s)", [DDL_LOCK_KEY])
            self._ddl_locked = True
        if params:
            self.raw.execute(to_psycopg(sql), [_param(p) for p in params])
        else:
            self.raw.execute(sql)
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> Cursor:
        self.raw.executemany(to_psycopg(sql), rows)
        return self

    def fetchone(self) -> tuple | None:
        return self.raw.fetchone()

    def fetchall(self) -> list[tuple]:
        return self.raw.fetchall()

    @property
    def description(self):
        return self.raw.description

    @property
    def rowcount(self) -> int:
        return self.raw.rowcount


def frame_of(description, rows: list[tuple]) -> pd.DataFrame:
    """Rows as a data frame with the dtypes DuckDB's ``.df()`` gives (int64, or Int64 with NULLs; datetime64[us]; bool/boolean; float64; object)."""
    columns = {}
    for j, col in enumerate(description):
        values = [r[j] for r in rows]
        nulls = any(v is None for v in values)
        if col.type_code in _INT:
            columns[j] = pd.Series(values, dtype="Int64" if nulls else "int64")
        elif col.type_code in _FLOAT:
            columns[j] = pd.Series([np.nan if v is None else float(v) for v in values], dtype="float64")
        elif col.type_code in _BOOL:
            columns[j] = pd.Series(values, dtype="boolean" if nulls else "bool")
        elif col.type_code in _TIMESTAMP:
            columns[j] = pd.Series(values, dtype="datetime64[us]")
        else:
            columns[j] = pd.Series(values, dtype=object)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))
    frame.columns = [c.name for c in description]
    return frame


def _label(url: str) -> str:
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        msg = f"`{DATABASE_URL_ENV}` is not a valid PostgreSQL URL ({describe(exc)})."
        raise WorkspaceError(msg) from exc
    host = info.get("host") or "localhost"
    port = f":{info['port']}" if info.get("port") else ""
    user = f"{info['user']}@" if info.get("user") else ""
    return f"postgresql://{user}{host}{port}/{info.get('dbname', '')}"


class _Listener:
    """One connection LISTENing on one channel, and a thread handing each payload to the callbacks."""

    def __init__(self, url: str, channel: str):
        self.url, self.channel = url, channel
        self.callbacks: list[Callable[[str], None]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.conn = self._connect()  # LISTEN is active when the constructor returns
        self.thread = threading.Thread(target=self._run, name=f"listen-{channel}", daemon=True)
        self.thread.start()

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self.url, autocommit=True)
        conn.execute(f'LISTEN "{self.channel}"')
        return conn

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                for note in self.conn.notifies(timeout=0.2):
                    with self.lock:
                        callbacks = list(self.callbacks)
                    for callback in callbacks:
                        try:
                            callback(note.payload)
                        except Exception:  # a watcher's bug must not stop the others' notifications
                            log.exception("listener of %s: a callback failed", self.channel)
            except psycopg.OperationalError as exc:
                if self.stopping.is_set():
                    return
                log.warning("listener of %s lost its connection (%s); reconnecting", self.channel, describe(exc))
                self.stopping.wait(1.0)
                with contextlib.suppress(psycopg.Error):
                    self.conn.close()
                    self.conn = self._connect()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.conn.close()


class PostgresBackend(Backend):
    """A PostgreSQL database reached through a psycopg 3 `ConnectionPool`; creates PostGIS when the server has it.

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/dbname`` (libpq's URL or key=value form).
    pool_max : int
        Most connections this process holds open (keyword-only).
    connect_timeout_s : float
        Seconds to wait for the server when opening (keyword-only).

    Raises
    ------
    WorkspaceError
        When the server cannot be reached or PostGIS cannot be created.
    """

    kind = "postgres"
    shared = True

    def __init__(self, url: str, *, pool_max: int = 8, connect_timeout_s: float = 10):
        self.url, self.label = url, _label(url)
        self._listeners: dict[str, _Listener] = {}
        self._listen_lock = threading.Lock()
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(connect_timeout_s))) as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [DDL_LOCK_KEY])
                self.postgis = self._postgis(conn)
        except psycopg.errors.InsufficientPrivilege as exc:
            msg = (f"database {self.label} has no PostGIS extension and this account may not create it ({describe(exc)}); "
                   "ask the database administrator to run CREATE EXTENSION postgis in it.")  # fmt: skip
            raise WorkspaceError(msg) from exc
        except psycopg.Error as exc:
            msg = f"database {self.label} cannot be opened ({describe(exc)}); check `{DATABASE_URL_ENV}` (or [storage] database_url) and that the server runs."
            raise WorkspaceError(msg) from exc
        self._pool = ConnectionPool(url, min_size=1, max_size=pool_max, kwargs={"autocommit": True}, open=False, name=f"yrd {self.label}", timeout=30)
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except psycopg.Error as exc:
            self._pool.close()
            raise WorkspaceError(f"database {self.label} cannot be opened ({describe(exc)}).") from exc
        log.info("workspace on %s (%s geometry)", self.label, "PostGIS" if self.postgis else "WKB bytea")

    @staticmethod
    def _postgis(conn: psycopg.Connection) -> bool:
        """Whether geometry is stored as PostGIS geometry (creating the extension when the server offers it)."""
        have = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone() is not None
        if not have and conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").fetchone():
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            have = True
        stored = conn.execute(
            "SELECT udt_name FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'geom' LIMIT 1"
        ).fetchone()
        if have and stored is not None and stored[0] == "bytea":
            log.warning("PostGIS is installed but this workspace was created without it: geometry stays WKB (bytea)")
            return False
        if not have:
            log.warning("the PostgreSQL server has no PostGIS: geometry is stored as WKB (bytea); install postgresql-15-postgis-3")
        return have

    def close(self) -> None:
        with self._listen_lock:
            listeners, self._listeners = list(self._listeners.values()), {}
        for listener in listeners:
            listener.stop()
        self._pool.close()

    @contextlib.contextmanager
    def transaction(self, failed: str, *, lock: str | None = None) -> Iterator[Cursor]:
        try:
            with self._pool.connection() as conn, conn.transaction():
                cur = Cursor(conn.cursor())
                if lock:
                    cur.execute(f'LOCK TABLE "{lock}" IN EXCLUSIVE MODE')
                yield cur
        except psycopg.Error as exc:
            raise WorkspaceError(failed.format(exc=describe(exc))) from exc

    def query(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        try:
            with self._pool.connection() as conn:
                cur = Cursor(conn.cursor()).execute(sql, params)
                return frame_of(cur.description, cur.fetchall()) if cur.description else pd.DataFrame()
        except psycopg.Error as exc:
            raise WorkspaceError(f"workspace {self.label} query failed ({describe(exc)}).") from exc

    def sql_type(self, generic: str) -> str:
        if generic == "GEOMETRY":
            return "geometry(Geometry, 4326)" if self.postgis else "BYTEA"
        return {"DOUBLE": "DOUBLE PRECISION"}.get(generic, generic)

    def wkb_of(self, column: str) -> str:
        return f'ST_AsBinary("{column}")' if self.postgis else f'"{column}"'

    def insert_frame(self, cur: Cursor, table: str, frame: pd.DataFrame, *, wkb: str | None = None, geometry: str = "geom") -> None:
        plain = [c for c in frame.columns if c != wkb]
        targets = ", ".join(f'"{c}"' for c in plain) + (f', "{geometry}"' if wkb else "")
        values = ", ".join("?" for _ in plain) + ((", ST_GeomFromWKB(?, 4326)" if self.postgis else ", ?") if wkb else "")
        cells = [[_cell(v) for v in frame[c].tolist()] for c in [*plain, *([wkb] if wkb else [])]]
        rows = [tuple(bytes(v) if isinstance(v, (bytearray, memoryview)) else v for v in row) for row in zip(*cells, strict=True)]
        if rows:
            cur.executemany(f'INSERT INTO "{table}" ({targets}) VALUES ({values})', rows)

    def spatial_index(self, cur: Cursor, table: str, column: str = "geom") -> None:
        if self.postgis:
            cur.execute(f'CREATE INDEX IF NOT EXISTS "{table}_{column}_gist" ON "{table}" USING gist ("{column}")')

    def append_only(self, table: str) -> bool:
        trigger = f"{table}_append_only"
        found = self.query("SELECT 1 FROM pg_trigger WHERE tgname = ? AND tgrelid = to_regclass(?)", [trigger, f'"{table}"'])
        if len(found):  # already there: no DDL, which would wait for the table's writers
            return True
        with self.transaction(f"the append-only rule of {table} cannot be created ({{exc}}).") as cur:
            cur.execute(_REFUSE_FUNCTION)
            cur.execute(f'CREATE OR REPLACE TRIGGER "{trigger}" BEFORE UPDATE OR DELETE OR TRUNCATE ON "{table}" '
                        "FOR EACH STATEMENT EXECUTE FUNCTION yrd_refuse_change()")  # fmt: skip
        return True

    def notify(self, cur: Cursor, channel: str, payload: str) -> None:
        cur.execute("SELECT pg_notify(?, ?)", [channel, payload])

    def listen(self, channel: str, callback: Callable[[str], None]) -> Callable[[], None]:
        with self._listen_lock:
            listener = self._listeners.get(channel)
            if listener is None:
                try:
                    listener = self._listeners[channel] = _Listener(self.url, channel)
                except psycopg.Error as exc:
                    raise WorkspaceError(f"database {self.label}: cannot listen on {channel} ({describe(exc)}).") from exc
        with listener.lock:
            listener.callbacks.append(callback)

        def stop() -> None:
            with listener.lock, contextlib.suppress(ValueError):
                listener.callbacks.remove(callback)

        return stop

