"""Stitch detailed local road networks (OSM extracts) onto the regional backbone: one network.

A county or city brings its own OpenStreetMap extract (``python -m geo build --osm``); alone it
routes only inside the extract.  The stitched network (``networks/stitched``, meta ``kind`` =
'stitched') drives the extract's real streets inside its area and the backbone (`geo.backbone`)
outside it, so that a route from a street in central Shanghai to a town in 嘉兴 follows the
real streets (road classes, one-way streets) to the extract's edge and the backbone after.
The rule, stated as OSRM and pgRouting state theirs:

Area of a local network
-----------------------
The convex hull (EPSG:4326; lines in lon/lat, the same hull as in any local metric frame) of
the nodes of the local network's largest **strongly** connected component: the part where a
vehicle can drive from anywhere to anywhere.  Every edge of the local network is kept (also
its small cut-off pieces).  Two local networks whose areas overlap (an intersection of
positive area) are refused (`geo.network.NetworkError` code 'overlap'): build one extract that
covers both.  Areas that only touch are allowed.  Local networks are the saved networks that
are not estimates and not the backbone or a stitched network.

Backbone outside the areas
--------------------------
Backbone edges are straight segments between their nodes.  An edge entirely inside an area is
dropped (its nodes inside an area go with it).  An edge that crosses an area's boundary is cut
there: each part outside is kept, with its share of the edge's length and time in proportion
to its share of the straight segment, and each crossing point becomes a node (both directions
of a two-way backbone road share it).

Joins (connector edges)
-----------------------
A crossing point is joined to the nearest node of that area's largest strongly connected
component (nearest in a local equirectangular frame) if that node lies within `JOIN_M`
(2,000 m, great-circle).  Every backbone node left outside the areas that lies within
`JOIN_M` of such a local node is joined to the nearest one the same way (where the backbone
runs beside the extract without crossing it).  A join is two connector edges, one each way,
of class 'connector': length = great-circle distance × `geo.backbone.ACCESS_CIRCUITY`
(1.3), at `geo.backbone.ACCESS_SPEED_KPH` (30 km/h), as the backbone's access leg.  The
meta reports ``crossings`` (crossing points), ``crossings_unjoined`` (those with no local
node within `JOIN_M`: the backbone road then ends there), ``nodes_joined`` (backbone nodes
joined by distance) and ``joins`` (all joins).  Two local networks that share OSM nodes (the
same node id: the same place) share them in the stitched network.

Access leg (snapping)
---------------------
Points are snapped by `geo.routing`'s rule.  The access leg between a point and the road
follows the class of the point's **nearest** candidate edge: a local road class (its OSM
class) uses the local rule, the straight line × 1 at `geo.network.ACCESS_SPEED_KPH`
(15 km/h); 'backbone' and 'connector' use the backbone's rule (straight line × 1.3 at
30 km/h).  It is written into the meta as ``access_by_class`` (class → ``circuity``,
``speed_kph``) and read by `geo.routing.access_mps`; the top-level ``access_circuity`` /
``access_speed_kph`` state the backbone's rule (what answers outside the areas rest on).

Result
------
One engine `Network` (`geo.network.build_from_arrays`): edge classes are the local OSM
classes, 'backbone' and 'connector'.  Node ids: local nodes keep their OSM ids; backbone node
``i`` gets ``-(i + 1)``; crossing points ``-(max backbone id + 2 + k)``.  ``node_component``
holds, per node, 0 for the part joined to the backbone's main component, else the
backbone's label of the cut-off component it contains (so `geo.backbone.known_gap` and the
backbone's connectivity audit still apply), else a new label for local parts joined to no
backbone.  The meta: ``kind`` 'stitched', ``estimate`` True (its backbone part is an
estimate), ``parts`` (name, kind, source, licence, size, build time and area of the backbone
and of every local network), ``licence``, ``join_m`` and ``snap_limit_m`` = the backbone's.
`rebuild` makes it from what is saved in a networks folder, atomically (`geo.network.save`).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo import backbone
from geo import network as gn

log = logging.getLogger(__name__)

#: Folder name and ``meta["name"]`` of the stitched network; ``meta["kind"]`` that marks it.
NAME = "stitched"
KIND = "stitched"
#: ``meta["source"]`` of the stitched network (also a label key suffix: ``net.source.<SOURCE>``).
SOURCE = "stitched"
#: A crossing point or backbone node is joined to a local node at most this far away (m).
JOIN_M = 2_000.0
#: Edge class of the joins between the backbone and a local network.
CONNECTOR = "connector"
#: Licence of a local network built from OpenStreetMap data.
LOCAL_LICENCE = "© OpenStreetMap contributors, ODbL 1.0"
_EPS = 1e-9  # share of a backbone edge below which an inside or outside part is no part


def is_local(meta: dict) -> bool:
    """True for a local network of real roads (not an estimate, not the backbone, not stitched)."""
    return not meta.get("estimate") and meta.get("kind") not in (backbone.KIND, KIND)


def largest_scc(net: gn.Network) -> np.ndarray:
    """Node indices of the largest strongly connected component of `net`."""
    _, label = connected_components(net.csr(), directed=True, connection="strong")
    return np.flatnonzero(label == np.bincount(label).argmax())


def area(net: gn.Network) -> shapely.Polygon:
    """The area of a local network (EPSG:4326): the convex hull of its largest strongly connected component."""
    scc = largest_scc(net)
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([np.asarray(net.node_lon)[scc], np.asarray(net.node_lat)[scc]])))
    if not isinstance(hull, shapely.Polygon):  # a point or a line: a sliver of about 1 m around it
        hull = shapely.convex_hull(hull.buffer(1e-5))
    return hull


def _inside_interval(ax, ay, bx, by, ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Part [t0, t1] of each segment A → B inside a convex polygon (Cyrus–Beck clipping).

    `ring` is the polygon's closed exterior, counter-clockwise, in the same planar frame as
    the points.  t0 > t1 where a segment misses the polygon.
    """
    px, py = ring[:-1, 0], ring[:-1, 1]
    nx_, ny_ = np.diff(ring[:, 1]), -np.diff(ring[:, 0])  # outward normals of a counter-clockwise ring
    dx, dy = (bx - ax)[:, None], (by - ay)[:, None]
    num = nx_ * (ax[:, None] - px) + ny_ * (ay[:, None] - py)  # > 0: A outside this edge's half-plane
    den = nx_ * dx + ny_ * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -num / den
    t0 = np.where(den < 0, t, -np.inf).max(axis=1)
    t1 = np.where(den > 0, t, np.inf).min(axis=1)
    parallel_out = ((den == 0) & (num > 0)).any(axis=1)
    t0, t1 = np.maximum(t0, 0.0), np.minimum(t1, 1.0)
    t0[parallel_out] = 2.0
    return t0, t1


