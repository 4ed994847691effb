"""Zones & coverage: responsibility zones, service areas, cross-border mutual aid, coverage indicators (per county and, when imported, per township)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
import streamlit as st

from geo import zones as gz
from geo.coverage import DEMAND_KINDS, Demand, build_demand, indicators, point_times, snap_points, teams_per
from geo.jurisdiction import children, in_area, near_view, select_area
from geo.nearest import filter_resources
from geo.township import gaps as township_gaps
from geo.township import township_indicators
from layers.labels import DEPARTMENTS_ORDER, label_or, t
from layers.situation import make_deck, view_for_bounds
from layers.zones import (aid_table, coverage_table, demand_caption, isochrone_layer, lost_layer, mutual_aid_layer, points_layer, town_gap_table, town_table,
                          township_gap_layer, zone_table, zones_layer)  # fmt: skip
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
    provinces = [*children(jur, None, "province")["code"]]
    province = _shared.selectbox(t("sit.province", lang), ["", *provinces], default=provinces[0], format_func=fmt, key="zon_province")
    city = _shared.selectbox(t("sit.city", lang), ["", *children(jur, province, "city")["code"]] if province else [""], format_func=fmt, key="zon_city")
    county = _shared.selectbox(t("sit.county", lang), ["", *children(jur, city, "county")["code"]] if city else [""], format_func=fmt, key="zon_county")
    layer_key = _shared.selectbox(t("zon.facilities", lang), ["teams", "bases"], format_func=lambda k: t(f"layer.{k}", lang), key="zon_layer")
    pool = features[layer_key]
    default_kinds = ["professional"] if layer_key == "teams" else []
    kinds = _shared.multiselect(
        t("dis.kinds", lang), sorted(pool["kind"].unique()), default=default_kinds, format_func=lambda k: label_or("kind", k, lang), key=f"zon_kinds_{layer_key}", placeholder=t("zon.kinds_all", lang)
    )
    departments = _shared.multiselect(t("sit.department", lang), DEPARTMENTS_ORDER, format_func=lambda d: label_or("dept", d, lang), key="zon_depts", placeholder=t("sit.all_departments", lang))
    demand_kind = _shared.radio(t("dem.kind", lang), list(DEMAND_KINDS), format_func=lambda k: t(f"dem.{k}", lang), key="zon_demand", default="territory")
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
    out_ids = _shared.multiselect(t("zon.out_of_service", lang), facilities["id"].tolist(), format_func=lambda i, n=dict(zip(facilities["id"], facilities["name"], strict=True)): n[i], key="zon_out", placeholder=t("pln.none_out", lang))
if facilities.empty:
    st.info(t("zon.none", lang))
    st.stop()


@st.cache_data(max_entries=8, show_spinner=False)
def demand_for(stamp: tuple, net_path: str, net_created: str, kind: str, area_code: str | None) -> Demand:
    """The demand of `kind` over the area (territory grid by default), cached per dataset, network and area."""
    counties = full[full["level"] == "county"]
    places = features["places"]
    inside = places if area_code is None else places[(places["province_code"] == area_code) | (places["city_code"] == area_code) | (places["county_code"] == area_code)]
    net = _shared.network({"path": net_path, "created": net_created})
    return build_demand(kind, area_geom, places=inside, counties=counties, net=net)


# A resource, not data: the answer (zones, cells, times of every node) is shared read-only by the
# sessions; st.cache_data unpickled ~25,000 node cells on every rerun (0.5 s of a 1.9 s rerun, profiled).
@st.cache_resource(max_entries=16, show_spinner=False)
def analyse(stamp: tuple, net_path: str, net_created: str, fac_ids: tuple[str, ...], area_code: str | None, breaks: tuple[int, ...], threshold_s: float, kind: str):
    """Zones, service areas, mutual aid and coverage of the facilities `fac_ids` (cached per argument; shared, do not mutate)."""
    net = _shared.network({"path": net_path, "created": net_created})
    fac = facilities.set_index("id").loc[list(fac_ids)].reset_index()
    counties = full[full["level"] == "county"]
    snaps = gz.snap_facilities(net, fac.geometry.x, fac.geometry.y)
    assignment = gz.assign(net, snaps)
    cells = gz.node_cells(net, area_geom)
    zones = gz.zone_polygons(assignment, cells, fac, net)
    merged = gz.isochrones(assignment.time_s, cells, breaks_min=breaks)
    table, foreign = gz.mutual_aid(net, assignment, fac, counties, within=set(area_counties))
    aid = gz.aid_polygons(net, assignment, cells, foreign, fac, counties)
    demand = demand_for(stamp, net_path, net_created, kind, area_code)
    pts = demand.points
    times = point_times(net, assignment.time_s, snap_points(net, pts.geometry.x, pts.geometry.y))
    ind = indicators(pts, times, threshold_s=threshold_s)
    return {"zones": zones, "merged": merged, "aid_table": table, "aid": aid, "demand": demand, "time_s": times, "indicators": ind, "node_time_s": assignment.time_s, "cells": cells}


@st.cache_resource(max_entries=8, show_spinner=False)
def townships_for(stamp: tuple, net_path: str, net_created: str, site_ids: tuple[str, ...], area_code: str | None, threshold_s: float) -> dict:
    """The imported townships (乡镇/街道) of the area with both indicators from the sites `site_ids` and their gaps
    (`geo.township`; cached per data, network, sites, area and threshold; shared, do not mutate).

    ``imported``: how many townships the store holds (0: none imported); ``townships``: those of the area.
    """
    towns = store.townships()
    here = towns[in_area(towns, area)].reset_index(drop=True)
    if here.empty:
        return {"imported": len(towns), "townships": here}
    net = _shared.network({"path": net_path, "created": net_created})
    sites = facilities.set_index("id").loc[list(site_ids)]
    table = township_indicators(here.rename(columns={"county_name": "county"}), features["teams"], net=net, sites_lon=sites.geometry.x.to_numpy(),
                                sites_lat=sites.geometry.y.to_numpy(), threshold_s=threshold_s)  # fmt: skip
    return {"imported": len(towns), "townships": here, "table": table, "gaps": township_gaps(table)}


net = _shared.network(meta)
_shared.network_note(net)
stamp = _shared.data_key()
threshold_s = float(threshold_min * 60)
with st.spinner(t("zon.running", lang)):
    res = analyse(stamp, meta["path"], meta["created"], tuple(facilities["id"]), area.code, breaks, threshold_s, demand_kind)
    kept_ids = tuple(i for i in facilities["id"] if i not in out_ids)
    what_if = analyse(stamp, meta["path"], meta["created"], kept_ids, area.code, breaks, threshold_s, demand_kind) if out_ids and kept_ids else None
demand = res["demand"]
unit = t(f"unit.{demand.unit}", lang)
shown = what_if or res  # the maps show the state after the what-if
shown_fac = facilities[facilities["id"].isin(kept_ids)].reset_index(drop=True) if what_if else facilities
site_ids = tuple(shown_fac["id"])  # the townships' coverage: from the facilities the maps show

view = view_for_bounds(area.bounds)
base = _shared.near_outlines(area.bounds, zoom=view.zoom)  # static files the browser fetches once, not features in every map
fac_tips = shown_fac["name"] + "\n" + shown_fac["kind"].map(lambda k: label_or("kind", k, lang))
fac_layer = points_layer(shown_fac, "facilities", [20, 20, 20, 255], fac_tips, radius_px=6)
lost_layers = []
if what_if is not None:
    lost_nodes = (res["node_time_s"] <= threshold_s) & ~(what_if["node_time_s"] <= threshold_s)
    lost = gz.dissolve_cells(res["cells"], lost_nodes)
    lost_w = float(demand.weight[(res["time_s"] <= threshold_s) & ~(what_if["time_s"] <= threshold_s)].sum())
    lost_layers = [lost_layer(lost, lang, minutes=int(threshold_min))]
    out_names = "、".join(facilities.loc[facilities["id"].isin(out_ids), "name"]) if lang == "zh" else ", ".join(facilities.loc[facilities["id"].isin(out_ids), "name"])
    before_share, after_share = (float(r["indicators"].iloc[-1].get("weight_share", r["indicators"].iloc[-1]["share"])) * 100 for r in (res, what_if))
    st.metric(t("zon.whatif_overall", lang, minutes=int(threshold_min), what=t(f"dem.{demand.kind}", lang)), f"{before_share:.1f}% → {after_share:.1f}%", delta=f"{after_share - before_share:+.1f}%", delta_color="normal")
    st.caption(t("zon.whatif_caption", lang, names=out_names, lost=lost_w, unit=unit))

#: The page's views, chosen with a radio above one map: a switch reruns only `results` (a fragment) and
#: the browser keeps its one map and swaps its layers; one deck per tab started a new map in the
#: browser at every switch (4-6 s in headless Chromium) and built and sent all four on every run.
VIEWS = ("zones", "iso", "aid", "cov")


@st.fragment
def results() -> None:
    """The chosen view (kept as a view name in ``st.session_state["zon_view"]``): its map, tables and downloads."""
    chosen = _shared.radio(t("zon.view", lang), list(VIEWS), key="zon_view", default="zones", horizontal=True, label_visibility="collapsed", format_func=lambda v: t(f"zon.tab_{v}", lang))
    zones = shown["zones"].assign(name=shown_fac["name"], owner=shown_fac["owner"], county_name=shown_fac["county_name"])
    if chosen == "zones":
        layers = [zones_layer(zones, lang), *lost_layers, *base, fac_layer]
    elif chosen == "iso":
        layers = [isochrone_layer(shown["merged"], lang), *lost_layers, *base, fac_layer]
    elif chosen == "aid":
        layers = [*base, mutual_aid_layer(shown["aid"], lang), fac_layer] if not shown["aid_table"].empty else [*base, fac_layer]
    else:
        times = shown["time_s"]
        pts = demand.points
        late, no_road = pts[np.isfinite(times) & (times > threshold_s)], pts[~np.isfinite(times)]
        late_tip = late["name"] + "：" + pd.Series(times[np.isfinite(times) & (times > threshold_s)] / 60, index=late.index).map(lambda m: f"{m:.0f} {t('dis.min', lang)}")
        gap_layers = [points_layer(late, "beyond", [245, 140, 30, 220], late_tip, radius_px=3), points_layer(no_road, "no-road", [120, 60, 170, 220], no_road["name"] + "：" + t("zon.no_road", lang), radius_px=3)]
        with st.spinner(t("zon.running", lang)):
            town = townships_for(stamp, meta["path"], meta["created"], site_ids, area.code, threshold_s)
        town_layers = [township_gap_layer(town["townships"], town["table"], town["gaps"], lang, minutes=int(threshold_min))] if "table" in town else []
        layers = [*base, *town_layers, *lost_layers, *gap_layers, fac_layer]
    st.pydeck_chart(make_deck(layers, view), height=520, key="zon_map")  # one map, same key and place: the browser keeps it
    if chosen == "zones":
        st.dataframe(zone_table(zones, lang, snap_limit_m=float(net.meta["snap_limit_m"])), hide_index=True, width="stretch")
        st.download_button(t("zon.download", lang, what="GeoJSON"), lambda: zones.to_json(ensure_ascii=False), file_name="zones.geojson", mime="application/geo+json", key="zon_dl_zones")
    elif chosen == "iso":
        st.caption(t("zon.merged", lang) + "：" + "、".join(f"{b} {t('dis.min', lang)}" for b in breaks) if lang == "zh" else t("zon.merged", lang) + ": " + ", ".join(f"{b} {t('dis.min', lang)}" for b in breaks))
        st.download_button(t("zon.download", lang, what="GeoJSON"), lambda: shown["merged"].to_json(ensure_ascii=False), file_name="isochrones.geojson", mime="application/geo+json", key="zon_dl_iso")
    elif chosen == "aid":
        if shown["aid_table"].empty:
            st.info(t("zon.no_aid", lang))
        else:
            st.dataframe(aid_table(shown["aid_table"], lang), hide_index=True, width="stretch")
            st.download_button(t("zon.download", lang, what="CSV"), lambda: shown["aid_table"].to_csv(index=False).encode("utf-8-sig"), file_name="mutual_aid.csv", mime="text/csv", key="zon_dl_aid")
    else:
        st.caption(demand_caption(demand, lang))
        st.caption(t("zon.gaps_cells", lang))
        if what_if is not None:
            st.subheader(t("zon.before_after", lang))
        st.dataframe(coverage_table(res["indicators"], names, lang, unit=demand.unit, after=what_if["indicators"] if what_if is not None else None), hide_index=True, width="stretch")
        st.download_button(t("zon.download", lang, what="CSV"), lambda: res["indicators"].to_csv(index=False).encode("utf-8-sig"), file_name="coverage.csv", mime="text/csv", key="zon_dl_cov")
        st.subheader(t("zon.teams_per", lang))
        counties_here = jur[(jur["level"] == "county") & jur["code"].isin(near)]
        per = teams_per(features["teams"], counties_here)
        st.dataframe(pd.DataFrame({t("zon.county", lang): per["name"], t("zon.teams", lang): per["teams"]}), hide_index=True, width="stretch")
        township_section(town)


def township_section(town: dict) -> None:
    """The township indicators of the coverage view (`townships_for`), or how to import townships."""
    minutes = int(threshold_min)
    st.subheader(t("zon.town_title", lang, minutes=minutes))
    if not town["imported"]:
        st.info(t("zon.town_hint", lang))
        return
    if "table" not in town:
        st.info(t("zon.town_none_here", lang))
        return
    table, gap = town["table"], town["gaps"]
    st.caption(t("zon.town_caption", lang, n=len(table), sites=len(site_ids), minutes=minutes, spacing=table.attrs["spacing_m"] / 1000))
    st.caption(t("zon.town_legend", lang))
    st.dataframe(town_table(table, lang, minutes=minutes), hide_index=True, width="stretch")
    st.download_button(t("zon.town_download", lang), lambda: table.to_csv(index=False).encode("utf-8-sig"), file_name="townships.csv", mime="text/csv", key="zon_dl_town")
    if gap.empty:
        st.success(t("zon.town_no_gaps", lang))
        return
    st.markdown(f"**{t('zon.town_gaps', lang, n=len(gap), total=len(table))}**")
    st.dataframe(town_gap_table(gap, lang, minutes=minutes), hide_index=True, width="stretch")


results()
