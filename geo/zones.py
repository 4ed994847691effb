"""Responsibility zones, service areas (isochrones) and cross-border mutual-aid zones.

Every network node is assigned to the facility that reaches it first, in one multi-source
Dijkstra (`geo._kernels.multi_source`) started from each facility's ways onto the network
(the snapping rule of `geo.routing`: every edge out of its node, or forwards along each
candidate edge, with the cost of the partial edge) — not one search per facility.  Polygons are unions of the nodes' Voronoi
cells clipped to the study area, so zones tile the area without overlaps, leave gaps only
where nothing is reachable, and an isochrone contains exactly the nodes within its break.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geo import _kernels
from geo.network import Network
from geo.coverage import EQUAL_AREA_CRS
from geo.routing import OffNetwork, Snap, edge_weights, exits, snap, snap_many

#: Default service-area breaks (minutes).
DEFAULT_BREAKS_MIN = (15, 30, 60)


@dataclass
class Assignment:
    """Per node: the first-arriving facility (index into the facilities, -1 if none) and its time (s)."""

    facility: np.ndarray
    time_s: np.ndarray
    snaps: list[Snap | None] = field(repr=False)


def _sources(net: Network, snaps: list[Snap | None], weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exit node, offset s, facility index) of every way from a facility onto the network."""
    rows = [(a.node, a.time_s + s.access_time_s, i) for i, s in enumerate(snaps) if s is not None for a in exits(net, s, weights)]
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64)
    arr = np.array(rows, dtype=float)
    return arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2].astype(np.int64)


def snap_facilities(net: Network, lon, lat, *, snap_limit_m: float | None = None) -> list[Snap | None]:
    """Snap facility positions (EPSG:4326); None for those off the network."""
    return snap_many(net, lon, lat, limit_m=snap_limit_m)[0]


