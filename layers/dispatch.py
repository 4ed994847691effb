"""Layers and tables of the dispatch page: incident, routes per resource, closures, click-to-pick grid."""

from __future__ import annotations

import pandas as pd
import pydeck as pdk
import shapely

from layers.labels import label_or, t

#: One colour per rank (routes and markers), then repeated.
ROUTE_COLOURS = [(214, 39, 40), (31, 119, 180), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207), (140, 86, 75), (227, 119, 194)]
PICK_LAYER_ID = "pick-hex"
_DECIMALS = 6


def _colour(rank: int) -> list[int]:
    return [*ROUTE_COLOURS[(rank - 1) % len(ROUTE_COLOURS)], 230]


def estimate_mark(estimate: bool, lang: str) -> str:
    """'估算' where an answer comes from the approximate network."""
    return t("dis.estimate", lang) if estimate else ""


def incident_layer(lon: float, lat: float, lang: str) -> pdk.Layer:
    return pdk.Layer(
        "ScatterplotLayer",
        id="incident",
        data=[{"lon": round(lon, _DECIMALS), "lat": round(lat, _DECIMALS), "tooltip": t("dis.incident", lang)}],
        get_position=["lon", "lat"],
        get_fill_color=[20, 20, 20, 255],
        get_line_color=[255, 255, 255, 255],
        stroked=True,
        line_width_min_pixels=2,
        get_radius=1,
        radius_min_pixels=10,
        radius_max_pixels=10,
        pickable=True,
    )


def route_layer(ranked: pd.DataFrame, routes: list, lang: str) -> pdk.Layer:
    """One path per ranked resource, coloured by rank, widest for the fastest."""
    rows = []
    for (_, r), coords in zip(ranked.iterrows(), routes, strict=True):
        mins = r["eta_s"] / 60
        tip = f"{int(r['rank'])}. {r['name']}\n{t('dis.eta', lang)}: {mins:.1f} {t('dis.min', lang)}"
        if r["estimate"]:
            tip += f" ({t('dis.estimate', lang)})"
        tip += f"\n{t('dis.crosses', lang)}: {' → '.join(r['crosses'])}"
        rows.append({"path": [[round(x, _DECIMALS), round(y, _DECIMALS)] for x, y in coords], "colour": _colour(int(r["rank"])), "width": 60 if r["rank"] == 1 else 30, "tooltip": tip})
    return pdk.Layer(
        "PathLayer",
        id="routes",
        data=rows,
        get_path="path",
        get_color="colour",
        get_width="width",  # metres, clamped to pixels below (pydeck reads a bare "pixels" as an expression)
        width_min_pixels=4,
        width_max_pixels=7,
        cap_rounded=True,
        joint_rounded=True,
        pickable=True,
    )


def resource_layer(ranked: pd.DataFrame, resources: pd.DataFrame, lang: str) -> pdk.Layer:
    """The ranked resources as numbered markers."""
    pos = resources.set_index("id").geometry
    data = [
        {
            "lon": round(pos[r["id"]].x, _DECIMALS),
            "lat": round(pos[r["id"]].y, _DECIMALS),
            "colour": _colour(int(r["rank"])),
            "tooltip": f"{int(r['rank'])}. {r['name']}\n{label_or('kind', r['kind'], lang)} · {label_or('dept', r['department'], lang)}\n{r['owner']}",
        }
        for _, r in ranked.iterrows()
    ]
    return pdk.Layer(
        "ScatterplotLayer",
        id="ranked",
        data=data,
        get_position=["lon", "lat"],
        get_fill_color="colour",
        get_line_color=[255, 255, 255, 255],
        stroked=True,
        line_width_min_pixels=2,
        get_radius=1,
        radius_min_pixels=8,
        radius_max_pixels=8,
        pickable=True,
    )


