"""The two storage backends behind one interface: the cursor API on both, PostGIS geometry, append-only enforced by
PostgreSQL, one hash chain from several servers, LISTEN/NOTIFY, and the shared database open in many processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime

import pandas as pd
import pytest
import shapely

from data.imports.importers import ImportContext, commit, validate
from data.imports.fields import suggest_mapping
from data.incidents.log import IncidentError, IncidentLog
from data.imports.readers import read_table
from data.storage import database_url
from data.storage.postgres import to_psycopg
from data.dataset.store import Store
from data.storage.workspace import IMPORT_COLUMNS, Workspace, WorkspaceError
from tests.conftest import ROOT
from tests.import_files import TEAM_HEADERS_ZH, csv_bytes, team_rows

INCIDENT = {"title": "嘉善化工园区泄漏", "kind": "hazchem", "level": "II", "lon": 120.92, "lat": 30.84, "lead_code": "330421", "lead_name": "嘉善县"}


def _import_teams(store: Store, ws: Workspace, n: int, prefix: str) -> str:
    teams = team_rows(store, n, prefix=prefix)
    rows = [TEAM_HEADERS_ZH, *[[r.id, r.name, r.kind, r.department, r.owner, r.county_code, repr(r.lon), repr(r.lat), r.members] for r in teams.itertuples()]]
    raw = read_table(csv_bytes(rows), "队伍.csv")
    report = validate(raw, "teams", suggest_mapping(raw.columns, "teams"), ImportContext.from_store(store))
    from tests.people import People, cheap_accounts  # the teams of `team_rows` lie in 崇明区: a data administrator of 上海市 imports them

    accounts = cheap_accounts(ws)
    return commit(report, ws, mode="all", by=People(accounts).sign_in("sh_admin", "natural_resources", "310000", "data_admin"), accounts=accounts)


def _log(ws: Workspace) -> tuple[IncidentLog, dict]:
    """The incident log of `ws` and ``{"by": session}`` of 嘉善县's commander (tests/people.py), who may do all the writes below."""
    from tests.people import People, cheap_accounts

    log = IncidentLog(ws, accounts=cheap_accounts(ws))
    return log, {"by": People(log.accounts)["commander"]}


