"""Shared fixtures: a dataset built once per run, the ../shared data, a served app."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.pgcluster import PG_BIN, POSTGIS_CONTROL, PostgresCluster, PostgresMissing, PostgresStartFailed  # noqa: F401 (tests import them from here)
from tests.pgcluster import postgres_cluster as _start_postgres
from tests.backends import BROWSER_ON_POSTGRES, touches_storage

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
    from data.dataset.build import build

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

    yield open_
    from pages import _shared

    _shared._incident_feed.clear()  # stop this test's listener and close its workspace (a dropped test database is never retried)
    _shared._workspace.clear()


@pytest.fixture(scope="session")
def store(dataset):
    from data.dataset.store import Store

    s = Store(dataset)
    yield s
    s.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# ---- storage backends: DuckDB (the workspace file) and a throwaway PostgreSQL 15 + PostGIS cluster ----

def _postgres_missing(reason: str):
    """PostgreSQL cannot be started: fail under REQUIRE_SHARED_DATA=1 (CI), else skip with `reason`."""
    reason += " (install it with `make postgres`)"
    if os.environ.get("REQUIRE_SHARED_DATA") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_cluster():
    """Start a throwaway PostgreSQL 15 cluster (initdb/pg_ctl under a temporary folder, as the `postgres`
    user when run as root), with a template database holding PostGIS; stop and remove it after the run
    (`tests.pgcluster.postgres_cluster`, which the benchmarks use too)."""
    try:
        with _start_postgres() as cluster:
            yield cluster
    except PostgresMissing as exc:
        _postgres_missing(str(exc))
    except PostgresStartFailed as exc:
        pytest.fail(str(exc))


@pytest.fixture
def postgres_database(postgres_cluster) -> str:
    """The URL of a new, empty PostgreSQL database with PostGIS, dropped after the test."""
    url = postgres_cluster.create_database()
    yield url
    postgres_cluster.drop_database(url)


@pytest.fixture(autouse=True)
def _embedded_workspace_unless_told(request, monkeypatch):
    """Tests use the DuckDB workspace file unless they ask for PostgreSQL (`backend`): a database URL
    in the developer's environment or config.toml never receives test data.  In the PostgreSQL pass
    (``--backend=postgres``) every test that touches storage gets a fresh database of this run's cluster
    in $YRD_DATABASE_URL instead, which `Workspace(...)`, the app, the CLI and served apps then open."""
    if request.config.getoption("backend") == "postgres" and request.node.get_closest_marker("storage") is not None:
        monkeypatch.setenv("YRD_DATABASE_URL", request.getfixturevalue("postgres_database"))
    else:
        monkeypatch.setenv("YRD_DATABASE_URL", "")
    monkeypatch.delenv("YRD_READ_ONLY", raising=False)  # a wall-screen setting of the developer's shell never reaches a test


@pytest.fixture(params=["duckdb", "postgres"])
def backend(request, monkeypatch) -> str:
    """Run the test on both storage backends: 'duckdb' (the workspace file, `workspace_path`) or 'postgres'
    (a fresh database of this run's cluster in $YRD_DATABASE_URL, which `Workspace(...)` then opens, as the app and CLI do).
    With ``--backend=duckdb`` or ``--backend=postgres`` only that parameter runs."""
    if request.param == "postgres":
        monkeypatch.setenv("YRD_DATABASE_URL", request.getfixturevalue("postgres_database"))
    return request.param


# ---- the two passes of `make test`: --backend=duckdb (everything), then --backend=postgres (what touches storage) ----

BACKENDS = ("duckdb", "postgres")


def pytest_addoption(parser):
    parser.addoption(
        "--backend", choices=BACKENDS, default=None,
        help="storage backend of this pass: 'duckdb' runs every test on the DuckDB workspace (PostgreSQL-only tests wait for "
             "the other pass); 'postgres' runs only the tests that touch storage (tests/backends.py), each on a fresh PostgreSQL "
             "database. Default: both parameters of `backend`, the rest on DuckDB.",
    )  # fmt: skip


def pytest_collection_modifyitems(config, items):
    """Mark the tests that touch storage `storage` (tests/backends.py); with ``--backend`` keep only this pass's tests."""
    chosen = config.getoption("backend")
    keep, drop = [], []
    for item in items:
        storage = touches_storage(item)
        if storage and item.get_closest_marker("storage") is None:
            item.add_marker(pytest.mark.storage)
        param = getattr(getattr(item, "callspec", None), "params", {}).get("backend")
        if chosen == "postgres":
            ok = storage and param in (None, "postgres") and (item.get_closest_marker("browser") is None or item.path.stem in BROWSER_ON_POSTGRES)
            only = item.get_closest_marker("duckdb_only")
            if ok and only is not None:
                item.add_marker(pytest.mark.skip(reason=f"DuckDB only: {only.args[0] if only.args else 'see the test'}"))
        elif chosen == "duckdb":
            ok = param in (None, "duckdb") and (param == "duckdb" or not {"postgres_database", "postgres_cluster"} & set(item.fixturenames))
        else:
            ok = True
        (keep if ok else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