def closure_layer(polygons: list, names: list[str], lang: str) -> pdk.Layer:
    data = [
        {"polygon": [[round(x, _DECIMALS), round(y, _DECIMALS)] for x, y in shapely.get_coordinates(p.exterior if hasattr(p, "exterior") else shapely.convex_hull(p).exterior)], "tooltip": f"{t('dis.closure', lang)}: {n}"}
        for p, n in zip(polygons, names, strict=True)
    ]
    return pdk.Layer(
        "PolygonLayer",
        id="closures",
        data=data,
        get_polygon="polygon",
        get_fill_color=[30, 90, 200, 90],
        get_line_color=[30, 90, 200, 255],
        line_width_min_pixels=2,
        stroked=True,
        filled=True,
        pickable=True,
    )


def pick_layer(hexes: pd.DataFrame, lang: str) -> pdk.Layer:
    """A faint hexagon grid: clicking a cell sets the incident (or a closure) there."""
    data = hexes.assign(lon=hexes["lon"].round(_DECIMALS), lat=hexes["lat"].round(_DECIMALS), tooltip=t("dis.click_here", lang))
    return pdk.Layer(
        "ColumnLayer",
        id=PICK_LAYER_ID,
        data=data,
        get_position=["lon", "lat"],
        radius=float(hexes["radius_m"].mean()) if len(hexes) else 100.0,
        disk_resolution=6,
        extruded=False,
        get_fill_color=[120, 120, 120, 18],
        get_line_color=[120, 120, 120, 60],
        stroked=True,
        line_width_min_pixels=0.5,
        pickable=True,
        auto_highlight=True,
        highlight_color=[255, 200, 0, 120],
    )


def ranked_table(ranked: pd.DataFrame, lang: str, names: dict[str, str] | None = None) -> pd.DataFrame:
    """The ranked resources with translated columns for display."""
    if ranked.empty:
        return pd.DataFrame()
    ok, late = t("dis.yes", lang), t("dis.no", lang)
    return pd.DataFrame(
        {
            t("dis.rank", lang): ranked["rank"],
            t("col.name", lang): ranked["name"],
            t("col.kind", lang): [label_or("kind", k, lang) for k in ranked["kind"]],
            t("col.department", lang): [label_or("dept", d, lang) for d in ranked["department"]],
            t("col.owner", lang): ranked["owner"],
            t("dis.eta_min", lang): (ranked["eta_s"] / 60).round(1),
            t("dis.length_km", lang): (ranked["length_m"] / 1000).round(2),
            t("dis.within_30", lang): [ok if w else late for w in ranked["within_target"]],
            t("dis.crosses", lang): [" → ".join(c) for c in ranked["crosses"]],
            t("dis.provinces", lang): [" → ".join((names or {}).get(p, p) for p in ps) for ps in ranked["provinces"]],
            t("dis.estimate_col", lang): [estimate_mark(e, lang) for e in ranked["estimate"]],
        }
    )


def notify_table(notify: pd.DataFrame, names: dict[str, str], lang: str) -> pd.DataFrame:
    """Whom to notify: jurisdiction, department, unit, duty phone, cross-border flag."""
    if notify.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            t("dis.jurisdiction", lang): [names.get(c, c) for c in notify["jurisdiction_code"]],
            t("col.department", lang): [label_or("dept", d, lang) for d in notify["department"]],
            t("dis.unit", lang): notify["unit"],
            t("dis.phone", lang): notify["duty_phone"],
            t("dis.cross_border", lang): [t("dis.yes", lang) if x else "" for x in notify["cross_border"]],
            t("col.status", lang): notify["data_status"],
        }
    )


def network_table(metas: list[dict], lang: str) -> pd.DataFrame:
    """The saved road networks: name, source, size, estimate or real, built when."""
    return pd.DataFrame(
        {
            t("net.col_name", lang): [m["name"] for m in metas],
            t("col.source", lang): [m.get("source", "") for m in metas],
            t("net.col_nodes", lang): [m["n_nodes"] for m in metas],
            t("net.col_edges", lang): [m["n_edges"] for m in metas],
            t("dis.estimate_col", lang): [t("dis.estimate", lang) if m.get("estimate") else "" for m in metas],
            t("net.col_created", lang): [m.get("created", "") for m in metas],
        }
    )
