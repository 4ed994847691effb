"""The one-to-one searches of `geo.routing.route` are exact: the contraction hierarchy (with its
core searched by landmark bounds, and closures checked on its way) and bidirectional A* with
landmark bounds.

Held to plain Dijkstra (scipy) over the network's directed edges (u, v, travel time; the
fastest of parallel edges), with a super-source joined to the origin's ways onto the network
and the destination's ways off it by the snapping rule `geo.routing` documents (a point on a
node uses that node at no cost; a point part-way along edges leaves each forwards and is
reached from behind, at the share of the edge's time; two points on one edge in driving
order are joined along it).  The query points come from `benchmarks.network.query_points`:
at nodes of every kind (touching a one-way road, dead ends, degree 2, degree 3+) and part-way
along edges, whose edges and fractions it finds with shapely, not with the engine.

Networks: the real central-Shanghai extract, and the same tiled to at least 1 M nodes (built
once for this module).  With and without closures (a closure's edges are those
`geo.routing.blocked_edges` gives, dropped from the oracle's graph), unreachable pairs
(NoRoute) and a point routed to itself.  The landmark tables themselves are checked to be
lower bounds, exactly consistent on every edge, saved by `geo build` and cached on first use;
so is the hierarchy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from benchmarks import network as bn
from geo import network as gn
from geo import hierarchy, routing
from tests.conftest import shared_file

OSM = "osm/shanghai_center.osm"
REL = 1e-6
ABS_S = 1e-6
#: The fast methods of `geo.routing.route`, each held to the oracle.
METHODS = ("ch", "alt")


def close(a: float, b: float) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(REL * max(abs(a), abs(b)), ABS_S)


class Oracle:
    """Plain Dijkstra (scipy) over the directed edges of `net`, less the `closed` ones."""

    def __init__(self, net: gn.Network, closed: np.ndarray | None = None):
        u, v, t = (np.asarray(a) for a in (net.edge_u, net.edge_v, net.edge_time_s))
        keep = np.ones(len(u), dtype=bool) if closed is None else ~np.asarray(closed, dtype=bool)
        self.t, self.u, self.v, self.keep = t, u, v, keep
        u, v, t = u[keep].astype(np.int64), v[keep].astype(np.int64), t[keep]
        order = np.lexsort((t, v, u))
        u, v, t = u[order], v[order], t[order]
        first = np.ones(len(u), dtype=bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])  # the fastest of parallel edges
        self.n = net.n_nodes
        self.rows, self.cols = u[first], v[first]
        self.data = np.maximum(t[first], 1e-300)  # an explicit zero must stay an edge
        self.indptr = np.searchsorted(self.rows, np.arange(self.n + 1))

    def ways(self, p: dict, *, leave: bool) -> list[tuple[int, float]]:
        """(node, cost s) of the point's ways onto (`leave`) or off the network; [] if all are closed."""
        if p["node"] >= 0:
            return [(p["node"], 0.0)]
        out = []
        for e, f in p["cands"]:
            if self.keep[e]:
                out.append((int(self.v[e]), (1 - f) * self.t[e]) if leave else (int(self.u[e]), f * self.t[e]))
        return out

    def time(self, p: dict, q: dict) -> float:
        """Fastest time (s) from point p to point q."""
        exits, entries = self.ways(p, leave=True), self.ways(q, leave=False)
        best = math.inf
        for e, fp in p["cands"]:
            for e2, fq in q["cands"]:
                if e == e2 and fp <= fq and self.keep[e]:
                    best = min(best, (fq - fp) * self.t[e])
        if not exits or not entries:
            return best
        nodes = np.array([n for n, _ in exits])
        cost = np.array([c for _, c in exits])
        indptr = np.append(self.indptr, self.indptr[-1] + len(nodes))  # the super-source is node n
        g = csr_matrix((np.append(self.data, np.maximum(cost, 1e-300)), np.append(self.cols, nodes), indptr), shape=(self.n + 1, self.n + 1))
        dist = dijkstra(g, directed=True, indices=self.n)
        return min(best, min(dist[n] + c for n, c in entries))


def engine_time(net: gn.Network, p: dict, q: dict, *, blocked=None, method: str = "ch") -> float:
    try:
        return routing.route(net, (p["lon"], p["lat"]), (q["lon"], q["lat"]), blocked=blocked, method=method).travel_time_s
    except routing.NoRoute as exc:
        assert exc.code == "no_route", exc
        return math.inf


