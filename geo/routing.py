"""Snap points to road edges and find fastest routes and travel times on a `Network`.

Snapping rule (what a point means)
----------------------------------
Like OSRM's "phantom nodes" and pgRouting's ``withPoints``, a point (an incident, a team, a
demand point) is placed on the road network, not on the nearest node:

1. **Candidates.**  The edge nearest to the point and every other edge no more than
   `SNAP_TIE_M` (1 m) farther away are candidates (a two-way road is two directed edges with
   the same geometry: both are candidates; so are the edges of a junction the point is
   nearest to).  Each candidate has its own snapped position, the nearest point of its
   geometry, at `fraction` of the edge's length from its tail: the share of the edge's
   great-circle length along its geometry before that position.
2. **At a node.**  If a candidate's snapped position lies within `NODE_SNAP_M` (1 m, along the
   edge) of one of its end nodes, the point *is* that node: it leaves through every edge out
   of the node and is reached through every edge into it, whatever their direction, at no
   partial cost.  (The nearest such node wins; other candidates are then not used.)
3. **On an edge.**  Otherwise the point sits part-way along each candidate edge u → v at
   fraction f: it leaves only forwards, to the head v, at (1 − f) × the edge's time, and is
   reached only from behind, from the tail u, at f × the edge's time.  A one-way street is
   one directed edge, so a point on it leaves only in the driving direction; a two-way road
   gives both directions.  Two points on the same directed edge, the second further along,
   are also joined directly along it.
4. **Access leg.**  The straight leg between the point and its snapped position (or the node)
   is added, per candidate, at the network's stated access rule: straight line ×
   ``meta["access_circuity"]`` at ``meta["access_speed_kph"]`` (the backbone states 1.3 at
   30 km/h, see `geo.backbone`); a network that states none uses × 1.0 at
   `geo.network.ACCESS_SPEED_KPH` (15 km/h).  A network that states the rule per road class
   (``meta["access_by_class"]``: the stitched network, `geo.stitch`) uses the rule of the
   class of the point's **nearest** candidate edge for every candidate of that point (local
   streets × 1.0 at 15 km/h, backbone and connector edges the backbone's rule).  A point
   farther than the network's snap limit from every road is off the network (`OffNetwork`).

Searches start from (or end at) *all* of these seeds at once, each with its partial cost:
routes, the k nearest resources (`geo.nearest`), zones and isochrones (`geo.zones`) and the
planning cost matrix (`geo.planning.cost_matrix`) use the same rule.  "To the incident"
searches run on the reverse graph, so one-way streets count in the right direction.
Closed edges (`blocked_edges`) are never candidates; a point whose own road is closed is
refused with ``NoRoute(code="in_closure")`` rather than moved to another road unannounced.

One-to-one search (`route`)
---------------------------
By default a contraction hierarchy (`geo.hierarchy`, built once per network and saved with
it): both ends search upwards only, to the hierarchy's core, inside which the landmark search
below runs between the core nodes they reached; the way found is unpacked into roads.
Closures are checked on that way: closing roads can only make a trip slower, so a way that
drives no closed road is still the fastest, and otherwise the closed network is searched by
the landmark search alone (closures are never built into the hierarchy).

The landmark search ('alt', also the core's): bidirectional A* with landmark lower bounds ("ALT", Goldberg & Harrelson 2005): `landmarks`
picks `N_LANDMARKS` nodes far apart (the farthest heuristic, in the largest strongly
connected part) and stores the travel times from and to each of them, once per network,
beside the network's arrays (saved with it, or computed on first use and written into its
folder).  The triangle inequality turns them into lower bounds of the time to the
destination and from the origin; the forward search is guided by the average of the two
(``(to-destination bound − from-origin bound) / 2``) and the reverse search by its negative,
so both are Dijkstra on the same non-negative reduced costs and the search stops when the
two heap tops add up to the best time found (`geo._kernels.alt_route`).  The answer is the
plain Dijkstra one, not an approximation.

The tables are times on the network's own weights rounded *down* to `LANDMARK_QUANTUM_S`
per edge (kept as exact float32 multiples of it), so every bound is a true lower bound and
exactly consistent.  A closure only raises weights (to infinity), so the same tables stay
valid: closures are applied during the search, edge by edge, and nothing is rebuilt.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.sparse.csgraph import dijkstra

from geo import _ch, _kernels
from geo.hierarchy import hierarchy
from geo.network import ACCESS_SPEED_KPH, EARTH_RADIUS_M, Network, derived, haversine_m

log = logging.getLogger(__name__)

_NO_BLOCKED = np.zeros(0, dtype=bool)
#: Landmarks of the one-to-one search (ALT lower bounds), and how many of them a query uses
#: (those giving the best bound between its two points).
N_LANDMARKS = 16
ACTIVE_LANDMARKS = 16
#: Landmark tables hold times on edge weights rounded down to multiples of this (s): exact
#: float32 values, so the bounds are exactly consistent (see the module docstring).
LANDMARK_QUANTUM_S = 1 / 16
#: Landmark times are stored at most this large (s; larger ones are cut to it, which keeps
#: them lower bounds): the largest multiple of the quantum that float32 holds exactly.
LANDMARK_CAP_S = (2**24 - 1) * LANDMARK_QUANTUM_S
#: Bounds are capped here (s) in the search's potential: far beyond any road trip.
_POTENTIAL_CAP_S = 1e7
_ALT_ARRAYS = ("alt_landmarks", "alt_from_s", "alt_to_s")
_POOL_LOCK = threading.Lock()
#: A candidate edge no more than this much (m) farther than the nearest one is used too.
SNAP_TIE_M = 1.0
#: A snapped position this close (m, along the edge) to an end node is at that node.
NODE_SNAP_M = 1.0
_ACCESS_MPS = ACCESS_SPEED_KPH / 3.6


def access_mps(meta: dict, *, edge_class: str | None = None) -> float:
    """Straight-line speed (m/s) of the access leg of a network with `meta`: the access speed
    divided by the circuity, so that the leg's time is ``distance_m / access_mps(meta)``.

    ``meta["access_circuity"]`` (default 1.0) × the straight line at ``meta["access_speed_kph"]``
    (km/h; default `geo.network.ACCESS_SPEED_KPH`).  A network whose meta has
    ``access_by_class`` (class name → ``{"circuity", "speed_kph"}``; the stitched network,
    `geo.stitch`) states the rule per road class: the rule of `edge_class`, the class of the
    point's nearest candidate edge, applies where it is listed; elsewhere, and on every
    network without that entry, the network's one rule.

    Raises
    ------
    ValueError
        If either value is not a positive number.
    """
    rule = meta.get("access_by_class", {}).get(edge_class) if edge_class is not None else None
    source = meta if rule is None else {"access_circuity": rule.get("circuity", 1.0), "access_speed_kph": rule.get("speed_kph", ACCESS_SPEED_KPH)}
    circuity = float(source.get("access_circuity", 1.0))
    speed_kph = float(source.get("access_speed_kph", ACCESS_SPEED_KPH))
    if not (circuity > 0 and speed_kph > 0 and math.isfinite(circuity) and math.isfinite(speed_kph)):
        msg = f"network meta `access_circuity` ({circuity!r}) and `access_speed_kph` ({speed_kph!r}) must be positive numbers."
        raise ValueError(msg)
    if circuity == 1.0 and speed_kph == ACCESS_SPEED_KPH:
        return _ACCESS_MPS  # exactly the same float as before for networks that state no rule
    return speed_kph / 3.6 / circuity


class OffNetwork(ValueError):
    """A point is farther from every road than the snap limit.

    Carries `distance_m` (how far the nearest road is; inf when none lies within the search
    radius), a `code` and `params` for a localized message (`layers.dispatch.off_network_message`):
    'off_network' (the nearest road is ``distance_m`` away, beyond ``limit_m``) or
    'no_road_near' (no road within ``search_m``); `params` hold ``point`` (lon, lat),
    ``limit_m``, ``search_m`` and ``network``.
    """

    def __init__(self, msg: str, distance_m: float, *, code: str = "off_network", **params: object):
        super().__init__(msg)
        self.distance_m = distance_m
        self.code = code
        self.params = params


class NoRoute(ValueError):
    """No road route exists between two points (an island, or closures cut the network).

    Carries a `code` and `params` for a localized message (see
    `layers.dispatch.route_message`); ``str(exc)`` is an English sentence for logs and the
    command line.  Codes:

    - 'no_route' (the default): no road joins the points; `params` then hold, where known,
      ``origin`` and ``destination`` (lon, lat; EPSG:4326) and ``network`` (its name);
    - 'in_closure': the point ``point`` (lon, lat) lies on a road that closures close
      (``which`` is 'origin', 'destination' or 'incident'); ``closure`` is the index of the
      closure polygon it lies in (None when unknown), ``road`` the position on the closed
      road (lon, lat) and ``open_road_m`` the distance (m) to the nearest open road (inf
      when none is within the search radius).
    """

    def __init__(self, message: str, *, code: str = "no_route", **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True, eq=False)
class Snap:
    """A point (EPSG:4326) placed on the network by the snapping rule (module docstring).

    `edge`, `fraction`, `snap_lon`/`snap_lat` and `distance_m` describe the nearest
    candidate; when the point is at a node, `node` is its index, `snap_lon`/`snap_lat` its
    position and `distance_m` the distance to it.  The ``cand_*`` tuples list every
    candidate edge (with its fraction, snapped position and distance, m).
    `access_mps` is the network's access rule (straight-line m/s, see `access_mps`).
    """

    lon: float
    lat: float
    edge: int
    fraction: float
    snap_lon: float
    snap_lat: float
    distance_m: float
    node: int = -1
    cand_edge: tuple = ()
    cand_fraction: tuple = ()
    cand_lon: tuple = ()
    cand_lat: tuple = ()
    cand_distance_m: tuple = ()
    access_mps: float = _ACCESS_MPS

    @property
    def access_time_s(self) -> float:
        """Time (s) of the leg between the point and the road (its nearest snapped position),
        by the network's access rule (straight line × circuity at the access speed)."""
        return self.distance_m / self.access_mps