def multi_source(net: Network, nodes: np.ndarray, offsets: np.ndarray, *, weights: np.ndarray | None = None, limit_s: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """One Dijkstra from many start nodes with start costs: (time per node, index of the start that wins)."""
    m = net.csr(weights=None if weights is None or weights is net.edge_time_s else weights)
    dist, _, label = _kernels.multi_source(m.indptr, m.indices, m.data, np.asarray(nodes, dtype=np.int64), np.asarray(offsets, dtype=float), float(limit_s))
    return dist, label


def assign(net: Network, snaps: list[Snap | None], *, blocked: np.ndarray | None = None, limit_s: float = np.inf) -> Assignment:
    """Assign every node to the facility (of `snaps`) that reaches it first, in one search."""
    w = edge_weights(net, blocked)
    nodes, offsets, owner = _sources(net, snaps, w)
    if len(nodes) == 0:
        return Assignment(np.full(net.n_nodes, -1), np.full(net.n_nodes, np.inf), snaps)
    time_s, start = multi_source(net, nodes, offsets, weights=w, limit_s=limit_s)
    facility = np.where(start >= 0, owner[np.maximum(start, 0)], -1)
    return Assignment(facility, time_s, snaps)


def times_from(net: Network, s: Snap, *, blocked: np.ndarray | None = None, limit_s: float = np.inf) -> np.ndarray:
    """Travel time (s) from one snapped facility to every node (the brute-force building block)."""
    w = edge_weights(net, blocked)
    nodes, offsets, _ = _sources(net, [s], w)
    if len(nodes) == 0:
        return np.full(net.n_nodes, np.inf)
    return multi_source(net, nodes, offsets, weights=w, limit_s=limit_s)[0]


# ---- polygons ---------------------------------------------------------------------------


@dataclass
class Cells:
    """Voronoi cell of every network node, clipped to the study area (EPSG:4326)."""

    cells: np.ndarray  # shapely polygons, one per node (empty where a node has no cell)


def node_cells(net: Network, area) -> Cells:
    """Voronoi cells of the nodes, clipped to `area` (a polygon, EPSG:4326).

    Built in the network's local metric projection, so cells are not skewed by degrees.  Each
    cell is a polygon (or empty): slivers of line or point left by the clipping are dropped.
    """
    proj = net.projection
    x, y = proj.forward(net.node_lon, net.node_lat)
    pts = shapely.points(x, y)
    # nodes at identical positions share one cell: jitter them apart by a millimetre
    _, inverse, counts = np.unique(np.round(np.column_stack([x, y]), 3), axis=0, return_inverse=True, return_counts=True)
    if (counts > 1).any():
        dup = counts[inverse.ravel()] > 1
        x = x + dup * np.arange(len(x)) * 1e-3
        pts = shapely.points(x, y)
    area_xy = shapely.transform(area, lambda c: np.column_stack(proj.forward(c[:, 0], c[:, 1])))
    env = shapely.envelope(shapely.union(shapely.envelope(shapely.multipoints(np.column_stack([x, y]))), shapely.envelope(area_xy))).buffer(1000)
    vor = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(np.column_stack([x, y])), extend_to=env, ordered=True))
    shapely.prepare(area_xy)
    clipped = _polygonal(shapely.intersection(vor, area_xy))
    back = shapely.transform(clipped, lambda c: np.column_stack(proj.inverse(c[:, 0], c[:, 1])))
    del pts
    return Cells(np.asarray(back, dtype=object))


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Only the areas of each geometry: a cell clipped where it touches the area's edge may come
    back as a polygon plus a line or point (a GeometryCollection), which unions and overlays refuse."""
    out = np.asarray(geoms, dtype=object).copy()
    mixed = np.flatnonzero(shapely.get_type_id(out) == 7)  # GeometryCollection
    for i in mixed:
        parts = [p for p in shapely.get_parts(out[i]) if shapely.get_type_id(p) in (3, 6)]
        out[i] = shapely.union_all(parts) if parts else shapely.Polygon()
    return out


def dissolve_cells(cells: Cells, mask: np.ndarray):
    """The union (EPSG:4326) of the cells of the nodes in `mask` (an empty polygon when none)."""
    return _dissolve(cells.cells, np.asarray(mask, dtype=bool))


def _dissolve(cells: np.ndarray, mask: np.ndarray):
    parts = cells[mask]
    parts = parts[~shapely.is_empty(parts)]
    if len(parts) == 0:
        return shapely.Polygon()
    return shapely.make_valid(shapely.coverage_union_all(parts)) if len(parts) > 1 else parts[0]


#: Why a facility has no zone of its own in the chosen area (column ``status`` of `zone_polygons`).
ZONE_STATUSES = ("ok", "off_network", "outranked", "outside")


def zone_polygons(assignment: Assignment, cells: Cells, facilities: pd.DataFrame, net: Network | None = None) -> gpd.GeoDataFrame:
    """One polygon per facility: the cells of the nodes it reaches first (EPSG:4326).

    `facilities` rows align with the facility indices of `assignment` and their columns
    (id, name, owner, county …) are carried over.  Added columns:

    - ``nodes``: network nodes the facility reaches first (anywhere), ``nodes_in_area``: of
      those, the ones whose cell lies (partly) in the study area;
    - ``area_km2``: area of the zone inside the study area (km², equal-area projection);
    - ``status``: ``"ok"``; ``"off_network"`` (farther from every road than the snap limit:
      it reaches nothing, ``snap_distance_m`` says how far); ``"outranked"`` (on the network,
      but another facility reaches every node first — e.g. two teams at the same landing
      place, or a team on the water whose way onto the road is longer — ``first_other`` is
      the index of the facility that takes its network entry); ``"outside"`` (its zone lies
      outside the study area).  Only ``"ok"`` rows have an area above 0.
    """
    n = len(facilities)
    geoms = [_dissolve(cells.cells, assignment.facility == i) for i in range(n)]
    out = gpd.GeoDataFrame(facilities.reset_index(drop=True).drop(columns="geometry", errors="ignore"), geometry=geoms, crs=4326)
    mine = assignment.facility >= 0
    out["nodes"] = np.bincount(assignment.facility[mine], minlength=n)
    in_area = mine & ~shapely.is_empty(cells.cells)
    out["nodes_in_area"] = np.bincount(assignment.facility[in_area], minlength=n)
    area = gpd.GeoSeries(geoms, crs=4326).to_crs(EQUAL_AREA_CRS).area.to_numpy() / 1e6
    out["area_km2"] = np.where(shapely.is_empty(np.asarray(geoms, dtype=object)), 0.0, area)
    status = np.full(n, "ok", dtype=object)
    other = np.full(n, -1, dtype=np.int64)
    distance = np.zeros(n)
    lon = facilities.geometry.x.to_numpy() if "geometry" in facilities else None
    for i, s in enumerate(assignment.snaps):
        if s is None:
            status[i] = "off_network"
            distance[i] = _off_distance_m(net, lon[i], facilities.geometry.y.iloc[i]) if net is not None and lon is not None else np.inf
        elif out.at[i, "nodes"] == 0:
            status[i] = "outranked"
            if net is not None:
                ways = sorted(exits(net, s, edge_weights(net, None)), key=lambda a: a.time_s)  # its nearest entry first
                owners = [int(assignment.facility[a.node]) for a in ways if assignment.facility[a.node] >= 0]
                other[i] = owners[0] if owners else -1
        elif out.at[i, "area_km2"] <= 0:
            status[i] = "outside"
    out["status"] = status
    out["first_other"] = other
    out["snap_distance_m"] = distance
    return out


def _off_distance_m(net: Network, lon: float, lat: float) -> float:
    """How far (m) a point is from the nearest road of `net` (inf when beyond the search radius)."""
    try:
        return float(snap(net, float(lon), float(lat), limit_m=np.inf).distance_m)
    except OffNetwork as exc:
        return float(exc.distance_m)


def isochrones(time_s: np.ndarray, cells: Cells, *, breaks_min=DEFAULT_BREAKS_MIN) -> gpd.GeoDataFrame:
    """Service areas: for each break, the union of the cells of the nodes reached within it."""
    rows = [{"break_min": b, "nodes": int((time_s <= b * 60).sum()), "geometry": _dissolve(cells.cells, time_s <= b * 60)} for b in sorted(breaks_min)]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


# ---- cross-border mutual aid ------------------------------------------------------------


def mutual_aid(
    net: Network, assignment: Assignment, facilities: pd.DataFrame, counties: gpd.GeoDataFrame, *, within: set[str] | None = None, weights: np.ndarray | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Nodes where the first-arriving facility belongs to another county than the node.

    Only nodes in the counties `within` count (all counties when None).  Returns a table
    per (node county, facility county) pair — nodes, and minutes saved against the fastest
    facility of the node's own county (inf where it has none) — and the mask of such nodes.
    """
    node_county = locate_nodes(net, counties)
    fac_county = facilities["county_code"].to_numpy()
    first = assignment.facility
    has = first >= 0
    foreign = has & (node_county != "") & (np.where(has, fac_county[np.maximum(first, 0)], "") != node_county)
    if within is not None:
        foreign &= np.isin(node_county, list(within))
    own_time = np.full(net.n_nodes, np.inf)
    w = edge_weights(net, None) if weights is None else weights
    for code in np.unique(node_county[foreign]):
        mine = [s if c == code else None for s, c in zip(assignment.snaps, fac_county, strict=True)]
        nodes, offsets, _ = _sources(net, mine, w)
        if len(nodes):
            t, _ = multi_source(net, nodes, offsets, weights=w)
            sel = foreign & (node_county == code)
            own_time[sel] = t[sel]
    with np.errstate(invalid="ignore"):  # inf - inf where a node is reached by nobody
        saved = np.where(foreign, (own_time - assignment.time_s) / 60, np.nan)
    names = dict(zip(counties["code"], counties["name"], strict=True))
    df = pd.DataFrame({"county": node_county[foreign], "by_county": fac_county[first[foreign]], "saved_min": saved[foreign]})
    if df.empty:
        table = pd.DataFrame(columns=["county", "county_name", "by_county", "by_county_name", "nodes", "median_saved_min", "no_own_facility"])
    else:
        table = (
            df.groupby(["county", "by_county"])
            .agg(nodes=("saved_min", "size"), median_saved_min=("saved_min", lambda s: float(np.median(s[np.isfinite(s)])) if np.isfinite(s).any() else np.inf), no_own_facility=("saved_min", lambda s: int(np.isinf(s).sum())))
            .reset_index()
        )
        table.insert(1, "county_name", table["county"].map(names))
        table.insert(3, "by_county_name", table["by_county"].map(names))
    return table.sort_values("nodes", ascending=False, ignore_index=True), foreign


