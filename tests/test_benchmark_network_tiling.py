"""`benchmarks.network.tile_network`: copies of the real central-Shanghai network joined by seam roads."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from benchmarks.network import POINT_KINDS, SEAM_CLASS, SEAM_SPEED_KPH, node_kinds, query_nodes, query_points, seam_pairs, tile_network, tiles_for
from geo import network as gn
from geo import routing
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def net():
    return gn.build_from_graph(gn.read_osm(shared_file("osm/shanghai_center.osm")), name="sh-center", source="shanghai_center.osm")


@pytest.fixture(scope="module")
def seams(net):
    return seam_pairs(net)


@pytest.fixture(scope="module")
def tiled(net):
    return tile_network(net, 2, 2)


def _largest_strong_part(n: gn.Network) -> int:
    _, label = connected_components(n.csr(), directed=True, connection="strong")
    return int(np.bincount(label).max())


def test_node_and_edge_counts(net, seams, tiled):
    assert len(seams["east"]) == len(seams["north"]) == 20
    pairs = 2 * len(seams["east"]) + 2 * len(seams["north"])  # 2 × 2 tiles: two borders each way
    assert tiled.n_nodes == 4 * net.n_nodes
    assert tiled.n_edges == 4 * net.n_edges + 2 * pairs  # every seam road is two-way
    assert tiled.highway_names == [*net.highway_names, SEAM_CLASS]
    assert int(np.sum(tiled.edge_class == len(tiled.highway_names) - 1)) == 2 * pairs


def test_copies_are_the_real_network_shifted(net, seams, tiled):
    n, m, t = net.n_nodes, net.n_edges, 3  # tile (1, 1): east and north of tile (0, 0)
    np.testing.assert_allclose(tiled.node_lon[t * n : (t + 1) * n], net.node_lon + seams["dlon"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(tiled.node_lat[t * n : (t + 1) * n], net.node_lat + seams["dlat"], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(tiled.edge_u[t * m : (t + 1) * m], np.asarray(net.edge_u) + t * n)
    np.testing.assert_array_equal(tiled.edge_v[t * m : (t + 1) * m], np.asarray(net.edge_v) + t * n)
    np.testing.assert_array_equal(tiled.edge_time_s[t * m : (t + 1) * m], net.edge_time_s)
    curved = int(np.argmax(np.diff(net.geom_offsets)))
    assert len(net.edge_coords(curved)) > 2
    np.testing.assert_allclose(tiled.edge_coords(t * m + curved), net.edge_coords(curved) + [seams["dlon"], seams["dlat"]], rtol=0, atol=1e-9)
    # tiles do not overlap: the copy east of tile (0, 0) starts beyond its bbox
    assert tiled.node_lon[n : 2 * n].min() > net.meta["bounds"][2]
    assert tiled.node_lat[2 * n : 3 * n].min() > net.meta["bounds"][3]


def test_seam_roads_are_straight_two_way_and_timed_at_seam_speed(net, tiled):
    seam = np.flatnonzero(tiled.edge_class == len(tiled.highway_names) - 1)
    u, v = np.asarray(tiled.edge_u)[seam], np.asarray(tiled.edge_v)[seam]
    assert set(zip(u.tolist(), v.tolist(), strict=True)) == set(zip(v.tolist(), u.tolist(), strict=True))
    assert np.all(u // net.n_nodes != v // net.n_nodes)  # each joins two different tiles
    length = gn.haversine_m(tiled.node_lon[u], tiled.node_lat[u], tiled.node_lon[v], tiled.node_lat[v])
    np.testing.assert_allclose(tiled.edge_length_m[seam], length, rtol=1e-12)
    np.testing.assert_allclose(tiled.edge_time_s[seam], length / (SEAM_SPEED_KPH / 3.6), rtol=1e-12)
    assert np.all(np.diff(tiled.geom_offsets)[seam] == 2)
    assert 100 <= length.min() and length.max() < 6000


def test_tiles_join_into_one_strongly_connected_network(net, tiled):
    assert _largest_strong_part(tiled) == 4 * _largest_strong_part(net)


def test_route_from_tile_00_to_tile_11_crosses_seams(net, seams, tiled):
    node = int(query_nodes(net)[0])
    a = (float(net.node_lon[node]), float(net.node_lat[node]))
    b = (a[0] + seams["dlon"], a[1] + seams["dlat"])  # the same place in tile (1, 1)
    r = routing.route(tiled, a, b)
    crossed = [e for e in r.edges if e >= 4 * net.n_edges]
    tiles = {int(tiled.edge_u[e]) // net.n_nodes for e in r.edges} | {int(tiled.edge_v[e]) // net.n_nodes for e in r.edges}
    assert len(crossed) >= 2 and {0, 3} <= tiles
    assert math.isfinite(r.travel_time_s) and r.travel_time_s > float(np.asarray(tiled.edge_time_s)[crossed].sum())
    assert r.origin.distance_m < 0.01 and r.destination.distance_m < 0.01


def _seam_ends(net, tiled, tile: int) -> np.ndarray:
    """Nodes of `tile` (as nodes of the real network) where seam roads leave it."""
    seam = np.flatnonzero(tiled.edge_class == len(tiled.highway_names) - 1)
    u = np.asarray(tiled.edge_u)[seam]
    return np.unique(u[u // net.n_nodes == tile] % net.n_nodes)


def test_node_times_within_a_tile_match_the_real_network(net, tiled):
    """Seams only add roads: never slower, and the same wherever no detour through a seam is shorter.

    A detour through another tile reaches a seam end of this tile, then drives at least two
    seam roads (out and back), so every node the real network reaches within that keeps its
    real travel time.
    """
    n = net.n_nodes
    seam = tiled.edge_class == len(tiled.highway_names) - 1
    two_seams = 2 * float(np.asarray(tiled.edge_time_s)[seam].min())
    same = 0
    for src in query_nodes(net)[::100]:
        real = routing.search(net, int(src), reverse=False, weights=net.edge_time_s).dist
        for t in range(4):
            got = routing.search(tiled, t * n + int(src), reverse=False, weights=tiled.edge_time_s).dist[t * n : (t + 1) * n]
            assert np.all(got <= real * (1 + 1e-12))
            inside = real <= real[_seam_ends(net, tiled, t)].min() + two_seams
            np.testing.assert_allclose(got[inside], real[inside], rtol=1e-12)
            same += int(inside.sum())
    assert same > 4 * n  # on average over a quarter of each tile is checked


def test_route_within_a_tile_equals_the_real_network(net, seams, tiled):
    """Routes between node positions, in tiles (0, 0) and (1, 1), where no seam can be shorter."""
    rng = np.random.default_rng(11)
    nodes = query_nodes(net)
    lon, lat = np.asarray(net.node_lon), np.asarray(net.node_lat)
    checked = 0
    for o in rng.choice(nodes, size=40, replace=False):
        real = routing.search(net, int(o), reverse=False, weights=net.edge_time_s).dist
        horizon = min(real[_seam_ends(net, tiled, t)].min() for t in (0, 3))
        reachable = nodes[real[nodes] <= horizon]
        if len(reachable) < 2:
            continue
        d = int(rng.choice(reachable[reachable != o]))
        expected = routing.route(net, (lon[o], lat[o]), (lon[d], lat[d])).travel_time_s
        assert expected == pytest.approx(real[d], rel=1e-6)
        for i, j in ((0, 0), (1, 1)):
            dx, dy = i * seams["dlon"], j * seams["dlat"]
            got = routing.route(tiled, (lon[o] + dx, lat[o] + dy), (lon[d] + dx, lat[d] + dy)).travel_time_s
            assert got == pytest.approx(expected, rel=1e-6), (o, d, i, j)
        checked += 1
    assert checked >= 20


def test_tiles_for_picks_a_near_square_grid():
    assert tiles_for(3813, 1_000_000) == (16, 16)
    assert tiles_for(3813, 100_000) == (5, 5)
    assert tiles_for(3813, 1000) == (1, 1)
    assert tiles_for(3813, 1_000_000, at_least=True) == (16, 17)  # 1 037 136 nodes
    assert tiles_for(3813, 100_000, at_least=True) == (5, 6)


def test_bad_tile_counts_are_refused(net):
    with pytest.raises(ValueError, match="`nx` was 0; expected a whole number of tiles"):
        tile_network(net, 0, 2)
    with pytest.raises(ValueError, match=r"`ny` was 1\.5"):
        tile_network(net, 2, 1.5)


def test_query_points_cover_every_kind_and_mid_edge_points_lie_on_their_edges(net):
    """The widened query points (issue 11): every node kind and mid-edge; mid-edge candidates as the engine snaps them."""
    nodes = query_nodes(net)
    kinds = node_kinds(net, nodes)
    assert sorted(np.concatenate(list(kinds.values())).tolist()) == sorted(nodes.tolist())  # a partition
    assert all(len(kinds[k]) for k in ("one_way", "dead_end", "degree_2", "degree_3plus"))
    pts = query_points(net, 50, np.random.default_rng(3))
    assert {p["kind"] for p in pts} == set(POINT_KINDS)
    mid = [p for p in pts if p["kind"] == "mid_edge"]
    assert len(mid) == 10 and any(len(p["cands"]) == 2 for p in mid) and any(len(p["cands"]) == 1 for p in mid)
    for p in mid:
        s = routing.snap(net, p["lon"], p["lat"])
        assert s.node == -1 and s.distance_m < 0.01
        got = dict(zip(s.cand_edge, s.cand_fraction, strict=True))
        assert set(got) == {e for e, _ in p["cands"]}
        for e, f in p["cands"]:
            assert got[e] == pytest.approx(f, rel=1e-6, abs=1e-9)
    for p in pts:
        if p["node"] >= 0:
            assert routing.snap(net, p["lon"], p["lat"]).node == p["node"]
