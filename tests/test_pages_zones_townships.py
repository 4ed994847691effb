"""The zones page's township indicators (AppTest through the app's router): the table, the gaps and the map, recomputed
directly with `geo.township.township_indicators` on the same inputs; the hint when no township is imported.

The direct computation reads the townships from the shared file itself (`geo.township.read_townships`),
not from the store, so it checks the import path too: same codes, names, counties and outlines.
The sites are the page's default facilities (上海市, professional teams of the counties near it),
chosen here with the same `geo` helpers; the page's caption says how many it used.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from data.dataset.store import Store
from data.imports.fields import suggest_mapping
from data.imports.importers import ImportContext, commit, validate
from data.imports.readers import read_path
from data.storage.workspace import Workspace
from geo import network as gn
from geo.jurisdiction import near_view, select_area
from geo.nearest import filter_resources
from geo.township import gaps, read_townships, township_indicators
from layers.zones import TOWN_COLOURS
from pages._shared import widget_key
from tests.conftest import frame_with, shared_file
from tests.people import People, cheap_accounts

STREETS = "admin/shanghai_streets_osm.geojson"


def _coverage_view(at, lang: str = "zh"):
    at.session_state["zon_view"] = "cov"
    at.run()
    assert not at.exception, at.exception
    return at


def _deck_layer(at, layer_id: str) -> dict | None:
    deck = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    return next((layer for layer in deck["layers"] if layer["id"] == layer_id), None)


def test_without_townships_the_coverage_view_says_how_to_import_them(open_app):
    at = _coverage_view(open_app("pages/zones.py"))
    assert any("数据管理 → 导入 → 乡镇（街道）范围" in i.value for i in at.info)
    assert _deck_layer(at, "townships") is None and frame_with(at, "覆盖率（%）") is not None  # the county view as before
    at.sidebar.radio[0].set_value("en").run()
    assert not at.exception
    assert any("Data management → Import → Townships (乡镇/街道)" in i.value for i in at.info)


@pytest.fixture
def imported(dataset, workspace_path):
    """The shared street polygons imported by a data administrator of 上海市, the workspace closed again for the app."""
    path = shared_file(STREETS)
    with Workspace(workspace_path) as ws, Store(dataset, workspace=ws) as st:
        raw = read_path(path, prefer="townships")
        report = validate(raw, "townships", suggest_mapping(raw.columns, "townships", has_geometry=raw.has_geometry), ImportContext.from_store(st))
        me = People(cheap_accounts(ws)).sign_in("sh_admin", "natural_resources", "310000", "data_admin")
        commit(report, ws, by=me, accounts=cheap_accounts(ws))
    return path


def test_the_coverage_view_shows_township_indicators_equal_to_a_direct_computation(open_app, imported, store, dataset):
    at = _coverage_view(open_app("pages/zones.py"))
    assert at.session_state["zon_province"] == "310000" and at.session_state["zon_network"] == "backbone"  # the defaults the inputs below follow
    # the same inputs, directly: the file's townships, the teams layer, the page's facilities and network
    towns = read_townships(imported)
    jur = store.jurisdictions()
    area = select_area(jur, province="310000")
    near = near_view(jur[jur["level"] == "county"], area.bounds, factor=1.6)["code"]
    teams = store.layer("teams")
    sites = filter_resources(teams[teams["county_code"].isin(near)], kinds=["professional"])
    meta = next(m for m in gn.list_networks(gn.networks_dir(dataset)) if m["name"] == "backbone")
    want = township_indicators(towns, teams, net=gn.load(meta["path"]), sites_lon=sites.geometry.x, sites_lat=sites.geometry.y)
    assert want["teams"].sum() > 0 and not want["teams_ok"].all() and want["coverage_ok"].any()  # the figures say something

    caption = next(c.value for c in at.caption if "个乡镇（街道）" in c.value)
    assert re.search(rf"^{len(towns)} 个乡镇（街道）", caption) and f"从所选 {len(sites)} 处救援力量出发" in caption
    got = frame_with(at, "专业救援队伍（支）")
    assert got["代码"].tolist() == want["code"].tolist() and got["乡镇（街道）"].tolist() == want["name"].tolist()
    assert got["区县"].tolist() == want["county"].tolist()
    assert got["专业救援队伍（支）"].tolist() == want["teams"].tolist()
    assert got["队伍达标（≥1 支）"].tolist() == np.where(want["teams_ok"], "达标", "未达标").tolist()
    assert got["60 分钟覆盖率（%）"].tolist() == pytest.approx((want["coverage_share"] * 100).round(1).tolist(), abs=1e-9)
    assert got["覆盖达标（100%）"].tolist() == np.where(want["coverage_ok"], "达标", "未达标").tolist()

    want_gaps = gaps(want)
    listed = frame_with(at, "差距")
    assert listed["乡镇（街道）"].tolist() == want_gaps["name"].tolist()
    words = {"no_team": "无专业救援队伍", "not_covered": "未全部覆盖"}
    assert listed["差距"].tolist() == ["；".join(words[r] for r in reasons) for reasons in want_gaps["reasons"]]
    assert listed["未覆盖面积（平方公里）"].tolist() == [f"{v:,.2f}" for v in want_gaps["uncovered_km2"] + 0.0]
    assert any(f"未达标的乡镇（街道）：{len(want_gaps)} 个（共 {len(want)} 个）" in m.value for m in at.markdown)

    layer = _deck_layer(at, "townships")  # the outlines on the map, coloured by gap
    fills = [tuple(f["properties"]["fill"]) for f in layer["data"]["features"]]
    by_code = dict(zip(want_gaps["code"], want_gaps["reasons"], strict=True))
    assert fills == [TOWN_COLOURS[tuple(by_code.get(c, ()))] for c in want["code"]]
    assert len(set(fills)) >= 2
    first = layer["data"]["features"][0]["properties"]["tooltip"]
    assert first.startswith(f"{want['name'].iat[0]}（{want['county'].iat[0]}）") and f"专业救援队伍 {want['teams'].iat[0]} 支" in first

    at.sidebar.radio[0].set_value("en").run()  # the same figures in English
    assert not at.exception
    en = frame_with(at, "Professional teams")
    assert en["Professional teams"].tolist() == want["teams"].tolist()
    assert en["60-min coverage (%)"].tolist() == got["60 分钟覆盖率（%）"].tolist()
    assert set(en["Coverage target (100 %)"]) <= {"met", "not met"}
    assert not pd.concat([got, en], axis=1).astype(str).isin(["None", "nan", "NaN", "<NA>"]).any().any()
    assert at.radio(key=widget_key("zon_view", "en")).value == "cov"
