"""Committing imports: all-or-nothing vs valid rows, one transaction, provenance, the store's union, the CLI; on DuckDB and PostgreSQL (`backend`).

Every commit is made by a signed-in data administrator (tests/people.py); the sample teams of
`team_rows` lie in 崇明区 310151, so `sh_admin` is a data administrator of 上海市 310000.
Who may import what is tested case by case in tests/test_import_authority.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pandas as pd
import pytest

from data.imports.fields import suggest_mapping
from data.imports.importers import ImportContext, ImportRejected, commit, remove, validate
from data.imports.readers import read_table
from data.dataset.store import Store
from data.storage.workspace import Workspace, WorkspaceBusy, WorkspaceError
from tests.conftest import ROOT
from tests.import_files import TEAM_HEADERS_ZH, csv_bytes, team_rows
from tests.people import PASSWORD, People, cheap_accounts


#: How each backend words a second row with key U0005.
DUPLICATE_U0005 = {"duckdb": r'duplicate key "U0005"', "postgres": r"Key \(id\)=\(U0005\) already exists"}


@pytest.fixture
def ws(backend, tmp_path):
    w = Workspace(tmp_path / "ws.duckdb")  # on 'postgres' the database URL set by `backend` takes precedence
    yield w
    w.close()


@pytest.fixture
def both(dataset, ws):
    s = Store(dataset, workspace=ws)
    yield s, ws
    s.close()


@pytest.fixture
def accounts(ws):
    return cheap_accounts(ws)


@pytest.fixture
def me(accounts):
    """A data administrator of 上海市 (the teams of `team_rows` are in 崇明区)."""
    return People(accounts).sign_in("sh_admin", "natural_resources", "310000", "data_admin", display_name="上海数据管理员")


def _rows_zh(teams: pd.DataFrame) -> list[list[object]]:
    return [TEAM_HEADERS_ZH, *[[r.id, r.name, r.kind, r.department, r.owner, r.county_code, repr(r.lon), repr(r.lat), r.members] for r in teams.itertuples()]]


def _report(store, data: bytes, layer: str = "teams", name: str = "队伍.csv"):
    raw = read_table(data, name)
    return validate(raw, layer, suggest_mapping(raw.columns, layer), ImportContext.from_store(store))


def _snapshot(store: Store) -> dict:
    return {
        "teams": store.layer("teams").drop(columns="geometry").to_dict("records"),
        "provenance": store.table("provenance").to_dict("records"),
        "imports": store.imports().to_dict("records"),
        "version": store.workspace.version(),
    }


def test_one_bad_row_rejects_the_file_in_all_or_nothing_mode_and_not_in_the_other(both, store, me, accounts):
    st, ws = both
    rows = _rows_zh(team_rows(store, 6))
    rows[3][7] = "北纬31度"  # one bad latitude
    data = csv_bytes(rows, encoding="gbk")
    before = _snapshot(st)
    report = _report(st, data)
    with pytest.raises(ImportRejected, match="1 of 6 rows were rejected; in all-or-nothing mode nothing is imported"):
        commit(report, ws, mode="all", by=me, accounts=accounts)
    assert not report.committed and report.error.code == "all_or_nothing"
    assert _snapshot(st) == before

    report = _report(st, data)
    import_id = commit(report, ws, mode="valid", by=me, accounts=accounts, source="青浦区应急局队伍台账", licence="内部使用")
    assert report.committed and report.n_imported == 5
    teams = st.layer("teams")
    mine = teams[teams["origin"] == import_id]
    assert len(mine) == len(teams) - len(before["teams"]) == 5
    assert (mine["data_status"] == "导入").all() and mine["county_name"].notna().all()
    assert set(mine.columns) == set(before["teams"][0]) | {"geometry"}
    prov = st.table("provenance").set_index("origin").loc[import_id]
    assert (prov["layer"], prov["source"], prov["licence"], prov["records"]) == ("teams", "青浦区应急局队伍台账", "内部使用", 5)
    assert "队伍.csv" in prov["note"] and "5 of 6 rows" in prov["note"] and "sh_admin" in prov["note"]  # the account, not a typed name
    imp = st.imports().iloc[0]
    assert (imp["who"], imp["file_name"], imp["crs"], imp["rows_total"], imp["rows_accepted"], imp["rows_rejected"], imp["mode"]) == (
        "sh_admin", "队伍.csv", "wgs84", 6, 5, 1, "valid"
    )
    row_status = {r["row"]: (r["status"], r["imported"]) for r in report.to_dict()["rows"]}
    assert row_status[4] == ("rejected", False) and row_status[2] == ("accepted", True)


def test_a_failure_mid_way_leaves_the_store_unchanged(both, store, backend, me, accounts):
    """The provenance row is written, then inserting the records fails (a duplicate key half-way
    through, as a concurrent import of the same ids would cause): everything is rolled back."""
    st, ws = both
    report = _report(st, csv_bytes(_rows_zh(team_rows(store, 10))))
    report.accepted = pd.concat([report.accepted, report.accepted.iloc[[4]]], ignore_index=True)
    report.jurisdictions.append(report.jurisdictions[4])
    before = _snapshot(st)
    with pytest.raises(WorkspaceError, match=DUPLICATE_U0005[backend] + r"\); nothing was written"):
        commit(report, ws, mode="all", by=me, accounts=accounts)
    assert _snapshot(st) == before
    assert not report.committed
    # the workspace still works
    ok = _report(st, csv_bytes(_rows_zh(team_rows(store, 2, prefix="V"))))
    commit(ok, ws, mode="all", by=me, accounts=accounts)
    assert ws.version() == before["version"] + 1


def test_nothing_valid_is_refused_in_both_modes(both, me, accounts):
    st, ws = both
    report = _report(st, csv_bytes([TEAM_HEADERS_ZH, ["Z1", "无", "专业", "fire", "", "", "0", "0", "1"]]))
    for mode in ("all", "valid"):
        with pytest.raises(ImportRejected, match="none of the 1 rows is valid"):
            commit(report, ws, mode=mode, by=me, accounts=accounts)
    with pytest.raises(ValueError, match="`mode` was 'some'"):
        commit(report, ws, mode="some", by=me, accounts=accounts)
    with pytest.raises(TypeError, match="`by` was str"):
        commit(report, ws, mode="all", by="张三", accounts=accounts)  # a typed name is no account


def test_removing_an_import_restores_the_store(both, store, me, accounts):
    st, ws = both
    before = _snapshot(st)
    report = _report(st, csv_bytes(_rows_zh(team_rows(store, 3))))
    import_id = commit(report, ws, mode="all", by=me, accounts=accounts)
    assert len(st.layer("teams")) == len(before["teams"]) + 3
    assert remove(ws, import_id, by=me, accounts=accounts, context=ImportContext.from_store(st)) == 3
    after = _snapshot(st)
    assert after["teams"] == before["teams"] and after["imports"] == [] and after["version"] == before["version"] + 2
    with pytest.raises(ValueError, match="`import_id` was 'imp-nope'"):
        remove(ws, "imp-nope", by=me, accounts=accounts, context=ImportContext.from_store(st))
    with pytest.raises(ValueError, match="`import_id` was 'imp-nope'"):
        ws.remove("imp-nope")  # the storage step, without the check


def test_the_workspace_survives_reopening_and_a_dataset_rebuild_never_touches_it(dataset, tmp_path, store, backend):
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws, Store(dataset, workspace=ws) as st:
        accounts = cheap_accounts(ws)
        me = People(accounts).sign_in("sh_admin", "natural_resources", "310000", "data_admin")
        commit(_report(st, csv_bytes(_rows_zh(team_rows(store, 2)))), ws, mode="all", by=me, accounts=accounts)
    with Workspace(path) as ws, Store(dataset, workspace=ws) as st:
        assert (st.layer("teams")["origin"] != "base").sum() == 2 and ws.version() == 1
    assert path.parent != dataset.parent


def test_base_only_store_has_origin_and_no_imports(store):
    assert (store.layer("teams")["origin"] == "base").all()
    assert store.closures().empty and list(store.closures().columns) == ["id", "name", "reason", "origin", "geometry"]
    assert store.imports().empty


def _cli(*args, env_ws=None, cwd=ROOT, dataset=None, typed: str | None = None):
    """Run ``python -m data ARGS``; `typed` is what the user types at the password prompt (no terminal: getpass reads stdin)."""
    env = {"PATH": "/usr/bin:/bin", "YRD_DATASET": str(dataset), "YRD_DATABASE_URL": os.environ.get("YRD_DATABASE_URL", "")}
    env |= {"YRD_WORKSPACE": str(env_ws)} if env_ws else {}
    return subprocess.run([sys.executable, "-m", "data", *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env, check=False,
                          input=typed if typed is not None else "", start_new_session=True)  # fmt: skip


def _cli_user(ws_path, tmp_path, username: str = "sh_admin", jurisdiction: str = "310000", *roles: str, ws: Workspace | None = None) -> list[str]:
    """Create (once) and sign in `username` in the workspace at `ws_path` (or the open `ws`); the CLI's ``--user U --password-file F``."""
    if ws is None:
        with Workspace(ws_path) as opened:
            return _cli_user(ws_path, tmp_path, username, jurisdiction, *roles, ws=opened)
    People(cheap_accounts(ws)).sign_in(username, "natural_resources", jurisdiction, *(roles or ("data_admin",)))
    secret = tmp_path / f"{username}.pw"
    secret.write_text(PASSWORD + "x\n", encoding="utf-8")  # People changed the initial password to this
    return ["--user", username, "--password-file", secret]


