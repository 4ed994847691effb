"""Layers and tables of the dispatch page: incident, routes per resource, closures, click-to-pick grid."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pydeck as pdk
import shapely

from layers.labels import label_or, t

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

    from geo.crs import CoordinateError
    from geo.dispatch import ClosureError
    from geo.network import NetworkError
    from geo.routing import NoRoute

#: One colour per rank (routes, markers and the rank cell of the table), then repeated.
ROUTE_COLOURS = [(214, 39, 40), (31, 119, 180), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207), (140, 86, 75), (227, 119, 194)]
#: Layer ids of the click-to-pick grid start with this; the page numbers them (see `pick_layer`).
PICK_LAYER_ID = "pick-hex"
_DECIMALS = 6
#: Shown for a missing value in the tables.
MISSING = "—"


def _colour(rank: int) -> list[int]:
    return [*ROUTE_COLOURS[(rank - 1) % len(ROUTE_COLOURS)], 230]


def rank_css(rank: int) -> str:
    """CSS colour of `rank`'s route and marker (``rgb(r,g,b)``), for the table and the legend."""
    return "rgb({},{},{})".format(*ROUTE_COLOURS[(int(rank) - 1) % len(ROUTE_COLOURS)])


def _missing(v: object) -> bool:
    return v is None or (not isinstance(v, str | list | tuple | np.ndarray) and bool(pd.isna(v)))


#: The dataset's data_status values and their labels.
_STATUS_LABELS = {"示例": "val.sample", "真实": "val.real"}


def _shown(values) -> list[str]:
    """`values` as text, "—" for None, NaN, NaT and blanks."""
    return [MISSING if _missing(v) or str(v).strip() == "" else str(v) for v in values]


def _one(value: object) -> str:
    return _shown([value])[0]


def _labels(prefix: str, values, lang: str) -> list[str]:
    """The labels of coded `values` (see `label_or`), "—" for missing ones."""
    return _shown(None if _missing(v) else label_or(prefix, v, lang) for v in values)


def estimate_mark(estimate: bool, lang: str) -> str:
    """'估算' where an answer comes from the approximate network."""
    return t("dis.estimate", lang) if estimate else ""


def incident_layer(lon: float, lat: float, lang: str, *, drill: bool = False) -> pdk.Layer:
    """The incident's point; a drill's says so in its tooltip (【演练】)."""
    tip = (t("drill.mark", lang) if drill else "") + t("dis.incident", lang)
    return pdk.Layer(
        "ScatterplotLayer",
        id="incident",
        data=[{"lon": round(lon, _DECIMALS), "lat": round(lat, _DECIMALS), "tooltip": tip}],
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
        tip = f"{int(r['rank'])}. {_one(r['name'])}\n{t('dis.eta', lang)}: {mins:.1f} {t('dis.min', lang)}"
        if r["estimate"]:
            tip += f" ({t('dis.estimate', lang)})"
        tip += f"\n{t('dis.crosses', lang)}: {' → '.join(_shown(r['crosses'])) or MISSING}"
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
            "tooltip": f"{int(r['rank'])}. {_one(r['name'])}\n{_labels('kind', [r['kind']], lang)[0]} · {_labels('dept', [r['department']], lang)[0]}\n{_one(r['owner'])}",
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
        radius_min_pixels=10,
        radius_max_pixels=10,
        pickable=True,
    )


