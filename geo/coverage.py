"""Coverage indicators on honest demand: share of territory, network nodes or people reached within a time.

The Chongming plan's indicator is "1-hour emergency-transport coverage 100 %" with at least
one professional team per township: it measures the *territory* reachable within one hour.
Demand is therefore, by default, territory: a regular grid of cells over the study area,
each cell weighted by its area (km²).  Two other demands are offered: the road network's
nodes (one each) and people, from places whose population can be counted without double
counting (`place_population`).  Thresholds and team kinds are parameters.

Every indicator keeps apart what is reached in time (``covered``), what is reached but
later than the threshold (``beyond``) and what no road reaches at all (``no_road``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.network import Network
from geo.routing import Snap, edge_weights, entries, snap_many

#: The plan's indicator: within 60 minutes.
DEFAULT_THRESHOLD_S = 3600.0
#: Demand kinds, the default first: territory grid, network nodes, people of places.
DEMAND_KINDS = ("territory", "nodes", "population")
#: Unit of the weight of each demand kind.
DEMAND_UNITS = {"territory": "km2", "nodes": "nodes", "population": "people"}
#: Equal-area projection for China (Albers, standard parallels 25° and 47° N): grid cells and areas.
EQUAL_AREA_CRS = "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
#: The default territory grid has about this many cells over the study area.
TARGET_CELLS = 2000
#: Largest territory grid `territory_grid` makes.
MAX_CELLS = 50_000
#: Grid spacings (m) the default resolution is rounded up to.
GRID_STEPS_M = (250, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 7500, 10_000, 12_500, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000)
#: A place whose population over its county's area exceeds this (people/km²) stands for more than its
#: county (GeoNames gives e.g. 上海 24.9 million at a point in 黄浦区, 20 km²): it nests other places.
MAX_PLACE_DENSITY_PER_KM2 = 50_000.0


@dataclass(frozen=True)
class Demand:
    """Demand points with their weights, and what they stand for.

    Attributes
    ----------
    kind : str
        ``"territory"``, ``"nodes"`` or ``"population"``.
    points : geopandas.GeoDataFrame
        Columns ``id``, ``name``, ``county_code``, ``weight`` (in `unit`), point ``geometry``
        (EPSG:4326).  Territory: one point per grid cell (its centre, or a point inside the
        part of the cell within the area), weighted by the cell's area inside the study area.
    unit : str
        ``"km2"``, ``"nodes"`` or ``"people"``.
    spacing_m : float or None
        Territory: the grid spacing (m); others: None.
    unknown : int
        Population: places of the area without a population figure (not counted, never as 1).
    nested : int
        Population: places left out because another place already counts their people.
    """

    kind: str
    points: gpd.GeoDataFrame
    unit: str
    spacing_m: float | None = None
    unknown: int = 0
    nested: int = 0

    @property
    def weight(self) -> np.ndarray:
        return self.points["weight"].to_numpy(dtype=float)

    @property
    def total(self) -> float:
        return float(self.points["weight"].sum())

    def __len__(self) -> int:
        return len(self.points)


def _polygon(area, name: str = "area"):
    geom = area.union_all() if isinstance(area, (gpd.GeoSeries, gpd.GeoDataFrame)) else area
    if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        msg = f"`{name}` must be a (multi)polygon in EPSG:4326; it is {None if geom is None else geom.geom_type}."
        raise ValueError(msg)
    return geom


def _to_metric(geom):
    return gpd.GeoSeries([geom], crs=4326).to_crs(EQUAL_AREA_CRS).iloc[0]


def area_km2(area) -> float:
    """Area (km²) of a polygon in EPSG:4326, measured in `EQUAL_AREA_CRS`."""
    return float(_to_metric(_polygon(area)).area / 1e6)


def default_spacing_m(area, *, target_cells: int = TARGET_CELLS) -> float:
    """Grid spacing (m) giving about `target_cells` cells over `area` (EPSG:4326), rounded up to a `GRID_STEPS_M` step."""
    if not (isinstance(target_cells, (int, np.integer)) and target_cells > 0):
        msg = f"`target_cells` was {target_cells!r}; it must be a positive integer."
        raise ValueError(msg)
    raw = math.sqrt(area_km2(area) * 1e6 / target_cells)
    return float(next((s for s in GRID_STEPS_M if s >= raw), math.ceil(raw / 10_000) * 10_000))


def locate(lon, lat, polygons: gpd.GeoDataFrame, *, code: str = "code") -> np.ndarray:
    """Code of the polygon (EPSG:4326) containing each point ('' outside all)."""
    pts = shapely.points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    out = np.full(len(pts), "", dtype=object)
    if len(pts) and len(polygons):
        pi, gi = shapely.STRtree(polygons.geometry.values).query(pts, predicate="within")
        out[pi] = polygons[code].to_numpy()[gi]
    return out


def territory_grid(area, *, spacing_m: float | None = None, target_cells: int = TARGET_CELLS, counties: gpd.GeoDataFrame | None = None) -> Demand:
    """Territory demand: square cells of `spacing_m` over `area`, each weighted by its area inside it (km²).

    Parameters
    ----------
    area : shapely (multi)polygon (EPSG:4326), or GeoSeries / GeoDataFrame in EPSG:4326
        The study area.
    spacing_m : float, optional
        Cell side (m) in `EQUAL_AREA_CRS`; default `default_spacing_m` (about `target_cells` cells).
    counties : GeoDataFrame, optional
        County polygons (``code``, EPSG:4326) to give each cell the county of its point.

    Returns
    -------
    Demand
        ``unit == "km2"``; the weights sum to the area of `area`.
    """
    poly = _polygon(area)
    if spacing_m is None:
        spacing_m = default_spacing_m(poly, target_cells=target_cells)
    if not (isinstance(spacing_m, (int, float, np.integer, np.floating)) and math.isfinite(spacing_m) and spacing_m > 0):
        msg = f"`spacing_m` was {spacing_m!r}; it must be a positive number of metres."
        raise ValueError(msg)
    metric = _to_metric(poly)
    minx, miny, maxx, maxy = metric.bounds
    xs = np.arange(minx, maxx, spacing_m)
    ys = np.arange(miny, maxy, spacing_m)
    if len(xs) * len(ys) > 4 * MAX_CELLS:
        msg = f"`spacing_m` {spacing_m:g} m makes up to {len(xs) * len(ys):,} cells over this area (limit {MAX_CELLS:,}); use a coarser spacing."
        raise ValueError(msg)
    gx, gy = (g.ravel() for g in np.meshgrid(xs, ys))
    boxes = shapely.box(gx, gy, gx + spacing_m, gy + spacing_m)
    shapely.prepare(metric)
    boxes = boxes[shapely.intersects(metric, boxes)]
    if len(boxes) > MAX_CELLS:
        msg = f"`spacing_m` {spacing_m:g} m makes {len(boxes):,} cells over this area (limit {MAX_CELLS:,}); use a coarser spacing."
        raise ValueError(msg)
    inside = shapely.contains(metric, boxes)
    parts = boxes.copy()
    edge = np.flatnonzero(~inside)  # only cells on the boundary are cut (the rest keep their full area)
    parts[edge] = [shapely.intersection(b, shapely.clip_by_rect(metric, *b.bounds)) for b in boxes[edge]]
    weight = shapely.area(parts) / 1e6
    keep = weight > 0
    boxes, parts, weight = boxes[keep], parts[keep], weight[keep]
    centre = shapely.centroid(boxes)
    pts = np.where(shapely.contains(metric, centre), centre, shapely.point_on_surface(parts))
    geo = gpd.GeoSeries(pts, crs=EQUAL_AREA_CRS).to_crs(4326)
    lon, lat = geo.x.to_numpy(), geo.y.to_numpy()
    county = locate(lon, lat, counties) if counties is not None else np.full(len(lon), "", dtype=object)
    ids = [f"C{i:05d}" for i in range(len(lon))]
    points = gpd.GeoDataFrame({"id": ids, "name": ids, "county_code": county, "weight": weight}, geometry=geo.values, crs=4326)
    return Demand("territory", points, "km2", spacing_m=float(spacing_m))


def network_nodes(net: Network, area, *, counties: gpd.GeoDataFrame | None = None) -> Demand:
    """Demand of the network's nodes inside `area` (EPSG:4326), one each (unit ``"nodes"``)."""
    poly = _polygon(area)
    lon, lat = np.asarray(net.node_lon, dtype=float), np.asarray(net.node_lat, dtype=float)
    shapely.prepare(poly)
    inside = np.flatnonzero(shapely.contains_xy(poly, lon, lat))
    county = locate(lon[inside], lat[inside], counties) if counties is not None else np.full(len(inside), "", dtype=object)
    ids = [f"N{i}" for i in inside]
    points = gpd.GeoDataFrame({"id": ids, "name": ids, "county_code": county, "weight": np.ones(len(inside))}, geometry=gpd.points_from_xy(lon[inside], lat[inside]), crs=4326)
    return Demand("nodes", points, "nodes")


