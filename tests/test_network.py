"""The road-network engine on the real central-Shanghai OSM extract."""

from __future__ import annotations

import bz2
import shutil

import networkx as nx
import numpy as np
import pytest
import shapely

from geo import network as gn
from geo import routing
from geo.jurisdiction import crossings
from tests.conftest import shared_file

OSM = "osm/shanghai_center.osm"
PEOPLES_SQUARE = (121.4737, 31.2304)


@pytest.fixture(scope="module")
def graph():
    return gn.read_osm(shared_file(OSM))


@pytest.fixture(scope="module")
def net(graph):
    return gn.build_from_graph(graph, name="sh-center", source="shanghai_center.osm")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("60", 60.0), (60, 60.0), ("60 km/h", 60.0), ("60km/h", 60.0), ("40 mph", 40 * 1.609344),
        (["60", "40"], 50.0), ("60;80", 70.0), ("CN:urban", None), ("none", None), ("signals", None),
        (None, None), ("", None), ("0", None), (["CN:urban", "40"], 40.0), ("5 knots", 5 * 1.852),
    ],
)  # fmt: skip
def test_parse_maxspeed(value, expected):
    got = gn.parse_maxspeed(value)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_class_speeds_and_emergency_factor():
    assert gn.edge_speed_kph("residential") == 25.0
    assert gn.edge_speed_kph(["residential", "primary"]) == 25.0
    assert gn.edge_speed_kph("primary", "70") == 70.0
    assert gn.edge_speed_kph("primary", emergency_factor=1.2) == pytest.approx(60.0)
    with pytest.raises(ValueError, match="`emergency_factor` was 0"):
        gn.edge_speed_kph("primary", emergency_factor=0)


def test_only_drivable_roads_and_sizes(net):
    assert set(net.highway_names) <= gn.DRIVABLE
    assert 3000 < net.n_nodes < 5000 and 8000 < net.n_edges < 10000


def test_travel_times_equal_networkx_on_200_random_pairs(graph, net):
    """Independent check: networkx Dijkstra on the osmnx graph with weights from its own tags."""
    G = nx.MultiDiGraph()
    for u, v, k, data in graph.edges(keys=True, data=True):
        speed = gn.edge_speed_kph(data.get("highway"), data.get("maxspeed"))
        G.add_edge(u, v, k, tt=float(data["length"]) / (speed / 3.6))
    index = {int(osmid): i for i, osmid in enumerate(net.node_id)}
    rng = np.random.default_rng(2026)
    nodes = np.array(list(G.nodes))
    checked = 0
    for o, d in rng.choice(nodes, size=(260, 2)):
        try:
            expected = nx.shortest_path_length(G, o, d, weight="tt")
        except nx.NetworkXNoPath:
            continue
        s = routing.search(net, index[int(o)], reverse=False, weights=net.edge_time_s)
        assert s.dist[index[int(d)]] == pytest.approx(expected, rel=1e-6, abs=1e-9)
        r = routing.search(net, index[int(d)], reverse=True, weights=net.edge_time_s)
        assert r.dist[index[int(o)]] == pytest.approx(expected, rel=1e-6, abs=1e-9)
        checked += 1
    assert checked >= 200


def _one_way_edge(net, min_len=120.0):
    for e in np.argsort(-np.asarray(net.edge_length_m)):
        u, v = int(net.edge_u[e]), int(net.edge_v[e])
        if net.edge_length_m[e] > min_len and net.edge_between(v, u) < 0 and len(net.edge_coords(e)) == 2:
            return int(e)
    raise AssertionError("no straight one-way edge found")


def test_one_way_street_differs_by_direction(net):
    e = _one_way_edge(net)
    (x0, y0), (x1, y1) = net.edge_coords(e)
    a = (x0 + 0.25 * (x1 - x0), y0 + 0.25 * (y1 - y0))
    b = (x0 + 0.75 * (x1 - x0), y0 + 0.75 * (y1 - y0))
    forward = routing.route(net, a, b)
    backward = routing.route(net, b, a)
    assert forward.edges == [e]  # partial edge only: half the edge
    assert forward.travel_time_s == pytest.approx(0.5 * net.edge_time_s[e] + forward.origin.access_time_s + forward.destination.access_time_s, rel=1e-3)
    assert backward.travel_time_s > forward.travel_time_s + 10