def rank_number_layer(ranked: pd.DataFrame, resources: pd.DataFrame) -> pdk.Layer:
    """The rank of each ranked resource written on its marker: the number of its row in the table."""
    pos = resources.set_index("id").geometry
    data = [{"lon": round(pos[r["id"]].x, _DECIMALS), "lat": round(pos[r["id"]].y, _DECIMALS), "text": str(int(r["rank"]))} for _, r in ranked.iterrows()]
    return pdk.Layer(
        "TextLayer",
        id="ranked-number",
        data=data,
        get_position=["lon", "lat"],
        get_text="text",
        get_size=13,
        get_color=[255, 255, 255, 255],
        font_weight=700,
        get_text_anchor='"middle"',
        get_alignment_baseline='"center"',
        pickable=False,
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


def pick_layer(cells: pd.DataFrame, lang: str, *, layer_id: str = PICK_LAYER_ID, closure: bool = False) -> pdk.Layer:
    """An invisible lattice of discs over the map: a click lands on one and puts the incident
    (or, with `closure`, a closure) at its centre.

    The discs (circumradius of the hexagonal cells of `geo.dispatch.hex_grid`, so they cover
    the area) are filled at alpha 1/255: invisible, so routes and boundaries show through, yet
    drawn, so deck.gl picks them (it skips nothing but alpha 0).  The disc under the pointer is
    highlighted.

    The first click after choosing 点击地图 (click on the map) used to be lost, for two reasons.
    A selection Streamlit keeps swallowed the next click on the same cell: the page takes each
    pick once and then draws the grid under a new `layer_id` (it numbers the picks).  And deck.gl
    picks nothing on the first pointer-down of a map no pointer has crossed yet (a tap on a
    touch screen, or a click straight after the page loads): the app's warm-up script
    (`layers.streamlit_i18n.deck_warmup_html`) moves a synthetic pointer over every new map.
    """
    tip = t("dis.click_here_closure" if closure else "dis.click_here", lang)
    data = cells.assign(lon=cells["lon"].round(_DECIMALS), lat=cells["lat"].round(_DECIMALS), tooltip=tip)[["lon", "lat", "tooltip"]]
    return pdk.Layer(
        "ScatterplotLayer",
        id=layer_id,
        data=data,
        get_position=["lon", "lat"],
        get_radius=round(float(cells["radius_m"].max()), 1) if len(cells) else 100.0,
        get_fill_color=[255, 255, 255, 1],
        stroked=False,
        pickable=True,
        auto_highlight=True,
        highlight_color=[255, 200, 0, 90],
    )


def route_legend(ranked: pd.DataFrame) -> list[tuple[int, str, str]]:
    """(rank, resource name, CSS colour) of each ranked resource: the map's route colours named."""
    return [(int(r), "" if pd.isna(n) else str(n), rank_css(r)) for r, n in zip(ranked["rank"], ranked["name"], strict=True)]


def style_ranks(table: pd.DataFrame, lang: str) -> Styler:
    """`table` (from `ranked_table`) with each rank cell in the colour of its route on the map."""
    col = t("dis.rank", lang)

    def paint(ranks: pd.Series) -> list[str]:
        return [f"background-color: {rank_css(r)}; color: white; font-weight: 700" for r in ranks]

    return table.style.apply(paint, subset=[col]).format({t("dis.eta_min", lang): "{:.1f}", t("dis.length_km", lang): "{:.2f}"})


def access_minutes(access_s) -> list[str]:
    """Access-leg times (s) as minutes with one decimal ("3.4"); "—" when 0, missing or not finite."""
    out = []
    for v in access_s:
        x = pd.to_numeric(v, errors="coerce")
        out.append(f"{x / 60:.1f}" if pd.notna(x) and np.isfinite(x) and x > 0 else MISSING)
    return out


def ranked_table(ranked: pd.DataFrame, lang: str, names: dict[str, str] | None = None, *, access: bool = False) -> pd.DataFrame:
    """The ranked resources with translated columns for display.

    With `access` (answers on the road backbone), a column after the ETA gives the part of it
    spent on the access legs between the points and the road (``access_s``; minutes, one
    decimal, "—" when there is none).
    """
    if ranked.empty:
        return pd.DataFrame()
    ok, late = t("dis.yes", lang), t("dis.no", lang)
    table = pd.DataFrame(
        {
            t("dis.rank", lang): ranked["rank"],
            t("col.name", lang): _shown(ranked["name"]),
            t("col.kind", lang): _labels("kind", ranked["kind"], lang),
            t("col.department", lang): _labels("dept", ranked["department"], lang),
            t("col.owner", lang): _shown(ranked["owner"]),
            t("dis.eta_min", lang): (ranked["eta_s"] / 60).round(1),
            t("dis.length_km", lang): (ranked["length_m"] / 1000).round(2),
            t("dis.within_30", lang): [ok if w else late for w in ranked["within_target"]],
            t("dis.crosses", lang): [" → ".join(_shown(c)) or MISSING for c in ranked["crosses"]],
            t("dis.provinces", lang): [" → ".join((names or {}).get(p, p) for p in ps) or MISSING for ps in ranked["provinces"]],
            t("dis.estimate_col", lang): [estimate_mark(e, lang) for e in ranked["estimate"]],
        }
    )
    if access:
        where = table.columns.get_loc(t("dis.eta_min", lang)) + 1
        table.insert(where, t("bb.access_col", lang), access_minutes(ranked["access_s"] if "access_s" in ranked else [None] * len(ranked)))
    return table


def network_meaning(meta: dict, lang: str) -> str:
    """What answers on the network of `meta` rest on, in `lang` ("" for a network of real roads):
    the backbone's rule (`geo.backbone`), the stitched network's parts (`geo.stitch`), or the
    place-to-place approximation."""
    kind = meta.get("kind")
    if kind in ("backbone", "stitched"):
        rule = t(
            "bb.meaning", lang, speed=meta.get("speed_kph", 70.0), circuity=meta.get("access_circuity", 1.3),
            access_speed=meta.get("access_speed_kph", 30.0), snap_km=float(meta.get("snap_limit_m", 30_000.0)) / 1000,
        )  # fmt: skip
        if kind == "backbone":
            return rule
        sep = "、" if lang == "zh" else ", "
        local = sep.join(str(p.get("name")) for p in meta.get("parts", []) if isinstance(p, dict) and p.get("kind") != "backbone") or MISSING
        return t("stitch.meaning", lang, local=local, join_m=float(meta.get("join_m", 0.0)), rule=rule)
    return t("dis.estimate_note", lang) if meta.get("estimate") else ""


def gap_message(gap: dict, resource_names: list[str], lang: str) -> str:
    """The message, in `lang`, for resources with no road route because of a known data gap
    of the backbone (`gap`: a row of the connectivity audit, see `geo.backbone.known_gap`)."""
    counties = str(gap.get("county_names") or "") or t("bb.outside", lang)
    sep = "、" if lang == "zh" else ", "
    return t("bb.known_gap", lang, names=sep.join(resource_names) or MISSING, counties=counties, n_nodes=int(gap.get("n_nodes", 0)))


def notify_table(notify: pd.DataFrame, names: dict[str, str], lang: str) -> pd.DataFrame:
    """Whom to notify: jurisdiction, department, unit, duty phone, cross-border flag."""
    if notify.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            t("dis.jurisdiction", lang): _shown(names.get(c, c) for c in notify["jurisdiction_code"]),
            t("col.department", lang): _labels("dept", notify["department"], lang),
            t("dis.unit", lang): _shown(notify["unit"]),
            t("dis.phone", lang): _shown(notify["duty_phone"]),
            t("dis.cross_border", lang): [t("dis.yes", lang) if x else "" for x in notify["cross_border"]],
            t("col.status", lang): _shown(t(_STATUS_LABELS[v], lang) if v in _STATUS_LABELS else v for v in notify["data_status"]),
        }
    )