class ClosedEdges(np.ndarray):
    """A boolean edge mask (see `blocked_edges`) that remembers its closure polygons
    (`polygons`, in the order given), so that `snap` can tell a point *inside* a closure
    from one whose road is closed somewhere else along it."""

    polygons: tuple = ()
    #: How many edges are closed, counted once by `blocked_edges`; None on any array derived
    #: from it and once it is changed (`any_closed` then counts).
    n_closed: int | None = None

    def __array_finalize__(self, obj) -> None:
        self.polygons = getattr(obj, "polygons", ())
        self.n_closed = None

    def __setitem__(self, key, value) -> None:
        self.n_closed = None
        super().__setitem__(key, value)

    def __ior__(self, other):
        self.n_closed = None
        return super().__ior__(other)

    def __iand__(self, other):
        self.n_closed = None
        return super().__iand__(other)

    def __ixor__(self, other):
        self.n_closed = None
        return super().__ixor__(other)


def any_closed(blocked: np.ndarray | None) -> bool:
    """Whether the mask `blocked` closes any edge (at 1 M nodes a scan costs 0.1 ms, and a route
    asked five times: `blocked_edges` counts once)."""
    if blocked is None:
        return False
    n = getattr(blocked, "n_closed", None)
    return bool(n) if n is not None else bool(np.any(blocked))


