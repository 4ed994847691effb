"""Running a drill on a real workspace (`backend`): injects fire at their offsets into the drill only, once; the scored review recomputed by hand (issue 14 item 3)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from data.accounts.accounts import Refused
from data.dataset.store import Store
from data.incidents import board as boards
from data.incidents.drill import TEMPLATE, ScenarioError
from data.incidents.exercise import DrillError, Drills, review
from tests.test_incidents import T0, _open, clock, log, people  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def places(dataset):
    store = Store(dataset)
    return {"jurisdictions": store.jurisdictions(), "counties": store.jurisdictions("county", detail="display"), "contacts": store.table("contacts")}


@pytest.fixture
def drills(log, places):
    return Drills(log, jurisdictions=places["jurisdictions"].drop(columns="geometry"), counties=places["counties"], contacts=places["contacts"])


def test_injects_fire_at_their_offsets_once_and_only_into_the_drill(drills, log, clock, people):
    real = _open(log, people)
    iid = drills.start(TEMPLATE, by=people["commander"])  # started at the clock's now: T0 + 10 min
    start = clock()
    assert iid.startswith("DRILL-") and boards.build(log.rows(iid), now=start).incident["drill"] is True
    assert drills.fire_due(iid) == []  # nothing is due at +0
    clock.tick(minutes=4, seconds=59)
    assert drills.fire_due(iid) == []
    clock.tick(seconds=1)  # +5 min: the red warning
    (w,) = drills.fire_due(iid)
    assert drills.fire_due(iid) == []  # never twice
    clock.tick(minutes=40)  # late: the closure (+12), the request (+20) and the message (+30) all at once, in order
    rest = drills.fire_due(iid)
    assert len(rest) == 3 and rest == sorted(rest)
    board = boards.build(log.rows(iid), now=clock())
    rows = board.entries.set_index("id")
    assert [rows.at[i, "kind"] for i in (w, *rest)] == ["warning", "event", "request", "event"]
    assert [rows.at[i, "at"] for i in (w, *rest)] == [start + timedelta(minutes=m) for m in (5, 12, 20, 30)]  # each at its own time
    assert [rows.at[i, "detail"]["inject"] for i in (w, *rest)] == [0, 1, 2, 3]
    warning = board.warnings.set_index("id").loc[w]
    assert warning["colour"] == "red" and warning["counties"] == ["330421"] and warning["calls"] > 0
    request = board.requests.set_index("id").loc[rest[1]]
    assert (request["from_code"], request["to_code"], request["status"]) == ("320509", "330421", "requested")
    schedule = drills.schedule(iid)
    assert schedule["fired"].tolist() == [w, *rest]
    # the closure inject is a closure of the drill: its resource searches avoid it (the page passes it to `dispatch`)
    from data.incidents.drill import parse_scenario

    ((text, area),) = boards.closures(board)
    want = parse_scenario(TEMPLATE, jurisdictions=drills.jurisdictions, now=start).injects[1].geometry
    assert text == "魏塘街道低洼路段积水，道路临时封闭" and area.equals(want)
    # the real incident got nothing; a drill cannot be driven into it
    assert log.rows(real)["kind"].tolist() == ["incident"]
    with pytest.raises(DrillError) as exc:
        drills.fire_due(real)
    assert exc.value.code == "not_drill"
    assert log.incidents(drills=False)["incident_id"].tolist() == [real]
    assert log.verify() == []


def test_a_bad_scenario_opens_nothing_and_only_a_controller_starts_one(drills, log, people):
    bad = TEMPLATE.replace("county: 嘉善县             # 县区名称或 6 位代码", "county: 嘉善区")
    with pytest.raises(ScenarioError) as exc:
        drills.start(bad, by=people["commander"])
    assert "unknown_county" in [p.code for p in exc.value.problems]
    with pytest.raises(Refused):
        drills.start(TEMPLATE, by=people["duty"])  # a duty officer plays, does not control
    assert log.incidents().empty


def test_review_times_recomputed_by_hand(drills, log, clock, people):
    """Start at S; warning inject at S+5 min: 嘉善县 fire answers at S+7 (120 s), police at S+9.5 (270 s), the rest never;
    request inject at S+20: 吴江区 approves at +23, dispatches at +25, it arrives at +48 (28 min: within 30)."""
    iid = drills.start(TEMPLATE, by=people["commander"])
    s = clock()
    clock.tick(minutes=5)
    (w,) = drills.fire_due(iid)
    calls = boards.build(log.rows(iid), now=clock()).calls
    by_dept = dict(zip(calls["department"], calls["contact_id"], strict=False))
    clock.tick(minutes=2)
    log.acknowledge(iid, w, by_dept["fire"], by=people["fire"])
    clock.tick(seconds=150)
    log.acknowledge(iid, w, by_dept["police"], by=people["police"])
    clock.now = s + timedelta(minutes=20)
    assert len(drills.fire_due(iid)) == 2  # the closure (+12) and the request (+20)
    fired = drills.schedule(iid).set_index("inject")["fired"]
    request = int(fired[2])
    wujiang = people.sign_in("wujiang_cmd", "emergency", "320509", "commander")
    clock.now = s + timedelta(minutes=23)
    log.advance_request(iid, request, "approved", by=wujiang)
    clock.now = s + timedelta(minutes=25)
    log.advance_request(iid, request, "dispatched", by=wujiang)
    clock.now = s + timedelta(minutes=48)
    log.advance_request(iid, request, "arrived", by=people["commander"])
    table = review(boards.build(log.rows(iid), now=clock()), names={"320509": "吴江区"})
    warn = table[table["kind"] == "warning"].set_index("department")
    assert warn.at["fire", "answered_s"] == 120.0 and warn.at["police", "answered_s"] == 270.0
    assert not warn.at["fire", "missed"] and not warn.at["police", "missed"]
    others = warn.drop(index=["fire", "police"])
    assert len(others) == len(calls) - 2 and others["missed"].all() and others["answered_s"].isna().all()
    req = table[table["kind"] == "request"].iloc[0]
    assert (req["unit"], req["approved_s"], req["dispatched_s"], req["arrived_s"]) == ("吴江区", 180.0, 300.0, 1680.0)
    assert req["met_target"] is True and not req["missed"]
