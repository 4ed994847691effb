"""Select jurisdictions (province → city → county) and the features that lie in them."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

LEVELS = ("province", "city", "county")
#: Column of a feature table that holds its code at each level.
_CODE_COLUMN = {"province": "province_code", "city": "city_code", "county": "county_code"}


@dataclass(frozen=True)
class Area:
    """A selected jurisdiction (or the whole region when `code` is None)."""

    code: str | None
    level: str | None
    name: str
    bounds: tuple[float, float, float, float]  # minx, miny, maxx, maxy (EPSG:4326)


def select_area(jurisdictions: gpd.GeoDataFrame, *, province: str | None = None, city: str | None = None, county: str | None = None, region_name: str = "长三角") -> Area:
    """The most specific of `county`, `city`, `province` (admin codes) that is given, else the region.

    Raises
    ------
    ValueError
        If a code is not in `jurisdictions`, or a city/county is not inside the given parent.
    """
    by_code = jurisdictions.set_index("code")
    chosen = [(lvl, code) for lvl, code in (("province", province), ("city", city), ("county", county)) if code]
    for lvl, code in chosen:
        if code not in by_code.index or by_code.at[code, "level"] != lvl:
            msg = f"`{lvl}` was {code!r}, which is not a {lvl} code of the dataset."
            raise ValueError(msg)
    for (_, outer), (lvl, inner) in zip(chosen, chosen[1:]):
        if outer not in (by_code.at[inner, "parent_code"], by_code.at[inner, "province_code"]):
            msg = f"`{lvl}` {inner!r} is not inside {outer!r}."
            raise ValueError(msg)
    if not chosen:
        return Area(None, None, region_name, tuple(jurisdictions.total_bounds))
    lvl, code = chosen[-1]
    row = by_code.loc[code]
    return Area(code, lvl, str(row["name"]), tuple(row.geometry.bounds))


def in_area(features: pd.DataFrame, area: Area) -> pd.Series:
    """Boolean mask of `features` (with province/city/county code columns) inside `area`."""
    if area.code is None:
        return pd.Series(True, index=features.index)
    return features[_CODE_COLUMN[area.level]] == area.code


def children(jurisdictions: pd.DataFrame, parent: str | None, level: str) -> pd.DataFrame:
    """Jurisdictions of `level` whose parent is `parent` (all of that level when `parent` is None)."""
    if level not in LEVELS:
        msg = f"`level` was {level!r} but is expected to be in {LEVELS}."
        raise ValueError(msg)
    rows = jurisdictions[jurisdictions["level"] == level]
    if parent:
        rows = rows[rows["parent_code"] == parent]
    return rows.sort_values("code")


def filter_features(features: pd.DataFrame, area: Area, departments: list[str] | None = None) -> pd.DataFrame:
    """Rows of `features` inside `area` and, when given and the table has departments, of `departments`."""
    mask = in_area(features, area)
    if departments and "department" in features.columns:
        mask &= features["department"].isin(departments)
    return features[mask]


def headline_counts(teams: pd.DataFrame, stockpiles: pd.DataFrame, shelters: pd.DataFrame) -> dict[str, int]:
    """Counts shown above the map: teams and their members, stockpiles, shelters and their capacity.

    ``members`` sums the head counts that are known; ``teams_members_unknown`` counts the teams
    that give none (imported lists often do not), so the figure can say it is a lower bound.
    """
    return {
        "teams": len(teams),
        "members": int(teams["members"].sum()) if len(teams) else 0,
        "teams_members_unknown": int(teams["members"].isna().sum()) if len(teams) else 0,
        "stockpiles": len(stockpiles),
        "shelters": len(shelters),
        "shelter_capacity": int(shelters["capacity_persons"].sum()) if len(shelters) else 0,
    }


#: `near_view`'s box, times the area's size per side: the view the map frames plus a margin.
#: Outlines cost the browser drawing time without a GPU (BENCHMARKS.md, issue 13): at 3 a city
#: view sent 430–530 kB of county outlines and its main thread was busy 4.2–6.7 s, at 1.6
#: 150 kB and 2.0–2.5 s (1.6–1.8 s for a view sending none).
NEAR_FACTOR = 1.6


def near_view(
    jurisdictions: gpd.GeoDataFrame, bounds: tuple[float, float, float, float], *, factor: float = NEAR_FACTOR, simplify_m: float | None = None
) -> gpd.GeoDataFrame:
    """Jurisdictions that touch a box `factor` times the size of `bounds`, clipped to that box.

    Keeps a zoomed-in map light: only what can come into view near the area is sent to the
    browser.  `bounds` is (minx, miny, maxx, maxy) in EPSG:4326.

    With `simplify_m`, the clipped outlines of each level are simplified as a coverage
    (`shapely.coverage_simplify`) to about that many metres, so that neighbours still share
    their edges: pass the ground size of a screen pixel at the map's zoom.  The tolerance is
    converted at 111,320 m per degree, which is at most `simplify_m` along a meridian and less
    along a parallel.

    Raises
    ------
    ValueError
        If `simplify_m` is given and not a positive number.
    """
    if simplify_m is not None and not simplify_m > 0:
        msg = f"`simplify_m` was {simplify_m!r} but must be a positive number of metres (or None)."
        raise ValueError(msg)
    minx, miny, maxx, maxy = bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    hw, hh = (maxx - minx) * factor / 2, (maxy - miny) * factor / 2
    box = (cx - hw, cy - hh, cx + hw, cy + hh)
    near = jurisdictions[jurisdictions.intersects(shapely.box(*box))].copy()
    near["geometry"] = shapely.clip_by_rect(near.geometry.values, *box)
    near = near[~near.geometry.is_empty]
    if simplify_m is not None and len(near):
        tolerance_deg = simplify_m / _M_PER_DEG
        geoms = np.array(near.geometry.values, dtype=object)
        for level in near["level"].unique():
            mask = (near["level"] == level).to_numpy()
            geoms[mask] = shapely.coverage_simplify(geoms[mask], tolerance_deg)
        near["geometry"] = gpd.GeoSeries(geoms, index=near.index, crs=near.crs)
        near = near[~near.geometry.is_empty]
    return near


#: Metres per degree of latitude (and of longitude at the equator).
_M_PER_DEG = 111_320.0


#: Longest piece (degrees, about 100 m) a route is cut into before its pieces are located.
_ROUTE_STEP_DEG = 0.001


@dataclass(frozen=True)
class Crossing:
    """One stretch of a route inside one jurisdiction, in driving order."""

    code: str  # '' where the route runs outside every polygon (sea, outside the region)
    name: str
    time_s: float
    length_m: float
    enter_lon: float  # where the route enters this jurisdiction
    enter_lat: float


def crossings(coords, seg_time_s, polygons: gpd.GeoDataFrame, *, code: str = "code", name: str = "name") -> list[Crossing]:
    """The ordered jurisdictions a route passes, with time and length inside each.

    Parameters
    ----------
    coords : (n, 2) array
        Route vertices, lon/lat (EPSG:4326), in driving order.
    seg_time_s : (n - 1,) array
        Travel time (s) of each segment.
    polygons : GeoDataFrame
        Jurisdiction polygons (EPSG:4326) with columns `code` and `name`.
    """
    import numpy as np

    from geo.network import haversine_m

    if polygons.crs is None or polygons.crs.to_epsg() != 4326:
        msg = f"`polygons` must be in EPSG:4326, got {polygons.crs}; call .to_crs(4326) first."
        raise ValueError(msg)
    coords = np.asarray(coords, dtype=float)
    seg_time_s = np.asarray(seg_time_s, dtype=float)
    if len(coords) < 2 or len(seg_time_s) != len(coords) - 1:
        msg = f"`seg_time_s` must have one value per segment: {len(coords) - 1}, got {len(seg_time_s)}."
        raise ValueError(msg)
    # cut long segments so that each piece lies (almost) in one jurisdiction
    d = np.hypot(*np.diff(coords, axis=0).T)
    parts = np.maximum(1, np.ceil(d / _ROUTE_STEP_DEG).astype(int))
    seg = np.repeat(np.arange(len(d)), parts)
    k = np.arange(parts.sum()) - np.repeat(np.cumsum(parts) - parts, parts)
    t0, t1 = k / parts[seg], (k + 1) / parts[seg]
    a = coords[seg] + (coords[seg + 1] - coords[seg]) * t0[:, None]
    b = coords[seg] + (coords[seg + 1] - coords[seg]) * t1[:, None]
    piece_time = seg_time_s[seg] / parts[seg]
    piece_len = haversine_m(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    mid = shapely.points((a + b) / 2)
    # the points go into the tree and each polygon is a query: GEOS prepares the polygon once for
    # all the points in its box (ten times faster than a point-in-polygon test per point against
    # full-detail outlines), and the shared, cached polygons are never prepared in place
    poly_idx, pt_idx = shapely.STRtree(mid).query(polygons.geometry.values, predicate="contains")
    order = np.lexsort((poly_idx, pt_idx))  # where polygons overlap, the last one wins, as ever
    where = np.full(len(mid), -1)
    where[pt_idx[order]] = poly_idx[order]
    codes = polygons[code].to_numpy()
    names = polygons[name].to_numpy()
    out: list[Crossing] = []
    start = 0
    for i in range(1, len(where) + 1):
        if i == len(where) or where[i] != where[start]:
            j = where[start]
            out.append(
                Crossing(
                    str(codes[j]) if j >= 0 else "",
                    str(names[j]) if j >= 0 else "",
                    float(piece_time[start:i].sum()),
                    float(piece_len[start:i].sum()),
                    float(a[start, 0]),
                    float(a[start, 1]),
                )
            )
            start = i
    return out


def notify_list(crossed: list[Crossing], contacts: pd.DataFrame, *, home: str | None = None, departments: tuple[str, ...] = ("emergency", "police", "transport")) -> pd.DataFrame:
    """Duty contacts to notify for a route: the `departments` of every crossed jurisdiction and its province.

    `home` is the incident's county code; rows outside it (and its province) are marked
    ``cross_border`` (跨界): they need priority passage or mutual aid.
    """
    order: list[str] = []
    for c in crossed:
        for code in (c.code, c.code[:2] + "0000" if c.code else ""):
            if code and code not in order:
                order.append(code)
    rows = contacts[contacts["jurisdiction_code"].isin(order) & contacts["department"].isin(departments)].copy()
    rows["order"] = rows["jurisdiction_code"].map({c: i for i, c in enumerate(order)})
    home_codes = {home, home[:2] + "0000"} if home else set()
    rows["cross_border"] = ~rows["jurisdiction_code"].isin(home_codes) if home else False
    return rows.sort_values(["order", "department"]).drop(columns="order").reset_index(drop=True)
