"""Road-network engine against osmnx + networkx: nearest-5 and single route, real and tiled networks.

The real network is the central-Shanghai OSM extract (``../shared/data/osm/shanghai_center.osm``,
read in place).  Larger networks (about 25 k to 1 M nodes) are made by `tile_network`: copies
of the real network side by side, joined by two-way "seam" roads across every shared border.  For each size the network is built, saved, and then measured in two fresh processes
that load the saved folder: one runs the engine (`geo.routing`, `geo.nearest`), one the
baseline (networkx Dijkstra on a graph with the same edge travel times, osmnx node snapping).
Every query is asked of both where the baseline runs, and the answers must agree.

A second part (`run_routes`, issue 13) measures the one-to-one route search at about 95 k and
1 M nodes: the landmark preparation (time, size), route latency by the bidirectional landmark
search (`geo.routing.route`, the default) and by plain Dijkstra (``method="dijkstra"``, the
reference and what the engine did before), each without and with a closure, and nearest-5
without and with the closure; OSRM beside it where it can be run (`osrm_status`).

Run alone: ``python -m benchmarks --only network``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from importlib.metadata import version
from pathlib import Path

import numpy as np

from geo import network as gn

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
OSM = ROOT.parent / "shared" / "data" / "osm" / "shanghai_center.osm"

#: Targets of the issue: nearest-5 median (s) on the real network and at 1 M nodes, speed-up
#: over networkx on the real network, reload (load + first answer, s) and peak memory (MiB) at 1 M.
TARGETS = {"nearest_real_s": 0.005, "speedup_real": 50.0, "nearest_1m_s": 0.100, "reload_1m_s": 1.0, "peak_1m_mib": 1536.0}
#: Node counts of the curve (approximate: a whole number of tiles of the real network).
SIZES = (25_000, 100_000, 250_000, 500_000, 1_000_000)
#: Seam roads: pairs per border, gap between tiles (m), least spacing of pairs along a border (m), speed (km/h).
SEAM_PAIRS = 20
SEAM_GAP_M = 100.0
SEAM_SPACING_M = 100.0
SEAM_SPEED_KPH = 40.0
SEAM_CLASS = "seam"
#: Queries per size: nearest-5 incidents, routes, resources; baseline queries by network size.
N_INCIDENTS = 200
N_ROUTES = 200
N_RESOURCES = 100
K = 5
REL_TOL = 1e-6
ABS_TOL_S = 1e-6
WORKER_TIMEOUT_S = 900
#: Tiled sizes of the route part, pairs per method (plain Dijkstra is slow at 1 M nodes) (issue 13).
ROUTE_SIZES = (95_000, 1_000_000)
N_ROUTE_PAIRS = 100
N_DIJKSTRA_PAIRS = 20


# --------------------------------------------------------------------------- tiling


def _border_pairs(net: gn.Network, candidates: np.ndarray, *, dlon: float, dlat: float, n_pairs: int, spacing_m: float) -> np.ndarray:
    """(k, 2) node pairs (node of a tile, node of its copy shifted by `dlon`, `dlat` degrees).

    The nodes of `candidates` in the half of the tile facing the copy are paired with their
    nearest candidate of the copy; the shortest pairs are kept, each node once and the pairs
    at least `spacing_m` apart along the border, up to `n_pairs`.  The real extract is
    roughly round, so the pairs gather where neighbouring copies come closest.
    """
    from scipy.spatial import cKDTree

    proj = net.projection
    lon, lat = np.asarray(net.node_lon)[candidates], np.asarray(net.node_lat)[candidates]
    axis = 0 if dlon else 1
    across = lon if axis == 0 else lat
    mid = (across.min() + across.max()) / 2
    near, far = np.flatnonzero(across >= mid), np.flatnonzero(across <= mid)
    near_xy = np.column_stack(proj.forward(lon[near], lat[near]))
    far_xy = np.column_stack(proj.forward(lon[far] + dlon, lat[far] + dlat))
    dist, j = cKDTree(far_xy).query(near_xy, k=min(8, len(far)))  # a few partners per node
    i = np.repeat(np.arange(len(near)), dist.shape[1])
    dist, j = dist.ravel(), j.ravel()
    along = (near_xy[i, 1 - axis] + far_xy[j, 1 - axis]) / 2
    chosen: list[int] = []
    for c in np.argsort(dist, kind="stable"):  # a few thousand candidate pairs, once per network
        if any(i[o] == i[c] or j[o] == j[c] or abs(along[o] - along[c]) < spacing_m for o in chosen):
            continue
        chosen.append(int(c))
        if len(chosen) == n_pairs:
            break
    idx = np.asarray(chosen, dtype=np.int64)
    return np.column_stack([candidates[near[i[idx]]], candidates[far[j[idx]]]])


def seam_pairs(net: gn.Network, *, n_pairs: int = SEAM_PAIRS, gap_m: float = SEAM_GAP_M, spacing_m: float = SEAM_SPACING_M) -> dict:
    """Where `tile_network` joins neighbouring copies of `net`.

    Returns ``dlon``, ``dlat``: the tile step in degrees (the bbox size plus `gap_m`), and
    ``east``, ``north``: (k, 2) arrays of node pairs (node of a tile, node of its east / north
    neighbour), chosen among the nodes of the largest strongly connected part so that the
    tiled network is strongly connected across tiles.
    """
    from scipy.sparse.csgraph import connected_components

    _, label = connected_components(net.csr(), directed=True, connection="strong")
    main = np.flatnonzero(label == np.bincount(label).argmax())
    west, south, east, north = net.meta["bounds"]
    m_per_deg = math.pi / 180 * gn.EARTH_RADIUS_M
    dlon = east - west + gap_m / (m_per_deg * math.cos(math.radians((south + north) / 2)))
    dlat = north - south + gap_m / m_per_deg
    common = {"n_pairs": n_pairs, "spacing_m": spacing_m}
    return {
        "dlon": dlon,
        "dlat": dlat,
        "east": _border_pairs(net, main, dlon=dlon, dlat=0.0, **common),
        "north": _border_pairs(net, main, dlon=0.0, dlat=dlat, **common),
    }


def tile_network(net: gn.Network, nx: int, ny: int, *, n_pairs: int = SEAM_PAIRS, gap_m: float = SEAM_GAP_M, name: str | None = None) -> gn.Network:
    """`nx` × `ny` copies of `net` side by side (EPSG:4326), joined by two-way seam roads.

    Copy (i, j) is shifted east by i and north by j tile steps (the bbox size plus `gap_m`);
    its nodes are ``(j * nx + i) * net.n_nodes + node`` and its edges likewise, in the order of
    `net`; seam edges follow all copies.  Across every shared border, `seam_pairs` gives up to
    `n_pairs` node pairs; each becomes a straight two-way road of great-circle length at
    `SEAM_SPEED_KPH` (class ``"seam"``).  Everything is numpy: 1 M nodes build in about 10 s,
