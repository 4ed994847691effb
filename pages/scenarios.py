"""Hazard scenarios (情景模拟): a hazard area from parameters or a file, its consequences on the current data; save, compare and attach scenarios."""

from __future__ import annotations

import hashlib
import json

import streamlit as st

from data.accounts.accounts import AuthError
from data.incidents.log import IncidentError
from data.scenarios import ScenarioError, ScenarioStore, assess, parse_point, parse_track
from data.scenarios.assess import dispatch_change, reference_point
from geo.crs import parse_lonlat
from geo.routing import NoRoute, OffNetwork
from geo import hazard as hz
from layers import hazard as lh
from layers.accounts import error_text as auth_error_text
from layers.consultation import error_text as incident_error_text
from layers.consultation import plain
from layers.labels import t
from layers.situation import make_deck, view_for_bounds
from pages import _shared

_shared.ensure_router()
lang = _shared.lang()
store = _shared.store()
jur = _shared.jurisdictions()
counties = _shared.jurisdictions("full").query("level == 'county'")
names = dict(zip(jur["code"], jur["name"], strict=True))
ss = st.session_state
#: Where the hazard area comes from (sidebar).
SOURCES = ("plume", "typhoon", "flood", "upload", "saved")
THRESHOLD_MIN = 60

st.title(t("haz.title", lang))
st.caption(t("haz.intro", lang))
metas = _shared.networks_or_stop()


@st.cache_resource(max_entries=4)
def _scenario_store(key: str, _log) -> ScenarioStore:
    """One store per process and workspace (`key`), beside the process's incident log (its lock and accounts)."""
    return ScenarioStore(_log.workspace, log=_log)


log = _shared.incident_log()  # None after saying why the workspace is unusable
scenarios = _scenario_store(str(log.workspace.path), log) if log is not None else None
session = _shared.signed_in()


@st.cache_resource(max_entries=16, show_spinner=False)
def _assessed(stamp: tuple, net_path: str, net_created: str, feature: str):
    """The assessment of the hazard `feature` (its GeoJSON text) on one network and data version; shared, do not mutate."""
    net = _shared.network({"path": net_path, "created": net_created})
    return assess(hz.hazard_from_geojson(feature), net=net, layers=_shared.layers(), counties=_shared.jurisdictions("full").query("level == 'county'"))


@st.cache_resource(max_entries=16, show_spinner=False)
def _dispatch_change(stamp: tuple, net_path: str, net_created: str, feature: str, at: tuple[float, float]):
    """The nearest teams from `at` without and with the hazard `feature`'s roads closed; shared, do not mutate."""
    net = _shared.network({"path": net_path, "created": net_created})
    return dispatch_change(hz.hazard_from_geojson(feature), net=net, resources=_shared.layers()["teams"], at=at,
                           counties=_shared.jurisdictions("full").query("level == 'county'"), contacts=_shared.table("contacts"))  # fmt: skip


@st.cache_resource(max_entries=16, show_spinner=False)
def _reference(stamp: tuple, net_path: str, net_created: str, feature: str) -> tuple[float, float]:
    """The default dispatch point of the hazard `feature`: just outside it, on a road that stays open."""
    return reference_point(hz.hazard_from_geojson(feature), net=_shared.network({"path": net_path, "created": net_created}))


