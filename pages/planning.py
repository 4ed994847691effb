"""Planning: where new bases close the coverage gaps (MCLP, LSCP, p-median), and what if a base is lost."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

from geo import planning
from geo.jurisdiction import children, in_area, near_view, select_area
from geo.nearest import filter_resources
from layers.labels import t
from layers.situation import boundary_features, boundary_layers, make_deck, view_for_bounds
from layers.zones import compare_table, points_layer
from pages import _shared

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
    province = st.selectbox(t("sit.province", lang), [*children(jur, None, "province")["code"]], format_func=fmt, key="pln_province")
    city = st.selectbox(t("sit.city", lang), ["", *children(jur, province, "city")["code"]], format_func=fmt, key="pln_city")
    model = st.radio(t("pln.model", lang), ["mclp", "lscp", "pmedian"], format_func=lambda m: t(f"pln.{m}", lang), key="pln_model")
    p = st.number_input(t("pln.p", lang), min_value=1, max_value=30, value=3, key="pln_p", disabled=model == "lscp")
    service_min = st.number_input(t("zon.threshold", lang), min_value=5, max_value=240, value=60, step=5, key="pln_service")
    candidates_kind = st.radio(t("pln.candidates", lang), ["places", "grid"], format_func=lambda c: t(f"pln.cand_{c}", lang), key="pln_cand", horizontal=True)
    spacing_km = st.number_input(t("pln.spacing", lang), min_value=1.0, max_value=50.0, value=10.0, key="pln_spacing", disabled=candidates_kind != "grid")
    time_limit = st.number_input(t("pln.time_limit", lang), min_value=1, max_value=600, value=60, key="pln_time")

area = select_area(jur, province=province, city=city or None, region_name=t("sit.region", lang))
area_geom = full.set_index("code").geometry[area.code]
places = features["places"]
demand = places[in_area(places, area)].reset_index(drop=True)
existing = filter_resources(features["teams"], kinds=["professional"])
existing = existing[in_area(existing, area)].reset_index(drop=True)
with st.sidebar:
    out_ids = st.multiselect(
        t("zon.out_of_service", lang), existing["id"].tolist(), format_func=lambda i, n=dict(zip(existing["id"], existing["name"], strict=True)): n[i], key="pln_out", placeholder=t("pln.none_out", lang)
    )
if demand.empty:
    st.info(t("pln.no_demand", lang))
    st.stop()
st.caption(t("pln.setup", lang, demand=len(demand), existing=len(existing), area=area.name))


@st.cache_data(max_entries=8, show_spinner=False)
def candidate_sites(kind: str, area_code: str, spacing_m: float) -> pd.DataFrame:
    if kind == "grid":
        grid = planning.grid_candidates(area_geom, spacing_m)
        return pd.DataFrame({"id": grid["candidate_id"], "name": [f"{t('pln.cell', lang)} {i + 1}" for i in range(len(grid))], "lon": grid.geometry.x, "lat": grid.geometry.y})
    return pd.DataFrame({"id": demand["id"], "name": demand["name"], "lon": demand.geometry.x, "lat": demand.geometry.y})


@st.cache_data(max_entries=8, show_spinner=False)
def costs(net_path: str, net_created: str, cand_key: tuple, limit_s: float) -> np.ndarray:
    net = _shared.network({"path": net_path, "created": net_created})
    cand = candidate_sites(*cand_key)
    lon = np.concatenate([cand["lon"].to_numpy(), existing.geometry.x.to_numpy()])
    lat = np.concatenate([cand["lat"].to_numpy(), existing.geometry.y.to_numpy()])
    return planning.cost_matrix(net, demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy(), lon, lat, limit_s=limit_s)


cand_key = (candidates_kind, area.code, float(spacing_km * 1000))
try:
    cands = candidate_sites(*cand_key)
except ValueError as exc:  # a grid too fine for the area
    st.error(t("pln.bad_input", lang, reason=str(exc)))
    st.stop()
if cands.empty:
    st.info(t("pln.no_candidates", lang))
    st.stop()
weights = np.maximum(demand["population"].to_numpy(dtype=float), 1.0)
limit = float(service_min * 60) if model != "pmedian" else np.inf
with st.status(t("pln.costs", lang, n=len(demand), m=len(cands) + len(existing)), expanded=False) as status:
    cost = costs(meta["path"], meta["created"], cand_key, limit)
    existing_idx = np.arange(len(cands), len(cands) + len(existing))
    kept = np.array([i for i, rid in zip(existing_idx, existing["id"], strict=True) if rid not in out_ids], dtype=np.int64)
    status.update(label=t("pln.solving", lang), state="running")
    try:
        result = planning.plan(model, cost, weights, p=None if model == "lscp" else int(p), service_s=service_min * 60, existing=kept if len(kept) else None, time_limit_s=float(time_limit))
    except planning.SolverError as exc:
        status.update(label=t("pln.failed", lang), state="error")
        st.error(t("pln.failed_why", lang, reason=str(exc)))
        st.stop()
    except ValueError as exc:  # e.g. more new sites than candidates
        status.update(label=t("pln.failed", lang), state="error")
        st.error(t("pln.bad_input", lang, reason=str(exc)))
        st.stop()
    status.update(label=t("pln.done", lang, status=result.status, gap=result.mip_gap * 100, secs=result.runtime_s), state="complete")

if _shared.network(meta).estimate:
    st.warning(t("dis.estimate_note", lang))
all_ids = np.concatenate([cands["id"].to_numpy(), existing["id"].to_numpy()])
all_names = np.concatenate([cands["name"].to_numpy(), existing["name"].to_numpy()])
chosen = pd.DataFrame({"id": all_ids[result.chosen], "name": all_names[result.chosen]})
st.subheader(t("pln.chosen", lang, n=len(chosen)))
st.dataframe(chosen.rename(columns={"id": "ID", "name": t("col.name", lang)}), hide_index=True, width="stretch")

before_sites = existing_idx  # every existing base in service, nothing new
compare = planning.compare(cost, weights, before_sites, result.open_sites, service_s=service_min * 60)
st.subheader(t("pln.before_after", lang))
st.dataframe(compare_table(compare, lang), hide_index=True, width="stretch")

lon = np.concatenate([cands["lon"].to_numpy(), existing.geometry.x.to_numpy()])
lat = np.concatenate([cands["lat"].to_numpy(), existing.geometry.y.to_numpy()])
sites = gpd.GeoDataFrame({"name": all_names}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
cov_after = planning.coverage_of(cost, weights, result.open_sites, service_min * 60)
demand_pts = demand.assign(covered=cov_after.covered)
gaps = demand_pts[~demand_pts["covered"]]
outlines = near_view(jur, area.bounds)
layers = boundary_layers({lvl: boundary_features(lvl, outlines[outlines["level"] == lvl], lang) for lvl in ("province", "city", "county")}, level="county")
layers += [
    points_layer(gaps, "gaps", [215, 48, 39, 220], gaps["name"], radius_px=4),
    points_layer(sites.iloc[kept], "existing", [20, 20, 20, 255], sites.iloc[kept]["name"], radius_px=6),
    points_layer(sites.iloc[result.chosen], "chosen", [39, 120, 200, 255], t("pln.new_site", lang) + ": " + sites.iloc[result.chosen]["name"], radius_px=9),
]
st.pydeck_chart(make_deck(layers, view_for_bounds(area.bounds)), height=520, key="pln_map")
st.caption(t("pln.legend", lang))
st.download_button(t("zon.download", lang, what="GeoJSON"), sites.iloc[result.chosen].assign(id=chosen["id"].to_numpy()).to_json(ensure_ascii=False), file_name=f"new_sites_{model}.geojson", mime="application/geo+json", key="pln_dl")
