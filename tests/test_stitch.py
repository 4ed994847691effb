"""The stitched network (geo.stitch): the real streets of an OSM extract inside its area, the backbone outside.

The extract is ``../shared/data/osm/shanghai_center.osm`` (read in place), the backbone the one
this run's `dataset` fixture built.  Route times are held to networkx over the edges that
``python -m geo network`` exports, with the access legs by the documented per-class rule
(the oracle of tests/test_routing_oracle.py).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pytest
import shapely

from tests.conftest import ROOT, shared_file
from tests.test_routing_oracle import Oracle, close

PEOPLES_SQUARE = (121.4737, 31.2304)
JIASHAN = (120.9252, 30.8309)  # 嘉善县 seat, as in tests/test_backbone.py
JIAXING = (120.7555, 30.7469)  # 嘉兴 南湖区
NANJING_ROAD = (121.4800, 31.2350)  # among the one-way streets east of People's Square
DINGHAI = (122.1065, 30.0160)  # 舟山 定海区: an island cut off from the backbone's main component
EXTRACT = "osm/shanghai_center.osm"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "geo", *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def bb_folder(dataset):
    from geo import network as gn

    return gn.networks_dir(dataset) / "backbone"


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The extract built as a local network in a folder of its own."""
    from geo import network as gn

    folder = tmp_path_factory.mktemp("local")
    return gn.build_osm(shared_file(EXTRACT), name="sh", folder=folder), folder / "sh"


@pytest.fixture(scope="module")
def stitched(bb_folder, local, tmp_path_factory):
    """(stitched network, its folder, oracle over its exported edges)."""
    from geo import network as gn
    from geo import stitch

    folder = tmp_path_factory.mktemp("stitched") / stitch.NAME
    net = stitch.stitch(gn.load(bb_folder), [local[0]])
    gn.save(net, folder)
    gpkg = folder.parent / "edges.gpkg"
    exported = _cli("network", "--network", str(folder), "--out", str(gpkg))
    assert exported.returncode == 0, exported.stderr
    return gn.load(folder), folder, Oracle(gpd.read_file(gpkg, layer="edges"))


def _groups(net, route) -> list[str]:
    """The route's edge classes, local OSM classes as 'street', runs collapsed."""
    names = [net.highway_names[int(net.edge_class[e])] for e in route.edges]
    return [k for k, _ in itertools.groupby("street" if n not in ("backbone", "connector") else n for n in names)]


def _assert_continuous(net, route, origin, destination):
    from geo.network import haversine_m

    assert route.coords[0] == pytest.approx(origin) and route.coords[-1] == pytest.approx(destination)
    for a, b in itertools.pairwise(route.edges):
        end, start = net.edge_coords(a)[-1], net.edge_coords(b)[0]
        assert float(haversine_m(*end, *start)) <= 1.0, f"edges {a} → {b} do not meet"
        assert int(net.edge_v[a]) == int(net.edge_u[b])


def test_route_from_peoples_square_to_jiashan_drives_streets_then_the_backbone(stitched):
    from geo import routing

    net, _, _ = stitched
    r = routing.route(net, PEOPLES_SQUARE, JIASHAN)
    assert _groups(net, r) == ["street", "connector", "backbone"]
    _assert_continuous(net, r, PEOPLES_SQUARE, JIASHAN)
    first = net.highway_names[int(net.edge_class[r.edges[0]])]
    assert first in ("primary", "secondary", "tertiary", "residential", "unclassified", "primary_link", "secondary_link", "tertiary_link")
    back = routing.route(net, JIASHAN, PEOPLES_SQUARE)
    assert _groups(net, back) == ["backbone", "connector", "street"]
    _assert_continuous(net, back, JIASHAN, PEOPLES_SQUARE)


CASES = [("square", "jiashan"), ("jiashan", "square"), ("jiaxing", "nanjing_road"), ("nanjing_road", "jiaxing")]


def _where(net, key: str) -> tuple[float, float]:
    """People's Square and Nanjing Road (by streets), 嘉善县 and 嘉兴 (1–2 km off the backbone) as given."""
    return {"square": PEOPLES_SQUARE, "nanjing_road": NANJING_ROAD, "jiashan": JIASHAN, "jiaxing": JIAXING}[key]


