"""The sidebar's sign-in on every page (AppTest through app.py): real Argon2 accounts in this test's workspace.

Wrong password and unknown user give one message; an initial password must be changed before
anything else; the account page is reachable from the navigation once a system administrator
is signed in; signing out ends the session.  Sign-in and refusals are audited.
"""

from __future__ import annotations

from argon2 import PasswordHasher

from data.accounts.accounts import Accounts
from data.schema import now_beijing
from data.storage.workspace import Workspace

ADMIN_PW = "管理员-初始口令-2025"
NEW_PW = "新的管理员口令-2026!"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _bootstrap(workspace_path) -> None:
    with Workspace(workspace_path) as ws:
        Accounts(ws, hasher=CHEAP).bootstrap(
            username="admin", display_name="系统管理员", department="emergency", jurisdiction="310000", roles=["sysadmin"], password=ADMIN_PW, by="root", now=now_beijing(), must_change=True
        )  # fmt: skip


def _sign_in(at, user: str, password: str):
    at.sidebar.text_input(key="acc_user").input(user)
    at.sidebar.text_input(key="acc_pw").input(password)
    next(b for b in at.sidebar.button if b.label in ("登录", "Sign in")).click().run()
    assert not at.exception, at.exception
    return at


def _said(at) -> list[str]:
    return [w.value for w in at.sidebar.warning] + [c.value for c in at.sidebar.caption] + [i.value for i in at.sidebar.info]


def test_sign_in_change_password_manage_accounts_and_sign_out(open_app, workspace_path):
    _bootstrap(workspace_path)
    at = open_app("pages/accounts.py")
    assert [i.value for i in at.info] == ["请先以系统管理员身份登录，再管理账户。"]  # nothing without a signed-in administrator

    _sign_in(at, "admin", "wrong-password-123")
    assert "用户名或密码错误。" in _said(at) and "account" not in at.session_state
    _sign_in(at, "nobody", ADMIN_PW)
    assert "用户名或密码错误。" in _said(at)  # the same answer for an unknown user

    _sign_in(at, "admin", ADMIN_PW)
    said = _said(at)
    assert any(s.startswith("已登录：系统管理员（admin）") for s in said), said
    assert any("请先修改密码" in s for s in said)  # the initial password must go first
    at.sidebar.text_input(key="acc_cur_pw").input(ADMIN_PW)
    at.sidebar.text_input(key="acc_new_pw1").input(NEW_PW)
    next(b for b in at.sidebar.button if b.label == "修改密码").click().run()
    assert not at.exception
    assert not any("请先修改密码" in s for s in _said(at))
    # the account page now shows its tables, in the same run of the app
    at.switch_page("pages/accounts.py").run()
    assert not at.exception and at.tabs and any("用户名" in df.value.columns for df in at.dataframe)

    next(b for b in at.sidebar.button if b.label == "退出登录").click().run()
    assert "account" not in at.session_state
    at.switch_page("pages/accounts.py").run()
    assert [i.value for i in at.info] == ["请先以系统管理员身份登录，再管理账户。"]

    with Workspace(workspace_path) as ws:
        audit = Accounts(ws).audit()
    events = list(zip(audit["event"], audit["outcome"], strict=True))
    assert ("sign_in", "failed") in events and ("sign_in", "ok") in events and ("sign_out", "ok") in events


def test_the_sign_in_panel_speaks_english(open_app, workspace_path):
    _bootstrap(workspace_path)
    at = open_app("pages/situation.py")
    at.sidebar.radio[0].set_value("en").run()
    _sign_in(at, "admin", "wrong-password-123")
    assert "Unknown username or wrong password." in _said(at)
