"""Layers and tables of the zones & coverage page: zones per facility, isochrones, mutual aid, gaps."""

from __future__ import annotations

import colorsys

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk
import shapely

from layers.labels import t

_DECIMALS = 5
#: Isochrone band colours, nearest first (green → amber → red).
BAND_COLOURS = [(26, 152, 80, 110), (254, 224, 139, 110), (215, 48, 39, 90), (120, 120, 120, 70)]


def palette(n: int) -> list[list[int]]:
    """`n` distinguishable colours (golden-angle hues)."""
    return [[int(255 * c) for c in colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.55, 0.92)] + [120] for i in range(n)]


def _features(gdf: gpd.GeoDataFrame, props: list[dict]) -> dict:
    feats = []
    for geom, p in zip(gdf.geometry, props, strict=True):
        if geom is None or geom.is_empty:
            continue
        g = shapely.transform(geom, lambda c: np.round(c, _DECIMALS))
        feats.append({"type": "Feature", "geometry": g.__geo_interface__, "properties": p})
    return {"type": "FeatureCollection", "features": feats}


def zones_layer(zones: gpd.GeoDataFrame, lang: str) -> pdk.Layer:
    """Responsibility zones, one colour per facility."""
    colours = palette(len(zones))
    props = [
        {"fill": colours[i], "tooltip": f"{t('zon.zone_of', lang)}: {r['name']}\n{t('col.owner', lang)}: {r.get('owner', '')}\n{t('col.county', lang)}: {r.get('county_name', '')}"}
        for i, (_, r) in enumerate(zones.iterrows())
    ]
    return pdk.Layer("GeoJsonLayer", id="zones", data=_features(zones, props), filled=True, stroked=True, get_fill_color="properties.fill", get_line_color=[60, 60, 60, 160], line_width_min_pixels=1, pickable=True)


def isochrone_layer(iso: gpd.GeoDataFrame, lang: str, *, layer_id: str = "isochrones") -> pdk.Layer:
    """Service-area bands, the widest drawn first."""
    iso = iso.sort_values("break_min", ascending=False)
    n = len(iso)
    props = [{"fill": list(BAND_COLOURS[min(n - 1 - i, len(BAND_COLOURS) - 1)]), "tooltip": t("zon.within", lang, minutes=int(b))} for i, b in enumerate(iso["break_min"])]
    return pdk.Layer("GeoJsonLayer", id=layer_id, data=_features(iso, props), filled=True, stroked=True, get_fill_color="properties.fill", get_line_color=[80, 80, 80, 200], line_width_min_pixels=1, pickable=True)


def mutual_aid_layer(cells: gpd.GeoDataFrame, lang: str) -> pdk.Layer:
    props = [{"tooltip": t("zon.aid_tip", lang, county=r["county_name"], by=r["by_county_name"])} for _, r in cells.iterrows()]
    return pdk.Layer("GeoJsonLayer", id="mutual-aid", data=_features(cells, props), filled=True, stroked=True, get_fill_color=[200, 30, 30, 110], get_line_color=[160, 0, 0, 255], line_width_min_pixels=2, pickable=True)


def points_layer(df: pd.DataFrame, layer_id: str, colour: list[int], tooltip: pd.Series, *, radius_px: int = 5) -> pdk.Layer:
    data = pd.DataFrame({"lon": df.geometry.x.round(_DECIMALS), "lat": df.geometry.y.round(_DECIMALS), "tooltip": tooltip.to_numpy()})
    return pdk.Layer(
        "ScatterplotLayer", id=layer_id, data=data, get_position=["lon", "lat"], get_fill_color=colour, get_line_color=[255, 255, 255, 255],
        stroked=True, line_width_min_pixels=1, get_radius=1, radius_min_pixels=radius_px, radius_max_pixels=radius_px, pickable=True,
    )  # fmt: skip


def zone_table(zones: gpd.GeoDataFrame, lang: str) -> pd.DataFrame:
    area = zones.to_crs("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +ellps=WGS84").area / 1e6
    return pd.DataFrame({t("col.name", lang): zones["name"], t("col.owner", lang): zones.get("owner", ""), t("col.county", lang): zones.get("county_name", ""), t("zon.nodes", lang): zones["nodes"], t("zon.area_km2", lang): area.round(1)})


def aid_table(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            t("zon.county", lang): table["county_name"],
            t("zon.served_by", lang): table["by_county_name"],
            t("zon.nodes", lang): table["nodes"],
            t("zon.saved_min", lang): table["median_saved_min"].where(np.isfinite(table["median_saved_min"])).round(1),  # blank: no own team reaches
            t("zon.no_own", lang): table["no_own_facility"],
        }
    )


def coverage_table(ind: pd.DataFrame, names: dict[str, str], lang: str) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            t("zon.county", lang): [t("zon.all", lang) if c == "ALL" else names.get(c, c) for c in ind["county_code"]],
            t("zon.places", lang): ind["points"],
            t("zon.covered", lang): ind["covered"],
            t("zon.share", lang): (ind["share"] * 100).round(1),
        }
    )
    if "population_share" in ind:
        out[t("zon.pop_share", lang)] = (ind["population_share"] * 100).round(1)
    return out


_COMPARE_ROWS = {
    "open_sites": ("pln.row_sites", 1.0, 0),
    "covered_share": ("pln.row_share", 100.0, 2),
    "covered_weight": ("pln.row_covered", 1.0, 0),
    "uncovered_weight": ("pln.row_uncovered", 1.0, 0),
    "unreachable_weight": ("pln.row_unreachable", 1.0, 0),
    "mean_time_s": ("pln.row_mean", 1 / 60, 1),
    "max_time_s": ("pln.row_max", 1 / 60, 1),
}


def compare_table(compare: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Before/after indicators with translated, unit-converted rows (shares in %, times in minutes)."""
    rows = []
    for key, (label, scale, digits) in _COMPARE_ROWS.items():
        if key in compare.index:
            r = compare.loc[key]
            rows.append({t("pln.indicator", lang): t(label, lang), **{t(f"pln.{c}", lang): round(float(r[c]) * scale, digits) for c in ("before", "after", "change")}})
    return pd.DataFrame(rows)