def test_placeholders_become_psycopg_ones_outside_quotes_only():
    assert to_psycopg("SELECT '?', \"a?b\", ? FROM t WHERE x LIKE 'YRD-%' AND y = ?") == "SELECT '?', \"a?b\", %s FROM t WHERE x LIKE 'YRD-%%' AND y = %s"
    assert to_psycopg("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', %s"


def test_the_cursor_api_is_the_same_on_both_backends(backend, workspace_path):
    """What data/accounts/accounts.py uses: DDL, `?` parameters (also beside a literal `?` and `%`), fetchone/fetchall, rollback."""
    with Workspace(workspace_path) as ws:
        assert ws.kind == backend and ws.shared is (backend == "postgres")
        with ws.transaction("creating failed ({exc})") as cur:
            cur.execute('CREATE TABLE IF NOT EXISTS things (id BIGINT PRIMARY KEY, name VARCHAR, ok BOOLEAN, "at" TIMESTAMP, n BIGINT)')
        at = datetime(2026, 11, 22, 9, 30)
        with ws.transaction("writing failed ({exc})") as cur:
            cur.execute("INSERT INTO things VALUES (?, ?, ?, ?, ?)", [1, "嘉善 100%", True, at, None])
            cur.execute("INSERT INTO things VALUES (?, ?, ?, ?, ?)", [2, "what?", False, at, 7])
            assert cur.execute("SELECT count(*) FROM things WHERE name LIKE '%?%' OR id = ?", [1]).fetchone()[0] == 2
        with ws.transaction("reading failed ({exc})") as cur:
            assert cur.execute("SELECT id, name, ok, \"at\", n FROM things ORDER BY id").fetchall() == [(1, "嘉善 100%", True, at, None), (2, "what?", False, at, 7)]
            assert cur.execute("SELECT name FROM things WHERE id = ?", [3]).fetchone() is None
        frame = ws.query("SELECT id, name, ok, \"at\", n, '?' AS q FROM things WHERE id >= ? ORDER BY id", [1])
        assert frame.to_dict("list") == {"id": [1, 2], "name": ["嘉善 100%", "what?"], "ok": [True, False], "at": [pd.Timestamp(at)] * 2, "n": [None, 7], "q": ["?"] * 2}
        assert {c: str(t) for c, t in frame.dtypes.items()} == {"id": "int64", "name": "object", "ok": "bool", "at": "datetime64[us]", "n": "Int64", "q": "object"}
        # a refused statement rolls the whole transaction back and says what failed
        with pytest.raises(WorkspaceError, match=r"^saving thing 3 failed \(.*(Duplicate|duplicate) key"):
            with ws.transaction("saving thing 3 failed ({exc})") as cur:
                cur.execute("INSERT INTO things VALUES (?, ?, ?, ?, ?)", [3, "c", True, at, 1])
                cur.execute("INSERT INTO things VALUES (?, ?, ?, ?, ?)", [1, "again", True, at, 1])
        # any other error rolls back too, and comes out unchanged
        with pytest.raises(KeyError), ws.transaction("never shown ({exc})") as cur:
            cur.execute("INSERT INTO things VALUES (?, ?, ?, ?, ?)", [4, "d", True, at, 1])
            raise KeyError("page bug")
        assert ws.query("SELECT id FROM things ORDER BY id")["id"].tolist() == [1, 2]
        with pytest.raises(WorkspaceError, match="query failed"):
            ws.query("SELECT nothing FROM things")


def test_imported_geometry_is_postgis_in_epsg_4326_and_round_trips(postgres_database, dataset, store):
    with Workspace(url=postgres_database) as ws, Store(dataset, workspace=ws) as st:
        import_id = _import_teams(store, ws, 3, "P")
        closure = shapely.Polygon([(120.9, 30.8), (121.0, 30.8), (121.0, 30.9), (120.9, 30.9)])
        record = {c: None for c in IMPORT_COLUMNS} | {"import_id": "imp-closure", "layer": "closures", "file_name": "c.geojson", "imported_at": datetime(2026, 11, 22),
                                                      "rows_total": 1, "rows_accepted": 1, "rows_rejected": 0, "real": True, "who": "me"}  # fmt: skip
        ws.commit("closures", pd.DataFrame({"id": ["C1"], "name": ["嘉善大道封闭"], "reason": ["积水"], "geom_wkb": [shapely.to_wkb(closure)]}), record)
        columns = ws.query("SELECT f_table_name AS t, type, srid FROM geometry_columns WHERE f_table_name IN ('teams', 'closures') ORDER BY t")
        assert columns.to_dict("records") == [{"t": "closures", "type": "GEOMETRY", "srid": 4326}, {"t": "teams", "type": "GEOMETRY", "srid": 4326}]
        mine = st.layer("teams").query("origin == @import_id")
        assert len(mine) == 3 and mine.crs.to_epsg() == 4326
        assert (mine.geometry.x == mine["lon"]).all() and (mine.geometry.y == mine["lat"]).all()
        got = st.closures()
        assert got["id"].tolist() == ["C1"] and got.geometry.iloc[0].equals(closure)
        # real PostGIS geometry: the database answers spatial questions itself
        assert ws.query("SELECT id FROM closures WHERE ST_Contains(geom, ST_SetSRID(ST_Point(?, ?), 4326))", [120.95, 30.85])["id"].tolist() == ["C1"]


def test_postgres_refuses_changes_to_append_only_tables(postgres_database):
    import psycopg

    with Workspace(url=postgres_database) as ws:
        log, me = _log(ws)
        iid = log.open_incident(**INCIDENT, **me)
        log.note(iid, "event", "发现第二泄漏点", **me)
        with psycopg.connect(postgres_database, autocommit=True) as raw:  # the app's own role, behind the log's back
            for sql in ("UPDATE incident_log SET text = '没有泄漏' WHERE id = 2", "DELETE FROM incident_log WHERE id = 2", "TRUNCATE incident_log"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"table incident_log is append-only: (UPDATE|DELETE|TRUNCATE) refused"):
                    raw.execute(sql)
            assert raw.execute("SELECT count(*) FROM auth_audit WHERE event = 'sign_in'").fetchone()[0] >= 1  # the log's accounts made it: the sign-ins above
        assert log.size() == 2 and log.verify() == []
        assert ws.append_only("auth_audit") is True
    with psycopg.connect(postgres_database, autocommit=True) as raw:  # a registered table that exists when a workspace opens is protected then
        raw.execute("DROP TRIGGER auth_audit_append_only ON auth_audit")
        raw.execute("DELETE FROM auth_audit WHERE id = 0")
        Workspace(url=postgres_database).close()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="auth_audit is append-only: DELETE refused"):
            raw.execute("DELETE FROM auth_audit WHERE id = 0")
        raw.execute("INSERT INTO auth_audit (id, event) VALUES (1000, 'sign_out')")  # appending stays allowed


