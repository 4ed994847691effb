"""A throwaway PostgreSQL 15 + PostGIS cluster under a temporary folder (initdb/pg_ctl), for the tests and the benchmarks."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

PG_BIN = Path(os.environ.get("YRD_PG_BIN", "/usr/lib/postgresql/15/bin"))
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")


class PostgresMissing(RuntimeError):
    """PostgreSQL 15, PostGIS or psycopg is not installed, or there is no user to run the server as; the message says which."""


class PostgresStartFailed(RuntimeError):
    """initdb or pg_ctl failed; the message holds their output and the end of the server log."""


class PostgresCluster:
    """A PostgreSQL cluster of this test run: unix socket in its own folder, databases made from a PostGIS template."""

    def __init__(self, root: Path, port: int):
        self.root, self.port = root, port
        self._n = 0

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@/{dbname}?host={self.root}&port={self.port}"

    def create_database(self) -> str:
        """A new empty database with PostGIS; returns its URL."""
        import psycopg

        self._n += 1
        name = f"ws_{self._n}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}" TEMPLATE yrd_template')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.split("/")[3].split("?")[0]
        with psycopg.connect(self.url("postgres"), autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """Start a throwaway PostgreSQL 15 cluster (initdb/pg_ctl under a temporary folder, as the `postgres`
    user when run as root), with a template database holding PostGIS; stop and remove it afterwards.

    Raises `PostgresMissing` when it cannot be started here, `PostgresStartFailed` when it did not start.
    """
    import pwd

    if not (PG_BIN / "initdb").exists():
        raise PostgresMissing(f"PostgreSQL 15 server binaries are not in {PG_BIN}")
    if not POSTGIS_CONTROL.exists():
        raise PostgresMissing(f"PostGIS for PostgreSQL 15 is not installed ({POSTGIS_CONTROL} is missing)")
    try:
        import psycopg
    except ImportError:
        raise PostgresMissing("psycopg is not installed in the venv") from None
    root = Path(tempfile.mkdtemp(prefix="yrd-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            raise PostgresMissing("running as root and there is no `postgres` user to run the server as") from None
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data, logfile = root / "data", root / "server.log"
    options = f"-p {port} -k {root} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    try:
        subprocess.run([*as_user, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"],
                       check=True, capture_output=True, text=True, timeout=120)  # fmt: skip
        subprocess.run([*as_user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-w", "-t", "60", "-o", options, "start"],
                       check=True, capture_output=True, text=True, timeout=90)  # fmt: skip
    except subprocess.CalledProcessError as exc:
        log = logfile.read_text(errors="replace")[-2000:] if logfile.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresStartFailed(f"the test PostgreSQL cluster did not start: {exc.stderr or exc.stdout}\n{log}") from None
    cluster = PostgresCluster(root, port)
    try:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as con:
            con.execute("CREATE DATABASE yrd_template")
        with psycopg.connect(cluster.url("yrd_template"), autocommit=True) as con:
            con.execute("CREATE EXTENSION postgis")
        yield cluster
    finally:
        subprocess.run([*as_user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True, timeout=90, check=False)
        shutil.rmtree(root, ignore_errors=True)