def _check_overlaps(areas: list, names: list[str]) -> None:
    for i in range(len(areas)):
        for j in range(i + 1, len(areas)):
            if shapely.intersection(areas[i], areas[j]).area > 0:
                msg = (
                    f"the areas of local networks {names[i]!r} and {names[j]!r} overlap; build one extract that covers both "
                    f"(`python -m geo build --osm FILE --name NAME`) instead of two."
                )
                raise gn.NetworkError("overlap", msg, name=names[i], other=names[j])


def stitch(bb: gn.Network, locals_: list[gn.Network], *, name: str = NAME, join_m: float = JOIN_M) -> gn.Network:
    """The backbone `bb` outside the areas of the local networks `locals_`, their roads inside,
    joined at the areas' edges: see the module docstring for the rule.

    Raises
    ------
    ValueError
        If `bb` is not a backbone, `locals_` is empty or holds a network that is not local,
        or `join_m` is not a positive number.
    geo.network.NetworkError
        Code 'overlap' when the areas of two local networks overlap.
    """
    if not backbone.is_backbone(bb.meta):
        msg = f"`bb` was network {bb.name!r} of kind {bb.meta.get('kind')!r}; give the backbone (kind 'backbone')."
        raise ValueError(msg)
    if not locals_:
        msg = "`locals_` is empty; give at least one local network of real roads."
        raise ValueError(msg)
    bad = [n.name for n in locals_ if not is_local(n.meta)]
    if bad:
        msg = f"`locals_` holds {bad}, which are not local networks of real roads (estimates, the backbone or a stitched network)."
        raise ValueError(msg)
    if not (join_m > 0 and np.isfinite(join_m)):
        msg = f"`join_m` was {join_m!r}; it must be a positive number of metres."
        raise ValueError(msg)
    areas = [area(n) for n in locals_]
    _check_overlaps(areas, [n.name for n in locals_])

    # ---- local nodes (shared OSM ids merged) and edges
    ids = np.concatenate([np.asarray(n.node_id, dtype=np.int64) for n in locals_])
    uniq, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    all_lon = np.concatenate([np.asarray(n.node_lon) for n in locals_])
    all_lat = np.concatenate([np.asarray(n.node_lat) for n in locals_])
    starts = np.cumsum([0] + [n.n_nodes for n in locals_])
    local_lon, local_lat = all_lon[first], all_lat[first]
    n_local = len(uniq)
    classes: list[str] = []
    parts_u, parts_v, parts_len, parts_time, parts_cls = [], [], [], [], []
    geo_counts, geo_lon, geo_lat = [], [], []
    scc_nodes = []
    for k, n in enumerate(locals_):
        node_map = inverse[starts[k] : starts[k + 1]]
        for c in n.highway_names:
            if c not in classes:
                classes.append(c)
        cls_map = np.array([classes.index(c) for c in n.highway_names], dtype=np.int64)
        parts_u.append(node_map[n.edge_u])
        parts_v.append(node_map[n.edge_v])
        parts_len.append(np.asarray(n.edge_length_m, dtype=float))
        parts_time.append(np.asarray(n.edge_time_s, dtype=float))
        parts_cls.append(cls_map[n.edge_class])
        geo_counts.append(np.diff(n.geom_offsets))
        geo_lon.append(np.asarray(n.geom_lon))
        geo_lat.append(np.asarray(n.geom_lat))
        scc_nodes.append(np.unique(node_map[largest_scc(n)]))
    bb_cls, conn_cls = len(classes), len(classes) + 1
    classes += [backbone.KIND, CONNECTOR]

    # ---- backbone edges: dropped inside an area, cut at its boundary
    b_lon, b_lat = np.asarray(bb.node_lon), np.asarray(bb.node_lat)
    eu, ev = np.asarray(bb.edge_u, dtype=np.int64), np.asarray(bb.edge_v, dtype=np.int64)
    lo, hi = np.minimum(eu, ev), np.maximum(eu, ev)
    proj = bb.projection
    ax, ay = proj.forward(b_lon[lo], b_lat[lo])
    bx, by = proj.forward(b_lon[hi], b_lat[hi])
    inside: dict[int, list[tuple[float, float, int]]] = {}  # edge -> (t0, t1, area) along lo → hi
    for k, poly in enumerate(areas):
        ring = np.column_stack(proj.forward(*np.asarray(shapely.orient_polygons(poly).exterior.coords).T))  # counter-clockwise
        xmin, ymin = ring.min(axis=0)
        xmax, ymax = ring.max(axis=0)
        near = np.flatnonzero((np.maximum(ax, bx) >= xmin) & (np.minimum(ax, bx) <= xmax) & (np.maximum(ay, by) >= ymin) & (np.minimum(ay, by) <= ymax))
        t0, t1 = _inside_interval(ax[near], ay[near], bx[near], by[near], ring)
        for e, a, b in zip(near[t1 - t0 > _EPS], t0[t1 - t0 > _EPS], t1[t1 - t0 > _EPS], strict=True):
            inside.setdefault(int(e), []).append((float(a), float(b), k))
    keep = np.ones(bb.n_edges, dtype=bool)
    keep[list(inside)] = False
    whole = np.flatnonzero(keep)
    # pieces of the cut edges: (edge, s0, s1, end key at s0, end key at s1) along lo → hi
    cross_key: dict[tuple[int, int, float], int] = {}
    cross_lon, cross_lat, cross_area = [], [], []
    pieces = []

    def end(e: int, s: float, k: int) -> int:
        """Stitched-local code of the piece end at share `s` of edge `e`: ≥ 0 a backbone node, < 0 a crossing."""
        if s <= 0.0:
            return int(lo[e])
        if s >= 1.0:
            return int(hi[e])
        key = (int(lo[e]), int(hi[e]), round(s, 12))
        if key not in cross_key:
            cross_key[key] = len(cross_lon)
            cross_lon.append(b_lon[lo[e]] + s * (b_lon[hi[e]] - b_lon[lo[e]]))
            cross_lat.append(b_lat[lo[e]] + s * (b_lat[hi[e]] - b_lat[lo[e]]))
            cross_area.append(k)
        return -1 - cross_key[key]

    for e, spans in inside.items():
        spans.sort()
        s, k_prev = 0.0, -1
        for t0, t1, k in spans:
            if t0 - s > _EPS:
                pieces.append((e, s, t0, end(e, s, k_prev), end(e, t0, k)))
            s, k_prev = max(s, t1), k
        if 1.0 - s > _EPS:
            pieces.append((e, s, 1.0, end(e, s, k_prev), end(e, 1.0, k_prev)))
    piece_e = np.array([p[0] for p in pieces], dtype=np.int64)
    share = np.array([p[2] - p[1] for p in pieces], dtype=float)
    end0 = np.array([p[3] for p in pieces], dtype=np.int64)
    end1 = np.array([p[4] for p in pieces], dtype=np.int64)
    forward = eu[piece_e] == lo[piece_e] if len(pieces) else np.zeros(0, dtype=bool)
    p_from, p_to = np.where(forward, end0, end1), np.where(forward, end1, end0)

    # ---- node numbering: local nodes, kept backbone nodes, crossing points
    used_bb = np.unique(np.concatenate([eu[whole], ev[whole], p_from[p_from >= 0], p_to[p_to >= 0]]))
    bb_index = np.full(bb.n_nodes, -1, dtype=np.int64)
    bb_index[used_bb] = n_local + np.arange(len(used_bb))
    n_cross = len(cross_lon)
    cross_base = n_local + len(used_bb)

    def node_of(code: np.ndarray) -> np.ndarray:
        return np.where(code >= 0, bb_index[np.maximum(code, 0)], cross_base + (-1 - code))

    node_lon = np.concatenate([local_lon, b_lon[used_bb], np.asarray(cross_lon, dtype=float)])
    node_lat = np.concatenate([local_lat, b_lat[used_bb], np.asarray(cross_lat, dtype=float)])
    bb_ids = np.asarray(bb.node_id, dtype=np.int64)
    node_id = np.concatenate([uniq, -(bb_ids[used_bb] + 1), -(int(bb_ids.max()) + 2 + np.arange(n_cross, dtype=np.int64))])

    # ---- joins: crossings to their area's nearest SCC node, nearby backbone nodes to the nearest SCC node
    trees = []
    for k in range(len(locals_)):
        p = gn.LocalProjection(*np.asarray(areas[k].centroid.coords)[0])
        trees.append((p, cKDTree(np.column_stack(p.forward(local_lon[scc_nodes[k]], local_lat[scc_nodes[k]])))))

    def nearest(k: int, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p, tree = trees[k]
        _, i = tree.query(np.column_stack(p.forward(lon, lat)))
        target = scc_nodes[k][i]
        return target, gn.haversine_m(lon, lat, local_lon[target], local_lat[target])

    join_from, join_to, join_m_ = [], [], []
    cross_area_ = np.asarray(cross_area, dtype=np.int64)
    crossings_joined = 0
    for k in range(len(locals_)):
        mine = np.flatnonzero(cross_area_ == k)
        if len(mine):
            target, dist = nearest(k, node_lon[cross_base + mine], node_lat[cross_base + mine])
            ok = dist <= join_m
            join_from.append(cross_base + mine[ok])
            join_to.append(target[ok])
            join_m_.append(dist[ok])
            crossings_joined += int(ok.sum())
    best_t = np.full(len(used_bb), -1, dtype=np.int64)
    best_d = np.full(len(used_bb), np.inf)
    for k in range(len(locals_)):
        target, dist = nearest(k, b_lon[used_bb], b_lat[used_bb])
        better = (dist <= join_m) & (dist < best_d)
        best_t[better], best_d[better] = target[better], dist[better]
    near_bb = np.flatnonzero(best_t >= 0)
    join_from.append(n_local + near_bb)
    join_to.append(best_t[near_bb])
    join_m_.append(best_d[near_bb])
    j_from, j_to, j_dist = (np.concatenate(x) if x else np.zeros(0) for x in (join_from, join_to, join_m_))
    j_from, j_to = j_from.astype(np.int64), j_to.astype(np.int64)
    conn_len = j_dist * backbone.ACCESS_CIRCUITY
    conn_time = conn_len / (backbone.ACCESS_SPEED_KPH / 3.6)

    # ---- edges: local, whole backbone, cut backbone, connectors (both ways)
    n_bb_whole, n_piece, n_join = len(whole), len(pieces), len(j_from)
    u = np.concatenate([*parts_u, bb_index[eu[whole]], node_of(p_from), j_from, j_to])
    v = np.concatenate([*parts_v, bb_index[ev[whole]], node_of(p_to), j_to, j_from])
    length = np.concatenate([*parts_len, np.asarray(bb.edge_length_m)[whole], np.asarray(bb.edge_length_m)[piece_e] * share, conn_len, conn_len])
    time_s = np.concatenate([*parts_time, np.asarray(bb.edge_time_s)[whole], np.asarray(bb.edge_time_s)[piece_e] * share, conn_time, conn_time])
    cls = np.concatenate([*parts_cls, np.full(n_bb_whole + n_piece, bb_cls), np.full(2 * n_join, conn_cls)]).astype(np.int16)
    straight_u, straight_v = u[len(u) - n_bb_whole - n_piece - 2 * n_join :], v[len(v) - n_bb_whole - n_piece - 2 * n_join :]
    counts = np.concatenate([*geo_counts, np.full(len(straight_u), 2, dtype=np.int64)])
    geom_lon = np.concatenate([*geo_lon, np.column_stack([node_lon[straight_u], node_lon[straight_v]]).ravel()])
    geom_lat = np.concatenate([*geo_lat, np.column_stack([node_lat[straight_u], node_lat[straight_v]]).ravel()])
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    net = gn.build_from_arrays(
        node_lon, node_lat, u, v, length, time_s, cls, classes, offsets, geom_lon, geom_lat,
        name=name, source=SOURCE, estimate=True, snap_limit_m=float(bb.meta["snap_limit_m"]),
        emergency_factor=float(bb.meta.get("emergency_factor", 1.0)), node_id=node_id,
    )  # fmt: skip

    # ---- components, as the backbone labels them (see the module docstring)
    n = net.n_nodes
    _, weak = connected_components(sparse.coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n)), directed=True, connection="weak")
    bb_comp = np.asarray(bb.node_component) if "node_component" in bb.arrays else np.zeros(bb.n_nodes, dtype=np.int32)
    none = np.iinfo(np.int64).max
    label = np.full(weak.max() + 1, none, dtype=np.int64)
    np.minimum.at(label, weak[n_local : n_local + len(used_bb)], bb_comp[used_bb])  # the smallest backbone label in each wins
    orphans = np.flatnonzero(label == none)
    sizes = np.bincount(weak, minlength=len(label))[orphans]
    label[orphans[np.lexsort((orphans, -sizes))]] = int(bb_comp.max(initial=0)) + 1 + np.arange(len(orphans))
    net.arrays["node_component"] = label[weak].astype(np.int32)

    rule = {"circuity": float(bb.meta.get("access_circuity", backbone.ACCESS_CIRCUITY)), "speed_kph": float(bb.meta.get("access_speed_kph", backbone.ACCESS_SPEED_KPH))}
    local_rule = {"circuity": 1.0, "speed_kph": gn.ACCESS_SPEED_KPH}
    parts = [_part(bb, "backbone", bb.meta.get("licence", backbone.LICENCE), None)]
    parts += [_part(loc, "local", LOCAL_LICENCE, poly) for loc, poly in zip(locals_, areas, strict=True)]
    net.meta.update(
        {
            "kind": KIND,
            "parts": parts,
            "licence": "; ".join(dict.fromkeys(p["licence"] for p in parts)),
            "join_m": float(join_m),
            "crossings": int(n_cross),
            "crossings_unjoined": int(n_cross - crossings_joined),
            "nodes_joined": int(len(near_bb)),
            "joins": int(n_join),
            "speed_kph": float(bb.meta.get("speed_kph", backbone.SPEED_KPH)),
            "access_circuity": rule["circuity"],
            "access_speed_kph": rule["speed_kph"],
            "access_by_class": {c: dict(rule if c in (backbone.KIND, CONNECTOR) else local_rule) for c in classes},
            "components": int(len(label)),
            "main_component_nodes": int((label[weak] == 0).sum()),
        }
    )
    log.info(
        "stitched %s: %s local networks, %s crossings (%s without a local node within %s m), %s backbone nodes joined by distance, %s joins",
        name, len(locals_), n_cross, n_cross - crossings_joined, f"{join_m:,.0f}", len(near_bb), n_join,
    )  # fmt: skip
    return net


