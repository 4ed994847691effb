"""Hazard scenarios (flood, typhoon wind circle, gas plume, drawn area) and their consequences on roads, places, shelters and resources.

Hazard areas
------------
Every hazard is a `Hazard`: its kind, its area (a shapely Polygon or MultiPolygon,
EPSG:4326), the parameters it was made from and a name.  Circles and arcs are geodesic
(vertices placed with ``pyproj.Geod`` on the WGS84 ellipsoid), not buffers on degrees.

- `flood_area`: a flooded polygon with its flood stage (m) as an attribute.  No elevation
  model is available, so the stage does not shape the area; it is carried for the record.
- `typhoon_track`: the area swept by a wind circle (e.g. the 7-level wind radius) moving
  along a track.  Each track segment is sampled at ``steps`` positions along its geodesic;
  the radius runs linearly, by distance along the segment, from the radius at its start to
  the radius at its end.  Consecutive sampled circles are joined by their convex hull: the
  area swept by a circle moving straight while its radius changes linearly is exactly the
  convex hull of its first and last circles, so no gap is left between samples (the hull
  is taken in lon/lat, which is an affine image of metres over one step).  Circle polygons
  are circumscribed (their edges touch the true circle), so the area holds every true circle.
- `gas_plume`: a teardrop downwind of a source: the sector of radius ``distance_km`` and
  opening ``spread_deg`` centred on the downwind bearing (wind_from + 180°, meteorological
  convention: the direction the wind blows *from*, 0 = north, clockwise), joined with an
  isolation circle of ``isolation_km`` around the source (the "initial isolation" of the
  ERG2020 guide; default a tenth of the distance).
- `hazard_from_geojson`: a drawn or imported polygon (GeoJSON geometry, Feature or
  FeatureCollection; a Feature written by `Hazard.geojson` comes back with its kind,
  parameters and name).

Input checks raise `HazardError` with a `code` and `params` (see its docstring).

Consequences
------------
`consequences` applies a hazard to the current data:

- roads: every directed edge whose geometry intersects the area is closed
  (`geo.routing.blocked_edges`);
- jurisdictions whose polygon intersects the area, with the overlap (km²);
- places inside the area (boundary included) and their known population (a missing, NaN or
  zero figure is *unknown*, counted apart, never as people);
- shelters inside the area or on a closed road (unusable), and the usable ones ranked by
  road time from the affected population, with capacity against that population;
- resources inside the area, and resources *cut off*.

Where the affected population starts (evacuation and shelter times)
    An affected place whose road is open starts from it (the snapping rule of
    `geo.routing`).  A place whose road is closed starts from the *edge* of the closure
    around it: the exit nodes of its closed patch, i.e. the connected set of closed edges its
    road belongs to, at the nodes where a closed edge meets an open one (time inside the area
    is not counted).  Without affected places, the whole edge of the area (the exit nodes of
    every patch) is the start.

Cut off (resources)
    The reference points are the `incident` when given, else the affected places, else the
    edge of the area.  A reference point on an open road is reached at its position; one
    whose road is closed is reached at the exit nodes of its patch (as above).  A resource
    (outside the area, on the network) is *cut off* when, before the closures, it reached at
    least one reference point and, with them, it reaches none (one reverse search before and
    one after).  With only the area's edge as reference, a resource is cut off only when no
    road leads it to the hazard area at all.

`coverage_change` gives the share of demand covered within a time before and after the
closures; `Consequences.summary` and `compare` set scenarios side by side.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from geo import _kernels
from geo.coverage import EQUAL_AREA_CRS, point_times, snap_points, times_from_sites
from geo.network import EARTH_RADIUS_M, Network
from geo.routing import NoRoute, OffNetwork, Snap, blocked_edges, edge_weights, entries, exits, snap

log = logging.getLogger(__name__)

#: A hazard area smaller than this (m²) is degenerate (a line drawn as a polygon).
MIN_AREA_M2 = 1.0
#: Kinds of hazard.
HAZARD_KINDS = ("flood", "typhoon", "plume", "drawn")
#: Highest flood stage accepted (m).
MAX_STAGE_M = 100.0
#: Largest typhoon wind radius accepted (km).
MAX_RADIUS_KM = 1000.0
#: Most sampled positions per track segment.
MAX_STEPS = 200
#: Longest plume accepted (km), and its widest opening (degrees).
MAX_PLUME_KM = 200.0
MAX_SPREAD_DEG = 180.0
#: Share of the plume distance used as isolation radius when none is given.
DEFAULT_ISOLATION_SHARE = 0.1
#: Vertices of a full circle polygon (an arc of a plume gets its share of them).
CIRCLE_VERTICES = 64
#: Default coverage threshold of `coverage_change` (s): the plans' one hour.
DEFAULT_THRESHOLD_S = 3600.0

_GEOD = Geod(ellps="WGS84")
_POLYGONAL = ("Polygon", "MultiPolygon")


class HazardError(ValueError):
    """A hazard or its inputs cannot be used, with a `code` and `params` for a localized message.

    ``str(exc)`` is an English sentence naming the parameter, the bad value and what is
    allowed.  `params` holds ``param`` (the argument, e.g. 'radius_km') and ``value`` where
    they apply.  Codes:

    - 'unreadable': the GeoJSON text cannot be read (``reason``);
    - 'empty': no geometry, or an empty one;
    - 'not_polygon': the geometry is not a polygon (``found``: the geometry types);
    - 'bad_coordinates': a coordinate is not finite or not lon/lat in degrees (``bounds`` or
      ``value``; ``index`` for a track point);
    - 'invalid_polygon': the polygon is invalid and repairing it leaves no area (``reason``);
    - 'bad_stage': the flood stage is not a number in (0, ``max_m``];
    - 'bad_radius': a wind radius is not a number in (0, ``max_km``] (``index`` of the track point);
    - 'radius_count': ``n_radii`` radii were given for ``n_points`` track points;
    - 'too_few_points': a track of ``n`` points (at least 2 are needed);
    - 'bad_steps': ``steps`` is not a whole number in [1, ``max``];
    - 'bad_wind': the wind direction is not in [0, 360] degrees;
    - 'bad_distance': the plume distance is not in (0, ``max_km``];
    - 'bad_spread': the plume opening is not in (0, ``max_deg``];
    - 'bad_isolation': the isolation radius is not in [0, ``distance_km``];
    - 'missing_columns': a table lacks columns (``what``: the table, ``missing``);
    - 'bad_threshold': a time threshold is not a positive number.
    """

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Hazard:
    """A hazard scenario's area (Polygon or MultiPolygon, EPSG:4326), its kind, parameters and name."""

    kind: str
    area: shapely.Geometry
    params: dict = field(default_factory=dict)
    name: str = ""

    @property
    def area_km2(self) -> float:
        """Area (km²), measured in the equal-area projection of `geo.coverage`."""
        return float(gpd.GeoSeries([self.area], crs=4326).to_crs(EQUAL_AREA_CRS).area.iloc[0] / 1e6)

    def geojson(self) -> dict:
        """A GeoJSON Feature (EPSG:4326) with ``hazard_kind``, ``name`` and ``params`` as
        properties; `hazard_from_geojson` reads it back as the same hazard."""
        return {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(self.area),
            "properties": {"hazard_kind": self.kind, "name": self.name, "params": _jsonable(self.params)},
        }


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


