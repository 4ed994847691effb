"""Joint consultation: one shared incident file (一事一档), its warnings and 叫应, resource requests, the briefing and the review."""

from __future__ import annotations

import datetime as dt
import time

import shapely
import streamlit as st

from data import board as boards
from data.incidents import INCIDENT_KINDS, LEVELS, NOTE_KINDS, PHASES, REQUEST_FLOW, TRANSITIONS, WARNING_COLOURS, IncidentError, now_beijing
from data.workspace import WorkspaceError
from geo.crs import CRS_NAMES, parse_lonlat
from geo.dispatch import county_of, dispatch
from geo.jurisdiction import near_view
from geo.routing import NoRoute, OffNetwork
from geo.warning import affected_counties, buffer_area, call_list, isochrone_area, polygon_area
from layers import consultation as lc
from layers.dispatch import incident_layer
from layers.labels import DEPARTMENTS_ORDER, label_or, t
from layers.situation import boundary_features, boundary_layers, make_deck, view_for_bounds
from pages import _shared

_shared.ensure_router()
lang = _shared.lang()
ss = st.session_state
st.title(t("inc.title", lang))
log = _shared.incident_log()
if log is None:
    st.stop()
jur = _shared.jurisdictions()
counties = _shared.jurisdictions("full").query("level == 'county'")
names = dict(zip(jur["code"], jur["name"], strict=True))
features = _shared.layers()
contacts = _shared.table("contacts")
NEW = "__new__"
FLASH_S = 8

