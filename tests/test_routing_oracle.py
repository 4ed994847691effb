"""Snapping and search held to an independent oracle on real OSM extracts.

The oracle knows only the directed edges that ``python -m geo network`` exports (GeoPackage:
u, v, travel_time_s, geometry) and the snapping rule as `geo.routing` documents it:

- candidates: every edge within 1 m of the nearest one; on each, the position nearest the
  point, at the share of the edge's great-circle length before it;
- a candidate position within 1 m (along its edge) of an end node: the point is that node and
  uses every edge there, in both directions;
- otherwise, on each candidate u → v at fraction f: it leaves to v at (1 − f) × time and is
  reached from u at f × time; two points on one edge in driving order are joined along it;
- the straight access leg at 15 km/h; on a network that states its rule per road class (the
  stitched network, `geo.stitch`) the class of the point's nearest candidate decides: 'backbone'
  and 'connector' × 1.3 at 30 km/h, local OSM classes × 1 at 15 km/h (`access_mps`).

Its own geometry (its own haversine, its own local frame around each point, brute force over
every edge) and networkx Dijkstra give route times, k-nearest times, zone assignment,
isochrone membership and the planning cost matrix; the engine (`geo.routing`, `geo.nearest`,
`geo.zones`, `geo.planning`, and the CLI) must agree to 1e-6 relative.  Points sit at every
kind of node (one-way junctions, dead ends, two-way junctions, degree 2, degree 3+) and
part-way along one-way and two-way edges; on the stitched network (the backbone + the
extract) also at the joins, at the points where the backbone crosses the extract's edge, and
off the extract beside backbone roads.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from tests.conftest import ROOT, SHARED, shared_file

REL = 1e-6
ABS_S = 1e-6
NODE_M = 1.0
TIE_M = 1.0
ACCESS_MPS = 15.0 / 3.6
#: The stitched network's documented access rule per class (geo.stitch): backbone and connector × 1.3 at 30 km/h.
BACKBONE_ACCESS_MPS = 30.0 / 3.6 / 1.3
BACKBONE_CLASSES = ("backbone", "connector")
R_EARTH = 6_371_008.8
PER_KIND = 3
K = 5


def _extracts() -> list[str]:
    names = {"osm/shanghai_center.osm"}
    names |= {f"osm/{p.name}" for p in (SHARED / "osm").glob("*.osm*")} if (SHARED / "osm").is_dir() else set()
    return sorted(names)


#: The stitched network is held to the same oracle: the backbone of the `dataset` fixture + this extract.
STITCHED = "stitched:osm/shanghai_center.osm"


def access_mps(highway: str) -> float:
    """The access-leg speed (straight-line m/s) by the documented per-class rule."""
    return BACKBONE_ACCESS_MPS if highway in BACKBONE_CLASSES else ACCESS_MPS


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "geo", *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def hav_m(lon1, lat1, lon2, lat2):
    """The oracle's own great-circle distance (m)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(np.asarray(lon2) - np.asarray(lon1)) / 2) ** 2
    return 2 * R_EARTH * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def close(a: float, b: float) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(REL * max(abs(a), abs(b)), ABS_S)


# --------------------------------------------------------------------------- the oracle


@dataclass
class Point:
    """A point as the oracle places it: at `node` (an OSM id) or on candidate rows."""

    lon: float
    lat: float
    kind: str
    node: int | None = None
    access_s: float = 0.0  # to the node
    cands: list[tuple[int, float, float]] = field(default_factory=list)  # (row, fraction, access s)


