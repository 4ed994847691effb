"""The planning page (AppTest through the router) and the `geo plan` CLI, on the embedded dataset."""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pytest

from tests.conftest import ROOT, frame_with


@pytest.fixture
def page(open_app):
    return open_app("pages/planning.py", timeout_s=180)


def test_planning_page_mclp_proposes_p_sites_and_compares(page):
    chosen = frame_with(page, "ID")
    assert len(chosen) == 3
    table = frame_with(page, "指标").set_index("指标")
    assert table.at["开放的基地/队伍数", "规划后"] == table.at["开放的基地/队伍数", "现状"] + 3
    assert table.at["时限内覆盖的人口比例（%）", "变化"] >= 0


def test_planning_page_lscp_and_pmedian(page):
    share = "时限内覆盖的人口比例（%）"
    mclp_after = frame_with(page, "指标").set_index("指标").at[share, "规划后"]
    page.radio(key="pln_model").set_value("lscp").run()
    assert not page.exception
    lscp_after = frame_with(page, "指标").set_index("指标").at[share, "规划后"]
    assert lscp_after >= mclp_after  # set covering reaches every coverable place
    page.radio(key="pln_model").set_value("pmedian").run()
    assert not page.exception
    table = frame_with(page, "指标").set_index("指标")
    assert table.at["平均到达时间（分钟）", "变化"] <= 0


def test_planning_page_impossible_settings_are_explained(page):
    page.radio(key="pln_cand").set_value("grid").run()
    page.number_input(key="pln_spacing").set_value(50.0).run()
    page.number_input(key="pln_p").set_value(30).run()  # far more new sites than grid points
    assert not page.exception
    assert "设置无法求解" in page.error[0].value and "`p`" in page.error[0].value


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
