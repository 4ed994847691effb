"""Planning: where new bases close the coverage gaps (MCLP, LSCP, p-median), and what if a base is lost."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

from geo import coverage as gc
from geo import planning
from geo.jurisdiction import children, in_area, select_area
from geo.nearest import filter_resources
from layers.labels import label_or, t
from layers.situation import make_deck, view_for_bounds
from layers.zones import UNIT_DECIMALS, compare_table, demand_caption, fmt_number, points_layer
from pages import _shared

log = logging.getLogger(__name__)

_shared.ensure_router()
lang = _shared.lang()
store = _shared.store()
jur = _shared.jurisdictions()
full = _shared.jurisdictions("full")
features = _shared.layers()
names = dict(zip(jur["code"], jur["name"], strict=True))

st.title(t("pln.title", lang))
metas = _shared.networks_or_stop()
with st.sidebar:
    meta = _shared.pick_network(metas, "pln_network")
    fmt = lambda c: t("sit.all", lang) if not c else names.get(c, c)  # noqa: E731
    province = _shared.selectbox(t("sit.province", lang), [*children(jur, None, "province")["code"]], format_func=fmt, key="pln_province")
    city = _shared.selectbox(t("sit.city", lang), ["", *children(jur, province, "city")["code"]], format_func=fmt, key="pln_city")
    demand_kind = _shared.radio(t("dem.kind", lang), list(gc.DEMAND_KINDS), format_func=lambda k: t(f"dem.{k}", lang), key="pln_demand", default="territory")
    grid_km = st.number_input(t("dem.spacing", lang), min_value=0.25, max_value=50.0, value=None, step=0.5, key="pln_grid_km", placeholder=t("dem.auto", lang), disabled=demand_kind != "territory")
    model = _shared.radio(t("pln.model", lang), list(planning.MODELS), format_func=lambda m: t(f"pln.{m}", lang), key="pln_model")
    p = st.number_input(t("pln.p", lang), min_value=1, max_value=30, value=3, key="pln_p", disabled=model == "lscp")
    service_min = st.number_input(t("zon.threshold", lang), min_value=5, max_value=240, value=60, step=5, key="pln_service")
    candidates_kind = _shared.radio(t("pln.candidates", lang), ["places", "grid"], format_func=lambda c: t(f"pln.cand_{c}", lang), key="pln_cand", horizontal=True)
    spacing_km = st.number_input(t("pln.spacing", lang), min_value=1.0, max_value=50.0, value=10.0, key="pln_spacing", disabled=candidates_kind != "grid")
    time_limit = st.number_input(t("pln.time_limit", lang), min_value=1, max_value=600, value=60, key="pln_time")

area = select_area(jur, province=province, city=city or None, region_name=t("sit.region", lang))
existing = filter_resources(features["teams"], kinds=["professional"])
existing = existing[in_area(existing, area)].reset_index(drop=True)
with st.sidebar:
    out_ids = _shared.multiselect(
        t("zon.out_of_service", lang), existing["id"].tolist(), format_func=lambda i, n=dict(zip(existing["id"], existing["name"], strict=True)): n[i], key="pln_out", placeholder=t("pln.none_out", lang)
    )
service_s = float(service_min * 60)


@st.cache_data(max_entries=8, show_spinner=False)
def demand_for(stamp: tuple, net_path: str, net_created: str, kind: str, area_code: str, grid_m: float | None) -> gc.Demand:
    """The demand of `kind` over the area (cached per dataset, network, area and grid)."""
    area_geom = full.set_index("code").geometry[area_code]
    counties = full[full["level"] == "county"]
    places = features["places"]
    inside = places[(places["province_code"] == area_code) | (places["city_code"] == area_code)]
    net = _shared.network({"path": net_path, "created": net_created})
    return gc.build_demand(kind, area_geom, places=inside, counties=counties, net=net, spacing_m=grid_m)


@st.cache_data(max_entries=8, show_spinner=False)
def candidate_sites(stamp: tuple, kind: str, area_code: str, spacing_m: float, language: str) -> pd.DataFrame:
    """Candidate sites: the area's places, or a grid (ids, names, lon/lat)."""
    if kind == "grid":
        grid = planning.grid_candidates(full.set_index("code").geometry[area_code], spacing_m)
        return pd.DataFrame({"id": grid["candidate_id"], "name": [f"{t('pln.cell', language)} {i + 1}" for i in range(len(grid))], "lon": grid.geometry.x, "lat": grid.geometry.y})
    places = features["places"]
    inside = places[(places["province_code"] == area_code) | (places["city_code"] == area_code)]
    return pd.DataFrame({"id": inside["id"].to_numpy(), "name": inside["name"].to_numpy(), "lon": inside.geometry.x.to_numpy(), "lat": inside.geometry.y.to_numpy()})