def test_cli_imports_a_gbk_csv_and_writes_every_rows_outcome(dataset, store, tmp_path, backend):
    rows = _rows_zh(team_rows(store, 4))
    rows[2][5] = "999999"
    src = tmp_path / "队伍.csv"
    src.write_bytes(csv_bytes(rows, encoding="gbk"))
    ws_path, report = tmp_path / "ws.duckdb", tmp_path / "r.json"
    user = _cli_user(ws_path, tmp_path)

    refused = _cli("import", src, "--layer", "teams", "--report", report, *user, env_ws=ws_path, dataset=dataset)
    assert refused.returncode == 1, refused.stderr
    assert "Traceback" not in refused.stderr and "row 3: rejected: unknown jurisdiction code" in refused.stderr
    got = json.loads(report.read_text(encoding="utf-8"))
    assert got["committed"] is False and got["error"]["code"] == "all_or_nothing" and got["encoding"] == "gbk"
    assert [(r["row"], r["status"], r["imported"]) for r in got["rows"]] == [(2, "accepted", False), (3, "rejected", False), (4, "accepted", False), (5, "accepted", False)]

    done = _cli("import", src, "--layer", "teams", "--mode", "valid", "--crs", "wgs84", "--report", report, *user, env_ws=ws_path, dataset=dataset)
    assert done.returncode == 0, done.stderr
    got = json.loads(report.read_text(encoding="utf-8"))
    assert got["rows_imported"] == 3 and got["import_id"] in done.stdout
    listed = _cli("imports", env_ws=ws_path, dataset=dataset)
    assert "队伍.csv" in listed.stdout and "by sh_admin" in listed.stdout  # the account that signed in

    out = tmp_path / "teams.geojson"
    exported = _cli("export", "--layer", "teams", "--origin", got["import_id"], "--out", out, env_ws=ws_path, dataset=dataset)
    assert exported.returncode == 0, exported.stderr
    assert len(json.loads(out.read_text(encoding="utf-8"))["features"]) == 3