def test_snap_reports_distance_and_refuses_5_km_off(net):
    s = routing.snap(net, *PEOPLES_SQUARE)
    assert s.distance_m < 60 and 0 <= s.fraction <= 1
    off = (121.47, 31.179 - 0.045)  # about 5 km south of the extract
    with pytest.raises(routing.OffNetwork, match=r"off the network: the nearest road .* m away \(limit 1,000 m\)") as info:
        routing.snap(net, *off)
    assert 4500 < info.value.distance_m < 6500
    with pytest.raises(routing.OffNetwork):
        routing.route(net, off, PEOPLES_SQUARE)


def test_snap_is_to_the_nearest_edge_not_node(net):
    """Brute force over every edge geometry agrees with the grid index."""
    rng = np.random.default_rng(5)
    lines = [shapely.LineString(net.edge_coords(e)) for e in range(net.n_edges)]
    proj = net.projection
    for lon, lat in zip(rng.uniform(121.42, 121.53, 40), rng.uniform(31.19, 31.27, 40), strict=True):
        s = routing.snap(net, lon, lat, limit_m=5000)
        px, py = proj.forward(lon, lat)
        best = min(
            shapely.LineString(np.column_stack(proj.forward(*np.asarray(ln.coords).T))).distance(shapely.Point(px, py))
            for ln in lines
        )
        got = shapely.LineString(np.column_stack(proj.forward(*net.edge_coords(s.edge).T))).distance(shapely.Point(px, py))
        assert got == pytest.approx(best, abs=1e-6)


