"""Single sign-on end to end: headless Chromium, the served app (a copy carrying .streamlit/config.toml and a
secrets.toml with ``[auth]``), and a real OpenID Connect provider on loopback (PyPI ``oidc-provider-mock``, its
authorization-code flow, signed ID tokens, discovery, end-session page) started by the test.

A linked account signs on through Streamlit's ``st.login`` without a password and without the forced password change;
signing out ends it here and at the provider (``st.logout``); an identity without an account gets the localized
"未开通" message and no session.  Every request of the browser goes to the app or to the provider, both on 127.0.0.1.
Screenshots: tests/artifacts/sso/*.png.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from argon2 import PasswordHasher

from data.accounts.accounts import Accounts
from data.storage.workspace import Workspace
from tests.browser import chromium, free_port, running, serve, wait_idle
from tests.conftest import ROOT
from tests.walk import Watch, look

pytestmark = pytest.mark.browser

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
LINKED = "wangmin@zj-emergency"  # the provider's `sub` of the linked account
STRANGER = "stranger@js-emergency"  # a `sub` no account holds

# The provider in its own process (pytest's warnings-as-errors stay out of its threads).  Its pages load a
# stylesheet from cdn.jsdelivr.net; on an intranet test they are served without it (templates _base.html and
# error.html overridden), so that the browser meets no host but the two on loopback.
PROVIDER = r"""
import sys
import jinja2, werkzeug.serving, oidc_provider_mock

app = oidc_provider_mock.app()
app.jinja_loader = jinja2.ChoiceLoader([
    jinja2.DictLoader({
        "_base.html": '<!doctype html><html lang="en"><main class="container">{% block content %}{{ content }}{% endblock %}</main></html>',
        "error.html": '<!doctype html><main><h1>Error: {{ name }}</h1><p>{{ description }}</p></main>',
    }),
    app.jinja_loader,
])
server = werkzeug.serving.make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True)
print("ready", flush=True)
server.serve_forever()
"""


@contextlib.contextmanager
def provider(timeout_s: float = 30) -> Iterator[str]:
    """Run oidc-provider-mock on a free loopback port; yield its issuer URL (= base URL); stop it afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(
        [sys.executable, "-c", PROVIDER, str(port)], ready_url=url + "/.well-known/openid-configuration",
        ready=lambda body: json.loads(body)["issuer"] == url, what="the OIDC provider", timeout_s=timeout_s, poll_s=0.2,
    ):  # fmt: skip
        yield url


@dataclass
class TwoOrigins(Watch):
    """`Watch` of the app that also lets the browser go to the identity provider (and checks its answers)."""

    provider_url: str = ""

    def _mine(self, url: str) -> bool:
        return urlsplit(url).netloc == urlsplit(self.provider_url).netloc

    def _request(self, request, host: str) -> None:
        if not self._mine(request.url):
            super()._request(request, host)

    def _request_failed(self, request, host: str) -> None:
        if self._mine(request.url):
            self.problems.append(f"request to the provider failed: {request.url} ({request.failure})")
        elif "ERR_ABORTED" not in (request.failure or ""):  # scripts still loading when the page leaves for the provider
            super()._request_failed(request, host)

    def _console(self, msg) -> None:
        where = (msg.location or {}).get("url", "")
        if not (self._mine(where) and urlsplit(where).path == "/favicon.ico"):  # the provider has no icon
            super()._console(msg)

    def _response(self, response, host: str) -> None:
        if self._mine(response.url):
            if response.status >= 400 and urlsplit(response.url).path != "/favicon.ico":
                self.problems.append(f"HTTP {response.status} from the provider: {response.url}")
        else:
            super()._response(response, host)


def _app_copy(tmp_path: Path, issuer: str) -> Path:
    """This checkout copied with its .streamlit/config.toml and a secrets.toml whose [auth] names `issuer`."""
    copy = tmp_path / "app"
    keep = shutil.ignore_patterns(".git", ".venv", "build", "artifacts", ".streamlit", "static", "__pycache__", ".pytest_cache", ".hypothesis")
    shutil.copytree(ROOT, copy, ignore=keep)
    (copy / ".streamlit").mkdir()
    shutil.copy(ROOT / ".streamlit" / "config.toml", copy / ".streamlit" / "config.toml")
    (copy / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'  # Streamlit fills in its own port
        'cookie_secret = "sso-browser-test-cookie-secret-0123456789"\n'
        'client_id = "yrd-emergency-app"\n'
        'client_secret = "sso-browser-test-client-secret"\n'
        f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    return copy


def _accounts(workspace_path: Path, issuer: str) -> None:
    """A system administrator and 王敏 (嘉善县 duty officer, initial password never changed) linked to (`issuer`, LINKED)."""
    with Workspace(workspace_path) as ws:
        acc = Accounts(ws, hasher=CHEAP)
        acc.bootstrap(username="admin", display_name="系统管理员", department="emergency", jurisdiction="310000", roles=["sysadmin"],
                      password="管理员-初始口令-2025", by="root")  # fmt: skip
        admin = acc.authenticate("admin", "管理员-初始口令-2025")
        acc.create(admin, username="wangmin", display_name="王敏", department="emergency", jurisdiction="330421", roles=["duty_officer"],
                   password="初始口令-wangmin-2025")  # fmt: skip
        acc.link_oidc(admin, "wangmin", LINKED, issuer=issuer)


def _sign_on(page, app_url: str, idp: str, subject: str, shots: Path, name: str) -> None:
    """Click the SSO button, authorize `subject` on the provider's form, and wait for the app's page again."""
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="单位统一身份认证登录").click()
    page.wait_for_url(re.compile(re.escape(idp) + r"/oauth2/authorize\?"), timeout=30_000)
    page.get_by_placeholder("sub").fill(subject)
    page.screenshot(path=str(shots / f"{name}-provider.png"), full_page=True)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(re.escape(app_url) + "/situation"), timeout=60_000)
    wait_idle(page)