def test_cli_refused_file_gets_a_report_and_a_clear_message(dataset, tmp_path):
    evil = tmp_path / "evil.zip"
    import zipfile

    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../etc/cron.d/x.shp", b"x")
    report = tmp_path / "r.json"
    user = _cli_user(tmp_path / "ws.duckdb", tmp_path)
    proc = _cli("import", evil, "--layer", "teams", "--report", report, *user, env_ws=tmp_path / "ws.duckdb", dataset=dataset)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "would unpack outside its folder" in proc.stderr
    assert json.loads(report.read_text(encoding="utf-8"))["error"]["code"] == "zip_unsafe"
    unmapped = _cli("import", evil, "--layer", "teams", "--map", "nonsense", "--report", report, *user, env_ws=tmp_path / "ws.duckdb", dataset=dataset)
    assert unmapped.returncode == 2 and "FIELD=COLUMN" in unmapped.stderr


def test_cli_imports_while_the_app_runs_only_on_the_shared_database(dataset, tmp_path, store, backend):
    """DuckDB: the CLI says the workspace is in use by a running app; PostgreSQL: it imports, and the app sees the rows."""
    src = tmp_path / "t.csv"
    src.write_bytes(csv_bytes(_rows_zh(team_rows(store, 1))))
    with Workspace(tmp_path / "ws.duckdb") as app:  # held by this process, as the app holds it
        user = _cli_user(tmp_path / "ws.duckdb", tmp_path, ws=app)
        proc = _cli("import", src, "--layer", "teams", "--report", tmp_path / "r.json", *user, env_ws=tmp_path / "ws.duckdb", dataset=dataset)
        if backend == "postgres":
            assert proc.returncode == 0, proc.stderr
            assert app.version() == 1 and app.layer("teams")["id"].tolist() == team_rows(store, 1)["id"].tolist()
            return
    assert proc.returncode == 3
    assert "workspace in use by a running app; import from the data page or stop the app" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.duckdb_only("one process holds the file; PostgreSQL has no such lock (test_cli_imports_while_the_app_runs_only_on_the_shared_database)")