@pytest.mark.duckdb_only("DuckDB has no triggers; on PostgreSQL the database refuses (test_postgres_refuses_changes_to_append_only_tables)")
def test_duckdb_cannot_enforce_append_only_and_relies_on_the_chain(workspace_path):
    with Workspace(workspace_path) as ws:
        log, me = _log(ws)
        log.note(log.open_incident(**INCIDENT, **me), "log", "x", **me)
        assert ws.append_only("incident_log") is False
        ws._con.execute("UPDATE incident_log SET who = '李四' WHERE id = 2")
        assert [(p.entry_id, p.code) for p in log.verify()] == [(2, "content")]


_APPENDER = """
import sys, time, os
sys.path.insert(0, {root!r})
from data.storage.workspace import Workspace
from data.incidents.log import IncidentLog
from tests.people import PASSWORD, cheap_accounts
ws = Workspace(url={url!r})
log = IncidentLog(ws, accounts=cheap_accounts(ws))
me = log.accounts.authenticate("huangpu", PASSWORD + "x")  # 黄浦区's commander, made by the test
print("ready", flush=True)
while not os.path.exists({go!r}):
    time.sleep(0.01)
iid = log.open_incident(title="并发{k}", kind="other", level="IV", lon=121.47, lat=31.23, lead_code="310101", lead_name="黄浦区", by=me)
for i in range(99):
    log.note(iid, "log", "第%d条" % i, by=me)
print("done", iid, flush=True)
"""


def test_two_processes_appending_at_once_keep_one_chain(postgres_database, tmp_path):
    """Two servers append 100 rows each at the same moment: 200 rows, ids 1..200, one chain, distinct incident numbers."""
    from tests.people import People, cheap_accounts

    with Workspace(url=postgres_database) as ws:
        People(cheap_accounts(ws)).sign_in("huangpu", "emergency", "310101", "commander")
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER.format(root=str(ROOT), url=postgres_database, go=str(go), k=k)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) for k in (1, 2)]  # fmt: skip
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready", "ready"], [p.stderr.read() for p in procs]
        go.touch()
        outs = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            p.kill() if p.poll() is None else None
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    incidents = sorted(o[0].split()[1] for o in outs)
    with Workspace(url=postgres_database) as ws:
        log = IncidentLog(ws)
        assert ws.query("SELECT id FROM incident_log ORDER BY id")["id"].tolist() == list(range(1, 201))
        assert log.verify() == []
        assert [len(log.rows(i)) for i in incidents] == [100, 100]
        assert [i[-3:] for i in incidents] == ["001", "002"]
        texts = log.rows(incidents[0])["text"].tolist()[1:]
        assert texts == [f"第{i}条" for i in range(99)]  # each writer's rows in its own order


