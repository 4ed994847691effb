"""Saved hazard scenarios on a real workspace, DuckDB file and PostgreSQL database (`backend`): round trip, attaching to incidents and drills, who may save, append-only."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import shapely

from data.accounts.accounts import AuthError, Refused
from data.incidents.log import IncidentLog
from data.scenarios.store import TABLE, ScenarioError, ScenarioStore
from data.storage.workspace import Workspace, WorkspaceError
from geo import hazard as hz
from tests.people import People, cheap_accounts
from tests.test_incidents import T0, clock  # noqa: F401  (the settable clock fixture)



@pytest.fixture
def ws(backend, workspace_path):
    w = Workspace(workspace_path)  # on 'postgres' the database URL that `backend` sets takes precedence, as in the app
    yield w
    w.close()


@pytest.fixture
def log(ws, clock):
    return IncidentLog(ws, clock=clock, accounts=cheap_accounts(ws))


@pytest.fixture
def store(ws, log, clock):
    return ScenarioStore(ws, log=log, clock=clock)


@pytest.fixture
def people(log, clock) -> People:
    """Signed-in accounts of the workspace (tests/people.py `CAST`: 嘉善县 leads, 青浦区 a neighbour, 吴江区 not party)."""
    return People(log.accounts, now=clock)


def _hazards() -> dict[str, hz.Hazard]:
    return {
        "plume": hz.gas_plume(120.907, 30.841, wind_from_deg=45, distance_km=8, spread_deg=35, name="嘉善化工园区泄漏"),
        "typhoon": hz.typhoon_track([(121.9, 30.5), (121.5, 31.0), (121.2, 31.6)], radius_km=[60, 45, 30], steps=4, name="台风“烟花”七级风圈"),
        "flood": hz.flood_area(shapely.Polygon([(120.8, 30.8), (121.0, 30.8), (121.0, 30.95), (120.9, 30.9), (120.8, 30.95)]), stage_m=1.2, name="嘉善内涝"),
        "drawn": hz.hazard_from_geojson({"type": "Polygon", "coordinates": [[[121.0, 31.0], [121.1, 31.0], [121.1, 31.1], [121.0, 31.0]]]}, name="手绘区域"),
    }


def _same(a: hz.Hazard, b: hz.Hazard) -> None:
    assert (a.kind, a.name, a.params) == (b.kind, b.name, b.params)
    assert shapely.to_wkb(a.area) == shapely.to_wkb(b.area)  # every coordinate, bit for bit


def _open(log, people, *, drill: bool = False) -> str:
    return log.open_incident(title="嘉善化工园区泄漏", kind="hazchem", level="II", lon=120.907, lat=30.841, lead_code="330421", lead_name="嘉善县",
                             jurisdictions=["310118"], departments=["emergency", "fire"], by=people["commander"], at=T0, drill=drill)  # fmt: skip


def test_saved_scenarios_come_back_as_the_same_hazards(store, people, clock, ws, log, workspace_path, backend):
    made = _hazards()
    ids = {kind: store.save(h, by=people["duty"]) for kind, h in made.items()}
    assert sorted(ids.values()) == [1, 2, 3, 4]
    for kind, h in made.items():
        _same(store.load(ids[kind]), h)
    rows = store.scenarios()
    assert rows["id"].tolist() == [4, 3, 2, 1]  # newest first
    by_id = rows.set_index("id")
    for kind, h in made.items():
        r = by_id.loc[ids[kind]]
        assert (r["name"], r["kind"], r["params"], r["created_by"], r["department"]) == (h.name, h.kind, hz.Hazard(h.kind, h.area, h.params).geojson()["properties"]["params"], "duty", "emergency")
        assert r["area_km2"] == pytest.approx(h.area_km2, rel=1e-6)
        assert r["created_at"].to_pydatetime() == clock.now
        assert pd.isna(r["incident_id"]) and pd.isna(r["log_entry"]) and pd.isna(r["copy_of"])  # not attached, not a copy
    # a name given when saving replaces the hazard's, and is what comes back
    renamed = store.save(made["plume"], by=people["duty"], name="  下风向 8 公里  ")
    assert store.load(renamed).name == "下风向 8 公里" and store.load(renamed).params == made["plume"].params
    # the rows live in the workspace: another store on the workspace opened again reads them
    ws.close()
    again = Workspace(workspace_path)
    try:
        other = ScenarioStore(again, log=IncidentLog(again, clock=clock, accounts=cheap_accounts(again)), clock=clock)
        assert other.size() == 5
        for kind, h in made.items():
            _same(other.load(ids[kind]), h)
    finally:
        again.close()


def test_attaching_writes_the_log_row_for_incidents_and_drills(store, log, people):
    plume = store.save(_hazards()["plume"], by=people["commander"])
    for drill in (False, True):
        iid = _open(log, people, drill=drill)
        before = len(log.rows(iid))
        copy = store.attach(plume, iid, by=people["fire"])  # a liaison of a party jurisdiction, in its own department
        rows = log.rows(iid)
        assert len(rows) == before + 1
        row = rows.iloc[-1]
        assert (row["kind"], row["who"], row["department"]) == ("event", "fire", "fire")
        assert f"#{copy}" in row["text"] and "嘉善化工园区泄漏" in row["text"] and f"#{plume}" in row["text"]
        saved = store.scenario(copy)
        assert (saved.incident_id, saved.log_entry, saved.copy_of, saved.created_by) == (iid, int(row["id"]), plume, "fire")
        _same(saved.hazard, store.load(plume))
        assert store.scenarios(incident_id=iid)["id"].tolist() == [copy]
    assert log.incidents().set_index("incident_id")["drill"].tolist() == [True, False]
    # saving straight onto an incident does the same
    iid = log.incidents()["incident_id"].iloc[-1]
    direct = store.save(_hazards()["flood"], by=people["qingpu"], incident_id=iid)
    assert f"#{direct}" in log.rows(iid)["text"].iloc[-1] and store.scenario(direct).copy_of is None
    assert log.verify() == []


def test_refused_attachments_save_nothing(store, log, people):
    plume = store.save(_hazards()["plume"], by=people["commander"])
    iid = _open(log, people)
    n, rows = store.size(), len(log.rows(iid))
    with pytest.raises(Refused) as exc:
        store.attach(plume, iid, by=people["wujiang"])  # 吴江区 is not party to the incident: the log's entry.post refuses
    assert exc.value.code == "not_party"
    with pytest.raises(Exception, match="not in the log") as exc:
        store.attach(plume, "YRD-20991231-001", by=people["duty"])
    assert exc.value.code == "unknown_incident"
    with pytest.raises(ScenarioError) as exc:
        store.attach(99, iid, by=people["duty"])
    assert exc.value.code == "unknown_scenario"
    assert store.size() == n and len(log.rows(iid)) == rows


def test_only_signed_in_working_accounts_save(store, people, clock):
    h = _hazards()["plume"]
    for who, code in (("viewer", "missing_role"), ("data_admin", "missing_role")):
        with pytest.raises(Refused) as exc:
            store.save(h, by=people[who])
        assert (exc.value.code, exc.value.params["roles"]) == (code, ("duty_officer", "liaison", "commander")), who
    with pytest.raises(TypeError, match="Session of a signed-in account"):
        store.save(h, by="duty")  # a typed name is not a signature
    session = people["duty"]
    clock.now += timedelta(hours=9)  # idle longer than a session lasts: no longer signed in
    with pytest.raises(AuthError) as exc:
        store.save(h, by=session)
    assert exc.value.code == "expired"
    with pytest.raises(ScenarioError) as exc:
        store.save(hz.Hazard(h.kind, h.area, h.params, "  "), by=people["viewer"])  # the name is checked first, nothing is signed
    assert (exc.value.code, exc.value.params) == ("required", {"field": "name"})
    assert store.size() == 0
    assert store.save(h, by=people.sign_in("duty", "emergency", "330421", "duty_officer")) == 1  # signed in again


def test_scenarios_are_append_only(store, people, ws, backend):
    first = store.save(_hazards()["plume"], by=people["duty"])
    with pytest.raises(ScenarioError, match="never changed"):
        store.update(first, name="改名")
    with pytest.raises(ScenarioError, match="never deleted"):
        store.delete(first)
    # a changed scenario is saved as a new one; the first stays as it was
    wider = hz.gas_plume(120.907, 30.841, wind_from_deg=45, distance_km=12, spread_deg=35, name="嘉善化工园区泄漏")
    second = store.save(wider, by=people["duty"])
    assert second == first + 1 and store.load(first).params["distance_km"] == 8 and store.load(second).params["distance_km"] == 12
    if backend == "postgres":  # the database itself refuses changes
        for sql in (f"UPDATE {TABLE} SET name = 'x' WHERE id = ?", f"DELETE FROM {TABLE} WHERE id = ?"):
            with pytest.raises(WorkspaceError, match="append-only"), ws.transaction("tampering failed ({exc})") as cur:
                cur.execute(sql, [first])
        assert store.load(first).name == "嘉善化工园区泄漏" and store.size() == 2
