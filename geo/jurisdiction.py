"""Select jurisdictions (province → city → county) and the features that lie in them."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
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
    """Counts shown above the map: teams and their members, stockpiles, shelters and their capacity."""
    return {
        "teams": len(teams),
        "members": int(teams["members"].sum()) if len(teams) else 0,
        "stockpiles": len(stockpiles),
        "shelters": len(shelters),
        "shelter_capacity": int(shelters["capacity_persons"].sum()) if len(shelters) else 0,
    }


def near_view(jurisdictions: gpd.GeoDataFrame, bounds: tuple[float, float, float, float], *, factor: float = 3.0) -> gpd.GeoDataFrame:
    """Jurisdictions that touch a box `factor` times the size of `bounds`, clipped to that box.

    Keeps a zoomed-in map light: only what can come into view near the area is sent to the
    browser.  `bounds` is (minx, miny, maxx, maxy) in EPSG:4326.
    """
    minx, miny, maxx, maxy = bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    hw, hh = (maxx - minx) * factor / 2, (maxy - miny) * factor / 2
    box = (cx - hw, cy - hh, cx + hw, cy + hh)
    near = jurisdictions[jurisdictions.intersects(shapely.box(*box))].copy()
    near["geometry"] = shapely.clip_by_rect(near.geometry.values, *box)
    return near[~near.geometry.is_empty]
