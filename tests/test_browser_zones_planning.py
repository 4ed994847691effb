"""Headless Chromium: the zones & coverage page and the planning page on the embedded dataset."""

from __future__ import annotations

import pytest

from tests.browser import chromium, serve, wait_idle

pytestmark = pytest.mark.browser


def _ready(page):
    page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=90_000)
    wait_idle(page, timeout_ms=90_000)
    page.wait_for_timeout(1500)


def test_zones_and_planning_pages(dataset, artifacts):
    errors: list[str] = []
    with serve(dataset) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/zones")
        _ready(page)
        assert page.get_by_text("责任区、1小时覆盖与跨界互助").is_visible()
        page.screenshot(path=str(artifacts / "zones.png"), full_page=True)
        main = page.locator('[data-testid="stMain"]')
        main.get_by_text("跨界互助", exact=True).click()  # the view radio above the one map
        wait_idle(page)
        page.wait_for_timeout(1500)
        assert page.locator('[data-testid="stDeckGlJsonChart"]').count() == 1  # one map, now the mutual-aid one
        assert main.get_by_text("下载 CSV").is_visible()
        page.screenshot(path=str(artifacts / "zones_mutual_aid.png"), full_page=True)
        main.get_by_text("覆盖指标", exact=True).click()
        wait_idle(page)
        assert page.get_by_text("未覆盖的需求（橙：可达但超时；紫：无路可达）").is_visible()
        assert page.get_by_text("各区县专业救援队伍数").is_visible()

        page.goto(url + "/planning")
        _ready(page)
        assert page.get_by_text("建议新建 3 处").is_visible()
        assert page.get_by_text("需求为区域面积", exact=False).first.is_visible()
        assert page.get_by_text("求解完成：状态 已证明最优").first.is_visible()
        page.screenshot(path=str(artifacts / "planning.png"), full_page=True)
        assert not page.locator('[data-testid="stException"]').count()
    assert not errors, errors