def assessed(hazard: hz.Hazard, meta: dict):
    """`_assessed` of `hazard` on the network `meta`, with a spinner while it runs."""
    feature = json.dumps(hazard.geojson(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    with st.spinner(t("haz.running", lang)):
        return _assessed(_shared.data_key(), meta["path"], meta["created"], feature)


def _hazard(source: str, name: str):
    """The hazard made from the sidebar's inputs for `source` (None while a file is awaited); raises `HazardError`."""
    if source == "plume":
        text = st.text_input(t("haz.plume_source", lang), value="120.9070,30.8410", key="haz_plume_src")
        wind = st.number_input(t("haz.wind_from", lang), value=45.0, step=5.0, key="haz_wind")
        distance = st.number_input(t("haz.distance", lang), value=10.0, step=1.0, key="haz_distance")
        spread = st.number_input(t("haz.spread", lang), value=40.0, step=5.0, key="haz_spread")
        st.caption(t("haz.plume_help", lang))
        return hz.gas_plume(*parse_point(text, param="source"), wind_from_deg=wind, distance_km=distance, spread_deg=spread, name=name)
    if source == "typhoon":
        track = st.text_area(t("haz.track", lang), value="122.3,30.2\n121.7,30.8\n121.2,31.5", key="haz_track", height=120)
        radius = st.number_input(t("haz.radius", lang), value=50.0, step=10.0, key="haz_radius")
        return hz.typhoon_track(parse_track(track), radius_km=radius, name=name)
    if source == "flood":
        how = _shared.radio(t("haz.flood_from", lang), ["county", "upload"], key="haz_flood_from", format_func=lambda k: t(f"haz.flood_{k}", lang), horizontal=True)
        stage = st.number_input(t("haz.stage", lang), value=1.0, step=0.5, key="haz_stage")
        st.caption(t("haz.stage_note", lang))
        if how == "county":
            codes = counties["code"].tolist()
            code = _shared.selectbox(t("haz.county", lang), codes, key="haz_county", default="330421", format_func=lambda c: f"{names.get(c, c)} ({names.get(c[:4] + '00', '')})")
            return hz.flood_area(counties.set_index("code").geometry[code], stage_m=stage, name=name)
        upload = st.file_uploader(t("haz.upload", lang), type=["geojson", "json"], key="haz_flood_file")
        return None if upload is None else hz.flood_area(hz.hazard_from_geojson(upload.getvalue()).area, stage_m=stage, name=name)
    if source == "upload":
        upload = st.file_uploader(t("haz.upload", lang), type=["geojson", "json"], key="haz_file")
        return None if upload is None else hz.hazard_from_geojson(upload.getvalue(), name=name or None)
    saved = scenarios.scenarios() if scenarios is not None else None
    if saved is None or saved.empty:
        return None
    titles = {int(i): lh.scenario_title(i, n) for i, n in zip(saved["id"], saved["name"], strict=True)}
    pick = _shared.selectbox(t("haz.saved_pick", lang), list(titles), key="haz_saved_pick", format_func=titles.get)
    return scenarios.load(pick)


# ---- inputs (sidebar) --------------------------------------------------------------------------
with st.sidebar:
    meta = _shared.pick_network(metas, "haz_network")
    source = _shared.radio(t("haz.source", lang), list(SOURCES), key="haz_source", default="plume", format_func=lambda s: t(f"haz.source_{s}", lang))
    typed = st.text_input(t("haz.name", lang), key="haz_name", placeholder=t(f"haz.source_{source}", lang)) if source != "saved" else ""
    hazard, problem = None, None
    try:
        hazard = _hazard(source, typed.strip() or t(f"haz.source_{source}", lang))
    except hz.HazardError as exc:
        problem = exc


# ---- writes: made in the run of the click, from the inputs of that run ----------------------------
def _act(slot: str, write, done) -> bool:
    """Run `write()`; keep `done(result)` or the refusal, in the user's language, as the message `slot`; True when written."""
    try:
        ss[f"haz_msg_{slot}"] = ("success", done(write()))
        return True
    except ScenarioError as exc:
        ss[f"haz_msg_{slot}"] = ("error", lh.store_error_text(exc, lang))
    except hz.HazardError as exc:
        ss[f"haz_msg_{slot}"] = ("error", lh.error_text(exc, lang))
    except IncidentError as exc:
        ss[f"haz_msg_{slot}"] = ("error", incident_error_text(exc.code, exc.params, lang))
    except AuthError as exc:  # Refused included: nothing saved
        ss[f"haz_msg_{slot}"] = ("error", auth_error_text(exc, lang, names))
    return False


def _say(slot: str) -> None:
    """Show (once) the message `slot` kept by `_act`."""
    kind, text = ss.pop(f"haz_msg_{slot}", (None, ""))
    if kind == "success":
        st.success(plain(text))
    elif kind == "error":
        st.error(plain(text))


net = _shared.network(meta)
_shared.network_note(net)
current_tab, saved_tab = st.tabs([t("haz.tab_current", lang), t("haz.tab_saved", lang)])

# ---- the current scenario ------------------------------------------------------------------------
with current_tab:
    result = None
    if problem is not None:
        st.error(plain(lh.error_text(problem, lang)))
    elif hazard is None:
        st.info(t("haz.none_saved" if source == "saved" else "haz.upload_first", lang))
    else:
        try:
            result = assessed(hazard, meta)
        except hz.HazardError as exc:
            st.error(plain(lh.error_text(exc, lang)))
    if result is not None:
        c = result.consequences
        st.caption(t("haz.area_caption", lang, kind=t(f"haz.kind.{hazard.kind}", lang), km2=hazard.area_km2))
        cols = st.columns(4)
        for i, (label, value) in enumerate(lh.metrics(result, lang, threshold_min=THRESHOLD_MIN)):
            cols[i % 4].metric(label, value)
        if c.n_closed == 0:
            st.caption(t("haz.no_roads", lang))
        bounds = lh.view_bounds([hazard.area])
        view = view_for_bounds(bounds)
        deck_layers = [*_shared.near_outlines(bounds, zoom=view.zoom), *lh.scenario_layers(result, net, lang)]
        st.pydeck_chart(make_deck(deck_layers, view, tile_url=_shared.settings().tile_url), height=520, key="haz_map")
        st.caption(t("haz.map_legend", lang))

        if scenarios is not None:
            if session is None:
                _shared.sign_in_hint()
            else:
                if st.button(t("haz.save", lang), key="haz_save", type="primary"):  # the list of the other tab is drawn after: it shows the new row
                    _act("save", lambda: scenarios.save(hazard, by=session), lambda sid: t("haz.saved", lang, id=sid))
            _say("save")

        st.subheader(t("haz.h_jurisdictions", lang))
        if c.jurisdictions.empty:
            st.info(t("haz.none_jurisdictions", lang))
        else:
            st.dataframe(lh.jurisdictions_table(c.jurisdictions, lang), hide_index=True, width="stretch")
        st.subheader(t("haz.h_places", lang))
        if c.places.empty:
            st.info(t("haz.none_places", lang))
        else:
            if c.population_unknown:
                st.caption(t("haz.population_note", lang, unknown=c.population_unknown))
            st.dataframe(lh.places_table(c.places, lang), hide_index=True, width="stretch")
        st.subheader(t("haz.h_shelters", lang))
        if c.shelters.empty:
            st.info(t("haz.none_shelters", lang))
        else:
            (st.warning if c.summary()["capacity_shortfall"] > 0 else st.info)(lh.capacity_text(result, lang))
            st.dataframe(lh.shelters_table(c.shelters, lang), hide_index=True, width="stretch")
        st.subheader(t("haz.h_resources", lang))
        st.caption(t(f"haz.reference_{c.reference}", lang))
        shown = lh.resources_table(c.resources, lang)
        if shown.empty:
            st.info(t("haz.none_resources", lang))
        else:
            st.dataframe(shown, hide_index=True, width="stretch")
        st.subheader(t("haz.h_dispatch", lang))
        lon0, lat0 = _reference(_shared.data_key(), meta["path"], meta["created"], json.dumps(hazard.geojson(), sort_keys=True, ensure_ascii=False, separators=(",", ":")))
        feature = json.dumps(hazard.geojson(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        digest = hashlib.sha1(feature.encode()).hexdigest()[:10]  # noqa: S324 (a widget key, not security)
        # keyed by the hazard: a new hazard starts from its own point; a point typed stays while the hazard does
        typed = st.text_input(t("haz.dispatch_at", lang), value=f"{lon0:.4f},{lat0:.4f}", key=f"haz_dispatch_at_{digest}")
        try:
            at = parse_lonlat(typed, "wgs84")
        except ValueError:
            st.error(t("haz.dispatch_bad", lang, text=plain(typed)))
        else:
            try:
                with st.spinner(t("haz.running", lang)):
                    change = _dispatch_change(_shared.data_key(), meta["path"], meta["created"], feature, (round(at[0], 6), round(at[1], 6)))
            except (OffNetwork, NoRoute):
                st.info(t("haz.dispatch_none", lang))
            else:
                st.dataframe(lh.dispatch_change_table(change, lang), hide_index=True, width="stretch")
        st.subheader(t("haz.h_coverage", lang))
        if result.coverage is None:
            st.info(t("haz.no_coverage", lang))
        else:
            st.dataframe(lh.coverage_table(result, lang, names), hide_index=True, width="stretch")
            st.caption(lh.coverage_caption(result, lang, threshold_min=THRESHOLD_MIN))

# ---- saved scenarios: compare and attach ----------------------------------------------------------
with saved_tab:
    if scenarios is None:
        st.info(t("haz.store_unusable", lang))
    else:
        rows = scenarios.scenarios()
        incidents = log.incidents()
        labels = {r["incident_id"]: lh.incident_label(r, lang) for _, r in incidents.iterrows()}
        st.subheader(t("haz.saved_list", lang))
        if rows.empty:
            st.info(t("haz.none_saved", lang))
        else:
            acc = _shared.accounts()
            people = {a.username: t("inc.signer", lang, name=a.display_name, jurisdiction=names.get(a.jurisdiction, a.jurisdiction)) for a in acc.accounts()} if acc is not None else {}
            st.dataframe(lh.saved_table(rows, lang, incidents=labels, people=people), hide_index=True, width="stretch")
            titles = {int(i): lh.scenario_title(i, n) for i, n in zip(rows["id"], rows["name"], strict=True)}
            chosen = _shared.multiselect(t("haz.compare", lang), list(titles), key="haz_compare", format_func=titles.get)
            if len(chosen) >= 2:
                try:
                    results = [assessed(scenarios.load(i), meta) for i in chosen]
                except hz.HazardError as exc:
                    st.error(plain(lh.error_text(exc, lang)))
                else:
                    frame = hz.compare(*[r.consequences for r in results])
                    st.dataframe(lh.compare_table(frame, lang, titles=[titles[i] for i in chosen], coverage=[r.coverage for r in results]), hide_index=True, width="stretch")
            elif chosen:
                st.info(t("haz.compare_more", lang))

            st.subheader(t("haz.attach", lang))
            if session is None:
                _shared.sign_in_hint()
            elif incidents.empty:
                st.info(t("haz.no_incidents", lang))
            else:
                sid = _shared.selectbox(t("haz.attach_scenario", lang), list(titles), key="haz_attach_scenario", format_func=titles.get)
                iid = _shared.selectbox(t("haz.attach_incident", lang), incidents["incident_id"].tolist(), key="haz_attach_incident", format_func=labels.get)
                if st.button(t("haz.attach_button", lang), key="haz_attach"):
                    def done(copy: int) -> str:
                        return t("haz.attached", lang, source=sid, incident=labels[iid], id=copy, entry=scenarios.scenario(copy).log_entry)

                    if _act("attach", lambda: scenarios.attach(sid, iid, by=session), done):
                        st.rerun()  # the list above shows the attached copy
            _say("attach")