def test_closure_raises_time_and_route_avoids_it(net):
    a, b = PEOPLES_SQUARE, (121.4450, 31.2400)
    before = routing.route(net, a, b)
    mid = before.coords[len(before.coords) // 2]
    closure = shapely.Point(mid).buffer(0.0004)  # about 40 m around a point of the fastest route
    blocked = routing.blocked_edges(net, [closure])
    assert blocked.any()
    after = routing.route(net, a, b, blocked=blocked)
    assert after.travel_time_s > before.travel_time_s
    assert not shapely.LineString(after.coords).intersects(closure)
    assert not set(np.flatnonzero(blocked)) & set(after.edges)


def test_closure_that_cuts_the_network_gives_no_route(net):
    ring = shapely.Point(PEOPLES_SQUARE).buffer(0.01).exterior.buffer(0.0005)  # a moat around the square
    blocked = routing.blocked_edges(net, [ring])
    with pytest.raises(routing.NoRoute, match="no road route"):
        routing.route(net, PEOPLES_SQUARE, (121.4450, 31.2400), blocked=blocked)


def test_route_from_huangpu_to_jingan_lists_both_districts_in_order(net):
    import geopandas as gpd

    districts = gpd.read_file(shared_file("admin/shanghai_districts_geoboundaries.geojson"))
    r = routing.route(net, PEOPLES_SQUARE, (121.4450, 31.2400))
    crossed = crossings(r.coords, r.seg_time_s, districts, code="district", name="district")
    names = [c.name for c in crossed]
    assert names[0] == "黄浦区" and names[-1] == "静安区"
    assert sum(c.time_s for c in crossed) == pytest.approx(r.travel_time_s, rel=1e-9)
    assert sum(c.length_m for c in crossed) == pytest.approx(r.length_m, rel=0.02)
    border = shapely.Point(crossed[1].enter_lon, crossed[1].enter_lat)
    hp = districts.loc[districts["district"] == "黄浦区"].geometry.iloc[0]
    assert hp.boundary.distance(border) < 0.0015  # the crossing point lies on the district border


def test_save_and_load_round_trip(net, tmp_path):
    folder = gn.save(net, tmp_path / "sh")
    loaded = gn.load(folder)
    assert loaded.meta["n_edges"] == net.n_edges
    for key in ("edge_time_s", "fwd_indices", "cell_seg"):
        np.testing.assert_array_equal(loaded.arrays[key], net.arrays[key])
    r1 = routing.route(net, PEOPLES_SQUARE, (121.4450, 31.2400))
    r2 = routing.route(loaded, PEOPLES_SQUARE, (121.4450, 31.2400))
    assert r1.travel_time_s == r2.travel_time_s
    assert [m["name"] for m in gn.list_networks(tmp_path)] == ["sh-center"]


def test_damaged_network_folder_says_rebuild(net, tmp_path):
    folder = gn.save(net, tmp_path / "sh")
    (folder / "edge_time_s.npy").unlink()
    with pytest.raises(gn.NetworkError, match="lacks .*edge_time_s.*rebuild"):
        gn.load(folder)
    with pytest.raises(gn.NetworkError, match="no network at"):
        gn.load(tmp_path / "nothing")


def test_bz2_and_pbf_give_the_same_network(net, tmp_path):
    import osmium

    src = shared_file(OSM)
    bz = tmp_path / "sh.osm.bz2"
    with open(src, "rb") as fin, bz2.open(bz, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    pbf = tmp_path / "sh.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(src)):
            if obj.is_node():
                writer.add_node(obj)
            elif obj.is_way():
                writer.add_way(obj)
    for path in (bz, pbf):
        other = gn.build_from_graph(gn.read_osm(path), name=path.name, source=path.name)
        assert (other.n_nodes, other.n_edges) == (net.n_nodes, net.n_edges), path.name
        assert np.asarray(other.edge_time_s).sum() == pytest.approx(np.asarray(net.edge_time_s).sum(), rel=1e-9)


def test_unknown_file_type_is_refused(tmp_path):
    bad = tmp_path / "roads.shp"
    bad.write_text("x")
    with pytest.raises(gn.NetworkError, match="expected an OSM file"):
        gn.read_osm(bad)


def test_approximate_network_is_marked_estimate(store):
    places = store.layer("places")
    approx = gn.build_approximate(places.geometry.x, places.geometry.y)
    assert approx.estimate and approx.meta["snap_limit_m"] > 10_000
    r = routing.route(approx, PEOPLES_SQUARE, (120.9065, 30.8407))  # to 嘉善
    assert r.estimate
    crow = gn.haversine_m(*PEOPLES_SQUARE, 120.9065, 30.8407)
    assert crow * 1.2 < r.length_m < crow * 2.5


# ---- failures carry a code and parameters: the pages show them in the user's language ------


def _latin_words(text: str, allowed: set[str]) -> set[str]:
    import re

    return set(re.findall(r"[A-Za-z]{2,}", text)) - allowed


#: What may stay Latin in a Chinese message: the OSM format, its file extensions, the example name.
_ZH_ALLOWED = {"OSM", "OpenStreetMap", "osm", "bz", "pbf", "qingpu"}


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("roads.osm", b"garbage"),  # XML ParseError (a SyntaxError): was a traceback on the data page
        ("roads.osm", b""),
        ("roads.osm.bz2", b"xx"),
        ("roads.osm.pbf", b"xx"),  # osmium's RuntimeError: was a traceback too
    ],
)
def test_unreadable_osm_file_is_a_network_error_with_a_code(tmp_path, name, data):
    from layers.dispatch import network_message

    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(gn.NetworkError, match=f"could not read roads from {name}") as caught:
        gn.read_osm(path)
    assert caught.value.code == "unreadable" and caught.value.params == {"file": name}
    message = network_message(caught.value, "zh")
    assert message.startswith(f"无法从文件“{name}”读取道路：") and message.endswith("。")
    assert not _latin_words(message.replace(name, ""), _ZH_ALLOWED), message
    assert network_message(caught.value, "en").startswith(f"Could not read roads from “{name}”: the file is damaged")


def test_osm_file_without_roads_is_a_network_error(tmp_path):
    """Was an IndexError (empty edge lists indexed as floats) on the data page."""
    from layers.dispatch import network_message

    path = tmp_path / "nodes.osm"
    path.write_text('<?xml version="1.0"?><osm version="0.6"><node id="1" lat="31.2" lon="121.4"/></osm>', encoding="utf-8")
    with pytest.raises(gn.NetworkError, match="has no drivable edges") as caught:
        gn.build_osm(path, name="empty-roads", folder=tmp_path / "networks")
    assert caught.value.code == "no_edges" and caught.value.params == {"name": "empty-roads"}
    assert network_message(caught.value, "zh") == "路网 empty-roads 中没有机动车可通行的道路：请确认文件覆盖了该地区的道路。"
    assert not (tmp_path / "networks" / "empty-roads").exists()