def place_population(places: gpd.GeoDataFrame, counties: pd.DataFrame, *, max_density_per_km2: float = MAX_PLACE_DENSITY_PER_KM2) -> Demand:
    """People of `places` counted once: population demand without nested places.

    GeoNames gives a city, its districts and their towns as separate places whose
    populations nest (上海 24.9 million, 浦西 6.7 million, 闵行 2.7 million, 七宝 0.3 million …).
    The rule, applied to the dataset's places (``origin == "base"``):

    1. A place without a population figure (0 or missing) is *unknown*: it is not counted,
       never as one person.
    2. A place whose population divided by the area of the county it lies in exceeds
       `max_density_per_km2` stands for more than its county (a city or a part of a city
       spanning several districts): it is left out, as the places it contains count.
    3. In each county only the most populous remaining place counts (it stands for the
       county seat, which GeoNames reports with the towns around it).

    Imported places (any other ``origin``) with a population are taken as given, and the
    dataset's places of a county that has such imported places are left out.  The result is
    a lower bound of the people, never a double count.

    Parameters
    ----------
    places : GeoDataFrame
        Points (EPSG:4326) with ``id``, ``name``, ``population``, ``county_code`` and optionally ``origin``.
    counties : DataFrame
        ``code`` and ``area_km2`` of the counties.
    """
    need = {"id", "name", "population", "county_code"} - set(places.columns)
    if need:
        msg = f"`places` lacks the columns {sorted(need)}; it has {list(places.columns)}."
        raise ValueError(msg)
    if not (max_density_per_km2 > 0):
        msg = f"`max_density_per_km2` was {max_density_per_km2!r}; it must be positive."
        raise ValueError(msg)
    pop = pd.to_numeric(places["population"], errors="coerce").fillna(0).to_numpy(dtype=float)
    known = pop > 0
    origin = places["origin"].to_numpy() if "origin" in places.columns else np.full(len(places), "base", dtype=object)
    imported = known & (origin != "base")
    county = places["county_code"].to_numpy()
    km2 = pd.Series(counties["area_km2"].to_numpy(dtype=float), index=counties["code"].to_numpy())
    county_km2 = km2[~km2.index.duplicated()].reindex(county).to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        too_dense = pop / county_km2 > max_density_per_km2  # NaN (county area unknown) is not
    base = known & ~imported & ~np.isin(county, county[imported]) & ~too_dense
    frame = pd.DataFrame({"i": np.flatnonzero(base), "county": county[base], "pop": pop[base]})
    top = frame.sort_values(["county", "pop", "i"], ascending=[True, False, True]).drop_duplicates("county")["i"].to_numpy()
    keep = np.sort(np.concatenate([top, np.flatnonzero(imported)]))
    sel = places.iloc[keep]
    points = gpd.GeoDataFrame({"id": sel["id"].to_numpy(), "name": sel["name"].to_numpy(), "county_code": sel["county_code"].to_numpy(), "weight": pop[keep]}, geometry=sel.geometry.values, crs=places.crs)
    return Demand("population", points, "people", unknown=int((~known).sum()), nested=int(known.sum() - len(keep)))


