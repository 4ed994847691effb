"""AppTest of the account administration page: nothing without a signed-in system administrator; create, disable, enable, reset; the audit; a language switch.

The page is not in app.py's navigation yet, so it runs on its own (the router's language
switch is set through ``session_state["lang"]``); the sign-in itself is tested in
tests/test_accounts.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from streamlit.testing.v1 import AppTest

from data.accounts.accounts import Accounts
from data.schema import now_beijing
from data.storage.workspace import Workspace
from pages._shared import widget_key
from tests.conftest import ROOT, frame_with

PAGE = str(ROOT / "pages" / "accounts.py")
ADMIN_PW = "管理员-初始口令-2025"
PW = "值班口令0701-jiashan"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def run_page(dataset, monkeypatch):
    monkeypatch.setenv("YRD_DATASET", str(dataset))
    monkeypatch.setenv("YRD_CONFIG", str(ROOT / "tests" / "no-config.toml"))

    def run(session=None, *, lang: str = "zh") -> AppTest:
        at = AppTest.from_file(PAGE, default_timeout=120)
        at.session_state["lang"] = lang
        if session is not None:
            at.session_state["account"] = session
        at.run()
        assert not at.exception, at.exception
        return at

    return run


@pytest.fixture
def sessions(workspace_path):
    """(the signed-in sysadmin's session, a signed-in duty officer's session) in this test's workspace."""
    now = now_beijing()
    with Workspace(workspace_path) as ws:
        acc = Accounts(ws, hasher=CHEAP)
        acc.bootstrap(username="admin", display_name="系统管理员", department="emergency", jurisdiction="310000", roles=["sysadmin"], password=ADMIN_PW, by="root", now=now)
        admin = acc.authenticate("admin", ADMIN_PW, now=now)
        acc.create(admin, username="jsduty", display_name="嘉善值班员", department="emergency", jurisdiction="330421", roles=["duty_officer"], password=PW, now=now)
        duty = acc.change_password(acc.authenticate("jsduty", PW, now=now), PW, PW + "!new", now=now)
    return admin, duty


def _stored(workspace_path, username: str):
    with Workspace(workspace_path) as ws:
        return Accounts(ws, hasher=CHEAP).get(username)


def _nothing_else(at) -> None:
    assert not at.tabs and not at.text_input and not at.button and not at.dataframe


def test_without_a_signed_in_account_only_a_message(run_page, workspace_path):
    at = run_page()
    assert at.title[0].value == "账户管理"
    assert [i.value for i in at.info] == ["请先以系统管理员身份登录，再管理账户。"]
    _nothing_else(at)


def test_a_duty_officer_sees_only_a_message(run_page, sessions):
    at = run_page(sessions[1])
    assert [w.value for w in at.warning] == ["只有系统管理员可以管理账户。当前账户 jsduty 的角色为：值班员。"]
    _nothing_else(at)


def test_an_expired_session_is_dropped_with_a_message(run_page, sessions):
    admin = sessions[0]
    old = type(admin)(admin.account, issued_at=admin.issued_at - timedelta(hours=13), last_seen=admin.last_seen - timedelta(hours=9))
    at = run_page(old)
    assert any("登录已失效" in w.value for w in at.warning)
    assert "account" not in at.session_state
    _nothing_else(at)


def _create(at, *, username: str, name: str, dept: str, jur: str, roles: list[str], password: str, lang: str = "zh"):
    at.text_input(key="acc_new_username").input(username)
    at.text_input(key="acc_new_name").input(name)
    at.selectbox(key=widget_key("acc_new_dept", lang)).select(dept)
    at.selectbox(key=widget_key("acc_new_jur", lang)).select(jur)
    at.multiselect(key=widget_key("acc_new_roles", lang)).set_value(roles)
    at.text_input(key="acc_new_pw").input(password)
    label = "创建账户" if lang == "zh" else "Create the account"
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    return at