class Oracle:
    def __init__(self, edges: gpd.GeoDataFrame):
        self.edges = edges
        self.u = edges["u"].to_numpy(dtype=np.int64)
        self.v = edges["v"].to_numpy(dtype=np.int64)
        self.t = edges["travel_time_s"].to_numpy(dtype=float)
        self.coords = [np.asarray(g.coords) for g in edges.geometry]
        self.lines = np.asarray(edges.geometry.values, dtype=object)
        self.highway = edges["highway"].astype(str).to_numpy() if "highway" in edges.columns else np.full(len(edges), "", dtype=object)
        self.stitched = bool((self.highway == "connector").any())  # the backbone + local networks (geo.stitch)
        self.G = nx.DiGraph()
        for u, v, t in zip(self.u, self.v, self.t, strict=True):
            if not self.G.has_edge(u, v) or self.G[u][v]["weight"] > t:
                self.G.add_edge(int(u), int(v), weight=float(t))

    # -- snapping, from the geometry alone
    def distances(self, lon: float, lat: float) -> np.ndarray:
        """Distance (m) from the point to every edge, in a local frame around the point."""
        kx = math.radians(1) * R_EARTH * math.cos(math.radians(lat))
        ky = math.radians(1) * R_EARTH
        local = shapely.transform(self.lines, lambda c: np.column_stack([(c[:, 0] - lon) * kx, (c[:, 1] - lat) * ky]))
        return shapely.distance(local, shapely.Point(0.0, 0.0))

    def place(self, lon: float, lat: float, kind: str) -> Point:
        d = self.distances(lon, lat)
        rows = np.flatnonzero(d <= d.min() + TIE_M)
        mps = access_mps(self.highway[int(np.argmin(d))])  # the nearest candidate's class decides
        kx = math.radians(1) * R_EARTH * math.cos(math.radians(lat))
        ky = math.radians(1) * R_EARTH
        p = Point(lon, lat, kind)
        best_node, best_along = None, math.inf
        for r in rows:
            c = self.coords[r]
            x, y = (c[:, 0] - lon) * kx, (c[:, 1] - lat) * ky
            dx, dy = np.diff(x), np.diff(y)
            l2 = dx * dx + dy * dy
            tt = np.clip(np.where(l2 > 0, -(x[:-1] * dx + y[:-1] * dy) / np.where(l2 > 0, l2, 1), 0), 0, 1)
            dist = np.hypot(x[:-1] + tt * dx, y[:-1] + tt * dy)
            k = int(np.argmin(dist))
            seg = hav_m(c[:-1, 0], c[:-1, 1], c[1:, 0], c[1:, 1])
            along = float(seg[:k].sum() + tt[k] * seg[k])
            total = float(seg.sum())
            f = along / total if total > 0 else float(tt[k])
            s_lon, s_lat = c[k, 0] + tt[k] * (c[k + 1, 0] - c[k, 0]), c[k, 1] + tt[k] * (c[k + 1, 1] - c[k, 1])
            p.cands.append((int(r), f, float(hav_m(lon, lat, s_lon, s_lat)) / mps))
            for node, gap in ((self.u[r], along), (self.v[r], total - along)):
                if gap <= NODE_M and gap < best_along:
                    best_node, best_along = int(node), gap
        if best_node is not None:
            r = next(r for r in rows if best_node in (self.u[r], self.v[r]))
            c = self.coords[r][0] if self.u[r] == best_node else self.coords[r][-1]
            p.node, p.access_s, p.cands = best_node, float(hav_m(lon, lat, c[0], c[1])) / mps, []
        return p

    def exits(self, p: Point) -> list[tuple[int, float]]:
        if p.node is not None:
            return [(p.node, p.access_s)]
        return [(int(self.v[r]), (1 - f) * self.t[r] + a) for r, f, a in p.cands]

    def entries(self, p: Point) -> list[tuple[int, float]]:
        if p.node is not None:
            return [(p.node, p.access_s)]
        return [(int(self.u[r]), f * self.t[r] + a) for r, f, a in p.cands]

    def node_times(self, p: Point) -> dict[int, float]:
        """networkx Dijkstra from a super-source joined to the point's exits."""
        self.G.add_node("S")
        for node, c in self.exits(p):
            if not self.G.has_edge("S", node) or self.G["S"][node]["weight"] > c:
                self.G.add_edge("S", node, weight=c)
        try:
            dist = nx.single_source_dijkstra_path_length(self.G, "S")
        finally:
            self.G.remove_node("S")
        dist.pop("S", None)
        return dist

    def time(self, p: Point, q: Point, dist_p: dict[int, float]) -> float:
        best = min((dist_p.get(u, math.inf) + c for u, c in self.entries(q)), default=math.inf)
        for r, fp, ap in p.cands:
            for rq, fq, aq in q.cands:
                if r == rq and fp <= fq:
                    best = min(best, (fq - fp) * self.t[r] + ap + aq)
        return best


# --------------------------------------------------------------------------- points of every kind