# ---- input checks ----------------------------------------------------------------------------


def _number(value, param: str, code: str, allowed: str, **params) -> float:
    """`value` as a finite float, else `HazardError(code)` naming `param`, the value and `allowed`."""
    try:
        if isinstance(value, (bool, np.bool_)) or value is None:
            raise TypeError
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x):
        msg = f"`{param}` was {value!r}; it must be {allowed}."
        raise HazardError(code, msg, param=param, value=_plain(value), **params)
    return x


def _plain(value):
    """A parameter value as it can be shown and stored (numbers stay numbers, others their repr)."""
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return value
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return repr(value)


def _in_range(value, param: str, code: str, lo: float, hi: float, *, lo_open: bool = True, unit: str = "", **params) -> float:
    left = "more than" if lo_open else "at least"
    allowed = f"a number {left} {lo:g} and at most {hi:g}{unit}"
    x = _number(value, param, code, allowed, **params)
    if (x <= lo if lo_open else x < lo) or x > hi:
        msg = f"`{param}` was {value!r}; it must be {allowed}."
        raise HazardError(code, msg, param=param, value=_plain(value), **params)
    return x


def _lonlat(lon, lat, param: str, **params) -> tuple[float, float]:
    """A (lon, lat) position in degrees, else 'bad_coordinates'."""
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        x = y = math.nan
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        msg = f"`{param}` was ({lon!r}, {lat!r}); it must be a longitude in [-180, 180] and a latitude in [-90, 90] (EPSG:4326)."
        raise HazardError("bad_coordinates", msg, param=param, value=[_plain(lon), _plain(lat)], **params)
    return x, y


def check_area(geom, *, param: str = "polygon") -> shapely.Geometry:
    """A usable hazard area (EPSG:4326) from a shapely geometry: polygonal, not empty, lon/lat
    in degrees; an invalid polygon is repaired with ``shapely.make_valid`` (only its areas kept).

    Raises
    ------
    HazardError
        'empty', 'not_polygon', 'bad_coordinates' or 'invalid_polygon'.
    """
    if geom is None or not isinstance(geom, shapely.Geometry) or geom.is_empty:
        msg = f"`{param}` is empty; draw or import a polygon (EPSG:4326)."
        raise HazardError("empty", msg, param=param)
    found = sorted({g.geom_type for g in shapely.get_parts(geom)}) if geom.geom_type == "GeometryCollection" else [geom.geom_type]
    if any(t not in _POLYGONAL for t in found):
        msg = f"`{param}` is a {', '.join(found)}; a hazard area must be a Polygon or MultiPolygon."
        raise HazardError("not_polygon", msg, param=param, found=[t for t in found if t not in _POLYGONAL])
    xy = shapely.get_coordinates(geom)
    if not np.isfinite(xy).all() or not ((-180 <= xy[:, 0]) & (xy[:, 0] <= 180) & (-90 <= xy[:, 1]) & (xy[:, 1] <= 90)).all():
        finite = xy[np.isfinite(xy).all(axis=1)]
        bounds = [float(v) for v in (*finite.min(axis=0), *finite.max(axis=0))] if len(finite) else []
        msg = f"`{param}` has coordinates {bounds or 'that are not numbers'} outside longitude [-180, 180] / latitude [-90, 90] or not finite; give it in lon/lat degrees (EPSG:4326)."
        raise HazardError("bad_coordinates", msg, param=param, bounds=bounds)
    if geom.geom_type == "GeometryCollection":  # the polygons of a FeatureCollection, each repaired, then joined
        geom = shapely.union_all(shapely.make_valid(shapely.get_parts(geom)))
    if not geom.is_valid or geom.geom_type not in _POLYGONAL:
        reason = shapely.is_valid_reason(geom) if not geom.is_valid else "no area"
        parts = [p for p in shapely.get_parts(shapely.make_valid(geom)) if p.geom_type in _POLYGONAL and p.area > 0]
        geom = shapely.union_all(parts) if parts else shapely.Polygon()
        if geom.is_empty:
            msg = f"`{param}` is not a valid polygon ({reason}) and repairing it leaves no area; draw it again."
            raise HazardError("invalid_polygon", msg, param=param, reason=reason)
    lat = math.radians(float(np.clip(geom.centroid.y, -89.0, 89.0)))
    if geom.area * (math.pi / 180 * EARTH_RADIUS_M) ** 2 * math.cos(lat) < MIN_AREA_M2:
        msg = f"`{param}` has no area (less than {MIN_AREA_M2:g} m²: its outline is degenerate); draw it again."
        raise HazardError("invalid_polygon", msg, param=param, reason="zero area")
    return geom