@pytest.mark.parametrize(("origin", "destination"), CASES)
def test_route_time_equals_networkx_over_the_exported_edges(stitched, origin, destination):
    from geo import routing

    net, _, oracle = stitched
    origin, destination = _where(net, origin), _where(net, destination)
    p, q = oracle.place(*origin, "origin"), oracle.place(*destination, "destination")
    want = oracle.time(p, q, oracle.node_times(p))
    got = routing.route(net, origin, destination)
    assert math.isfinite(want) and close(got.travel_time_s, want), (got.travel_time_s, want)
    assert float(got.seg_time_s.sum()) == pytest.approx(want, rel=1e-6)


def test_one_way_streets_count_inside_the_extract(stitched):
    """Jiaxing → Nanjing Road and back differ: the streets keep their one-way rules (the backbone has none)."""
    from geo import routing

    net, _, _ = stitched
    there, back = routing.route(net, JIAXING, NANJING_ROAD), routing.route(net, NANJING_ROAD, JIAXING)
    assert abs(there.travel_time_s - back.travel_time_s) > 1.0
    assert "connector" in _groups(net, there) and "backbone" in _groups(net, there)


def test_access_leg_follows_the_class_of_the_nearest_edge(stitched, bb_folder):
    from geo import backbone, routing
    from geo import network as gn

    net, _, _ = stitched
    on_street = routing.snap(net, *PEOPLES_SQUARE)
    assert net.highway_names[int(net.edge_class[on_street.edge])] not in ("backbone", "connector")
    assert on_street.access_mps == gn.ACCESS_SPEED_KPH / 3.6
    near_backbone = routing.snap(net, *JIASHAN)
    assert net.highway_names[int(net.edge_class[near_backbone.edge])] == "backbone"
    assert near_backbone.access_mps == pytest.approx(backbone.ACCESS_SPEED_KPH / 3.6 / backbone.ACCESS_CIRCUITY, rel=1e-12)
    # networks that state no per-class rule: as before, whatever class is asked for
    bb = gn.load(bb_folder)
    assert routing.access_mps(bb.meta, edge_class="residential") == routing.access_mps(bb.meta)
    assert routing.access_mps({}, edge_class="backbone") == gn.ACCESS_SPEED_KPH / 3.6


def test_backbone_is_dropped_inside_the_area_and_cut_at_its_edge(stitched, bb_folder, local):
    """Backbone length kept = each backbone edge's length × its share outside the area (shapely, independently)."""
    from geo import network as gn
    from geo import stitch

    net, _, _ = stitched
    bb = gn.load(bb_folder)
    area = stitch.area(local[0])
    scc = stitch.largest_scc(local[0])
    assert area.equals(shapely.convex_hull(shapely.multipoints(np.column_stack([local[0].node_lon[scc], local[0].node_lat[scc]]))))
    lines = shapely.linestrings(np.column_stack([bb.node_lon[bb.edge_u], bb.node_lat[bb.edge_u], bb.node_lon[bb.edge_v], bb.node_lat[bb.edge_v]]).reshape(-1, 2, 2))
    outside = np.where(shapely.length(lines) > 0, shapely.length(shapely.difference(lines, area)) / np.where(shapely.length(lines) > 0, shapely.length(lines), 1), 1.0)
    is_bb = np.asarray(net.edge_class) == net.highway_names.index("backbone")
    assert float(np.asarray(net.edge_length_m)[is_bb].sum()) == pytest.approx(float((np.asarray(bb.edge_length_m) * outside).sum()), rel=1e-9)
    assert float(np.asarray(net.edge_time_s)[is_bb].sum()) == pytest.approx(float((np.asarray(bb.edge_time_s) * outside).sum()), rel=1e-9)
    mids = shapely.points((net.node_lon[net.edge_u[is_bb]] + net.node_lon[net.edge_v[is_bb]]) / 2, (net.node_lat[net.edge_u[is_bb]] + net.node_lat[net.edge_v[is_bb]]) / 2)
    assert not shapely.contains_properly(area.buffer(-1e-6), mids).any()  # no backbone left inside
    m = net.meta
    assert m["crossings"] > 4 and 0 <= m["crossings_unjoined"] <= m["crossings"]
    assert m["joins"] == m["crossings"] - m["crossings_unjoined"] + m["nodes_joined"]
    conn = np.asarray(net.edge_class) == net.highway_names.index("connector")
    assert int(conn.sum()) == 2 * m["joins"]
    cu, cv = net.edge_u[conn], net.edge_v[conn]
    straight = gn.haversine_m(net.node_lon[cu], net.node_lat[cu], net.node_lon[cv], net.node_lat[cv])
    assert (straight <= stitch.JOIN_M + 1e-6).all()
    assert np.asarray(net.edge_length_m)[conn] == pytest.approx(straight * 1.3, rel=1e-9)
    assert np.asarray(net.edge_time_s)[conn] == pytest.approx(straight * 1.3 / (30 / 3.6), rel=1e-9)


