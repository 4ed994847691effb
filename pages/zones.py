"""Zones & coverage: responsibility zones, service areas, cross-border mutual aid, coverage indicators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
import streamlit as st

from geo import zones as gz
from geo.coverage import indicators, point_times, snap_points, teams_per
from geo.jurisdiction import children, in_area, near_view, select_area
from geo.nearest import filter_resources
from layers.labels import DEPARTMENTS_ORDER, label_or, t
from layers.situation import boundary_features, boundary_layers, make_deck, view_for_bounds
from layers.zones import aid_table, coverage_table, isochrone_layer, mutual_aid_layer, points_layer, zone_table, zones_layer
from pages import _shared

_shared.ensure_router()
lang = _shared.lang()
store = _shared.store()
jur = _shared.jurisdictions()
full = _shared.jurisdictions("full")
features = _shared.layers()
names = dict(zip(jur["code"], jur["name"], strict=True))

st.title(t("zon.title", lang))
metas = _shared.networks_or_stop()
with st.sidebar:
    meta = _shared.pick_network(metas, "zon_network")
    fmt = lambda c: t("sit.all", lang) if not c else names.get(c, c)  # noqa: E731
    province = st.selectbox(t("sit.province", lang), ["", *children(jur, None, "province")["code"]], index=1, format_func=fmt, key="zon_province")
    city = st.selectbox(t("sit.city", lang), ["", *children(jur, province, "city")["code"]] if province else [""], format_func=fmt, key="zon_city")
    county = st.selectbox(t("sit.county", lang), ["", *children(jur, city, "county")["code"]] if city else [""], format_func=fmt, key="zon_county")
    layer_key = st.selectbox(t("zon.facilities", lang), ["teams", "bases"], format_func=lambda k: t(f"layer.{k}", lang), key="zon_layer")
    pool = features[layer_key]
    default_kinds = ["professional"] if layer_key == "teams" else []
    kinds = st.multiselect(t("dis.kinds", lang), sorted(pool["kind"].unique()), default=default_kinds, format_func=lambda k: label_or("kind", k, lang), key=f"zon_kinds_{layer_key}")
    departments = st.multiselect(t("sit.department", lang), DEPARTMENTS_ORDER, format_func=lambda d: label_or("dept", d, lang), key="zon_depts", placeholder=t("sit.all_departments", lang))
    breaks_text = st.text_input(t("zon.breaks", lang), "15,30,60", key="zon_breaks")
    threshold_min = st.number_input(t("zon.threshold", lang), min_value=5, max_value=600, value=60, step=5, key="zon_threshold")

try:
    breaks = gz.parse_breaks(breaks_text)
except ValueError:
    st.error(t("zon.breaks_bad", lang, text=breaks_text))
    breaks = gz.DEFAULT_BREAKS_MIN

area = select_area(jur, province=province or None, city=city or None, county=county or None, region_name=t("sit.region", lang))
area_geom = shapely.union_all(full[full["level"] == "province"].geometry.values) if area.code is None else full.set_index("code").geometry[area.code]
# facilities of the area and of its neighbourhood: a neighbour's team may arrive first
near = near_view(jur[jur["level"] == "county"], area.bounds, factor=1.6)["code"]
area_counties = jur[(jur["level"] == "county") & in_area(jur.assign(county_code=jur["code"]), area)]["code"].tolist()
facilities = filter_resources(pool[pool["county_code"].isin(near)], kinds=kinds, departments=departments).reset_index(drop=True)
with st.sidebar:
    out_ids = st.multiselect(t("zon.out_of_service", lang), facilities["id"].tolist(), format_func=lambda i, n=dict(zip(facilities["id"], facilities["name"], strict=True)): n[i], key="zon_out", placeholder=t("pln.none_out", lang))
if facilities.empty:
    st.info(t("zon.none", lang))
    st.stop()


@st.cache_data(max_entries=16, show_spinner=False)
def analyse(net_path: str, net_created: str, stamp: str, fac_ids: tuple[str, ...], area_code: str | None, breaks: tuple[int, ...], threshold_s: float):
    net = _shared.network({"path": net_path, "created": net_created})
    fac = facilities.set_index("id").loc[list(fac_ids)].reset_index()
    counties = full[full["level"] == "county"]
    snaps = gz.snap_facilities(net, fac.geometry.x, fac.geometry.y)
    assignment = gz.assign(net, snaps)
    cells = gz.node_cells(net, area_geom)
    zones = gz.zone_polygons(assignment, cells, fac)
    merged = gz.isochrones(assignment.time_s, cells, breaks_min=breaks)
    table, foreign = gz.mutual_aid(net, assignment, fac, counties, within=set(area_counties))
    aid = gz.aid_polygons(net, assignment, cells, foreign, fac, counties)
    places = features["places"]
    inside = places[places.within(area_geom)] if area_code else places
    times = point_times(net, assignment.time_s, snap_points(net, inside.geometry.x, inside.geometry.y))
    ind = indicators(inside, times, threshold_s=threshold_s)
    return {"zones": zones, "merged": merged, "aid_table": table, "aid": aid, "places": inside.assign(time_s=times), "indicators": ind}


net = _shared.network(meta)
if net.estimate:
    st.warning(t("dis.estimate_note", lang))
stamp = str(store.built_at())
with st.spinner(t("zon.running", lang)):
    res = analyse(meta["path"], meta["created"], stamp, tuple(facilities["id"]), area.code, breaks, float(threshold_min * 60))
    what_if = analyse(meta["path"], meta["created"], stamp, tuple(i for i in facilities["id"] if i not in out_ids), area.code, breaks, float(threshold_min * 60)) if out_ids and len(out_ids) < len(facilities) else None

view = view_for_bounds(area.bounds)
outlines = near_view(jur, area.bounds)
base = boundary_layers({lvl: boundary_features(lvl, outlines[outlines["level"] == lvl], lang) for lvl in ("province", "city", "county")}, level="county")
fac_tips = facilities["name"] + "\n" + facilities["kind"].map(lambda k: label_or("kind", k, lang))
fac_layer = points_layer(facilities, "facilities", [20, 20, 20, 255], fac_tips, radius_px=6)

tab_z, tab_i, tab_a, tab_c = st.tabs([t("zon.tab_zones", lang), t("zon.tab_iso", lang), t("zon.tab_aid", lang), t("zon.tab_cov", lang)])
with tab_z:
    zones = res["zones"].assign(name=facilities["name"], owner=facilities["owner"], county_name=facilities["county_name"])
    st.pydeck_chart(make_deck([zones_layer(zones, lang), *base, fac_layer], view), height=520, key="zon_map_zones")
    st.dataframe(zone_table(zones, lang), hide_index=True, width="stretch")
    st.download_button(t("zon.download", lang, what="GeoJSON"), zones.to_json(ensure_ascii=False), file_name="zones.geojson", mime="application/geo+json", key="zon_dl_zones")
with tab_i:
    st.pydeck_chart(make_deck([isochrone_layer(res["merged"], lang), *base, fac_layer], view), height=520, key="zon_map_iso")
    st.caption(t("zon.merged", lang) + ": " + ", ".join(f"{b} {t('dis.min', lang)}" for b in breaks))
    st.download_button(t("zon.download", lang, what="GeoJSON"), res["merged"].to_json(ensure_ascii=False), file_name="isochrones.geojson", mime="application/geo+json", key="zon_dl_iso")
with tab_a:
    if res["aid_table"].empty:
        st.info(t("zon.no_aid", lang))
    else:
        st.pydeck_chart(make_deck([*base, mutual_aid_layer(res["aid"], lang), fac_layer], view), height=520, key="zon_map_aid")
        st.dataframe(aid_table(res["aid_table"], lang), hide_index=True, width="stretch")
        st.download_button(t("zon.download", lang, what="CSV"), res["aid_table"].to_csv(index=False).encode("utf-8-sig"), file_name="mutual_aid.csv", mime="text/csv", key="zon_dl_aid")
with tab_c:
    places = res["places"]
    gaps = places[~(places["time_s"] <= threshold_min * 60)]
    gap_tips = gaps["name"] + "\n" + (gaps["time_s"] / 60).round(0).map(lambda m: "∞" if not np.isfinite(m) else f"{m:.0f} {t('dis.min', lang)}")
    st.pydeck_chart(make_deck([*base, points_layer(gaps, "gaps", [215, 48, 39, 230], gap_tips, radius_px=4), fac_layer], view), height=480, key="zon_map_cov")
    st.caption(t("zon.gaps", lang))
    cov = coverage_table(res["indicators"], names, lang)
    if what_if is not None:
        after = coverage_table(what_if["indicators"], names, lang)
        st.subheader(t("zon.before_after", lang))
        share = t("zon.share", lang)
        cov = cov.merge(after[[t("zon.county", lang), share]], on=t("zon.county", lang), suffixes=("", " ↘"))
    st.dataframe(cov, hide_index=True, width="stretch")
    st.download_button(t("zon.download", lang, what="CSV"), res["indicators"].to_csv(index=False).encode("utf-8-sig"), file_name="coverage.csv", mime="text/csv", key="zon_dl_cov")
    st.subheader(t("zon.teams_per", lang))
    counties_here = jur[(jur["level"] == "county") & jur["code"].isin(near)]
    per = teams_per(features["teams"], counties_here)
    st.dataframe(pd.DataFrame({t("zon.county", lang): per["name"], t("zon.teams", lang): per["teams"]}), hide_index=True, width="stretch")
