"""The road backbone (issue 11): build, reload, nearest-5 and one-to-one routes, checked against scipy.

The backbone is built from the installed ``scgraph-data`` package by the function ``make data``
calls (`geo.backbone.build_backbone` over the provinces of `data.build.load_jurisdictions`),
three times, each in a fresh process.  One build is saved; a fresh process loads it and answers
seeded random queries whose points lie anywhere inside the four provinces (so most are off the
backbone and reach it by an access leg).  A sample of the answers is recomputed independently:
scipy.sparse.csgraph Dijkstra over the directed edges (`u`, `v`, `travel_time_s`, as
``python -m geo network`` exports them), from the engine's snapped candidates; the snapped
distances themselves are checked against shapely's nearest edge.

Run alone: ``python -m benchmarks --only backbone``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
N_BUILDS = 3
N_INCIDENTS = 200
N_RESOURCES = 100
N_ROUTES = 150  # uniform random pairs …
N_LONG_ROUTES = 100  # … plus pairs at least LONG_KM apart (straight line)
LONG_KM = 300.0
K = 5
N_CHECK_NEAREST = 60
N_CHECK_ROUTES = 120
REL_TOL = 1e-6
ABS_TOL_S = 1e-6
WORKER_TIMEOUT_S = 900


def _provinces():
    from data.dataset.build import load_jurisdictions

    jur = load_jurisdictions()
    return jur.loc[jur["level"] == "province"].geometry.values


# --------------------------------------------------------------------------- workers (fresh processes)


def build_worker(out: Path | None) -> dict:
    """Build the backbone as ``make data`` does (jurisdictions loaded first, not timed); save it to `out`."""
    from geo import network as gn

    regions = _provinces()
    t = time.perf_counter()
    from geo import backbone

    net = backbone.build_backbone(regions, name=backbone.NAME)
    build_s = time.perf_counter() - t
    res = {"build_s": build_s, "n_nodes": net.n_nodes, "n_edges": net.n_edges, "components": net.meta["components"], "main_component_nodes": net.meta["main_component_nodes"]}
    if out is not None:
        t = time.perf_counter()
        gn.save(net, out)
        res["save_s"] = time.perf_counter() - t
    return res


def _points_in(regions, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` uniform random points (lon, lat) inside the union of `regions`."""
    import shapely

    union = shapely.union_all(regions)
    shapely.prepare(union)
    minx, miny, maxx, maxy = union.bounds
    out = np.zeros((0, 2))
    while len(out) < n:
        cand = np.column_stack([rng.uniform(minx, maxx, 4 * n), rng.uniform(miny, maxy, 4 * n)])
        out = np.vstack([out, cand[shapely.contains_xy(union, cand[:, 0], cand[:, 1])]])
    return out[:n]


def make_queries(*, seed: int) -> dict:
    """Seeded random resources, incidents and route ends inside the four provinces (lon, lat)."""
    from geo.network import haversine_m

    rng = np.random.default_rng(seed)
    regions = _provinces()
    resources = _points_in(regions, N_RESOURCES, rng)
    incidents = _points_in(regions, N_INCIDENTS, rng)
    pairs = _points_in(regions, 2 * N_ROUTES, rng).reshape(-1, 2, 2)
    long_pairs = []
    while len(long_pairs) < N_LONG_ROUTES:
        p = _points_in(regions, 2000, rng).reshape(-1, 2, 2)
        d = haversine_m(p[:, 0, 0], p[:, 0, 1], p[:, 1, 0], p[:, 1, 1])
        long_pairs.extend(p[d >= LONG_KM * 1000].tolist())
    routes = np.vstack([pairs, np.asarray(long_pairs[:N_LONG_ROUTES])])
    straight = haversine_m(routes[:, 0, 0], routes[:, 0, 1], routes[:, 1, 0], routes[:, 1, 1])
    return {
        "resource_ids": [f"r{i}" for i in range(N_RESOURCES)], "resources": resources.tolist(),
        "incidents": incidents.tolist(), "routes": routes.tolist(), "straight_m": straight.tolist(),
    }  # fmt: skip


def _snap_record(s) -> dict:
    return {"node": int(s.node), "distance_m": float(s.distance_m), "edge": list(s.cand_edge), "fraction": list(s.cand_fraction), "cand_m": list(s.cand_distance_m)}