def build_demand(kind: str, area, *, places: gpd.GeoDataFrame | None = None, counties: gpd.GeoDataFrame | None = None, net: Network | None = None, spacing_m: float | None = None) -> Demand:
    """One implementation behind the demand picker: `territory_grid`, `network_nodes` or `place_population`.

    `places` are the places *inside* the area (population demand); `counties` the county
    polygons with ``code`` and ``area_km2``; `net` the network (node demand).
    """
    if kind not in DEMAND_KINDS:
        msg = f"`kind` was {kind!r} but is expected to be one of {list(DEMAND_KINDS)}."
        raise ValueError(msg)
    if kind == "territory":
        return territory_grid(area, spacing_m=spacing_m, counties=counties)
    if kind == "nodes":
        if net is None:
            msg = "`net` is needed for the demand kind 'nodes'."
            raise ValueError(msg)
        return network_nodes(net, area, counties=counties)
    if places is None or counties is None:
        msg = "`places` and `counties` are needed for the demand kind 'population'."
        raise ValueError(msg)
    return place_population(places, counties)


# ---- times and indicators ------------------------------------------------------------------


def snap_points(net: Network, lon, lat, *, snap_limit_m: float | None = None) -> list[Snap | None]:
    """Snap points (EPSG:4326); None where off the network."""
    return snap_many(net, lon, lat, limit_m=snap_limit_m)[0]