@st.cache_data(max_entries=8, show_spinner=False)
def costs(net_path: str, net_created: str, d_lon: np.ndarray, d_lat: np.ndarray, s_lon: np.ndarray, s_lat: np.ndarray, limit_s: float) -> np.ndarray:
    """Road travel times (s) from every site to every demand point, cut at `limit_s`."""
    net = _shared.network({"path": net_path, "created": net_created})
    return planning.cost_matrix(net, d_lon, d_lat, s_lon, s_lat, limit_s=limit_s)


@st.cache_resource(max_entries=8, show_spinner=False)
def demand_snaps(net_path: str, net_created: str, d_lon: np.ndarray, d_lat: np.ndarray) -> list:
    """The demand points snapped to the network (`geo.coverage.snap_points`), once per demand and
    network, not once per set of open sites: it was half of a rerun after p changed (profiled); read-only."""
    net = _shared.network({"path": net_path, "created": net_created})
    return gc.snap_points(net, d_lon, d_lat)


@st.cache_data(max_entries=16, show_spinner=False)
def search_times(net_path: str, net_created: str, d_lon: np.ndarray, d_lat: np.ndarray, s_lon: np.ndarray, s_lat: np.ndarray) -> np.ndarray:
    """Unlimited time (s) from the nearest of the sites to each demand point (inf: no road)."""
    net = _shared.network({"path": net_path, "created": net_created})
    return gc.times_from_sites(net, s_lon, s_lat, demand_snaps(net_path, net_created, d_lon, d_lat))


stamp = _shared.data_key()
grid_m = float(grid_km * 1000) if grid_km and demand_kind == "territory" else None
try:
    demand = demand_for(stamp, meta["path"], meta["created"], demand_kind, area.code, grid_m)
except ValueError:  # a demand grid too fine for the area
    st.error(t("dem.bad_grid", lang, spacing=grid_km or 0))
    st.stop()
if len(demand) == 0 or demand.total <= 0:
    st.info(t("dem.none", lang))
    st.stop()
unit = t(f"unit.{demand.unit}", lang)
st.caption(demand_caption(demand, lang))

try:
    cands = candidate_sites(stamp, candidates_kind, area.code, float(spacing_km * 1000), lang)
except ValueError:  # the only one a user can cause: a candidate grid too fine for the area
    st.error(t("pln.grid_too_fine", lang, spacing=spacing_km, limit=planning.MAX_GRID_CANDIDATES))
    st.stop()
if cands.empty:
    st.info(t("pln.no_candidates", lang))
    st.stop()

d_lon, d_lat = demand.points.geometry.x.to_numpy(), demand.points.geometry.y.to_numpy()
s_lon = np.concatenate([cands["lon"].to_numpy(), existing.geometry.x.to_numpy()])
s_lat = np.concatenate([cands["lat"].to_numpy(), existing.geometry.y.to_numpy()])
weights = demand.weight
existing_idx = np.arange(len(cands), len(cands) + len(existing))
kept = np.array([i for i, rid in zip(existing_idx, existing["id"], strict=True) if rid not in out_ids], dtype=np.int64)
limit = service_s if model != "pmedian" else np.inf
with st.status(t("pln.costs", lang, n=len(demand), m=len(s_lon)), expanded=False) as status:
    cost = costs(meta["path"], meta["created"], d_lon, d_lat, s_lon, s_lat, limit)
    status.update(label=t("pln.solving", lang), state="running")
    try:
        result = planning.plan(model, cost, weights, p=None if model == "lscp" else int(p), service_s=service_s, existing=kept if len(kept) else None, time_limit_s=float(time_limit))
    except planning.SolverError as exc:
        status.update(label=t("pln.failed", lang), state="error")
        st.error(t("pln.failed_why", lang, status=label_or("pln.status", exc.status, lang), secs=float(time_limit)))
        st.stop()
    except ValueError as exc:  # more new sites than free candidates (the only one a user can cause)
        log.info("planning refused: %s", exc)
        status.update(label=t("pln.failed", lang), state="error")
        st.error(t("pln.bad_input", lang, p=int(p) if model != "lscp" else 0, free=len(cands)))
        st.stop()
    status.update(label=t("pln.done", lang, status=label_or("pln.status", result.status, lang), gap=result.mip_gap * 100, secs=result.runtime_s), state="complete")