most of it `geo.network.build_from_arrays` (adjacency and snapping grid).
    """
    for label, value in (("nx", nx), ("ny", ny)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            msg = f"`{label}` was {value!r}; expected a whole number of tiles, at least 1."
            raise ValueError(msg)
    seams = seam_pairs(net, n_pairs=n_pairs, gap_m=gap_m)
    n, m = net.n_nodes, net.n_edges
    tiles = nx * ny
    ti, tj = np.meshgrid(np.arange(nx), np.arange(ny))  # tile t = j * nx + i
    ti, tj = ti.ravel(), tj.ravel()
    shift_lon, shift_lat = ti * seams["dlon"], tj * seams["dlat"]
    base = np.arange(tiles, dtype=np.int64)

    node_lon = (np.asarray(net.node_lon)[None, :] + shift_lon[:, None]).ravel()
    node_lat = (np.asarray(net.node_lat)[None, :] + shift_lat[:, None]).ravel()
    u = (np.asarray(net.edge_u, dtype=np.int64)[None, :] + (base * n)[:, None]).ravel()
    v = (np.asarray(net.edge_v, dtype=np.int64)[None, :] + (base * n)[:, None]).ravel()
    offsets = np.asarray(net.geom_offsets, dtype=np.int64)
    g = int(offsets[-1])
    geom_lon = (np.asarray(net.geom_lon)[None, :] + shift_lon[:, None]).ravel()
    geom_lat = (np.asarray(net.geom_lat)[None, :] + shift_lat[:, None]).ravel()
    geom_offsets = (offsets[:-1][None, :] + (base * g)[:, None]).ravel()

    # seams: tile t with its east neighbour (i < nx - 1) and its north neighbour (j < ny - 1)
    a_parts, b_parts = [], []
    for key, has_next, step in (("east", ti < nx - 1, 1), ("north", tj < ny - 1, nx)):
        pairs = seams[key]
        t = base[has_next]
        a_parts.append((pairs[None, :, 0] + (t * n)[:, None]).ravel())
        b_parts.append((pairs[None, :, 1] + ((t + step) * n)[:, None]).ravel())
    a, b = np.concatenate(a_parts), np.concatenate(b_parts)
    su, sv = np.concatenate([a, b]), np.concatenate([b, a])
    s_len = gn.haversine_m(node_lon[su], node_lat[su], node_lon[sv], node_lat[sv])
    classes = [*net.highway_names, SEAM_CLASS]
    seam_geom_lon = np.column_stack([node_lon[su], node_lon[sv]]).ravel()
    seam_geom_lat = np.column_stack([node_lat[su], node_lat[sv]]).ravel()

    return gn.build_from_arrays(
        node_lon, node_lat,
        np.concatenate([u, su]), np.concatenate([v, sv]),
        np.concatenate([np.tile(np.asarray(net.edge_length_m), tiles), s_len]),
        np.concatenate([np.tile(np.asarray(net.edge_time_s), tiles), s_len / (SEAM_SPEED_KPH / 3.6)]),
        np.concatenate([np.tile(np.asarray(net.edge_class), tiles), np.full(len(su), len(classes) - 1)]),
        classes,
        np.concatenate([geom_offsets, tiles * g + 2 * np.arange(len(su) + 1)]),
        np.concatenate([geom_lon, seam_geom_lon]),
        np.concatenate([geom_lat, seam_geom_lat]),
        name=name or f"{net.name}-tiled-{nx}x{ny}",
        source=f"{net.meta['source']} tiled {nx}x{ny}",
        emergency_factor=net.meta.get("emergency_factor", 1.0),
    )  # fmt: skip


def tiles_for(n_nodes: int, target: int, *, at_least: bool = False) -> tuple[int, int]:
    """(nx, ny), nearly square, whose node count ``nx * ny * n_nodes`` is closest to `target`
    (with `at_least`, the closest of those reaching it)."""
    want = max(target / n_nodes, 1.0)
    grids = [(nx, ny) for nx in range(1, math.isqrt(int(want)) + 3) for ny in (nx, nx + 1)]
    return min((g for g in grids if not at_least or g[0] * g[1] >= want), key=lambda t: (abs(t[0] * t[1] - want), t[1]))


# --------------------------------------------------------------------------- queries


def query_nodes(net: gn.Network) -> np.ndarray:
    """Nodes of the largest strongly connected part (every route between them exists), of every kind.

    Exact snapping (`geo.routing`) lets a point at a node leave and enter through every edge
    at it whatever their direction, so one-way junctions, dead ends and nodes of any degree
    are all fair query points (`node_kinds` tells them apart).
    """
    from scipy.sparse.csgraph import connected_components

    _, label = connected_components(net.csr(), directed=True, connection="strong")
    return np.flatnonzero(label == np.bincount(label).argmax())


#: Kinds of query points: at nodes (see `node_kinds`) and part-way along an edge.
POINT_KINDS = ("one_way", "dead_end", "degree_2", "degree_3plus", "mid_edge")


def node_kinds(net: gn.Network, nodes: np.ndarray) -> dict[str, np.ndarray]:
    """`nodes` split by kind: 'one_way' (some road at the node is one-way), else by the number
    of distinct neighbours over two-way roads: 'dead_end' (1), 'degree_2' (2), 'degree_3plus' (3+)."""
    u, v = np.asarray(net.edge_u, dtype=np.int64), np.asarray(net.edge_v, dtype=np.int64)
    loop = u == v
    u, v = u[~loop], v[~loop]
    two_way = np.isin(v * net.n_nodes + u, u * net.n_nodes + v)
    one_way = np.zeros(net.n_nodes, dtype=bool)
    one_way[u[~two_way]] = True
    one_way[v[~two_way]] = True
    pairs = np.unique(np.minimum(u, v) * net.n_nodes + np.maximum(u, v))
    degree = np.bincount(np.concatenate([pairs // net.n_nodes, pairs % net.n_nodes]), minlength=net.n_nodes)
    nodes = np.asarray(nodes)
    return {
        "one_way": nodes[one_way[nodes]],
        "dead_end": nodes[~one_way[nodes] & (degree[nodes] == 1)],
        "degree_2": nodes[~one_way[nodes] & (degree[nodes] == 2)],
        "degree_3plus": nodes[~one_way[nodes] & (degree[nodes] >= 3)],
    }


def _gc_fraction(lon: np.ndarray, lat: np.ndarray, seg: int, t: float) -> float:
    """Share of a polyline's great-circle length before the point at `t` of segment `seg`."""
    seg_m = gn.haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:])
    px, py = lon[seg] + t * (lon[seg + 1] - lon[seg]), lat[seg] + t * (lat[seg + 1] - lat[seg])
    return float((seg_m[:seg].sum() + gn.haversine_m(lon[seg], lat[seg], px, py)) / seg_m.sum())


