"""The streaming ``.osm.pbf`` builder (`geo.osm_stream`) against the osmnx path, and the tiler of the scale benchmark."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from geo import network as gn
from geo import osm_stream, routing
from tests.conftest import shared_file

OSM = "osm/shanghai_center.osm"


@pytest.fixture(scope="module")
def pbf(tmp_path_factory):
    """The central-Shanghai extract rewritten as PBF by osmium (under tmp, never in the repository)."""
    from benchmarks.pbf import write_extract_pbf

    return write_extract_pbf(shared_file(OSM), tmp_path_factory.mktemp("pbf") / "sh.osm.pbf")


@pytest.fixture(scope="module")
def streamed(pbf):
    return osm_stream.build_network(pbf, name="sh-stream")


@pytest.fixture(scope="module")
def osmnx_graph():
    import osmnx as ox

    return ox.graph_from_xml(shared_file(OSM), simplify=False, retain_all=False)


@pytest.fixture(scope="module")
def osmnx_net(osmnx_graph):
    """The osmnx path, with the one rule the streaming builder states on top of osmnx's defaults:
    a chain is not merged across a change of class or maxspeed (``edge_attrs_differ``)."""
    import osmnx as ox

    G = ox.simplify_graph(osmnx_graph, edge_attrs_differ=["highway", "maxspeed"])
    return gn.build_from_graph(G, name="sh-osmnx", source="osm")


@pytest.fixture(scope="module")
def default_net():
    """What `read_osm` gives for XML (osmnx defaults)."""
    return gn.build_from_graph(gn.read_osm(shared_file(OSM)), name="sh-default", source="osm")


def _segments(net: gn.Network) -> np.ndarray:
    """Every directed straight piece of every edge polyline, (lon1, lat1, lon2, lat2), sorted: independent of where chains end."""
    off = np.asarray(net.geom_offsets)
    lon, lat = np.asarray(net.geom_lon), np.asarray(net.geom_lat)
    starts = np.ones(len(lon), dtype=bool)
    starts[off[1:] - 1] = False
    i = np.flatnonzero(starts)
    seg = np.column_stack([lon[i], lat[i], lon[i + 1], lat[i + 1]])
    return seg[np.lexsort(seg.T[::-1])]


def _one_way(seg: np.ndarray) -> np.ndarray:
    """The pieces whose reverse is not a piece too (one-way roads)."""
    fwd = {tuple(r) for r in seg.tolist()}
    return np.array([r for r in seg.tolist() if (r[2], r[3], r[0], r[1]) not in fwd])


# ---- the same roads, lengths and times as osmnx --------------------------------------------


def test_same_road_pieces_lengths_and_times_as_osmnx(streamed, osmnx_net, default_net):
    mine = _segments(streamed)
    for other in (osmnx_net, default_net):
        theirs = _segments(other)
        assert mine.shape == theirs.shape
        assert np.array_equal(mine, theirs)  # same coordinates, same directions (one-way pieces once)
        assert np.sum(streamed.edge_length_m) == pytest.approx(np.sum(other.edge_length_m), rel=1e-9)
    one_way = _one_way(mine)
    assert len(one_way) > 1000 and np.array_equal(one_way, _one_way(_segments(osmnx_net)))
    assert np.sum(streamed.edge_time_s) == pytest.approx(np.sum(osmnx_net.edge_time_s), rel=1e-9)
    # node counts close to osmnx's (chains end at other places only where maxspeed is spelt differently)
    assert abs(streamed.n_nodes - osmnx_net.n_nodes) <= 0.01 * osmnx_net.n_nodes
    assert abs(streamed.n_nodes - default_net.n_nodes) <= 0.02 * default_net.n_nodes


def test_edge_lengths_are_osmnx_great_circle_sums(streamed, osmnx_graph):
    """Every edge's length = the sum of its pieces' great-circle lengths at R = 6,371,009 m (osmnx's own lengths)."""
    off = np.asarray(streamed.geom_offsets)
    lon, lat = np.asarray(streamed.geom_lon), np.asarray(streamed.geom_lat)
    pieces = osm_stream.great_circle_m(lon[:-1], lat[:-1], lon[1:], lat[1:])
    pieces[off[1:-1] - 1] = 0.0  # no piece from one edge's end to the next edge's start
    per_edge = np.add.reduceat(np.append(pieces, 0.0), off[:-1])
    assert np.allclose(per_edge, streamed.edge_length_m, rtol=1e-12, atol=0)
    total_osmnx = sum(d["length"] for _, _, d in osmnx_graph.edges(data=True) if gn.highway_class(d["highway"]) in gn.DRIVABLE)
    assert np.sum(streamed.edge_length_m) == pytest.approx(total_osmnx, rel=1e-9)


def _route_time(net, o, d) -> float:
    try:
        return routing.route(net, o, d).travel_time_s
    except routing.NoRoute:
        return math.inf


def test_route_times_equal_osmnx_at_every_kind_of_point(streamed, osmnx_net):
    """300 seeded pairs: points at one-way junctions, dead ends, degree-2 and degree-3+ nodes and
    mid-edge, of either network (a node of one may lie inside an edge of the other)."""
    from benchmarks.network import POINT_KINDS, query_points

    rng = np.random.default_rng(11)
    pts = query_points(osmnx_net, 400, rng) + query_points(streamed, 200, rng)
    assert {p["kind"] for p in pts} == set(POINT_KINDS)
    order = rng.permutation(len(pts))
    pairs = [(pts[a], pts[b]) for a, b in order.reshape(-1, 2)]
    assert len(pairs) == 300
    reached = 0
    for a, b in pairs:
        o, d = (a["lon"], a["lat"]), (b["lon"], b["lat"])
        ta, tb = _route_time(streamed, o, d), _route_time(osmnx_net, o, d)
        if math.isinf(tb):
            assert math.isinf(ta), (a, b)
            continue
        reached += 1
        assert ta == pytest.approx(tb, rel=1e-6, abs=1e-6), (a["kind"], b["kind"], ta, tb)
    assert reached >= 250


# ---- one-way rules on a small hand-written file ---------------------------------------------


def _tiny_pbf(path, ways):
    """A PBF with nodes 1..9 on a 0.001° grid near People's Square and the given ways (id, refs, tags)."""
    import osmium
    from osmium.osm.mutable import Node, Way

    with osmium.SimpleWriter(str(path)) as writer:
        for k in range(1, 10):
            writer.add_node(Node(id=k, location=(121.47 + 0.001 * ((k - 1) % 3), 31.23 + 0.001 * ((k - 1) // 3))))
        for wid, refs, tags in ways:
            writer.add_way(Way(id=wid, nodes=refs, tags=tags))
    return path


def _directed(net) -> set[tuple[int, int]]:
    ids = np.asarray(net.node_id)
    return set(zip(ids[net.edge_u].tolist(), ids[net.edge_v].tolist(), strict=True))


def test_roundabout_and_reverse_oneway(tmp_path):
    # grid:  7 8 9 / 4 5 6 / 1 2 3
    ways = [
        (10, [1, 2, 3], {"highway": "residential"}),  # two-way, 2 is an inner node: merged away
        (11, [3, 6], {"highway": "residential", "oneway": "-1"}),  # only 6 → 3
        (12, [6, 5, 4, 6], {"highway": "secondary", "junction": "roundabout"}),  # one-way ring
        (13, [4, 7], {"highway": "tertiary", "junction": "circular"}),  # one-way (circular implies it)
        (14, [7, 8], {"highway": "tertiary", "junction": "roundabout", "oneway": "no"}),  # both ways
        (15, [8, 9, 6], {"highway": "primary", "oneway": "yes"}),  # 8 → 9 → 6 merged
        (16, [1, 4], {"highway": "footway"}),  # not drivable
    ]
    net = osm_stream.build_network(_tiny_pbf(tmp_path / "tiny.osm.pbf", ways), name="tiny")
    edges = _directed(net)
    assert (6, 3) in edges and (3, 6) not in edges
    assert {(1, 3), (3, 1)} <= edges and 2 not in set(np.asarray(net.node_id).tolist())
    xy = {k: (121.47 + 0.001 * ((k - 1) % 3), 31.23 + 0.001 * ((k - 1) // 3)) for k in range(1, 10)}
    pieces = {tuple(r) for r in _segments(net).tolist()}
    ring = [(6, 5), (5, 4), (4, 6)]
    assert all((*xy[a], *xy[b]) in pieces and (*xy[b], *xy[a]) not in pieces for a, b in ring)
    assert 5 not in set(np.asarray(net.node_id).tolist())  # inside the ring: merged into the edge 6 → 4
    assert (4, 7) in edges and (7, 4) not in edges
    assert {(7, 8), (8, 7)} <= edges
    assert (8, 6) in edges and (6, 8) not in edges and 9 not in set(np.asarray(net.node_id).tolist())
    assert (1, 4) not in edges and (4, 1) not in edges
    k = next(i for i, e in enumerate(zip(np.asarray(net.node_id)[net.edge_u], np.asarray(net.node_id)[net.edge_v], strict=True)) if tuple(e) == (8, 6))
    assert len(net.edge_coords(k)) == 3
    seg = osm_stream.great_circle_m(121.471, 31.232, 121.472, 31.232) + osm_stream.great_circle_m(121.472, 31.232, 121.472, 31.231)
    assert net.edge_length_m[k] == pytest.approx(seg, rel=1e-12)
    assert net.edge_time_s[k] == pytest.approx(seg / (gn.SPEEDS_KPH["primary"] / 3.6), rel=1e-12)
    # the route from 3 to 6 must go round: 3 → 1 … → 4 → 6 is impossible without the footway, so no route
    with pytest.raises(routing.NoRoute):
        routing.route(net, (121.472, 31.230), (121.472, 31.231))
    assert routing.route(net, (121.472, 31.231), (121.472, 31.230)).travel_time_s > 0  # 6 → 3


@pytest.mark.parametrize(("oneway", "junction", "want"), [
    ("yes", None, 1), ("true", None, 1), ("1", None, 1), ("-1", None, -1), ("reverse", None, -1),
    ("no", None, 0), (None, None, 0), ("alternating", None, 0),
    (None, "roundabout", 1), (None, "circular", 1), ("no", "roundabout", 0), ("-1", "roundabout", -1),
])  # fmt: skip
def test_way_direction(oneway, junction, want):
    assert osm_stream.way_direction(oneway, junction) == want


# ---- failures and progress ------------------------------------------------------------------


def test_pbf_without_drivable_road_is_no_edges(tmp_path):
    path = _tiny_pbf(tmp_path / "paths.osm.pbf", [(1, [1, 2, 3], {"highway": "footway"}), (2, [4, 5, 6, 4], {"building": "yes"})])
    with pytest.raises(gn.NetworkError, match="has no drivable edges") as caught:
        gn.build_osm(path, name="no-roads", folder=tmp_path / "networks")
    assert caught.value.code == "no_edges" and caught.value.params == {"name": "no-roads"}
    assert not (tmp_path / "networks" / "no-roads").exists()


def test_damaged_pbf_is_unreadable(pbf, tmp_path):
    data = pbf.read_bytes()
    for name, content in (("garbage.osm.pbf", b"not a pbf at all"), ("cut.osm.pbf", data[: len(data) // 2] + b"\0" * 64)):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(gn.NetworkError, match=f"could not read roads from {name}") as caught:
            gn.build_osm(path, name="bad", folder=tmp_path / "networks")
        assert caught.value.code == "unreadable" and caught.value.params == {"file": name}
    with pytest.raises(gn.NetworkError) as caught:
        gn.build_osm(tmp_path / "gone.osm.pbf", name="gone", folder=tmp_path / "networks")
    assert caught.value.code == "file_missing"


def test_build_osm_streams_a_pbf_with_progress(pbf, streamed, tmp_path):
    calls: list[tuple[str, float]] = []
    net = gn.build_osm(pbf, name="sh-pbf", folder=tmp_path, progress=lambda phase, f: calls.append((phase, f)))
    assert (net.n_nodes, net.n_edges) == (streamed.n_nodes, streamed.n_edges)  # the streaming builder, not osmnx
    loaded = gn.load(tmp_path / "sh-pbf")
    assert loaded.n_edges == net.n_edges and loaded.meta["source"] == "sh.osm.pbf"
    phases = list(dict.fromkeys(p for p, _ in calls))
    assert phases == ["ways", "nodes", "simplify", "index", "save"]
    for phase in phases:
        fractions = [f for p, f in calls if p == phase]
        assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions), (phase, fractions)


def test_cli_build_prints_progress_to_stderr(pbf, tmp_path, capsys):
    from geo.__main__ import main

    assert main(["build", "--osm", str(pbf), "--name", "sh-cli", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "build sh-cli: ways   0%" in out.err and "build sh-cli: save 100%" in out.err
    assert '"nodes"' in out.out and "ways" not in out.out


# ---- the scale benchmark's tiler ------------------------------------------------------------


def test_tiler_copies_the_extract_and_joins_the_tiles(tmp_path, streamed):
    from benchmarks import pbf as bench

    out = tmp_path / "tiled.osm.pbf"
    made = bench.make_tiled_pbf(out, nx=2, ny=2, osm=shared_file(OSM))
    extract = bench.read_extract(shared_file(OSM))
    layout, counts = made["layout"], made["counts"]
    seams = len(layout["east"]) * 2 + len(layout["north"]) * 2  # 2×2: two east–west and two north–south borders
    assert counts == {"nodes": 4 * len(extract["node_id"]), "ways": 4 * len(extract["ways"]), "seams": seams, "tiles": 4}
    net = osm_stream.build_network(out, name="tiled")
    w, s, e, n = net.meta["bounds"]
    assert 116 <= w < e <= 123 and 28 <= s < n <= 33
    # lengths: four copies of the real network plus both directions of every straight seam
    ids = np.asarray(net.node_id)
    lon_of = dict(zip(ids.tolist(), np.asarray(net.node_lon).tolist(), strict=True))
    lat_of = dict(zip(ids.tolist(), np.asarray(net.node_lat).tolist(), strict=True))
    ns, nx_ = layout["node_stride"], layout["nx"]
    seam_m = 0.0
    for key, step in (("east", 1), ("north", nx_)):
        for t in (0, 1) if key == "north" else (0, 2):
            for a, b in layout[key].tolist():
                pa, pb = a + t * ns, b + (t + step) * ns
                seam_m += osm_stream.great_circle_m(lon_of[pa], lat_of[pa], lon_of[pb], lat_of[pb])
    gx, gy = (np.rint(np.asarray(a) * 1e7).astype(np.int64) for a in (streamed.geom_lon, streamed.geom_lat))
    first = np.ones(len(gx), dtype=bool)
    first[np.asarray(streamed.geom_offsets)[1:] - 1] = False
    i = np.flatnonzero(first)
    copies_m = 0.0
    for t in range(4):  # each copy where it lies (lengths change with latitude)
        dx, dy = layout["base_x"] + (t % nx_) * layout["step_x"], layout["base_y"] + (t // nx_) * layout["step_y"]
        copies_m += osm_stream.great_circle_m((gx[i] + dx) / 1e7, (gy[i] + dy) / 1e7, (gx[i + 1] + dx) / 1e7, (gy[i + 1] + dy) / 1e7).sum()
    assert np.sum(net.edge_length_m) == pytest.approx(copies_m + 2 * seam_m, rel=1e-9)
    # connected: the largest strongly connected part of every copy is inside one strongly connected part
    _, real_label = connected_components(streamed.csr(), directed=True, connection="strong")
    main_ids = np.asarray(streamed.node_id)[real_label == np.bincount(real_label).argmax()]
    _, label = connected_components(net.csr(), directed=True, connection="strong")
    index = {i: k for k, i in enumerate(ids.tolist())}
    tiled_main = np.array([index[int(i) + t * ns] for t in range(4) for i in main_ids])
    assert len(np.unique(label[tiled_main])) == 1
    assert net.n_nodes <= 4 * streamed.n_nodes and net.n_nodes >= 4 * streamed.n_nodes - seams  # a seam at a dead end merges it