def point_times(net: Network, node_time_s: np.ndarray, snaps: list[Snap | None], *, blocked: np.ndarray | None = None) -> np.ndarray:
    """Arrival time (s) at snapped points given the arrival time at every node.

    A point is reached through the ends of its edge (partial edge cost) plus its access
    leg; off-network points get inf.
    """
    w = edge_weights(net, blocked)
    out = np.full(len(snaps), np.inf)
    for i, s in enumerate(snaps):
        if s is None:
            continue
        best = min((node_time_s[e.node] + e.time_s for e in entries(net, s, w)), default=np.inf)
        out[i] = best + s.access_time_s
    return out


def times_from_sites(net: Network, site_lon, site_lat, snaps: list[Snap | None], *, blocked: np.ndarray | None = None) -> np.ndarray:
    """Time (s) from the nearest of the sites (EPSG:4326) to each snapped demand point, with no time limit.

    One multi-source search (`geo.zones.assign`); inf where no road leads (off the network,
    or not connected).  Sites off the network take no part.
    """
    from geo import zones as gz

    site_snaps = gz.snap_facilities(net, np.asarray(site_lon, dtype=float), np.asarray(site_lat, dtype=float))
    assignment = gz.assign(net, site_snaps, blocked=blocked)
    return point_times(net, assignment.time_s, snaps, blocked=blocked)


def indicators(demand: pd.DataFrame, time_s: np.ndarray, *, threshold_s: float = DEFAULT_THRESHOLD_S, by: str = "county_code", weight: str | None = "weight") -> pd.DataFrame:
    """Coverage per jurisdiction (`by`) and overall.

    Columns: ``points``, ``covered`` (within `threshold_s`), ``beyond`` (reached, but later),
    ``no_road`` (not reached at all: inf), ``share`` (of points covered); where `weight` is a
    column with any positive value, also ``weight``, ``covered_weight``, ``beyond_weight``,
    ``no_road_weight`` and ``weight_share`` (NaN where a row has no weight).  The last row
    (``by`` = 'ALL') is the whole area.
    """
    time_s = np.asarray(time_s, dtype=float)
    if len(demand) != len(time_s):
        msg = f"`time_s` has {len(time_s)} values for {len(demand)} demand rows."
        raise ValueError(msg)
    if not threshold_s > 0:
        msg = f"`threshold_s` was {threshold_s!r}; it must be positive."
        raise ValueError(msg)
    covered = time_s <= threshold_s
    no_road = ~np.isfinite(time_s)
    df = pd.DataFrame({by: demand[by].to_numpy(), "covered": covered, "beyond": ~covered & ~no_road, "no_road": no_road})
    use_weight = weight is not None and weight in demand.columns and (pd.to_numeric(demand[weight], errors="coerce").fillna(0) > 0).any()
    agg = {"points": ("covered", "size"), "covered": ("covered", "sum"), "beyond": ("beyond", "sum"), "no_road": ("no_road", "sum")}
    if use_weight:
        w = pd.to_numeric(demand[weight], errors="coerce").fillna(0).to_numpy(dtype=float)
        df["weight"] = w
        for col in ("covered", "beyond", "no_road"):
            df[f"{col}_weight"] = w * df[col]
        agg |= {k: (k, "sum") for k in ("weight", "covered_weight", "beyond_weight", "no_road_weight")}
    table = df.groupby(by).agg(**agg).reset_index()
    total = {by: "ALL", **{k: df[src].sum() if fn == "sum" else len(df) for k, (src, fn) in agg.items()}}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table["share"] = table["covered"] / table["points"]
    if use_weight:
        table["weight_share"] = table["covered_weight"] / table["weight"].where(table["weight"] > 0)
    return table


def teams_per(teams: pd.DataFrame, jurisdictions: pd.DataFrame, *, by: str = "county_code", kinds: tuple[str, ...] = ("professional",)) -> pd.DataFrame:
    """Number of teams of `kinds` in each jurisdiction (zero where there is none)."""
    sel = teams[teams["kind"].isin(kinds)]
    counts = sel.groupby(by).size()
    out = pd.DataFrame({"code": jurisdictions["code"].to_numpy(), "name": jurisdictions["name"].to_numpy()})
    out["teams"] = out["code"].map(counts).fillna(0).astype(int)
    return out