def engine_worker(folder: Path, queries: dict) -> dict:
    """Load the saved backbone and answer every query with the engine; times (s), answers, snaps."""
    from geo import nearest as gnear
    from geo import network as gn
    from geo import routing

    t0 = time.perf_counter()
    net = gn.load(folder)
    load_s = time.perf_counter() - t0
    prepared = gnear.prepare(net, queries["resource_ids"], *np.array(queries["resources"]).T)
    gnear.nearest(net, tuple(queries["incidents"][0]), prepared, k=K)
    reload_s = time.perf_counter() - t0
    t = time.perf_counter()
    try:
        routing.route(net, *map(tuple, queries["routes"][0]))
    except routing.NoRoute:
        pass
    first_route_s = time.perf_counter() - t

    nearest_s, answers, inc_snaps = [], [], []
    for at in queries["incidents"]:
        t = time.perf_counter()
        try:
            got = [[a.id, a.travel_time_s] for a in gnear.nearest(net, tuple(at), prepared, k=K)]
        except (routing.OffNetwork, routing.NoRoute) as exc:
            got = type(exc).__name__
        nearest_s.append(time.perf_counter() - t)
        answers.append(got)
        try:
            inc_snaps.append(_snap_record(routing.snap(net, *at)))
        except routing.OffNetwork:
            inc_snaps.append(None)
    route_s, route_t, route_len, end_snaps = [], [], [], []
    for o, d in queries["routes"]:
        t = time.perf_counter()
        try:
            r = routing.route(net, tuple(o), tuple(d))
            tt, ll = r.travel_time_s, r.length_m
        except (routing.OffNetwork, routing.NoRoute) as exc:
            tt, ll = type(exc).__name__, math.nan
        route_s.append(time.perf_counter() - t)
        route_t.append(tt)
        route_len.append(ll)
        try:
            end_snaps.append([_snap_record(routing.snap(net, *o)), _snap_record(routing.snap(net, *d))])
        except routing.OffNetwork:
            end_snaps.append(None)
    return {
        "load_s": load_s, "reload_s": reload_s, "first_route_s": first_route_s,
        "nearest_s": nearest_s, "nearest": answers, "route_s": route_s, "route_time_s": route_t, "route_length_m": route_len,
        "resource_snaps": [_snap_record(s) if s is not None else None for s in prepared.snaps],
        "incident_snaps": inc_snaps, "route_snaps": end_snaps,
    }  # fmt: skip


# --------------------------------------------------------------------------- oracle


