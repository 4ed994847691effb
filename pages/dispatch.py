"""Dispatch support: nearest resources to an incident by road, routes, borders crossed, whom to notify."""

from __future__ import annotations

import html

import streamlit as st

from geo import backbone
from geo.crs import CRS_NAMES, CoordinateError, parse_lonlat
from geo.dispatch import ClosureError, circle, county_of, dispatch, hex_grid, near_view_box, read_closures
from geo.nearest import filter_resources
from geo.routing import NoRoute, OffNetwork, snap
from layers.consultation import plain
from layers.dispatch import (
    PICK_LAYER_ID, closure_layer, closure_message, coordinate_message, gap_message, incident_layer, notify_table, pick_layer, rank_number_layer, ranked_table,
    off_network_message, resource_layer, route_layer, route_legend, route_message, style_ranks, unreachable_ids, unreachable_message,
)  # fmt: skip
from layers.labels import DEPARTMENTS_ORDER, label_or, t
from layers.situation import make_deck, view_for_bounds
from pages import _shared

_shared.ensure_router()
lang = _shared.lang()
store = _shared.store()
jur = _shared.jurisdictions()
counties = _shared.jurisdictions("full").query("level == 'county'")
features = _shared.layers()
names = dict(zip(jur["code"], jur["name"], strict=True))
ss = st.session_state
ss.setdefault("dis_incident", None)
ss.setdefault("dis_closures", [])  # list of (name, polygon); '' for a clicked one: named when shown
ss.setdefault("dis_picks", 0)  # map clicks taken so far: the pick grid's layer id carries the count
ss.setdefault("dis_view_bounds", None)  # the lon/lat box the map frames, kept while the user works on the map
ss.setdefault("dis_view_for", None)  # (incident, ranked ids) the view was last seen with

st.title(t("dis.title", lang))
metas = _shared.networks_or_stop()


# ---- a click on the map from the previous run -------------------------------------------
# Streamlit keeps a map selection until the user clicks the selected object again (which
# *deselects* it): a kept selection would swallow the next click on the same cell and dim every
# other layer.  So each click is taken once, and the grid is then drawn under a new layer id:
# the browser drops the old selection, and the next click, wherever it lands, is a new one.
def _pick_layer_id() -> str:
    return f"{PICK_LAYER_ID}-{ss['dis_picks']}"


def _picked() -> tuple[float, float] | None:
    state = ss.get("dis_map") or {}
    objects = (state.get("selection") or {}).get("objects") or {}
    hits = objects.get(_pick_layer_id()) or []
    return (float(hits[0]["lon"]), float(hits[0]["lat"])) if hits else None


pick = _picked()
if pick is not None:
    ss["dis_picks"] += 1
    if ss.get("dis_click_mode", "incident") == "closure":
        ss["dis_closures"] = [*ss["dis_closures"], ("", circle(*pick, float(ss.get("dis_radius", 300))))]  # named when shown, in the language then
    else:
        ss["dis_incident"] = pick
        ss["dis_how"] = "click"

