"""Storage backends behind one interface: DuckDB (embedded, one process) and PostgreSQL/PostGIS (shared by many processes).

`data.storage.workspace.Workspace` (and through it `data.incidents.log.IncidentLog`, `data.accounts.accounts.Accounts`) talk to a `Backend` only, with
SQL that both dialects accept and ``?`` placeholders (the PostgreSQL backend translates them
to psycopg's ``%s``).  Which backend: a database URL (``postgresql://…``) in
``$YRD_DATABASE_URL`` or in the site config's ``[storage] database_url`` selects PostgreSQL;
otherwise the workspace is a DuckDB file.  ``YRD_DATABASE_URL`` set but empty means DuckDB
whatever the config says.
"""

from __future__ import annotations

import os
from typing import Any

from data.storage.base import DATABASE_URL_ENV, Backend, WorkspaceError, is_database_url


def database_url() -> str | None:
    """The configured database URL: ``$YRD_DATABASE_URL``, else the site config's ``[storage] database_url``, else None (DuckDB).

    Raises
    ------
    WorkspaceError
        When the setting is not a ``postgresql://`` URL, or the config file is unreadable.
    """
    from data.settings import SettingsError, database_url_setting

    if DATABASE_URL_ENV in os.environ:
        url = os.environ[DATABASE_URL_ENV].strip()
        if url and not is_database_url(url):
            msg = f"`{DATABASE_URL_ENV}` was {url[:40]!r} but must be a PostgreSQL URL starting with postgresql:// (or empty for the embedded DuckDB workspace)."
            raise WorkspaceError(msg)
        return url or None
    try:
        return database_url_setting()
    except SettingsError as exc:
        raise WorkspaceError(str(exc)) from exc


def open_backend(target: str | os.PathLike, **options: Any) -> Backend:
    """Open the store at `target`: a PostgreSQL URL, or a DuckDB file path."""
    if is_database_url(target):
        from data.storage.postgres import PostgresBackend

        return PostgresBackend(str(target).strip(), **options)
    from data.storage.duck import DuckDBBackend

    return DuckDBBackend(target)

