"""Shared fixtures: a dataset built once per run, the ../shared data, a served app."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
ARTIFACTS = ROOT / "tests" / "artifacts"


def shared_file(relative: str) -> Path:
    """A file of ../shared/data, read in place. Missing: fail under REQUIRE_SHARED_DATA=1 (CI), else skip."""
    path = SHARED / relative
    if not path.exists():
        reason = f"shared data {path} is missing (it lives beside the repository in ../shared, never copied in)"
        if os.environ.get("REQUIRE_SHARED_DATA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def frame_with(at, column: str):
    """The data frame on an AppTest page that has `column` (pages show several)."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


@pytest.fixture(autouse=True)
def workspace_path(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own empty user-data workspace ($YRD_WORKSPACE), never the developer's
    data/build/workspace.duckdb, and never one that a served app of another test holds."""
    path = tmp_path_factory.mktemp("workspace") / "workspace.duckdb"
    monkeypatch.setenv("YRD_WORKSPACE", str(path))
    return path


@pytest.fixture(autouse=True)
def _router_as_on_a_running_server(monkeypatch):
    """AppTest resets Streamlit's pages-directory flag before every run, so each run would start
    in Streamlit's old pages/ mode and `ensure_router` would rerun it through app.py, dropping a
    button click on the way.  A running server sets the flag once; keep it off as the server has it."""
    from streamlit.runtime.pages_manager import PagesManager

    init = PagesManager.__init__

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", __init__)



@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """The embedded dataset, built from the real sources into a temporary file for this run."""
    from data.build import build

    return build(tmp_path_factory.mktemp("dataset") / "yrd.duckdb")


@pytest.fixture
def open_app(dataset, monkeypatch):
    """Open the app as a browser session would (AppTest through app.py's router) on this run's dataset.

    Returns ``open_app(page=None, *, timeout_s=120)``: the AppTest after its first run, switched
    to `page` (e.g. ``"pages/zones.py"``) when given, and checked for exceptions.
    """
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("YRD_DATASET", str(dataset))
    monkeypatch.setenv("YRD_CONFIG", str(ROOT / "tests" / "no-config.toml"))

    def open_(page: str | None = None, *, timeout_s: float = 120):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout_s)
        at.run()
        if page:
            at.switch_page(page).run()
        assert not at.exception, at.exception
        return at

    return open_


@pytest.fixture(scope="session")
def store(dataset):
    from data.store import Store

    s = Store(dataset)
    yield s
    s.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# ---- storage backends: DuckDB (the workspace file) and a throwaway PostgreSQL 15 + PostGIS cluster ----

PG_BIN = Path(os.environ.get("YRD_PG_BIN", "/usr/lib/postgresql/15/bin"))
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")


def _postgres_missing(reason: str):
    """PostgreSQL cannot be started: fail under REQUIRE_SHARED_DATA=1 (CI), else skip with `reason`."""
    reason += " (install it with `make postgres`)"
    if os.environ.get("REQUIRE_SHARED_DATA") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


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


@pytest.fixture(scope="session")
def postgres_cluster():
    """Start a throwaway PostgreSQL 15 cluster (initdb/pg_ctl under a temporary folder, as the `postgres`
    user when run as root), with a template database holding PostGIS; stop and remove it after the run."""
    import pwd
    import shutil
    import socket
    import subprocess
    import tempfile

    if not (PG_BIN / "initdb").exists():
        _postgres_missing(f"PostgreSQL 15 server binaries are not in {PG_BIN}")
    if not POSTGIS_CONTROL.exists():
        _postgres_missing(f"PostGIS for PostgreSQL 15 is not installed ({POSTGIS_CONTROL} is missing)")
    try:
        import psycopg
    except ImportError:
        _postgres_missing("psycopg is not installed in the venv")
    root = Path(tempfile.mkdtemp(prefix="yrd-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            _postgres_missing("running as root and there is no `postgres` user to run the server as")
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
        pytest.fail(f"the test PostgreSQL cluster did not start: {exc.stderr or exc.stdout}\n{log}")
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


@pytest.fixture
def postgres_database(postgres_cluster) -> str:
    """The URL of a new, empty PostgreSQL database with PostGIS, dropped after the test."""
    url = postgres_cluster.create_database()
    yield url
    postgres_cluster.drop_database(url)


@pytest.fixture(autouse=True)
def _embedded_workspace_unless_told(monkeypatch):
    """Tests use the DuckDB workspace file unless they ask for PostgreSQL (`backend`): a database URL
    in the developer's environment or config.toml never receives test data."""
    monkeypatch.setenv("YRD_DATABASE_URL", "")


@pytest.fixture(params=["duckdb", "postgres"])
def backend(request, monkeypatch) -> str:
    """Run the test on both storage backends: 'duckdb' (the workspace file, `workspace_path`) or 'postgres'
    (a fresh database of this run's cluster in $YRD_DATABASE_URL, which `Workspace(...)` then opens, as the app and CLI do)."""
    if request.param == "postgres":
        monkeypatch.setenv("YRD_DATABASE_URL", request.getfixturevalue("postgres_database"))
    return request.param
