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


def lost_layer(lost, lang: str, *, minutes: int) -> pdk.Layer:
    """The area that loses coverage when bases are out of service (red)."""
    gdf = gpd.GeoDataFrame(geometry=[lost], crs=4326)
    return pdk.Layer("GeoJsonLayer", id="lost-coverage", data=_features(gdf, [{"tooltip": t("zon.lost_tip", lang, minutes=minutes)}]), filled=True, stroked=True, get_fill_color=[220, 20, 20, 150], get_line_color=[150, 0, 0, 255], line_width_min_pixels=2, pickable=True)


def mutual_aid_layer(cells: gpd.GeoDataFrame, lang: str) -> pdk.Layer:
    props = [{"tooltip": t("zon.aid_tip", lang, county=r["county_name"], by=r["by_county_name"])} for _, r in cells.iterrows()]
    return pdk.Layer("GeoJsonLayer", id="mutual-aid", data=_features(cells, props), filled=True, stroked=True, get_fill_color=[200, 30, 30, 110], get_line_color=[160, 0, 0, 255], line_width_min_pixels=2, pickable=True)


def points_layer(df: pd.DataFrame, layer_id: str, colour: list[int], tooltip: pd.Series, *, radius_px: int = 5) -> pdk.Layer:
    data = pd.DataFrame({"lon": df.geometry.x.round(_DECIMALS), "lat": df.geometry.y.round(_DECIMALS), "tooltip": tooltip.to_numpy()})
    return pdk.Layer(
        "ScatterplotLayer", id=layer_id, data=data, get_position=["lon", "lat"], get_fill_color=colour, get_line_color=[255, 255, 255, 255],
        stroked=True, line_width_min_pixels=1, get_radius=1, radius_min_pixels=radius_px, radius_max_pixels=radius_px, pickable=True,
    )  # fmt: skip


def demand_caption(demand, lang: str) -> str:
    """What the demand is and its unit, in words (a `geo.coverage.Demand`)."""
    if demand.kind == "territory":
        return t("dem.about_territory", lang, cells=len(demand), spacing=demand.spacing_m / 1000, km2=demand.total)
    if demand.kind == "nodes":
        return t("dem.about_nodes", lang, n=len(demand))
    return t("dem.about_population", lang, n=len(demand), people=demand.total, unknown=demand.unknown, nested=demand.nested)


def zone_note(row, names: list[str], lang: str, *, snap_limit_m: float = 0.0) -> str:
    """Why a zone has no area, in words ('—' for an ordinary zone)."""
    status = row.get("status", "ok")
    if status == "off_network":
        return t("zon.st_off", lang, km=row["snap_distance_m"] / 1000 if np.isfinite(row["snap_distance_m"]) else float("inf"), limit=snap_limit_m / 1000)
    if status == "outranked":
        other = int(row.get("first_other", -1))
        return t("zon.st_outranked", lang, other=names[other] if 0 <= other < len(names) else "—")
    if status == "outside":
        return t("zon.st_outside", lang)
    return "—"


def zone_table(zones: gpd.GeoDataFrame, lang: str, *, snap_limit_m: float = 0.0) -> pd.DataFrame:
    """Zones per facility: nodes in the area, area (km², '—' where it has no zone there) and why not."""
    names = zones["name"].astype(str).tolist()
    ok = zones["status"].eq("ok") if "status" in zones else pd.Series(True, index=zones.index)
    area = [fmt_number(a, 1) if good else "—" for a, good in zip(zones["area_km2"], ok, strict=True)]
    return pd.DataFrame(
        {
            t("col.name", lang): zones["name"],
            t("col.owner", lang): _text(zones.get("owner")),
            t("col.county", lang): _text(zones.get("county_name")),
            t("zon.nodes", lang): zones["nodes_in_area"] if "nodes_in_area" in zones else zones["nodes"],
            t("zon.area_km2", lang): area,
            t("zon.status", lang): [zone_note(r, names, lang, snap_limit_m=snap_limit_m) for _, r in zones.iterrows()],
        }
    )