def pick_points(oracle: Oracle, seed: int = 11) -> list[Point]:
    """Nodes of every kind and mid-edge points on one-way and two-way edges (lon/lat)."""
    rng = np.random.default_rng(seed)
    G = oracle.G
    ends = {}
    for r, c in enumerate(oracle.coords):
        ends[int(oracle.u[r])] = c[0]
        ends[int(oracle.v[r])] = c[-1]
    scc = max(nx.strongly_connected_components(G), key=len)
    pairs = set(zip(oracle.u.tolist(), oracle.v.tolist(), strict=True))
    kinds: dict[str, list[int]] = {"one-way junction": [], "dead end": [], "two-way junction": [], "degree 2": [], "degree 3+": [], "one-way degree 2": []}
    local_nodes = None
    if oracle.stitched:  # node kinds of the local part: nodes with local roads only
        not_local = np.isin(oracle.highway, BACKBONE_CLASSES)
        local_nodes = set(oracle.u[~not_local].tolist()) - set(oracle.u[not_local].tolist()) - set(oracle.v[not_local].tolist())
    for n in G.nodes:
        if local_nodes is not None and n not in local_nodes:
            continue
        nbrs = set(G.successors(n)) | set(G.predecessors(n))
        one_way = any((n, m) not in pairs or (m, n) not in pairs for m in nbrs)
        deg = len(nbrs)
        if deg == 1:
            kinds["dead end"].append(n)
        elif deg == 2:
            kinds["one-way degree 2" if one_way else "degree 2"].append(n)
        else:
            kinds["degree 3+"].append(n)
            kinds["one-way junction" if one_way else "two-way junction"].append(n)
    points = []
    for kind, nodes in kinds.items():
        nodes = sorted(nodes, key=lambda n: (n not in scc, n))  # reachable ones first, one outside if any
        inside = [n for n in nodes if n in scc]
        chosen = list(rng.choice(inside, size=min(PER_KIND, len(inside)), replace=False)) if inside else []
        assert chosen, f"the extract has no node of kind {kind!r}"
        for n in chosen:
            lon, lat = ends[int(n)]
            points.append(oracle.place(float(lon), float(lat), kind))
    # mid-edge: on a middle segment of a long edge, far from nodes and other roads
    for kind, want_two_way in (("mid one-way edge", False), ("mid two-way edge", True)):
        rows = [
            r for r in rng.permutation(len(oracle.coords))
            if ((int(oracle.v[r]), int(oracle.u[r])) in pairs) == want_two_way and oracle.u[r] in scc and oracle.v[r] in scc and oracle.highway[r] not in BACKBONE_CLASSES
        ]  # fmt: skip
        got = 0
        for r in rows:
            c = oracle.coords[r]
            seg = hav_m(c[:-1, 0], c[:-1, 1], c[1:, 0], c[1:, 1])
            if seg.sum() < 60 or seg.max() < 20:
                continue
            k = int(np.argmax(seg))
            lon, lat = c[k] + 0.37 * (c[k + 1] - c[k])
            d = oracle.distances(float(lon), float(lat))
            if ((d > 0.5) & (d < 3.0)).any():  # another road at the tie tolerance: ambiguous, not a test of the rule
                continue
            p = oracle.place(float(lon), float(lat), kind)
            if p.node is None and (len(p.cands) == 2) == want_two_way:
                points.append(p)
                got += 1
            if got == PER_KIND:
                break
        assert got, f"no {kind} point found"
    if oracle.stitched:
        points += _stitched_points(oracle, rng, scc, local_nodes)
    return points


#: Kinds of point added on the stitched network.
STITCHED_KINDS = {"local end of a join", "backbone end of a join", "backbone node", "off the extract, beside the backbone"}


