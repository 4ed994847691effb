"""Snap points to road edges and find fastest routes and travel times on a `Network`.

Points snap to the nearest *edge* (not node) and enter or leave it part-way, so a route
costs only the part of the first and last edge it drives.  The leg between the point and
its snapped position is added at `geo.network.ACCESS_SPEED_KPH`.  Searches are Dijkstra in
``scipy.sparse.csgraph`` on the network's CSR arrays; "to the incident" searches run on the
reverse graph, so one-way streets count in the right direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.sparse.csgraph import dijkstra

from geo import _kernels
from geo.network import ACCESS_SPEED_KPH, Network, haversine_m

_NO_BLOCKED = np.zeros(0, dtype=bool)


class OffNetwork(ValueError):
    """A point is farther from every road than the snap limit."""

    def __init__(self, msg: str, distance_m: float):
        super().__init__(msg)
        self.distance_m = distance_m


class NoRoute(ValueError):
    """No road route exists between two points (an island, or closures cut the network).

    Carries a `code` and `params` for a localized message (see
    `layers.dispatch.route_message`); ``str(exc)`` is an English sentence for logs and the
    command line.  `code` is 'no_route' (the default): no road joins the points; `params` then
    holds, where known, ``origin`` and ``destination`` (lon, lat; EPSG:4326) and ``network``
    (the network's name).
    """

    def __init__(self, message: str, *, code: str = "no_route", **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Snap:
    """A point (EPSG:4326) snapped onto edge `edge` at `fraction` of its length from its start node."""

    lon: float
    lat: float
    edge: int
    fraction: float
    snap_lon: float
    snap_lat: float
    distance_m: float

    @property
    def access_time_s(self) -> float:
        """Time (s) of the leg between the point and the road."""
        return self.distance_m / (ACCESS_SPEED_KPH / 3.6)


def blocked_edges(net: Network, closures) -> np.ndarray:
    """Boolean mask of edges whose geometry intersects any closure polygon (EPSG:4326)."""
    mask = np.zeros(net.n_edges, dtype=bool)
    polys = [g for g in np.atleast_1d(np.asarray(closures, dtype=object)) if g is not None and not shapely.is_empty(g)]
    if not polys:
        return mask
    proj = net.projection
    ox, oy, nx_, ny_ = net.grid_origin
    cell = net.meta["grid_cell_m"]
    for poly in polys:
        minx, miny, maxx, maxy = poly.bounds
        (x0, x1), (y0, y1) = proj.forward(np.array([minx, maxx]), np.array([miny, maxy]))
        cx0, cx1 = (max(0, int((v - ox) // cell)) for v in (x0, x1))
        cy0, cy1 = (max(0, int((v - oy) // cell)) for v in (y0, y1))
        cx1, cy1 = min(cx1, int(nx_) - 1), min(cy1, int(ny_) - 1)
        if cx0 > cx1 or cy0 > cy1:
            continue
        segs = _segments_in(net, cx0, cx1, cy0, cy1)
        cand = np.unique(net.seg_edge[segs])
        lines = shapely.linestrings(
            np.concatenate([net.geom_lon[net.geom_offsets[e] : net.geom_offsets[e + 1]] for e in cand]),
            np.concatenate([net.geom_lat[net.geom_offsets[e] : net.geom_offsets[e + 1]] for e in cand]),
            indices=np.repeat(np.arange(len(cand)), np.diff(net.geom_offsets)[cand]),
        ) if len(cand) else np.array([])
        if len(cand):
            shapely.prepare(poly)
            mask[cand[shapely.intersects(poly, lines)]] = True
    return mask


def _segments_in(net: Network, cx0: int, cx1: int, cy0: int, cy1: int) -> np.ndarray:
    """Segment ids registered in the grid cells of the (inclusive) column/row ranges."""
    nx_ = int(net.grid_origin[2])
    ptr = net.cell_indptr
    rows = np.arange(cy0, cy1 + 1)
    starts, ends = ptr[rows * nx_ + cx0], ptr[rows * nx_ + cx1 + 1]
    total = int((ends - starts).sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.repeat(starts - np.concatenate([[0], np.cumsum(ends - starts)[:-1]]), ends - starts) + np.arange(total)
    return np.unique(net.cell_seg[idx])


def snap(net: Network, lon: float, lat: float, *, limit_m: float | None = None, blocked: np.ndarray | None = None) -> Snap:
    """Snap a lon/lat point (EPSG:4326) to the nearest edge of `net` not in `blocked`.

    Raises
    ------
    OffNetwork
        When the nearest edge is farther than `limit_m` (default: the network's
        ``snap_limit_m``, 1 km for road networks); the message and ``distance_m`` give how far.
    """
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        msg = f"point ({lon}, {lat}) is not a lon/lat position in degrees."
        raise ValueError(msg)
    limit = float(net.meta["snap_limit_m"] if limit_m is None else limit_m)
    proj = net.projection
    px, py = (float(a) for a in proj.forward(lon, lat))
    ox, oy, nx_, ny_ = (float(v) for v in net.grid_origin)
    cap = max(limit, 5_000.0) * 10  # search this far to say how far off the network a point is
    seg, _, t, sx, sy = _kernels.nearest_segment(
        px, py, ox, oy, int(nx_), int(ny_), float(net.meta["grid_cell_m"]), net.cell_indptr, net.cell_seg,
        net.seg_x1, net.seg_y1, net.seg_x2, net.seg_y2, net.seg_edge, _NO_BLOCKED if blocked is None else blocked, cap,
    )  # fmt: skip
    if seg < 0:
        msg = f"point ({lon:.6f}, {lat:.6f}) is more than {cap / 1000:.0f} km from every road of network {net.name!r}."
        raise OffNetwork(msg, math.inf)
    snap_lon, snap_lat = (float(a) for a in proj.inverse(sx, sy))
    distance = float(haversine_m(lon, lat, snap_lon, snap_lat))
    if distance > limit:
        msg = (
            f"point ({lon:.6f}, {lat:.6f}) is off the network: the nearest road of {net.name!r} is "
            f"{distance:,.0f} m away (limit {limit:,.0f} m)."
        )
        raise OffNetwork(msg, distance)
    edge = int(net.seg_edge[seg])
    seg_len = math.hypot(net.seg_x2[seg] - net.seg_x1[seg], net.seg_y2[seg] - net.seg_y1[seg])
    edge_len = float(net.edge_proj_len_m[edge])
    fraction = (float(net.seg_start_m[seg]) + t * seg_len) / edge_len if edge_len > 0 else 0.0
    return Snap(float(lon), float(lat), edge, min(max(fraction, 0.0), 1.0), snap_lon, snap_lat, distance)


def snap_many(net: Network, lon, lat, *, limit_m: float | None = None) -> tuple[list[Snap | None], dict[int, float]]:
    """Snap many points (EPSG:4326): a Snap each, None for those off the network, whose
    distances (m) are returned by position in the second value."""
    snaps: list[Snap | None] = []
    off: dict[int, float] = {}
    for i, (x, y) in enumerate(zip(lon, lat, strict=True)):
        try:
            snaps.append(snap(net, float(x), float(y), limit_m=limit_m))
        except OffNetwork as exc:
            snaps.append(None)
            off[i] = exc.distance_m
    return snaps, off


@dataclass(frozen=True)
class Access:
    """A way on or off the network from a snapped point: through `node`, costing `time_s`/`length_m`."""

    node: int
    time_s: float
    length_m: float
    edge: int
    from_fraction: float  # part of `edge` driven: from this fraction ...
    to_fraction: float  # ... to this one (from_fraction < to_fraction, in edge direction)


def _twin(net: Network, edge: int, weights: np.ndarray) -> int:
    """The opposite-direction edge of the same road (v → u), or -1 (one-way street)."""
    twin = net.edge_between(int(net.edge_v[edge]), int(net.edge_u[edge]), weights=weights)
    return twin if twin >= 0 and math.isfinite(weights[twin]) else -1


def exits(net: Network, s: Snap, weights: np.ndarray) -> list[Access]:
    """Ways to leave snapped point `s` onto the network (driving with or against its edge's direction)."""
    e, f = s.edge, s.fraction
    out = [Access(int(net.edge_v[e]), (1 - f) * weights[e], (1 - f) * net.edge_length_m[e], e, f, 1.0)]
    twin = _twin(net, e, weights)
    if twin >= 0:
        out.append(Access(int(net.edge_v[twin]), f * weights[twin], f * net.edge_length_m[twin], twin, 1 - f, 1.0))
    return [a for a in out if math.isfinite(a.time_s)]


def entries(net: Network, s: Snap, weights: np.ndarray) -> list[Access]:
    """Ways to reach snapped point `s` from the network."""
    e, f = s.edge, s.fraction
    out = [Access(int(net.edge_u[e]), f * weights[e], f * net.edge_length_m[e], e, 0.0, f)]
    twin = _twin(net, e, weights)
    if twin >= 0:
        out.append(Access(int(net.edge_u[twin]), (1 - f) * weights[twin], (1 - f) * net.edge_length_m[twin], twin, 0.0, 1 - f))
    return [a for a in out if math.isfinite(a.time_s)]


def edge_weights(net: Network, blocked: np.ndarray | None = None) -> np.ndarray:
    """Edge travel times (s) with `blocked` edges set to infinity."""
    if blocked is None or not blocked.any():
        return net.edge_time_s
    w = np.array(net.edge_time_s, dtype=float)
    w[blocked] = np.inf
    return w


@dataclass
class Search:
    """Dijkstra from one network node, forward (from it) or reverse (to it): scipy's, the
    plain all-nodes search (the compiled kernels in `geo._kernels` serve the queries)."""

    node: int
    dist: np.ndarray
    pred: np.ndarray
    reverse: bool


def search(net: Network, node: int, *, reverse: bool, weights: np.ndarray, limit_s: float = np.inf, matrix=None) -> Search:
    """Travel times (s) from (or, `reverse`, to) `node` to every node, within `limit_s`."""
    m = matrix if matrix is not None else net.csr(reverse=reverse, weights=None if weights is net.edge_time_s else weights)
    dist, pred = dijkstra(m, directed=True, indices=node, return_predecessors=True, limit=limit_s)
    return Search(node, dist, pred, reverse)


def _partial(net: Network, edge: int, f0: float, f1: float) -> np.ndarray:
    """lon/lat vertices of `edge` between fractions f0 < f1 of its (projected) length."""
    coords = net.edge_coords(edge)
    if f0 <= 0 and f1 >= 1:
        return coords
    x, y = net.projection.forward(coords[:, 0], coords[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    if cum[-1] <= 0:
        return coords[:1]
    d0, d1 = f0 * cum[-1], f1 * cum[-1]
    inner = (cum > d0) & (cum < d1)
    ends_x = np.interp([d0, d1], cum, x)
    ends_y = np.interp([d0, d1], cum, y)
    px = np.concatenate([[ends_x[0]], x[inner], [ends_x[1]]])
    py = np.concatenate([[ends_y[0]], y[inner], [ends_y[1]]])
    lon, lat = net.projection.inverse(px, py)
    return np.column_stack([lon, lat])


@dataclass
class Route:
    """A fastest route between two snapped points (lon/lat EPSG:4326)."""

    travel_time_s: float
    length_m: float
    coords: np.ndarray = field(repr=False)  # (n, 2) lon/lat from origin to destination
    edges: list[int] = field(repr=False)
    origin: Snap = None
    destination: Snap = None
    estimate: bool = False
    seg_time_s: np.ndarray = field(default=None, repr=False)  # time of each coords segment

    def geojson(self) -> dict:
        return {"type": "LineString", "coordinates": np.round(self.coords, 7).tolist()}


def _ragged(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ranges [starts[i], starts[i] + counts[i])."""
    total = int(counts.sum())
    return np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(total)


def edges_between(net: Network, a: np.ndarray, b: np.ndarray, *, weights: np.ndarray) -> np.ndarray:
    """The fastest edge for each node pair a[i] → b[i] (vectorised over the CSR arrays)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    indptr, indices = net.fwd_indptr, net.fwd_indices
    pos = np.empty(len(a), dtype=np.int64)
    for i, (u, v) in enumerate(zip(a, b, strict=True)):  # rows are short: a few entries each
        lo = indptr[u]
        pos[i] = lo + np.searchsorted(indices[lo : indptr[u + 1]], v)
    if weights is net.edge_time_s:
        return np.asarray(net.fwd_edge[pos], dtype=np.int64)
    return np.array([net.edge_between(int(u), int(v), weights=weights) for u, v in zip(a, b, strict=True)], dtype=np.int64)


def _chain(net: Network, edges: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of consecutive `edges` (shared nodes once) and the time of each segment."""
    off = net.geom_offsets
    starts, counts = off[edges], off[edges + 1] - off[edges]
    idx = _ragged(starts, counts)
    lon, lat = net.geom_lon[idx], net.geom_lat[idx]
    owner = np.repeat(np.arange(len(edges)), counts)
    seg_len = haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:])
    inside = owner[:-1] == owner[1:]
    seg_owner = owner[:-1][inside]
    seg_len = seg_len[inside]
    per_edge = np.bincount(seg_owner, weights=seg_len, minlength=len(edges))
    n_seg = np.bincount(seg_owner, minlength=len(edges))
    share = np.where(per_edge[seg_owner] > 0, seg_len / np.where(per_edge > 0, per_edge, 1)[seg_owner], 1.0 / np.maximum(n_seg, 1)[seg_owner])
    seg_time = share * np.asarray(weights)[edges][seg_owner]
    keep = np.ones(len(idx), dtype=bool)
    keep[np.cumsum(counts)[:-1]] = False  # first vertex of every later edge = last of the one before
    return np.column_stack([lon[keep], lat[keep]]), seg_time


def assemble(net: Network, origin: Snap, destination: Snap, exit_: Access | None, nodes: list[int], entry: Access | None, weights: np.ndarray) -> Route:
    """Geometry, time and length of origin → exit → nodes → entry → destination."""
    pieces: list[tuple[np.ndarray, float | np.ndarray]] = [
        (np.array([[origin.lon, origin.lat], [origin.snap_lon, origin.snap_lat]]), origin.access_time_s)
    ]
    length = origin.distance_m + destination.distance_m
    if exit_ is None:  # origin and destination on the same edge, in driving order
        e = origin.edge
        pieces.append((_partial(net, e, origin.fraction, destination.fraction), (destination.fraction - origin.fraction) * weights[e]))
        length += (destination.fraction - origin.fraction) * net.edge_length_m[e]
        edges = [e]
    else:
        pieces.append((_partial(net, exit_.edge, exit_.from_fraction, exit_.to_fraction), exit_.time_s))
        mid = edges_between(net, nodes[:-1], nodes[1:], weights=weights) if len(nodes) > 1 else np.zeros(0, dtype=np.int64)
        if len(mid):
            pieces.append(_chain(net, mid, weights))
        pieces.append((_partial(net, entry.edge, entry.from_fraction, entry.to_fraction), entry.time_s))
        length += exit_.length_m + float(np.asarray(net.edge_length_m)[mid].sum()) + entry.length_m
        edges = [exit_.edge, *mid.tolist(), entry.edge]
    pieces.append((np.array([[destination.snap_lon, destination.snap_lat], [destination.lon, destination.lat]]), destination.access_time_s))
    coords, seg_times = _join(pieces)
    return Route(float(seg_times.sum()), float(length), coords, edges, origin, destination, net.estimate, seg_times)


def _join(pieces: list[tuple[np.ndarray, float | np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate polyline pieces with their segment times.

    A piece's time is an array (one per segment) or a total spread over its segments by
    length.  A piece that starts where the previous one ended shares that vertex;
    otherwise a connecting segment of zero time joins them.
    """
    coords: list[np.ndarray] = []
    times: list[np.ndarray] = []
    for pts, t in pieces:
        if len(pts) < 2:
            continue
        if np.ndim(t) == 0:
            seg_len = haversine_m(pts[:-1, 0], pts[:-1, 1], pts[1:, 0], pts[1:, 1])
            total = float(seg_len.sum())
            seg_t = seg_len / total * t if total > 0 else np.full(len(seg_len), t / len(seg_len))
        else:
            seg_t = np.asarray(t, dtype=float)
        if coords and abs(pts[0, 0] - coords[-1][-1, 0]) < 1e-9 and abs(pts[0, 1] - coords[-1][-1, 1]) < 1e-9:
            coords.append(pts[1:])
        else:
            if coords:
                seg_t = np.concatenate([[0.0], seg_t])
            coords.append(pts)
        times.append(seg_t)
    return np.vstack(coords), np.concatenate(times)


def route(net: Network, origin: tuple[float, float], destination: tuple[float, float], *, blocked: np.ndarray | None = None, snap_limit_m: float | None = None) -> Route:
    """The fastest route from `origin` to `destination` (lon, lat; EPSG:4326).

    Raises
    ------
    OffNetwork
        If either point is beyond the snap limit.
    NoRoute
        If no road route exists (the network is cut, e.g. by closures).
    """
    w = edge_weights(net, blocked)
    o = snap(net, *origin, limit_m=snap_limit_m, blocked=blocked)
    d = snap(net, *destination, limit_m=snap_limit_m, blocked=blocked)
    direct = (d.fraction - o.fraction) * w[o.edge] if o.edge == d.edge and o.fraction <= d.fraction else math.inf
    ins, outs = entries(net, d, w), exits(net, o, w)
    best = math.inf
    if ins and outs:
        # reverse search from the destination that stops when the origin is settled
        m = net.csr(reverse=True, weights=None if w is net.edge_time_s else w)
        out_nodes = np.array([a.node for a in outs], dtype=np.int64)
        order = np.argsort(out_nodes, kind="stable")
        ptr = np.searchsorted(out_nodes[order], np.arange(net.n_nodes + 1)).astype(np.int64)
        costs = np.array([a.time_s for a in outs])[order]
        src = np.array([a.node for a in ins], dtype=np.int64)
        off = np.array([a.time_s for a in ins])
        tot, via, _, pred = _kernels.k_nearest(m.indptr, m.indices, m.data, src, off, ptr, np.zeros(len(outs), dtype=np.int64), costs, 1, 1)
        best = float(tot[0])
    if not math.isfinite(min(best, direct)):
        msg = f"no road route from ({origin[0]:.6f}, {origin[1]:.6f}) to ({destination[0]:.6f}, {destination[1]:.6f}) on network {net.name!r}."
        raise NoRoute(msg, origin=tuple(origin), destination=tuple(destination), network=net.name)
    if direct <= best:
        return assemble(net, o, d, None, [], None, w)
    node = int(via[0])
    nodes = _kernels.path_to_root(pred, node)
    ex = min((a for a in outs if a.node == node), key=lambda a: a.time_s)
    en = min((a for a in ins if a.node == int(nodes[-1])), key=lambda a: a.time_s)
    return assemble(net, o, d, ex, nodes.tolist(), en, w)
