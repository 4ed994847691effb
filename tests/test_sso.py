"""Single sign-on below the browser: linking an account to an OIDC identity (iss + sub), signing on with it, what ends
such a session, the ``[auth]`` settings that turn it on, and the pages' part (AppTest).  Real workspace, real Argon2.

The whole flow through Streamlit's ``st.login`` against a real OIDC server is tests/test_browser_sso.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from argon2 import PasswordHasher

from data.accounts.accounts import MAX_FAILURES, SESSION_TIME, Accounts, AuthError, Refused, Session
from data.schema import now_beijing
from data.accounts.sso import configured, identity, issuer_of
from data.storage.workspace import Workspace
from layers.accounts import error_text
from pages._shared import widget_key
from tests.walk import english_words

T0 = datetime(2025, 7, 1, 8, 0)
KNOWN = {"310000", "330421"}
ADMIN_PW = "管理员-初始口令-2025"
PW = "值班口令0701-jiashan"
ISS = "https://idp.zj.gov.cn/realms/yrd"
SUB = "3f9c1a7e-5b2d-4c1e-9a0b-2d6f1e8c4b11"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "a-long-random-cookie-secret-for-tests",
    "client_id": "yrd-app", "client_secret": "client-secret-for-tests", "server_metadata_url": ISS + "/.well-known/openid-configuration",
}  # fmt: skip


@pytest.fixture
def ws(tmp_path):
    with Workspace(tmp_path / "ws.duckdb") as w:
        yield w


@pytest.fixture
def acc(ws) -> Accounts:
    return Accounts(ws, hasher=CHEAP, jurisdictions=KNOWN)


@pytest.fixture
def admin(acc) -> Session:
    acc.bootstrap(username="admin", display_name="系统管理员", department="emergency", jurisdiction="310000", roles=["sysadmin"], password=ADMIN_PW, by="root", now=T0)
    return acc.authenticate("admin", ADMIN_PW, now=T0)


@pytest.fixture
def duty(acc, admin):
    """嘉善 duty officer with an initial password (never changed), linked to (ISS, SUB)."""
    acc.create(admin, username="jsduty", display_name="嘉善值班员", department="emergency", jurisdiction="330421", roles=["duty_officer"], password=PW, now=T0)
    return acc.link_oidc(admin, "jsduty", SUB, issuer=ISS, now=T0)


def _audit(acc) -> list[tuple]:
    a = acc.audit()
    return list(zip(a["event"], a["outcome"], a["code"], a["actor"], a["detail"], strict=True))[::-1]


# ---- signing on -------------------------------------------------------------------------------------------
def test_a_linked_identity_signs_on_without_a_password_change_and_is_audited(acc, duty):
    assert (duty.oidc_issuer, duty.oidc_subject) == (ISS, SUB) and duty.must_change_password
    s = acc.authenticate_oidc(ISS, SUB, now=T0 + timedelta(minutes=5), issued_at=T0 + timedelta(minutes=4))
    assert s.account.username == "jsduty" and s.method == "oidc" and not s.must_change
    assert s.issued_at == T0 + timedelta(minutes=4)  # the provider's sign-in, not ours
    assert acc.check(s, now=T0 + timedelta(hours=1)).account.username == "jsduty"  # no 'must_change' refusal
    assert acc.get("jsduty").last_sign_in == T0 + timedelta(minutes=5)
    event, outcome, code, actor, detail = _audit(acc)[-1]
    assert (event, outcome, code, actor) == ("sign_in", "ok", "", "jsduty") and '"method": "oidc"' in detail
    # the password path still insists on the change
    with pytest.raises(AuthError) as e:
        acc.check(acc.authenticate("jsduty", PW, now=T0), now=T0)
    assert e.value.code == "must_change"


def test_an_unknown_identity_gets_no_session_and_the_same_sub_of_another_issuer_is_unknown(acc, duty):
    for issuer, subject in ((ISS, "someone-else"), ("https://idp.js.gov.cn", SUB), (ISS, ""), (ISS + "/", SUB)):
        with pytest.raises(AuthError) as e:
            acc.authenticate_oidc(issuer, subject, now=T0)
        assert e.value.code == "oidc_unknown", (issuer, subject)
    event, outcome, code, actor, detail = _audit(acc)[-4]
    assert (event, outcome, code, actor) == ("sign_in", "refused", "oidc_unknown", "someone-else") and "oidc" in detail
    assert error_text(e.value, "zh", {}) == "此统一身份账户未在本系统开通，请联系系统管理员。"


def test_a_disabled_account_is_refused_and_its_sso_session_ends(acc, admin, duty):
    s = acc.authenticate_oidc(ISS, SUB, now=T0)
    acc.disable(admin, "jsduty", now=T0 + timedelta(minutes=1))
    for attempt in (lambda: acc.authenticate_oidc(ISS, SUB, now=T0 + timedelta(minutes=2)), lambda: acc.check(s, now=T0 + timedelta(minutes=2))):
        with pytest.raises(AuthError) as e:
            attempt()
        assert e.value.code == "disabled"


def test_relinking_or_unlinking_ends_the_sessions_of_the_old_identity(acc, admin, duty):
    s = acc.authenticate_oidc(ISS, SUB, now=T0)
    acc.link_oidc(admin, "jsduty", "new-subject", issuer=ISS, now=T0 + timedelta(minutes=1))
    with pytest.raises(AuthError) as e:
        acc.check(s, now=T0 + timedelta(minutes=2))
    assert e.value.code == "expired"
    s2 = acc.authenticate_oidc(ISS, "new-subject", now=T0 + timedelta(minutes=3))
    assert acc.link_oidc(admin, "jsduty", "  ", issuer="ignored", now=T0 + timedelta(minutes=4)).oidc_subject == ""
    with pytest.raises(AuthError):
        acc.check(s2, now=T0 + timedelta(minutes=5))
    with pytest.raises(AuthError) as e:
        acc.authenticate_oidc(ISS, "new-subject", now=T0 + timedelta(minutes=5))
    assert e.value.code == "oidc_unknown"
    events = [(ev, actor) for ev, _, _, actor, _ in _audit(acc)]
    assert ("link_oidc", "admin") in events and ("unlink_oidc", "admin") in events


def test_twelve_hours_count_from_the_providers_sign_in(acc, duty):
    iat = T0
    s = acc.authenticate_oidc(ISS, SUB, now=T0 + timedelta(hours=11), issued_at=iat)  # a reload 11 h later: same iat
    with pytest.raises(AuthError) as e:
        acc.check(s, now=iat + SESSION_TIME)
    assert e.value.code == "expired"
    with pytest.raises(AuthError) as e:  # a reload after 12 h with the old cookie: sign in at the provider again
        acc.authenticate_oidc(ISS, SUB, now=iat + SESSION_TIME, issued_at=iat)
    assert e.value.code == "expired"
    future = acc.authenticate_oidc(ISS, SUB, now=T0, issued_at=T0 + timedelta(hours=3))  # a provider clock ahead: never later than now
    assert future.issued_at == T0


def test_a_password_lockout_neither_refuses_nor_ends_single_sign_on(acc, duty):
    s = acc.authenticate_oidc(ISS, SUB, now=T0)
    for _ in range(MAX_FAILURES):
        with pytest.raises(AuthError):
            acc.authenticate("jsduty", "wrong-password-1", now=T0)
    assert acc.get("jsduty").locked(T0)
    assert acc.check(s, now=T0 + timedelta(minutes=1)).account.username == "jsduty"
    assert acc.authenticate_oidc(ISS, SUB, now=T0 + timedelta(minutes=1)).method == "oidc"
    with pytest.raises(AuthError) as e:
        acc.authenticate("jsduty", PW, now=T0 + timedelta(minutes=1))
    assert e.value.code == "locked"


def test_sign_out_of_an_sso_session_is_audited_with_its_method(acc, duty):
    acc.sign_out(acc.authenticate_oidc(ISS, SUB, now=T0), now=T0)
    event, outcome, _, actor, detail = _audit(acc)[-1]
    assert (event, outcome, actor) == ("sign_out", "ok", "jsduty") and "oidc" in detail


# ---- linking ------------------------------------------------------------------------------------------------
def test_only_a_sysadmin_links_and_one_identity_links_one_account(acc, admin, duty):
    s = acc.change_password(acc.authenticate("jsduty", PW, now=T0), PW, PW + "!new", now=T0)
    with pytest.raises(Refused):
        acc.link_oidc(s, "admin", "x", issuer=ISS, now=T0)
    with pytest.raises(AuthError) as e:
        acc.link_oidc(admin, "admin", SUB, issuer=ISS, now=T0)
    assert (e.value.code, e.value.params) == ("oidc_taken", {"value": "jsduty"})
    assert acc.link_oidc(admin, "admin", SUB, issuer="https://idp.js.gov.cn", now=T0).oidc_subject == SUB  # another issuer: another identity
    assert acc.link_oidc(admin, "jsduty", SUB, issuer=ISS, now=T0).oidc_subject == SUB  # linking again to its own identity is fine
    for subject, issuer, code in ((SUB, "idp.zj.gov.cn", "bad_issuer"), (SUB, "", "bad_issuer"), ("x" * 256, ISS, "too_long"), ("s", ISS, "unknown_account")):
        with pytest.raises(AuthError) as e:
            acc.link_oidc(admin, "nobody" if code == "unknown_account" else "admin", subject, issuer=issuer, now=T0)
        assert e.value.code == code
        text = error_text(e.value, "zh", {})
        assert not text.startswith("acc.") and not english_words([text.replace(subject, "").replace(issuer, "").replace("nobody", "").replace("http://", "").replace("https://", "")]), text


def test_an_accounts_table_made_before_single_sign_on_gains_its_columns(backend, workspace_path):
    with Workspace(workspace_path) as w:
        with w.transaction("old table: {exc}") as cur:
            cur.execute('CREATE TABLE accounts ("username" VARCHAR PRIMARY KEY, "display_name" VARCHAR, "department" VARCHAR, "jurisdiction" VARCHAR, '
                        '"roles" VARCHAR, "password_hash" VARCHAR, "disabled" BOOLEAN, "must_change_password" BOOLEAN, "failed_count" BIGINT, '
                        '"locked_until" TIMESTAMP, "last_sign_in" TIMESTAMP, "password_changed_at" TIMESTAMP, "created_at" TIMESTAMP, '
                        '"created_by" VARCHAR, "changed_at" TIMESTAMP, "changed_by" VARCHAR)')  # fmt: skip
        acc = Accounts(w, hasher=CHEAP, jurisdictions=KNOWN)
        acc.bootstrap(username="admin", display_name="系统管理员", department="emergency", jurisdiction="310000", roles=["sysadmin"], password=ADMIN_PW, by="root", now=T0)
        admin = acc.authenticate("admin", ADMIN_PW, now=T0)
        acc.link_oidc(admin, "admin", SUB, issuer=ISS, now=T0)
        Accounts(w, hasher=CHEAP)  # a second start: the columns exist already
        assert acc.authenticate_oidc(ISS, SUB, now=T0).account.username == "admin"


# ---- the [auth] settings and the token's claims --------------------------------------------------------------
def test_issuer_is_the_discovery_url_without_its_well_known_path():
    assert issuer_of(ISS + "/.well-known/openid-configuration") == ISS
    assert issuer_of("http://127.0.0.1:9400/.well-known/openid-configuration") == "http://127.0.0.1:9400"
    for bad in ("https://idp.zj.gov.cn/metadata", "/.well-known/openid-configuration", "ftp://x/.well-known/openid-configuration", ""):
        with pytest.raises(ValueError, match="`server_metadata_url` was"):
            issuer_of(bad)


def test_single_sign_on_needs_every_auth_key():
    assert configured(AUTH)
    assert not configured(None) and not configured({})
    for key in AUTH:
        assert not configured({**AUTH, key: ""}), key
        assert not configured({k: v for k, v in AUTH.items() if k != key}), key


def test_identity_reads_iss_sub_and_iat_in_beijing_time():
    who = identity({"iss": ISS, "sub": SUB, "iat": 1751328000, "name": "王敏", "email": "wm@zj.gov.cn", "is_logged_in": True})
    assert (who.issuer, who.subject, who.name) == (ISS, SUB, "王敏")
    assert who.issued_at == datetime(2025, 7, 1, 8, 0)  # 2025-07-01 00:00 UTC
    assert identity({"iss": ISS, "sub": SUB}).issued_at is None
    for claims, missing in (({"sub": SUB}, "iss"), ({"iss": ISS, "sub": " "}, "sub")):
        with pytest.raises(AuthError) as e:
            identity(claims)
        assert e.value.params == {"field": missing}
        assert error_text(e.value, "zh", {}) == f"统一身份认证返回的信息缺少“{ {'iss': '签发方', 'sub': '用户标识'}[missing]}”，无法登录。请联系系统管理员。"


# ---- the pages (AppTest through app.py) ----------------------------------------------------------------------
def _bootstrap(workspace_path, *, link: bool = False) -> None:
    with Workspace(workspace_path) as ws:
        a = Accounts(ws, hasher=CHEAP)
        a.bootstrap(username="admin", display_name="系统管理员", department="emergency", jurisdiction="310000", roles=["sysadmin"], password=ADMIN_PW, by="root", now=now_beijing())
        if link:
            a.link_oidc(a.authenticate("admin", ADMIN_PW), "admin", SUB, issuer=ISS)


def _buttons(at) -> list[str]:
    return [b.label for b in at.sidebar.button]


def test_the_sso_button_shows_only_with_a_complete_auth_section(open_app, workspace_path):
    _bootstrap(workspace_path)
    at = open_app("pages/situation.py")
    assert "单位统一身份认证登录" not in _buttons(at)  # no [auth]: nothing of single sign-on
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    for auth, shown in (({**AUTH, "client_secret": ""}, False), (AUTH, True)):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.secrets["auth"] = auth
        at.run()
        assert not at.exception, at.exception
        assert ("单位统一身份认证登录" in _buttons(at)) is shown, (auth, _buttons(at))
        assert "account" not in at.session_state  # the button alone signs nobody in


def test_the_admin_links_an_account_on_the_accounts_page(open_app, workspace_path):
    _bootstrap(workspace_path)
    at = open_app("pages/accounts.py")
    at.sidebar.text_input(key="acc_user").input("admin")
    at.sidebar.text_input(key="acc_pw").input(ADMIN_PW)
    next(b for b in at.sidebar.button if b.label == "登录").click().run()
    at.switch_page("pages/accounts.py").run()
    at.selectbox(key=widget_key("acc_pick", "zh")).select("admin").run()
    at.text_input(key="acc_oidc_sub@admin").input(SUB)
    at.text_input(key="acc_oidc_iss@admin").input(ISS)
    next(b for b in at.button if b.label == "保存统一身份关联").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [f"账户 admin 已关联统一身份 {SUB}，本人可用“单位统一身份认证登录”。"]
    frame = next(df.value for df in at.dataframe if "统一身份" in df.value.columns)
    assert list(frame["统一身份"]) == [SUB]
    # a bad issuer: a localized refusal, nothing saved
    at.text_input(key="acc_oidc_iss@admin").input("idp.zj.gov.cn")
    next(b for b in at.button if b.label == "保存统一身份关联").click().run()
    assert [e.value for e in at.error] == ["签发方地址“idp.zj.gov.cn”无效：须为以 http:// 或 https:// 开头的完整地址。"]
    with Workspace(workspace_path) as ws:
        stored = Accounts(ws).get("admin")
    assert (stored.oidc_issuer, stored.oidc_subject) == (ISS, SUB)
