"""Headless Chromium, two browser sessions on one served app: the shared board, 叫应 and the briefing download.

Both sign in through the sidebar: 嘉善县's commander (张三) opens the incident and warns; 嘉善县's
fire liaison (李四) answers 嘉善县消防救援大队's call.
"""

from __future__ import annotations

import io
import os

import pytest

from data.storage.workspace import Workspace
from tests.browser import chromium, metric, select, serve, wait_idle
from tests.people import PASSWORD, People, cheap_accounts
from tests.walk import sign_in

pytestmark = pytest.mark.browser

TITLE = "嘉善<script>alert(1)</script>化工泄漏"
SCRIPT_TEXT = "<img src=x onerror=alert(2)>东侧围堰渗漏"
#: The password of tests/people.py's accounts after their first sign-in (it changes the initial PASSWORD).
SIGNED_PW = PASSWORD + "x"


def _accounts(workspace_path) -> None:
    """The two accounts, made in the served app's workspace before it starts (tests/people.py `CAST`)."""
    with Workspace(workspace_path) as ws:
        people = People(cheap_accounts(ws))
        people.sign_in("commander", "emergency", "330421", "commander", display_name="张三")
        people.sign_in("fire", "fire", "330421", "liaison", display_name="李四")


def _session(browser, url: str, username: str):
    """A new browser session (own cookies) on the consultation page, signed in as `username` through the sidebar."""
    page = browser.new_context(viewport={"width": 1500, "height": 1300}, accept_downloads=True).new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))  # an alert() would mean injected script ran
    page.goto(url + "/consultation")
    page.wait_for_selector("text=联合会商：事件、预警叫应与资源请求", timeout=60_000)
    wait_idle(page)
    sign_in(page, username, SIGNED_PW)
    page.locator('[data-testid="stSidebar"]').get_by_text("已登录：", exact=False).wait_for(timeout=30_000)
    return page


def _open_section(page, label: str) -> None:
    page.locator('[data-testid="stMain"]').get_by_text(label, exact=True).click()
    wait_idle(page)


def _feed(page) -> str:
    return page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="最新动态").first.inner_text()


def test_two_sessions_share_the_board_acknowledge_and_download(dataset, artifacts, workspace_path):
    _accounts(workspace_path)
    with serve(dataset) as url, chromium() as browser:
        a = _session(browser, url, "commander")
        a.get_by_label("事件名称").fill(TITLE)
        a.get_by_role("button", name="建立事件档案").click()
        a.wait_for_selector("text=已建立事件", timeout=30_000)
        wait_idle(a)
        assert a.get_by_role("heading", name="YRD-", exact=False).first.inner_text().endswith(TITLE)  # shown as text

        b = _session(browser, url, "fire")
        b.wait_for_selector("text=最新动态", timeout=30_000)
        assert b.get_by_role("heading", name="YRD-", exact=False).first.inner_text().endswith(TITLE)  # the other session opens on the same incident

        # an entry made in A shows up in B without a reload (B's board refreshes itself)
        a.get_by_label("内容", exact=True).fill(SCRIPT_TEXT)
        a.get_by_role("button", name="记录", exact=True).click()
        a.wait_for_selector("text=已保存记录 #2", timeout=30_000)
        b.wait_for_function("t => document.body.innerText.includes(t)", arg=SCRIPT_TEXT, timeout=30_000)
        assert SCRIPT_TEXT in _feed(b) and "张三（嘉善县）" in _feed(b)  # signed by the account, shown by its name

        # A issues a red warning; B answers one call; A's rate goes up without a reload
        _open_section(a, "预警与叫应")
        a.wait_for_timeout(4_000)  # a refresh (every 3 s) keeps the open section
        a.get_by_label("预警内容").fill("红色预警：下风向5公里内人员疏散")
        a.get_by_role("button", name="发布并生成叫应名单").click()
        a.wait_for_selector("text=已发布预警 #3", timeout=30_000)
        wait_idle(a)
        rate = metric(a, "叫应率")
        calls = int(rate.split("/")[1].split("（")[0])
        assert rate.startswith("0/") and calls >= 2

        _open_section(b, "预警与叫应")
        b.wait_for_selector("text=预警 #3 的叫应名单", timeout=30_000)
        wait_idle(b)
        select(b, "记录应答：对象", "嘉善县消防救援大队 · 嘉善县 · 消防救援")  # its own unit: a liaison answers no other
        b.get_by_role("button", name="记录叫应").click()
        try:
            b.wait_for_selector("text=的应答", timeout=30_000)
        finally:
            b.screenshot(path=str(artifacts / "consultation-b-answered.png"), full_page=True)
        wait_idle(b)
        assert metric(b, "叫应率").startswith("1/")
        a.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=\"stMetricValue\"]')].some(e => e.innerText.startsWith('1/'))", timeout=30_000
        )
        assert metric(a, "叫应率") == f"1/{calls}（{100 / calls:.0f}%）"
        a.screenshot(path=str(artifacts / "consultation-a-warnings.png"), full_page=True)
        b.screenshot(path=str(artifacts / "consultation-b-warnings.png"), full_page=True)

        # A builds the briefing and downloads both documents
        _open_section(a, "简报与复盘")
        wait_idle(a)
        a.get_by_role("button", name="生成情况简报（DOCX 和 PDF）").click()
        a.wait_for_selector("text=简报已生成", timeout=60_000)
        wait_idle(a)
        docs = {}
        for label, suffix in (("下载简报 DOCX", ".docx"), ("下载简报 PDF", ".pdf")):
            with a.expect_download(timeout=30_000) as info:
                a.get_by_role("button", name=label).click()
            path = artifacts / f"consultation-briefing{suffix}"
            info.value.save_as(path)
            assert info.value.suggested_filename.endswith(suffix)
            docs[suffix] = path
        from docx import Document
        from pypdf import PdfReader

        docx_text = "\n".join(p.text for p in Document(docs[".docx"]).paragraphs)
        assert TITLE in docx_text
        pdf_text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(docs[".pdf"].read_bytes())).pages)
        assert "<script>alert(1)</script>" in pdf_text and f"1/{calls}" in pdf_text
        a.screenshot(path=str(artifacts / "consultation-a-briefing.png"), full_page=True)

        # the check of the trace stays on screen through the board's timed refreshes (every 3 s)
        a.get_by_role("button", name="校验痕迹链").click()
        a.wait_for_selector("text=/校验于 \\d\\d:\\d\\d:\\d\\d：完整，共 \\d+ 行/", timeout=30_000)
        a.wait_for_timeout(7_000)  # two refreshes later
        assert a.get_by_text("：完整，共 ", exact=False).count() == 1
        for page in (a, b):
            assert not page.locator('[data-testid="stException"]').count()
            assert page.dialogs == []
    if not os.environ.get("YRD_DATABASE_URL"):  # the DuckDB pass: the log went into the workspace file
        assert os.path.getsize(workspace_path) > 0