def _part(net: gn.Network, kind: str, licence: str, poly) -> dict:
    out = {
        "name": net.name, "kind": kind, "source": net.meta.get("source"), "licence": licence,
        "n_nodes": net.n_nodes, "n_edges": net.n_edges, "created": net.meta.get("created"),
        "emergency_factor": float(net.meta.get("emergency_factor", 1.0)),
    }  # fmt: skip
    if poly is not None:
        out["area_lonlat"] = [[round(x, 7), round(y, 7)] for x, y in poly.exterior.coords]
    return out


def rebuild(folder: str | os.PathLike, *, join_m: float = JOIN_M) -> gn.Network | None:
    """(Re)build ``folder/stitched`` from the saved backbone and every saved local network.

    Removes it, and returns None, when `folder` holds no backbone or no local network.  The
    network is written atomically (`geo.network.save`): readers see the old one or the new one.

    Raises
    ------
    geo.network.NetworkError
        'overlap' when two local networks' areas overlap (the old stitched network, if any,
        stays as it was); 'reserved_name' when a local network is named 'stitched'.
    """
    folder = Path(folder)
    target = folder / NAME
    metas = gn.list_networks(folder)
    bb_meta = next((m for m in metas if backbone.is_backbone(m)), None)
    local_metas = [m for m in metas if is_local(m)]
    if any(m["name"] == NAME or Path(m["path"]).name == NAME for m in local_metas):
        msg = f"a local network is named {NAME!r}, the name of the stitched network; build it again under another name."
        raise gn.NetworkError("reserved_name", msg, name=NAME)
    if bb_meta is None or not local_metas:
        if target.exists():
            shutil.rmtree(target)
            log.info("stitched network removed: %s", "no backbone" if bb_meta is None else "no local network")
        return None
    net = stitch(gn.load(bb_meta["path"]), [gn.load(m["path"]) for m in local_metas], name=NAME, join_m=join_m)
    from geo import routing

    routing.prepare_searches(net)  # saved with the network: no user's first route builds them
    gn.save(net, target)
    return net
