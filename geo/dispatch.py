"""Dispatch support: the fastest resources to an incident, their routes, borders crossed, whom to notify."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.affinity

from geo.jurisdiction import Crossing, crossings, notify_list
from geo.nearest import nearest, prepare
from geo.network import Network
from geo.routing import blocked_edges, snap

#: On-scene target of the source documents: 30 minutes.
ON_SCENE_TARGET_S = 30 * 60
#: Departments told of a route through their jurisdiction (priority passage, mutual aid).
NOTIFY_DEPARTMENTS = ("emergency", "police", "transport")


@dataclass
class Dispatch:
    """Answer for one incident: ranked resources with routes, crossings and the notify list."""

    incident: tuple[float, float]
    incident_county: str
    snap_distance_m: float
    estimate: bool
    ranked: pd.DataFrame  # one row per resource, fastest first
    routes: list[np.ndarray] = field(repr=False)  # lon/lat coords per ranked row
    crossed: list[list[Crossing]] = field(repr=False)
    notify: pd.DataFrame = field(repr=False)
    closures_in_force: list[str] = field(default_factory=list)
    closed_edges: int = 0
    off_network: dict[str, float] = field(default_factory=dict)


def county_of(counties: gpd.GeoDataFrame, lon: float, lat: float) -> str:
    """Code of the county containing a lon/lat point ('' outside every county)."""
    hit = counties[counties.contains(shapely.Point(lon, lat))]
    return str(hit["code"].iloc[0]) if len(hit) else ""


def dispatch(
    net: Network,
    incident: tuple[float, float],
    resources: gpd.GeoDataFrame,
    *,
    counties: gpd.GeoDataFrame,
    contacts: pd.DataFrame,
    k: int = 5,
    closures: list | None = None,
    closure_names: list[str] | None = None,
) -> Dispatch:
    """Rank `resources` (points, EPSG:4326, with `id`) by road travel time to `incident`.

    Each ranked row carries ETA, length, the part of the ETA spent on the access legs between
    the points and the road (`access_s`), whether it meets the 30-minute target, and the
    ordered counties its route crosses; the notify list holds the duty contacts of every
    crossed county and province (cross-border ones flagged).  `closures` (polygons) are
    avoided; the answer names those that closed at least one road.

    Raises
    ------
    geo.routing.OffNetwork
        If the incident is farther from the network than its snap limit.
    """
    closures = list(closures or [])
    names = list(closure_names or [f"#{i + 1}" for i in range(len(closures))])
    blocked = blocked_edges(net, closures) if closures else None
    in_force = [n for p, n in zip(closures, names, strict=True) if blocked_edges(net, [p]).any()] if closures else []
    target = snap(net, *incident, blocked=blocked)
    prepared = prepare(net, resources["id"].tolist(), resources.geometry.x.to_numpy(), resources.geometry.y.to_numpy())
    answers = nearest(net, incident, prepared, k=k, blocked=blocked)
    home = county_of(counties, *incident)
    by_id = resources.set_index("id")
    rows, routes, crossed_all = [], [], []
    for rank, a in enumerate(answers, start=1):
        crossed = crossings(a.route.coords, a.route.seg_time_s, counties)
        crossed = [c for c in crossed if c.code] or crossed
        rec = by_id.loc[a.id]
        rows.append(
            {
                "rank": rank,
                "id": a.id,
                "name": rec.get("name", a.id),
                "kind": rec.get("kind", ""),
                "department": rec.get("department", ""),
                "owner": rec.get("owner", ""),
                "county_code": rec.get("county_code", ""),
                "eta_s": a.travel_time_s,
                "length_m": a.length_m,
                # the part of the ETA spent on the access legs (point ↔ road) at both ends
                "access_s": a.route.origin.access_time_s + a.route.destination.access_time_s,
                "within_target": a.travel_time_s <= ON_SCENE_TARGET_S,
                "crosses": [c.name for c in crossed],
                "provinces": list(dict.fromkeys(c.code[:2] + "0000" for c in crossed if c.code)),
                "cross_border": any(c.code and c.code != home for c in crossed),
                "estimate": net.estimate,
            }
        )
        routes.append(a.route.coords)
        crossed_all.append(crossed)
    notify = notify_list([c for cs in crossed_all for c in cs], contacts, home=home or None, departments=NOTIFY_DEPARTMENTS)
    return Dispatch(
        incident=incident,
        incident_county=home,
        snap_distance_m=target.distance_m,
        estimate=net.estimate,
        ranked=pd.DataFrame(rows),
        routes=routes,
        crossed=crossed_all,
        notify=notify,
        closures_in_force=in_force,
        closed_edges=int(blocked.sum()) if blocked is not None else 0,
        off_network=prepared.off_network,
    )


def circle(lon: float, lat: float, radius_m: float) -> shapely.Polygon:
    """A closure disc of `radius_m` metres around a lon/lat point (EPSG:4326)."""
    if not radius_m > 0:
        msg = f"`radius_m` was {radius_m!r}; it must be positive."
        raise ValueError(msg)
    dlat = radius_m / 111_195.0
    dlon = dlat / max(np.cos(np.radians(lat)), 1e-6)
    unit = shapely.Point(0, 0).buffer(1.0, quad_segs=16)
    return shapely.affinity.affine_transform(unit, [dlon, 0, 0, dlat, lon, lat])


def near_view_box(bounds: tuple[float, float, float, float], *, wide: float = 2.0, tall: float = 1.5) -> tuple[float, float, float, float]:
    """`bounds` grown about its centre (`wide` × in longitude, `tall` × in latitude): what a wide map shows."""
    minx, miny, maxx, maxy = bounds
    cx, cy, hw, hh = (minx + maxx) / 2, (miny + maxy) / 2, (maxx - minx) * wide / 2, (maxy - miny) * tall / 2
    return (cx - hw, cy - hh, cx + hw, cy + hh)


def hex_grid(bounds: tuple[float, float, float, float], *, cells_across: int = 36) -> pd.DataFrame:
    """Centres of a hexagonal lattice over lon/lat `bounds`, for picking a map position by click."""
    minx, miny, maxx, maxy = bounds
    step = (maxx - minx) / cells_across
    dy = step * np.sqrt(3) / 2 * np.cos(np.radians((miny + maxy) / 2))
    rows = int((maxy - miny) / dy) + 1
    xs, ys = [], []
    for r in range(rows):
        x = minx + (step / 2 if r % 2 else 0.0) + np.arange(cells_across) * step
        xs.append(x)
        ys.append(np.full(len(x), miny + r * dy))
    x, y = np.concatenate(xs), np.concatenate(ys)
    return pd.DataFrame({"lon": x, "lat": y, "radius_m": step * 111_195.0 * np.cos(np.radians(y)) / np.sqrt(3)})


class ClosureError(ValueError):
    """A closure file that cannot be used, with a `code` and `params` for a localized message.

    `code` is 'unreadable' (not readable as GeoJSON), 'no_geometry' (no feature has a
    geometry) or 'not_polygons' (it holds other geometries; ``params["found"]`` lists their
    types, e.g. ``['LineString', 'Point']``).  ``str(exc)`` is an English sentence for logs and
    the command line; pages show a message chosen by `code` (`layers.dispatch.closure_message`).
    """

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def _blank(value: object) -> bool:
    """None, NaN or a blank text: a closure without a usable name."""
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""


def read_closures(source, *, crs: str = "wgs84") -> tuple[list, list[str]]:
    """Closure polygons (WGS84) and their names from GeoJSON (a path or bytes).

    Names come from a ``name`` property where present and not blank, else ``#1``, ``#2`` …
    by position in the file.

    Raises
    ------
    ClosureError
        When the file cannot be read or holds anything but polygons (see its `code`).
    """
    import io

    from geo import crs as gcrs

    try:
        gdf = gpd.read_file(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Exception as exc:  # noqa: BLE001 (pyogrio raises several types for unreadable input)
        msg = f"not readable as GeoJSON ({type(exc).__name__}: {exc})"
        raise ClosureError("unreadable", msg) from exc
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if gdf.empty:
        msg = "it holds no geometry"
        raise ClosureError("no_geometry", msg)
    polygonal = gdf.geom_type.isin(["Polygon", "MultiPolygon"])
    if not polygonal.all():
        msg = f"it must hold polygons only; found {sorted(set(gdf.geom_type))}"
        raise ClosureError("not_polygons", msg, found=sorted(set(gdf.geom_type[~polygonal])))
    if gdf.crs is not None and gdf.crs.to_epsg() not in (4326, 4490):
        gdf = gdf.to_crs(4326)
    geoms = gdf.geometry.values
    if crs != "wgs84":
        geoms = gcrs.transform_geometry(geoms, {"gcj02": gcrs.gcj02_to_wgs84, "bd09": gcrs.bd09_to_wgs84}[crs])
    given = gdf["name"].tolist() if "name" in gdf.columns else [None] * len(gdf)
    names = [f"#{i}" if _blank(n) else str(n) for i, n in enumerate(given, start=1)]
    return list(shapely.make_valid(np.asarray(geoms))), names