def beijing_time(iso: str | None) -> str:
    """An ISO time as Beijing time to the minute ("2026-12-01 17:07"); a time without an offset is
    the machine's local time (networks built before offsets were written); "—" when missing or unreadable."""
    import datetime as dt

    try:
        when = dt.datetime.fromisoformat(str(iso))
    except ValueError:
        return "—"
    return f"{when.astimezone(dt.timezone(dt.timedelta(hours=8))):%Y-%m-%d %H:%M}"


def network_table(metas: list[dict], lang: str) -> pd.DataFrame:
    """The saved road networks: name, source, size, estimate or real, built when."""
    return pd.DataFrame(
        {
            t("net.col_name", lang): [m["name"] for m in metas],
            t("col.source", lang): [label_or("net.source", m.get("source") or "—", lang) for m in metas],
            t("net.col_nodes", lang): [m["n_nodes"] for m in metas],
            t("net.col_edges", lang): [m["n_edges"] for m in metas],
            t("dis.estimate_col", lang): [t("dis.estimate", lang) if m.get("estimate") else "" for m in metas],
            t("net.col_created", lang): [beijing_time(m.get("created")) for m in metas],
        }
    )


#: Label key of each `geo.crs.CoordinateError` code.
_COORDINATE_MESSAGES = {"not_lonlat": "coords.not_lonlat", "out_of_range": "coords.out_of_range", "lat_first": "coords.lat_first"}


def coordinate_message(exc: CoordinateError, lang: str) -> str:
    """The message, in `lang`, for coordinates `geo.crs.parse_lonlat` could not read (plain text:
    the text as typed is in it, so escape it before Markdown)."""
    key = _COORDINATE_MESSAGES.get(exc.code, "coords.not_lonlat")
    return t(key, lang, text=exc.params.get("text", ""))


#: Label key of each `geo.routing.NoRoute` code.
_ROUTE_MESSAGES = {"no_route": "dis.no_route", "in_closure": "dis.in_closure"}


def route_message(exc: NoRoute, lang: str, *, closures: list | None = None, closure_names: list[str] | None = None) -> str:
    """The message, in `lang`, for a `geo.routing.NoRoute` and what to do; the exception's
    English text, meant for the command line, is not shown.

    'no_route': no road joins the incident and the resources.  'in_closure': the incident's
    own road is closed; the message names the closure it lies in (the exception's
    ``closure`` index into `closure_names`, else, of `closures` (polygons EPSG:4326), the one
    holding the point or its closed road, else the nearest) and how far the nearest open road is.
    """
    if exc.code != "in_closure":
        return t(_ROUTE_MESSAGES.get(exc.code, "dis.no_route"), lang)
    index = exc.params.get("closure")
    names = closure_names or []
    if index is not None and 0 <= index < len(names) and names[index]:
        name = names[index]
    else:
        name = _closure_at(exc.params.get("point"), exc.params.get("road"), closures or [], names)
    dist = float(exc.params.get("open_road_m", float("inf")))
    if not np.isfinite(dist):
        return t("dis.in_closure_far", lang, closure=name, km=float(exc.params.get("search_m", 50_000.0)) / 1000)
    return t("dis.in_closure", lang, closure=name, dist=dist)


