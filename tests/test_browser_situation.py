"""Headless Chromium against the served app: the situation page, its toggles, filters and tooltips."""

from __future__ import annotations

import csv
import math
import shutil

import pytest

from tests.browser import chromium, metric, select, serve, wait_idle
from tests.conftest import ROOT

pytestmark = pytest.mark.browser


def _canvas_ready(page):
    page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=60_000)
    wait_idle(page)


def test_situation_page_toggle_filter_screenshot(dataset, store, artifacts):
    teams = store.layer("teams")
    errors: list[str] = []
    with serve(dataset) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        _canvas_ready(page)
        assert page.get_by_text("长三角跨区域应急协同一张图").first.is_visible()
        assert metric(page, "救援队伍") == str(len(teams))

        # toggle a layer off and on again
        sidebar = page.locator('[data-testid="stSidebar"]')
        toggle = sidebar.get_by_text("避难场所", exact=True)
        toggle.click()
        wait_idle(page)
        assert page.get_by_text("避难场所", exact=True).count() >= 1
        toggle.click()
        wait_idle(page)

        # province → city → county
        select(page, "省（市）", "浙江省")
        select(page, "地市", "嘉兴市")
        select(page, "区县", "嘉善县")
        assert metric(page, "救援队伍") == str(int((teams["county_code"] == "330421").sum()))
        assert page.get_by_text("当前范围内：嘉善县").is_visible()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(artifacts / "situation_jiashan.png"), full_page=True)
        assert not page.locator('[data-testid="stException"]').count()
    assert not errors, errors


def _pixel(lon, lat, view, box):
    """Screen pixel of lon/lat in a deck.gl Web-Mercator view (512-px tiles) drawn in `box`."""
    scale = 512 * 2 ** view.zoom

    def merc(lo, la):
        return lo / 360 * scale, (1 - math.log(math.tan(math.pi / 4 + math.radians(la) / 2)) / math.pi) / 2 * scale

    x0, y0 = merc(view.longitude, view.latitude)
    x, y = merc(lon, lat)
    return box["x"] + box["width"] / 2 + (x - x0), box["y"] + box["height"] / 2 + (y - y0)


def test_tooltip_shows_markup_as_text(store, tmp_path, artifacts):
    """A team named with <script> shows literally in the tooltip and injects nothing."""
    from data.dataset.build import build
    from layers.situation import view_for_bounds

    samples = tmp_path / "samples"
    shutil.copytree(ROOT / "data" / "samples", samples)
    counties = store.jurisdictions("county", detail="full")
    jiashan = counties.loc[counties["code"] == "330421"].geometry.iloc[0]
    pt = jiashan.representative_point()
    evil = "<script>window.__pwned=1</script><b>测试队</b>"
    with (samples / "teams.csv").open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerow(["T999", evil, "professional", "emergency", "<img src=x onerror=alert(1)>", "330421", f"{pt.x:.6f}", f"{pt.y:.6f}", "10", "", "示例"])
    dataset = build(tmp_path / "evil.duckdb", samples_dir=samples)

    display = store.jurisdictions("county", detail="display")
    view = view_for_bounds(tuple(display.loc[display["code"] == "330421"].geometry.iloc[0].bounds))
    with serve(dataset) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(url)
        _canvas_ready(page)
        sidebar = page.locator('[data-testid="stSidebar"]')
        for name in ("区域一体化项目", "应急救援基地", "物资储备点", "危险源/隐患点", "避难场所"):
            sidebar.get_by_text(name, exact=True).click()
            wait_idle(page)
        select(page, "省（市）", "浙江省")
        select(page, "地市", "嘉兴市")
        select(page, "区县", "嘉善县")
        page.wait_for_timeout(1500)
        canvas = page.locator('[data-testid="stDeckGlJsonChart"] canvas').first
        x, y = _pixel(pt.x, pt.y, view, canvas.bounding_box())
        tip = page.locator(".deck-tooltip")
        for dx, dy in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (2, 2), (-2, -2)):
            page.mouse.move(x + dx, y + dy)
            page.wait_for_timeout(400)
            if tip.count() and tip.first.is_visible() and "测试队" in tip.first.inner_text():
                break
        page.screenshot(path=str(artifacts / "tooltip_escaped.png"), full_page=True)
        text = tip.first.inner_text()
        assert "<script>window.__pwned=1</script><b>测试队</b>" in text
        assert "<img src=x onerror=alert(1)>" in text
        assert tip.first.locator("script, b, img").count() == 0
        assert page.evaluate("() => window.__pwned === undefined")


def _png_tile() -> bytes:
    """A 256×256 single-colour PNG, written by hand (no imaging library needed)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\0" + bytes((200, 230, 200)) * 256 for _ in range(256))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 256, 256, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_configured_xyz_tiles_are_requested(dataset, tmp_path, artifacts):
    """With a tile URL in config.toml (an intranet tile server here), the map fetches its tiles."""
    import http.server
    import threading

    tile = _png_tile()
    requested: list[str] = []

    class Tiles(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            requested.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "config.toml"
    config.write_text(f'[basemap]\ntile_url = "http://127.0.0.1:{server.server_port}/{{z}}/{{x}}/{{y}}.png"\nname = "测试瓦片"\n', encoding="utf-8")
    try:
        with serve(dataset, config=config) as url, chromium() as browser:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(url)
            _canvas_ready(page)
            page.wait_for_timeout(2000)
            assert page.get_by_text("底图瓦片：测试瓦片").is_visible()
            page.screenshot(path=str(artifacts / "situation_tiles.png"))
    finally:
        server.shutdown()
        server.server_close()
    assert any(p.endswith(".png") and p.count("/") == 3 for p in requested), requested