# ---- sidebar: who I am, which incident, refresh ----------------------------------------
incidents = log.incidents()
with st.sidebar:
    st.subheader(t("inc.me", lang))
    st.text_input(t("inc.me_name", lang), key="inc_me_name", max_chars=100)
    st.selectbox(t("inc.me_dept", lang), DEPARTMENTS_ORDER, key="inc_me_dept", format_func=lambda d: label_or("dept", d, lang))
    options = [*incidents["incident_id"], NEW]
    labels = {r.incident_id: f"{r.incident_id} · {r.title} · {label_or('inc.phase', r.phase, lang)}" for r in incidents.itertuples()} | {NEW: t("inc.new", lang)}
    if ss.get("inc_goto") in options:  # a new incident, opened in the previous run
        ss["inc_pick"] = ss.pop("inc_goto")
    if ss.get("inc_pick") not in options:
        ss["inc_pick"] = options[0]
    picked = st.selectbox(t("inc.pick", lang), options, key="inc_pick", format_func=labels.get)
    refresh_s = st.number_input(t("inc.refresh", lang), min_value=1, max_value=60, value=3, key="inc_refresh")
    overdue_min = st.number_input(t("inc.overdue_min", lang), min_value=1, max_value=240, value=boards.OVERDUE_AFTER_S // 60, key="inc_overdue")
    metas = _shared.networks()
    meta = _shared.pick_network(metas, "inc_network") if metas else None


def _me() -> dict | None:
    """Who signs a write, or None after saying what is missing."""
    name = (ss.get("inc_me_name") or "").strip()
    if not name:
        st.warning(t("inc.me_missing", lang))
        return None
    return {"who": name, "department": ss["inc_me_dept"]}


def _write(fn, *args, **kwargs):
    """Run one log write signed by the user; a refusal is shown as a message and nothing is saved."""
    me = _me()
    if me is None:
        return None
    try:
        return fn(*args, **me, **kwargs)
    except IncidentError as exc:
        st.error(lc.error_text(exc.code, exc.params, lang))
    except WorkspaceError as exc:
        st.error(t("inc.saved_fail", lang, reason=str(exc)))
    return None


def _flash(message: str) -> None:
    """Confirm a write; the message stays for a few seconds, across the board's timed refreshes."""
    ss["inc_flash"] = (message, time.monotonic() + FLASH_S)


def _show_flash() -> None:
    message, until = ss.get("inc_flash") or ("", 0.0)
    if message and time.monotonic() < until:
        st.success(message)


def _rerun() -> None:
    """Show a write at once: rerun the board's fragment, or the page when this run is a full one."""
    try:
        st.rerun(scope="fragment")
    except st.errors.StreamlitInvalidLayoutContextError:
        st.rerun()


def _when(key: str) -> dt.datetime | None:
    """None for "now", else the date and time entered (Beijing time) when backfilling."""
    now = now_beijing()
    c0, c1, c2 = st.columns([1, 1, 1], vertical_alignment="bottom")
    use_now = c0.checkbox(t("inc.f_now", lang), value=True, key=f"{key}_now")
    day = c1.date_input(t("inc.f_date", lang), value=now.date(), key=f"{key}_date")
    clock = c2.time_input(t("inc.f_time", lang), value=now.time().replace(second=0), key=f"{key}_time", step=60)
    return None if use_now else dt.datetime.combine(day, clock)


# ---- a new incident ----------------------------------------------------------------------
def _new_incident() -> None:
    st.subheader(t("inc.new_title", lang))
    places = features["places"]
    place_label = dict(zip(places["id"], places["name"] + " · " + places["county_name"], strict=True))
    how = st.radio(t("inc.f_where", lang), ["county", "place", "coords"], key="inc_where", horizontal=True, format_func=lambda h: t(f"inc.f_where_{h}", lang))
    with st.form("inc_new_form"):
        title = st.text_input(t("inc.f_title", lang), key="inc_f_title", max_chars=100)
        c1, c2 = st.columns(2)
        kind = c1.selectbox(t("inc.f_kind", lang), INCIDENT_KINDS, key="inc_f_kind", format_func=lambda k: label_or("inc.kind", k, lang))
        level = c2.selectbox(t("inc.f_level", lang), LEVELS, index=3, key="inc_f_level", format_func=lambda k: label_or("inc.level", k, lang))
        if how == "county":
            codes = counties["code"].tolist()
            county = st.selectbox(t("dis.by_jurisdiction", lang), codes, index=codes.index("330421"), key="inc_f_county", format_func=lambda c: f"{names[c]} ({names.get(c[:4] + '00', '')})")
        elif how == "place":
            place_id = st.selectbox(t("inc.f_place", lang), places["id"].tolist(), key="inc_f_place", format_func=place_label.get)
        else:
            crs = st.selectbox(t("dis.coords_crs", lang), list(CRS_NAMES), key="inc_f_crs", format_func=lambda c: {"wgs84": "WGS84 / CGCS2000", "gcj02": "GCJ-02（高德/腾讯）", "bd09": "BD-09（百度）"}[c])
            coords = st.text_input(t("dis.coords", lang), value="120.9070,30.8410", key="inc_f_coords")
        phase = st.selectbox(t("inc.f_phase", lang), PHASES[:3], index=1, key="inc_f_phase", format_func=lambda p: label_or("inc.phase", p, lang))
        with st.container():
            when = _when("inc_f_when")
        jurisdictions = st.multiselect(t("inc.f_jurisdictions", lang), counties["code"].tolist(), key="inc_f_jur", format_func=lambda c: f"{names[c]} ({names.get(c[:4] + '00', '')})")
        departments = st.multiselect(t("inc.f_departments", lang), DEPARTMENTS_ORDER, default=["emergency", "fire"], key="inc_f_depts", format_func=lambda d: label_or("dept", d, lang))
        description = st.text_area(t("inc.f_description", lang), key="inc_f_desc", max_chars=2000)
        submitted = st.form_submit_button(t("inc.f_open", lang), type="primary")
    if not submitted:
        return
    if how == "county":
        pt = counties.loc[counties["code"] == county].geometry.iloc[0].representative_point()
        lon, lat, place = pt.x, pt.y, names[county]
    elif how == "place":
        g = places.geometry[places["id"] == place_id].iloc[0]
        lon, lat, place = g.x, g.y, place_label[place_id]
    else:
        try:
            lon, lat = parse_lonlat(coords, crs)
        except ValueError as exc:
            st.error(t("dis.coords_bad", lang, text=coords, reason=str(exc)))
            return
        place = ""
    lead = county_of(counties, lon, lat)
    if not lead:
        st.error(t("inc.no_county", lang, lon=lon, lat=lat))
        return
    new_id = _write(log.open_incident, title=title, kind=kind, level=level, lon=lon, lat=lat, lead_code=lead, lead_name=names.get(lead, lead), at=when,
                    place=place, description=description, jurisdictions=jurisdictions, departments=departments, phase=phase)  # fmt: skip
    if new_id:
        _flash(t("inc.opened", lang, id=new_id, lead=names.get(lead, lead)))
        ss["inc_goto"] = new_id
        st.rerun()


if picked == NEW or incidents.empty:
    if incidents.empty:
        st.info(t("inc.none", lang))
    _show_flash()
    _new_incident()
    st.stop()


# ---- the shared board, refreshed on its own ------------------------------------------
def _phase_control(board: boards.Board) -> None:
    allowed = TRANSITIONS[board.phase]
    if not allowed:
        st.caption(t("inc.phase_final", lang))
        return
    with st.form("inc_phase_form", border=False):
        c1, c2, c3 = st.columns([2, 3, 1], vertical_alignment="bottom")
        target = c1.selectbox(t("inc.phase_to", lang), allowed, key="inc_phase_to", format_func=lambda p: label_or("inc.phase", p, lang))
        note = c2.text_input(t("inc.phase_note", lang), key="inc_phase_note", max_chars=2000)
        go = c3.form_submit_button(t("inc.phase_go", lang))
    if go and _write(log.transition, board.incident_id, target, text=note):
        st.rerun()  # the whole page: the sidebar shows phases too


def _board_tab(board: boards.Board) -> None:
    with st.form("inc_entry_form", clear_on_submit=True):
        c1, c2 = st.columns([1, 3])
        kind = c1.selectbox(t("inc.entry_kind", lang), NOTE_KINDS, key="inc_entry_kind", format_func=lambda k: label_or("inc.entry", k, lang))
        text = c2.text_area(t("inc.entry_text", lang), key="inc_entry_text", height=80)
        recent = board.entries["id"].iloc[::-1].head(200).tolist()
        corrects = st.selectbox(t("inc.entry_corrects", lang), [None, *recent], key="inc_entry_corrects", format_func=lambda i: "—" if i is None else f"#{i}")
        add = st.form_submit_button(t("inc.entry_add", lang), type="primary")
    if add:
        entry_id = _write(log.note, board.incident_id, kind, text, corrects=corrects)
        if entry_id:
            _flash(t("inc.entry_saved", lang, id=entry_id))
            _rerun()
    depts = sorted(board.entries["department"].unique())
    only = st.selectbox(t("inc.filter_dept", lang), [None, *depts], key="inc_filter_dept", format_func=lambda d: t("inc.all_departments", lang) if d is None else label_or("dept", d, lang))
    rows = boards.timeline(board)
    if only:
        rows = rows[rows["department"] == only]
    shown = rows.head(500)
    st.caption(t("inc.shown", lang, shown=len(shown), n=len(rows)))
    st.dataframe(lc.entries_table(shown, lang), hide_index=True, width="stretch", height=420)
    with st.expander(t("inc.phases", lang)):
        st.dataframe(lc.phases_table(board.phases, lang), hide_index=True, width="stretch")


def _warnings_tab(board: boards.Board) -> None:
    inc = board.incident
    if board.phase != "aftermath":
        with st.expander(t("inc.warn_new", lang), expanded=board.warnings.empty):
            area_kind = st.radio(t("inc.warn_area", lang), ["buffer", "isochrone", "polygon"], key="inc_warn_area", horizontal=True, format_func=lambda a: label_or("inc.area", a, lang))
            with st.form("inc_warn_form"):
                c1, c2 = st.columns([1, 3])
                colour = c1.selectbox(t("inc.warn_colour", lang), WARNING_COLOURS, key="inc_warn_colour", format_func=lambda c: label_or("inc.colour", c, lang))
                text = c2.text_area(t("inc.warn_text", lang), key="inc_warn_text", height=80)
                if area_kind == "buffer":
                    radius_km = st.number_input(t("inc.warn_radius", lang), min_value=0.1, max_value=100.0, value=5.0, step=0.5, key="inc_warn_radius")
                elif area_kind == "isochrone":
                    minutes = st.number_input(t("inc.warn_minutes", lang), min_value=1, max_value=180, value=15, key="inc_warn_minutes")
                else:
                    polygon = st.text_area(t("inc.warn_polygon", lang), key="inc_warn_polygon", height=100)
                departments = st.multiselect(t("inc.warn_departments", lang), DEPARTMENTS_ORDER, default=list(inc["departments"]) or ["emergency"], key="inc_warn_depts",
                                             format_func=lambda d: label_or("dept", d, lang))  # fmt: skip
                issue = st.form_submit_button(t("inc.warn_issue", lang), type="primary")
            if issue:
                _issue_warning(board, area_kind, colour, text, departments, radius_km if area_kind == "buffer" else None,
                               minutes if area_kind == "isochrone" else None, polygon if area_kind == "polygon" else None)  # fmt: skip
    if board.warnings.empty:
        st.info(t("inc.warn_none", lang))
        return
    total_calls, total_acked = int(board.warnings["calls"].sum()), int(board.warnings["acked"].sum())
    c1, c2, c3 = st.columns(3)
    c1.metric(t("inc.rate", lang), lc.rate_text(total_acked, total_calls, lang))
    first = board.warnings["first_ack_s"].min()
    c2.metric(t("inc.first_ack", lang), "—" if first != first else f"{first / 60:.1f} {t('dis.min', lang)}")
    c3.metric(t("inc.overdue", lang), int(board.warnings["overdue"].sum()))
    st.dataframe(lc.warnings_table(board.warnings, names, lang), hide_index=True, width="stretch")
    warning_id = st.selectbox(t("inc.col.colour", lang), board.warnings["id"].iloc[::-1].tolist(), key="inc_warn_pick",
                              format_func=lambda i: f"#{i} {label_or('inc.colour', board.warnings.set_index('id').at[i, 'colour'], lang)}")  # fmt: skip
    calls = board.calls[board.calls["warning_id"] == warning_id]
    st.markdown(f"**{t('inc.calls_of', lang, id=warning_id)}**")
    st.dataframe(lc.calls_table(calls, names, lang), hide_index=True, width="stretch")
    waiting = calls[calls["state"] != "acked"]
    if waiting.empty:
        st.success(t("inc.ack_all", lang))
        return
    unit = dict(zip(waiting["contact_id"], waiting["unit"] + " · " + waiting["jurisdiction_code"].map(lambda c: names.get(c, c)) + " · " + waiting["department"].map(lambda d: label_or("dept", d, lang)), strict=True))
    with st.form("inc_ack_form"):
        contact = st.selectbox(t("inc.ack_pick", lang), list(unit), key="inc_ack_contact", format_func=unit.get)
        when = _when("inc_ack_when")
        go = st.form_submit_button(t("inc.ack_go", lang), type="primary")
    if go and _write(log.acknowledge, board.incident_id, int(warning_id), contact, at=when):
        _flash(t("inc.ack_saved", lang, unit=unit[contact]))
        _rerun()


def _issue_warning(board: boards.Board, area_kind: str, colour: str, text: str, departments: list[str], radius_km, minutes, polygon) -> None:
    inc = board.incident
    try:
        if area_kind == "buffer":
            area = buffer_area(inc["lon"], inc["lat"], radius_km * 1000)
        elif area_kind == "isochrone":
            if meta is None:
                st.error(t("inc.req_no_network", lang))
                return
            area = isochrone_area(_shared.network(meta), inc["lon"], inc["lat"], float(minutes))
        else:
            area = polygon_area(polygon or "")
    except OffNetwork as exc:
        st.error(t("dis.off_network", lang, dist=exc.distance_m, limit=meta["snap_limit_m"]))
        return
    except ValueError as exc:
        st.error(t("inc.warn_bad_area", lang, reason=str(exc)))
        return
    hit = affected_counties(area, counties)
    if hit.empty:
        st.error(t("inc.warn_no_county", lang))
        return
    calls = call_list(hit["code"].tolist(), departments, contacts)
    warning_id = _write(
        log.issue_warning, board.incident_id, colour=colour, text=text, area_kind=area_kind, area=shapely.geometry.mapping(area), counties=hit["code"].tolist(),
        departments=departments, calls=calls.to_dict("records"), radius_m=radius_km * 1000 if radius_km else None, minutes=minutes,
    )  # fmt: skip
    if warning_id:
        _flash(t("inc.warn_issued", lang, id=warning_id, calls=len(calls), counties="、".join(hit["name"])))
        ss["inc_warn_pick"] = warning_id
        _rerun()


def _requests_tab(board: boards.Board) -> None:
    inc = board.incident
    if board.phase != "aftermath":
        with st.expander(t("inc.req_new", lang), expanded=board.requests.empty):
            if meta is None:
                st.info(t("inc.req_no_network", lang))
            else:
                c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
                layer_key = c1.selectbox(t("inc.req_layer", lang), ["teams", "stockpiles", "bases"], key="inc_req_layer", format_func=lambda k: t(f"layer.{k}", lang))
                if c2.button(t("inc.req_find", lang), key="inc_req_find"):
                    _find_candidates(inc, layer_key)
                found = ss.get("inc_candidates") or {}
                if found.get("incident") == board.incident_id and found["rows"]:
                    rows = {r["id"]: r for r in found["rows"]}
                    with st.form("inc_req_form"):
                        rid = st.selectbox(t("inc.req_pick", lang), list(rows), key="inc_req_pick", format_func=lambda i: t(
                            "inc.req_option", lang, name=rows[i]["name"], county=names.get(rows[i]["county_code"], rows[i]["county_code"]), eta=rows[i]["eta_s"] / 60,
                            est=f"（{t('dis.estimate', lang)}）" if rows[i]["estimate"] else ""))  # fmt: skip
                        note = st.text_input(t("inc.req_text", lang), key="inc_req_text", max_chars=2000)
                        go = st.form_submit_button(t("inc.req_go", lang), type="primary")
                    if go:
                        r = rows[rid]
                        request_id = _write(log.request, board.incident_id, resource_id=r["id"], resource_name=r["name"], resource_layer=found["layer"], from_code=r["county_code"],
                                            to_code=inc["lead_code"], text=note, eta_s=r["eta_s"], estimate=r["estimate"], route=r["route"], crossed=r["crossed"],
                                            provider_department=r["department"])  # fmt: skip
                        if request_id:
                            _flash(t("inc.req_saved", lang, id=request_id, eta=r["eta_s"] / 60))
                            _rerun()
    if board.requests.empty:
        st.info(t("inc.req_none", lang))
        return
    st.dataframe(lc.requests_table(board.requests, names, lang, target_s=boards.ON_SCENE_TARGET_S), hide_index=True, width="stretch")
    open_ = board.requests[board.requests["status"].map(lambda s: bool(REQUEST_FLOW[s]))]
    if open_.empty:
        return
    st.markdown(f"**{t('inc.req_advance', lang)}**")
    with st.form("inc_req_adv_form"):
        c1, c2 = st.columns(2)
        label = dict(zip(open_["id"], [f"#{i} {n} · {label_or('inc.status', s, lang)}" for i, n, s in zip(open_["id"], open_["resource_name"], open_["status"], strict=True)], strict=True))
        rid = c1.selectbox(t("inc.req_which", lang), list(label), key="inc_req_adv_pick", format_func=label.get)
        status = c2.selectbox(t("inc.req_status", lang), ["approved", "dispatched", "arrived", "declined"], key="inc_req_adv_status", format_func=lambda s: label_or("inc.status", s, lang))
        when = _when("inc_req_when")
        go = st.form_submit_button(t("inc.req_advance_go", lang))
    if go and _write(log.advance_request, board.incident_id, int(rid), status, at=when):
        _flash(t("inc.req_advanced", lang, id=rid, status=label_or("inc.status", status, lang)))
        _rerun()


def _find_candidates(inc: dict, layer_key: str) -> None:
    pool = features[layer_key]
    try:
        with st.spinner("…"):
            result = dispatch(_shared.network(meta), (inc["lon"], inc["lat"]), pool, counties=counties, contacts=contacts, k=8)
    except OffNetwork as exc:
        st.error(t("dis.off_network", lang, dist=exc.distance_m, limit=meta["snap_limit_m"]))
        return
    except NoRoute as exc:
        st.error(t("dis.no_route", lang, reason=str(exc)))
        return
    rows = [
        {"id": str(r["id"]), "name": str(r["name"]), "county_code": str(r["county_code"]), "department": str(r["department"]), "eta_s": float(r["eta_s"]),
         "estimate": bool(r["estimate"]), "route": [[round(float(x), 6), round(float(y), 6)] for x, y in coords], "crossed": [c.code for c in crossed if c.code]}
        for (_, r), coords, crossed in zip(result.ranked.iterrows(), result.routes, result.crossed, strict=True)
    ]  # fmt: skip
    ss["inc_candidates"] = {"incident": ss["inc_pick"], "layer": layer_key, "rows": rows}


def _map_tab(board: boards.Board) -> None:
    inc = board.incident
    bounds = lc.view_bounds(inc, board.warnings, board.requests)
    outlines = near_view(jur, bounds)
    deck_layers = boundary_layers({lvl: boundary_features(lvl, outlines[outlines["level"] == lvl], lang) for lvl in ("province", "city", "county")}, level="county")
    if not board.warnings.empty:
        deck_layers.append(lc.warning_layer(board.warnings, lang))
    if not board.requests.empty:
        deck_layers += lc.request_layers(board.requests, names, lang)
    deck_layers.append(incident_layer(inc["lon"], inc["lat"], lang))
    st.pydeck_chart(make_deck(deck_layers, view_for_bounds(bounds), tile_url=_shared.settings().tile_url), height=560, key="inc_map")


def _brief_tab(board: boards.Board) -> None:
    if st.button(t("inc.brief_make", lang), key="inc_brief_make", type="primary"):
        from data.briefing import briefing

        try:
            with st.spinner("…"):
                made = briefing(board, counties, fmt=("docx", "pdf"), names=names, generated_at=now_beijing())
        except (ValueError, OSError) as exc:
            st.error(t("inc.brief_failed", lang, reason=str(exc)))
        else:
            ss["inc_brief"] = {"incident": board.incident_id, "last": board.last_id, **made}
    made = ss.get("inc_brief") or {}
    if made.get("incident") == board.incident_id:
        st.caption(t("inc.brief_done", lang, last=made["last"]))
        c1, c2 = st.columns(2)
        stem = f"{board.incident_id}-briefing-{made['last']}"
        c1.download_button(t("inc.brief_docx", lang), made["docx"], file_name=f"{stem}.docx", key="inc_dl_docx",
                           mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document")  # fmt: skip
        c2.download_button(t("inc.brief_pdf", lang), made["pdf"], file_name=f"{stem}.pdf", mime="application/pdf", key="inc_dl_pdf")
    st.download_button(t("inc.export_log", lang), lc.entries_table(board.entries, lang).to_csv(index=False).encode("utf-8-sig"),
                       file_name=f"{board.incident_id}-log.csv", mime="text/csv", key="inc_dl_log")  # fmt: skip
    st.subheader(t("inc.review", lang))
    if board.phase != "aftermath":
        st.info(t("inc.review_wait", lang))
    else:
        review = lc.review_table(boards.review(board), lang)
        st.dataframe(review, hide_index=True, width="stretch")
        st.download_button(t("inc.review_csv", lang), review.to_csv(index=False).encode("utf-8-sig"), file_name=f"{board.incident_id}-review.csv", mime="text/csv", key="inc_dl_review")
    if st.button(t("inc.verify", lang), key="inc_verify"):
        problems = log.verify()
        if problems:
            st.error(t("inc.verify_bad", lang, problems="；".join(f"#{p.entry_id} {p.reason}" for p in problems[:10])))
        else:
            st.success(t("inc.verify_ok", lang, n=log.size()))


@st.fragment(run_every=f"{int(refresh_s)}s")
def incident_view(incident_id: str) -> None:
    last = log.last_id(incident_id)
    board = boards.build(_shared.incident_rows(incident_id, last), now=now_beijing(), overdue_after_s=float(overdue_min) * 60)
    inc = board.incident
    _show_flash()
    st.subheader(f"{incident_id} · {inc['title']}")
    st.caption(t("inc.summary", lang, kind=label_or("inc.kind", inc["kind"], lang), level=label_or("inc.level", inc["level"], lang), lead=inc["lead_name"], at=f"{inc['at']:%Y-%m-%d %H:%M}"))
    st.markdown(f"**{t('inc.phase_now', lang, phase=label_or('inc.phase', board.phase, lang), since=f'{board.phase_since:%m-%d %H:%M}')}**")
    _phase_control(board)
    st.caption(t("inc.refreshed", lang, s=int(refresh_s), n=len(board.entries), last=board.last_id, at=f"{board.entries['recorded_at'].iloc[-1]:%H:%M:%S}"))
    with st.container(border=True):
        st.markdown(f"**{t('inc.feed', lang)}**  \n" + "  \n".join(lc.feed_lines(boards.timeline(board, limit=5), lang)))
    # A radio, not st.tabs: its choice is session state, so the timed refresh keeps the section open;
    # and only the open section is built on each refresh.
    sections = {"board": _board_tab, "warnings": _warnings_tab, "requests": _requests_tab, "map": _map_tab, "brief": _brief_tab}
    section = st.radio(t("inc.section", lang), list(sections), key="inc_section", horizontal=True, label_visibility="collapsed", format_func=lambda k: t(f"inc.tab_{k}", lang))
    st.divider()
    sections[section](board)


incident_view(picked)