def test_two_servers_race_for_one_phase_change_and_one_wins(postgres_database):
    """The check of the current phase and the write are one step across servers (the table lock), not only within one."""
    a, b = Workspace(url=postgres_database), Workspace(url=postgres_database)
    try:
        (log_a, me), (log_b, _) = _log(a), _log(b)
        logs = [log_a, log_b]
        iid = logs[0].open_incident(**INCIDENT, **me)
        barrier, outcomes = threading.Barrier(8), []

        def act(k: int) -> None:
            barrier.wait()
            try:
                outcomes.append(logs[k % 2].transition(iid, "response", **me))
            except IncidentError as exc:
                outcomes.append(exc.code)

        workers = [threading.Thread(target=act, args=(k,)) for k in range(8)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert sorted(map(str, outcomes)) == ["2"] + ["phase"] * 7, outcomes
        assert logs[1].phase(iid)[0] == "response" and logs[1].verify() == []
    finally:
        a.close()
        b.close()


def test_threads_of_two_servers_lose_nothing(postgres_database):
    a, b = Workspace(url=postgres_database), Workspace(url=postgres_database)
    try:
        (log_a, me), (log_b, _) = _log(a), _log(b)
        logs = [log_a, log_b]
        iid = logs[0].open_incident(**INCIDENT, **me)
        errors: list = []

        def write(k: int) -> None:
            try:
                for i in range(50):
                    logs[k % 2].note(iid, "log", f"{k}-{i}", **me)
            except (IncidentError, WorkspaceError) as exc:
                errors.append(exc)

        workers = [threading.Thread(target=write, args=(k,)) for k in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert errors == []
        rows = logs[1].rows(iid)
        assert rows["id"].tolist() == list(range(1, 202)) and set(rows["text"][1:]) == {f"{k}-{i}" for k in range(4) for i in range(50)}
        assert logs[0].verify() == []
    finally:
        a.close()
        b.close()


def test_another_server_hears_each_write_through_notify(postgres_database):
    writer_ws, reader_ws = Workspace(url=postgres_database), Workspace(url=postgres_database)  # two servers: two pools
    try:
        (writer, me), (reader, _) = _log(writer_ws), _log(reader_ws)
        heard, woke = [], threading.Event()
        stop = reader.watch(lambda change: (heard.append((change, time.monotonic())), woke.set()))
        iid = writer.open_incident(**INCIDENT, **me)
        written = time.monotonic()
        assert woke.wait(1.0), "no notification within 1 s"
        change, at = heard[0]
        assert (change.incident_id, change.entry_id, change.via) == (iid, 1, "notify") and at - written < 1.0
        stop()

        result: list = []
        waiter = threading.Thread(target=lambda: result.append((reader.wait_for_change(10, incident_id=iid), time.monotonic())))
        waiter.start()
        time.sleep(1.0)  # the waiter is listening and has found nothing newer
        entry = writer.note(iid, "decision", "启动Ⅱ级响应", **me)
        written = time.monotonic()
        waiter.join(timeout=12)
        change, at = result[0]
        assert change is not None and (change.entry_id, change.via) == (entry, "notify")  # woken by NOTIFY, not by the 10 s timeout
        assert at - written < 1.0
        # a row already there when the wait begins is returned at once; none at all gives None after the timeout
        assert reader.wait_for_change(5, after_id=0).via == "check"
        began = time.monotonic()
        assert reader.wait_for_change(0.3) is None and 0.25 < time.monotonic() - began < 2
    finally:
        writer_ws.close()
        reader_ws.close()


@pytest.mark.duckdb_only("DuckDB has no NOTIFY; on PostgreSQL watchers are pushed (test_another_server_hears_each_write_through_notify)")
def test_duckdb_watchers_poll_the_newest_id(workspace_path):
    with Workspace(workspace_path) as ws:
        log, me = _log(ws)
        heard, woke = [], threading.Event()
        stop = log.watch(lambda change: (heard.append(change), woke.set()), poll_s=0.05)
        iid = log.open_incident(**INCIDENT, **me)
        assert woke.wait(2.0) and (heard[0].incident_id, heard[0].entry_id, heard[0].via) == (iid, 1, "poll")
        stop()
        later = threading.Timer(0.3, lambda: log.note(iid, "log", "x", **me))
        later.start()
        change = log.wait_for_change(5, poll_s=0.05)
        later.join()
        assert (change.entry_id, change.via) == (2, "poll")
        assert log.wait_for_change(0.2, poll_s=0.05) is None


def test_two_workspaces_on_one_database_both_write(postgres_database, dataset, store):
    """The app and the CLI (or two app servers) hold the same database at once; each sees the other's imports."""
    with Workspace(url=postgres_database) as app, Workspace(url=postgres_database) as cli:
        first = _import_teams(store, app, 2, "A")
        second = _import_teams(store, cli, 3, "B")
        for ws in (app, cli):
            assert ws.version() == 2 and ws.imports()["import_id"].tolist() == sorted([first, second])
            with Store(dataset, workspace=ws) as st:
                assert st.layer("teams")["origin"].value_counts()[[first, second]].tolist() == [2, 3]
        assert cli.remove(first) == 2 and app.version() == 3


def test_the_database_url_setting(monkeypatch, tmp_path, postgres_database):
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndatabase_url = "{postgres_database}"\n', encoding="utf-8")
    monkeypatch.setenv("YRD_CONFIG", str(config))
    monkeypatch.setenv("YRD_DATABASE_URL", "")  # as the test setup has it on DuckDB (the PostgreSQL pass sets a URL)
    assert database_url() is None  # YRD_DATABASE_URL set, even empty, wins: embedded
    monkeypatch.delenv("YRD_DATABASE_URL")
    assert database_url() == postgres_database
    with Workspace(tmp_path / "ignored.duckdb") as ws:  # the configured database takes precedence over a file path
        assert ws.kind == "postgres" and not (tmp_path / "ignored.duckdb").exists()
    config.write_text('[storage]\ndatabase_url = "mysql://db/yrd"\n', encoding="utf-8")
    with pytest.raises(WorkspaceError, match=r"`storage.database_url` was 'mysql://db/yrd' but must be a PostgreSQL URL"):
        Workspace()
    monkeypatch.setenv("YRD_DATABASE_URL", "sqlite:///x.db")
    with pytest.raises(WorkspaceError, match=r"`YRD_DATABASE_URL` was 'sqlite:///x.db' but must be a PostgreSQL URL"):
        Workspace()


def test_an_unreachable_database_says_so_without_the_password(tmp_path):
    with pytest.raises(WorkspaceError, match=r"database postgresql://postgres@.*/nowhere cannot be opened \(.*\); check `YRD_DATABASE_URL`") as exc:
        Workspace(url=f"postgresql://postgres:secret@/nowhere?host={tmp_path}&port=1")
    assert "secret" not in str(exc.value)
