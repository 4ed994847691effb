"""The permission table, row by row: allowed, and refused for another department, another jurisdiction, a missing role, an answer on behalf without a reason."""

from __future__ import annotations

import pytest

from data.accounts.authority import ACTIONS, PERMISSIONS, ROLES, Actor, contains, decide, grants, level, markdown_table
from tests.conftest import ROOT

# Real codes of the dataset: 嘉善县 in 嘉兴市 in 浙江省; 海盐县 (嘉兴市); 青浦区 in 上海市; 吴江区 (苏州市).
JIASHAN, JIAXING, ZHEJIANG, HAIYAN = "330421", "330400", "330000", "330424"
QINGPU, SHANGHAI_CITY, SHANGHAI = "310118", "310100", "310000"
WUJIANG, SUZHOU = "320509", "320500"
#: A cross-province incident led by 嘉善县 with 青浦区 taking part.
PARTIES = [JIASHAN, QINGPU]


def who(department: str, jurisdiction: str, *roles: str) -> Actor:
    return Actor(f"{department}-{jurisdiction}", department, jurisdiction, frozenset(roles))


def refused(decision, code: str) -> None:
    assert not decision.allowed, decision
    assert decision.code == code, decision


def allowed(decision) -> None:
    assert decision.allowed, decision
    assert decision.code == "allowed", decision


# ---- jurisdictions --------------------------------------------------------------------------------
def test_levels_and_containment_by_code_prefix():
    assert (level(ZHEJIANG), level(JIAXING), level(JIASHAN), level(SHANGHAI_CITY)) == ("province", "city", "county", "city")
    assert contains(ZHEJIANG, JIASHAN) and contains(JIAXING, JIASHAN) and contains(JIASHAN, JIASHAN)
    assert contains(ZHEJIANG, JIAXING) and contains(SHANGHAI, QINGPU) and contains(SHANGHAI_CITY, QINGPU)
    assert not contains(JIASHAN, JIAXING)  # a county does not contain its city
    assert not contains(JIASHAN, HAIYAN) and not contains(JIAXING, "330100") and not contains(ZHEJIANG, QINGPU)
    assert not contains(SHANGHAI_CITY, SHANGHAI)
    for bad in ("33042", "3304210", "", None, "33O421"):
        with pytest.raises(ValueError, match="6-digit"):
            level(bad)


def test_bad_input_is_an_error_naming_it():
    with pytest.raises(ValueError, match="`action` was 'incident.delete'"):
        decide(who("emergency", JIASHAN, "commander"), "incident.delete")
    with pytest.raises(ValueError, match=r"lacks \['lead_code'\]"):
        decide(who("emergency", JIASHAN, "commander"), "incident.phase")
    with pytest.raises(ValueError, match="`roles` had \\['admin'\\]"):
        Actor("x", "emergency", JIASHAN, frozenset({"admin"}))
    with pytest.raises(ValueError, match="6-digit"):
        Actor("x", "emergency", "嘉善县", frozenset({"viewer"}))
    with pytest.raises(ValueError, match="list of jurisdiction codes"):
        decide(who("fire", JIASHAN, "liaison"), "entry.post", department="fire", jurisdictions=JIASHAN)


# ---- row by row ---------------------------------------------------------------------------------------
def test_view_needs_any_role():
    for role in ROLES:
        allowed(decide(who("health", WUJIANG, role), "view"))
    refused(decide(who("health", WUJIANG), "view"), "missing_role")


def test_open_an_incident_in_ones_own_jurisdiction():
    for jur in (JIASHAN, JIAXING, ZHEJIANG):
        allowed(decide(who("emergency", jur, "duty_officer"), "incident.open", lead_code=JIASHAN))
    allowed(decide(who("emergency", JIASHAN, "commander"), "incident.open", lead_code=JIASHAN))
    refused(decide(who("emergency", HAIYAN, "duty_officer"), "incident.open", lead_code=JIASHAN), "other_jurisdiction")
    refused(decide(who("emergency", SHANGHAI, "duty_officer"), "incident.open", lead_code=JIASHAN), "other_jurisdiction")
    d = decide(who("fire", JIASHAN, "liaison", "viewer"), "incident.open", lead_code=JIASHAN)
    refused(d, "missing_role")
    assert d.params == {"action": "incident.open", "roles": ("duty_officer", "commander")}


