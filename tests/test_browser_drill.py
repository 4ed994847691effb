"""Headless Chromium, three sessions on one served app: a drill run by its controller and played by two units, ending in the review document (issue 14).

嘉兴市's commander (the controller, 导调) starts a drill from a scenario at 30× speed; its injects
appear on the boards on time: a red warning for 嘉善县, answered by 嘉善县's fire liaison (李四), and a
request to 吴江区, approved by 吴江区's commander (王五).  Neither player sees the injects as injects
(双盲); the controller sees them and downloads the scored review, which names each unit's times.
"""

from __future__ import annotations

import io
import json

import pytest

from data.storage.workspace import Workspace
from tests.browser import chromium, select, serve, wait_idle
from tests.people import PASSWORD, People, cheap_accounts
from tests.walk import sign_in

pytestmark = pytest.mark.browser
SIGNED_PW = PASSWORD + "x"

SCENARIO = json.dumps({
    "title": "浏览器联合演练", "speed": 30,
    "incident": {"title": "嘉善县城区暴雨内涝", "kind": "rainstorm", "level": "III", "county": "嘉善县", "lon": 120.92, "lat": 30.84, "place": "魏塘街道",
                 "jurisdictions": ["吴江区"]},
    "injects": [
        {"at": "+1 min", "kind": "warning", "colour": "red", "county": "嘉善县", "text": "嘉善县气象台发布暴雨红色预警"},
        {"at": "+2 min", "kind": "request", "from": "吴江区", "to": "嘉善县", "resource": "排涝泵车", "quantity": 2, "text": "请求吴江区支援排涝泵车"},
    ],
}, ensure_ascii=False, indent=1)  # fmt: skip


def _accounts(workspace_path) -> None:
    with Workspace(workspace_path) as ws:
        people = People(cheap_accounts(ws))
        people.sign_in("jiaxing", "emergency", "330400", "commander", display_name="赵导调")
        people.sign_in("fire", "fire", "330421", "liaison", display_name="李四")
        people.sign_in("wujiang", "emergency", "320509", "commander", display_name="王五")


def _session(browser, url: str, username: str):
    page = browser.new_context(viewport={"width": 1500, "height": 1300}, accept_downloads=True).new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url + "/consultation")
    page.wait_for_selector("text=联合会商：事件、预警叫应与资源请求", timeout=60_000)
    wait_idle(page)
    sign_in(page, username, SIGNED_PW)
    page.locator('[data-testid="stSidebar"]').get_by_text("已登录：", exact=False).wait_for(timeout=30_000)
    return page


def _section(page, label: str) -> None:
    page.get_by_role("radiogroup", name="栏目").get_by_text(label, exact=True).click()
    wait_idle(page)


def test_a_drill_run_by_a_controller_and_played_by_two_sessions(dataset, artifacts, workspace_path):
    _accounts(workspace_path)
    with serve(dataset) as url, chromium() as browser:
        ctl = _session(browser, url, "jiaxing")
        select(ctl, "事件", "＋ 开始一次演练（导调）")
        ctl.get_by_label("演练脚本（YAML 或 JSON）").fill(SCENARIO)
        ctl.get_by_role("button", name="开始演练").click()
        ctl.wait_for_selector("text=已开始演练 DRILL-", timeout=30_000)
        wait_idle(ctl)

        fire = _session(browser, url, "fire")  # opens on the newest incident: the drill
        fire.wait_for_selector("text=本事件为演练", timeout=30_000)
        _section(fire, "预警与叫应")
        fire.wait_for_selector("text=预警 #3 的叫应名单", timeout=60_000)  # the +1 min inject (2 s at 30×), fired by a board's refresh
        wait_idle(fire)
        shown = fire.locator('[data-testid="stMain"]').inner_text()
        assert "注入" not in shown and "演练开始" not in shown and "drill_start" not in shown  # double-blind: an ordinary warning to the player
        select(fire, "记录应答：对象", "嘉善县消防救援大队 · 嘉善县 · 消防救援")
        fire.get_by_role("button", name="记录叫应").click()
        fire.wait_for_selector("text=的应答", timeout=30_000)
        fire.screenshot(path=str(artifacts / "drill-player-fire.png"), full_page=True)

        wj = _session(browser, url, "wujiang")
        wj.wait_for_selector("text=本事件为演练", timeout=30_000)
        _section(wj, "资源请求")
        wj.wait_for_selector("text=更新请求状态", timeout=60_000)  # the +2 min inject, addressed to 吴江区
        wait_idle(wj)
        wj.get_by_role("button", name="更新").click()  # the first open request, to its first next status: approved
        wj.wait_for_selector("text=已更新为", timeout=30_000)
        wj.screenshot(path=str(artifacts / "drill-player-wujiang.png"), full_page=True)

        _section(ctl, "演练导调与评估")
        ctl.wait_for_selector("text=注入安排", timeout=30_000)
        ctl.wait_for_timeout(4_000)  # a refresh later the board holds both answers
        wait_idle(ctl)
        ctl.screenshot(path=str(artifacts / "drill-controller.png"), full_page=True)
        assert "演练开始" in ctl.locator('[data-testid="stMain"]').inner_text()  # the controller sees the drill's own rows
        with ctl.expect_download(timeout=30_000) as info:
            ctl.get_by_role("button", name="下载评估报告（Word）").click()
        path = artifacts / "drill-review.docx"
        info.value.save_as(path)
        from docx import Document

        doc = Document(io.BytesIO(path.read_bytes()))
        text = "\n".join(p.text for p in doc.paragraphs) + "\n" + "\n".join(c.text for tb in doc.tables for r in tb.rows for c in r.cells)
        assert "【演练】嘉善县城区暴雨内涝 演练评估" in text
        assert "嘉善县消防救援大队" in text and "吴江区" in text and "资源请求" in text
        for page in (ctl, fire, wj):
            assert not page.locator('[data-testid="stException"]').count()
            assert page.errors == [], page.errors