def test_list_create_refuse_and_audit(run_page, sessions, workspace_path):
    at = run_page(sessions[0])
    assert [tab.label for tab in at.tabs] == ["账户列表", "新建账户", "停用、启用与重置密码", "登录与操作审计"]
    table = frame_with(at, "用户名")
    assert list(table["用户名"]) == ["admin", "jsduty"]
    row = table.set_index("用户名").loc["jsduty"]
    assert (row["部门"], row["辖区"], row["角色"], row["状态"]) == ("应急管理", "嘉善县（330421）", "值班员", "正常")
    assert row["最近登录"] != "从未登录" and "None" not in table.to_string() and "NaT" not in table.to_string()

    _create(at, username="qpfire", name="青浦消防联络员", dept="fire", jur="310118", roles=["liaison"], password="short-pw1")
    assert [e.value for e in at.error] == ["密码只有 9 位，至少需要 10 位。"]
    assert _stored(workspace_path, "qpfire") is None
    _create(at, username="qpfire", name="青浦消防联络员", dept="fire", jur="310118", roles=["liaison", "viewer"], password="青浦消防-联络-2025")
    assert any("已创建账户 qpfire" in s.value for s in at.success)
    made = _stored(workspace_path, "qpfire")
    assert (made.department, made.jurisdiction, made.roles, made.must_change_password) == ("fire", "310118", ("viewer", "liaison"), True)
    row = frame_with(at, "用户名").set_index("用户名").loc["qpfire"]
    assert (row["状态"], row["最近登录"], row["角色"]) == ("待修改初始密码", "从未登录", "浏览者、联络员")
    audit = frame_with(at, "事件")
    assert list(audit["事件"])[:2] == ["新建账户", "修改密码"] and audit["操作账户"].iloc[0] == "admin"
    assert "None" not in audit.to_string() and "nan" not in audit.to_string()


def test_disable_enable_reset(run_page, sessions, workspace_path):
    at = run_page(sessions[0])
    at.selectbox(key=widget_key("acc_pick", "zh")).select("jsduty").run()
    at.button(key="acc_disable").click().run()
    assert any("已停用账户 jsduty" in s.value for s in at.success)
    assert _stored(workspace_path, "jsduty").disabled
    assert frame_with(at, "用户名").set_index("用户名").loc["jsduty", "状态"] == "已停用"
    assert at.button(key="acc_disable").disabled and not at.button(key="acc_enable").disabled
    at.button(key="acc_enable").click().run()
    assert not _stored(workspace_path, "jsduty").disabled
    at.text_input(key="acc_reset_pw").input("临时口令-reset-01")
    at.button(key="acc_reset").click().run()
    assert any("已重置账户 jsduty 的密码" in s.value for s in at.success)
    assert _stored(workspace_path, "jsduty").must_change_password
    # the last enabled system administrator: a localized refusal, nothing changed
    at.selectbox(key=widget_key("acc_pick", "zh")).select("admin").run()
    at.button(key="acc_disable").click().run()
    assert [e.value for e in at.error] == ["admin 是最后一个启用的系统管理员，不能停用。请先新建另一个系统管理员。"]
    assert not _stored(workspace_path, "admin").disabled
    events = list(frame_with(at, "事件")["事件"])
    assert events[:3] == ["重置密码", "启用账户", "停用账户"]


def test_choices_survive_a_language_switch(run_page, sessions, workspace_path):
    at = run_page(sessions[0])
    at.selectbox(key=widget_key("acc_pick", "zh")).select("jsduty").run()
    _create(at, username="wjwater", name="吴江水务指挥", dept="water", jur="320509", roles=["commander"], password="吴江水务-指挥-2025")
    assert any("已创建账户 wjwater" in s.value for s in at.success)
    at.session_state["lang"] = "en"
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Accounts"
    # the pick, and the form's submitted choices, are kept in the other language
    assert at.selectbox(key=widget_key("acc_pick", "en")).value == "jsduty"
    assert at.selectbox(key=widget_key("acc_new_dept", "en")).value == "water"
    assert at.selectbox(key=widget_key("acc_new_jur", "en")).value == "320509"
    assert at.multiselect(key=widget_key("acc_new_roles", "en")).value == ["commander"]
    row = frame_with(at, "Username").set_index("Username").loc["wjwater"]
    assert (row["Department"], row["Roles"], row["State"]) == ("Water", "Commander", "Must change the initial password")
    # a second account in English from the kept choices (only the texts typed again)
    at.text_input(key="acc_new_username").input("wjwater2")
    at.text_input(key="acc_new_name").input("吴江水务副指挥")
    at.text_input(key="acc_new_pw").input("吴江水务-副指挥-2025")
    next(b for b in at.button if b.label == "Create the account").click().run()
    assert any("Account wjwater2" in s.value for s in at.success)
    made = _stored(workspace_path, "wjwater2")
    assert (made.department, made.jurisdiction, made.roles) == ("water", "320509", ("commander",))
    at.session_state["lang"] = "zh"
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key=widget_key("acc_pick", "zh")).value == "jsduty"
    assert frame_with(at, "用户名").set_index("用户名").loc["wjwater2", "部门"] == "水利（水务）"