class Oracle:
    """scipy Dijkstra over the directed edges of the saved backbone, from snapped candidates.

    Placement follows the rule `geo.routing` documents (a point at a node uses the node; a
    point on an edge leaves forwards at (1 − f) × its time and is reached from behind at
    f × its time; each candidate adds its own access leg: straight line × the network's stated
    ``access_circuity`` at its ``access_speed_kph``, read from meta.json; defaults 1 and
    `geo.network.ACCESS_SPEED_KPH`),
    using the engine's candidates (edge, fraction, distance) as input; the search itself is
    scipy's.  Parallel edges: the fastest.
    """

    def __init__(self, folder: Path) -> None:
        from scipy import sparse

        from geo.network import ACCESS_SPEED_KPH

        self.u = np.load(folder / "edge_u.npy").astype(np.int64)
        self.v = np.load(folder / "edge_v.npy").astype(np.int64)
        self.w = np.load(folder / "edge_time_s.npy").astype(float)
        n = int(max(self.u.max(), self.v.max())) + 1
        order = np.lexsort((self.w, self.v, self.u))
        u, v, w = self.u[order], self.v[order], self.w[order]
        first = np.ones(len(u), dtype=bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        self.fwd = sparse.csr_matrix((w[first], (u[first], v[first])), shape=(n, n))
        self.rev = self.fwd.T.tocsr()
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        self.access_mps = float(meta.get("access_speed_kph", ACCESS_SPEED_KPH)) / 3.6 / float(meta.get("access_circuity", 1.0))

    def exits(self, s: dict) -> list[tuple[int, float, int, float]]:
        """(node, cost s, edge, fraction) ways out of snapped point `s` (edge -1 at a node)."""
        if s["node"] >= 0:
            return [(s["node"], s["distance_m"] / self.access_mps, -1, 0.0)]
        return [(int(self.v[e]), d / self.access_mps + (1 - f) * self.w[e], e, f) for e, f, d in zip(s["edge"], s["fraction"], s["cand_m"], strict=True)]

    def entries(self, s: dict) -> list[tuple[int, float, int, float]]:
        if s["node"] >= 0:
            return [(s["node"], s["distance_m"] / self.access_mps, -1, 0.0)]
        return [(int(self.u[e]), d / self.access_mps + f * self.w[e], e, f) for e, f, d in zip(s["edge"], s["fraction"], s["cand_m"], strict=True)]

    def to_point(self, s: dict) -> np.ndarray:
        """Travel time (s) from every node to point `s` (reverse Dijkstra from its entries)."""
        from scipy.sparse.csgraph import dijkstra

        ent = self.entries(s)
        dist = dijkstra(self.rev, directed=True, indices=[node for node, _, _, _ in ent])
        return (dist + np.array([cost for _, cost, _, _ in ent])[:, None]).min(axis=0)

    def time(self, a: dict, b: dict, to_b: np.ndarray | None = None) -> float:
        """Fastest time from snapped point `a` to snapped point `b`."""
        to_b = self.to_point(b) if to_b is None else to_b
        best = min((cost + to_b[node] for node, cost, _, _ in self.exits(a)), default=math.inf)
        for _, ca, ea, fa in self.exits(a):  # the two points on one edge, b further along
            for _, cb, eb, fb in self.entries(b):
                if ea >= 0 and ea == eb and fa <= fb:
                    best = min(best, ca - (1 - fa) * self.w[ea] + cb - fb * self.w[ea] + (fb - fa) * self.w[ea])
        return float(best)


def _close(a: float, b: float) -> bool:
    if not (math.isfinite(a) or math.isfinite(b)):
        return True
    return abs(a - b) <= max(ABS_TOL_S, REL_TOL * max(abs(a), abs(b)))


def check(folder: Path, queries: dict, engine: dict) -> dict:
    """Recompute the first `N_CHECK_NEAREST` nearest-5 and `N_CHECK_ROUTES` route answers with `Oracle`.

    Nearest: the engine's k times must be the oracle's k smallest over all resources (ties in
    any order) and each must be the oracle's time of that resource.  Route: equal times, or
    both unreachable.  Snaps: engine distance vs shapely's distance to the nearest edge.
    """
    import shapely

    from geo import network as gn

    oracle = Oracle(folder)
    res_snaps = engine["resource_snaps"]
    mismatches = []
    n_near = 0
    for q in range(min(N_CHECK_NEAREST, len(queries["incidents"]))):
        s, got = engine["incident_snaps"][q], engine["nearest"][q]
        if s is None:
            continue
        to_inc = oracle.to_point(s)
        times = {rid: oracle.time(rs, s, to_inc) for rid, rs in zip(queries["resource_ids"], res_snaps, strict=True) if rs is not None}
        want = sorted(t for t in times.values() if math.isfinite(t))[:K]
        ok = isinstance(got, list) and len(got) == len(want) and all(_close(t, times[rid]) for rid, t in got) and all(_close(a[1], b) for a, b in zip(got, want, strict=True))
        n_near += 1
        if not ok:
            mismatches.append({"kind": "nearest", "query": q, "engine": got, "oracle": want})
    n_route = 0
    for q in range(min(N_CHECK_ROUTES, len(queries["routes"]))):
        ends, got = engine["route_snaps"][q], engine["route_time_s"][q]
        if ends is None:
            continue
        want = oracle.time(ends[0], ends[1])
        got_t = got if isinstance(got, float) else math.inf
        n_route += 1
        if not _close(got_t, want):
            mismatches.append({"kind": "route", "query": q, "engine": got, "oracle": want})
    # snapped distance: engine vs shapely's nearest edge, candidates from a tree in the network's
    # local metres, exact distance in metres centred on each point (equirectangular error < 1e-4 within 30 km)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    glon, glat, off = (np.load(folder / f) for f in ("geom_lon.npy", "geom_lat.npy", "geom_offsets.npy"))
    edge_of = np.repeat(np.arange(len(off) - 1), np.diff(off))
    x, y = gn.LocalProjection(float(meta["lon0"]), float(meta["lat0"])).forward(glon, glat)
    tree = shapely.STRtree(shapely.linestrings(x, y, indices=edge_of))
    diffs, rel = [], []
    for p, s in [*zip(queries["incidents"], engine["incident_snaps"], strict=True), *zip(queries["resources"], res_snaps, strict=True)]:
        if s is None:
            continue
        gx, gy = gn.LocalProjection(float(meta["lon0"]), float(meta["lat0"])).forward(p[0], p[1])
        near = tree.query(shapely.Point(gx, gy), predicate="dwithin", distance=s["distance_m"] * 1.2 + 1000.0)
        local = gn.LocalProjection(float(p[0]), float(p[1]))
        sel = np.isin(edge_of, near)
        lx, ly = local.forward(glon[sel], glat[sel])
        dist = shapely.distance(shapely.linestrings(lx, ly, indices=np.unique(edge_of[sel], return_inverse=True)[1]), shapely.Point(0.0, 0.0)).min()
        diffs.append(abs(s["distance_m"] - float(dist)))
        rel.append(abs(s["distance_m"] - float(dist)) / max(float(dist), 1.0))
    diff = np.asarray(diffs)

    return {
        "nearest_checked": n_near, "routes_checked": n_route, "mismatches": mismatches,
        "snap_checked": len(diffs), "snap_max_abs_diff_m": float(diff.max()), "snap_max_rel_diff": float(max(rel)), "snap_median_abs_diff_m": float(np.median(diff)),
    }  # fmt: skip


# --------------------------------------------------------------------------- the run


def _run_worker(*args: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.backbone", *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        msg = f"backbone worker {args[0]} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        raise RuntimeError(msg)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(*, seed: int = 2026) -> dict:
    """Build 3×, save, measure queries in a fresh process, check a sample against scipy."""
    from benchmarks.network import _evict_page_cache

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-backbone-") as tmp:
        folder = Path(tmp) / "backbone"
        builds = [_run_worker("build", str(folder) if i == 0 else "-") for i in range(N_BUILDS)]
        queries = make_queries(seed=seed)
        qfile = Path(tmp) / "queries.json"
        qfile.write_text(json.dumps(queries), encoding="utf-8")
        disk_mib = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        _evict_page_cache(folder)
        engine = _run_worker("engine", str(folder), str(qfile))
        checked = check(folder, queries, engine)
        shutil.rmtree(folder)
    return {
        "builds": builds, "disk_mib": disk_mib, "queries": queries, "engine": engine, "check": checked,
        "total_s": time.perf_counter() - t0, "package": f"scgraph-data {version('scgraph-data')}",
    }  # fmt: skip


# --------------------------------------------------------------------------- report


def _t(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.2f} s"


def _pct(values, q: float) -> float:
    return float(np.percentile(values, q))


def markdown(r: dict) -> str:
    """The section of BENCHMARKS.md for these figures."""
    b = r["builds"]
    build_s = [x["build_s"] for x in b]
    e, q, c = r["engine"], r["queries"], r["check"]
    straight = np.asarray(q["straight_m"])
    route_s = np.asarray(e["route_s"])
    long_ = straight >= LONG_KM * 1000
    ok_route = np.array([isinstance(t, float) for t in e["route_time_s"]])
    no_route = {k: sum(1 for t in e["route_time_s"] if t == k) for k in ("NoRoute", "OffNetwork")}
    near_fail = {k: sum(1 for a in e["nearest"] if a == k) for k in ("NoRoute", "OffNetwork")}
    short_k = sum(1 for a in e["nearest"] if isinstance(a, list) and len(a) < K)
    road_km = np.asarray(e["route_length_m"], dtype=float)[ok_route & long_] / 1000
    same = "yes" if not c["mismatches"] else f"**no: {len(c['mismatches'])} differ**"
    lines = [
        "## Backbone network (issue 11)",
        "",
        f"`benchmarks/backbone.py`. Network `backbone` from the installed {r['package']} (`world_highways`), built by `geo.backbone.build_backbone` over "
        f"the four provinces as `make data` does: {b[0]['n_nodes']:,} nodes, {b[0]['n_edges']:,} directed edges, "
        f"{b[0]['components']} components (main {b[0]['main_component_nodes']:,} nodes), {r['disk_mib']:.0f} MiB on disk. "
        f"Whole section: {r['total_s']:.0f} s.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| build (`build_backbone`, fresh process, package import included), median of {len(b)} | {_t(statistics.median(build_s))} ({', '.join(_t(x) for x in build_s)}) |",
        f"| reload (fresh process, page cache dropped: `load` + snapping {N_RESOURCES} resources + first nearest-5) | {_t(e['reload_s'])} (load alone {_t(e['load_s'])}) |",
        f"| first route after reload | {_t(e['first_route_s'])} |",
        f"| nearest-5 of {N_RESOURCES} resources, median (p95) over {len(e['nearest_s'])} incidents | {_t(statistics.median(e['nearest_s']))} ({_t(_pct(e['nearest_s'], 95))}) |",
        f"| route, median (p95) over {len(route_s)} pairs | {_t(float(np.median(route_s)))} ({_t(_pct(route_s, 95))}) |",
        f"| route, pairs ≥ {LONG_KM:.0f} km straight line, median (p95) over {int(long_.sum())} | {_t(float(np.median(route_s[long_])))} ({_t(_pct(route_s[long_], 95))}) |",
        f"| route, pairs < {LONG_KM:.0f} km, median (p95) over {int((~long_).sum())} | {_t(float(np.median(route_s[~long_])))} ({_t(_pct(route_s[~long_], 95))}) |",
        f"| same answers as scipy Dijkstra (sample) | {same} ({c['nearest_checked']} nearest-5 + {c['routes_checked']} routes) |",
        f"| snapped distance vs shapely nearest edge ({c['snap_checked']} points) | median difference {c['snap_median_abs_diff_m']:.3g} m, max {c['snap_max_abs_diff_m']:.3g} m (at most {100 * c['snap_max_rel_diff']:.2g} % of a point's distance) |",
        "",
        "How it was measured:",
        "",
        f"- Points (seeded): {N_RESOURCES} resources and {N_INCIDENTS} incidents uniform at random inside the union of the four "
        f"provinces' outlines; {N_ROUTES} uniform random pairs plus {N_LONG_ROUTES} pairs at least {LONG_KM:.0f} km apart in a "
        f"straight line (road length of those: median {np.median(road_km):.0f} km, max {road_km.max():.0f} km). "
        f"Routes without answer: {no_route['NoRoute']} no route (cut-off components, e.g. islands), {no_route['OffNetwork']} "
        f"off the network; nearest-5: {near_fail['NoRoute'] + near_fail['OffNetwork']} incidents without answer, {short_k} with "
        f"fewer than {K} reachable resources. Failed queries are timed too.",
        "- Engine: `geo.nearest.nearest` (resources snapped once by `prepare`, as the app does) and `geo.routing.route` "
        "(geometry assembled), in a fresh process after `geo.network.load`; the build runs in its own fresh process each "
        "time (loading the jurisdictions first, not timed).",
        f"- Check: for the first {N_CHECK_NEAREST} incidents and {N_CHECK_ROUTES} route pairs, times recomputed by "
        "`scipy.sparse.csgraph.dijkstra` over the saved directed edges (fastest of parallel edges), from the engine's snapped "
        "candidates (edge, fraction, distance) with the placement rule `geo.routing` documents and the access rule the network states in its meta.json (straight line × 1.3 at 30 km/h); to 1e-6 relative. The "
        "snapping itself is checked separately (distance to shapely's nearest edge).",
    ]
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    """Worker entry: ``python -m benchmarks.backbone build OUT|- `` or ``engine FOLDER QUERIES.json``."""
    logging.basicConfig(level=logging.WARNING)
    kind, *rest = argv
    if kind == "build":
        out = build_worker(None if rest[0] == "-" else Path(rest[0]))
    elif kind == "engine":
        out = engine_worker(Path(rest[0]), json.loads(Path(rest[1]).read_text(encoding="utf-8")))
    else:
        msg = f"worker kind was {kind!r}; expected 'build' or 'engine'."
        raise ValueError(msg)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