def _text(values) -> list[str]:
    """Strings for a table column: '—' for None, NaN or empty."""
    if values is None:
        return []
    return ["—" if v is None or (isinstance(v, float) and not np.isfinite(v)) or str(v).strip() == "" else str(v) for v in values]


def aid_table(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Mutual-aid pairs; '—' where no own-county team reaches (no minutes saved to give)."""
    return pd.DataFrame(
        {
            t("zon.county", lang): _text(table["county_name"]),
            t("zon.served_by", lang): _text(table["by_county_name"]),
            t("zon.nodes", lang): table["nodes"],
            t("zon.saved_min", lang): [fmt_number(v, 1) for v in table["median_saved_min"]],
            t("zon.no_own", lang): table["no_own_facility"],
        }
    )


def coverage_table(ind: pd.DataFrame, names: dict[str, str], lang: str, *, unit: str = "km2", after: pd.DataFrame | None = None) -> pd.DataFrame:
    """Coverage per county and overall, by demand weight in `unit`: covered, reached late, no road, share.

    With `after` (the same indicators with bases out of service), a column of the share after.
    """
    u = t(f"unit.{unit}", lang)
    digits = UNIT_DECIMALS.get(unit, 1)
    weighted = "weight" in ind
    col = (lambda c: f"{c}_weight") if weighted else (lambda c: c)
    total = ind["weight"] if weighted else ind["points"]
    share = ind["weight_share"] if weighted else ind["share"]
    out = pd.DataFrame(
        {
            t("zon.county", lang): [t("zon.all", lang) if c == "ALL" else names.get(c, c) if c else "—" for c in ind["county_code"]],
            t("zon.demand_total", lang, unit=u): [fmt_number(v, digits) for v in total],
            t("zon.covered", lang): [fmt_number(v, digits) for v in ind[col("covered")]],
            t("zon.beyond", lang): [fmt_number(v, digits) for v in ind[col("beyond")]],
            t("zon.no_road", lang): [fmt_number(v, digits) for v in ind[col("no_road")]],
            t("zon.share", lang): (share * 100).round(1),
        }
    )
    if after is not None:
        a_share = dict(zip(after["county_code"], (after["weight_share"] if "weight_share" in after else after["share"]) * 100, strict=True))
        out[t("zon.share_after", lang)] = [round(float(a_share.get(c, 0.0)), 1) for c in ind["county_code"]]
    return out


#: Before/after rows: indicator -> (label key, scale, decimals); None decimals: by the demand's unit.
_COMPARE_ROWS = {
    "open_sites": ("pln.row_sites", 1.0, 0),
    "covered_share": ("pln.row_share_of", 100.0, 1),
    "covered_weight": ("pln.row_covered_of", 1.0, None),
    "beyond_weight": ("pln.row_beyond_of", 1.0, None),
    "unreachable_weight": ("pln.row_no_road_of", 1.0, None),
    "mean_time_s": ("pln.row_mean", 1 / 60, 1),
    "max_time_s": ("pln.row_max", 1 / 60, 1),
}
#: Decimals of demand weights by unit.
UNIT_DECIMALS = {"km2": 1, "nodes": 0, "people": 0}


def fmt_number(value, digits: int = 0) -> str:
    """`value` with thousands separators and `digits` decimals, or '—' where there is none (None, NaN, inf)."""
    if value is None or not np.isfinite(float(value)):
        return "—"
    rounded = round(float(value), digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{rounded:,.{digits}f}"


def compare_table(compare: pd.DataFrame, lang: str, *, unit: str = "people") -> pd.DataFrame:
    """Before/after indicators with translated, unit-converted rows (shares in %, times in minutes, weights in `unit`)."""
    unit_label = t(f"unit.{unit}", lang)
    rows = []
    for key, (label, scale, digits) in _COMPARE_ROWS.items():
        if key in compare.index:
            r = compare.loc[key]
            d = UNIT_DECIMALS.get(unit, 1) if digits is None else digits
            rows.append({t("pln.indicator", lang): t(label, lang, unit=unit_label), **{t(f"pln.{c}", lang): fmt_number(float(r[c]) * scale, d) for c in ("before", "after", "change")}})
    return pd.DataFrame(rows)


# ---- townships (乡镇/街道): the seeds' indicators per township -----------------------------------

#: Township fill by its gaps (`geo.township.gaps` reasons): both targets met, no team, not covered, both short.
TOWN_COLOURS: dict[tuple[str, ...], tuple[int, int, int, int]] = {
    (): (26, 152, 80, 45),
    ("no_team",): (245, 140, 30, 120),
    ("not_covered",): (215, 48, 39, 110),
    ("no_team", "not_covered"): (130, 40, 150, 130),
}
_TOWN_LINE = [60, 60, 60, 200]


def _met(values, lang: str) -> list[str]:
    return [t("zon.town_yes" if bool(v) else "zon.town_no", lang) for v in values]


def _share_pct(values) -> list[float | None]:
    """Coverage shares as percentages to 0.1 (None where a township has no demand)."""
    return [round(float(v) * 100, 1) if np.isfinite(float(v)) else None for v in values]


def town_table(table: pd.DataFrame, lang: str, *, minutes: int) -> pd.DataFrame:
    """Both indicators per township (`geo.township.township_indicators`): teams and their target, area, coverage and its target."""
    return pd.DataFrame(
        {
            t("zon.town_name", lang): _text(table["name"]),
            t("zon.town_code", lang): _text(table["code"]),
            t("zon.county", lang): _text(table["county"]) if "county" in table else ["—"] * len(table),
            t("zon.town_teams", lang): table["teams"].astype(int).to_numpy(),
            t("zon.town_teams_ok", lang): _met(table["teams_ok"], lang),
            t("zon.town_area", lang): [fmt_number(v, 2) for v in table["area_km2"]],
            t("zon.town_share", lang, minutes=minutes): _share_pct(table["coverage_share"]),
            t("zon.town_cover_ok", lang): _met(table["coverage_ok"], lang),
        }
    )


def town_gap_table(gap: pd.DataFrame, lang: str, *, minutes: int) -> pd.DataFrame:
    """The townships short of a target (`geo.township.gaps`) with what they lack, in `lang`."""
    sep = "；" if lang == "zh" else "; "
    return pd.DataFrame(
        {
            t("zon.town_name", lang): _text(gap["name"]),
            t("zon.county", lang): _text(gap["county"]),
            t("zon.town_reasons", lang): [sep.join(t(f"town.gap.{r}", lang) for r in reasons) for reasons in gap["reasons"]],
            t("zon.town_teams", lang): gap["teams"].astype(int).to_numpy(),
            t("zon.town_share", lang, minutes=minutes): _share_pct(gap["coverage_share"]),
            t("zon.town_uncovered", lang): [fmt_number(v, 2) for v in gap["uncovered_km2"]],
            t("zon.town_no_road", lang): gap["no_road"].astype(int).to_numpy(),
        }
    )


def township_gap_layer(townships: gpd.GeoDataFrame, table: pd.DataFrame, gap: pd.DataFrame, lang: str, *, minutes: int) -> pdk.Layer:
    """Township outlines (EPSG:4326, ``code``) coloured by their gaps (`TOWN_COLOURS`), with name, county, teams and coverage as tooltips.

    `table` and `gap` are `geo.township.township_indicators` and `geo.township.gaps` of these townships (matched by ``code``).
    """
    rows = table.set_index("code")
    reasons = dict(zip(gap["code"], gap["reasons"], strict=True))
    props = []
    for code in townships["code"]:
        r = rows.loc[code]
        share = float(r["coverage_share"])
        tip = t("zon.town_tip", lang, name=r["name"], county=r.get("county", "") or "—", teams=int(r["teams"]), minutes=minutes, share=f"{share * 100:.1f}" if np.isfinite(share) else "—")
        fill = TOWN_COLOURS.get(tuple(reasons.get(code, ())), TOWN_COLOURS[("no_team", "not_covered")])
        props.append({"fill": list(fill), "tooltip": tip})
    return pdk.Layer(
        "GeoJsonLayer", id="townships", data=_features(townships, props), filled=True, stroked=True, get_fill_color="properties.fill",
        get_line_color=_TOWN_LINE, line_width_min_pixels=1, pickable=True,
    )  # fmt: skip