def _stitched_points(oracle: Oracle, rng, scc: set, local_nodes: set) -> list[Point]:
    """Points at both ends of the joins (connectors), at backbone nodes, and off the extract
    beside backbone roads (they snap to backbone edges: the backbone's access rule)."""
    ends = {}
    for r, c in enumerate(oracle.coords):
        ends[int(oracle.u[r])] = c[0]
        ends[int(oracle.v[r])] = c[-1]
    conn = oracle.highway == "connector"
    bb = oracle.highway == "backbone"
    joined = set(oracle.u[conn].tolist())
    bb_nodes = set(oracle.u[bb].tolist()) | set(oracle.v[bb].tolist())
    local_end = sorted(n for n in joined if n in scc and n not in bb_nodes)
    bb_end = sorted(n for n in joined if n in scc and n in bb_nodes)
    plain_bb = sorted(n for n in bb_nodes - joined if n in scc)
    points = []
    for kind, nodes in (("local end of a join", local_end), ("backbone end of a join", bb_end), ("backbone node", plain_bb)):
        assert nodes, f"the stitched network has no node of kind {kind!r}"
        for n in rng.choice(nodes, size=min(PER_KIND, len(nodes)), replace=False):
            lon, lat = ends[int(n)]
            points.append(oracle.place(float(lon), float(lat), kind))
    # off the extract: 400 m beside the middle of a backbone edge 10–700 km from the extract's
    # centre, whatever its bearing, at least one of them over 2° of latitude from the network's
    # grid frame (the nearest position is the point's own: found in its own frame, not the grid's)
    all_lat = np.concatenate([c[:, 1] for c in oracle.coords])
    lat0 = float(all_lat.min() + all_lat.max()) / 2  # the middle latitude of the whole network
    local = ~np.isin(oracle.highway, BACKBONE_CLASSES)
    c_lon = float(np.mean([c[0, 0] for c, keep in zip(oracle.coords, local, strict=True) if keep]))
    c_lat = float(np.mean([c[0, 1] for c, keep in zip(oracle.coords, local, strict=True) if keep]))
    got = 0
    for r in rng.permutation(np.flatnonzero(bb)):
        c = oracle.coords[r]
        if len(c) != 2 or oracle.u[r] not in scc or oracle.v[r] not in scc:
            continue
        mid = (c[0] + c[1]) / 2
        far = float(hav_m(c_lon, c_lat, mid[0], mid[1]))
        if not 10_000 <= far <= 700_000 or float(hav_m(c[0, 0], c[0, 1], c[1, 0], c[1, 1])) < 1_000:
            continue
        if got == PER_KIND - 1 and not any(abs(q.lat - lat0) > 2 for q in points if q.kind.startswith("off the extract")) and abs(mid[1] - lat0) <= 2:
            continue  # keep the last place for a point far in latitude from the grid frame
        kx, ky = math.radians(1) * R_EARTH * math.cos(math.radians(mid[1])), math.radians(1) * R_EARTH
        dx, dy = (c[1, 0] - c[0, 0]) * kx, (c[1, 1] - c[0, 1]) * ky
        norm = math.hypot(dx, dy)
        lon, lat = mid[0] - dy / norm * 400 / kx, mid[1] + dx / norm * 400 / ky
        d = oracle.distances(float(lon), float(lat))
        first = np.sort(d)
        near = np.flatnonzero(d <= first[0] + TIE_M)
        same_road = {frozenset((int(oracle.u[q]), int(oracle.v[q]))) for q in near} == {frozenset((int(oracle.u[r]), int(oracle.v[r])))}
        if not same_road or ((d > first[0] + 0.5) & (d < first[0] + 3.0)).any():
            continue  # not nearest to this backbone road alone, or another road at the tie tolerance
        p = oracle.place(float(lon), float(lat), "off the extract, beside the backbone")
        if p.node is None:
            points.append(p)
            got += 1
        if got == PER_KIND:
            break
    assert got == PER_KIND, "too few points off the extract beside a backbone road found"
    assert any(abs(q.lat - lat0) > 2 for q in points if q.kind.startswith("off the extract"))
    return points


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", params=[*_extracts(), STITCHED])
def world(request, tmp_path_factory):
    """(engine network, oracle, points, oracle route matrix M[o][d], oracle node times per point, folder)."""
    from geo import network as gn

    stitched = request.param == STITCHED
    osm = shared_file(request.param.removeprefix("stitched:"))
    tmp = tmp_path_factory.mktemp("oracle")
    name = "oracle-" + osm.name.split(".")[0].replace("_", "-")
    built = _cli("build", "--osm", str(osm), "--name", name, "--dir", str(tmp))
    assert built.returncode == 0, built.stderr
    folder = tmp / name
    if stitched:  # the backbone of this run's dataset outside the extract, its streets inside (geo.stitch)
        from geo import stitch

        backbone = gn.load(gn.networks_dir(request.getfixturevalue("dataset")) / "backbone")
        folder = gn.save(stitch.stitch(backbone, [gn.load(folder)]), tmp / stitch.NAME)
    gpkg = tmp / "edges.gpkg"
    exported = _cli("network", "--network", str(folder), "--out", str(gpkg))
    assert exported.returncode == 0, exported.stderr
    oracle = Oracle(gpd.read_file(gpkg, layer="edges"))
    points = pick_points(oracle)
    times = [oracle.node_times(p) for p in points]
    M = np.array([[oracle.time(p, q, times[i]) for q in points] for i, p in enumerate(points)])
    return gn.load(folder), oracle, points, M, times, folder