def test_workspace_busy_is_raised_in_another_process(tmp_path):
    path = tmp_path / "ws.duckdb"
    code = f"from data.storage.workspace import Workspace, WorkspaceBusy\ntry:\n    Workspace({str(path)!r})\nexcept WorkspaceBusy as e:\n    print('busy', e)\n"
    with Workspace(path):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.stdout.startswith("busy workspace in use by a running app"), out.stderr
    assert issubclass(WorkspaceBusy, WorkspaceError)


def test_a_concurrent_commit_of_the_same_ids_fails_cleanly(both, store, backend, me, accounts):
    """Two sessions validate the same file; the one that commits second loses and writes nothing.

    DuckDB checks at COMMIT (optimistic); PostgreSQL makes the second writer of a key wait for the
    first one's transaction and then refuses it."""
    st, ws = both
    data = csv_bytes(_rows_zh(team_rows(store, 3)))
    first, second = _report(st, data), _report(st, data)
    before = _snapshot(st)
    if backend == "postgres":
        outcome: list = []
        with ws.transaction("first session failed ({exc})") as cur:  # the first session has written its rows, not yet committed ...
            for r in first.accepted.itertuples():
                cur.execute("INSERT INTO teams (id, name, department, import_id, seq, geom) VALUES (?, ?, ?, 'imp-x', 0, ST_GeomFromWKB(?, 4326))",
                            [r.id, r.name, r.department, r.geom_wkb])  # fmt: skip
            racer = threading.Thread(target=lambda: outcome.append(_attempt(lambda: commit(second, ws, mode="all", by=me, accounts=accounts))))
            racer.start()  # ... the second commit waits on those keys ...
            racer.join(timeout=1.5)
            assert racer.is_alive(), outcome
        racer.join(timeout=30)  # ... and fails once the first commits
        assert len(outcome) == 1 and isinstance(outcome[0], WorkspaceError) and "nothing was written" in str(outcome[0]), outcome
        assert "already exists" in str(outcome[0]) and not second.committed
        assert (st.layer("teams")["origin"] != "base").sum() == 3
        assert ws.version() == before["version"] and ws.imports().empty
        return
    with pytest.raises(WorkspaceError, match=r"second session failed \(.*Failed to commit.*duplicate key"):
        with ws.transaction("second session failed ({exc})") as cur:  # the second session writes its rows ...
            cur.register("_incoming", second.accepted)
            cur.execute("INSERT INTO teams (id, name, department, import_id, seq) SELECT id, name, department, 'imp-x', 0 FROM _incoming")
            commit(first, ws, mode="all", by=me, accounts=accounts)  # ... the first commits meanwhile; the second's COMMIT fails
    assert (st.layer("teams")["origin"] != "base").sum() == 3
    assert ws.version() == before["version"] + 1 and len(ws.imports()) == 1


def _attempt(call):
    try:
        return call()
    except WorkspaceError as exc:
        return exc
