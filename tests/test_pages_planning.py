"""The planning page (AppTest through the router) and the `geo plan` CLI, on the embedded dataset."""

from __future__ import annotations

import re

import json
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pytest

from pages._shared import widget_key
from tests.conftest import ROOT, frame_with

SHARE = "时限内覆盖比例（%）"


def num(text) -> float:
    """A number of a table cell shown as text ('1,234.5')."""
    return float(str(text).replace(",", ""))


@pytest.fixture
def page(open_app):
    return open_app("pages/planning.py", timeout_s=180)


def _table(page):
    return frame_with(page, "指标").set_index("指标")


def test_planning_page_mclp_on_territory_by_default(page):
    caption = " ".join(c.value for c in page.caption)
    assert "需求为区域面积" in caption and "平方公里" in caption and "个网格" in caption  # demand and unit stated
    chosen = frame_with(page, "ID")
    assert len(chosen) == 3
    table = _table(page)
    assert num(table.at["开放的基地/队伍数", "规划后"]) == num(table.at["开放的基地/队伍数", "现状"]) + 3
    assert num(table.at[SHARE, "变化"]) >= 0
    # beyond the limit and no road are separate rows, in km² (Shanghai ≈ 8,003 km² with its waters)
    rows = ["时限内覆盖（平方公里）", "可达但超出时限（平方公里）", "无路可达（平方公里）"]
    total = sum(num(table.at[r, "现状"]) for r in rows)
    assert total == pytest.approx(8002.7, abs=1.0)
    assert num(table.at["可达但超出时限（平方公里）", "现状"]) > 0
    # the solver's status in words (it read "状态 optimal")
    status = " ".join(s.label for s in page.status)
    assert "求解完成：状态 已证明最优" in status and "optimal" not in status, status


def test_status_quo_is_the_same_under_every_model(page):
    before = {}
    for model in ("mclp", "lscp", "pmedian"):
        page.radio(key=widget_key("pln_model", "zh")).set_value(model).run()
        assert not page.exception
        before[model] = _table(page)["现状"].tolist()
    assert before["mclp"] == before["lscp"] == before["pmedian"]


def test_planning_page_lscp_and_pmedian(page):
    mclp_after = num(_table(page).at[SHARE, "规划后"])
    page.radio(key=widget_key("pln_model", "zh")).set_value("lscp").run()
    assert not page.exception
    assert num(_table(page).at[SHARE, "规划后"]) >= mclp_after  # set covering reaches every coverable cell
    page.radio(key=widget_key("pln_model", "zh")).set_value("pmedian").run()
    assert not page.exception
    assert num(_table(page).at["平均到达时间（分钟）", "变化"]) <= 0


def test_population_demand_counts_shanghai_once(page):
    page.radio(key=widget_key("pln_demand", "zh")).set_value("population").run()
    assert not page.exception
    table = _table(page)
    rows = ["时限内覆盖（人）", "可达但超出时限（人）", "无路可达（人）"]
    people = sum(num(table.at[r, "现状"]) for r in rows)
    assert 20e6 < people < 26e6  # Shanghai has about 25 million (nested GeoNames places gave 59.7 million)
    gains = frame_with(page, "ID")["新增覆盖（人）"].map(num)
    assert (gains >= 0).all()
    caption = " ".join(c.value for c in page.caption)
    assert "人口不详，不计入" in caption


def test_planning_page_impossible_settings_are_explained(page):
    page.radio(key=widget_key("pln_cand", "zh")).set_value("grid").run()
    page.number_input(key="pln_spacing").set_value(50.0).run()
    page.number_input(key="pln_p").set_value(30).run()  # far more new sites than grid points
    assert not page.exception
    message = page.error[0].value
    assert message.startswith("新增基地数 p=30 多于可选的候选点（") and "请减少 p" in message, message
    assert re.search(r"[A-Za-z]{2,}", message) is None, message  # no English fragment (it showed "`p` was 30 but only ...")