def locate_nodes(net: Network, polygons: gpd.GeoDataFrame, *, code: str = "code") -> np.ndarray:
    """Code of the polygon containing each node ('' outside all)."""
    pts = shapely.points(np.asarray(net.node_lon), np.asarray(net.node_lat))
    tree = shapely.STRtree(polygons.geometry.values)
    pi, gi = tree.query(pts, predicate="within")
    out = np.full(net.n_nodes, "", dtype=object)
    out[pi] = polygons[code].to_numpy()[gi]
    return out


def aid_polygons(net: Network, assignment: Assignment, cells: Cells, foreign: np.ndarray, facilities: pd.DataFrame, counties: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Polygons of the mutual-aid zones: per (county, facility county) pair, the cells of its nodes."""
    node_county = locate_nodes(net, counties)
    fac_county = facilities["county_code"].to_numpy()
    names = dict(zip(counties["code"], counties["name"], strict=True))
    rows = []
    if foreign.any():
        by = np.where(foreign, fac_county[np.maximum(assignment.facility, 0)], "")
        for county, by_county in sorted({(a, b) for a, b in zip(node_county[foreign], by[foreign], strict=True)}):
            mask = foreign & (node_county == county) & (by == by_county)
            rows.append({"county": county, "county_name": names.get(county, county), "by_county": by_county, "by_county_name": names.get(by_county, by_county), "geometry": _dissolve(cells.cells, mask)})
    return gpd.GeoDataFrame(rows, columns=["county", "county_name", "by_county", "by_county_name", "geometry"], geometry="geometry", crs=4326)


def parse_breaks(text: str) -> tuple[int, ...]:
    """'15,30,60' → (15, 30, 60); ValueError with the reason otherwise."""
    parts = [p.strip() for p in str(text).replace("，", ",").split(",") if p.strip()]
    try:
        values = tuple(sorted({int(float(p)) for p in parts}))
    except ValueError:
        msg = f"breaks {text!r} are not numbers of minutes"
        raise ValueError(msg) from None
    if not values or values[0] <= 0 or values[-1] > 24 * 60:
        msg = f"breaks {text!r} must be minutes between 1 and 1440"
        raise ValueError(msg)
    return values
