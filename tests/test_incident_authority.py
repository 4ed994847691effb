"""The permission table enforced by the incident log itself, case by case (allowed and refused), on DuckDB and PostgreSQL (`backend`).

Every write takes the signed-in session; the log asks the permission table
(`data.accounts.authority`) and refuses with `Refused` (audited, nothing written) or writes a
row signed with the account.  The cast (tests/people.py): 嘉善县 330421 leads, 青浦区 310118
is party to the incident, 吴江区 320509 is not, 嘉兴市 330400 is the city above.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from data.accounts.accounts import AuthError, Refused
from layers.accounts import error_text
from tests.test_incidents import T0, clock, log, people  # noqa: F401 (the same clock, log and people fixtures)

CALLS = [
    {"contact_id": "C1", "unit": "嘉善县消防救援大队", "role": "值班室", "department": "fire", "jurisdiction_code": "330421", "duty_phone": "1"},
    {"contact_id": "C2", "unit": "嘉善县公安局", "role": "值班室", "department": "police", "jurisdiction_code": "330421", "duty_phone": "2"},
    {"contact_id": "C3", "unit": "青浦区应急管理局", "role": "值班室", "department": "emergency", "jurisdiction_code": "310118", "duty_phone": "3"},
    {"contact_id": "C4", "unit": "嘉善县应急管理局", "role": "值班室", "department": "emergency", "jurisdiction_code": "330421", "duty_phone": "4"},
]
AREA = {"type": "Polygon", "coordinates": [[[120.8, 30.8], [121.0, 30.8], [121.0, 30.9], [120.8, 30.9], [120.8, 30.8]]]}
NAMES = {"330421": "嘉善县", "310118": "青浦区", "320509": "吴江区", "330400": "嘉兴市", "330402": "南湖区"}


@pytest.fixture
def scene(log, people):
    """An incident of 嘉善县 with 青浦区 party to it, a warning calling C1–C4, and two requests: from 青浦区 (fire) and from 南湖区 (emergency)."""
    iid = log.open_incident(title="嘉善化工园区泄漏", kind="hazchem", level="II", lon=120.92, lat=30.84, lead_code="330421", lead_name="嘉善县", at=T0,
                            jurisdictions=["310118"], departments=["fire", "police"], by=people["commander"])  # fmt: skip
    warning = log.issue_warning(iid, colour="red", text="下风向疏散", area_kind="polygon", area=AREA, counties=["330421", "310118"],
                                departments=["fire", "police", "emergency"], calls=CALLS, by=people["duty"])  # fmt: skip
    near = log.request(iid, resource_id="T1", resource_name="青浦危化救援队", resource_layer="teams", from_code="310118", to_code="330421", text="",
                       provider_department="fire", by=people["fire"])  # fmt: skip
    far = log.request(iid, resource_id="S2", resource_name="南湖物资库", resource_layer="stockpiles", from_code="330402", to_code="330421", text="",
                      provider_department="emergency", by=people["duty"])  # fmt: skip
    return {"iid": iid, "warning": warning, "near": near, "far": far}


def _open(log, by, lead="330421"):
    return log.open_incident(title="新事件", kind="fire", level="IV", lon=120.92, lat=30.84, lead_code=lead, lead_name=NAMES.get(lead, lead), by=by)


# (what, who, expected): expected is "allowed", "on_behalf" or the refusal's code.
CASES = [
    # incident.open: duty officers and commanders of the jurisdiction (or above it)
    ("open", "commander", "allowed"), ("open", "duty", "allowed"), ("open", "jiaxing", "allowed"),
    ("open", "fire", "missing_role"), ("open", "wujiang", "other_jurisdiction"), ("open", "viewer", "missing_role"),
    # incident.phase / incident.end: the lead jurisdiction's commander only (统一领导)
    ("phase", "commander", "allowed"), ("phase", "duty", "missing_role"), ("phase", "qingpu_commander", "not_lead"), ("phase", "jiaxing", "not_lead"),
    ("end", "commander", "allowed"), ("end", "transport", "missing_role"), ("end", "qingpu_commander", "not_lead"),
    # entry.post: one's own department, on an incident one's jurisdiction is party to
    ("entry", "fire", "allowed"), ("entry", "qingpu", "allowed"), ("entry", "jiaxing", "allowed"),
    ("entry", "wujiang", "not_party"), ("entry", "viewer", "missing_role"), ("entry", "data_admin", "missing_role"),
    # warning.issue: the lead's duty officers and commander
    ("warn", "duty", "allowed"), ("warn", "commander", "allowed"), ("warn", "qingpu", "not_lead"), ("warn", "fire", "missing_role"),
    # ack.answer: the called unit's own people, or on its behalf with a reason
    ("ack C1", "fire", "allowed"), ("ack C3", "qingpu", "allowed"), ("ack C4", "duty", "allowed"),
    ("ack C4", "fire", "other_department"),  # the issue's case: a 消防 liaison answering for 嘉善县应急管理局
    ("ack C1", "qingpu_fire", "reason_required"),  # party to the incident: may answer on 嘉善's behalf, with a reason
    ("ack C1", "police", "other_department"), ("ack C1", "transport", "other_department"),
    ("ack C1", "commander", "reason_required"), ("ack C1 reason", "commander", "on_behalf"), ("ack C3 reason", "duty", "on_behalf"),
    ("ack C1 reason", "wujiang", "other_jurisdiction"), ("ack C1 reason", "police", "other_department"),  # a liaison never answers for another unit
    # request.create: the requesting jurisdiction (or above)
    ("request", "fire", "allowed"), ("request", "jiaxing", "allowed"), ("request", "qingpu", "other_jurisdiction"), ("request", "viewer", "missing_role"),
    # request.approve / dispatch: the providing jurisdiction (its commander, or a duty officer of the providing department)
    ("approve near", "qingpu_fire", "allowed"), ("approve near", "qingpu_commander", "allowed"),
    ("approve near", "commander", "other_jurisdiction"), ("approve near", "transport", "missing_role"),  # the issue's case: 交通运输 approving
    ("approve near", "qingpu", "other_department"), ("decline near", "commander", "other_jurisdiction"), ("decline far", "jiaxing", "allowed"),
    ("approve far", "jiaxing", "allowed"), ("approve far", "duty", "other_jurisdiction"),
    ("dispatch near", "qingpu_fire", "allowed"), ("dispatch near", "fire", "missing_role"), ("dispatch near", "commander", "other_jurisdiction"),
    # request.arrive: the requesting side, or the providing side
    ("arrive near", "fire", "allowed"), ("arrive near", "qingpu_fire", "allowed"), ("arrive near", "wujiang", "other_jurisdiction"),
]  # fmt: skip


def _act(log, scene, people, what: str, who: str) -> int | str:
    by = people[who]
    iid = scene["iid"]
    verb, _, rest = what.partition(" ")
    if verb == "open":
        return _open(log, by)
    if verb == "phase":
        return log.transition(iid, "response", by=by)
    if verb == "end":
        return log.transition(iid, "aftermath", by=by, text="应急终止")
    if verb == "entry":
        return log.note(iid, "log", f"{who} 的工作记录", by=by)
    if verb == "warn":
        return log.issue_warning(iid, colour="orange", text="扩大疏散", area_kind="polygon", area=AREA, counties=["330421"], departments=["fire"],
                                 calls=CALLS[:1], by=by)  # fmt: skip
    if verb == "ack":
        contact, _, reason = rest.partition(" ")
        return log.acknowledge(iid, scene["warning"], contact, by=by, reason="该单位电话无人接听，经对讲机确认" if reason else "")
    if verb == "request":
        return log.request(iid, resource_id="T9", resource_name="嘉善消防中队", resource_layer="teams", from_code="330421", to_code="330421", text="",
                           provider_department="fire", by=by)  # fmt: skip
    request = scene[rest]
    if verb in ("dispatch", "arrive"):  # move the request to where the step applies, by the providing side
        provider = people["qingpu_fire"] if rest == "near" else people["jiaxing"]
        log.advance_request(iid, request, "approved", by=provider)
        if verb == "arrive":
            log.advance_request(iid, request, "dispatched", by=provider)
    status = {"approve": "approved", "decline": "declined", "dispatch": "dispatched", "arrive": "arrived"}[verb]
    return log.advance_request(iid, request, status, by=by)


@pytest.mark.parametrize(("what", "who", "expected"), CASES, ids=[f"{w}-{p}-{e}" for w, p, e in CASES])
def test_the_log_enforces_the_permission_table(log, scene, people, what, who, expected):
    people[who], people["qingpu_fire"], people["jiaxing"]  # signed in before the counts
    before, audited = log.size(), len(log.accounts.audit())
    if expected in ("allowed", "on_behalf"):
        entry = _act(log, scene, people, what, who)
        rows = log.rows(scene["iid"]) if not what.startswith("open") else None
        if rows is not None:
            row = rows.set_index("id").loc[entry]
            account = people[who].account
            assert (row["who"], row["department"]) == (account.username, account.department)  # signed by the account, not a typed name
            data = json.loads(row["data"])
            assert data.get("on_behalf", False) is (expected == "on_behalf")
            if expected == "on_behalf":
                assert data["reason"] == "该单位电话无人接听，经对讲机确认"
        assert log.verify() == []
        return
    size_before_act = log.size() if not what.startswith(("dispatch", "arrive")) else None
    with pytest.raises(Refused) as exc:
        _act(log, scene, people, what, who)
    assert exc.value.code == expected, exc.value.decision
    if size_before_act is not None:
        assert log.size() == before  # nothing half-saved
    audit = log.accounts.audit()
    assert len(audit) > audited
    last = audit.sort_values("id").iloc[-1]
    assert (last["actor"], last["outcome"], last["code"]) == (who, "refused", expected)
    assert last["event"].startswith(("incident.", "entry.", "warning.", "ack.", "request."))
    for lang in ("zh", "en"):  # the page's message: no raw code, no None
        text = error_text(exc.value, lang, NAMES)
        assert text and "None" not in text and expected not in text


def test_every_action_of_the_log_is_tested_both_ways():
    """Each log action has at least one allowed and one refused case above."""
    verbs = {}
    for what, _, expected in CASES:
        verbs.setdefault(what.split()[0], set()).add(expected in ("allowed", "on_behalf"))
    assert all(v == {True, False} for v in verbs.values()), verbs
    assert set(verbs) >= {"open", "phase", "end", "entry", "warn", "ack", "request", "approve", "dispatch", "arrive"}


def test_no_write_without_a_valid_session(log, scene, people, clock):
    iid = scene["iid"]
    before = log.size()
    with pytest.raises(TypeError, match="Session of a signed-in account"):
        log.note(iid, "log", "打字签名", by="张三")
    with pytest.raises(TypeError):
        log.note(iid, "log", "打字签名", who="张三", department="fire")  # the old typed identity is gone
    fire = people["fire"]
    log.accounts.disable(people.admin, "fire", now=clock())
    with pytest.raises(AuthError) as exc:
        log.note(iid, "log", "已停用账户", by=fire)
    assert exc.value.code == "disabled"
    police = people["police"]
    clock.now += timedelta(hours=13)  # past the 12 h session limit
    with pytest.raises(AuthError) as exc:
        log.note(iid, "log", "过期会话", by=police)
    assert exc.value.code == "expired"
    assert log.size() == before


def test_a_must_change_session_cannot_write(log, scene, people, clock):
    fresh = people.accounts.create(people.admin, username="newbie", display_name="新同事", department="fire", jurisdiction="330421", roles=["liaison"],
                                   password="initial-pass-1", now=clock())  # fmt: skip
    session = people.accounts.authenticate(fresh.username, "initial-pass-1", now=clock())
    assert session.must_change
    with pytest.raises(AuthError) as exc:
        log.note(scene["iid"], "log", "未改密码", by=session)
    assert exc.value.code == "must_change"
