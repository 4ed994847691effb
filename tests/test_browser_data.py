"""Headless Chromium: upload the issue's GBK list (no ids, no head counts, counties by name), sign in as a data administrator, commit, see the teams on the situation map."""

from __future__ import annotations

import pytest

from data.storage.workspace import Workspace
from tests.browser import chromium, metric, select, serve, wait_idle
from tests.import_files import csv_bytes
from tests.people import PASSWORD, People, cheap_accounts
from tests.test_browser_situation import _pixel
from tests.walk import sign_in

pytestmark = pytest.mark.browser

#: The issue's headers: no id, no head count, the county by name; 规模 is a column the mapping does not know.
HEADERS = ["名称", "经度", "纬度", "类型", "所属部门", "所属区县", "规模"]


def test_upload_a_plain_list_commit_and_see_it_on_the_map(dataset, store, tmp_path, artifacts, workspace_path):
    from layers.situation import view_for_bounds

    with Workspace(workspace_path) as ws:  # a data administrator of 浙江省, where the list's three counties lie
        People(cheap_accounts(ws)).sign_in("zj_admin", "natural_resources", "330000", "data_admin", display_name="浙江省数据管理员")
    counties = store.jurisdictions("county", detail="full").set_index("code")
    points = {code: counties.at[code, "geometry"].representative_point() for code in ("330421", "330109", "330110")}
    rows = [HEADERS] + [
        [f"{counties.at[code, 'name']}导入测试队", f"{p.x:.6f}", f"{p.y:.6f}", "专业救援队伍", "应急管理局", counties.at[code, "name"], str(20 + i)]
        for i, (code, p) in enumerate(points.items(), start=1)
    ]
    upload = tmp_path / "队伍台账.csv"
    upload.write_bytes(csv_bytes(rows, encoding="gbk"))
    teams_before = len(store.layer("teams"))
    errors: list[str] = []

    with serve(dataset) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/manage")
        page.get_by_text("数据管理").first.wait_for(timeout=60_000)
        wait_idle(page)
        select(page, "导入到图层", "救援队伍")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(upload))
        page.get_by_text("文件预览").first.wait_for(timeout=60_000)
        wait_idle(page)
        page.get_by_text("编码 gbk").first.wait_for(timeout=30_000)  # detected, and the preview reads Chinese
        page.get_by_text("3 行未填队员人数").first.wait_for(timeout=30_000)  # a warning, not a refusal
        assert not page.get_by_text("必填字段").count()

        page.get_by_text("文件预览").first.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "data_import_upload.png"))
        select(page, "队员人数", "规模")  # the head counts are in a column the mapping does not know
        page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=60_000)
        wait_idle(page)
        page.get_by_text("字段对应").first.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "data_import_mapping.png"))
        assert metric(page, "通过") == "3" and metric(page, "被拒绝") == "0"
        page.get_by_text("请先在侧栏登录数据管理员账户").first.wait_for(timeout=30_000)  # no typed name: an account imports
        assert page.get_by_role("button", name="提交导入").is_disabled()
        sign_in(page, "zj_admin", PASSWORD + "x")  # the password People set
        page.get_by_text("将以 浙江省数据管理员（zj_admin，浙江省）的身份导入").first.wait_for(timeout=30_000)
        page.get_by_label("数据来源").fill("嘉善县应急管理局 队伍台账")
        page.get_by_label("数据来源").press("Enter")
        wait_idle(page)
        page.get_by_text("地图预览").first.scroll_into_view_if_needed()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(artifacts / "data_import_report.png"))

        page.get_by_role("button", name="提交导入").click()
        page.get_by_text("已导入 3 条记录到“救援队伍”").wait_for(timeout=60_000)
        wait_idle(page)
        assert not page.locator('[data-testid="stException"]').count()

        page.get_by_role("link", name="到态势一张图查看").click()
        page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=60_000)
        wait_idle(page)
        assert metric(page, "救援队伍") == str(teams_before + 3)

        select(page, "省（市）", "浙江省")
        select(page, "地市", "嘉兴市")
        select(page, "区县", "嘉善县")
        expected = int((store.layer("teams")["county_code"] == "330421").sum()) + 1
        assert metric(page, "救援队伍") == str(expected)
        page.wait_for_timeout(1500)
        display = store.jurisdictions("county", detail="display").set_index("code")
        view = view_for_bounds(tuple(display.at["330421", "geometry"].bounds))
        canvas = page.locator('[data-testid="stDeckGlJsonChart"] canvas').first
        x, y = _pixel(points["330421"].x, points["330421"].y, view, canvas.bounding_box())
        tip = page.locator(".deck-tooltip")
        for dx, dy in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (2, 2), (-2, -2)):
            page.mouse.move(x + dx, y + dy)
            page.wait_for_timeout(400)
            if tip.count() and tip.first.is_visible() and "导入测试队" in tip.first.inner_text():
                break
        page.screenshot(path=str(artifacts / "data_import_situation.png"), full_page=True)
        text = tip.first.inner_text()
        assert "嘉善县导入测试队" in text and "队员人数：21" in text and "【示例" not in text
        assert not page.locator('[data-testid="stException"]').count()
    assert not errors, errors


def test_build_a_road_network_on_the_data_page(dataset, artifacts, workspace_path):
    """Signed in as a data administrator, upload the real OSM extract in the road-network tab; the new network is listed and usable."""
    from geo import network as gn
    from tests.conftest import shared_file

    osm = shared_file("osm/shanghai_center.osm")
    folder = gn.networks_dir(dataset)
    with Workspace(workspace_path) as ws:
        People(cheap_accounts(ws)).sign_in("sh_admin", "natural_resources", "310000", "data_admin", display_name="上海市数据管理员")
    try:
        with serve(dataset) as url, chromium() as browser:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(url + "/manage")
            page.get_by_text("数据管理").first.wait_for(timeout=60_000)
            wait_idle(page)
            sign_in(page, "sh_admin", PASSWORD + "x")  # the button is disabled for nobody signed in
            page.get_by_role("tab", name="路网").click()
            page.locator('[data-testid="stForm"] [data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(osm))
            page.get_by_label("路网名称（字母、数字、- 或 _）").fill("sh-center")
            page.get_by_role("button", name="生成路网").click()
            page.get_by_text("路网 sh-center 已生成").first.wait_for(timeout=120_000)
            page.get_by_text("已更新“骨干路网＋本地路网”").first.wait_for(timeout=120_000)  # and stitched onto the backbone
            wait_idle(page)
            page.screenshot(path=str(artifacts / "data_network_built.png"), full_page=True)
        metas = gn.list_networks(folder)
        assert "sh-center" in {m["name"] for m in metas} and metas[0]["name"] == "stitched"  # the new default
        assert gn.load(folder / "sh-center").n_edges > 8000
    finally:
        import shutil

        from geo import stitch

        shutil.rmtree(folder / "sh-center", ignore_errors=True)
        stitch.rebuild(folder)  # no local network left: the stitched one goes, other tests see the backbone as default