def blocked_edges(net: Network, closures) -> np.ndarray:
    """Boolean mask of edges whose geometry intersects any closure polygon (EPSG:4326).

    The mask is a `ClosedEdges` array: it also carries the polygons.
    """
    given = list(np.atleast_1d(np.asarray(closures, dtype=object))) if closures is not None else []
    mask = np.zeros(net.n_edges, dtype=bool).view(ClosedEdges)
    mask.polygons = tuple(given)
    polys = [g for g in given if g is not None and not shapely.is_empty(g)]
    if not polys:
        mask.n_closed = 0
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
    mask.n_closed = int(np.count_nonzero(mask))
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


def snap(net: Network, lon: float, lat: float, *, limit_m: float | None = None, blocked: np.ndarray | None = None, which: str = "point") -> Snap:
    """Place a lon/lat point (EPSG:4326) on `net` by the snapping rule (module docstring),
    using only edges not in `blocked`.

    A point inside a closure is refused, not moved to another road: its own road (every
    candidate edge, or every edge at its node, with closures ignored) is in `blocked`, and the
    point or its place on that road lies in one of the closure polygons `blocked` carries
    (`blocked_edges`; a plain mask carries none, so there a closed own road is enough).  A
    point whose road is closed only elsewhere along it (a long edge that crosses a closure
    far away) is placed on the nearest open road, as `snap_distance_m` then shows.  `which`
    ('origin', 'destination', 'incident' …) names the point in the message.

    Raises
    ------
    OffNetwork
        When the nearest edge is farther than `limit_m` (default: the network's
        ``snap_limit_m``, 1 km for road networks); the message and ``distance_m`` give how far.
    NoRoute
        Code 'in_closure' when the point's own road is closed; ``open_road_m`` is the
        distance (m) to the nearest open road (inf when none is within the search radius).
    """
    if not any_closed(blocked):
        return _snap(net, lon, lat, limit_m=limit_m, blocked=None)
    plain = _snap(net, lon, lat, limit_m=limit_m, blocked=None)
    if plain.node >= 0:
        a, b = net.fwd_indptr[plain.node], net.fwd_indptr[plain.node + 1]
        c, d = net.rev_indptr[plain.node], net.rev_indptr[plain.node + 1]
        own = np.concatenate([net.fwd_edge_all[net.fwd_pair_ptr[a] : net.fwd_pair_ptr[b]], net.rev_edge_all[net.rev_pair_ptr[c] : net.rev_pair_ptr[d]]])
    else:
        own = np.asarray(plain.cand_edge, dtype=np.int64)
    closure = -1
    if len(own) and np.asarray(blocked)[own].all():
        polygons = getattr(blocked, "polygons", None)
        if polygons is None:  # a plain mask: where the closure lies is unknown, so the road counts as closed here
            closure = -2
        else:  # the point, or its place on the road, lies in (1e-5° ≈ 1 m of) a closure; else its road is closed elsewhere along it
            spots = [shapely.Point(lon, lat), shapely.Point(plain.snap_lon, plain.snap_lat)]
            closure = next((i for i, g in enumerate(polygons) if g is not None and not shapely.is_empty(g) and any(shapely.dwithin(g, q, 1e-5) for q in spots)), -1)
    if closure == -1:
        return _snap(net, lon, lat, limit_m=limit_m, blocked=np.asarray(blocked))
    try:
        open_m = _snap(net, lon, lat, limit_m=math.inf, blocked=np.asarray(blocked)).distance_m
    except OffNetwork:
        open_m = math.inf
    msg = (
        f"the {which} ({lon:.6f}, {lat:.6f}) lies on a closed road of network {net.name!r}; "
        f"the nearest open road is {open_m:,.0f} m away. Move the point or change the closures."
    )
    raise NoRoute(
        msg, code="in_closure", which=which, point=(float(lon), float(lat)), road=(plain.snap_lon, plain.snap_lat), open_road_m=float(open_m),
        closure=closure if closure >= 0 else None, network=net.name,
    )  # fmt: skip