@pytest.mark.parametrize("action", ["incident.phase", "incident.end"])
def test_only_the_lead_jurisdictions_commander_moves_a_phase_or_ends(action):
    allowed(decide(who("emergency", JIASHAN, "commander"), action, lead_code=JIASHAN))
    # the issue: a 交通运输 liaison ended the incident
    refused(decide(who("transport", JIASHAN, "liaison"), action, lead_code=JIASHAN), "missing_role")
    refused(decide(who("emergency", JIASHAN, "duty_officer"), action, lead_code=JIASHAN), "missing_role")
    # a party's commander, or the lead's city or province, is not the lead
    for jur in (QINGPU, JIAXING, ZHEJIANG):
        d = decide(who("emergency", jur, "commander"), action, lead_code=JIASHAN)
        refused(d, "not_lead")
        assert d.params == {"action": action, "lead": JIASHAN, "own": jur}
    refused(decide(who("emergency", JIASHAN, "sysadmin", "data_admin"), action, lead_code=JIASHAN), "missing_role")


def test_post_an_entry_for_ones_own_department_on_an_incident_one_is_party_to():
    for role in ("liaison", "duty_officer", "commander"):
        allowed(decide(who("fire", QINGPU, role), "entry.post", department="fire", jurisdictions=PARTIES))
    allowed(decide(who("fire", SHANGHAI_CITY, "liaison"), "entry.post", department="fire", jurisdictions=PARTIES))  # above a party
    d = decide(who("fire", QINGPU, "liaison"), "entry.post", department="emergency", jurisdictions=PARTIES)
    refused(d, "other_department")
    assert d.params == {"action": "entry.post", "department": "emergency", "own": "fire"}
    d = decide(who("fire", WUJIANG, "liaison"), "entry.post", department="fire", jurisdictions=PARTIES)
    refused(d, "not_party")
    assert d.params["jurisdictions"] == tuple(PARTIES) and d.params["own"] == WUJIANG
    refused(decide(who("fire", SUZHOU, "liaison"), "entry.post", department="fire", jurisdictions=PARTIES), "not_party")
    refused(decide(who("fire", QINGPU, "viewer"), "entry.post", department="fire", jurisdictions=PARTIES), "missing_role")
    refused(decide(who("fire", QINGPU, "data_admin"), "entry.post", department="fire", jurisdictions=PARTIES), "missing_role")


def test_warnings_are_issued_by_the_lead_jurisdictions_duty_officer_or_commander():
    allowed(decide(who("emergency", JIASHAN, "duty_officer"), "warning.issue", lead_code=JIASHAN))
    allowed(decide(who("weather", JIASHAN, "commander"), "warning.issue", lead_code=JIASHAN))
    refused(decide(who("emergency", QINGPU, "duty_officer"), "warning.issue", lead_code=JIASHAN), "not_lead")
    refused(decide(who("emergency", JIAXING, "duty_officer"), "warning.issue", lead_code=JIASHAN), "not_lead")
    refused(decide(who("emergency", JIASHAN, "liaison"), "warning.issue", lead_code=JIASHAN), "missing_role")


def _ack(actor: Actor, unit_department: str, unit_jurisdiction: str, reason: str = ""):
    return decide(actor, "ack.answer", unit_department=unit_department, unit_jurisdiction=unit_jurisdiction, jurisdictions=PARTIES, reason=reason)


def test_a_unit_answers_its_own_call():
    for role in ("liaison", "duty_officer", "commander"):
        allowed(_ack(who("emergency", JIASHAN, role), "emergency", JIASHAN))
    # the issue: a 消防 liaison recorded the answer of 嘉善县应急管理局 — refused, with or without a reason
    for reason in ("", "电话已接通"):
        d = _ack(who("fire", JIASHAN, "liaison"), "emergency", JIASHAN, reason)
        refused(d, "other_department")
        assert d.params == {"action": "ack.answer", "department": "emergency", "own": "fire"}
    # the unit's city is not the unit
    refused(_ack(who("emergency", JIAXING, "liaison"), "emergency", JIASHAN), "other_jurisdiction")
    refused(_ack(who("emergency", JIASHAN, "viewer"), "emergency", JIASHAN), "missing_role")