# ---- hazard areas ----------------------------------------------------------------------------


def flood_area(polygon, *, stage_m: float, name: str = "") -> Hazard:
    """A flood over `polygon` (EPSG:4326) at flood stage `stage_m` (m, above ground).

    The stage is an attribute only: no elevation model exists to shape the area from it.

    Raises
    ------
    HazardError
        For a bad polygon (see `check_area`) or 'bad_stage' outside (0, `MAX_STAGE_M`].
    """
    stage = _in_range(stage_m, "stage_m", "bad_stage", 0.0, MAX_STAGE_M, unit=" m", max_m=MAX_STAGE_M)
    return Hazard("flood", check_area(polygon), {"stage_m": stage}, str(name))


def _circle(lon: float, lat: float, radius_m: float, *, n: int = CIRCLE_VERTICES) -> np.ndarray:
    """(n, 2) lon/lat vertices of a polygon circumscribing the geodesic circle of `radius_m`."""
    az = np.arange(n) * 360.0 / n
    x, y, _ = _GEOD.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, radius_m / math.cos(math.pi / n)))
    return np.column_stack([x, y])


def typhoon_track(track, *, radius_km, steps: int = 8, name: str = "") -> Hazard:
    """The area swept by a wind circle moving along `track` (EPSG:4326).

    Parameters
    ----------
    track : sequence of (lon, lat)
        Track points in time order (at least 2).
    radius_km : float or sequence of float
        Wind radius (km) at every track point, or one radius for all; between points it
        runs linearly with distance along the segment.
    steps : int
        Positions sampled per segment (1 = its two ends only): consecutive circles are
        joined by their convex hull (module docstring), so the area has no gaps whatever
        `steps`; more steps follow a changing radius and the geodesic more closely.

    Raises
    ------
    HazardError
        'too_few_points', 'bad_coordinates' (``index``), 'bad_radius' (``index``),
        'radius_count' or 'bad_steps'.
    """
    try:
        points = list(track)
    except TypeError:
        points = []
    if len(points) < 2:
        msg = f"`track` has {len(points)} point(s); a typhoon track needs at least 2 (lon, lat) points."
        raise HazardError("too_few_points", msg, param="track", n=len(points))
    pts = []
    for i, p in enumerate(points):
        try:
            p = tuple(p)
        except TypeError:
            p = (p,)
        if len(p) != 2:
            msg = f"`track` point {i} was {p!r}; each point must be a (lon, lat) pair."
            raise HazardError("bad_coordinates", msg, param="track", index=i, value=_plain(p))
        pts.append(_lonlat(*p, "track", index=i))
    if np.ndim(radius_km) == 0:
        radii = [radius_km] * len(pts)
    else:
        radii = list(radius_km)
        if len(radii) != len(pts):
            msg = f"`radius_km` has {len(radii)} values for {len(pts)} track points; give one radius, or one per track point."
            raise HazardError("radius_count", msg, param="radius_km", n_radii=len(radii), n_points=len(pts))
    r_km = [_in_range(r, "radius_km", "bad_radius", 0.0, MAX_RADIUS_KM, unit=" km", index=i, max_km=MAX_RADIUS_KM) for i, r in enumerate(radii)]
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= MAX_STEPS:
        msg = f"`steps` was {steps!r}; it must be a whole number from 1 to {MAX_STEPS}."
        raise HazardError("bad_steps", msg, param="steps", value=_plain(steps), max=MAX_STEPS)
    hulls = []
    for (lon0, lat0), (lon1, lat1), ra, rb in zip(pts[:-1], pts[1:], r_km[:-1], r_km[1:], strict=True):
        lon, lat, radius = _samples(lon0, lat0, lon1, lat1, ra * 1000, rb * 1000, int(steps))
        circles = [_circle(x, y, r) for x, y, r in zip(lon, lat, radius, strict=True)]
        hulls += [shapely.convex_hull(shapely.multipoints(np.vstack([a, b]))) for a, b in zip(circles[:-1], circles[1:], strict=True)]
    area = shapely.union_all(hulls)
    params = {"track": [list(p) for p in pts], "radius_km": r_km, "steps": int(steps)}
    return Hazard("typhoon", check_area(area, param="track"), params, str(name))