def test_meta_states_parts_licences_and_rule(stitched, bb_folder):
    net, _, _ = stitched
    m = net.meta
    assert m["kind"] == "stitched" and m["estimate"] is True and m["source"] == "stitched"
    assert [(p["name"], p["kind"]) for p in m["parts"]] == [("backbone", "backbone"), ("sh", "local")]
    assert m["parts"][1]["source"] == "shanghai_center.osm" and "area_lonlat" in m["parts"][1]
    assert "ODbL" in m["licence"] and "scgraph-data" in m["licence"]
    assert m["snap_limit_m"] == 30_000.0 and m["join_m"] == 2_000.0
    assert m["access_by_class"]["backbone"] == m["access_by_class"]["connector"] == {"circuity": 1.3, "speed_kph": 30.0}
    assert m["access_by_class"]["residential"] == {"circuity": 1.0, "speed_kph": 15.0}
    assert set(m["classes"]) >= {"residential", "primary", "backbone", "connector"}


def test_a_route_onto_the_island_is_a_known_gap_on_the_stitched_network_too(stitched, store):
    from geo import backbone, routing

    net, _, _ = stitched
    audit = store.table("network_audit")
    with pytest.raises(routing.NoRoute):
        routing.route(net, PEOPLES_SQUARE, DINGHAI)
    gap = backbone.known_gap(net, audit, routing.snap(net, *PEOPLES_SQUARE).edge, routing.snap(net, *DINGHAI).edge)
    assert gap is not None and gap["kind"] == "component" and "定海区" in gap["county_names"]
    assert backbone.known_gap(net, audit, routing.snap(net, *PEOPLES_SQUARE).edge, routing.snap(net, *JIASHAN).edge) is None
    assert int(net.node_component[net.edge_u[routing.snap(net, *PEOPLES_SQUARE).edge]]) == 0  # the streets join the main component