def _snap(net: Network, lon: float, lat: float, *, limit_m: float | None, blocked: np.ndarray | None) -> Snap:
    """`snap` without the closure check: the nearest open candidates, whatever is closed."""
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        msg = f"point ({lon}, {lat}) is not a lon/lat position in degrees."
        raise ValueError(msg)
    meta = net.meta
    limit = float(meta["snap_limit_m"] if limit_m is None else limit_m)
    lon0, lat0 = float(meta["lon0"]), float(meta["lat0"])
    ky = math.pi / 180 * EARTH_RADIUS_M
    kx = ky * math.cos(math.radians(lat0))
    px, py = (lon - lon0) * kx, (lat - lat0) * ky
    ox, oy, nx_, ny_ = net.grid_origin
    cap = max(limit, 5_000.0) * 10  # search this far to say how far off the network a point is
    node, c_edge, c_frac, c_lon, c_lat, c_dist = _kernels.snap_candidates(
        float(lon), float(lat), px, py, lon0, lat0, kx, ky, float(ox), float(oy), int(nx_), int(ny_), float(meta["grid_cell_m"]),
        net.cell_indptr, net.cell_seg, net.seg_x1, net.seg_y1, net.seg_x2, net.seg_y2, net.seg_edge,
        net.geom_offsets, net.geom_lon, net.geom_lat, net.edge_u, net.edge_v,
        _NO_BLOCKED if blocked is None else np.asarray(blocked), cap, SNAP_TIE_M, NODE_SNAP_M,
    )  # fmt: skip
    if len(c_edge) == 0:
        msg = f"point ({lon:.6f}, {lat:.6f}) is more than {cap / 1000:.0f} km from every road of network {net.name!r}."
        raise OffNetwork(msg, math.inf, code="no_road_near", point=(float(lon), float(lat)), limit_m=limit, search_m=cap, network=net.name)
    i = int(np.argmin(c_dist))
    node = int(node)
    if node >= 0:
        snap_lon, snap_lat = float(net.node_lon[node]), float(net.node_lat[node])
        distance = float(haversine_m(lon, lat, snap_lon, snap_lat))
    else:
        snap_lon, snap_lat, distance = float(c_lon[i]), float(c_lat[i]), float(c_dist[i])
    if distance > limit:
        msg = (
            f"point ({lon:.6f}, {lat:.6f}) is off the network: the nearest road of {net.name!r} is "
            f"{distance:,.0f} m away (limit {limit:,.0f} m)."
        )
        raise OffNetwork(msg, distance, point=(float(lon), float(lat)), limit_m=limit, search_m=cap, network=net.name)
    return Snap(
        float(lon), float(lat), int(c_edge[i]), float(c_frac[i]), snap_lon, snap_lat, distance, node,
        tuple(c_edge.tolist()), tuple(c_frac.tolist()), tuple(c_lon.tolist()), tuple(c_lat.tolist()), tuple(c_dist.tolist()),
        access_mps(meta, edge_class=meta["classes"][int(net.edge_class[int(c_edge[i])])] if "access_by_class" in meta else None),
    )  # fmt: skip


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
    """A way on or off the network from a snapped point: through `node`, costing `time_s`/`length_m`.

    `edge` is the candidate edge driven part-way (from `from_fraction` to `to_fraction`, in
    its direction), or -1 when the point is at `node` itself.  `time_s` is the partial edge's
    time plus `extra_s`: how much longer this candidate's access leg (`access_m`, to
    `snap_lon`/`snap_lat`) is than the point's nearest one (`Snap.access_time_s`), so that
    ``time_s + snap.access_time_s`` is the whole cost of this way.
    """

    node: int
    time_s: float
    length_m: float
    edge: int
    from_fraction: float
    to_fraction: float
    snap_lon: float = math.nan
    snap_lat: float = math.nan
    access_m: float = 0.0
    extra_s: float = 0.0


def _at_node(s: Snap) -> list[Access]:
    return [Access(s.node, 0.0, 0.0, -1, 0.0, 0.0, s.snap_lon, s.snap_lat, s.distance_m, 0.0)]


def _along(net: Network, s: Snap, weights: np.ndarray, *, leave: bool) -> list[Access]:
    """The candidate edges of `s` as accesses: forwards to each edge's head (`leave`), or from each edge's tail."""
    if s.node >= 0:
        return _at_node(s)
    out = []
    end = net.edge_v if leave else net.edge_u
    for e, f, x, y, d in zip(s.cand_edge, s.cand_fraction, s.cand_lon, s.cand_lat, s.cand_distance_m, strict=True):
        w = float(weights[e])
        if math.isfinite(w):
            extra = (d - s.distance_m) / s.access_mps
            share, f_from, f_to = (1 - f, f, 1.0) if leave else (f, 0.0, f)
            out.append(Access(int(end[e]), share * w + extra, share * float(net.edge_length_m[e]), e, f_from, f_to, x, y, d, extra))
    return out


def exits(net: Network, s: Snap, weights: np.ndarray) -> list[Access]:
    """Ways to leave snapped point `s` onto the network: from its node through every edge out
    of it, or forwards along each candidate edge to its head (module docstring)."""
    return _along(net, s, weights, leave=True)


def entries(net: Network, s: Snap, weights: np.ndarray) -> list[Access]:
    """Ways to reach snapped point `s` from the network: at its node through every edge into
    it, or along each candidate edge from its tail (module docstring)."""
    return _along(net, s, weights, leave=False)