def _mismatches(got: np.ndarray, want: np.ndarray) -> list[tuple]:
    bad = []
    for idx in np.ndindex(want.shape):
        if not close(float(got[idx]), float(want[idx])):
            bad.append((idx, float(got[idx]), float(want[idx])))
    return bad


def _describe(points, bad, limit=8) -> str:
    rows = []
    for idx, g, w in bad[:limit]:
        kinds = " → ".join(points[i].kind for i in idx)
        rows.append(f"{idx} {kinds}: engine {g:.3f} s, oracle {w:.3f} s ({(g / w - 1) * 100 if w and math.isfinite(w) and math.isfinite(g) else math.inf:+.1f} %)")
    return f"{len(bad)} mismatches:\n" + "\n".join(rows)


# --------------------------------------------------------------------------- tests


def test_every_kind_of_point_is_covered(world):
    net, _, points, M, _, _ = world
    kinds = {p.kind for p in points}
    extra = STITCHED_KINDS if net.meta.get("kind") == "stitched" else set()
    assert kinds == {"one-way junction", "dead end", "two-way junction", "degree 2", "degree 3+", "one-way degree 2", "mid one-way edge", "mid two-way edge"} | extra
    assert np.isfinite(M).mean() > 0.9  # the points are chosen in the main strongly connected part


def test_route_times_equal_the_oracle(world):
    from geo import routing

    net, _, points, M, _, _ = world
    got = np.full(M.shape, np.nan)
    for i, p in enumerate(points):
        for j, q in enumerate(points):
            try:
                got[i, j] = routing.route(net, (p.lon, p.lat), (q.lon, q.lat)).travel_time_s
            except routing.NoRoute:
                got[i, j] = math.inf
    bad = _mismatches(got, M)
    assert not bad, _describe(points, bad)


def test_route_geometry_time_and_ends_are_consistent(world):
    """The drawn route starts at the origin, ends at the destination, and its segment times add up."""
    from geo import routing

    net, _, points, M, _, _ = world
    for i in range(0, len(points), 3):
        j = (i * 7 + 5) % len(points)
        if not math.isfinite(M[i, j]):
            continue
        r = routing.route(net, (points[i].lon, points[i].lat), (points[j].lon, points[j].lat))
        assert r.coords[0] == pytest.approx([points[i].lon, points[i].lat]) and r.coords[-1] == pytest.approx([points[j].lon, points[j].lat])
        assert float(r.seg_time_s.sum()) == pytest.approx(M[i, j], rel=REL, abs=ABS_S)


def test_nearest_k_times_equal_the_oracle(world):
    from geo.nearest import nearest, prepare

    net, _, points, M, _, _ = world
    ids = [f"P{i}" for i in range(len(points))]
    prep = prepare(net, ids, [p.lon for p in points], [p.lat for p in points])
    problems = []
    for j, incident in enumerate(points):
        want = M[:, j]  # from every resource to the incident
        answers = nearest(net, (incident.lon, incident.lat), prep, k=K)
        expected_k = np.sort(want[np.isfinite(want)])[:K]
        got_times = [a.travel_time_s for a in answers]
        if len(got_times) != len(expected_k) or not all(close(g, w) for g, w in zip(got_times, expected_k, strict=False)):
            problems.append((j, incident.kind, np.round(got_times, 3).tolist(), np.round(expected_k, 3).tolist()))
            continue
        for a in answers:  # each answer's own time is the oracle's for that resource
            if not close(a.travel_time_s, float(want[ids.index(a.id)])):
                problems.append((j, incident.kind, a.id, a.travel_time_s, float(want[ids.index(a.id)])))
    assert not problems, f"{len(problems)} incidents differ: {problems[:6]}"