def mid_edge_points(net: gn.Network, nodes: np.ndarray, n: int, rng: np.random.Generator, *, clear_m: float = 3.0) -> list[dict]:
    """`n` points part-way along edges between `nodes`, each with the edges it lies on.

    A point is the midpoint (in lon/lat, so also in the network's local metres) of a segment
    of at least 10 m of a random edge, more than `clear_m` from both ends of the edge along it
    and from every node, and more than `clear_m` from every edge it does not lie on (so that
    which edges are candidates is beyond doubt; the engine uses edges within 1 m).  Found
    independently of the engine: a shapely tree of the edge geometries.  Each point carries
    ``cands``: [edge, fraction] for every edge through it (a two-way road: both directions),
    fraction = the share of the edge's great-circle length before the point.
    """
    import shapely
    from scipy.spatial import cKDTree

    proj = net.projection
    off = np.asarray(net.geom_offsets, dtype=np.int64)
    glon, glat = np.asarray(net.geom_lon), np.asarray(net.geom_lat)
    gx, gy = proj.forward(glon, glat)
    lines = shapely.linestrings(gx, gy, indices=np.repeat(np.arange(net.n_edges), np.diff(off)))
    tree = shapely.STRtree(lines)
    node_tree = cKDTree(np.column_stack(proj.forward(np.asarray(net.node_lon), np.asarray(net.node_lat))))
    ok_node = np.zeros(net.n_nodes, dtype=bool)
    ok_node[nodes] = True
    u, v = np.asarray(net.edge_u), np.asarray(net.edge_v)
    pool = np.flatnonzero(ok_node[u] & ok_node[v] & (u != v))
    out: list[dict] = []
    for _ in range(200 * n):
        if len(out) == n:
            break
        e = int(rng.choice(pool))
        lon, lat = glon[off[e] : off[e + 1]], glat[off[e] : off[e + 1]]
        seg_m = gn.haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:])
        long_ = np.flatnonzero(seg_m >= 10.0)
        if not len(long_):
            continue
        seg = int(rng.choice(long_))
        f = _gc_fraction(lon, lat, seg, 0.5)
        total = float(seg_m.sum())
        if min(f, 1 - f) * total <= clear_m:
            continue
        plon, plat = (lon[seg] + lon[seg + 1]) / 2, (lat[seg] + lat[seg + 1]) / 2
        px, py = proj.forward(plon, plat)
        if node_tree.query_ball_point([float(px), float(py)], clear_m):
            continue
        pt = shapely.Point(float(px), float(py))
        near = tree.query(pt, predicate="dwithin", distance=clear_m)
        dist = shapely.distance(lines[near], pt)
        on = near[dist <= 1e-3]
        if len(on) != len(near) or e not in on:
            continue  # another road passes within clear_m: ambiguous
        cands = []
        for c in on.tolist():
            clon, clat = glon[off[c] : off[c + 1]], glat[off[c] : off[c + 1]]
            cx, cy = gx[off[c] : off[c + 1]], gy[off[c] : off[c + 1]]
            segs = shapely.linestrings(np.column_stack([cx[:-1], cx[1:]]).ravel(), np.column_stack([cy[:-1], cy[1:]]).ravel(), indices=np.repeat(np.arange(len(cx) - 1), 2))
            k = int(np.argmin(shapely.distance(segs, pt)))
            dx, dy = cx[k + 1] - cx[k], cy[k + 1] - cy[k]
            t = float(((px - cx[k]) * dx + (py - cy[k]) * dy) / (dx * dx + dy * dy))
            cands.append([c, _gc_fraction(clon, clat, k, min(max(t, 0.0), 1.0))])
        out.append({"lon": float(plon), "lat": float(plat), "cands": cands})
    if len(out) < n:
        msg = f"found only {len(out)} of {n} unambiguous mid-edge points on network {net.name!r}."
        raise RuntimeError(msg)
    return out