def test_an_answer_on_the_units_behalf_needs_a_reason_and_says_so():
    officer = who("emergency", QINGPU, "duty_officer")  # party to the incident, another unit
    for reason in ("", "   "):
        d = _ack(officer, "emergency", JIASHAN, reason)
        refused(d, "reason_required")
        assert d.params == {"action": "ack.answer"}
    d = _ack(officer, "emergency", JIASHAN, " 嘉善县应急管理局电话应答，值班员代录 ")
    assert d.allowed and d.on_behalf and d.code == "on_behalf"
    assert d.params == {"action": "ack.answer", "reason": "嘉善县应急管理局电话应答，值班员代录"}
    assert _ack(who("fire", JIASHAN, "commander"), "emergency", JIASHAN, "代录").on_behalf
    # not party to the incident: refused even with a reason
    refused(_ack(who("emergency", WUJIANG, "duty_officer"), "emergency", JIASHAN, "代录"), "other_jurisdiction")
    # an own-unit answer is not flagged
    assert not _ack(who("emergency", JIASHAN, "duty_officer"), "emergency", JIASHAN, "代录").on_behalf


def test_a_resource_is_requested_by_the_requesting_jurisdiction():
    for jur in (QINGPU, SHANGHAI_CITY, SHANGHAI):
        allowed(decide(who("emergency", jur, "liaison"), "request.create", to_code=QINGPU))
    refused(decide(who("emergency", JIASHAN, "commander"), "request.create", to_code=QINGPU), "other_jurisdiction")
    refused(decide(who("emergency", QINGPU, "viewer"), "request.create", to_code=QINGPU), "missing_role")


@pytest.mark.parametrize("action", ["request.approve", "request.dispatch"])
def test_a_request_is_decided_and_dispatched_by_the_providing_jurisdiction(action):
    ctx = {"from_code": JIASHAN, "provider_department": "fire"}
    for jur in (JIASHAN, JIAXING, ZHEJIANG):  # the provider or a level above it (上级调派)
        allowed(decide(who("emergency", jur, "commander"), action, **ctx))
    allowed(decide(who("fire", JIASHAN, "duty_officer"), action, **ctx))
    # the issue: a 交通运输 liaison approved and dispatched a cross-province request
    refused(decide(who("transport", JIASHAN, "liaison"), action, **ctx), "missing_role")
    refused(decide(who("transport", JIASHAN, "duty_officer"), action, **ctx), "other_department")
    # the requesting side (青浦区) does not approve what 嘉善县 provides
    refused(decide(who("emergency", QINGPU, "commander"), action, **ctx), "other_jurisdiction")
    refused(decide(who("fire", HAIYAN, "duty_officer"), action, **ctx), "other_jurisdiction")
    refused(decide(who("fire", JIASHAN, "liaison"), action, **ctx), "missing_role")


def test_arrival_is_marked_by_the_requesting_or_the_providing_side():
    ctx = {"to_code": QINGPU, "from_code": JIASHAN, "provider_department": "fire"}
    allowed(decide(who("health", QINGPU, "liaison"), "request.arrive", **ctx))
    allowed(decide(who("fire", JIASHAN, "duty_officer"), "request.arrive", **ctx))
    allowed(decide(who("emergency", JIASHAN, "commander"), "request.arrive", **ctx))
    refused(decide(who("fire", WUJIANG, "liaison"), "request.arrive", **ctx), "other_jurisdiction")
    refused(decide(who("transport", JIASHAN, "duty_officer"), "request.arrive", **ctx), "other_department")
    refused(decide(who("fire", QINGPU, "viewer"), "request.arrive", **ctx), "missing_role")


@pytest.mark.parametrize("action", ["layer.import", "layer.edit"])
def test_base_layers_only_within_the_data_administrators_jurisdiction(action):
    admin = lambda jur: who("emergency", jur, "data_admin")  # noqa: E731
    allowed(decide(admin(JIASHAN), action, codes=[JIASHAN]))
    d = decide(admin(JIASHAN), action, codes=[JIASHAN, HAIYAN])  # a county admin: that county only
    refused(d, "other_jurisdiction")
    assert d.params["target"] == HAIYAN
    allowed(decide(admin(JIAXING), action, codes=[JIASHAN, HAIYAN]))  # a city admin: its counties
    refused(decide(admin(JIAXING), action, codes=[JIASHAN, QINGPU]), "other_jurisdiction")
    allowed(decide(admin(ZHEJIANG), action, codes=[JIASHAN, "330881"]))  # a province admin: the province
    refused(decide(admin(ZHEJIANG), action, codes=[WUJIANG]), "other_jurisdiction")
    refused(decide(admin(ZHEJIANG), action, codes=[]), "other_jurisdiction")  # records of no known jurisdiction
    refused(decide(who("emergency", JIASHAN, "duty_officer", "commander", "sysadmin"), action, codes=[JIASHAN]), "missing_role")


