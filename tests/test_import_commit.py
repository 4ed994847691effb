"""Committing imports: all-or-nothing vs valid rows, one transaction, provenance, the store's union, the CLI; on DuckDB and PostgreSQL (`backend`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pandas as pd
import pytest

from data.imports.fields import suggest_mapping
from data.imports.importers import ImportContext, ImportRejected, commit, validate
from data.imports.readers import read_table
from data.dataset.store import Store
from data.storage.workspace import Workspace, WorkspaceBusy, WorkspaceError
from tests.conftest import ROOT
from tests.import_files import TEAM_HEADERS_ZH, csv_bytes, team_rows


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


def test_one_bad_row_rejects_the_file_in_all_or_nothing_mode_and_not_in_the_other(both, store):
    st, ws = both
    rows = _rows_zh(team_rows(store, 6))
    rows[3][7] = "北纬31度"  # one bad latitude
    data = csv_bytes(rows, encoding="gbk")
    before = _snapshot(st)
    report = _report(st, data)
    with pytest.raises(ImportRejected, match="1 of 6 rows were rejected; in all-or-nothing mode nothing is imported"):
        commit(report, ws, mode="all", who="张三")
    assert not report.committed and report.error.code == "all_or_nothing"
    assert _snapshot(st) == before

    report = _report(st, data)
    import_id = commit(report, ws, mode="valid", who="张三", source="青浦区应急局队伍台账", licence="内部使用")
    assert report.committed and report.n_imported == 5
    teams = st.layer("teams")
    mine = teams[teams["origin"] == import_id]
    assert len(mine) == len(teams) - len(before["teams"]) == 5
    assert (mine["data_status"] == "导入").all() and mine["county_name"].notna().all()
    assert set(mine.columns) == set(before["teams"][0]) | {"geometry"}
    prov = st.table("provenance").set_index("origin").loc[import_id]
    assert (prov["layer"], prov["source"], prov["licence"], prov["records"]) == ("teams", "青浦区应急局队伍台账", "内部使用", 5)
    assert "队伍.csv" in prov["note"] and "5 of 6 rows" in prov["note"] and "张三" in prov["note"]
    imp = st.imports().iloc[0]
    assert (imp["who"], imp["file_name"], imp["crs"], imp["rows_total"], imp["rows_accepted"], imp["rows_rejected"], imp["mode"]) == (
        "张三", "队伍.csv", "wgs84", 6, 5, 1, "valid"
    )
    row_status = {r["row"]: (r["status"], r["imported"]) for r in report.to_dict()["rows"]}
    assert row_status[4] == ("rejected", False) and row_status[2] == ("accepted", True)


def test_a_failure_mid_way_leaves_the_store_unchanged(both, store, backend):
    """The provenance row is written, then inserting the records fails (a duplicate key half-way
    through, as a concurrent import of the same ids would cause): everything is rolled back."""
    st, ws = both
    report = _report(st, csv_bytes(_rows_zh(team_rows(store, 10))))
    report.accepted = pd.concat([report.accepted, report.accepted.iloc[[4]]], ignore_index=True)
    before = _snapshot(st)
    with pytest.raises(WorkspaceError, match=DUPLICATE_U0005[backend] + r"\); nothing was written"):
        commit(report, ws, mode="all", who="me")
    assert _snapshot(st) == before
    assert not report.committed
    # the workspace still works
    ok = _report(st, csv_bytes(_rows_zh(team_rows(store, 2, prefix="V"))))
    commit(ok, ws, mode="all", who="me")
    assert ws.version() == before["version"] + 1


def test_nothing_valid_is_refused_in_both_modes(both):
    st, ws = both
    report = _report(st, csv_bytes([TEAM_HEADERS_ZH, ["Z1", "无", "专业", "fire", "", "", "0", "0", "1"]]))
    for mode in ("all", "valid"):
        with pytest.raises(ImportRejected, match="none of the 1 rows is valid"):
            commit(report, ws, mode=mode, who="me")
    with pytest.raises(ValueError, match="`mode` was 'some'"):
        commit(report, ws, mode="some", who="me")
    with pytest.raises(ValueError, match="`who` was empty"):
        commit(report, ws, mode="all", who=" ")


def test_removing_an_import_restores_the_store(both, store):
    st, ws = both
    before = _snapshot(st)
    report = _report(st, csv_bytes(_rows_zh(team_rows(store, 3))))
    import_id = commit(report, ws, mode="all", who="me")
    assert len(st.layer("teams")) == len(before["teams"]) + 3
    assert ws.remove(import_id) == 3
    after = _snapshot(st)
    assert after["teams"] == before["teams"] and after["imports"] == [] and after["version"] == before["version"] + 2
    with pytest.raises(ValueError, match="`import_id` was 'imp-nope'"):
        ws.remove("imp-nope")


def test_the_workspace_survives_reopening_and_a_dataset_rebuild_never_touches_it(dataset, tmp_path, store, backend):
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws, Store(dataset, workspace=ws) as st:
        commit(_report(st, csv_bytes(_rows_zh(team_rows(store, 2)))), ws, mode="all", who="me")
    with Workspace(path) as ws, Store(dataset, workspace=ws) as st:
        assert (st.layer("teams")["origin"] != "base").sum() == 2 and ws.version() == 1
    assert path.parent != dataset.parent


def test_base_only_store_has_origin_and_no_imports(store):
    assert (store.layer("teams")["origin"] == "base").all()
    assert store.closures().empty and list(store.closures().columns) == ["id", "name", "reason", "origin", "geometry"]
    assert store.imports().empty


def _cli(*args, env_ws=None, cwd=ROOT, dataset=None):
    env = {"PATH": "/usr/bin:/bin", "YRD_DATASET": str(dataset), "YRD_DATABASE_URL": os.environ.get("YRD_DATABASE_URL", "")}
    env |= {"YRD_WORKSPACE": str(env_ws)} if env_ws else {}
    return subprocess.run([sys.executable, "-m", "data", *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env, check=False)


def test_cli_imports_a_gbk_csv_and_writes_every_rows_outcome(dataset, store, tmp_path, backend):
    rows = _rows_zh(team_rows(store, 4))
    rows[2][5] = "999999"
    src = tmp_path / "队伍.csv"
    src.write_bytes(csv_bytes(rows, encoding="gbk"))
    ws_path, report = tmp_path / "ws.duckdb", tmp_path / "r.json"

    refused = _cli("import", src, "--layer", "teams", "--report", report, env_ws=ws_path, dataset=dataset)
    assert refused.returncode == 1, refused.stderr
    assert "Traceback" not in refused.stderr and "row 3: rejected: unknown jurisdiction code" in refused.stderr
    got = json.loads(report.read_text(encoding="utf-8"))
    assert got["committed"] is False and got["error"]["code"] == "all_or_nothing" and got["encoding"] == "gbk"
    assert [(r["row"], r["status"], r["imported"]) for r in got["rows"]] == [(2, "accepted", False), (3, "rejected", False), (4, "accepted", False), (5, "accepted", False)]

    done = _cli("import", src, "--layer", "teams", "--mode", "valid", "--crs", "wgs84", "--who", "李四", "--report", report, env_ws=ws_path, dataset=dataset)
    assert done.returncode == 0, done.stderr
    got = json.loads(report.read_text(encoding="utf-8"))
    assert got["rows_imported"] == 3 and got["import_id"] in done.stdout
    listed = _cli("imports", env_ws=ws_path, dataset=dataset)
    assert "队伍.csv" in listed.stdout and "李四" in listed.stdout

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
    proc = _cli("import", evil, "--layer", "teams", "--report", report, env_ws=tmp_path / "ws.duckdb", dataset=dataset)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "would unpack outside its folder" in proc.stderr
    assert json.loads(report.read_text(encoding="utf-8"))["error"]["code"] == "zip_unsafe"
    unmapped = _cli("import", evil, "--layer", "teams", "--map", "nonsense", "--report", report, env_ws=tmp_path / "ws.duckdb", dataset=dataset)
    assert unmapped.returncode == 2 and "FIELD=COLUMN" in unmapped.stderr


def test_cli_imports_while_the_app_runs_only_on_the_shared_database(dataset, tmp_path, store, backend):
    """DuckDB: the CLI says the workspace is in use by a running app; PostgreSQL: it imports, and the app sees the rows."""
    src = tmp_path / "t.csv"
    src.write_bytes(csv_bytes(_rows_zh(team_rows(store, 1))))
    with Workspace(tmp_path / "ws.duckdb") as app:  # held by this process, as the app holds it
        proc = _cli("import", src, "--layer", "teams", "--report", tmp_path / "r.json", env_ws=tmp_path / "ws.duckdb", dataset=dataset)
        if backend == "postgres":
            assert proc.returncode == 0, proc.stderr
            assert app.version() == 1 and app.layer("teams")["id"].tolist() == team_rows(store, 1)["id"].tolist()
            return
    assert proc.returncode == 3
    assert "workspace in use by a running app; import from the data page or stop the app" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_workspace_busy_is_raised_in_another_process(tmp_path):
    path = tmp_path / "ws.duckdb"
    code = f"from data.storage.workspace import Workspace, WorkspaceBusy\ntry:\n    Workspace({str(path)!r})\nexcept WorkspaceBusy as e:\n    print('busy', e)\n"
    with Workspace(path):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.stdout.startswith("busy workspace in use by a running app"), out.stderr
    assert issubclass(WorkspaceBusy, WorkspaceError)


def test_a_concurrent_commit_of_the_same_ids_fails_cleanly(both, store, backend):
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
            racer = threading.Thread(target=lambda: outcome.append(_attempt(lambda: commit(second, ws, mode="all", who="second"))))
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
            commit(first, ws, mode="all", who="first")  # ... the first commits meanwhile; the second's COMMIT fails
    assert (st.layer("teams")["origin"] != "base").sum() == 3
    assert ws.version() == before["version"] + 1 and len(ws.imports()) == 1


def _attempt(call):
    try:
        return call()
    except WorkspaceError as exc:
        return exc