def _closure_at(point, road, closures: list, names: list[str]) -> str:
    """Name of the closure holding `point` or `road` (lon, lat), else of the nearest one ('—' when none)."""
    if not closures or point is None:
        return MISSING
    lon0, lat0 = float(point[0]), float(point[1])
    kx = np.cos(np.radians(lat0))  # metres-like frame around the point: distances on degrees would skew east-west
    local = [shapely.transform(p, lambda c: np.column_stack([(c[:, 0] - lon0) * kx, c[:, 1] - lat0])) for p in closures]
    spots = [shapely.Point(0.0, 0.0)] + ([shapely.Point((float(road[0]) - lon0) * kx, float(road[1]) - lat0)] if road is not None else [])
    gaps = [min(shapely.distance(p, q) for q in spots) for p in local]
    i = int(np.argmin(gaps))
    return names[i] if i < len(names) and names[i] else MISSING


def off_network_message(exc, lang: str, *, in_region: bool = True) -> str:
    """The message, in `lang`, for a `geo.routing.OffNetwork` incident: outside 沪苏浙皖 when
    `in_region` is False (the page checks the point against the provinces), no road within
    the search radius (never "inf 米"), or how far the nearest road is beyond the snap limit."""
    p = getattr(exc, "params", {}) or {}
    if not in_region and p.get("point") is not None:
        return t("dis.outside_region", lang, lon=float(p["point"][0]), lat=float(p["point"][1]))
    if getattr(exc, "code", "off_network") == "no_road_near" or not np.isfinite(exc.distance_m):
        return t("dis.no_road_near", lang, km=float(p.get("search_m", 50_000.0)) / 1000)
    return t("dis.off_network", lang, dist=exc.distance_m, limit=float(p.get("limit_m", 0.0)))


def unreachable_ids(ranked_ids, resource_ids, off_network, *, k: int) -> list[str]:
    """Resources that match the filters but have no road route to the incident.

    `geo.nearest.nearest` returns fewer than `k` answers only when its search ran out of
    road: every resource not among the answers (`ranked_ids`) and on the network (not in
    `off_network`) is then unreachable.  With `k` answers, none is known to be.
    """
    ranked = {str(i) for i in ranked_ids}
    if len(ranked) >= k:
        return []
    return [str(i) for i in resource_ids if str(i) not in ranked and str(i) not in off_network]


def unreachable_message(ids: list[str], names: dict[str, str], lang: str, *, closures_in_force: bool, show: int = 8) -> str:
    """The message, in `lang`, listing resources without a road route and why."""
    shown = [str(names.get(i) or i) for i in ids[:show]]
    sep = "、" if lang == "zh" else ", "
    text = sep.join(shown) + ((sep if lang == "en" else "") + t("dis.unreachable_more", lang, n=len(ids)) if len(ids) > show else "")
    reason = t("dis.unreachable_closures" if closures_in_force else "dis.unreachable_island", lang)
    return t("dis.unreachable", lang, n=len(ids), names=text, reason=reason)


#: Label key of each `geo.dispatch.ClosureError` code.
_CLOSURE_MESSAGES = {"unreadable": "dis.closure_unreadable", "no_geometry": "dis.closure_no_geometry", "not_polygons": "dis.closure_not_polygons"}


def closure_message(exc: ClosureError, lang: str) -> str:
    """The message, in `lang`, for a closure file `geo.dispatch.read_closures` cannot use; the
    geometry types found are named in `lang` (点、线 …)."""
    found = [label_or("imp.geom", g, lang) for g in exc.params.get("found", [])]
    return t(_CLOSURE_MESSAGES.get(exc.code, "dis.closure_unreadable"), lang, found=("、" if lang == "zh" else ", ").join(found) or MISSING)


#: Label key of each `geo.network.NetworkError` code (all are ``net.err.<code>``).
_NETWORK_CODES = (
    "bad_name", "file_missing", "file_type", "unreadable", "no_edges", "bad_arrays", "too_few_places", "download_failed", "not_found", "damaged", "incomplete",
    "overlap", "reserved_name",
)  # fmt: skip


def network_message(exc: NetworkError, lang: str) -> str:
    """The message, in `lang`, for a road network that cannot be built or loaded
    (`geo.network.NetworkError`): what went wrong and what to do (plain text: the name or file
    name as given is in it, so escape it before Markdown)."""
    code = exc.code if exc.code in _NETWORK_CODES else "bad_arrays"
    p = exc.params
    return t(f"net.err.{code}", lang, name=p.get("name", MISSING), file=p.get("file", MISSING), n=p.get("n", 0), other=p.get("other", MISSING))