_shared.network_note(_shared.network(meta))

# The status quo: every existing team in service, nothing new, the same demand and time limit;
# its times are cut at the limit only where the matrix is, and filled from an unlimited search,
# so it is the same under every model.
before_sites = existing_idx
before = planning.coverage_of(cost, weights, before_sites, service_s, search_s=search_times(meta["path"], meta["created"], d_lon, d_lat, s_lon[before_sites], s_lat[before_sites]))
open_sites = result.open_sites
after = planning.coverage_of(cost, weights, open_sites, service_s, search_s=search_times(meta["path"], meta["created"], d_lon, d_lat, s_lon[open_sites], s_lat[open_sites]))

all_ids = np.concatenate([cands["id"].to_numpy(), existing["id"].to_numpy()])
all_names = np.concatenate([cands["name"].to_numpy(), existing["name"].to_numpy()])
digits = UNIT_DECIMALS.get(demand.unit, 1)
gain = [float(weights[after.covered & ~before.covered & (after.nearest_site == j)].sum()) for j in result.chosen]
chosen = pd.DataFrame({"ID": all_ids[result.chosen], t("col.name", lang): all_names[result.chosen], t("pln.gain", lang, unit=unit): [fmt_number(g, digits) for g in gain]})
st.subheader(t("pln.chosen", lang, n=len(chosen)))
st.dataframe(chosen, hide_index=True, width="stretch")

st.subheader(t("pln.before_after", lang))
st.caption(t("pln.status_quo", lang, minutes=int(service_min), share=before.covered_share * 100))
st.dataframe(compare_table(planning.compare_coverage(before, after), lang, unit=demand.unit), hide_index=True, width="stretch")

sites = gpd.GeoDataFrame({"name": all_names}, geometry=gpd.points_from_xy(s_lon, s_lat), crs=4326)
pts = demand.points
late, no_road = pts[after.beyond], pts[after.no_road]
late_tip = late["name"] + "：" + pd.Series(after.nearest_s[after.beyond] / 60, index=late.index).map(lambda m: f"{m:.0f} {t('dis.min', lang)}")
view = view_for_bounds(area.bounds)
layers = _shared.near_outlines(area.bounds, zoom=view.zoom)  # static files the browser fetches once, not features in every map
layers += [
    points_layer(late, "beyond", [245, 140, 30, 220], late_tip, radius_px=3),
    points_layer(no_road, "no-road", [120, 60, 170, 220], no_road["name"] + "：" + t("zon.no_road", lang), radius_px=3),
    points_layer(sites.iloc[kept], "existing", [20, 20, 20, 255], sites.iloc[kept]["name"], radius_px=6),
    points_layer(sites.iloc[result.chosen], "chosen", [39, 120, 200, 255], t("pln.new_site", lang) + ": " + sites.iloc[result.chosen]["name"], radius_px=9),
]
st.pydeck_chart(make_deck(layers, view), height=520, key="pln_map")
st.caption(t("pln.legend_cells", lang))
st.download_button(t("zon.download", lang, what="GeoJSON"), sites.iloc[result.chosen].assign(id=all_ids[result.chosen]).to_json(ensure_ascii=False), file_name=f"new_sites_{model}.geojson", mime="application/geo+json", key="pln_dl")