def test_planning_grid_too_fine_is_explained(page):
    page.radio(key=widget_key("pln_cand", "zh")).set_value("grid").run()
    page.number_input(key="pln_spacing").set_value(1.0).run()
    page.selectbox(key=widget_key("pln_province", "zh")).set_value("320000").run()
    assert not page.exception
    # a 1 km grid over Jiangsu's box (about 530 × 490 km) is over 100,000 candidates
    assert "请加大间距" in page.error[0].value and re.search(r"[A-Za-z]{2,}", page.error[0].value) is None, page.error[0].value


def test_planning_choices_survive_a_language_switch(page):
    page.radio(key=widget_key("pln_demand", "zh")).set_value("nodes").run()
    page.radio(key=widget_key("pln_model", "zh")).set_value("lscp").run()
    page.radio(key=widget_key("pln_cand", "zh")).set_value("grid").run()
    assert not page.exception
    zh = _table(page)["规划后"].tolist()
    page.sidebar.radio[0].set_value("en").run()
    assert not page.exception
    assert page.radio(key=widget_key("pln_model", "en")).value == "lscp"
    assert page.radio(key=widget_key("pln_demand", "en")).value == "nodes"
    assert page.radio(key=widget_key("pln_cand", "en")).value == "grid"
    en = frame_with(page, "Indicator").set_index("Indicator")
    assert en["After"].tolist() == zh
    page.sidebar.radio[0].set_value("zh").run()
    assert not page.exception
    assert page.radio(key=widget_key("pln_model", "zh")).value == "lscp"
    assert _table(page)["规划后"].tolist() == zh
    assert not any("None" in str(v) or "nan" in str(v) for v in _table(page).to_numpy().ravel())


def test_cli_plan_matches_the_library(dataset, tmp_path):
    from geo import network as gn
    from geo import planning

    net = gn.load(gn.networks_dir(dataset) / "approx")
    rng = np.random.default_rng(8)
    c_lon, c_lat = rng.uniform(120.9, 121.6, 15), rng.uniform(30.9, 31.4, 15)
    d_lon, d_lat = rng.uniform(120.9, 121.6, 60), rng.uniform(30.9, 31.4, 60)
    cand = tmp_path / "cand.geojson"
    gpd.GeoDataFrame({"id": [f"C{i}" for i in range(15)]}, geometry=gpd.points_from_xy(c_lon, c_lat), crs=4326).to_file(cand)
    dem = tmp_path / "dem.geojson"
    gpd.GeoDataFrame({"weight": rng.integers(1, 10, 60)}, geometry=gpd.points_from_xy(d_lon, d_lat), crs=4326).to_file(dem)
    proc = subprocess.run(
        [sys.executable, "-m", "geo", "plan", "--network", str(gn.networks_dir(dataset) / "approx"), "--model", "mclp", "--candidates", str(cand), "--demand", str(dem), "--p", "3", "--service-min", "20"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    cost = planning.cost_matrix(net, d_lon, d_lat, c_lon, c_lat, limit_s=1200)
    expected = planning.mclp(cost, gpd.read_file(dem)["weight"].to_numpy(float), p=3, service_s=1200)
    assert out["objective"] == pytest.approx(expected.objective)
    assert out["status"] == "optimal" and out["mip_gap"] == 0 and len(out["chosen"]) == 3 and out["estimate"] is True
    bad = subprocess.run([sys.executable, "-m", "geo", "plan", "--network", str(gn.networks_dir(dataset) / "approx"), "--model", "pmedian", "--candidates", str(cand), "--demand", str(dem)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "`p`" in json.loads(bad.stderr)["message"] and "Traceback" not in bad.stderr


def test_planning_map_fetches_the_boundaries_from_static_files(page):
    """The outlines used to be GeoJSON inside the map's JSON on every run (built, sent and parsed each
    time a duty officer changed p); now they are the static files the browser fetches once."""
    deck = json.loads(page.get("deck_gl_json_chart")[0].proto.json)
    outlines = [layer for layer in deck["layers"] if layer["id"].startswith("boundary")]
    assert outlines and all(isinstance(layer["data"], str) and layer["data"].startswith("app/static/gen/") for layer in outlines)
    for layer in outlines:
        assert (ROOT / "static" / "gen" / layer["data"].removeprefix("app/static/gen/")).is_file()
