"""The contraction hierarchy (`geo.hierarchy`) keeps every fastest time, unpacks to roads
(saved with the network: tests/test_routing_alt.py), and a closure on its way hands the route to the closed-network search.

Oracle: scipy's Dijkstra over the network's node-pair graph (the fastest of parallel edges),
on the real central-Shanghai extract, not on data tuned to the hierarchy.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra

from benchmarks import network as bn
from geo import _ch, hierarchy, routing
from geo import network as gn
from tests.conftest import shared_file
from tests.test_routing_alt import OSM, Oracle, close, engine_time, own_road_closed


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ch-real")
    gn.build_osm(shared_file(OSM), name="sh-center", folder=folder)
    return gn.load(folder / "sh-center")


def _node_pairs(net: gn.Network, n: int, seed: int) -> np.ndarray:
    """Random node pairs, half of them among one-way and dead-end nodes (the awkward kinds)."""
    rng = np.random.default_rng(seed)
    nodes = bn.node_kinds(net, np.arange(net.n_nodes))
    awkward = np.concatenate([nodes["one_way"], nodes["dead_end"]])
    a = np.concatenate([rng.choice(awkward, n // 2), rng.integers(net.n_nodes, size=n - n // 2)])
    b = np.concatenate([rng.integers(net.n_nodes, size=n - n // 2), rng.choice(awkward, n // 2)])
    return np.column_stack([a, b])


def _search(net: gn.Network, h: hierarchy.Hierarchy, a: int, b: int) -> tuple[float, np.ndarray | None]:
    """The hierarchy `h` queried between two nodes through the route search's own code."""
    net._matrices["ch"] = h
    return routing._ch_search(net, [_at(a)], [_at(b)], routing._NO_BLOCKED)


def _at(node: int) -> routing.Access:
    return routing.Access(int(node), 0.0, 0.0, -1, 0.0, 0.0)


@pytest.mark.parametrize("core_share", [0.0, 0.02, 0.3])
def test_every_fastest_time_is_kept_with_any_core(real, core_share):
    h = hierarchy.build_hierarchy(real, core_share=core_share)
    assert h.n_core == int(core_share * real.n_nodes)
    pairs = _node_pairs(real, 300, seed=int(core_share * 100))
    want = dijkstra(real.csr(), directed=True, indices=np.unique(pairs[:, 0]))
    row = {int(a): i for i, a in enumerate(np.unique(pairs[:, 0]))}
    fi, fx, fw = routing._graph(real, reverse=False)[:3]
    unreachable = 0
    try:
        for a, b in pairs:
            best, nodes = _search(real, h, int(a), int(b))
            expect = want[row[int(a)], int(b)]
            assert close(best, expect), (a, b, best, expect)
            if not np.isfinite(expect):
                unreachable += 1
                continue
            # the way unpacks to roads, from a to b, whose times add up to the answer
            assert nodes[0] == a and nodes[-1] == b
            total = 0.0
            for u, v in zip(nodes[:-1], nodes[1:], strict=True):
                j = np.flatnonzero(fx[fi[u] : fi[u + 1]] == v)
                assert len(j), f"{u}→{v} is not a road"
                total += fw[fi[u] + j[0]]
            assert close(total, best)
    finally:
        real._matrices.pop("ch", None)
    assert unreachable < len(pairs)


def test_a_closure_on_the_open_way_sends_the_route_to_the_closed_network_search(real):
    """The open network's fastest way crosses the closure: the answer is the closed network's
    (the oracle's), drives no closed road, and is slower than the open one."""
    pts = bn.query_points(real, 40, np.random.default_rng(11))
    open_oracle = Oracle(real)
    checked = 0
    for p, q in zip(pts[:20], pts[20:], strict=True):
        r = routing.route(real, (p["lon"], p["lat"]), (q["lon"], q["lat"]))
        if len(r.edges) < 5:
            continue  # too short to close a road in its middle
        inner = r.edges[len(r.edges) // 2]
        mid = shapely.Point(float(real.geom_lon[real.geom_offsets[inner]]), float(real.geom_lat[real.geom_offsets[inner]])).buffer(0.0004)
        blocked = routing.blocked_edges(real, [mid])
        oracle = Oracle(real, blocked)
        if own_road_closed(p, oracle) or own_road_closed(q, oracle) or not blocked[r.edges].any():
            continue
        want = oracle.time(p, q)
        got = engine_time(real, p, q, blocked=blocked)
        assert close(got, want), (got, want)
        assert got > open_oracle.time(p, q) or not close(got, open_oracle.time(p, q))
        if np.isfinite(got):
            closed_route = routing.route(real, (p["lon"], p["lat"]), (q["lon"], q["lat"]), blocked=blocked)
            assert not blocked[closed_route.edges].any()
        checked += 1
    assert checked >= 5, f"only {checked} routes crossed their closure"


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"witness_settle": 0}, "`witness_settle` was 0"), ({"priority_settle": 1.5}, "`priority_settle` was 1.5"), ({"core_share": 2}, "`core_share` was 2")],
)
def test_bad_build_options_are_refused(real, kw, match):
    with pytest.raises(ValueError, match=match):
        hierarchy.build_hierarchy(real, **kw)


def test_a_missing_arc_is_reported_not_walked(real):
    """Two nodes no hierarchy arc joins (the lowest and the highest ranked of different
    parts): unpacking marks the gap with -1 rather than inventing a road."""
    h = hierarchy.hierarchy(real)
    low, high = int(np.argmin(h.rank)), int(np.argmax(h.rank))
    fi, fx = routing._graph(real, reverse=False)[:2]
    assert high not in fx[fi[low] : fi[low + 1]]
    out = _ch.unpack(np.array([low, high], dtype=np.int64), h.rank, h.uf_ptr, h.uf_to, h.uf_mid, h.ub_ptr, h.ub_from, h.ub_mid, h.core_index, h.cf_ptr, h.cf_to, h.cf_mid)
    assert out[-1] == -1