def test_zone_assignment_and_isochrones_equal_the_oracle(world):
    from geo import zones as gz

    net, _, points, _, times, _ = world
    node_ids = np.asarray(net.node_id)
    fac = list(range(0, len(points), 2))  # every other point is a facility: all kinds among them
    snaps = gz.snap_facilities(net, [points[i].lon for i in fac], [points[i].lat for i in fac])
    a = gz.assign(net, snaps)
    per = np.array([[times[i].get(int(n), math.inf) for n in node_ids] for i in fac])  # facility × node
    want = per.min(axis=0)
    bad = _mismatches(a.time_s, want)
    assert not bad, f"{len(bad)} node times differ, e.g. {bad[:5]}"
    # the first-arriving facility, wherever it is not a tie
    order = np.sort(per, axis=0)
    with np.errstate(invalid="ignore"):  # inf - inf where no facility reaches a node
        clear = np.isfinite(want) & ((order[1] - order[0]) > REL * np.maximum(order[0], 1.0))
    assert (a.facility[clear] == np.argmin(per, axis=0)[clear]).all()
    assert (a.facility[~np.isfinite(want)] == -1).all()
    # isochrone membership, merged and per facility, at breaks between the extremes
    finite = want[np.isfinite(want)]
    breaks = sorted({max(1, int(np.quantile(finite, q) / 60)) for q in (0.2, 0.5, 0.8)})
    area = shapely.box(*np.r_[np.min(net.node_lon), np.min(net.node_lat), np.max(net.node_lon), np.max(net.node_lat)]).buffer(0.01)
    cells = gz.node_cells(net, area)
    if net.meta.get("kind") == "stitched":
        # geo.zones defect, reported: on the backbone (and so here) `node_cells` gives two nodes near
        # 35° N a cell that is a polygon plus a line, and `isochrones` then fails in coverage_union_all;
        # membership (what this oracle checks) does not depend on the cells, so keep their polygons only
        polygonal = [shapely.union_all([g for g in shapely.get_parts(c) if g.geom_type in ("Polygon", "MultiPolygon")]) for c in cells.cells]
        cells = gz.Cells(np.asarray(polygonal, dtype=object))
    iso = gz.isochrones(a.time_s, cells, breaks_min=breaks)
    for b, n_nodes in zip(iso["break_min"], iso["nodes"], strict=True):
        assert n_nodes == int((want <= b * 60 * (1 + REL)).sum()) or n_nodes == int((want <= b * 60 * (1 - REL)).sum())
    for k, i in enumerate(fac):
        got = gz.times_from(net, snaps[k])
        bad = _mismatches(got, per[k])
        assert not bad, f"facility {i} ({points[i].kind}): {len(bad)} node times differ, e.g. {bad[:5]}"
        for b in breaks:
            edge = np.abs(per[k] - b * 60) <= REL * b * 60
            assert ((got <= b * 60) == (per[k] <= b * 60))[~edge].all()


def test_planning_cost_matrix_equals_the_oracle(world):
    from geo import planning

    net, _, points, M, _, _ = world
    lon, lat = [p.lon for p in points], [p.lat for p in points]
    cost = planning.cost_matrix(net, lon, lat, lon, lat)  # demand × candidate: candidate → demand
    bad = _mismatches(cost, M.T)
    assert not bad, _describe(points, [((j, i), g, w) for (i, j), g, w in bad])
    limit = float(np.nanmedian(np.where(np.isfinite(M), M, np.nan)))
    limited = planning.cost_matrix(net, lon, lat, lon, lat, limit_s=limit)
    assert not _mismatches(limited, np.where(M.T <= limit, M.T, np.inf))