# ---- inputs (sidebar) --------------------------------------------------------------------
with st.sidebar:
    meta = _shared.pick_network(metas, "dis_network")
    how = _shared.radio(
        t("dis.incident_how", lang), ["jurisdiction", "place", "project", "coords", "click"], key="dis_how", default="jurisdiction",
        format_func=lambda h: t(f"dis.by_{h}", lang), horizontal=True,
    )  # fmt: skip
    incident = ss["dis_incident"]
    if how == "jurisdiction":
        code = _shared.selectbox(t("dis.by_jurisdiction", lang), counties["code"].tolist(), key="dis_county", default="330421", format_func=lambda c: f"{names[c]} ({names.get(c[:4] + '00', '')})")
        pt = counties.loc[counties["code"] == code].geometry.iloc[0].representative_point()
        incident = (pt.x, pt.y)
    elif how == "place":
        places = features["places"]
        place_label = dict(zip(places["id"], places["name"] + " · " + places["county_name"], strict=True))
        pid = _shared.selectbox(t("dis.by_place", lang), places["id"].tolist(), key="dis_place", format_func=lambda i: place_label[i])
        g = places.geometry[places["id"] == pid].iloc[0]
        incident = (g.x, g.y)
    elif how == "project":
        proj = features["projects"]
        pid = _shared.selectbox(t("dis.by_project", lang), proj["id"].tolist(), key="dis_project", format_func=lambda i, n=dict(zip(proj["id"], proj["name"], strict=True)): n[i])
        g = proj.geometry[proj["id"] == pid].iloc[0]
        incident = (g.x, g.y)
    elif how == "coords":
        crs = _shared.selectbox(t("dis.coords_crs", lang), list(CRS_NAMES), key="dis_crs", format_func=lambda c: t(f"dis.crs_{c}", lang))
        text = st.text_input(t("dis.coords", lang), value="120.9070,30.8410", key="dis_coords")
        try:
            incident = parse_lonlat(text, crs)
        except CoordinateError as exc:
            st.error(plain(coordinate_message(exc, lang)))
            incident = None
    else:
        st.info(t("dis.click_hint", lang))
    if how != "click":
        ss["dis_incident"] = incident

    layer_key = _shared.selectbox(t("dis.resource_layer", lang), ["teams", "stockpiles", "bases"], key="dis_layer", format_func=lambda k: t(f"layer.{k}", lang))
    pool = features[layer_key]
    kinds = _shared.multiselect(t("dis.kinds", lang), sorted(pool["kind"].unique()), key=f"dis_kinds_{layer_key}", format_func=lambda k: label_or("kind", k, lang), placeholder=t("sit.all", lang))
    departments = _shared.multiselect(t("sit.department", lang), DEPARTMENTS_ORDER, key="dis_depts", format_func=lambda d: label_or("dept", d, lang), placeholder=t("sit.all_departments", lang))
    where = _shared.multiselect(
        t("dis.jurisdictions", lang), sorted(pool["county_code"].unique()), format_func=lambda c: names.get(c, c), key="dis_where", placeholder=t("sit.all", lang)
    )
    material, min_q = None, 0.0
    inventory = _shared.table("inventory")
    if layer_key == "stockpiles":
        material = _shared.selectbox(t("dis.material", lang), ["", *sorted(inventory["material"].unique())], key="dis_material", format_func=lambda m: m or t("sit.all", lang)) or None
        if material:
            min_q = st.number_input(t("dis.min_quantity", lang), min_value=0.0, value=1.0, key="dis_min_q")
    k = st.slider(t("dis.k", lang), 1, 10, 5, key="dis_k")

    st.subheader(t("dis.closures", lang))
    click_mode = _shared.radio(t("dis.click_mode", lang), ["incident", "closure"], key="dis_click_mode", format_func=lambda m: t(f"dis.click_{m}", lang), horizontal=True)
    st.number_input(t("dis.closure_radius", lang), min_value=20, max_value=20_000, value=300, step=50, key="dis_radius")
    upload = st.file_uploader(t("dis.closure_upload", lang), type=["geojson", "json"], key="dis_upload")
    uploaded, uploaded_names = [], []
    if upload is not None:
        try:
            uploaded, uploaded_names = read_closures(upload.getvalue())
        except ClosureError as exc:
            st.error(closure_message(exc, lang))
    if ss["dis_closures"] and st.button(t("dis.closure_clear", lang), key="dis_clear"):
        ss["dis_closures"] = []
        st.rerun()

closures = [p for _, p in ss["dis_closures"]] + uploaded
closure_names = [n or f"{t('dis.closure', lang)} {i}" for i, (n, _) in enumerate(ss["dis_closures"], start=1)] + uploaded_names
net = _shared.network(meta)
on_backbone = net.meta.get("kind") in ("backbone", "stitched")  # answers say how much of the ETA is access leg; known gaps apply
_shared.network_note(net)  # main roads only, one estimated speed, an access leg: say what that means

# ---- compute -----------------------------------------------------------------------------
incident = ss["dis_incident"]
resources = filter_resources(pool, inventory, kinds=kinds, departments=departments, jurisdictions=where, material=material, min_quantity=min_q)
result = None
if incident is None:
    st.info(t("dis.click_hint", lang))
elif resources.empty:
    st.info(t("dis.no_resources", lang))
else:
    try:
        with st.spinner("…"):
            result = dispatch(net, incident, resources, counties=counties, contacts=_shared.table("contacts"), k=k, closures=closures, closure_names=closure_names)
    except OffNetwork as exc:
        st.error(off_network_message(exc, lang, in_region=county_of(counties, *incident) != ""))
    except NoRoute as exc:
        st.error(route_message(exc, lang, closures=closures, closure_names=closure_names))

