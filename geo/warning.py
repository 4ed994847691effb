"""Warning areas (buffer, road isochrone or polygon, EPSG:4326), the counties they touch, and the 叫应 call list."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.dispatch import circle
from geo.network import Network
from geo.routing import snap
from geo.zones import times_from

#: Longest warning buffer radius (metres) and isochrone (minutes) accepted.
MAX_RADIUS_M = 100_000
MAX_MINUTES = 180
_METRIC = 32651  # UTM 51N: the Yangtze River Delta lies across 115–123° E; used for the isochrone's margin


def buffer_area(lon: float, lat: float, radius_m: float) -> shapely.Polygon:
    """A disc of `radius_m` metres around the incident (EPSG:4326)."""
    if not 0 < radius_m <= MAX_RADIUS_M:
        msg = f"`radius_m` was {radius_m!r}; it must be more than 0 and at most {MAX_RADIUS_M:,} m."
        raise ValueError(msg)
    return circle(lon, lat, radius_m)


def isochrone_area(net: Network, lon: float, lat: float, minutes: float, *, margin_m: float = 150.0) -> shapely.Geometry:
    """The area reached by road from the incident within `minutes` (EPSG:4326).

    The hull (concave, ratio 0.3) of the network nodes reached in time, widened by
    `margin_m` metres in a metric CRS so roads at its edge stay inside.  Raises
    `geo.routing.OffNetwork` when the incident is too far from any road.
    """
    if not 0 < minutes <= MAX_MINUTES:
        msg = f"`minutes` was {minutes!r}; it must be more than 0 and at most {MAX_MINUTES}."
        raise ValueError(msg)
    s = snap(net, lon, lat)
    time_s = times_from(net, s, limit_s=minutes * 60.0)
    reached = np.flatnonzero(time_s <= minutes * 60.0)
    points = shapely.multipoints(np.column_stack([net.arrays["node_lon"][reached], net.arrays["node_lat"][reached]]))
    hull = gpd.GeoSeries([shapely.concave_hull(points, ratio=0.3)], crs=4326).to_crs(_METRIC).buffer(margin_m).to_crs(4326)
    return hull.iloc[0]


def polygon_area(text: str | bytes) -> shapely.Geometry:
    """A drawn or pasted warning polygon: GeoJSON (a geometry, Feature or FeatureCollection, WGS84) or WKT.

    Raises ValueError saying what is wrong when it is not a valid polygon.
    """
    raw = text.decode("utf-8-sig") if isinstance(text, bytes) else str(text)
    raw = raw.strip()
    if not raw:
        msg = "the polygon is empty; paste GeoJSON or WKT of a polygon."
        raise ValueError(msg)
    try:
        if raw.startswith("{"):
            obj = json.loads(raw)
            if obj.get("type") == "FeatureCollection":
                geoms = [shapely.geometry.shape(f["geometry"]) for f in obj.get("features", []) if f.get("geometry")]
                geom = shapely.union_all(geoms) if geoms else shapely.Polygon()
            else:
                geom = shapely.geometry.shape(obj.get("geometry", obj) if obj.get("type") == "Feature" else obj)
        else:
            geom = shapely.from_wkt(raw)
    except (ValueError, KeyError, TypeError, AttributeError, shapely.errors.GEOSException) as exc:
        msg = f"not readable as GeoJSON or WKT ({exc})."
        raise ValueError(msg) from exc
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        msg = f"it is a {geom.geom_type or 'nothing'}; a warning area must be a Polygon or MultiPolygon."
        raise ValueError(msg)
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
        msg = f"its coordinates {geom.bounds} are not longitude/latitude (WGS84)."
        raise ValueError(msg)
    return geom if geom.is_valid else shapely.make_valid(geom)


def affected_counties(area: shapely.Geometry, counties: gpd.GeoDataFrame) -> pd.DataFrame:
    """The counties (code, name) that `area` overlaps, largest share of the area first."""
    hit = counties[counties.intersects(area)]
    if hit.empty:
        return pd.DataFrame({"code": pd.Series(dtype=str), "name": pd.Series(dtype=str)})
    share = hit.to_crs(_METRIC).intersection(gpd.GeoSeries([area] * len(hit), index=hit.index, crs=4326).to_crs(_METRIC)).area
    return hit.assign(share=share.to_numpy()).sort_values("share", ascending=False)[["code", "name"]].reset_index(drop=True)


def call_list(county_codes: list[str], departments: list[str], contacts: pd.DataFrame) -> pd.DataFrame:
    """Whom to call (叫应) for a warning: the duty contact of each department in each county.

    Where a county has no contact for a department, the province's contact is called instead
    (``escalated`` True), once.  Columns: contact_id, unit, role, department, jurisdiction_code,
    duty_phone, escalated.
    """
    by_key = {(c, d): row for row in contacts.itertuples() for c, d in [(row.jurisdiction_code, row.department)]}
    rows, seen = [], set()
    for code in county_codes:
        for dept in departments:
            row, escalated = by_key.get((code, dept)), False
            if row is None:
                row, escalated = by_key.get((code[:2] + "0000", dept)), True
            if row is None or row.id in seen:
                continue
            seen.add(row.id)
            rows.append({"contact_id": row.id, "unit": row.unit, "role": row.role, "department": row.department,
                         "jurisdiction_code": row.jurisdiction_code, "duty_phone": row.duty_phone, "escalated": escalated})  # fmt: skip
    return pd.DataFrame(rows, columns=["contact_id", "unit", "role", "department", "jurisdiction_code", "duty_phone", "escalated"])