def test_build_rebuild_replace_remove_and_overlap(bb_folder, local, tmp_path):
    """`geo build --osm` (re)builds the stitched network; rebuild() replaces and removes it; overlaps are refused."""
    from geo import network as gn
    from geo import stitch
    from layers.dispatch import network_message

    folder = tmp_path / "networks"
    folder.mkdir()
    assert stitch.rebuild(folder) is None and not (folder / "stitched").exists()  # nothing to stitch
    os.symlink(bb_folder, folder / "backbone", target_is_directory=True)
    assert stitch.rebuild(folder) is None  # a backbone, no local network
    built = _cli("build", "--osm", str(shared_file(EXTRACT)), "--name", "sh", "--dir", str(folder))
    assert built.returncode == 0, built.stderr
    out = json.loads(built.stdout)
    assert out["stitched"]["network"] == "stitched" and out["stitched"]["joins"] > 0
    metas = gn.list_networks(folder)
    assert [m["name"] for m in metas][:2] == ["stitched", "backbone"] and "sh" in [m["name"] for m in metas]
    listed = json.loads(_cli("list", "--dir", str(folder)).stdout)["networks"]
    assert listed[0]["name"] == "stitched" and listed[0]["n_edges"] == gn.load(folder / "stitched").n_edges
    # replaced
    again = stitch.rebuild(folder, join_m=500.0)
    assert again.meta["join_m"] == 500.0 and gn.load(folder / "stitched").meta["join_m"] == 500.0
    assert again.meta["joins"] < out["stitched"]["joins"]
    # a second extract over the same area: refused, with a message saying what to do; the old one stays whole
    shutil.copytree(folder / "sh", folder / "sh2")
    meta = json.loads((folder / "sh2" / "meta.json").read_text(encoding="utf-8"))
    (folder / "sh2" / "meta.json").write_text(json.dumps({**meta, "name": "sh2"}), encoding="utf-8")
    with pytest.raises(gn.NetworkError, match="overlap; build one extract that covers both") as info:
        stitch.rebuild(folder)
    assert info.value.code == "overlap" and {info.value.params["name"], info.value.params["other"]} == {"sh", "sh2"}
    zh, en = network_message(info.value, "zh"), network_message(info.value, "en")
    assert "相互重叠" in zh and "覆盖两地" in zh and "sh" in zh and "sh2" in zh
    assert "overlap" in en and "covers both" in en
    assert gn.load(folder / "stitched").meta["join_m"] == 500.0
    assert not [p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".old"))]
    cli = _cli("stitch", "--dir", str(folder))
    assert cli.returncode == 2 and "overlap" in json.loads(cli.stderr)["message"]
    # removed with the last local network
    shutil.rmtree(folder / "sh2")
    shutil.rmtree(folder / "sh")
    assert stitch.rebuild(folder) is None and not (folder / "stitched").exists()
    assert (folder / "backbone" / "meta.json").exists()  # the backbone itself is never touched


def test_stitch_refuses_what_is_not_a_backbone_or_a_local_network(bb_folder, local):
    from geo import network as gn
    from geo import stitch

    bb = gn.load(bb_folder)
    with pytest.raises(ValueError, match="`bb` was network 'sh'"):
        stitch.stitch(local[0], [local[0]])
    with pytest.raises(ValueError, match="`locals_` holds \\['backbone'\\]"):
        stitch.stitch(bb, [bb])
    with pytest.raises(ValueError, match="`join_m` was -1"):
        stitch.stitch(bb, [local[0]], join_m=-1)


def test_data_page_builds_a_local_network_and_then_the_stitched_one(open_app, dataset, tmp_path, workspace_path):
    """An uploaded .osm.pbf streams (geo.osm_stream, with the page's progress bar), then the stitched network is rebuilt;
    by a signed-in data administrator (the button is disabled otherwise)."""
    from benchmarks.pbf import write_extract_pbf
    from data.storage.workspace import Workspace
    from geo import network as gn
    from geo import stitch
    from tests.people import People, cheap_accounts

    folder = gn.networks_dir(dataset)
    pbf = write_extract_pbf(shared_file(EXTRACT), tmp_path / "shanghai_center.osm.pbf")
    with Workspace(workspace_path) as ws:
        admin = People(cheap_accounts(ws)).sign_in("sh_admin", "natural_resources", "310000", "data_admin")
    app = open_app("pages/manage.py", timeout_s=300)
    app.session_state["account"] = admin
    app.run()
    try:
        app.file_uploader(key="net_file").set_value(("shanghai_center.osm.pbf", pbf.read_bytes(), "application/octet-stream"))
        app.text_input(key="net_name").input("sh-page")
        next(b for b in app.button if b.label == "生成路网").click().run()
        assert not app.exception, app.exception
        metas = gn.list_networks(folder)
        assert metas[0]["name"] == "stitched" and metas[0]["kind"] == "stitched"
        assert [p["name"] for p in metas[0]["parts"]] == ["backbone", "sh-page"]
        assert gn.load(folder / "sh-page").meta["source"] == "shanghai_center.osm.pbf"
        table = next(df.value for df in app.dataframe if "有向边" in df.value.columns)
        assert "stitched" in table["名称"].tolist() and "sh-page" in table["名称"].tolist()
        said = " ".join(s.value for s in app.success)
        assert "已更新“骨干路网＋本地路网”" in said and "路网 sh-page 已生成" in said
    finally:
        shutil.rmtree(folder / "sh-page", ignore_errors=True)
        stitch.rebuild(folder)  # no local network left: the stitched one goes too
    assert not (folder / "stitched").exists()
