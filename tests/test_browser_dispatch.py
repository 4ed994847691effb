"""Headless Chromium: the dispatch flow on the embedded dataset (approximate network)."""

from __future__ import annotations

import pytest

from tests.browser import chromium, select, serve, wait_idle

pytestmark = pytest.mark.browser


def _caption(page, prefix: str) -> str:
    return page.locator('[data-testid="stCaptionContainer"]').filter(has_text=prefix).first.inner_text()


def test_dispatch_flow(dataset, artifacts):
    errors: list[str] = []
    with serve(dataset) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1400})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/dispatch")
        page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=60_000)
        wait_idle(page)
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "态势一张图" in nav and "调度辅助" in nav and "shared" not in nav

        # incident in 青浦区: five teams ranked, marked 估算, notify list shown
        select(page, "行政区", "青浦区 (上海市)")
        assert "所在区县：青浦区" in _caption(page, "事件位置吸附")
        table = page.locator('[data-testid="stDataFrame"]').first
        assert table.is_visible()
        assert page.get_by_text("当前为估算路网").is_visible()
        assert page.get_by_text("通知名单（途经辖区值班）").is_visible()

        # choose "map click", then a click on the map moves the incident to the clicked hexagon
        before = _caption(page, "事件位置吸附")
        page.locator('[data-testid="stSidebar"]').get_by_text("点击地图", exact=True).click()
        wait_idle(page)
        canvas = page.locator('[data-testid="stDeckGlJsonChart"] canvas').first
        box = canvas.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.4)
        wait_idle(page)
        page.wait_for_timeout(1000)
        after = _caption(page, "事件位置吸附")
        assert after != before

        # a closure added by clicking is reported
        page.get_by_text("添加封闭区（圆形）").click()
        wait_idle(page)
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        wait_idle(page)
        page.wait_for_timeout(1500)
        assert page.get_by_text("已避开封闭区").or_(page.get_by_text("封闭区未覆盖任何道路")).first.is_visible()
        page.screenshot(path=str(artifacts / "dispatch.png"), full_page=True)
        assert not page.locator('[data-testid="stException"]').count()
    assert not errors, errors
