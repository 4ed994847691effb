"""The read-only wall-screen mode (大屏): ``[access] read_only = true`` or ``$YRD_READ_ONLY=1`` — no sign-in, no writing pages, the map and the boards only."""

from __future__ import annotations

import pytest

from data.accounts.accounts import Accounts
from data.schema import now_beijing
from data.settings import SettingsError, load_settings
from data.storage.workspace import Workspace
from tests.people import CHEAP, PASSWORD, People, cheap_accounts


@pytest.fixture
def wall_config(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text("[access]\nread_only = true\n", encoding="utf-8")
    return path


def test_the_setting_and_its_override(tmp_path, wall_config, monkeypatch):
    monkeypatch.delenv("YRD_READ_ONLY", raising=False)
    assert load_settings(wall_config).read_only is True
    assert load_settings(tmp_path / "absent.toml").read_only is False
    both = tmp_path / "both.toml"
    both.write_text('[access]\nread_only = true\n[basemap]\ntile_url = "http://tiles.local/{z}/{x}/{y}.png"\n', encoding="utf-8")
    assert (load_settings(both).read_only, load_settings(both).tile_url) == (True, "http://tiles.local/{z}/{x}/{y}.png")
    monkeypatch.setenv("YRD_READ_ONLY", "0")
    assert load_settings(wall_config).read_only is False
    monkeypatch.setenv("YRD_READ_ONLY", "1")
    assert load_settings(tmp_path / "absent.toml").read_only is True
    monkeypatch.setenv("YRD_READ_ONLY", "yes")
    with pytest.raises(SettingsError, match="`YRD_READ_ONLY` was 'yes'"):
        load_settings(wall_config)
    monkeypatch.delenv("YRD_READ_ONLY")
    bad = tmp_path / "bad.toml"
    bad.write_text('[access]\nread_only = "yes"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="`access.read_only` was 'yes'"):
        load_settings(bad)


def test_a_wall_screen_offers_no_sign_in_and_drops_a_session(open_app, wall_config, workspace_path, monkeypatch):
    with Workspace(workspace_path) as ws:
        accounts = Accounts(ws, hasher=CHEAP)
        accounts.bootstrap(username="admin", display_name="系统管理员", department="emergency", jurisdiction="330421", roles=["sysadmin"],
                           password=PASSWORD, by="tests", now=now_beijing())  # fmt: skip
        session = accounts.authenticate("admin", PASSWORD, now=now_beijing())
    monkeypatch.setenv("YRD_CONFIG", str(wall_config))
    at = open_app()
    assert not [w for w in at.sidebar.text_input if w.key in ("acc_user", "acc_pw")]  # no sign-in form
    assert any("只读大屏模式" in c.value for c in at.sidebar.caption)
    at.session_state["account"] = session  # a session brought from elsewhere counts for nothing here
    at.run()
    assert not at.exception and "account" not in at.session_state
    at.sidebar.radio[0].set_value("en").run()
    assert any("Read-only wall screen" in c.value for c in at.sidebar.caption)


def test_a_site_may_ask_for_sign_in_before_showing_anything(open_app, tmp_path, workspace_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text("[access]\nsign_in_to_view = true\n", encoding="utf-8")
    with Workspace(workspace_path) as ws:
        People(cheap_accounts(ws)).sign_in("viewer1", "emergency", "330421", "viewer")
    monkeypatch.setenv("YRD_CONFIG", str(config))
    at = open_app()
    assert [i.value for i in at.info] == ["本系统须先登录才能查看：请在左侧栏输入用户名和密码。没有账户请联系系统管理员。"]
    assert not at.get("deck_gl_json_chart") and not at.dataframe  # no map, no table before sign-in
    at.sidebar.text_input(key="acc_user").input("viewer1")
    at.sidebar.text_input(key="acc_pw").input(PASSWORD + "x")
    next(b for b in at.sidebar.button if b.label == "登录").click().run()
    assert not at.exception and "account" in at.session_state
    assert at.get("deck_gl_json_chart"), "the situation map shows once signed in"
    assert not any("须先登录" in i.value for i in at.info)
    assert load_settings(config).sign_in_to_view is True