def test_single_sign_on_through_a_local_oidc_provider(dataset, artifacts, tmp_path, workspace_path):
    from playwright.sync_api import expect

    shots = artifacts / "sso"
    shots.mkdir(parents=True, exist_ok=True)
    with provider() as idp:
        _accounts(workspace_path, idp)
        copy = _app_copy(tmp_path, idp)
        with serve(dataset, root=copy) as url, chromium() as browser:
            page = browser.new_page()
            watch = TwoOrigins(url, provider_url=idp).attach(page)
            sidebar = page.locator('[data-testid="stSidebar"]')
            page.goto(url + "/situation")
            wait_idle(page)
            expect(sidebar.get_by_role("button", name="单位统一身份认证登录")).to_be_visible(timeout=60_000)
            page.screenshot(path=str(shots / "1-signed-out.png"), full_page=True)

            # the linked identity: signed in as 王敏, no password, no forced change
            _sign_on(page, url, idp, LINKED, shots, "2-linked")
            expect(sidebar).to_contain_text("已登录：王敏（wangmin），应急管理，嘉善县", timeout=30_000)
            expect(sidebar).to_contain_text("经单位统一身份认证登录")
            assert sidebar.get_by_text("请先修改密码").count() == 0
            assert sidebar.get_by_role("button", name="单位统一身份认证登录").count() == 0
            page.screenshot(path=str(shots / "3-signed-in.png"), full_page=True)
            problems = [p for p in look(page, lang="zh", where="signed in") if "English in the Chinese UI: 'wangmin' in" not in p]  # a username

            # signing out ends it here and at the provider (its end-session page), then back at the app
            sidebar.get_by_role("button", name="退出登录").click()
            page.wait_for_url(re.compile(re.escape(idp) + "/oauth2/end_session"), timeout=30_000)
            page.screenshot(path=str(shots / "4-provider-end-session.png"), full_page=True)
            page.get_by_role("button", name="End session").click()
            page.wait_for_url(re.compile(re.escape(url) + "/situation"), timeout=60_000)
            wait_idle(page)
            expect(sidebar.get_by_role("button", name="单位统一身份认证登录")).to_be_visible(timeout=30_000)
            assert sidebar.get_by_text("已登录").count() == 0
            page.screenshot(path=str(shots / "5-signed-out-again.png"), full_page=True)

            # an identity the provider knows but this system has no account for
            _sign_on(page, url, idp, STRANGER, shots, "6-stranger")
            expect(sidebar).to_contain_text("此统一身份账户未在本系统开通，请联系系统管理员", timeout=30_000)
            assert sidebar.get_by_text("已登录").count() == 0
            expect(sidebar.get_by_role("button", name="退出统一身份认证")).to_be_visible()
            page.screenshot(path=str(shots / "7-stranger.png"), full_page=True)
            problems += look(page, lang="zh", where="stranger")
            # a reload (a new browser session, the provider's cookie still there) signs nobody in either
            page.reload()
            wait_idle(page)
            expect(sidebar).to_contain_text("此统一身份账户未在本系统开通，请联系系统管理员", timeout=30_000)
            assert sidebar.get_by_text("已登录").count() == 0

    assert not watch.problems + problems, "\n".join(watch.problems + problems)
    with Workspace(workspace_path) as ws:
        audit = Accounts(ws).audit()
    rows = list(zip(audit["event"], audit["outcome"], audit["code"], audit["actor"], audit["detail"], strict=True))[::-1]
    signs = [(e, o, c, a) for e, o, c, a, d in rows if e in ("sign_in", "sign_out") and "oidc" in d]
    assert signs[:3] == [("sign_in", "ok", "", "wangmin"), ("sign_out", "ok", "", "wangmin"), ("sign_in", "refused", "oidc_unknown", STRANGER)], signs
    assert signs.count(("sign_in", "refused", "oidc_unknown", STRANGER)) == 2  # once per browser session, not once per rerun