def query_points(net: gn.Network, n: int, rng: np.random.Generator) -> list[dict]:
    """`n` query points, the kinds of `POINT_KINDS` in turn (a kind with no node is skipped).

    Each is ``{"kind", "lon", "lat", "node", "cands"}``: `node` the node it lies on (-1 for
    'mid_edge'), `cands` the edges a mid-edge point lies on (see `mid_edge_points`).
    """
    nodes = query_nodes(net)
    kinds = {k: a for k, a in node_kinds(net, nodes).items() if len(a)}
    order = [k for k in POINT_KINDS if k in kinds or k == "mid_edge"]
    want = {k: len(range(i, n, len(order))) for i, k in enumerate(order)}
    lon, lat = np.asarray(net.node_lon), np.asarray(net.node_lat)
    by_kind: dict[str, list[dict]] = {"mid_edge": [{"kind": "mid_edge", "node": -1, **p} for p in mid_edge_points(net, nodes, want["mid_edge"], rng)]}
    for k, arr in kinds.items():
        picked = rng.choice(arr, size=want[k], replace=len(arr) < want[k])
        by_kind[k] = [{"kind": k, "lon": float(lon[i]), "lat": float(lat[i]), "node": int(i), "cands": []} for i in picked]
    return [by_kind[order[i % len(order)]][i // len(order)] for i in range(n)]


def make_queries(net: gn.Network, *, seed: int, n_incidents: int = N_INCIDENTS, n_routes: int = N_ROUTES, n_resources: int = N_RESOURCES) -> dict:
    """Seeded random incidents, resources and route ends of every kind of `POINT_KINDS` (lon/lat)."""
    rng = np.random.default_rng(seed)
    resources = query_points(net, n_resources, rng)
    incidents = query_points(net, n_incidents, rng)
    ends = query_points(net, 2 * n_routes, rng)
    rng.shuffle(ends)  # mix the kinds of origin and destination
    pt = lambda ps: [[p["lon"], p["lat"]] for p in ps]  # noqa: E731
    return {
        "candidates": len(query_nodes(net)),
        "resource_ids": [f"r{i}" for i in range(n_resources)],
        "resource_points": resources,
        "resources": pt(resources),
        "incident_points": incidents,
        "incidents": pt(incidents),
        "route_points": ends,
        "routes": np.reshape(pt(ends), (n_routes, 2, 2)).tolist(),
    }


# --------------------------------------------------------------------------- workers (fresh processes)


def _proc_status() -> dict[str, float]:
    """VmHWM (peak resident), VmRSS, RssAnon and RssFile (MiB) of this process."""
    out = {}
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            key = line.split(":", 1)[0]
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                out[key] = int(line.split()[1]) / 1024
    return out


def engine_worker(folder: Path, queries: dict) -> dict:
    """Load the saved network, answer every query with the engine; times (s), answers, memory."""
    from geo import nearest as gnear
    from geo import routing

    t0 = time.perf_counter()
    net = gn.load(folder)
    t_load = time.perf_counter() - t0
    prepared = gnear.prepare(net, queries["resource_ids"], *np.array(queries["resources"]).T)
    t_prepare = time.perf_counter() - t0 - t_load
    gnear.nearest(net, tuple(queries["incidents"][0]), prepared, k=K)
    reload_s = time.perf_counter() - t0
    t = time.perf_counter()
    routing.route(net, *map(tuple, queries["routes"][0]))
    first_route_s = time.perf_counter() - t

    nearest_s, answers = [], []
    for at in queries["incidents"]:
        t = time.perf_counter()
        got = gnear.nearest(net, tuple(at), prepared, k=K)
        nearest_s.append(time.perf_counter() - t)
        answers.append([[a.id, a.travel_time_s] for a in got])
    route_s, route_t = [], []
    for o, d in queries["routes"]:
        t = time.perf_counter()
        r = routing.route(net, tuple(o), tuple(d))
        route_s.append(time.perf_counter() - t)
        route_t.append(r.travel_time_s)
    return {
        "load_s": t_load, "prepare_s": t_prepare, "reload_s": reload_s, "first_route_s": first_route_s,
        "nearest_s": nearest_s, "nearest": answers, "route_s": route_s, "route_time_s": route_t,
        "memory_mib": _proc_status(),
    }  # fmt: skip


def baseline_worker(folder: Path, queries: dict, *, n_nearest: int, n_routes: int) -> dict:
    """The same queries with networkx Dijkstra and osmnx node snapping, on the first few queries.

    Points at nodes are snapped by osmnx; points part-way along an edge (kind 'mid_edge')
    become nodes of their own that split the edges they lie on (`mid_edge_points` found
    those edges and fractions, independently of the engine), once, before the queries.
    The graph is a ``networkx.DiGraph`` with the engine's edge travel times (parallel edges:
    the fastest), node positions in UTM 51N (EPSG:32651) so that `osmnx.distance.nearest_nodes`
    uses a k-d tree (scikit-learn is not installed for the unprojected ball tree).
    """
    import networkx as nx
    import osmnx as ox
    import pandas as pd
    from pyproj import Transformer

    t0 = time.perf_counter()
    net = gn.load(folder)
    edges = pd.DataFrame({"u": net.edge_u, "v": net.edge_v, "t": net.edge_time_s}).groupby(["u", "v"], sort=False)["t"].min()
    to_utm = Transformer.from_crs(4326, 32651, always_xy=True)
    x, y = to_utm.transform(np.asarray(net.node_lon), np.asarray(net.node_lat))
    G = nx.DiGraph(crs="EPSG:32651")
    G.add_nodes_from((i, {"x": xi, "y": yi}) for i, (xi, yi) in enumerate(zip(x.tolist(), y.tolist(), strict=True)))
    G.add_weighted_edges_from(zip(edges.index.get_level_values(0).tolist(), edges.index.get_level_values(1).tolist(), edges.to_numpy().tolist(), strict=True), weight="travel_time")
    net_u, net_v, net_t = np.array(net.edge_u), np.array(net.edge_v), np.array(net.edge_time_s)
    del net, edges
    build_s = time.perf_counter() - t0

    n_nodes = G.number_of_nodes()
    res_pts = queries["resource_points"]
    inc_pts = queries["incident_points"][:n_nearest]
    end_pts = queries["route_points"][: 2 * n_routes]
    every = [*res_pts, *inc_pts, *end_pts]
    # points at nodes: snapped by osmnx (batched; its time shared among them)
    at_node = [i for i, pnt in enumerate(every) if pnt["node"] >= 0]
    xy = np.array([[every[i]["lon"], every[i]["lat"]] for i in at_node]).reshape(-1, 2)
    t = time.perf_counter()
    snapped = ox.distance.nearest_nodes(G, *to_utm.transform(xy[:, 0], xy[:, 1])) if at_node else np.zeros(0, dtype=np.int64)
    snap_s = time.perf_counter() - t
    snap_per_point_s = snap_s / max(len(at_node), 1)
    # points part-way along edges: a node of their own, the edge split there (all points of an
    # edge chained in order of fraction; the unsplit edge is kept, it costs the same)
    t = time.perf_counter()
    on_edge: dict[int, list[tuple[float, int]]] = {}
    for i, pnt in enumerate(every):
        for e, f in pnt["cands"]:
            on_edge.setdefault(int(e), []).append((float(f), n_nodes + i))
    eu, ev, et = np.asarray(net_u), np.asarray(net_v), np.asarray(net_t)
    for e, pts_on in on_edge.items():
        chain = [(0.0, int(eu[e])), *sorted(pts_on), (1.0, int(ev[e]))]
        for (f0, a_), (f1, b_) in zip(chain[:-1], chain[1:], strict=True):
            w = (f1 - f0) * float(et[e])
            if not G.has_edge(a_, b_) or G[a_][b_]["travel_time"] > w:
                G.add_edge(a_, b_, travel_time=w)
    insert_s = time.perf_counter() - t
    graph_node = np.array([n_nodes + i for i in range(len(every))], dtype=np.int64)
    graph_node[at_node] = snapped
    res_nodes = graph_node[: len(res_pts)]
    inc_nodes = graph_node[len(res_pts) : len(res_pts) + len(inc_pts)]
    end_nodes = graph_node[len(res_pts) + len(inc_pts) :].reshape(-1, 2)
    t_res = snap_per_point_s * sum(1 for pnt in res_pts if pnt["node"] >= 0)

    R = G.reverse(copy=False)
    ids = queries["resource_ids"]
    nearest_s, answers, resource_times = [], [], []
    for node in inc_nodes:
        t = time.perf_counter()
        dist = nx.single_source_dijkstra_path_length(R, int(node), weight="travel_time")  # time to the incident
        reached = sorted((dist[int(r)], rid) for rid, r in zip(ids, res_nodes, strict=True) if int(r) in dist)
        top = reached[:K]
        nearest_s.append(time.perf_counter() - t + snap_per_point_s)
        answers.append([[rid, tt] for tt, rid in top])
        resource_times.append({rid: tt for tt, rid in reached})
    route_s, route_t = [], []
    for o, d in end_nodes:
        t = time.perf_counter()
        path = nx.shortest_path(G, int(o), int(d), weight="travel_time")
        tt = sum(G[a][b]["travel_time"] for a, b in zip(path[:-1], path[1:], strict=True))
        route_s.append(time.perf_counter() - t + 2 * snap_per_point_s)
        route_t.append(tt)
    return {
        "build_s": build_s, "insert_mid_edge_s": insert_s, "snap_resources_s": t_res, "snap_per_point_s": snap_per_point_s,
        "snapped": {"resources": res_nodes.tolist(), "incidents": inc_nodes.tolist(), "routes": end_nodes.tolist()},
        "nearest_s": nearest_s, "nearest": answers, "resource_times": resource_times,
        "route_s": route_s, "route_time_s": route_t, "memory_mib": _proc_status(),
    }  # fmt: skip


def _evict_page_cache(folder: Path) -> None:
    """Ask the kernel to drop the saved files from the page cache, so that a load reads the disk."""
    for p in folder.iterdir():
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _run_worker(kind: str, folder: Path, queries_file: Path, *extra: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.network", kind, str(folder), str(queries_file), *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        msg = f"{kind} worker failed on {folder.name} (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        raise RuntimeError(msg)
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------- checks


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= max(ABS_TOL_S, REL_TOL * max(abs(a), abs(b)))


def compare(queries: dict, engine: dict, baseline: dict) -> dict:
    """Where engine and baseline answers differ, over the queries the baseline ran.

    Nearest: each of the engine's k answers must have the baseline's time for that resource,
    and the k times must be the baseline's k smallest (so ties may come in either order).
    Route: the travel times must agree.  Tolerance: 1e-6 relative (1e-6 s absolute).
    """
    out = {"nearest_checked": len(baseline["nearest"]), "routes_checked": len(baseline["route_time_s"]), "mismatches": []}
    snapped = baseline["snapped"]
    off_node = 0
    for key, pts_key, n in (("resources", "resource_points", None), ("incidents", "incident_points", out["nearest_checked"]), ("routes", "route_points", 2 * out["routes_checked"])):
        got = np.asarray(snapped[key]).ravel()
        want = np.array([pnt["node"] for pnt in queries[pts_key][:n]], dtype=np.int64)
        at_node = want >= 0
        off_node += int(np.sum(got[at_node] != want[at_node]))
    out["baseline_snapped_elsewhere"] = off_node
    for q, (eng, base, times) in enumerate(zip(engine["nearest"], baseline["nearest"], baseline["resource_times"], strict=False)):
        ok = len(eng) == len(base) and all(_close(t, times.get(rid, math.inf)) for rid, t in eng)
        ok = ok and all(_close(a[1], b[1]) for a, b in zip(eng, base, strict=True))
        if not ok:
            out["mismatches"].append({"query": q, "kind": "nearest", "engine": eng, "baseline": base})
    for q, (a, b) in enumerate(zip(engine["route_time_s"], baseline["route_time_s"], strict=False)):
        if not _close(a, b):
            out["mismatches"].append({"query": q, "kind": "route", "engine": a, "baseline": b})
    return out


# --------------------------------------------------------------------------- the run


def _disk_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir()) / 2**20


def _baseline_counts(n_nodes: int) -> tuple[int, int]:
    """How many nearest and route queries networkx runs: all on small networks, fewer on big ones."""
    if n_nodes <= 10_000:
        return N_INCIDENTS, N_ROUTES
    if n_nodes <= 50_000:
        return 50, 50
    if n_nodes <= 150_000:
        return 20, 20
    if n_nodes <= 300_000:
        return 10, 10
    return 5, 5


def _measure(build: Callable[[], tuple[gn.Network, float]], *, label: str, tiles: tuple[int, int], seed: int, workdir: Path, baseline: bool) -> dict:
    """Build (`build` returns the network and its build time), save, and measure in fresh processes."""
    net, build_s = build()
    n_nodes, n_edges = net.n_nodes, net.n_edges
    folder = gn.save(net, workdir / label)
    queries = make_queries(net, seed=seed)
    del net
    qfile = workdir / f"{label}-queries.json"
    qfile.write_text(json.dumps(queries), encoding="utf-8")
    _evict_page_cache(folder)
    log.info("network %s: %s nodes, engine run", label, f"{n_nodes:,}")
    engine = _run_worker("engine", folder, qfile)
    out = {
        "label": label, "tiles": list(tiles), "n_nodes": n_nodes, "n_edges": n_edges, "build_s": build_s,
        "disk_mib": _disk_mib(folder), "query_candidates": queries["candidates"], "engine": engine,
    }  # fmt: skip
    if baseline:
        n_near, n_route = _baseline_counts(n_nodes)
        log.info("network %s: networkx baseline on %d + %d queries", label, n_near, n_route)
        out["baseline"] = _run_worker("baseline", folder, qfile, str(n_near), str(n_route))
        out["check"] = compare(queries, engine, out["baseline"])
        if out["check"]["mismatches"]:
            log.warning("network %s: engine and networkx differ on %d queries, first: %s", label, len(out["check"]["mismatches"]), out["check"]["mismatches"][0])
    shutil.rmtree(folder)
    qfile.unlink()
    return out


def _timed_tiling(real: gn.Network, nx: int, ny: int) -> tuple[gn.Network, float]:
    t = time.perf_counter()
    net = tile_network(real, nx, ny)
    return net, time.perf_counter() - t


def run(osm: Path = OSM, *, sizes: tuple[int, ...] = SIZES, baseline: bool = True, seed: int = 2026, route_sizes: tuple[int, ...] = ROUTE_SIZES) -> dict:
    """Measure the real network and tiled networks of about `sizes` nodes; figures in s / MiB."""
    if not osm.exists():
        msg = f"OSM extract {osm} is missing; it lives in ../shared/data/osm (read in place, never copied)."
        raise FileNotFoundError(msg)
    t0 = time.perf_counter()
    real = gn.build_from_graph(gn.read_osm(osm), name="shanghai-center", source=osm.name)
    real_build_s = time.perf_counter() - t0
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-network-") as tmp:
        workdir = Path(tmp)
        results.append(_measure(lambda: (real, real_build_s), label="real", tiles=(1, 1), seed=seed, workdir=workdir, baseline=baseline))
        for target in sizes:
            tiles = tiles_for(real.n_nodes, target)
            # built inside `_measure`, which drops it before the measuring processes start
            results.append(
                _measure(partial(_timed_tiling, real, *tiles), label=f"tiled-{tiles[0]}x{tiles[1]}", tiles=tiles, seed=seed + target, workdir=workdir, baseline=baseline)
            )
    routes = run_routes(real, sizes=route_sizes) if route_sizes else None
    seams = seam_pairs(real)
    seam_len = np.concatenate([
        gn.haversine_m(real.node_lon[p[:, 0]], real.node_lat[p[:, 0]], real.node_lon[p[:, 1]] + dx, real.node_lat[p[:, 1]] + dy)
        for p, dx, dy in ((seams["east"], seams["dlon"], 0.0), (seams["north"], 0.0, seams["dlat"]))
    ])  # fmt: skip
    return {
        "osm": osm.name, "sizes": results, "routes": routes, "total_s": time.perf_counter() - t0,
        "versions": {p: version(p) for p in ("osmnx", "networkx", "scipy", "numpy")},
        "seams": {"east": len(seams["east"]), "north": len(seams["north"]), "median_m": float(np.median(seam_len)), "max_m": float(seam_len.max())},
    }  # fmt: skip


# --------------------------------------------------------------------------- routes (issue 13)

#: The issue's OSRM figures at 976 k nodes (osrm-backend 26.10), quoted where OSRM is not run here.
OSRM_ISSUE = {"route_ch_s": 0.00199, "route_mld_s": 0.0061, "table_ch_nearest5_s": 0.048, "table_mld_nearest5_s": 0.344}


def closure_polygon(net: gn.Network):
    """The benchmark's closure: a 2 km × 2 km square (EPSG:4326) around the node nearest the
    middle of the network's bounds (the middle itself may fall in a gap between tiles)."""
    import shapely

    west, south, east, north = net.meta["bounds"]
    lon, lat = np.asarray(net.node_lon), np.asarray(net.node_lat)
    middle = int(np.argmin(np.hypot(lon - (west + east) / 2, lat - (south + north) / 2)))
    cx, cy = float(lon[middle]), float(lat[middle])
    half_lat = 1000 / (math.pi / 180 * gn.EARTH_RADIUS_M)
    half_lon = half_lat / math.cos(math.radians(cy))
    return shapely.box(cx - half_lon, cy - half_lat, cx + half_lon, cy + half_lat)


def _timed(fn, queries) -> tuple[list[float], list[float], int]:
    """Seconds per query, answers (inf for NoRoute), and how many were refused because a point's road is closed."""
    from geo import routing

    times, answers, refused = [], [], 0
    for q in queries:
        t = time.perf_counter()
        try:
            answers.append(fn(q))
        except routing.NoRoute as exc:
            refused += exc.code == "in_closure"
            answers.append(math.inf)
        times.append(time.perf_counter() - t)
    return times, answers, refused


def routes_worker(folder: Path, queries: dict) -> dict:
    """Load the saved network; time the preparation of the landmark tables and of the
    hierarchy (first use), routes by each method and nearest-5, each without and with
    `closure_polygon`; count nodes settled and routes handed to the closed-network search."""
    from geo import _ch, _kernels, routing
    from geo import hierarchy as gh
    from geo import nearest as gnear

    net = gn.load(folder)
    t = time.perf_counter()
    lm = routing.landmarks(net)  # built now and written into the folder (none were saved)
    prep_s = time.perf_counter() - t
    t = time.perf_counter()
    h = gh.hierarchy(net)
    ch_prep_s = time.perf_counter() - t
    t = time.perf_counter()
    routing.landmarks(gn.load(folder))
    reload_lm_s = time.perf_counter() - t
    counts = {"settled": [], "fallback": 0}
    plain_alt, plain_ch, plain_alt_search = _kernels.alt_route, _ch.query, routing._alt_search

    def counting_alt(*args):
        out = plain_alt(*args)
        counts["settled"][-1] += int(out[2])
        return out

    def counting_ch(*args):
        out = plain_ch(*args)
        counts["settled"][-1] += int(out[2])
        return out

    def counting_fallback(*args):
        counts["fallback"] += 1
        return plain_alt_search(*args)

    _kernels.alt_route, _ch.query = counting_alt, counting_ch  # nodes settled per query (load-independent)
    blocked = routing.blocked_edges(net, [closure_polygon(net)])
    pairs = [tuple(map(tuple, od)) for od in queries["routes"]]
    prepared = gnear.prepare(net, queries["resource_ids"], *np.array(queries["resources"]).T)
    out = {
        "n_nodes": net.n_nodes, "landmarks": len(lm.nodes), "landmark_mib": lm.nbytes / 2**20, "prepare_s": prep_s, "reload_landmarks_s": reload_lm_s,
        "closed_edges": int(blocked.sum()), "ch_prepare_s": ch_prep_s, "ch_mib": h.nbytes / 2**20, "ch_arcs": h.n_arcs, "ch_core": h.n_core,
        "edges": int(net.n_edges),
    }  # fmt: skip

    def one(method, b):
        def run(od):
            counts["settled"].append(0)
            return routing.route(net, *od, blocked=b, method=method).travel_time_s

        return run

    for label, b in (("open", None), ("closed", blocked)):
        res = {}
        n_d = min(N_DIJKSTRA_PAIRS, len(pairs))
        dij_s, dij_t, _ = _timed(one("dijkstra", b), pairs[:n_d])
        for method in ("ch", "alt"):
            _timed(one(method, b), pairs[:3])  # warm: workspace, first pages of the tables
            counts["settled"], counts["fallback"] = [], 0
            routing._alt_search = counting_fallback if method == "ch" else plain_alt_search
            m_s, m_t, refused = _timed(one(method, b), pairs)
            routing._alt_search = plain_alt_search
            res[method] = {
                "s": m_s, "settled": list(counts["settled"]), "refused": refused, "fallback": counts["fallback"],
                "same": sum(a == d or _close(a, d) for a, d in zip(m_t[:n_d], dij_t, strict=True)),  # NoRoute on both: inf
            }  # fmt: skip
        near_s, _, near_refused = _timed(lambda at, b=b: gnear.nearest(net, tuple(at), prepared, k=K, blocked=b), queries["incidents"])
        out[label] = {"methods": res, "dijkstra_s": dij_s, "checked": n_d, "nearest_s": near_s, "nearest_refused": near_refused}
    out["memory_mib"] = _proc_status()
    return out


def osrm_status() -> str:
    """Why OSRM is not run beside the engine here, or "" when it is (`benchmarks.osrm.ensure_osrm`)."""
    from benchmarks import osrm as bosrm

    return bosrm.ensure_osrm()[1]


def run_routes(real: gn.Network, *, sizes: tuple[int, ...] = ROUTE_SIZES, seed: int = 2613, osrm: bool = True) -> dict:
    """The route part: for each size a tiled network, saved without landmark tables or hierarchy,
    measured in a fresh process; OSRM beside it on the same edges unless `osrm` is False."""
    from benchmarks import osrm as bosrm

    results, osrm_sizes = [], []
    py, osrm_why = bosrm.ensure_osrm() if osrm else (None, "not run in this run (`run_routes(osrm=False)`)")
    with tempfile.TemporaryDirectory(prefix="bench-routes-") as tmp:
        workdir = Path(tmp)
        if py is not None:  # OSRM on the real network too, with the exactness check
            real_q = make_queries(real, seed=seed, n_incidents=N_ROUTE_PAIRS, n_routes=N_ROUTE_PAIRS)
            osrm_sizes.append(bosrm.measure(real, label="real", queries=real_q, workdir=workdir, python=py, exact=True))
        for target in sizes:
            tiles = tiles_for(real.n_nodes, target)
            net, build_s = _timed_tiling(real, *tiles)
            label = f"tiled-{tiles[0]}x{tiles[1]}"
            folder = gn.save(net, workdir / label)
            queries = make_queries(net, seed=seed + target, n_incidents=N_ROUTE_PAIRS, n_routes=N_ROUTE_PAIRS)
            qfile = workdir / f"{label}-queries.json"
            qfile.write_text(json.dumps(queries), encoding="utf-8")
            log.info("routes on %s", label)
            res = _run_worker("routes", folder, qfile)
            res.update({"label": label, "tiles": list(tiles), "build_s": build_s})
            results.append(res)
            shutil.rmtree(folder)
            if py is not None:  # the same edges and queries; the first size also checked for exactness
                osrm_sizes.append(bosrm.measure(net, label=label, queries=queries, workdir=workdir, python=py, exact=target == sizes[0]))
            del net
    osrm_version = bosrm.osrm_version(py) if py is not None else ""
    return {"sizes": results, "osrm": osrm_why, "osrm_version": osrm_version, "osrm_sizes": osrm_sizes, "load": os.getloadavg()}


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def routes_markdown(r: dict) -> list[str]:
    """Lines of the route part (issue 13) for BENCHMARKS.md."""
    lines = [
        "",
        "### One-to-one route: contraction hierarchy (CH, core by ALT) and bidirectional landmark search (ALT) vs plain Dijkstra, with and without a closure (issue 13)",
        "",
        f"Load average during the run: {', '.join(f'{x:.1f}' for x in r['load'])} (1, 5, 15 min) on 2 cores"
        + (": other work was running, so every time below is inflated by an unknown factor; the nodes settled per search are not." if max(r["load"]) > 1.5 else "."),
        "",
        "| network | nodes | preparation: landmarks; hierarchy | route CH p50 (p95) | route ALT p50 (p95) | plain Dijkstra p50 (p95), n | same answers CH, ALT | nodes settled CH p50 (p95) | ALT p50 (p95) | CH routes handed to ALT | nearest-5 p50 (p95) |",
        "|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for x in r["sizes"]:
        for label, title in (("open", "no closure"), ("closed", f"closure ({x['closed_edges']:,} edges)")):
            m = x[label]
            ch, alt = m["methods"]["ch"], m["methods"]["alt"]
            prep = (
                f"{_t(x['prepare_s'])}, {x['landmark_mib']:.0f} MiB ({x['landmarks']}); {_t(x['ch_prepare_s'])}, {x['ch_mib']:.0f} MiB "
                f"({x['ch_arcs']:,} arcs for {x['edges']:,} edges, core {x['ch_core']:,} nodes)"
            ) if label == "open" else "same"  # fmt: skip
            lines.append(
                f"| {x['label']}, {title} | {x['n_nodes']:,} | {prep} | {_pp(ch['s'])} | {_pp(alt['s'])} "
                f"| {_pp(m['dijkstra_s'])}, {len(m['dijkstra_s'])} | {ch['same']}, {alt['same']} of {m['checked']} "
                f"| {statistics.median(ch['settled']):,.0f} ({_p(ch['settled'], 95):,.0f}) | {statistics.median(alt['settled']):,.0f} ({_p(alt['settled'], 95):,.0f}) "
                f"| {ch['fallback']} of {len(ch['s'])} | {_pp(m['nearest_s'])} |"
            )
    if r.get("osrm_sizes"):
        lines += osrm_markdown(r)
    o = OSRM_ISSUE
    lines += [
        "",
        f"OSRM: {r['osrm'] or 'measured above'}. From the issue, not re-measured (976 k nodes, osrm-backend 26.10): route CH {_t(o['route_ch_s'])}, "
        f"MLD {_t(o['route_mld_s'])}; nearest-5 by its table query CH {_t(o['table_ch_nearest5_s'])}, MLD {_t(o['table_mld_nearest5_s'])}; "
        "a closure there means re-contraction (614 s) or re-customisation (9.8 s). The engine before issue 13 (same source): "
        "route 105 ms, nearest-5 10.2 ms, 57 ms with a closure.",
        "",
        f"- Pairs: {N_ROUTE_PAIRS} origin–destination pairs of every point kind (as above), seeded; plain Dijkstra on the first "
        f"{N_DIJKSTRA_PAIRS}; 'same answers' compares each method with it to 1e-6 relative. Route times include snapping both points "
        "and assembling the geometry. Closure: a 2 km × 2 km square at the middle of the layout (`closure_polygon`), applied at "
        "query time (no preparation); pairs with a point on a closed road are refused (timed too). Nearest-5: "
        f"{N_ROUTE_PAIRS} incidents among {N_RESOURCES} resources.",
        f"- Landmarks: {routing_doc()}; preparation is the first use in a fresh process after `geo.network.load` of a folder saved "
        "without them (they are then written into it; `geo build` makes them before saving).",
    ]
    return lines


def _pp(values: list[float]) -> str:
    """p50 (p95) of seconds, or – when none."""
    return f"{_t(statistics.median(values))} ({_t(_p(values, 95))})" if values else "–"


def osrm_markdown(r: dict) -> list[str]:
    """OSRM beside the engine on the same edges and queries (`benchmarks.osrm`)."""
    engine = {x["label"]: x for x in r["sizes"]}
    lines = [
        "",
        f"### OSRM {r.get('osrm_version', '')} beside the engine, same edges and queries (`benchmarks/osrm.py`, bindings in-process)",
        "",
        "| network | nodes | engine route p50 (p95) | OSRM CH route | OSRM MLD route | CH route, full geometry | engine nearest-5 | OSRM CH table nearest-5 | OSRM MLD table nearest-5 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["osrm_sizes"]:
        e = engine.get(x["label"])
        ch, mld = x.get("CH", {}), x.get("MLD", {})
        e_route = _pp(e["open"]["methods"]["ch"]["s"]) if e else f"{_pp(x.get('engine_check_route_s', []))}¹"
        e_near = _pp(e["open"]["nearest_s"]) if e else "see above"
        lines.append(
            f"| {x['label']} | {x['n_nodes']:,} | {e_route} | {_pp(ch.get('route_s', []))} | {_pp(mld.get('route_s', []))} "
            f"| {_pp(ch.get('route_full_s', []))} | {e_near} | {_pp(ch.get('nearest_s', []))} | {_pp(mld.get('nearest_s', []))} |"
        )
    lines += [
        "",
        "| network | write PBF | extract | partition + customize (MLD) | contract (CH) | closure: MLD re-customise | closure: CH re-contract | after closure: MLD route, nearest-5 | after closure: engine route, nearest-5 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["osrm_sizes"]:
        p, c, e = x["prepare"], x["closure"], engine.get(x["label"])
        cm, cc = c.get("MLD", {}), c.get("CH", {})
        after_e = f"{_pp(e['closed']['methods']['ch']['s'])}, {_pp(e['closed']['nearest_s'])}" if e else "–"
        lines.append(
            f"| {x['label']} | {_t(x['write']['write_s'])} | {_t(p['extract_s'])} | {_t(p['partition_s'])} + {_t(p['customize_s'])} "
            f"| {_t(p.get('contract_s', math.nan))} | {_t(cm.get('customize_s', math.nan))} | {_t(cc.get('contract_s', math.nan))} "
            f"| {_pp(cm.get('route_s', []))}, {_pp(cm.get('nearest_s', []))} | {after_e} |"
        )
    checks = []
    for x in r["osrm_sizes"]:
        for where, block in (("", x), (" after the closure", x["closure"])):
            for algo in ("CH", "MLD"):
                c = block.get(algo, {}).get("check")
                if c:
                    checks.append(
                        f"{x['label']} {algo}{where}: of {c['pairs']} node pairs, weight = engine time {c['weight_match']}, "
                        f"OSRM's path re-costed = engine time (1e-6) {c['path_optimal']}, duration = that path rounded per segment "
                        f"{c['duration_exact']}, |duration − engine| ≤ 0.1 s {c['duration_within_0.1']} (largest {c['max_duration_gap_s']:.2f} s)"
                        + (f", no route on both {c['both_no_route']}" if c["both_no_route"] else "")
                        + (f", refused by the engine (a point's road closed) {c['refused_by_engine']}" if c["refused_by_engine"] else "")
                    )
    lines += [
        "",
        "- Same edges: one `oneway=yes` way per directed engine edge with its travel time (`benchmarks/osrm_profile.lua`: that "
        "duration and weight, no turn, signal or u-turn cost); OSRM stores per segment the weight to 1 ms and the duration to 0.1 s. "
        "Closure: the `closure_polygon` edges at speed 0 in a segment speed file, `osrm-customize --segment-speed-file` (MLD) or "
        "`osrm-contract --segment-speed-file` (CH: a full re-contraction, run only up to "
        "200 k nodes) on a copy of the prepared files; times are the tools' wall times.",
        "- Queries: the route pairs and nearest-5 incidents of the table above (every point kind); OSRM snaps every point to its "
        "nearest segment. Route: `Route` with `overview=false` (search and snapping), 'full geometry' with `overview=full`, "
        "GeoJSON. Nearest-5: one `Table` query from the 100 resources to the incident, the 5 smallest durations kept. Python "
        "call overhead of the bindings is included.",
        "- Exactness (origin and destination on nodes, the route pairs at nodes plus 200 random node pairs): " + "; ".join(checks) + ". "
        "Where they differ, OSRM's fixed-point snapping (1e-6°) placed the phantom a few centimetres along one edge at the "
        "node instead of at the node, so the route must leave or arrive along that edge.",
        "- ¹ the real network is not in the route part above: its engine route time is from the exactness check (same "
        "process, warm, the node pairs).",
    ]
    return lines


def routing_doc() -> str:
    from geo import routing

    return (
        f"{routing.N_LANDMARKS} by the farthest heuristic, the best {routing.ACTIVE_LANDMARKS} per query, times rounded down to "
        f"{routing.LANDMARK_QUANTUM_S:g} s per edge, stored as float32 node × landmark tables, from and to"
    )


# --------------------------------------------------------------------------- report


def _t(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "–"
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.2f} s"


def _mib(value: float) -> str:
    return f"{value:.0f} MiB" if math.isfinite(value) else "–"


def _x(ratio: float) -> str:
    return "–" if not math.isfinite(ratio) else f"{ratio:.1f}×" if ratio < 10 else f"{ratio:.0f}×"


def _p90(values: list[float]) -> float:
    return float(np.percentile(values, 90)) if values else math.nan


def _stats(values: list[float]) -> str:
    return f"{_t(statistics.median(values))} ({_t(_p90(values))})" if values else "–"


def _speedup(engine: list[float], baseline: list[float]) -> float:
    """Ratio of medians over the queries both ran (the baseline runs the first few)."""
    if not baseline:
        return math.nan
    return statistics.median(baseline) / statistics.median(engine[: len(baseline)])


def _ok(value: float, target: float, *, at_least: bool = False) -> str:
    if not math.isfinite(value):
        return "not measured"
    return "✅" if (value >= target if at_least else value <= target) else "❌"


def summary(r: dict) -> dict:
    """The figures the targets speak of: real network, and the largest network if about 1 M nodes."""
    real = r["sizes"][0]
    big = max(r["sizes"], key=lambda s: s["n_nodes"])
    has_1m = big["n_nodes"] >= 900_000
    nan = math.nan
    return {
        "nearest_real_s": statistics.median(real["engine"]["nearest_s"]),
        "speedup_real": _speedup(real["engine"]["nearest_s"], real.get("baseline", {}).get("nearest_s", [])),
        "nearest_1m_s": statistics.median(big["engine"]["nearest_s"]) if has_1m else nan,
        "reload_1m_s": big["engine"]["reload_s"] if has_1m else nan,
        "peak_1m_mib": big["engine"]["memory_mib"]["VmHWM"] if has_1m else nan,
        "big_nodes": big["n_nodes"] if has_1m else 0,
    }


def markdown(r: dict) -> str:
    """The section of BENCHMARKS.md for these figures."""
    s = summary(r)
    big = f"{s['big_nodes']:,} nodes" if s["big_nodes"] else "1 M nodes (not run)"
    lines = [
        "## Road network: nearest-5 and route, engine vs osmnx + networkx (`benchmarks/network.py`)",
        "",
        f"Real network: `{r['osm']}` (central Shanghai); larger ones tile it (see notes). "
        f"{', '.join(f'{p} {v}' for p, v in r['versions'].items())}. Whole section: {r['total_s']:.0f} s.",
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| nearest-5 median, real network | {_t(s['nearest_real_s'])} | ≤ 5 ms {_ok(s['nearest_real_s'], TARGETS['nearest_real_s'])} |",
        f"| nearest-5 speed-up over networkx, real network | {_x(s['speedup_real'])} | ≥ 50× {_ok(s['speedup_real'], TARGETS['speedup_real'], at_least=True)} |",
        f"| nearest-5 median, {big} | {_t(s['nearest_1m_s'])} | ≤ 100 ms {_ok(s['nearest_1m_s'], TARGETS['nearest_1m_s'])} |",
        f"| reload (load + first nearest-5), {big} | {_t(s['reload_1m_s'])} | ≤ 1 s {_ok(s['reload_1m_s'], TARGETS['reload_1m_s'])} |",
        f"| engine peak memory (VmHWM), {big} | {_mib(s['peak_1m_mib'])} | ≤ 1.5 GiB {_ok(s['peak_1m_mib'], TARGETS['peak_1m_mib'])} |",
        "",
        "Queries: median (p90). × = networkx median / engine median over the queries both ran.",
        "",
        "| network | nodes | nearest-5 engine | nearest-5 networkx (n) | × | route engine | route networkx (n) | × | same answers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for x in r["sizes"]:
        e, b, c = x["engine"], x.get("baseline"), x.get("check")
        if b:
            bn = f"{_stats(b['nearest_s'])} ({len(b['nearest_s'])})"
            br = f"{_stats(b['route_s'])} ({len(b['route_s'])})"
            sn, sr = _x(_speedup(e["nearest_s"], b["nearest_s"])), _x(_speedup(e["route_s"], b["route_s"]))
            same = "yes" if not c["mismatches"] else f"**no: {len(c['mismatches'])} differ**"
            same += f" ({c['nearest_checked']} + {c['routes_checked']})"
            if c["baseline_snapped_elsewhere"]:
                same += f"; networkx snapped {c['baseline_snapped_elsewhere']} points to another node"
        else:
            bn = br = sn = sr = same = "–"
        lines.append(
            f"| {x['label']} | {x['n_nodes']:,} | {_stats(e['nearest_s'])} | {bn} | {sn} | {_stats(e['route_s'])} | {br} | {sr} | {same} |"
        )
    lines += [
        "",
        "Size, reload and memory (each network measured in a fresh process that loads the saved folder):",
        "",
        "| network | tiles | nodes | edges | build | on disk | load | load + first nearest-5 | first route | engine peak (VmHWM) | networkx graph build | networkx peak |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["sizes"]:
        e, b = x["engine"], x.get("baseline")
        b_build, b_peak = (_t(b["build_s"]), f"{b['memory_mib']['VmHWM']:.0f} MiB") if b else ("–", "–")
        lines.append(
            f"| {x['label']} | {x['tiles'][0]}×{x['tiles'][1]} | {x['n_nodes']:,} | {x['n_edges']:,} | {_t(x['build_s'])} | {x['disk_mib']:.0f} MiB "
            f"| {_t(e['load_s'])} | {_t(e['reload_s'])} | {_t(e['first_route_s'])} | {e['memory_mib']['VmHWM']:.0f} MiB "
            f"| {b_build} | {b_peak} |"
        )
    sm = r["seams"]
    lines += [
        "",
        "How it was measured:",
        "",
        f"- Queries per network (seeded): {N_INCIDENTS} incidents for nearest-{K} among {N_RESOURCES} resources (the same "
        f"{N_RESOURCES} at every size, so on big networks the search must reach farther), {N_ROUTES} origin–destination pairs. "
        "Points of every kind, in turn: at nodes of the largest strongly connected part that touch a one-way road, dead "
        "ends, two-way nodes of degree 2 and of degree 3+, and part-way along an edge (the midpoint of a segment ≥ 10 m, "
        "more than 3 m from every node and from every road it does not lie on). The engine places them by its exact "
        "snapping rule (`geo.routing`: a point at a node leaves and enters through every edge there; a point on an edge "
        "leaves forwards and is reached from behind); the baseline snaps node points with osmnx and splits the edges a "
        "mid-edge point lies on at its own node (edges and fractions found with shapely, not by the engine), so both must "
        "give the same travel times (checked to 1e-6 relative on every query the baseline ran).",
        "- Engine: `geo.nearest.nearest` (resources snapped once by `prepare`, as the app does) and `geo.routing.route`, "
        "with route geometry assembled. Baseline: a `networkx.DiGraph` with the engine's edge travel times (fastest of "
        "parallel edges), snapping by `osmnx.distance.nearest_nodes` (batched in one call, its time shared among the "
        "points, which favours the baseline; mid-edge points are inserted once before the queries, not timed), nearest-5 by one `single_source_dijkstra_path_length` on the reversed graph, "
        "route by `networkx.shortest_path` (bidirectional Dijkstra) and summing edge times. The engine also assembles "
        "the geometry of each of the 5 routes; the baseline returns times only. networkx runs the first queries only "
        "on big networks (n in the table).",
        f"- Tiling (`tile_network`): copies of the real network side by side, each shifted by the bbox size plus "
        f"{SEAM_GAP_M:.0f} m, joined across every shared border by up to {SEAM_PAIRS} two-way straight seam roads at "
        f"{SEAM_SPEED_KPH:.0f} km/h ({sm['east']} east–west and {sm['north']} north–south pairs; the extract is round, so "
        f"seams are median {sm['median_m']:,.0f} m, longest {sm['max_m']:,.0f} m long).",
        "- Reload: the saved folder is dropped from the page cache (`posix_fadvise`), then a fresh process times "
        "`geo.network.load` and the first answer (snapping the resources and one nearest-5 query, which builds the CSR "
        "matrix); imports are not counted. Peak memory is that process's VmHWM after all its queries: it includes "
        "Python with numpy/scipy/shapely/pandas and the memory-mapped pages it touched (shared, page cache). "
        "Build time is the builder's (osmnx parse for the real network, `tile_network` for the others), not the app's.",
    ]
    if r.get("routes"):
        lines += routes_markdown(r["routes"])
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    """Worker entry: ``python -m benchmarks.network engine|routes|baseline FOLDER QUERIES.json [N_NEAREST N_ROUTES]``."""
    logging.basicConfig(level=logging.WARNING)
    kind, folder, qfile, *rest = argv
    queries = json.loads(Path(qfile).read_text(encoding="utf-8"))
    if kind == "engine":
        out = engine_worker(Path(folder), queries)
    elif kind == "routes":
        out = routes_worker(Path(folder), queries)
    elif kind == "baseline":
        out = baseline_worker(Path(folder), queries, n_nearest=int(rest[0]), n_routes=int(rest[1]))
    else:
        msg = f"worker kind was {kind!r}; expected 'engine', 'routes' or 'baseline'."
        raise ValueError(msg)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
