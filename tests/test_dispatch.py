"""Dispatch orchestration on real data, and the dispatch page (AppTest)."""

from __future__ import annotations

import pytest
import shapely

from geo import network as gn
from geo.dispatch import ON_SCENE_TARGET_S, circle, dispatch, hex_grid, read_closures
from geo.routing import OffNetwork
from tests.conftest import shared_file

QINGPU = (121.0540, 31.1530)  # 青浦区, next to 吴江区 and 嘉善县 (the demonstration zone)


@pytest.fixture(scope="module")
def approx(dataset):
    return gn.load(gn.networks_dir(dataset) / "approx")


@pytest.fixture(scope="module")
def counties(store):
    return store.jurisdictions("county", detail="full")


def test_dataset_build_saves_the_approximate_network(dataset, approx):
    assert approx.estimate and approx.name == "approx"
    assert [m["name"] for m in gn.list_networks(gn.networks_dir(dataset))] == ["approx"]


def test_dispatch_ranks_marks_estimate_and_lists_contacts(approx, store, counties):
    teams = store.layer("teams")
    d = dispatch(approx, QINGPU, teams, counties=counties, contacts=store.table("contacts"), k=5)
    assert d.incident_county == "310118" and d.estimate
    assert list(d.ranked["rank"]) == [1, 2, 3, 4, 5]
    assert d.ranked["eta_s"].is_monotonic_increasing
    assert d.ranked["estimate"].all()
    assert (d.ranked["within_target"] == (d.ranked["eta_s"] <= ON_SCENE_TARGET_S)).all()
    for crosses, row in zip(d.ranked["crosses"], d.ranked.itertuples(), strict=True):
        assert crosses[-1] == "青浦区"  # every route ends in the incident's county
        assert crosses[0] == store.jurisdictions("county").set_index("code").at[row.county_code, "name"]
    crossed_codes = {c.code for cs in d.crossed for c in cs}
    assert set(d.notify["jurisdiction_code"]) <= crossed_codes | {c[:2] + "0000" for c in crossed_codes}
    assert set(d.notify["department"]) <= {"emergency", "police", "transport"}
    assert "310118" in set(d.notify["jurisdiction_code"])


def test_cross_border_team_is_flagged(approx, store, counties):
    teams = store.layer("teams")
    wujiang = teams[teams["county_code"] == "320509"]
    d = dispatch(approx, QINGPU, wujiang, counties=counties, contacts=store.table("contacts"), k=1)
    assert bool(d.ranked["cross_border"].iloc[0])
    assert "吴江区" in d.ranked["crosses"].iloc[0]
    assert d.ranked["provinces"].iloc[0] == ["320000", "310000"]  # Jiangsu, then Shanghai
    flagged = d.notify[d.notify["cross_border"]]
    assert {"320509", "320000"} <= set(flagged["jurisdiction_code"])


def test_closures_in_force_are_named(approx, store, counties):
    teams = store.layer("teams")
    base = dispatch(approx, QINGPU, teams, counties=counties, contacts=store.table("contacts"), k=3)
    first = shapely.LineString(base.routes[0])
    disc = first.interpolate(0.5, normalized=True).buffer(0.01)
    far = circle(118.0, 30.0, 500)  # in Anhui, touches no road near the incident
    d = dispatch(approx, QINGPU, teams, counties=counties, contacts=store.table("contacts"), k=3, closures=[disc, far], closure_names=["积水", "远处"])
    assert "积水" in d.closures_in_force and "远处" not in d.closures_in_force
    assert d.closed_edges > 0


def test_off_network_incident(store, counties):
    road = gn.build_from_graph(gn.read_osm(shared_file("osm/shanghai_center.osm")), name="sh", source="osm")
    with pytest.raises(OffNetwork):
        dispatch(road, QINGPU, store.layer("teams"), counties=counties, contacts=store.table("contacts"))


def test_circle_and_hex_grid():
    c = circle(121.0, 31.0, 1000)
    assert c.contains(shapely.Point(121.0, 31.0))
    assert c.area == pytest.approx(3.1416 * (1000 / 111_195) ** 2 / 0.857, rel=0.02)
    with pytest.raises(ValueError, match="`radius_m` was 0"):
        circle(121.0, 31.0, 0)
    h = hex_grid((120.0, 30.0, 121.0, 31.0), cells_across=10)
    assert len(h) >= 100 and h["lon"].between(120.0, 121.1).all()


def test_read_closures(tmp_path):
    import geopandas as gpd

    p = tmp_path / "c.geojson"
    gpd.GeoDataFrame({"name": ["断桥"]}, geometry=[circle(121.0, 31.0, 200)], crs=4326).to_file(p)
    polys, names = read_closures(p.read_bytes())
    assert names == ["断桥"] and polys[0].is_valid
    pts = tmp_path / "p.geojson"
    gpd.GeoDataFrame(geometry=[shapely.Point(121, 31)], crs=4326).to_file(pts)
    with pytest.raises(ValueError, match="polygons only"):
        read_closures(pts.read_bytes())
    with pytest.raises(ValueError, match="not readable as GeoJSON"):
        read_closures(b"{not json")


@pytest.fixture
def page(open_app):
    return open_app("pages/dispatch.py", timeout_s=60)


def test_dispatch_page_default_answer(page):
    frames = [df.value for df in page.dataframe]
    ranked = frames[0]
    assert len(ranked) == 5 and (ranked["估算"] == "估算").all()
    assert "估算路网" in page.warning[0].value
    assert any("嘉善县" in c.value for c in page.caption)


def test_dispatch_page_bad_coordinates_are_explained(page):
    page.radio(key="dis_how").set_value("coords").run()
    page.text_input(key="dis_coords").input("31.15,121.05").run()
    assert not page.exception
    assert "give longitude first" in page.error[0].value


def test_dispatch_page_stockpile_with_material(page, store):
    inv = store.table("inventory")
    material = inv["material"].value_counts().index[0]
    page.selectbox(key="dis_layer").select("stockpiles").run()
    page.selectbox(key="dis_material").select(material).run()
    assert not page.exception
    ranked = page.dataframe[0].value
    holders = set(store.layer("stockpiles").set_index("id").loc[inv.loc[inv["material"] == material, "stockpile_id"], "name"])
    assert set(ranked["名称"]) <= holders and len(ranked) >= 1


def test_dispatch_page_in_english(page):
    page.session_state["lang"] = "en"
    page.run()
    assert page.title[0].value.startswith("Dispatch")
    assert "ETA (min)" in page.dataframe[0].value.columns