def test_cli_route_equals_the_oracle(world):
    net, _, points, M, _, folder = world
    # one-way junctions and dead ends to mid-edge points and back: where a wrong snap shows most
    starts = [i for i, p in enumerate(points) if p.kind in ("one-way junction", "dead end")][:2]
    ends = [i for i, p in enumerate(points) if p.kind.startswith("mid")][:2]
    for i, j in [(i, j) for i in starts for j in ends[:1]] + [(j, i) for i in starts[:1] for j in ends]:
        if not math.isfinite(M[i, j]):
            continue
        p, q = points[i], points[j]
        proc = _cli("route", "--network", str(folder), "--from", f"{p.lon:.9f},{p.lat:.9f}", "--to", f"{q.lon:.9f},{q.lat:.9f}")
        assert proc.returncode == 0, proc.stderr
        got = json.loads(proc.stdout)["travel_time_s"]
        assert close(got, float(M[i, j])), f"{p.kind} → {q.kind}: CLI {got} s, oracle {M[i, j]} s"


def test_cli_plan_mclp_equals_the_optimum_over_the_oracle(world, tmp_path):
    from geo import planning

    net, _, points, M, _, folder = world
    lon, lat = np.array([p.lon for p in points]), np.array([p.lat for p in points])
    service_s = float(np.quantile(M[np.isfinite(M)], 0.25))
    service_min = math.floor(service_s / 60 * 1000) / 1000  # what the CLI is given
    demand = tmp_path / "demand.geojson"
    gpd.GeoDataFrame({"weight": np.ones(len(points))}, geometry=gpd.points_from_xy(lon, lat), crs=4326).to_file(demand)
    cands = tmp_path / "cands.csv"
    pd.DataFrame({"id": [f"C{i}" for i in range(len(points))], "lon": lon, "lat": lat}).to_csv(cands, index=False, float_format="%.10f")
    proc = _cli("plan", "--network", str(folder), "--model", "mclp", "--candidates", str(cands), "--demand", str(demand), "--p", "3", "--service-min", f"{service_min}")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    cost = np.where(M.T <= service_min * 60, M.T, np.inf)
    best = planning.mclp(cost, np.ones(len(points)), p=3, service_s=service_min * 60)
    assert out["status"] == "optimal" and best.status == "optimal"
    assert out["objective"] == pytest.approx(best.objective)
    chosen = [int(c[1:]) for c in out["chosen"]]  # the CLI's sites cover that many over the oracle's times too
    assert (cost[:, chosen] <= service_min * 60).any(axis=1).sum() == pytest.approx(best.objective)


def test_routes_and_cost_matrix_with_a_closure_equal_the_oracle_without_its_edges(world):
    """Closures: the oracle drops every exported edge whose geometry meets the polygon."""
    from geo import planning, routing

    net, oracle, points, _, _, _ = world
    lon, lat = np.array([p.lon for p in points]), np.array([p.lat for p in points])
    centre = shapely.Point(float(np.median(lon)), float(np.median(lat)))
    closure = centre.buffer(0.004)  # about 400 m across the middle of the extract
    hit = shapely.intersects(oracle.lines, closure)
    assert hit.sum() > 10
    kept = Oracle(oracle.edges[~hit].reset_index(drop=True))
    # points whose own road is closed are refused (tested in test_nearest); keep the others
    free = [i for i, p in enumerate(points) if not ({r for r, _, _ in p.cands} and hit[[r for r, _, _ in p.cands]].all()) and not (p.node is not None and all(hit[(oracle.u == p.node) | (oracle.v == p.node)]))]
    placed = [kept.place(points[i].lon, points[i].lat, points[i].kind) for i in free]
    assert all(len(q.cands) == len([c for c in points[i].cands if not hit[c[0]]]) or q.node is not None for q, i in zip(placed, free, strict=True))
    times = [kept.node_times(q) for q in placed]
    want = np.array([[kept.time(p, q, times[a]) for q in placed] for a, p in enumerate(placed)])
    blocked = routing.blocked_edges(net, [closure])
    got = np.full(want.shape, np.nan)
    for a, p in enumerate(placed):
        for b, q in enumerate(placed):
            try:
                got[a, b] = routing.route(net, (p.lon, p.lat), (q.lon, q.lat), blocked=blocked).travel_time_s
            except routing.NoRoute as exc:
                assert exc.code == "no_route"
                got[a, b] = math.inf
    bad = _mismatches(got, want)
    assert not bad, _describe(placed, bad)
    cost = planning.cost_matrix(net, lon[free], lat[free], lon[free], lat[free], blocked=blocked)
    assert not _mismatches(cost, want.T)