def direct(outs: list[Access], ins: list[Access], weights: np.ndarray) -> tuple[float, Access | None, Access | None]:
    """The fastest way from exit candidates `outs` to entry candidates `ins` along one shared
    edge without a node in between (the second point further along it): (time s, exit, entry).

    Times count as `Access.time_s` do (beyond the two points' nearest access legs); inf
    and (None, None) when no pair shares an edge in driving order.
    """
    best, pair = math.inf, (None, None)
    for a in outs:
        if a.edge < 0:
            continue
        for b in ins:
            if b.edge == a.edge and a.from_fraction <= b.to_fraction:
                t = (b.to_fraction - a.from_fraction) * float(weights[a.edge]) + a.extra_s + b.extra_s
                if t < best:
                    best, pair = t, (a, b)
    return best, *pair


def edge_weights(net: Network, blocked: np.ndarray | None = None) -> np.ndarray:
    """Edge travel times (s) with `blocked` edges set to infinity (a new array; the network's
    own when nothing is blocked).  Routes and nearest resources do not build it: they read
    closures edge by edge (`closed_times`, and the search kernels take the mask itself)."""
    if not any_closed(blocked):
        return net.edge_time_s
    w = np.array(net.edge_time_s, dtype=float)
    w[blocked] = np.inf
    return w


class ClosedTimes:
    """Edge travel times (s) with closed edges at infinity, read per edge without copying the
    network's array: ``times[e]`` (a float) or ``times[edges]`` (an array), like the array
    `edge_weights` returns."""

    __slots__ = ("blocked", "time_s")

    def __init__(self, time_s: np.ndarray, blocked: np.ndarray):
        self.time_s = time_s
        self.blocked = np.asarray(blocked, dtype=bool)

    def __len__(self) -> int:
        return len(self.time_s)

    def __getitem__(self, index):
        t = self.time_s[index]
        if np.ndim(t) == 0:
            return math.inf if self.blocked[index] else float(t)
        return np.where(self.blocked[index], np.inf, t)


def closed_times(net: Network, blocked: np.ndarray | None = None) -> np.ndarray | ClosedTimes:
    """The network's edge times (s) under closures `blocked`: its own array when nothing is
    closed, else a `ClosedTimes` view (no per-query copy of every edge)."""
    if not any_closed(blocked):
        return net.edge_time_s
    return ClosedTimes(net.edge_time_s, blocked)


def _mask(blocked: np.ndarray | None) -> np.ndarray:
    """`blocked` as a plain boolean array for the kernels (empty when nothing is closed)."""
    if not any_closed(blocked):
        return _NO_BLOCKED
    return np.ascontiguousarray(np.asarray(blocked), dtype=np.bool_)


def _graph(net: Network, *, reverse: bool) -> tuple[np.ndarray, ...]:
    """(indptr, indices, weights, pair edge, pair ptr, edges) of the forward or reverse CSR for
    the search kernels: weights are each node pair's fastest time; the rest lets a kernel find
    the fastest open edge of a pair whose fastest one is closed (`geo._kernels._pair_weight`)."""
    key = "kernel_rev" if reverse else "kernel_fwd"
    got = net._matrices.get(key)
    if got is None:
        p = "rev" if reverse else "fwd"
        pair_edge = net.arrays[f"{p}_edge"]
        w = np.ascontiguousarray(np.asarray(net.edge_time_s)[pair_edge], dtype=np.float64)
        got = (net.arrays[f"{p}_indptr"], net.arrays[f"{p}_indices"], w, pair_edge, net.arrays[f"{p}_pair_ptr"], net.arrays[f"{p}_edge_all"])
        net._matrices[key] = got
    return got


@contextmanager
def workspace(net: Network, *, core: bool = False):
    """Per-node arrays for one query on `net` (`geo._kernels.new_workspace`), or with `core`
    on its hierarchy's core (numbered within it), taken from a pool and given back
    afterwards, so that concurrent sessions never share one."""
    n = hierarchy(net).n_core if core else net.n_nodes
    with _POOL_LOCK:
        pool = net._matrices.setdefault("core_workspaces" if core else "workspaces", [])
        ws = pool.pop() if pool else None
    if ws is None or len(ws[0]) != n:  # (a core workspace of an earlier hierarchy is dropped)
        ws = _kernels.new_workspace(n)
    try:
        yield ws
    finally:
        with _POOL_LOCK:
            pool.append(ws)


@dataclass(frozen=True)
class Landmarks:
    """ALT landmark tables of a network: `nodes` (k,), ``from_s[v, i]`` = time (s) from
    landmark i to node v and ``to_s[v, i]`` = from v to landmark i (float32, inf where no
    road joins them), on weights rounded down to `LANDMARK_QUANTUM_S` (lower bounds)."""

    nodes: np.ndarray
    from_s: np.ndarray
    to_s: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.nodes.nbytes + self.from_s.nbytes + self.to_s.nbytes)


