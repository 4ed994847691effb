"""Headless Chromium: a cross-province dispatch from 嘉善县 on the default network (the backbone).

The incident is the page's default (嘉善县, 浙江); the teams are narrowed to 青浦区 (上海) and
吴江区 (江苏).  What the browser received is read from the app's own websocket messages (the
deck.gl spec of the map), so the test checks the routes the user sees: one continuous path
per ranked team, from the team to the incident, whose every vertex between the two access legs
is a position of the backbone (nodes, or the snapped positions on its edges).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from geo import network as gn
from tests.browser import chromium, serve, wait_idle
from tests.conftest import ROOT
from tests.walk import Watch

pytestmark = pytest.mark.browser

QINGPU, WUJIANG = "310118", "320509"


def _deck_specs(frames: list[bytes]) -> list[dict]:
    """Every deck.gl spec the server sent (they travel as JSON text inside the protobuf frames)."""
    specs = []
    decoder = json.JSONDecoder()
    for frame in frames:
        text = frame.decode("utf-8", errors="replace") if isinstance(frame, bytes) else frame
        for m in re.finditer(r'\{"initialViewState"', text):
            try:
                spec, _ = decoder.raw_decode(text, m.start())
            except ValueError:
                continue
            specs.append(spec)
    return specs


def _routes(spec: dict) -> list[dict]:
    layer = next((la for la in spec.get("layers", []) if la.get("id") == "routes"), None)
    return [] if layer is None else list(layer["data"])


def _pick(page, label: str, typed: str, option: str) -> None:
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    box.press_sequentially(typed)
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")
    wait_idle(page)


def test_cross_province_dispatch_from_jiashan_on_the_backbone(dataset, artifacts):
    teams = pd.read_csv(ROOT / "data" / "samples" / "teams.csv", dtype=str)
    wanted = teams[teams["county_code"].isin([QINGPU, WUJIANG])]
    at_team = {(round(float(x), 6), round(float(y), 6)): n for x, y, n in zip(wanted["lon"], wanted["lat"], wanted["name"], strict=True)}
    bb = gn.load(gn.networks_dir(dataset) / "backbone")
    nodes = {(round(float(x), 6), round(float(y), 6)) for x, y in zip(bb.node_lon, bb.node_lat, strict=True)}

    frames: list[bytes] = []
    with serve(dataset) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1500})
        watch = Watch(url).attach(page)
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
        page.goto(url + "/dispatch")
        page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=60_000)
        wait_idle(page)
        sidebar = page.locator('[data-testid="stSidebar"]')
        assert sidebar.get_by_role("combobox", name="路网", exact=True).input_value().startswith("backbone（骨干路网，估算")  # the default network
        assert page.get_by_text("骨干路网（估算）：OpenStreetMap 简化骨干路网").is_visible()  # what the answers rest on
        _pick(page, "资源所在区县", "青浦", "青浦区")
        _pick(page, "资源所在区县", "吴江", "吴江区")
        page.wait_for_timeout(1500)
        wait_idle(page)
        assert "所在区县：嘉善县" in page.locator('[data-testid="stCaptionContainer"]').filter(has_text="事件位置吸附").first.inner_text()
        legend = page.get_by_text("路线颜色（与上表排名对应）").locator("xpath=..").inner_text()
        shown = [n for n in wanted["name"] if n in legend]
        assert len(shown) == 5, legend  # five teams ranked, all of 青浦/吴江
        assert page.get_by_text("通知名单（途经辖区值班）").is_visible()
        page.wait_for_timeout(1500)  # let deck.gl draw the routes before the screenshot
        page.screenshot(path=str(artifacts / "dispatch-backbone-jiashan.png"), full_page=True)
        canvas = page.locator('[data-testid="stDeckGlJsonChart"] canvas').first.bounding_box()
        assert watch.problems == [], watch.problems

    specs = [s for s in _deck_specs(frames) if _routes(s)]
    assert specs, "the map never received a route layer"
    routes = _routes(specs[-1])
    assert len(routes) == 5
    incident = tuple(routes[0]["path"][-1])
    for r in routes:
        path = [tuple(p) for p in r["path"]]
        assert path[0] in at_team, path[0]  # starts at a team of 青浦/吴江
        assert at_team[path[0]] in r["tooltip"] and "嘉善县" in r["tooltip"]  # crossing into 嘉善县
        assert path[-1] == incident  # ends at the incident
        assert len(path) >= 6  # more than two access legs: it drives the backbone
        inner = path[2:-2]  # between the snapped positions at both ends, only backbone nodes
        off = [p for p in inner if p not in nodes]
        assert off == [], off[:5]
        legs = np.hypot(np.diff([p[0] for p in path]) * np.cos(np.radians(31)), np.diff([p[1] for p in path])) * 111_320
        assert legs.max() < 30_000  # continuous: no jump longer than the longest backbone edge near here
    # the map frames the whole routes (a detour stays in view): web-mercator extent of the initial view
    view = specs[-1]["initialViewState"]
    deg_per_px = 360.0 / (512.0 * 2 ** float(view["zoom"]))  # deck.gl: 512-px world at zoom 0
    half_w, half_h = canvas["width"] / 2 * deg_per_px, canvas["height"] / 2 * deg_per_px * np.cos(np.radians(view["latitude"]))
    for r in routes:
        xs, ys = np.array([p[0] for p in r["path"]]), np.array([p[1] for p in r["path"]])
        assert (abs(xs - view["longitude"]) <= half_w).all() and (abs(ys - view["latitude"]) <= half_h).all(), r["tooltip"]
    etas = [float(re.search(r"[:：]\s*([\d.]+)", r["tooltip"].split("\n")[1]).group(1)) for r in routes]
    assert etas == sorted(etas) and 15 < etas[0] < 90, etas  # ranked by time; 嘉善 → 青浦/吴江 is a half-hour-to-an-hour drive