def _samples(lon0: float, lat0: float, lon1: float, lat1: float, r0_m: float, r1_m: float, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`steps` + 1 positions along the geodesic from (lon0, lat0) to (lon1, lat1), both ends
    included, and the radius (m) at each: linear in the distance along it."""
    frac = np.linspace(0.0, 1.0, steps + 1)
    az, _, dist = _GEOD.inv(lon0, lat0, lon1, lat1)
    if dist == 0:
        return np.full(len(frac), lon0), np.full(len(frac), lat0), r0_m + frac * (r1_m - r0_m)
    lon, lat, _ = _GEOD.fwd(np.full(len(frac), lon0), np.full(len(frac), lat0), np.full(len(frac), az), frac * dist)
    lon[-1], lat[-1] = lon1, lat1
    return np.asarray(lon), np.asarray(lat), r0_m + frac * (r1_m - r0_m)


def downwind_deg(wind_from_deg: float) -> float:
    """Bearing (degrees clockwise from north) the wind blows *to*, from the meteorological direction it blows from."""
    return (float(wind_from_deg) + 180.0) % 360.0


def gas_plume(lon: float, lat: float, *, wind_from_deg: float, distance_km: float, spread_deg: float = 30.0, isolation_km: float | None = None, name: str = "") -> Hazard:
    """A hazardous-gas plume from the source (`lon`, `lat`; EPSG:4326): the downwind sector
    and the isolation circle (module docstring).

    Parameters
    ----------
    wind_from_deg : float
        Direction the wind blows from (degrees, 0 = north, clockwise; 0–360): a north
        wind (0) carries the gas south.
    distance_km : float
        How far downwind the plume reaches (km).
    spread_deg : float
        Full opening angle of the sector (degrees), centred on the downwind bearing.
    isolation_km : float, optional
        Radius (km) of the circle around the source, in every direction; default a tenth of
        `distance_km`, 0 for the sector alone.

    Raises
    ------
    HazardError
        'bad_coordinates', 'bad_wind', 'bad_distance', 'bad_spread' or 'bad_isolation'.
    """
    x0, y0 = _lonlat(lon, lat, "source")
    wind = _in_range(wind_from_deg, "wind_from_deg", "bad_wind", 0.0, 360.0, lo_open=False, unit="°")
    dist = _in_range(distance_km, "distance_km", "bad_distance", 0.0, MAX_PLUME_KM, unit=" km", max_km=MAX_PLUME_KM)
    spread = _in_range(spread_deg, "spread_deg", "bad_spread", 0.0, MAX_SPREAD_DEG, unit="°", max_deg=MAX_SPREAD_DEG)
    iso = dist * DEFAULT_ISOLATION_SHARE if isolation_km is None else _in_range(isolation_km, "isolation_km", "bad_isolation", 0.0, dist, lo_open=False, unit=" km", distance_km=dist)
    to = downwind_deg(wind)
    n = max(4, int(math.ceil(CIRCLE_VERTICES * spread / 360.0)) + 1)
    az = to - spread / 2 + np.arange(n) * spread / (n - 1)
    ax, ay, _ = _GEOD.fwd(np.full(n, x0), np.full(n, y0), az, np.full(n, dist * 1000.0))
    sector = shapely.Polygon(np.vstack([[x0, y0], np.column_stack([ax, ay])]))
    area = shapely.union(sector, shapely.Polygon(_circle(x0, y0, iso * 1000.0))) if iso > 0 else sector
    params = {"source": [x0, y0], "wind_from_deg": wind, "downwind_deg": to, "distance_km": dist, "spread_deg": spread, "isolation_km": iso}
    return Hazard("plume", check_area(area, param="plume"), params, str(name))


def hazard_from_geojson(obj, *, name: str | None = None) -> Hazard:
    """A drawn or imported hazard area from GeoJSON (EPSG:4326): a dict, or its text (str or bytes).

    A geometry, a Feature or a FeatureCollection (its polygons joined) is a 'drawn' hazard;
    a Feature written by `Hazard.geojson` keeps its kind, parameters and name.  `name`, when
    given, replaces the name.

    Raises
    ------
    HazardError
        'unreadable' for text that is not GeoJSON, else as `check_area`.
    """
    try:
        if isinstance(obj, (str, bytes)):
            obj = json.loads(obj.decode("utf-8-sig") if isinstance(obj, bytes) else obj)
        if not isinstance(obj, dict):
            raise TypeError(f"a GeoJSON object is a mapping, not {type(obj).__name__}")
        props = {}
        if obj.get("type") == "FeatureCollection":
            geoms = [shapely.geometry.shape(f["geometry"]) for f in obj.get("features", []) if f.get("geometry")]
            geom = shapely.GeometryCollection(geoms) if len(geoms) > 1 else (geoms[0] if geoms else None)
        elif obj.get("type") == "Feature":
            props = obj.get("properties") or {}
            geom = shapely.geometry.shape(obj["geometry"]) if obj.get("geometry") else None
        else:
            geom = shapely.geometry.shape(obj)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException) as exc:
        msg = f"`obj` is not readable as GeoJSON ({exc}); give a GeoJSON polygon, Feature or FeatureCollection."
        raise HazardError("unreadable", msg, param="obj", reason=str(exc)) from exc
    area = check_area(geom, param="obj")
    kind = props.get("hazard_kind") if props.get("hazard_kind") in HAZARD_KINDS else "drawn"
    params = props.get("params") if kind != "drawn" and isinstance(props.get("params"), dict) else {}
    given = props.get("name") if isinstance(props.get("name"), str) else ""
    return Hazard(kind, area, dict(params), str(name) if name is not None else given)


# ---- consequences ----------------------------------------------------------------------------


@dataclass
class Consequences:
    """What a hazard does to the current data (module docstring).

    Attributes
    ----------
    hazard : Hazard
    closed : geo.routing.ClosedEdges
        Mask of the closed directed edges (``blocked=`` of every search).
    n_closed : int
        Closed directed edges (a two-way road counts twice, as in `geo.dispatch`).
    closed_road_km : float
        Length (km) of the closed roads (whole edges, also their part outside the area), each
        two-way road once.
    jurisdictions : DataFrame
        ``code``, ``name``, ``level``, ``overlap_km2`` of those the area intersects, largest overlap first.
    places : DataFrame
        The places inside the area (their columns, ``lon``, ``lat``, ``population``: NaN where unknown).
    affected_population : float
        Sum of the known populations of the places inside.
    population_unknown : int
        Places inside without a population figure.
    shelters : DataFrame
        Every shelter: its columns, ``lon``, ``lat``, ``capacity``, ``inside`` (in the area),
        ``usable``, ``reason`` ('' usable; 'inside', 'road_closed', 'off_network',
        'unreachable'), ``time_s`` (road time from the affected population; inf where none
        leads), ``from_place`` (name of the affected place it is nearest to, '' for the area's
        edge), ``cumulative_capacity`` and ``needed`` (among the usable ones, nearest first,
        those needed until their capacity holds the affected population).  Usable ones
        come first, nearest first.
    resources : DataFrame
        Every resource: its columns, ``lon``, ``lat``, ``inside``, ``status`` ('ok',
        'inside', 'cut_off', 'off_network', 'unreachable': reached no reference point even
        before), ``time_before_s`` and ``time_after_s`` to the nearest reference point.
    reference : str
        What the resources were checked against: 'incident', 'places' or 'edge'.
    """

    hazard: Hazard
    closed: np.ndarray = field(repr=False)
    n_closed: int
    closed_road_km: float
    jurisdictions: pd.DataFrame = field(repr=False)
    places: pd.DataFrame = field(repr=False)
    affected_population: float
    population_unknown: int
    shelters: pd.DataFrame = field(repr=False)
    resources: pd.DataFrame = field(repr=False)
    reference: str = "edge"

    @property
    def shelters_inside(self) -> pd.DataFrame:
        return self.shelters[self.shelters["inside"]]

    @property
    def usable_shelters(self) -> pd.DataFrame:
        """Usable shelters reached from the affected population, nearest first."""
        s = self.shelters
        return s[s["usable"] & np.isfinite(s["time_s"].to_numpy(dtype=float))]

    @property
    def resources_inside(self) -> pd.DataFrame:
        return self.resources[self.resources["inside"]]

    @property
    def resources_cut_off(self) -> pd.DataFrame:
        return self.resources[self.resources["status"] == "cut_off"]

    def summary(self) -> dict:
        """Counts of this scenario, for comparing scenarios (`compare`)."""
        usable = self.usable_shelters
        capacity = float(usable["capacity"].sum()) if len(usable) else 0.0
        return {
            "name": self.hazard.name,
            "kind": self.hazard.kind,
            "area_km2": self.hazard.area_km2,
            "closed_edges": self.n_closed,
            "closed_road_km": self.closed_road_km,
            "jurisdictions": len(self.jurisdictions),
            "places": len(self.places),
            "population": self.affected_population,
            "population_unknown": self.population_unknown,
            "shelters_inside": len(self.shelters_inside),
            "shelter_capacity_inside": float(self.shelters_inside["capacity"].sum()) if len(self.shelters_inside) else 0.0,
            "usable_shelter_capacity": capacity,
            "capacity_shortfall": max(0.0, self.affected_population - capacity),
            "shelters_needed": int(self.shelters["needed"].sum()) if len(self.shelters) else 0,
            "resources_inside": len(self.resources_inside),
            "resources_cut_off": len(self.resources_cut_off),
        }


#: Rows of `compare` (the keys of `Consequences.summary` but the name).
SUMMARY_KEYS = (
    "kind", "area_km2", "closed_edges", "closed_road_km", "jurisdictions", "places", "population", "population_unknown",
    "shelters_inside", "shelter_capacity_inside", "usable_shelter_capacity", "capacity_shortfall", "shelters_needed",
    "resources_inside", "resources_cut_off",
)  # fmt: skip


def compare(*results: Consequences) -> pd.DataFrame:
    """Scenarios side by side: one row per `SUMMARY_KEYS` entry, one column per scenario
    (its hazard's name, or ``#1``, ``#2`` … where it has none or names repeat)."""
    summaries = [r.summary() for r in results]
    names = [s["name"] or f"#{i}" for i, s in enumerate(summaries, start=1)]
    if len(set(names)) < len(names):
        names = [f"#{i} {n}".strip() for i, n in enumerate(names, start=1)]
    return pd.DataFrame({n: [s[k] for k in SUMMARY_KEYS] for n, s in zip(names, summaries, strict=True)}, index=list(SUMMARY_KEYS))


def _xy(frame: pd.DataFrame, what: str) -> tuple[np.ndarray, np.ndarray]:
    """lon/lat of a table's points: its ``lon``/``lat`` columns, else its point geometry."""
    if {"lon", "lat"} <= set(frame.columns):
        return frame["lon"].to_numpy(dtype=float), frame["lat"].to_numpy(dtype=float)
    if _geometry_name(frame) is not None:
        return frame.geometry.x.to_numpy(dtype=float), frame.geometry.y.to_numpy(dtype=float)
    msg = f"`{what}` has neither lon/lat columns nor point geometries; it has {list(frame.columns)}."
    raise HazardError("missing_columns", msg, param=what, what=what, missing=["lon", "lat"])


def _geometry_name(frame: pd.DataFrame) -> str | None:
    """The active geometry column of a GeoDataFrame (None for a plain table or one without)."""
    name = getattr(frame, "_geometry_column_name", None) if isinstance(frame, gpd.GeoDataFrame) else None
    return name if name in frame.columns else None


def _inside(area, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Points in `area`, its boundary included."""
    if len(lon) == 0:
        return np.zeros(0, dtype=bool)
    shapely.prepare(area)
    return shapely.intersects_xy(area, lon, lat)


def _table(frame: pd.DataFrame | None, what: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    if frame is None:
        return pd.DataFrame({"lon": pd.Series(dtype=float), "lat": pd.Series(dtype=float)}), np.zeros(0), np.zeros(0)
    lon, lat = _xy(frame, what)
    geometry = _geometry_name(frame)
    out = pd.DataFrame(frame.drop(columns=geometry) if geometry else frame).reset_index(drop=True)
    out["lon"], out["lat"] = lon, lat
    return out, lon, lat


def _patches(net: Network, closed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(patch label of every node, mask of exit nodes): patches are the connected sets of
    closed edges (undirected); exit nodes touch both a closed and an open edge."""
    u, v = np.asarray(net.edge_u), np.asarray(net.edge_v)
    c = np.asarray(closed, dtype=bool)
    g = sparse.coo_matrix((np.ones(int(c.sum())), (u[c], v[c])), shape=(net.n_nodes, net.n_nodes))
    _, label = connected_components(g, directed=False)
    touch_closed = np.bincount(u[c], minlength=net.n_nodes) + np.bincount(v[c], minlength=net.n_nodes) > 0
    touch_open = np.bincount(u[~c], minlength=net.n_nodes) + np.bincount(v[~c], minlength=net.n_nodes) > 0
    return label, touch_closed & touch_open


def _own_nodes(net: Network, s: Snap) -> np.ndarray:
    """The nodes of a point's own road: its node, or the ends of its candidate edges."""
    if s.node >= 0:
        return np.array([s.node], dtype=np.int64)
    e = np.asarray(s.cand_edge, dtype=np.int64)
    return np.unique(np.concatenate([np.asarray(net.edge_u)[e], np.asarray(net.edge_v)[e]]))


@dataclass
class _Starts:
    """Where searches start or end for a set of points under closures: the snapped points on
    open roads, and per point whose road is closed the exit nodes of its patch."""

    open_snaps: dict[int, Snap]  # point index -> snap on an open road
    edge_nodes: dict[int, np.ndarray]  # point index -> exit nodes around it
    off: set[int]  # off the network


def _starts(net: Network, lon: np.ndarray, lat: np.ndarray, closed: np.ndarray, patches: tuple[np.ndarray, np.ndarray]) -> _Starts:
    label, exit_mask = patches
    open_snaps, edge_nodes, off = {}, {}, set()
    for i, (x, y) in enumerate(zip(lon, lat, strict=True)):
        try:
            open_snaps[i] = snap(net, float(x), float(y), blocked=closed)
        except OffNetwork:
            off.add(i)
        except NoRoute:
            own = _own_nodes(net, snap(net, float(x), float(y)))
            edge_nodes[i] = np.flatnonzero(exit_mask & np.isin(label, label[own]))
    return _Starts(open_snaps, edge_nodes, off)


def _search(net: Network, rows: list[tuple[int, float, int]], w: np.ndarray, *, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Multi-source Dijkstra from (node, offset s, owner) rows on edge times `w`, forward or on
    the reverse graph: (time per node, owner of the winning start per node, -1 unreached)."""
    if not rows:
        return np.full(net.n_nodes, np.inf), np.full(net.n_nodes, -1, dtype=np.int64)
    arr = np.array(rows, dtype=float)
    m = net.csr(reverse=reverse, weights=None if w is net.edge_time_s else w)
    dist, _, start = _kernels.multi_source(m.indptr, m.indices, m.data, arr[:, 0].astype(np.int64), arr[:, 1], np.inf)
    owner = arr[:, 2].astype(np.int64)
    return dist, np.where(start >= 0, owner[np.maximum(start, 0)], -1)


def _to_references(net: Network, refs: _Starts, w: np.ndarray, resources: dict[int, Snap]) -> dict[int, float]:
    """Time (s) from each snapped resource to its nearest reference point (inf where none is
    reached), by one reverse search from every reference's entries and edge nodes."""
    rows = [(a.node, a.time_s + s.access_time_s, i) for i, s in refs.open_snaps.items() for a in entries(net, s, w)]
    rows += [(int(n), 0.0, i) for i, nodes in refs.edge_nodes.items() for n in nodes]
    dist, _ = _search(net, rows, w, reverse=True)
    return {j: min((a.time_s + s.access_time_s + dist[a.node] for a in exits(net, s, w)), default=math.inf) for j, s in resources.items()}


def _people(places: pd.DataFrame, column: str) -> np.ndarray:
    """Known population per place (NaN where missing, not a number, or not above 0)."""
    if column not in places.columns:
        return np.full(len(places), np.nan)
    pop = pd.to_numeric(places[column], errors="coerce").to_numpy(dtype=float)
    return np.where(pop > 0, pop, np.nan)


def consequences(
    hazard: Hazard,
    *,
    net: Network,
    places: pd.DataFrame | None = None,
    shelters: pd.DataFrame | None = None,
    resources: pd.DataFrame | None = None,
    jurisdictions: gpd.GeoDataFrame | None = None,
    incident: tuple[float, float] | None = None,
    population_column: str = "population",
    capacity_column: str | None = None,
) -> Consequences:
    """The consequences of `hazard` on `net` and the given layers (module docstring).

    Parameters
    ----------
    hazard : Hazard
    net : geo.network.Network
    places : DataFrame or GeoDataFrame, optional
        Points (``lon``/``lat`` or point geometry, EPSG:4326) with ``name`` and
        `population_column`.  Give places counted once (e.g. the points of
        `geo.coverage.place_population`, with ``population_column="weight"``): GeoNames
        places nest, and the raw layer would count a city's people with its districts'.
    shelters : DataFrame, optional
        Points with ``name`` and a capacity (persons): `capacity_column`, else
        ``capacity_persons`` (the dataset's) or ``capacity``.
    resources : DataFrame, optional
        Points with ``name`` (and e.g. ``layer``: teams, stockpiles …), kept as given.
    jurisdictions : GeoDataFrame, optional
        Polygons (EPSG:4326) with ``code``, ``name`` and ``level``.
    incident : (lon, lat), optional
        The reference point of "cut off" (module docstring).

    Raises
    ------
    HazardError
        'missing_columns' when a table lacks what it needs; 'bad_coordinates' for the incident.
    geo.routing.OffNetwork
        When the `incident` is farther from every road than the snap limit (as `geo.dispatch.dispatch`).
    """
    area = hazard.area
    closed = blocked_edges(net, [area])
    n_closed = int(np.count_nonzero(closed))
    patches = _patches(net, closed)
    w_after = edge_weights(net, closed)

    c = np.asarray(closed, dtype=bool)
    u, v, length = np.asarray(net.edge_u)[c], np.asarray(net.edge_v)[c], np.asarray(net.edge_length_m)[c]
    roads = pd.DataFrame({"a": np.minimum(u, v), "b": np.maximum(u, v), "m": np.round(length, 1)}).drop_duplicates()
    closed_road_km = float(roads["m"].sum() / 1000.0)

    juris = _jurisdictions(area, jurisdictions)

    place_tab, p_lon, p_lat = _table(places, "places")
    p_in = _inside(area, p_lon, p_lat)
    affected = place_tab[p_in].reset_index(drop=True)
    pop = _people(affected, population_column)
    affected["population"] = pop
    affected_population = float(np.nansum(pop)) if len(pop) else 0.0
    population_unknown = int(np.isnan(pop).sum())

    # where the affected population starts: its places, or the area's edge
    if len(affected):
        pop_starts = _starts(net, affected["lon"].to_numpy(), affected["lat"].to_numpy(), closed, patches)
        place_names = affected["name"].astype(str).tolist() if "name" in affected.columns else [f"#{i + 1}" for i in range(len(affected))]
    else:
        pop_starts = _Starts({}, {-1: np.flatnonzero(patches[1])}, set())
        place_names = []

    shelter_tab = _shelters(net, area, shelters, closed, w_after, pop_starts, place_names, affected_population, capacity_column)

    if incident is not None:
        ref_lon, ref_lat = (np.array([v]) for v in _lonlat(*incident, "incident"))
        snap(net, float(ref_lon[0]), float(ref_lat[0]))  # an incident off the network raises OffNetwork, as in dispatch
        reference = "incident"
    elif len(affected):
        ref_lon, ref_lat, reference = affected["lon"].to_numpy(), affected["lat"].to_numpy(), "places"
    else:
        ref_lon = ref_lat = np.zeros(0)
        reference = "edge"
    resource_tab = _resources(net, area, resources, closed, w_after, patches, ref_lon, ref_lat)

    log.info(
        "hazard %s (%s): %s edges closed, %s places (%s people), %s shelters inside, %s resources cut off",
        hazard.name or hazard.kind, hazard.kind, f"{n_closed:,}", len(affected), f"{affected_population:,.0f}",
        int(shelter_tab["inside"].sum()), int((resource_tab["status"] == "cut_off").sum()),
    )  # fmt: skip
    return Consequences(
        hazard=hazard, closed=closed, n_closed=n_closed, closed_road_km=closed_road_km, jurisdictions=juris, places=affected,
        affected_population=affected_population, population_unknown=population_unknown, shelters=shelter_tab, resources=resource_tab,
        reference=reference,
    )  # fmt: skip


def _jurisdictions(area, jurisdictions: gpd.GeoDataFrame | None) -> pd.DataFrame:
    cols = ["code", "name", "level", "overlap_km2"]
    if jurisdictions is None or len(jurisdictions) == 0:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "overlap_km2" else object) for c in cols})
    missing = [c for c in ("code", "name") if c not in jurisdictions.columns]
    if missing:
        msg = f"`jurisdictions` lacks the columns {missing}; it has {list(jurisdictions.columns)}."
        raise HazardError("missing_columns", msg, param="jurisdictions", what="jurisdictions", missing=missing)
    geoms = jurisdictions.geometry.to_numpy()
    hit = np.flatnonzero(shapely.intersects(geoms, area))
    sel = jurisdictions.iloc[hit]
    overlap = gpd.GeoSeries(shapely.intersection(geoms[hit], area), crs=4326).to_crs(EQUAL_AREA_CRS).area.to_numpy() / 1e6 if len(hit) else np.zeros(0)
    out = pd.DataFrame({
        "code": sel["code"].astype(str).to_numpy(),
        "name": sel["name"].to_numpy(),
        "level": sel["level"].to_numpy() if "level" in sel.columns else np.full(len(sel), "", dtype=object),
        "overlap_km2": overlap,
    })  # fmt: skip
    return out.sort_values(["overlap_km2", "code"], ascending=[False, True], ignore_index=True)


def _capacity(frame: pd.DataFrame, column: str | None) -> np.ndarray:
    for col in [column] if column else ["capacity_persons", "capacity"]:
        if col in frame.columns:
            return pd.to_numeric(frame[col], errors="coerce").fillna(0).to_numpy(dtype=float)
    wanted = [column] if column else ["capacity_persons", "capacity"]
    msg = f"`shelters` lacks a capacity column ({' or '.join(wanted)}); it has {list(frame.columns)}."
    raise HazardError("missing_columns", msg, param="shelters", what="shelters", missing=wanted)


def _shelters(net, area, shelters, closed, w, pop_starts: _Starts, place_names: list[str], population: float, capacity_column) -> pd.DataFrame:
    tab, lon, lat = _table(shelters, "shelters")
    tab["capacity"] = _capacity(tab, capacity_column) if shelters is not None else np.zeros(0)
    inside = _inside(area, lon, lat)
    reason = np.where(inside, "inside", "").astype(object)
    snaps: list[Snap | None] = []
    for i, (x, y) in enumerate(zip(lon, lat, strict=True)):
        s = None
        if not inside[i]:
            try:
                s = snap(net, float(x), float(y), blocked=closed)
            except OffNetwork:
                reason[i] = "off_network"
            except NoRoute:
                reason[i] = "road_closed"
        snaps.append(s)
    rows = [(a.node, a.time_s + s.access_time_s, i) for i, s in pop_starts.open_snaps.items() for a in exits(net, s, w)]
    rows += [(int(n), 0.0, i) for i, nodes in pop_starts.edge_nodes.items() for n in nodes]
    dist, owner = _search(net, rows, w, reverse=False)
    time_s = point_times(net, dist, snaps, blocked=closed) if len(snaps) else np.zeros(0)
    usable = reason == ""
    reachable = np.isfinite(time_s)
    reason[usable & ~reachable & bool(rows)] = "unreachable"
    usable = reason == ""
    time_s = np.where(usable, time_s, np.inf)
    from_place = []
    for s in snaps:
        best = min(((dist[e.node] + e.time_s, e.node) for e in entries(net, s, w)), default=(math.inf, -1)) if s is not None else (math.inf, -1)
        k = int(owner[best[1]]) if best[1] >= 0 and math.isfinite(best[0]) else -1
        from_place.append(place_names[k] if 0 <= k < len(place_names) else "")
    tab["inside"] = inside
    tab["usable"] = usable
    tab["reason"] = reason
    tab["time_s"] = time_s
    tab["from_place"] = np.where(usable, np.array(from_place, dtype=object), "")
    order = np.lexsort((np.arange(len(tab)), time_s, ~(usable & np.isfinite(time_s))))
    tab = tab.iloc[order].reset_index(drop=True)
    ok = tab["usable"].to_numpy() & np.isfinite(tab["time_s"].to_numpy(dtype=float))
    cum = np.cumsum(np.where(ok, tab["capacity"].to_numpy(dtype=float), 0.0))
    tab["cumulative_capacity"] = np.where(ok, cum, np.nan)
    before = cum - np.where(ok, tab["capacity"].to_numpy(dtype=float), 0.0)
    tab["needed"] = ok & (before < population)
    return tab


def _resources(net, area, resources, closed, w_after, patches, ref_lon, ref_lat) -> pd.DataFrame:
    tab, lon, lat = _table(resources, "resources")
    inside = _inside(area, lon, lat)
    status = np.where(inside, "inside", "").astype(object)
    before_snaps, after_snaps = {}, {}
    for i, (x, y) in enumerate(zip(lon, lat, strict=True)):
        if inside[i]:
            continue
        try:
            before_snaps[i] = snap(net, float(x), float(y))
        except OffNetwork:
            status[i] = "off_network"
            continue
        try:
            after_snaps[i] = snap(net, float(x), float(y), blocked=closed)
        except (OffNetwork, NoRoute):
            pass  # its road is closed or it lies against the area: it leaves by no open road
    no_closure = np.zeros(net.n_edges, dtype=bool)
    if len(ref_lon):
        refs_before = _starts(net, ref_lon, ref_lat, no_closure, (np.arange(net.n_nodes), np.zeros(net.n_nodes, dtype=bool)))
        refs_after = _starts(net, ref_lon, ref_lat, closed, patches)
    else:  # the area's edge: every exit node, reached the same way before and after
        edge = {0: np.flatnonzero(patches[1])}
        refs_before, refs_after = _Starts({}, edge, set()), _Starts({}, edge, set())
    t_before = _to_references(net, refs_before, net.edge_time_s, before_snaps)
    t_after = _to_references(net, refs_after, w_after, after_snaps)
    before = np.array([t_before.get(i, math.inf) for i in range(len(tab))], dtype=float)
    after = np.array([t_after.get(i, math.inf) for i in range(len(tab))], dtype=float)
    todo = status == ""
    status[todo & ~np.isfinite(before)] = "unreachable"
    status[todo & np.isfinite(before) & ~np.isfinite(after)] = "cut_off"
    status[status == ""] = "ok"
    tab["inside"] = inside
    tab["status"] = status
    tab["time_before_s"] = np.where(inside, np.inf, before)
    tab["time_after_s"] = np.where(inside, np.inf, after)
    return tab


# ---- coverage before / after -----------------------------------------------------------------


@dataclass(frozen=True)
class CoverageChange:
    """Share of demand covered within `threshold_s` before and after closures.

    ``time_before_s`` / ``time_after_s`` are per demand point (inf where no road leads);
    shares are weighted by ``weight`` when given (else each point counts once).
    """

    threshold_s: float
    share_before: float
    share_after: float
    time_before_s: np.ndarray = field(repr=False)
    time_after_s: np.ndarray = field(repr=False)
    lost: np.ndarray = field(repr=False)  # covered before, not after

    @property
    def n_lost(self) -> int:
        return int(np.count_nonzero(self.lost))


def coverage_change(net: Network, sites_lon, sites_lat, demand_lon, demand_lat, *, closed: np.ndarray, threshold_s: float = DEFAULT_THRESHOLD_S, weight=None) -> CoverageChange:
    """Coverage of demand points (EPSG:4326) by the nearest of the sites within `threshold_s`,
    before and with the closures `closed` (`geo.coverage.times_from_sites` with ``blocked=``).

    A demand point whose road is closed is not covered after (no open road reaches it).

    Raises
    ------
    HazardError
        'bad_threshold' when `threshold_s` is not a positive number.
    """
    thr = _number(threshold_s, "threshold_s", "bad_threshold", "a positive number of seconds")
    if thr <= 0:
        msg = f"`threshold_s` was {threshold_s!r}; it must be a positive number of seconds."
        raise HazardError("bad_threshold", msg, param="threshold_s", value=_plain(threshold_s))
    demand_lon, demand_lat = np.asarray(demand_lon, dtype=float), np.asarray(demand_lat, dtype=float)
    snaps = snap_points(net, demand_lon, demand_lat)
    before = times_from_sites(net, sites_lon, sites_lat, snaps)
    after = times_from_sites(net, sites_lon, sites_lat, snaps, blocked=closed)
    w = np.ones(len(snaps)) if weight is None else np.nan_to_num(np.asarray(weight, dtype=float))
    total = float(w.sum())
    cov_b, cov_a = before <= thr, after <= thr

    def share(mask: np.ndarray) -> float:
        return float(w[mask].sum() / total) if total > 0 else math.nan

    return CoverageChange(thr, share(cov_b), share(cov_a), before, after, cov_b & ~cov_a)