def build_landmarks(net: Network, *, n: int = N_LANDMARKS) -> Landmarks:
    """Choose `n` landmarks by the farthest heuristic and compute their tables (see `Landmarks`).

    The first is the node of the largest strongly connected part farthest (there and back)
    from a node in its middle; each next one the node of that part whose nearest landmark is
    farthest (there and back).  Two Dijkstra runs per landmark, on weights rounded down to
    `LANDMARK_QUANTUM_S` (whole multiples, so the sums are exact).
    """
    from scipy.sparse.csgraph import connected_components

    if not (isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1):
        msg = f"`n` was {n!r}; expected a whole number of landmarks, at least 1."
        raise ValueError(msg)
    q = LANDMARK_QUANTUM_S
    fi, fx, fw = _graph(net, reverse=False)[:3]
    ri, rx, rw = _graph(net, reverse=True)[:3]
    fq, rq = np.floor(fw / q), np.floor(rw / q)  # whole quanta: exact sums
    _, label = connected_components(net.csr(), directed=True, connection="strong")
    main = label == np.bincount(label).argmax()
    members = np.flatnonzero(main)
    n = min(int(n), len(members))
    start = int(members[len(members) // 2])
    one, zero = np.zeros(1, dtype=np.int64), np.zeros(1)

    def times(indptr, indices, w, node):  # plain Dijkstra from one node (inf where unreached)
        one[0] = node
        return _kernels.multi_source(indptr, indices, w, one, zero, np.inf)[0]

    score = times(fi, fx, fq, start) + times(ri, rx, rq, start)
    nodes = np.empty(n, dtype=np.int64)
    from_s = np.empty((net.n_nodes, n), dtype=np.float32)
    to_s = np.empty((net.n_nodes, n), dtype=np.float32)
    nearest_q = np.full(net.n_nodes, np.inf)
    for i in range(n):
        pick = np.where(main & np.isfinite(score), score, -np.inf)
        pick[nodes[:i]] = -np.inf
        node = int(np.argmax(pick))
        nodes[i] = node
        f, t = times(fi, fx, fq, node), times(ri, rx, rq, node)
        from_s[:, i] = np.where(np.isfinite(f), np.minimum(f * q, LANDMARK_CAP_S), np.inf)  # exact: whole quanta below 2**24 of them
        to_s[:, i] = np.where(np.isfinite(t), np.minimum(t * q, LANDMARK_CAP_S), np.inf)
        nearest_q = np.minimum(nearest_q, f + t)
        score = nearest_q
    return Landmarks(nodes, from_s, to_s)


def landmarks(net: Network) -> Landmarks:
    """The network's landmark tables: saved with it, else built once (`build_landmarks`) and
    kept with it (`geo.network.derived`; memory-mapped on the next load of its folder)."""

    def load(a: dict) -> Landmarks | None:
        if all(k in a for k in _ALT_ARRAYS) and a["alt_from_s"].shape[0] == net.n_nodes and a["alt_to_s"].shape == a["alt_from_s"].shape:
            return Landmarks(a["alt_landmarks"], a["alt_from_s"], a["alt_to_s"])
        return None

    return derived(net, "alt", load=load, build=build_landmarks, what="landmark tables",
                   to_arrays=lambda lm: {"alt_landmarks": lm.nodes, "alt_from_s": lm.from_s, "alt_to_s": lm.to_s})  # fmt: skip


def prepare_searches(net: Network) -> None:
    """Build what the one-to-one search reads and keep it with `net` (a later
    `geo.network.save` writes it): its landmark tables and its contraction hierarchy."""
    landmarks(net)
    hierarchy(net)


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
    """The fastest edge for each node pair a[i] → b[i] under `weights` (compiled over the CSR
    arrays for the network's own times and for `ClosedTimes`; -1 where there is none)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if weights is net.edge_time_s or isinstance(weights, ClosedTimes):
        mask = _NO_BLOCKED if weights is net.edge_time_s else _mask(weights.blocked)
        indptr, indices, _, pair_edge, pair_ptr, edge_all = _graph(net, reverse=False)
        return _kernels.pair_edges(indptr, indices, pair_edge, pair_ptr, edge_all, net.edge_time_s, mask, a, b)
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
    seg_time = share * np.asarray(weights[edges], dtype=float)[seg_owner]
    keep = np.ones(len(idx), dtype=bool)
    keep[np.cumsum(counts)[:-1]] = False  # first vertex of every later edge = last of the one before
    return np.column_stack([lon[keep], lat[keep]]), seg_time


def assemble(net: Network, origin: Snap, destination: Snap, exit_: Access, nodes: list[int] | None, entry: Access, weights: np.ndarray) -> Route:
    """Geometry, time and length of origin → exit → nodes → entry → destination.

    `nodes` None: the two points share the exit's edge and the route drives along it from
    the exit's fraction to the entry's (see `direct`).  An `Access` at a node (edge -1)
    drives no partial edge.
    """
    o_access_s, d_access_s = exit_.access_m / origin.access_mps, entry.access_m / destination.access_mps
    pieces: list[tuple[np.ndarray, float | np.ndarray]] = [(np.array([[origin.lon, origin.lat], [exit_.snap_lon, exit_.snap_lat]]), o_access_s)]
    length = exit_.access_m + entry.access_m
    if nodes is None:  # origin and destination on the same edge, in driving order
        e = exit_.edge
        f0, f1 = exit_.from_fraction, entry.to_fraction
        pieces.append((_partial(net, e, f0, f1), (f1 - f0) * weights[e]))
        length += (f1 - f0) * net.edge_length_m[e]
        edges = [e]
    else:
        if exit_.edge >= 0:
            pieces.append((_partial(net, exit_.edge, exit_.from_fraction, exit_.to_fraction), exit_.time_s - exit_.extra_s))
        mid = edges_between(net, nodes[:-1], nodes[1:], weights=weights) if len(nodes) > 1 else np.zeros(0, dtype=np.int64)
        if len(mid):
            pieces.append(_chain(net, mid, weights))
        if entry.edge >= 0:
            pieces.append((_partial(net, entry.edge, entry.from_fraction, entry.to_fraction), entry.time_s - entry.extra_s))
        length += exit_.length_m + float(np.asarray(net.edge_length_m)[mid].sum()) + entry.length_m
        edges = [e for e in (exit_.edge, *mid.tolist(), entry.edge) if e >= 0]
    pieces.append((np.array([[entry.snap_lon, entry.snap_lat], [destination.lon, destination.lat]]), d_access_s))
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


#: Search methods of `route`: the contraction hierarchy (the default), bidirectional ALT and
#: plain Dijkstra (the reference).
ROUTE_METHODS = ("ch", "alt", "dijkstra")


def route(
    net: Network, origin: tuple[float, float], destination: tuple[float, float], *,
    blocked: np.ndarray | None = None, snap_limit_m: float | None = None, method: str = "ch",
) -> Route:  # fmt: skip
    """The fastest route from `origin` to `destination` (lon, lat; EPSG:4326).

    Both points are placed by the snapping rule (module docstring); the search starts from
    every exit of the origin and ends at every entry of the destination, each with its
    partial cost.  `method` 'ch' (default) searches the contraction hierarchy
    (`geo.hierarchy`) and, when its way uses a closed road, the closed network by the landmark
    search; 'alt' is the landmark search alone (module docstring), 'dijkstra' plain Dijkstra
    from the destination until the origin is settled (the reference).  All three give the
    same time; the first query on a network without its hierarchy or landmark tables builds
    them.  Closed edges (`blocked`) count as impassable.

    Raises
    ------
    ValueError
        If `method` is not one of `ROUTE_METHODS`.
    OffNetwork
        If either point is beyond the snap limit.
    NoRoute
        If no road route exists (the network is cut, e.g. by closures), or (code
        'in_closure') if either point's own road is closed.
    """
    if method not in ROUTE_METHODS:
        msg = f"`method` was {method!r}; expected one of {ROUTE_METHODS}."
        raise ValueError(msg)
    w = closed_times(net, blocked)
    o = snap(net, *origin, limit_m=snap_limit_m, blocked=blocked, which="origin")
    d = snap(net, *destination, limit_m=snap_limit_m, blocked=blocked, which="destination")
    ins, outs = entries(net, d, w), exits(net, o, w)
    t_direct, d_exit, d_entry = direct(outs, ins, w)
    best, nodes = math.inf, None
    if ins and outs:
        search_ = {"ch": _ch_search, "alt": _alt_search, "dijkstra": _dijkstra_search}[method]
        best, nodes = search_(net, outs, ins, _mask(blocked))
    if not math.isfinite(min(best, t_direct)):
        msg = f"no road route from ({origin[0]:.6f}, {origin[1]:.6f}) to ({destination[0]:.6f}, {destination[1]:.6f}) on network {net.name!r}."
        raise NoRoute(msg, origin=tuple(origin), destination=tuple(destination), network=net.name)
    if t_direct <= best:
        return assemble(net, o, d, d_exit, None, d_entry, w)
    ex = min((a for a in outs if a.node == int(nodes[0])), key=lambda a: a.time_s)
    en = min((a for a in ins if a.node == int(nodes[-1])), key=lambda a: a.time_s)
    return assemble(net, o, d, ex, nodes.tolist(), en, w)


def _ends(ways: list[Access]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([a.node for a in ways], dtype=np.int64), np.array([a.time_s for a in ways], dtype=np.float64)


def _alt_search(net: Network, outs: list[Access], ins: list[Access], mask: np.ndarray) -> tuple[float, np.ndarray | None]:
    """Best time (s) from exits `outs` to entries `ins` (their costs included) and the nodes
    of the way, by `geo._kernels.alt_route`; (inf, None) when none exists."""
    src, src_s = _ends(outs)
    tgt, tgt_s = _ends(ins)
    lm = landmarks(net)
    with workspace(net) as ws:
        best, meet = _alt(lm.from_s, lm.to_s, _graph(net, reverse=False), _graph(net, reverse=True), net.edge_time_s, mask, src, src_s, tgt, tgt_s, ws)
        if not math.isfinite(best):
            return math.inf, None
        return float(best), _meeting_path(ws, meet)


def _alt(lm_from: np.ndarray, lm_to: np.ndarray, fwd: tuple, rev: tuple, edge_time: np.ndarray, mask: np.ndarray, src, src_s, tgt, tgt_s, ws) -> tuple[float, int]:
    """`geo._kernels.alt_route` on graph `fwd`/`rev` (the network's, or its hierarchy's core
    with the core's rows of the landmark tables) between `src` and `tgt` with their costs;
    (best, meeting node)."""
    cols, c_sf, c_st, c_tf, c_tt = _kernels.alt_constants(lm_from, lm_to, src, src_s, tgt, tgt_s, LANDMARK_QUANTUM_S, ACTIVE_LANDMARKS)
    dist_f, dist_b, pred_f, pred_b, pot, flag, touched = ws
    best, meet, _ = _kernels.alt_route(
        *fwd, *rev, edge_time, mask, lm_from, lm_to, cols, c_sf, c_st, c_tf, c_tt, _POTENTIAL_CAP_S,
        src, src_s, tgt, tgt_s, dist_f, dist_b, pred_f, pred_b, pot, flag, touched,
    )  # fmt: skip
    return best, int(meet)


def _core_landmarks(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """The landmark tables' rows of the hierarchy's core nodes (contiguous: the core search
    reads them for every node it touches)."""
    h = hierarchy(net)
    got = net._matrices.get("core_lm")
    if got is None or got[0] is not h:
        lm = landmarks(net)
        got = (h, np.ascontiguousarray(lm.from_s[h.core_nodes]), np.ascontiguousarray(lm.to_s[h.core_nodes]))
        net._matrices["core_lm"] = got
    return got[1], got[2]


def _meeting_path(ws, meet: int) -> np.ndarray:
    """Nodes from the forward tree's root to `meet` and on to the reverse tree's root."""
    to_origin = _kernels.path_to_root(ws[2], meet)
    to_destination = _kernels.path_to_root(ws[3], meet)
    return np.concatenate([to_origin[::-1], to_destination[1:]])


def _ch_search(net: Network, outs: list[Access], ins: list[Access], mask: np.ndarray) -> tuple[float, np.ndarray | None]:
    """As `_alt_search`, on the contraction hierarchy (`geo.hierarchy`): upward searches from
    both ends up to the core, the landmark search inside the core between the core nodes they
    reached (with their times), the better of that and the best meeting below the core, its
    shortcuts unpacked.  With closures (`mask`), a way that uses no closed road is the answer
    (closures only make ways slower); otherwise the closed network is searched by
    `_alt_search`."""
    h = hierarchy(net)
    src, src_s = _ends(outs)
    tgt, tgt_s = _ends(ins)
    with workspace(net) as ws:
        dist_f, dist_b, pred_f, pred_b, _, flag, touched = ws
        best, meet, _, cf_n, cf_d, cb_n, cb_d = _ch.query(
            h.uf_ptr, h.uf_to, h.uf_w, h.ub_ptr, h.ub_from, h.ub_w, h.is_core,
            src, src_s, tgt, tgt_s, dist_f, dist_b, pred_f, pred_b, flag, touched,
        )  # fmt: skip
        path = _meeting_path(ws, meet) if math.isfinite(best) else None
        if len(cf_n) and len(cb_n):
            local = h.core_index
            with workspace(net, core=True) as core_ws:
                core_best, core_meet = _alt(
                    *_core_landmarks(net), h.core_graph(reverse=False), h.core_graph(reverse=True), net.edge_time_s, _NO_BLOCKED,
                    local[cf_n], cf_d, local[cb_n], cb_d, core_ws,
                )  # fmt: skip
                if core_best < best:
                    core = h.core_nodes[_meeting_path(core_ws, core_meet)]
                    up = _kernels.path_to_root(pred_f, int(core[0]))[::-1]
                    down = _kernels.path_to_root(pred_b, int(core[-1]))
                    best, path = core_best, np.concatenate([up[:-1], core, down[1:]])
    if path is None or not math.isfinite(best):
        return (math.inf, None) if len(mask) == 0 else _alt_search(net, outs, ins, mask)
    nodes = _ch.unpack(path.astype(np.int64), h.rank, h.uf_ptr, h.uf_to, h.uf_mid, h.ub_ptr, h.ub_from, h.ub_mid, h.core_index, h.cf_ptr, h.cf_to, h.cf_mid)
    if len(nodes) and nodes[-1] == -1:
        msg = f"network {net.name!r}: its hierarchy lacks an arc of the way it found; rebuild it (geo.hierarchy.build_hierarchy)."
        raise RuntimeError(msg)
    if len(mask) and _ch.path_blocked(nodes, *_graph(net, reverse=False)[:2], _graph(net, reverse=False)[3], mask):
        return _alt_search(net, outs, ins, mask)
    return float(best), nodes


def _dijkstra_search(net: Network, outs: list[Access], ins: list[Access], mask: np.ndarray) -> tuple[float, np.ndarray | None]:
    """As `_alt_search`, by plain Dijkstra from the entries on the reverse graph until the
    origin is settled (`geo._kernels.k_nearest` with one "resource": the origin)."""
    src, src_s = _ends(ins)
    out_nodes, out_s = _ends(outs)
    order = np.argsort(out_nodes, kind="stable")
    keys, first = np.unique(out_nodes[order], return_index=True)
    ptr = np.append(first, len(order)).astype(np.int64)
    with workspace(net) as ws:
        dist, _, pred, _, _, flag, touched = ws
        tot, via, _ = _kernels.k_nearest(
            *_graph(net, reverse=True), net.edge_time_s, mask, src, src_s,
            keys, ptr, np.zeros(len(outs), dtype=np.int64), out_s[order], 1, 1, dist, pred, flag, touched,
        )  # fmt: skip
        if not math.isfinite(tot[0]):
            return math.inf, None
        return float(tot[0]), _kernels.path_to_root(pred, int(via[0]))