def test_every_network_error_reads_in_each_language(net, tmp_path):
    """One failure per code, as `layers.dispatch.network_message` words it: no English text of the
    exception in the Chinese message, the name or file as given, and the English one in English."""
    from layers.dispatch import network_message

    folder = gn.save(net, tmp_path / "sh")
    (folder / "edge_time_s.npy").unlink()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "meta.json").write_text("{not json", encoding="utf-8")
    shp = tmp_path / "roads.shp"
    shp.write_text("x")
    failures = {
        "bad_name": (lambda: gn.check_name("../x"), "../x"),
        "file_missing": (lambda: gn.read_osm(tmp_path / "gone.osm"), "gone.osm"),
        "file_type": (lambda: gn.read_osm(shp), "roads.shp"),
        "bad_arrays": (lambda: gn.build_from_arrays([0.0], [0.0], [0], [3], [1.0], [1.0], [0], ["x"], name="n", source="s"), None),
        "too_few_places": (lambda: gn.build_approximate([121.0, 121.1], [31.0, 31.1]), "2"),
        "not_found": (lambda: gn.load(tmp_path / "nothing"), "nothing"),
        "damaged": (lambda: gn.load(tmp_path / "bad"), "bad"),
        "incomplete": (lambda: gn.load(folder), "sh"),
    }
    for code, (fail, shown) in failures.items():
        with pytest.raises(gn.NetworkError) as caught:
            fail()
        exc = caught.value
        assert exc.code == code, (code, str(exc))
        zh, en = network_message(exc, "zh"), network_message(exc, "en")
        assert zh.endswith("。") and str(exc) not in zh and not _latin_words(zh.replace(shown or "", ""), _ZH_ALLOWED), (code, zh)
        assert "。" not in en and "：" not in en and en != str(exc), (code, en)
        if shown is not None:
            assert shown in zh and shown in en, (code, zh, en)
    offline = network_message(gn.NetworkError("download_failed", "could not download roads"), "zh")  # needs internet to raise
    assert offline.startswith("无法下载道路数据：") and not _latin_words(offline, _ZH_ALLOWED)


def test_a_point_on_a_one_way_junction_leaves_and_enters_through_every_edge():
    """Issue 11: a point exactly on node B snapped onto one edge at B and could only drive that edge
    (here B → A, one-way), so B → C went the long way round (or found no route)."""
    #   A(0) ← B(1) → C(2) → A, and A → D(3) → B closes the loop; every edge one-way
    lon = np.array([121.000, 121.010, 121.010, 121.005])
    lat = np.array([31.000, 31.000, 30.990, 31.010])
    u, v = np.array([1, 1, 2, 0, 3]), np.array([0, 2, 0, 3, 1])
    length = np.array([953.0, 953.0, 1906.0, 1000.0, 1000.0])
    n = gn.build_from_arrays(lon, lat, u, v, length, length / 10.0, np.zeros(5), ["road"], name="t", source="test")
    b, c = (121.010, 31.000), (121.010, 30.990)
    assert routing.route(n, b, c).travel_time_s == pytest.approx(95.3)  # B → C directly (was: B → A → D → B → C, 390.6 s)
    assert routing.route(n, (121.005, 31.000), b).travel_time_s == pytest.approx(95.3 / 2 + 200)  # mid B → A: forwards to A, then A → D → B
    assert routing.route(n, b, (121.005, 31.000)).travel_time_s == pytest.approx(95.3 / 2)  # reached from behind, from B
    s = routing.snap(n, *b)
    assert s.node == 1 and s.distance_m < 1e-6
    assert {a.node for a in routing.entries(n, s, n.edge_time_s)} == {1}
    # mid-edge on a one-way street: leaves only forwards (to A), is reached only from behind (from B)
    m = routing.snap(n, 121.005, 31.000)
    assert m.node == -1 and [a.node for a in routing.exits(n, m, n.edge_time_s)] == [0]
    assert [a.node for a in routing.entries(n, m, n.edge_time_s)] == [1]
