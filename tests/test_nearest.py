"""Nearest resources by road travel time to an incident, filters, and the geo CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo import crs as gcrs
from geo import network as gn
from geo import routing
from geo.nearest import filter_resources, nearest, prepare
from tests.conftest import ROOT, shared_file

PEOPLES_SQUARE = (121.4737, 31.2304)


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    n = gn.build_from_graph(gn.read_osm(shared_file("osm/shanghai_center.osm")), name="sh-center", source="osm")
    gn.save(n, tmp_path_factory.mktemp("nets") / "sh-center")
    return n


@pytest.fixture(scope="module")
def resources():
    rng = np.random.default_rng(42)
    lon, lat = rng.uniform(121.42, 121.53, 40), rng.uniform(31.19, 31.27, 40)
    return [f"R{i:02d}" for i in range(40)], lon, lat


def test_nearest_equals_a_route_from_every_resource(net, resources):
    ids, lon, lat = resources
    prep = prepare(net, ids, lon, lat)
    answers = nearest(net, PEOPLES_SQUARE, prep, k=5)
    brute = []
    for rid, x, y in zip(ids, lon, lat, strict=True):
        try:
            brute.append((routing.route(net, (x, y), PEOPLES_SQUARE).travel_time_s, rid))
        except (routing.OffNetwork, routing.NoRoute):
            continue
    brute.sort()
    assert [a.id for a in answers] == [rid for _, rid in brute[:5]]
    for a, (t, _) in zip(answers, brute[:5], strict=True):
        assert a.travel_time_s == pytest.approx(t, rel=1e-9)
        assert a.route.coords[-1].tolist() == list(PEOPLES_SQUARE)


def test_direction_matters(net, resources):
    ids, lon, lat = resources
    prep = prepare(net, ids, lon, lat)
    answers = nearest(net, PEOPLES_SQUARE, prep, k=10)
    to_incident = [a.travel_time_s for a in answers]
    from_incident = [routing.route(net, PEOPLES_SQUARE, (lon[ids.index(a.id)], lat[ids.index(a.id)])).travel_time_s for a in answers]
    assert to_incident != pytest.approx(from_incident, rel=1e-6)


def test_closure_changes_the_answer_and_cut_off_resources_drop_out(net, resources):
    ids, lon, lat = resources
    prep = prepare(net, ids, lon, lat)
    first = nearest(net, PEOPLES_SQUARE, prep, k=1)[0]
    x, y = lon[ids.index(first.id)], lat[ids.index(first.id)]
    moat = shapely.Point(x, y).buffer(0.004).exterior.buffer(0.0004)
    blocked = routing.blocked_edges(net, [moat])
    again = nearest(net, PEOPLES_SQUARE, prep, k=5, blocked=blocked)
    assert first.id not in [a.id for a in again]


def test_off_network_resources_are_reported(net):
    prep = prepare(net, ["near", "far"], [121.4737, 121.47], [31.2304, 31.10])
    assert prep.off_network.keys() == {"far"} and prep.off_network["far"] > 5000
    assert [a.id for a in nearest(net, PEOPLES_SQUARE, prep, k=5)] == ["near"]


def test_filters_on_the_sample_data(store):
    teams = store.layer("teams")
    fire = filter_resources(teams, kinds=["fire"])
    assert len(fire) and (fire["kind"] == "fire").all()
    zone = filter_resources(teams, jurisdictions=["310118", "320509", "330421"])
    assert set(zone["county_code"]) == {"310118", "320509", "330421"}
    stock = store.layer("stockpiles")
    inv = store.table("inventory")
    material = inv.sort_values("quantity").iloc[-1]
    held = filter_resources(stock, inv, material=material["material"], min_quantity=float(material["quantity"]))
    assert material["stockpile_id"] in set(held["id"])
    assert len(filter_resources(stock, inv, material=material["material"], min_quantity=float(material["quantity"]) + 1)) < len(held)
    with pytest.raises(ValueError, match="`inventory` is needed"):
        filter_resources(stock, material="帐篷")


def _cli(*args):
    proc = subprocess.run([sys.executable, "-m", "geo", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    assert "Traceback" not in proc.stderr
    return proc


def test_cli_route_json_and_crs(net, tmp_path):
    folder = gn.save(net, tmp_path / "sh-center")
    b = (121.4450, 31.2400)
    proc = _cli("route", "--network", str(folder), "--from", "121.4737,31.2304", "--to", "121.445,31.24")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) >= {"travel_time_s", "length_m", "route", "snap_distance_m", "estimate"}
    assert out["route"]["type"] == "LineString" and out["estimate"] is False
    assert out["travel_time_s"] == pytest.approx(routing.route(net, PEOPLES_SQUARE, b).travel_time_s, rel=1e-6)
    g1 = gcrs.wgs84_to_gcj02(*PEOPLES_SQUARE)
    g2 = gcrs.wgs84_to_gcj02(*b)
    gcj = json.loads(_cli("route", "--network", str(folder), "--crs", "gcj02", "--from", f"{g1[0]:.9f},{g1[1]:.9f}", "--to", f"{g2[0]:.9f},{g2[1]:.9f}").stdout)
    assert gcj["travel_time_s"] == pytest.approx(out["travel_time_s"], rel=1e-4)


def test_cli_avoid_lists_the_closure(net, tmp_path):
    folder = gn.save(net, tmp_path / "sh-center")
    r = routing.route(net, PEOPLES_SQUARE, (121.4450, 31.2400))
    closure = shapely.Point(r.coords[len(r.coords) // 2]).buffer(0.0004)
    path = tmp_path / "flood.geojson"
    gpd.GeoDataFrame({"name": ["积水点"]}, geometry=[closure], crs=4326).to_file(path)
    out = json.loads(_cli("route", "--network", str(folder), "--from", "121.4737,31.2304", "--to", "121.445,31.24", "--avoid", str(path)).stdout)
    assert out["closures_avoided"] == ["积水点"] and out["closed_edges"] > 0
    assert out["travel_time_s"] > r.travel_time_s


def test_cli_nearest_and_network_export(net, tmp_path, resources):
    folder = gn.save(net, tmp_path / "sh-center")
    ids, lon, lat = resources
    res = tmp_path / "teams.geojson"
    gpd.GeoDataFrame({"id": ids}, geometry=gpd.points_from_xy(lon, lat), crs=4326).to_file(res)
    out = json.loads(_cli("nearest", "--network", str(folder), "--at", "121.4737,31.2304", "--resources", str(res), "--k", "3").stdout)
    expected = nearest(net, PEOPLES_SQUARE, prepare(net, ids, lon, lat), k=3)
    assert [r["id"] for r in out["results"]] == [a.id for a in expected]
    edges = tmp_path / "edges.gpkg"
    assert _cli("network", "--network", str(folder), "--out", str(edges)).returncode == 0
    gdf = gpd.read_file(edges)
    assert len(gdf) == net.n_edges
    assert {"u", "v", "length_m", "travel_time_s", "highway"} <= set(gdf.columns)
    assert set(gdf["u"]) <= set(np.asarray(net.node_id).tolist())


def test_cli_errors_are_clear(net, tmp_path):
    folder = gn.save(net, tmp_path / "sh-center")
    off = _cli("route", "--network", str(folder), "--from", "121.47,31.10", "--to", "121.445,31.24")
    assert off.returncode == 2 and json.loads(off.stderr)["error"] == "off_network"
    bad = _cli("route", "--network", str(folder), "--from", "31.2,121.4", "--to", "121.445,31.24")
    assert bad.returncode == 2 and "give longitude first" in json.loads(bad.stderr)["message"]
    missing = _cli("route", "--network", "nowhere", "--from", "121.4,31.2", "--to", "121.445,31.24")
    assert missing.returncode == 2 and "not an OSM file" in json.loads(missing.stderr)["message"]


# ---- issue 11: points on closed roads, outside the region, resources without a road route ----


def _no_latin(text: str) -> bool:
    import re

    return not re.search(r"[A-Za-z]{2,}", text)


def test_incident_inside_a_closure_is_refused_and_names_the_closure(net, resources):
    """Was: the incident moved silently to the nearest open road (a 1.5 km closure: 1.5 km away)."""
    from layers.dispatch import route_message

    ids, lon, lat = resources
    closure = shapely.Point(PEOPLES_SQUARE).buffer(0.015)  # about 1.5 km around the incident
    far = shapely.Point(121.40, 31.30).buffer(0.002)
    blocked = routing.blocked_edges(net, [far, closure])
    with pytest.raises(routing.NoRoute) as caught:
        nearest(net, PEOPLES_SQUARE, prepare(net, ids, lon, lat), k=3, blocked=blocked)
    exc = caught.value
    assert exc.code == "in_closure" and exc.params["which"] == "incident"
    assert 1000 < exc.params["open_road_m"] < 2500 and exc.params["closure"] == 1  # the nearest open road: just outside it
    zh = route_message(exc, "zh", closures=[far, closure], closure_names=["远处", "积水区"])
    assert "封闭区「积水区」内" in zh and f"{exc.params['open_road_m']:,.0f} 米" in zh and _no_latin(zh), zh
    en = route_message(exc, "en", closures=[far, closure], closure_names=["far", "flood"])
    assert "closure “flood”" in en and "。" not in en
    plain = np.asarray(blocked)  # a plain mask (no polygons): the closure is found from the polygons given
    with pytest.raises(routing.NoRoute) as caught:
        nearest(net, PEOPLES_SQUARE, prepare(net, ids, lon, lat), k=3, blocked=plain)
    assert caught.value.params["closure"] is None
    assert "封闭区「积水区」内" in route_message(caught.value, "zh", closures=[far, closure], closure_names=["远处", "积水区"])
    with pytest.raises(routing.NoRoute) as caught:  # a route from it, too
        routing.route(net, PEOPLES_SQUARE, (121.4450, 31.2400), blocked=blocked)
    assert caught.value.code == "in_closure" and caught.value.params["which"] == "origin"


def test_a_closure_beside_the_incident_still_answers(net, resources):
    ids, lon, lat = resources
    beside = shapely.Point(121.4450, 31.2400).buffer(0.002)
    answers = nearest(net, PEOPLES_SQUARE, prepare(net, ids, lon, lat), k=3, blocked=routing.blocked_edges(net, [beside]))
    assert len(answers) == 3


def test_off_network_messages_never_say_inf_and_name_the_region(net):
    from layers.dispatch import off_network_message

    with pytest.raises(routing.OffNetwork) as caught:
        routing.snap(net, 116.40, 39.90)  # Beijing: no road of the Shanghai extract within the search radius
    exc = caught.value
    assert exc.code == "no_road_near" and exc.distance_m == float("inf")
    for lang in ("zh", "en"):
        for in_region in (True, False):
            text = off_network_message(exc, lang, in_region=in_region)
            assert "inf" not in text and "nan" not in text
    assert "沪苏浙皖四省市之外" in off_network_message(exc, "zh", in_region=False)
    assert "outside 沪苏浙皖" in off_network_message(exc, "en", in_region=False)
    assert "公里内没有所选路网的道路" in off_network_message(exc, "zh")
    with pytest.raises(routing.OffNetwork) as near:
        routing.snap(net, 121.47, 31.10)
    assert near.value.code == "off_network" and "米" in off_network_message(near.value, "zh")


def test_resources_without_a_road_route_are_listed_with_the_reason(net):
    """Was: resources cut off by closures (or on an island) simply vanished; none left gave "nothing found"."""
    from layers.dispatch import unreachable_ids, unreachable_message

    cut = (121.4450, 31.2400)
    moat = shapely.Point(cut).buffer(0.004).exterior.buffer(0.0004)
    ids = ["A", "B", "C"]
    lon, lat = [121.4600, 121.4800, cut[0]], [31.2250, 31.2350, cut[1]]
    prep = prepare(net, ids, lon, lat)
    answers = nearest(net, PEOPLES_SQUARE, prep, k=5, blocked=routing.blocked_edges(net, [moat]))
    assert sorted(a.id for a in answers) == ["A", "B"]
    missing = unreachable_ids([a.id for a in answers], ids, prep.off_network, k=5)
    assert missing == ["C"]
    zh = unreachable_message(missing, {"C": "青浦应急物资库"}, "zh", closures_in_force=True)
    assert zh.startswith("1 个符合条件的资源没有道路可达事发地") and "青浦应急物资库" in zh and "封闭区" in zh and _no_latin(zh), zh
    assert "no road route" in unreachable_message(missing, {}, "en", closures_in_force=False)
    assert unreachable_ids(["A", "B"], ids, {}, k=2) == []  # k answers: nothing is known to be unreachable


def test_dispatch_page_says_outside_the_region_not_inf(open_app):
    from pages._shared import widget_key

    page = open_app("pages/dispatch.py", timeout_s=60)
    page.radio(key=widget_key("dis_how", "zh")).set_value("coords").run()
    page.text_input(key="dis_coords").input("116.4000,39.9000").run()  # Beijing
    assert not page.exception
    errors = [e.value for e in page.error]
    assert any("沪苏浙皖四省市之外" in e for e in errors), errors
    assert not any("inf" in e for e in errors), errors


def test_dispatch_page_lists_a_matching_stockpile_without_a_road_route(open_app):
    """The tent example of issue 11 on the default network: the one store with ≥ 1000 tents (徐州)
    has no road from 嘉善县; it was "没有符合条件且道路可达的资源。" (nothing found)."""
    from pages._shared import widget_key

    page = open_app("pages/dispatch.py", timeout_s=60)
    page.selectbox(key=widget_key("dis_layer", "zh")).select("stockpiles").run()
    page.selectbox(key=widget_key("dis_material", "zh")).select("帐篷").run()
    page.number_input(key="dis_min_q").set_value(1000.0).run()
    assert not page.exception
    warnings = [w.value for w in page.warning]
    listed = [w for w in warnings if "没有道路可达事发地" in w]
    if not listed:  # a network that reaches 徐州 ranks it instead
        assert any("徐州" in str(df.value.to_dict()) for df in page.dataframe), warnings
        return
    assert "徐州市救灾物资储备库" in listed[0] and "原因：" in listed[0] and _no_latin(listed[0]), listed
    assert "没有符合条件且道路可达的资源。" not in warnings
    page.sidebar.radio[0].set_value("en").run()
    assert any("no road route to the incident" in w.value and "Reason:" in w.value for w in page.warning)
    page.sidebar.radio[0].set_value("zh").run()
    assert any("徐州市救灾物资储备库" in w.value for w in page.warning)