# ---- results -----------------------------------------------------------------------------
if result is not None:
    st.caption(t("dis.snap", lang, dist=result.snap_distance_m, county=names.get(result.incident_county, "—")))
    if not result.incident_county:
        st.warning(t("dis.outside_note", lang))
    if closures:
        st.info(t("dis.closures_in_force", lang, names="、".join(result.closures_in_force), edges=result.closed_edges) if result.closed_edges else t("dis.closures_none_hit", lang))
    if result.off_network:
        st.caption(t("dis.off_resources", lang, n=len(result.off_network), ids=", ".join(result.off_network)))
    unreachable = unreachable_ids(result.ranked["id"] if not result.ranked.empty else [], resources["id"], result.off_network, k=k)
    if unreachable:
        res_names = dict(zip(resources["id"].astype(str), resources["name"] if "name" in resources else resources["id"].astype(str), strict=True))
        gaps = {}  # resource id -> audit row, when a known data gap of the backbone explains its "no route"
        if on_backbone and not result.closed_edges:
            audit = _shared.table("network_audit")
            at_edge = snap(net, *incident).edge
            res_xy = dict(zip(resources["id"].astype(str), zip(resources.geometry.x, resources.geometry.y, strict=True), strict=True))
            for rid in unreachable:
                gap = backbone.known_gap(net, audit, at_edge, snap(net, *res_xy[rid]).edge) if rid in res_xy else None
                if gap is not None:
                    gaps[rid] = gap
        for comp in sorted({g["component"] for g in gaps.values()}):
            ids = [r for r in unreachable if r in gaps and gaps[r]["component"] == comp]
            st.warning(gap_message(gaps[ids[0]], [res_names.get(r, r) for r in ids], lang))
        approx_meta = next((m for m in metas if m.get("estimate") and m.get("kind") is None), None)
        if gaps and approx_meta is not None:  # the last resort where the backbone does not reach: place-to-place estimates
            try:
                fallback = dispatch(
                    _shared.network(approx_meta), incident, resources[resources["id"].astype(str).isin(list(gaps))],
                    counties=counties, contacts=_shared.table("contacts"), k=len(gaps),
                )  # fmt: skip
            except (OffNetwork, NoRoute):
                fallback = None
            if fallback is not None and not fallback.ranked.empty:
                st.caption(t("dis.fallback", lang, network=approx_meta["name"]))
                st.dataframe(ranked_table(fallback.ranked, lang, names), hide_index=True, width="stretch")
        rest = [r for r in unreachable if r not in gaps]
        if rest:
            st.warning(unreachable_message(rest, res_names, lang, closures_in_force=bool(result.closed_edges)))
    if result.ranked.empty:
        if not unreachable:
            st.warning(t("dis.none_found", lang))
    else:
        st.subheader(t("dis.results", lang))
        st.dataframe(style_ranks(ranked_table(result.ranked, lang, names, access=on_backbone), lang), hide_index=True, width="stretch")

# ---- map ---------------------------------------------------------------------------------
# The view frames the incident, the ranked resources and their routes.  It is worked out again only when
# those change, and not when a click on the map changed them: the user chose where to look
# (Streamlit keeps the user's pan and zoom as long as the initial view state stays the same).
points = [incident] if incident else []
if result is not None:
    points += [tuple(c) for coords in result.routes for c in coords]  # the whole routes: a detour stays in view
if points:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    pad = 0.02
    bounds = (min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad)
else:
    bounds = tuple(float(b) for b in jur.total_bounds)
framing = (tuple(round(c, 6) for c in incident) if incident else None, tuple(result.ranked["id"]) if result is not None and not result.ranked.empty else ())
if ss["dis_view_bounds"] is None or (framing != ss["dis_view_for"] and pick is None):
    ss["dis_view_bounds"] = bounds
ss["dis_view_for"] = framing
view_bounds = ss["dis_view_bounds"]


view = view_for_bounds(view_bounds)
clicking = how == "click" or click_mode == "closure"
deck_layers = _shared.near_outlines(view_bounds, zoom=view.zoom, takes_clicks=clicking)  # the same files while a filter moves the view a little
if closures:
    deck_layers.append(closure_layer(closures, closure_names, lang))
if result is not None and not result.ranked.empty:
    deck_layers += [route_layer(result.ranked, result.routes, lang), resource_layer(result.ranked, resources, lang), rank_number_layer(result.ranked, resources)]
if incident:
    deck_layers.append(incident_layer(*incident, lang))
if clicking:  # on top: a click lands on a cell
    cells = hex_grid(near_view_box(view_bounds, wide=2.4, tall=1.4))
    deck_layers.append(pick_layer(cells, lang, layer_id=_pick_layer_id(), closure=click_mode == "closure"))
st.pydeck_chart(make_deck(deck_layers, view, tile_url=_shared.settings().tile_url), height=560, key="dis_map", on_select="rerun", selection_mode="single-object")
if result is not None and not result.ranked.empty:
    swatches = " ".join(
        f'<span style="display:inline-block;margin-right:14px"><span style="display:inline-block;min-width:18px;height:18px;border-radius:9px;background:{colour};'
        f'color:white;font-weight:700;font-size:12px;text-align:center;line-height:18px;margin-right:4px;vertical-align:middle">{rank}</span>{html.escape(name)}</span>'
        for rank, name, colour in route_legend(result.ranked)
    )
    st.markdown(f"**{t('dis.legend', lang)}** {swatches}", unsafe_allow_html=True)

if result is not None and not result.notify.empty:
    st.subheader(t("dis.notify", lang))
    st.dataframe(notify_table(result.notify, names, lang), hide_index=True, width="stretch")
