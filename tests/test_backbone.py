"""The OpenStreetMap road backbone (geo/backbone.py): build, size, geometry, routes, audit, provenance, CLI, data page."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from geo import backbone
from geo import network as gn
from geo import routing
from geo.dispatch import dispatch
from geo.nearest import filter_resources
from geo.network import haversine_m

ROOT = Path(__file__).resolve().parent.parent
PEOPLES_SQUARE = (121.4737, 31.2304)
JIASHAN = (120.9252, 30.8309)  # 嘉善县 seat
XUZHOU = (117.2841, 34.2058)
DINGHAI = (122.1066, 30.0197)  # 定海区, on 舟山 island


@pytest.fixture(scope="module")
def bb(dataset):
    return gn.load(gn.networks_dir(dataset) / backbone.NAME)


@pytest.fixture(scope="module")
def audit_table(store):
    return store.table("network_audit")


def test_builds_offline_from_the_installed_package(store, monkeypatch):
    def no_network(*args, **kwargs):
        msg = "the backbone build must not open a network connection"
        raise AssertionError(msg)

    monkeypatch.setattr(socket.socket, "connect", no_network)
    net = backbone.build_backbone(store.jurisdictions("province", detail="full").geometry.values)
    assert backbone.is_backbone(net.meta) and net.estimate
    assert net.meta["source"] == backbone.SOURCE and net.meta["package"] == "scgraph-data 2.0.0"
    assert 20_000 <= net.n_nodes <= 32_000  # 25,476 with the 30 km margin
    assert 60_000 <= net.n_edges <= 100_000  # 81,430 directed = 40,715 roads × 2


def test_saved_backbone_is_two_way_in_metres_at_one_speed(bb, dataset):
    assert [m["name"] for m in gn.list_networks(gn.networks_dir(dataset))] == ["backbone", "approx"]  # the default first, the approximation last
    u, v = np.asarray(bb.edge_u), np.asarray(bb.edge_v)
    forward = set(zip(u.tolist(), v.tolist(), strict=True))
    assert all((b, a) in forward for a, b in forward)  # both directions of every road
    straight = haversine_m(bb.node_lon[u], bb.node_lat[u], bb.node_lon[v], bb.node_lat[v])
    length = np.asarray(bb.edge_length_m)
    long_ = straight > 500
    assert 0.98 < np.median(length[long_] / straight[long_]) < 1.05  # metres, not km
    speed_kph = length / np.asarray(bb.edge_time_s) * 3.6
    assert np.allclose(speed_kph, backbone.SPEED_KPH * bb.meta["emergency_factor"])
    assert bb.meta["snap_limit_m"] == backbone.SNAP_LIMIT_M
    assert (bb.meta["access_circuity"], bb.meta["access_speed_kph"]) == (backbone.ACCESS_CIRCUITY, backbone.ACCESS_SPEED_KPH)


def test_a_node_lies_near_peoples_square(bb):
    assert haversine_m(bb.node_lon, bb.node_lat, *PEOPLES_SQUARE).min() < 200


def test_road_distance_between_county_seats_is_a_plausible_detour(bb, store):
    places = store.layer("places")
    seats = places.sort_values(["population", "id"], ascending=[False, True]).drop_duplicates("county_code")
    lon, lat = seats["lon"].to_numpy(), seats["lat"].to_numpy()
    rng = np.random.default_rng(11)
    ratios, no_route = [], 0
    while len(ratios) + no_route < 80:
        i, j = rng.choice(len(seats), 2, replace=False)
        straight = float(haversine_m(lon[i], lat[i], lon[j], lat[j]))
        if not 20_000 <= straight <= 300_000:
            continue
        try:
            ratios.append(routing.route(bb, (lon[i], lat[i]), (lon[j], lat[j])).length_m / straight)
        except (routing.NoRoute, routing.OffNetwork):
            no_route += 1  # a seat on a cut-off part (舟山, 玉环) or beyond the access limit (嵊泗): listed by the audit
    assert 1.1 <= float(np.median(ratios)) <= 1.5  # 1.20 on this sample
    assert no_route <= 8


def test_the_tent_example_has_a_road_route_on_the_backbone(bb, dataset):
    approx = gn.load(gn.networks_dir(dataset) / "approx")
    with pytest.raises(routing.NoRoute):
        routing.route(approx, JIASHAN, XUZHOU)  # issue 11: no road route on the approximate network
    r = routing.route(bb, JIASHAN, XUZHOU)
    straight = float(haversine_m(*JIASHAN, *XUZHOU))
    assert 1.0 < r.length_m / straight < 1.4
    assert 5 * 3600 < r.travel_time_s < 10 * 3600


def test_dispatch_finds_the_tents_in_xuzhou_and_says_how_much_is_access_leg(bb, store):
    stock = filter_resources(store.layer("stockpiles"), store.table("inventory"), material="帐篷", min_quantity=1000)
    assert stock["id"].tolist() == ["S011"]  # 徐州市救灾物资储备库, 1,870 tents
    d = dispatch(bb, JIASHAN, stock, counties=store.jurisdictions("county", detail="full"), contacts=store.table("contacts"), k=3)
    row = d.ranked.iloc[0]
    assert row["id"] == "S011" and np.isfinite(row["eta_s"]) and d.estimate
    assert 0 < row["access_s"] < row["eta_s"]
    # the access figure is the part of the ETA spent between the points and the road
    snap_o, snap_d = routing.snap(bb, 117.255, 34.25), routing.snap(bb, *JIASHAN)
    assert row["access_s"] == pytest.approx(snap_o.access_time_s + snap_d.access_time_s)


def test_audit_lists_the_cut_off_zhoushan_island_and_no_county_without_nodes(audit_table, bb):
    kinds = audit_table["kind"].value_counts()
    assert kinds.get("no_node", 0) == 0  # every one of the 305 counties has a backbone node
    cut_off = set(audit_table.loc[audit_table["kind"] == "county_cut_off", "county_names"])
    assert {"定海区", "普陀区", "岱山县"} <= cut_off  # 舟山: the bridges to the mainland are missing
    far = audit_table[audit_table["kind"] == "places_far"].set_index("county_names")
    assert far.at["嵊泗县", "n_places"] >= 3  # its islands lie 40–75 km from the nearest backbone node (洋山港)
    comps = audit_table[audit_table["kind"] == "component"]
    zhoushan = comps[comps["county_codes"].str.contains("330902")]
    assert len(zhoushan) == 1 and zhoushan["n_nodes"].iloc[0] >= 50
    assert 10 <= len(comps) <= 40  # 20 on scgraph-data 2.0.0
    assert (comps["component"] >= 1).all() and audit_table["action"].eq("import_osm").all()
    assert comps["n_nodes"].sum() + bb.meta["main_component_nodes"] == bb.n_nodes
    assert bb.meta["audit"] == backbone.audit_records(audit_table)  # what `geo list` prints is the same audit


def test_no_route_onto_the_island_is_a_known_gap(bb, audit_table):
    with pytest.raises(routing.NoRoute):
        routing.route(bb, DINGHAI, PEOPLES_SQUARE)
    gap = backbone.known_gap(bb, audit_table, routing.snap(bb, *DINGHAI).edge, routing.snap(bb, *PEOPLES_SQUARE).edge)
    assert gap is not None and "定海区" in gap["county_names"] and gap["action"] == "import_osm"
    assert backbone.known_gap(bb, audit_table, routing.snap(bb, *JIASHAN).edge) is None


def test_access_leg_rule():
    assert backbone.access_time_s(1000.0) == pytest.approx(1300 / (30 / 3.6))


def test_margin_is_checked():
    with pytest.raises(ValueError, match="`margin_km` was -1"):
        backbone.within_margin(np.zeros(1), np.zeros(1), [], margin_km=-1)
    with pytest.raises(backbone.BackboneError, match="`regions` holds no polygon"):
        backbone.within_margin(np.zeros(1), np.zeros(1), [])


def test_provenance_row(store, bb):
    prov = store.table("provenance").set_index("layer")
    row = prov.loc["backbone"]
    assert "OpenStreetMap" in row["source"] and "scgraph-data 2.0.0" in row["source"]
    assert "© OpenStreetMap contributors" in row["licence"] and "ODbL" in row["licence"] and "MIT" in row["licence"]
    assert row["source_zh"] and row["licence_zh"] and "骨干路网（估算）" in row["note_zh"]
    assert bool(row["real"]) and row["records"] == bb.n_edges


def test_geo_list_prints_the_audit(dataset):
    out = subprocess.run(
        [sys.executable, "-m", "geo", "list", "--dir", str(gn.networks_dir(dataset))], cwd=ROOT, capture_output=True, text=True, check=True
    )
    nets = {n["name"]: n for n in json.loads(out.stdout)["networks"]}
    assert list(nets) == ["backbone", "approx"] and nets["backbone"]["default"] and not nets["approx"]["default"]
    assert "audit" not in nets["approx"]
    entry = nets["backbone"]
    assert entry["estimate_label"] == "骨干路网（估算）" and "main roads only" in entry["meaning"]
    assert any(a["kind"] == "component" and "定海区" in a["county_names"] for a in entry["audit"])
    assert all("geo build --osm" in a["action_text"] for a in entry["audit"])


def test_data_page_shows_the_audit_in_both_languages(open_app):
    from tests.conftest import frame_with

    at = open_app("pages/manage.py")
    audit = frame_with(at, "处理办法")
    assert "区县只连在断开的路段上" in set(audit["问题"]) and any("定海区" in c for c in audit["涉及区县"])
    assert "四省市以外（周边范围）" in set(audit["涉及区县"])
    captions = " ".join(c.value for c in at.caption)
    assert "骨干路网连通性检查" in captions and "骨干路网（估算）" in captions
    at.sidebar.radio[0].set_value("en").run()
    assert not at.exception
    audit = frame_with(at, "What to do")
    assert "part cut off from the main network" in set(audit["Finding"])
    at.sidebar.radio[0].set_value("zh").run()
    assert not at.exception and "处理办法" in frame_with(at, "处理办法").columns


# ---- answers on the backbone say what they contain (issue 11: access rule, labels, gaps) ----------------


def _ten_km_off(net):
    """A point (lon, lat) about 10 km due south of a backbone node whose nearest road is then 8–12 km away."""
    for lon, lat in zip(net.node_lon, net.node_lat, strict=True):
        p = (float(lon), float(lat) - 10_000 / 111_195)
        try:
            s = routing.snap(net, *p)
        except routing.OffNetwork:
            continue
        if 8_000 < s.distance_m < 12_000 and net.node_component[net.edge_u[s.edge]] == 0:
            return p, s
    pytest.fail("no backbone point found whose nearest road is about 10 km away")


def test_access_leg_on_the_backbone_follows_its_stated_rule(bb, dataset):
    p, s = _ten_km_off(bb)
    # straight line × 1.3 at 30 km/h, as the backbone's meta states (was: × 1.0 at 15 km/h on every network)
    assert s.access_time_s == pytest.approx(s.distance_m * backbone.ACCESS_CIRCUITY / (backbone.ACCESS_SPEED_KPH / 3.6), rel=1e-9)
    assert s.access_time_s == pytest.approx(float(backbone.access_time_s(s.distance_m)), rel=1e-9)
    approx = gn.load(gn.networks_dir(dataset) / "approx")
    a = routing.snap(approx, *p)
    assert "access_circuity" not in approx.meta
    assert a.access_time_s == a.distance_m / (gn.ACCESS_SPEED_KPH / 3.6)  # unchanged, to the last bit
    # the route's time holds the same access leg: from the point = from its place on the road + the leg
    if bb.node_component[bb.edge_u[s.edge]] == 0:
        on_road = routing.route(bb, (s.snap_lon, s.snap_lat), JIASHAN)
        assert routing.route(bb, p, JIASHAN).travel_time_s == pytest.approx(on_road.travel_time_s + s.access_time_s, rel=1e-6)


def test_ranked_table_shows_the_access_leg_in_minutes(bb, store):
    from layers.dispatch import access_minutes, ranked_table

    assert access_minutes([0.0, None, float("nan"), 90.0, 125.0]) == ["—", "—", "—", "1.5", "2.1"]
    stock = filter_resources(store.layer("stockpiles"), store.table("inventory"), material="帐篷", min_quantity=1000)
    d = dispatch(bb, JIASHAN, stock, counties=store.jurisdictions("county", detail="full"), contacts=store.table("contacts"), k=3)
    zh = ranked_table(d.ranked, "zh", access=True)
    cols = list(zh.columns)
    assert cols[cols.index("预计到达（分钟）") + 1] == "其中接驳段（分钟）"
    assert zh["其中接驳段（分钟）"].iloc[0] == f"{d.ranked['access_s'].iloc[0] / 60:.1f}"
    assert "Of which access leg (min)" in ranked_table(d.ranked, "en", access=True).columns
    assert "其中接驳段（分钟）" not in ranked_table(d.ranked, "zh").columns  # other networks: as before


def _cli(*args):
    out = subprocess.run([sys.executable, "-m", "geo", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_cli_route_and_nearest_on_the_backbone_say_so_and_give_the_access_leg(bb, dataset, tmp_path):
    folder = str(gn.networks_dir(dataset) / backbone.NAME)
    ans = _cli("route", "--network", folder, "--from", "%f,%f" % JIASHAN, "--to", "%f,%f" % XUZHOU)
    r = routing.route(bb, JIASHAN, XUZHOU)
    assert ans["estimate"] is True and ans["estimate_label"] == "骨干路网（估算）"
    assert ans["access_s"] == pytest.approx(r.origin.access_time_s + r.destination.access_time_s, abs=1e-5)
    assert ans["travel_time_s"] == pytest.approx(r.travel_time_s, abs=1e-5) and "main roads only" in ans["estimate_meaning"]
    csv = tmp_path / "res.csv"
    csv.write_text("id,lon,lat\nxz,%f,%f\n" % XUZHOU, encoding="utf-8")
    near = _cli("nearest", "--network", folder, "--at", "%f,%f" % JIASHAN, "--resources", str(csv), "--k", "1")
    assert near["estimate_label"] == "骨干路网（估算）"
    assert near["results"][0]["estimate_label"] == "骨干路网（估算）" and near["results"][0]["access_s"] > 0
    approx = _cli("route", "--network", str(gn.networks_dir(dataset) / "approx"), "--from", "%f,%f" % JIASHAN, "--to", "%f,%f" % PEOPLES_SQUARE)
    assert approx["estimate_label"] == "估算" and "estimate_meaning" not in approx and "access_s" in approx


def _no_english(texts):
    import re

    return [s for s in texts if re.search(r"[A-Za-z]{3,}", s.replace("OpenStreetMap", "").replace("OSM", ""))]


def test_dispatch_page_on_the_backbone_finds_the_tents_in_xuzhou(open_app):
    from pages._shared import widget_key
    from tests.conftest import frame_with

    at = open_app("pages/dispatch.py")
    net_box = at.selectbox(key=widget_key("dis_network", "zh"))
    assert net_box.value == "backbone"  # the default network
    assert "骨干路网，估算" in net_box.format_func("backbone")  # not the approximate network's wording
    at.selectbox(key=widget_key("dis_layer", "zh")).select("stockpiles").run()
    at.selectbox(key=widget_key("dis_material", "zh")).select("帐篷").run()
    at.number_input(key="dis_min_q").set_value(1000.0).run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("骨干路网（估算）：") and "30 千米/小时" in w for w in warnings), warnings
    assert not any("当前为估算路网" in w for w in warnings)
    ranked = frame_with(at, "其中接驳段（分钟）")
    assert ranked["名称"].tolist() == ["徐州市救灾物资储备库"]
    eta = ranked["预计到达（分钟）"].iloc[0]
    assert 5 * 60 < float(eta) < 10 * 60 and float(ranked["其中接驳段（分钟）"].iloc[0]) > 0
    texts = warnings + [i.value for i in at.info] + [c.value for c in at.caption] + [e.value for e in at.error]
    assert _no_english(texts) == [], _no_english(texts)
    before = ranked.to_dict("list")
    at.sidebar.radio[0].set_value("en").run()
    assert not at.exception and at.selectbox(key=widget_key("dis_network", "en")).value == "backbone"
    assert any(w.value.startswith("Road backbone (骨干路网, estimate)") for w in at.warning)
    assert frame_with(at, "Of which access leg (min)")["Name"].tolist() == ["徐州市救灾物资储备库"]
    at.sidebar.radio[0].set_value("zh").run()
    assert not at.exception and frame_with(at, "其中接驳段（分钟）").to_dict("list") == before


def test_dispatch_page_says_the_island_is_a_known_gap(open_app):
    from pages._shared import widget_key

    at = open_app("pages/dispatch.py")
    at.selectbox(key=widget_key("dis_network", "zh")).select("backbone").run()
    at.radio(key=widget_key("dis_how", "zh")).set_value("coords").run()
    at.text_input(key="dis_coords").set_value("%.4f,%.4f" % PEOPLES_SQUARE).run()
    at.selectbox(key=widget_key("dis_layer", "zh")).select("bases").run()
    at.multiselect(key=widget_key("dis_where", "zh")).set_value(["330902", "310101"]).run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    gap = [w for w in warnings if "已知数据缺口" in w]
    assert gap and "定海区" in gap[0] and "导入该地区的 OSM 道路" in gap[0], warnings
    assert _no_english(warnings) == [], _no_english(warnings)
    # the last resort: the place-to-place approximation gives the island's bases a time, marked as such
    assert any(c.value.startswith("最后手段") and "approx" in c.value for c in at.caption)
    fallback = [d.value for d in at.dataframe if "预计到达（分钟）" in d.value.columns and "舟山" in "".join(map(str, d.value["名称"]))]
    assert fallback and fallback[0]["预计到达（分钟）"].map(float).gt(60).all(), [d.value for d in at.dataframe]


def test_cli_commands_use_the_default_network_without_network(bb, dataset, tmp_path):
    """Without `--network` the CLI answers on the default saved network (the backbone here), as the pages do."""
    env = {**os.environ, "YRD_DATASET": str(dataset)}
    run = subprocess.run(
        [sys.executable, "-m", "geo", "route", "--from", "%f,%f" % JIASHAN, "--to", "%f,%f" % XUZHOU], cwd=ROOT, capture_output=True, text=True, check=True, env=env
    )
    ans = json.loads(run.stdout)
    assert ans["estimate_label"] == "骨干路网（估算）"
    assert ans["travel_time_s"] == pytest.approx(routing.route(bb, JIASHAN, XUZHOU).travel_time_s, abs=1e-5)
    empty = tmp_path / "none" / "yrd.duckdb"
    bad = subprocess.run(
        [sys.executable, "-m", "geo", "route", "--from", "%f,%f" % JIASHAN, "--to", "%f,%f" % XUZHOU], cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "YRD_DATASET": str(empty)},
    )  # fmt: skip
    assert bad.returncode != 0 and "no saved network" in bad.stderr and "Traceback" not in bad.stderr