def test_accounts_are_managed_by_system_administrators_only():
    allowed(decide(who("emergency", SHANGHAI, "sysadmin"), "accounts.manage"))
    d = decide(who("emergency", SHANGHAI, "commander", "data_admin", "duty_officer", "liaison", "viewer"), "accounts.manage")
    refused(d, "missing_role")
    assert d.params["roles"] == ("sysadmin",)


def test_a_system_administrator_holds_no_other_power():
    admin = who("emergency", JIASHAN, "sysadmin")
    ctx = {"lead_code": JIASHAN, "department": "emergency", "jurisdictions": PARTIES, "unit_department": "emergency", "unit_jurisdiction": JIASHAN,
           "reason": "x", "to_code": JIASHAN, "from_code": JIASHAN, "provider_department": "emergency", "codes": [JIASHAN], "code": JIASHAN}  # fmt: skip
    for action in ACTIONS:
        if action in ("view", "accounts.manage"):
            continue
        needed = set().union(*(g.keys() for g in grants(action)))
        refused(decide(admin, action, **{k: v for k, v in ctx.items() if k in needed or k == "reason"}), "missing_role")


# ---- the table as data ---------------------------------------------------------------------------------
def _keys(grant) -> dict[str, str]:
    """Context key -> 'code', 'codes' or 'department', as `grant` reads them."""
    out = {}
    for rule in (grant.jurisdiction, grant.department):
        kind, _, key = rule.partition(":")
        if key:
            out[key] = "department" if rule is grant.department else "codes" if kind in ("party", "all_within") else "code"
    return out


def _context(grant, *, target: str, target_dept: str) -> dict:
    """`grant`'s keys set to `target` / `target_dept`; the keys only other rows of the action read
    set to values no actor of the test matches (吴江区, 卫生健康), so only `grant` can allow."""
    values = {"code": target, "codes": [target], "department": target_dept}
    ctx = {k: values[v] for k, v in _keys(grant).items()}
    for other in grants(grant.action):
        for k, v in _keys(other).items():
            ctx.setdefault(k, {"code": WUJIANG, "codes": [WUJIANG], "department": "health"}[v])
    if grant.reason:
        ctx["reason"] = "电话应答，值班员代录"
    return ctx


@pytest.mark.parametrize("grant", PERMISSIONS, ids=lambda g: f"{g.action}:{'+'.join(g.roles)}")
def test_every_row_allows_and_refuses(grant):
    """Each row allows its roles in its scope; refuses roles no row of the action names, another
    jurisdiction, another department, and (on-behalf rows) a missing reason."""
    # the department a row reads is the actor's own; an on-behalf row is for another unit's
    dept = "transport" if grant.reason else "fire"
    for role in grant.roles:
        d = decide(who("fire", JIASHAN, role), grant.action, **_context(grant, target=JIASHAN, target_dept=dept))
        assert d.allowed, (role, d)
        assert d.code == ("on_behalf" if grant.reason else "allowed"), d
    others = set(ROLES) - set().union(*(g.roles for g in grants(grant.action)))
    if others:
        refused(decide(who("fire", JIASHAN, *others), grant.action, **_context(grant, target=JIASHAN, target_dept=dept)), "missing_role")
    for role in grant.roles:
        actor = who("fire", JIASHAN, role)
        if grant.jurisdiction != "any":
            d = decide(actor, grant.action, **_context(grant, target=WUJIANG, target_dept=dept))
            assert not d.allowed and d.code in ("other_jurisdiction", "not_lead", "not_party"), d
        if grant.department != "any":
            refused(decide(actor, grant.action, **_context(grant, target=JIASHAN, target_dept="transport")), "other_department")
        if grant.reason:
            ctx = _context(grant, target=JIASHAN, target_dept=dept)
            ctx["reason"] = ""
            refused(decide(actor, grant.action, **ctx), "reason_required")


def test_every_action_has_rows_and_every_row_a_known_action_and_roles():
    assert {g.action for g in PERMISSIONS} == set(ACTIONS)
    for g in PERMISSIONS:
        assert g.roles and set(g.roles) <= set(ROLES), g


def test_readme_shows_the_permission_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme
    assert len(markdown_table().splitlines()) == len(PERMISSIONS) + 2