def own_road_closed(p: dict, oracle: Oracle) -> bool:
    if p["node"] >= 0:
        at = (oracle.u == p["node"]) | (oracle.v == p["node"])
        return not oracle.keep[at].any()
    return not any(oracle.keep[e] for e, _ in p["cands"])


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The real network as `geo build` makes it (`geo.network.build_osm`), loaded back from its folder."""
    folder = tmp_path_factory.mktemp("alt-real")
    gn.build_osm(shared_file(OSM), name="sh-center", folder=folder)
    return gn.load(folder / "sh-center")


@pytest.fixture(scope="module")
def real_points(real):
    return bn.query_points(real, 25, np.random.default_rng(3))  # 5 of each kind of `bn.POINT_KINDS`


@pytest.fixture(scope="module")
def tiled(real):
    """The real network tiled to at least 1 M nodes (`benchmarks.network.tile_network`), in memory."""
    net = bn.tile_network(real, *bn.tiles_for(real.n_nodes, 1_000_000, at_least=True))
    assert net.n_nodes >= 1_000_000
    # Its hierarchy stops at a core of 25 % (the default 2 % takes 2–3 minutes more to build
    # here): the same search code, with more of each route inside the core; the benchmark
    # checks the default one against plain Dijkstra (`benchmarks.network.routes_worker`).
    h = hierarchy.build_hierarchy(net, core_share=0.25)
    assert h.n_core == int(0.25 * net.n_nodes)
    net._matrices["ch"] = h
    return net


@pytest.fixture(scope="module")
def tiled_points(tiled):
    return bn.query_points(tiled, 10, np.random.default_rng(4))


# --------------------------------------------------------------------------- the real network


@pytest.mark.parametrize("method", METHODS)
def test_route_equals_plain_dijkstra_at_every_kind_of_point(real, real_points, method):
    oracle = Oracle(real)
    assert {p["kind"] for p in real_points} == set(bn.POINT_KINDS)
    bad = []
    for p in real_points:
        for q in real_points:
            want, got = oracle.time(p, q), engine_time(real, p, q, method=method)
            if not close(got, want):
                bad.append((p["kind"], q["kind"], got, want))
    assert not bad, f"{len(bad)} of {len(real_points) ** 2} routes differ: {bad[:5]}"


@pytest.mark.parametrize("method", METHODS)
def test_route_with_a_closure_equals_plain_dijkstra_without_its_edges(real, real_points, method):
    lon, lat = np.array([p["lon"] for p in real_points]), np.array([p["lat"] for p in real_points])
    closure = shapely.Point(float(np.median(lon)), float(np.median(lat))).buffer(0.006)
    blocked = routing.blocked_edges(real, [closure])
    assert blocked.sum() > 50
    oracle = Oracle(real, blocked)
    usable = [p for p in real_points if not own_road_closed(p, oracle)]
    assert len(usable) >= 15
    open_roads = Oracle(real)
    changed = sum(not close(oracle.time(usable[0], q), open_roads.time(usable[0], q)) for q in usable)
    bad = []
    for p in usable:
        for q in usable:
            want, got = oracle.time(p, q), engine_time(real, p, q, blocked=blocked, method=method)
            if not close(got, want):
                bad.append((p["kind"], q["kind"], got, want))
    assert not bad, f"{len(bad)} routes differ with the closure: {bad[:5]}"
    assert changed, "the closure changes no route from the first point: it tests nothing"


@pytest.mark.parametrize("method", METHODS)
def test_unreachable_pairs_raise_no_route(real, method):
    """Nodes outside the largest strongly connected part: some pairs have no route at all."""
    _, label = connected_components(real.csr(), directed=True, connection="strong")
    outside = np.flatnonzero(label != np.bincount(label).argmax())[:12]
    inside = bn.query_nodes(real)[:3]
    pts = [{"lon": float(real.node_lon[i]), "lat": float(real.node_lat[i]), "node": int(i), "cands": []} for i in (*outside, *inside)]
    oracle = Oracle(real)
    none = 0
    for p in pts:
        for q in pts:
            want = oracle.time(p, q)
            none += math.isinf(want)
            assert close(engine_time(real, p, q, method=method), want), (p, q, want)
    assert none > 0


@pytest.mark.parametrize("method", METHODS)
def test_a_ring_of_closures_cuts_a_point_off(real, real_points, method):
    """A moat around one point: no route in or out (NoRoute), both searches run dry."""
    p = next(q for q in real_points if q["kind"] == "degree_3plus")
    centre = shapely.Point(p["lon"], p["lat"])
    moat = centre.buffer(0.004).difference(centre.buffer(0.003))
    blocked = routing.blocked_edges(real, [moat])
    oracle = Oracle(real, blocked)
    far = [q for q in real_points if shapely.distance(centre, shapely.Point(q["lon"], q["lat"])) > 0.006 and not own_road_closed(q, oracle)]
    assert far
    for q in far[:4]:
        assert math.isinf(oracle.time(p, q)) and math.isinf(oracle.time(q, p))
        for a, b in ((p, q), (q, p)):
            with pytest.raises(routing.NoRoute) as exc:
                routing.route(real, (a["lon"], a["lat"]), (b["lon"], b["lat"]), blocked=blocked, method=method)
            assert exc.value.code == "no_route"


def test_a_point_routed_to_itself_takes_no_time(real, real_points):
    for p in real_points[:10]:  # every kind, twice
        r = routing.route(real, (p["lon"], p["lat"]), (p["lon"], p["lat"]))
        assert r.travel_time_s == pytest.approx(0.0, abs=1e-6) and r.length_m == pytest.approx(0.0, abs=1e-3)


def test_all_methods_agree_and_a_bad_method_is_refused(real, real_points):
    for p, q in zip(real_points[:10], real_points[10:20], strict=True):
        want = engine_time(real, p, q, method="dijkstra")
        assert all(close(engine_time(real, p, q, method=m), want) for m in METHODS)
    with pytest.raises(ValueError, match="`method` was 'astar'"):
        routing.route(real, (real_points[0]["lon"], real_points[0]["lat"]), (real_points[1]["lon"], real_points[1]["lat"]), method="astar")


def test_landmark_tables_are_lower_bounds_and_exactly_consistent(real):
    lm = routing.landmarks(real)
    assert len(lm.nodes) == routing.N_LANDMARKS and lm.from_s.shape == lm.to_s.shape == (real.n_nodes, routing.N_LANDMARKS)
    exact_from = dijkstra(real.csr(), directed=True, indices=lm.nodes)  # (k, n): from each landmark
    exact_to = dijkstra(real.csr(reverse=True), directed=True, indices=lm.nodes)
    from_s, to_s = lm.from_s.astype(float).T, lm.to_s.astype(float).T
    assert (np.isinf(from_s) == np.isinf(exact_from)).all() and (np.isinf(to_s) == np.isinf(exact_to)).all()
    with np.errstate(invalid="ignore"):
        assert (np.nan_to_num(from_s - exact_from) <= 0).all() and (np.nan_to_num(to_s - exact_to) <= 0).all()
        finite = np.isfinite(exact_from)
        assert np.median((exact_from - from_s)[finite]) < 5.0  # tight: a few quanta lost on the way
        u, v, t = (np.asarray(a) for a in (real.edge_u, real.edge_v, real.edge_time_s))
        # consistency on every edge u → v, in exact arithmetic (whole quanta): no rounding slack
        assert np.all(~(to_s[:, u] > t + to_s[:, v]))
        assert np.all(~(from_s[:, v] > from_s[:, u] + t))


@pytest.mark.parametrize("method", METHODS)
def test_search_tables_are_saved_by_the_build_and_cached_on_first_use(real, tmp_path, method):
    """Landmark tables (ALT) and the hierarchy (CH): written by the build; for a network saved
    without them, built on the first route, written to its folder (no temporary left) and
    memory-mapped on the next load (`geo.network.derived`)."""
    keys = {"alt": ("alt_landmarks", "alt_from_s", "alt_to_s"), "ch": hierarchy._ARRAYS}[method]
    assert real.folder is not None and all((real.folder / f"{k}.npy").exists() for k in keys)
    plain = gn.build_from_arrays(
        real.node_lon, real.node_lat, real.edge_u, real.edge_v, real.edge_length_m, real.edge_time_s, real.edge_class, real.highway_names,
        real.geom_offsets, real.geom_lon, real.geom_lat, name=f"no-{method}", source="test",
    )  # fmt: skip
    folder = gn.save(plain, tmp_path / f"no-{method}")
    assert not any((folder / f"{k}.npy").exists() for k in keys)
    a, b = (real.node_lon[0], real.node_lat[0]), (real.node_lon[-1], real.node_lat[-1])
    first = routing.route(gn.load(folder), a, b, method=method).travel_time_s
    assert all((folder / f"{k}.npy").exists() for k in keys) and not list(folder.glob(".*"))
    again = gn.load(folder)
    assert all(k in again.arrays for k in keys) and isinstance(np.load(folder / f"{keys[-1]}.npy", mmap_mode="r"), np.memmap)
    assert routing.route(again, a, b, method=method).travel_time_s == first == routing.route(again, a, b, method="dijkstra").travel_time_s


def test_nearest_with_a_closure_reads_the_mask_without_building_a_weighted_matrix(real, real_points, monkeypatch):
    """Issue 13: a closure made each nearest-5 (and route) query rebuild the weighted CSR
    matrix (`Network.csr(weights=…)`); the kernels now take the closed-edge mask."""
    from geo.nearest import nearest, prepare

    lon, lat = np.array([p["lon"] for p in real_points]), np.array([p["lat"] for p in real_points])
    blocked = routing.blocked_edges(real, [shapely.Point(float(np.median(lon)), float(np.median(lat))).buffer(0.006)])
    oracle = Oracle(real, blocked)
    usable = [p for p in real_points if not own_road_closed(p, oracle)]
    prep = prepare(real, [f"r{i}" for i in range(len(usable))], [p["lon"] for p in usable], [p["lat"] for p in usable])
    built = []
    original = gn.Network.csr
    monkeypatch.setattr(gn.Network, "csr", lambda self, **kw: built.append(kw.get("weights") is not None) or original(self, **kw))
    for j, incident in enumerate(usable[:8]):
        want = np.sort([oracle.time(p, incident) for p in usable])
        want = want[np.isfinite(want)][:5]
        got = [a.travel_time_s for a in nearest(real, (incident["lon"], incident["lat"]), prep, k=5, blocked=blocked)]
        assert len(got) == len(want) and all(close(g, w) for g, w in zip(got, want, strict=True)), (j, got, want)
        engine_time(real, usable[j], usable[-1 - j], blocked=blocked)
    assert not any(built)


# --------------------------------------------------------------------------- at least 1 M nodes


@pytest.mark.parametrize("method", METHODS)
def test_route_equals_plain_dijkstra_on_a_million_nodes(tiled, tiled_points, method):
    oracle = Oracle(tiled)
    kinds = {p["kind"] for p in tiled_points}
    assert kinds == set(bn.POINT_KINDS)
    pairs = list(zip(tiled_points[:5], tiled_points[5:], strict=True)) + [(tiled_points[6], tiled_points[1])]
    for p, q in pairs:
        want = oracle.time(p, q)
        assert math.isfinite(want)
        got = engine_time(tiled, p, q, method=method)
        assert close(got, want), (p["kind"], q["kind"], got, want)


@pytest.mark.parametrize("method", METHODS)
def test_route_with_closures_on_a_million_nodes(real, tiled, tiled_points, method):
    """Closures across the middle of the layout (several tiles) and a ring of them around one
    tile, which it cuts off: routes out of it raise NoRoute, routes inside it still agree."""
    west, south, east, north = tiled.meta["bounds"]
    cx, cy = (west + east) / 2, (south + north) / 2
    band = shapely.box(cx - 0.01, south - 0.01, cx + 0.01, north + 0.01).difference(shapely.box(cx - 0.02, cy - 0.02, cx + 0.02, cy + 0.02))
    blocked = routing.blocked_edges(tiled, [band])
    oracle = Oracle(tiled, blocked)
    pts = [p for p in tiled_points if not own_road_closed(p, oracle)]
    changed = 0
    for p, q in [(a, b) for a in pts[:3] for b in pts[3:5]]:
        want = oracle.time(p, q)
        assert close(engine_time(tiled, p, q, blocked=blocked, method=method), want), (p["kind"], q["kind"], want)
        changed += not close(want, engine_time(tiled, p, q, method=method))
    assert changed, "the band closes no road that a checked route takes"
    # a ring in the gap around the tile of the first point: every seam out of it crosses the
    # ring, the tile's own roads do not (tile t holds nodes t·n … (t + 1)·n − 1, `tile_network`)
    n = real.n_nodes
    p = pts[0]
    t = (p["node"] if p["node"] >= 0 else int(tiled.edge_u[p["cands"][0][0]])) // n
    lon_t, lat_t = np.asarray(tiled.geom_lon), np.asarray(tiled.geom_lat)
    own = slice(int(tiled.geom_offsets[t * real.n_edges]), int(tiled.geom_offsets[(t + 1) * real.n_edges]))
    inner = shapely.box(lon_t[own].min() - 1e-5, lat_t[own].min() - 1e-5, lon_t[own].max() + 1e-5, lat_t[own].max() + 1e-5)
    ring = inner.buffer(0.0007, join_style="mitre").difference(inner)
    blocked = routing.blocked_edges(tiled, [ring])
    oracle = Oracle(tiled, blocked)
    assert not blocked[t * real.n_edges : (t + 1) * real.n_edges].any()
    inside = shapely.contains_xy(inner, [q["lon"] for q in tiled_points], [q["lat"] for q in tiled_points])
    outside = [q for q, i in zip(tiled_points, inside, strict=True) if not i and not own_road_closed(q, oracle)]
    assert outside
    for q in outside[:2]:
        assert math.isinf(oracle.time(p, q))
        for a, b in ((p, q), (q, p)):
            with pytest.raises(routing.NoRoute) as exc:
                routing.route(tiled, (a["lon"], a["lat"]), (b["lon"], b["lat"]), blocked=blocked, method=method)
            assert exc.value.code == "no_route"
    main = bn.query_nodes(real)  # a node of the main part of the same tile: still reachable
    node = int(main[len(main) // 3]) + t * n
    other = {"lon": float(tiled.node_lon[node]), "lat": float(tiled.node_lat[node]), "node": node, "cands": []}
    want = oracle.time(p, other)
    assert math.isfinite(want) and close(engine_time(tiled, p, other, blocked=blocked, method=method), want)


def test_a_point_routed_to_itself_on_a_million_nodes(tiled, tiled_points):
    for p in tiled_points[:5]:
        assert routing.route(tiled, (p["lon"], p["lat"]), (p["lon"], p["lat"])).travel_time_s == pytest.approx(0.0, abs=1e-6)


def _constants_numpy(from_s, to_s, src, src_s, tgt, tgt_s, *, q: float, active: int) -> tuple[np.ndarray, ...]:
    """`geo._kernels.alt_constants` written with numpy from its docstring (the oracle)."""
    with np.errstate(invalid="ignore"):
        fs, ts = from_s[src].astype(np.float64), to_s[src].astype(np.float64)
        ft, tt = from_s[tgt].astype(np.float64), to_s[tgt].astype(np.float64)
        c_sf = np.ceil((fs - src_s[:, None]).max(axis=0) / q) * q
        c_st = np.floor((ts + src_s[:, None]).min(axis=0) / q) * q
        c_tt = np.ceil((tt - tgt_s[:, None]).max(axis=0) / q) * q
        c_tf = np.floor((ft + tgt_s[:, None]).min(axis=0) / q) * q
        lb = np.fmax(np.fmax(ts[0] - c_tt, c_tf - fs[0]), 0.0)
    lb = np.where(np.isfinite(lb), lb, -1.0)
    cols = np.sort(np.argsort(-lb, kind="stable")[: min(active, len(lb))]).astype(np.int64)
    return cols, c_sf[cols], c_st[cols], c_tf[cols], c_tt[cols]


def test_the_landmark_constants_kernel_equals_its_numpy_oracle(real):
    """Per-query constants on the real tables, and on tables with unreachable (inf) entries."""
    from geo import _kernels

    lm = routing.landmarks(real)
    rng = np.random.default_rng(8)
    holes = rng.random(lm.from_s.shape) < 0.05
    tables = [(lm.from_s, lm.to_s), (np.where(holes, np.float32(np.inf), lm.from_s), np.where(holes.T.reshape(holes.shape), np.float32(np.inf), lm.to_s))]
    for from_s, to_s in tables:
        for _ in range(200):
            src, tgt = rng.integers(real.n_nodes, size=rng.integers(1, 4)), rng.integers(real.n_nodes, size=rng.integers(1, 4))
            src_s, tgt_s = rng.random(len(src)) * 10, rng.random(len(tgt)) * 10
            for active in (4, routing.N_LANDMARKS):
                want = _constants_numpy(from_s, to_s, src, src_s, tgt, tgt_s, q=routing.LANDMARK_QUANTUM_S, active=active)
                got = _kernels.alt_constants(from_s, to_s, src, src_s, tgt, tgt_s, routing.LANDMARK_QUANTUM_S, active)
                assert all(np.array_equal(w, g, equal_nan=True) for w, g in zip(want, got, strict=True)), (src, tgt, active)


def test_a_closure_mask_counts_its_closed_edges_once_and_again_once_changed(real):
    """`any_closed` reads the count `blocked_edges` made (a route asked it five times, each a scan
    of every edge); a changed mask, or a plain one, is scanned."""
    poly = shapely.Point(float(np.median(real.node_lon)), float(np.median(real.node_lat))).buffer(0.004)
    b = routing.blocked_edges(real, [poly])
    assert b.n_closed == np.count_nonzero(b) > 0 and routing.any_closed(b)
    b[:] = False
    assert b.n_closed is None and not routing.any_closed(b)
    c = routing.blocked_edges(real, [poly])
    c &= False
    assert c.n_closed is None and not routing.any_closed(c)
    d = routing.blocked_edges(real, [poly])
    assert routing.any_closed(np.asarray(d)) and routing.any_closed(d[:]) and d[:].n_closed is None
    assert routing.blocked_edges(real, []).n_closed == 0 and not routing.any_closed(None)
