"""Joint consultation: one shared incident file (一事一档), its warnings and 叫应, resource requests, the briefing and the review.

Everyone sees the board; only a signed-in account writes (the sidebar's panel), and every row is
signed with it by the log, which also enforces the permission table.  The page offers only what
the table lets the account do (`data.accounts.authority.decide`): the phase form for the lead
jurisdiction's commander, the warning form for its duty officers and commander, a reason field
for a 叫应 recorded on another unit's behalf; a refusal is shown in the user's language.

The board is pushed on PostgreSQL: it reruns every 0.5 s, looks at the newest id its app process
heard by NOTIFY from any server (no query) and re-reads rows only when that moved; on DuckDB it
polls `last_id` every refresh interval (sidebar), which on PostgreSQL is the fallback's interval.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time

import shapely
import streamlit as st

from data.accounts.authority import decide
from data.incidents import board as boards
from data.incidents.briefing import write_docx, write_pdf
from data.incidents.drill import TEMPLATE, ScenarioError
from data.incidents.exercise import Drills
from data.incidents.exercise import review as drill_review
from data.incidents.log import INCIDENT_KINDS, LEVELS, NOTE_KINDS, PHASES, REQUEST_FLOW, TRANSITIONS, WARNING_COLOURS, IncidentError
from data.schema import now_beijing
from data.storage.workspace import WorkspaceError
from geo.crs import CRS_NAMES, parse_lonlat
from geo.dispatch import county_of, dispatch
from geo.routing import NoRoute, OffNetwork
from geo.warning import affected_counties, buffer_area, call_list, isochrone_area, polygon_area
from layers import consultation as lc
from layers import duty as ld
from layers.accounts import decision_text
from layers.dispatch import closure_layer, incident_layer, network_meaning, off_network_message
from layers.labels import DEPARTMENTS_ORDER, label_or, t
from layers.situation import make_deck, view_for_bounds
from pages import _shared

logger = logging.getLogger(__name__)
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
DRILL = "__drill__"
drills = Drills(log, jurisdictions=jur.drop(columns="geometry"), counties=counties, contacts=contacts)
FLASH_S = 8
# Who writes: the signed-in account (the sidebar's panel).  Every row is signed with it by the log,
# which also checks the permission table; the page only uses the table to decide what to offer.
session = _shared.signed_in()
me = session.actor if session is not None and not session.must_change else None

# ---- sidebar: which incident, refresh ----------------------------------------------------
incidents = log.incidents()
with st.sidebar:
    options = [*incidents["incident_id"], NEW, DRILL]
    # no phase in the label: a phase changed in the board's fragment would leave it stale here
    labels = {r.incident_id: (t("drill.mark", lang) if r.drill else "") + f"{r.incident_id} · {r.title} · {r.lead_name}" for r in incidents.itertuples()}
    labels |= {NEW: t("inc.new", lang), DRILL: t("drill.new", lang)}
    picked = _shared.selectbox(t("inc.pick", lang), options, key="inc_pick", format_func=labels.get)
    refresh_s = st.number_input(t("inc.refresh", lang), min_value=1, max_value=60, value=3, key="inc_refresh")
    overdue_min = st.number_input(t("inc.overdue_min", lang), min_value=1, max_value=240, value=boards.OVERDUE_AFTER_S // 60, key="inc_overdue")
    metas = _shared.networks()
    meta = _shared.pick_network(metas, "inc_network") if metas else None
    if meta is not None and (meaning := network_meaning(meta, lang)):
        st.caption(meaning)


# Writes run in the submit buttons' callbacks, before the rerun they cause: the board that
# rerun builds already holds the new row.  Their outcome waits in one message slot.
def _say(kind: str, message: str) -> None:
    """Keep `message` ('success' for a few seconds, across the timed refreshes; 'error'/'warning' until the next write)."""
    ss["inc_msg"] = (kind, message, time.monotonic() + FLASH_S if kind == "success" else float("inf"))


def _show_message() -> None:
    kind, message, until = ss.get("inc_msg") or ("", "", 0.0)
    if message and time.monotonic() < until:
        {"success": st.success, "error": st.error, "warning": st.warning}[kind](message)


def _write(fn, *args, done=None, **kwargs):
    """One log write signed by the signed-in account (in a callback); a refusal becomes the message and nothing is saved.

    Refusals: the log's (`IncidentError`), the session's and the permission table's
    (`AuthError`, `Refused`).  `done` turns the result into the confirmation.  Returns the
    result, or None when refused.
    """
    ss.pop("inc_msg", None)
    return _shared.signed_write(fn, *args, say=_say, refusal=lambda exc: lc.error_text(exc.code, exc.params, lang), names=names, done=done, **kwargs)


def _may(action: str, **context):
    """The permission table's `decide` for the signed-in account (None when nobody may write here): what to offer."""
    return None if me is None else decide(me, action, **context)


def _no_account() -> bool:
    """Where write forms would be: True after saying how to get an account that may write (sign in, or change the initial password)."""
    if session is not None and session.must_change:
        st.info(t("acc.err.must_change", lang))
        return True
    if me is None:
        _shared.sign_in_hint()
        return True
    return False


def _people(usernames) -> dict[str, str]:
    """Username -> 姓名（辖区） of the accounts that signed these rows (the board shows them, not the usernames).

    Read from the accounts once per browser session, and again when a row is signed by an
    account not yet known (display names never change); a name that is no account is shown as it is.
    """
    wanted = set(usernames)
    known = ss.get("inc_people") or {}
    if not wanted <= known.keys():
        acc = _shared.accounts()
        known = {a.username: (a.display_name, a.jurisdiction) for a in acc.accounts()} if acc is not None else {}
        known |= {u: None for u in wanted if u not in known}
        ss["inc_people"] = known
    return {u: t("inc.signer", lang, name=known[u][0], jurisdiction=names.get(known[u][1], known[u][1])) for u in wanted if known[u]}


def _when(key: str) -> None:
    """Widgets for a backfilled time (Beijing time), empty for "now"; `_when_value(key)` reads them.

    Their defaults are fixed (empty), never the clock: a default that moves would make a new
    widget on a later refresh and drop what was entered.
    """
    c1, c2 = st.columns(2)
    c1.date_input(t("inc.f_date", lang), value=None, key=f"{key}_date", format="YYYY/MM/DD")
    c2.time_input(t("inc.f_time", lang), value=None, key=f"{key}_time", step=60)


def _when_value(key: str) -> dt.datetime | None:
    """None ("now") when no time was entered, else that time on the date entered (today if none)."""
    clock = ss.get(f"{key}_time")
    if clock is None:
        return None
    return dt.datetime.combine(ss.get(f"{key}_date") or now_beijing().date(), clock)


# ---- a new incident ----------------------------------------------------------------------
places = features["places"]
place_label = dict(zip(places["id"], places["name"] + " · " + places["county_name"], strict=True))


def _open_incident() -> None:
    kind, level, phase, departments = (_shared.form_chosen(k) for k in ("inc_f_kind", "inc_f_level", "inc_f_phase", "inc_f_depts"))
    how = ss["inc_where"]
    if how == "county":
        pt = counties.loc[counties["code"] == ss["inc_f_county"]].geometry.iloc[0].representative_point()
        lon, lat, place = pt.x, pt.y, names[ss["inc_f_county"]]
    elif how == "place":
        g = places.geometry[places["id"] == ss["inc_f_place"]].iloc[0]
        lon, lat, place = g.x, g.y, place_label[ss["inc_f_place"]]
    else:
        try:
            lon, lat = parse_lonlat(ss["inc_f_coords"], ss["inc_f_crs"])
        except ValueError:  # geo.crs says why in English: the message says what to type instead
            _say("error", t("inc.coords_bad", lang, text=lc.plain(ss["inc_f_coords"])))
            return
        place = ""
    lead = county_of(counties, lon, lat)
    if not lead:
        _say("error", t("inc.no_county", lang, lon=lon, lat=lat))
        return
    new_id = _write(
        log.open_incident, title=ss["inc_f_title"], kind=kind, level=level, lon=lon, lat=lat, lead_code=lead, lead_name=names.get(lead, lead),
        at=_when_value("inc_f_when"), place=place, description=ss["inc_f_desc"], jurisdictions=ss["inc_f_jur"], departments=departments, phase=phase,
        done=lambda i: t("inc.opened", lang, id=i, lead=names.get(lead, lead)),
    )  # fmt: skip
    if new_id:
        ss["inc_pick"] = new_id  # before the selectbox exists: the next run opens it
        ss["inc_f_title"] = ss["inc_f_desc"] = ""


def _new_incident() -> None:
    st.subheader(t("inc.new_title", lang))
    if _no_account():
        return
    may = _may("incident.open", lead_code=me.jurisdiction)  # a duty officer or commander may open one in their own jurisdiction
    if not may.allowed:
        st.info(decision_text(may, lang, names))
        return
    how = _shared.radio(t("inc.f_where", lang), ["county", "place", "coords"], key="inc_where", horizontal=True, format_func=lambda h: t(f"inc.f_where_{h}", lang))
    with st.form("inc_new_form"):
        st.text_input(t("inc.f_title", lang), key="inc_f_title", max_chars=100)
        c1, c2 = st.columns(2)
        with c1:
            _shared.form_choice(st.selectbox, t("inc.f_kind", lang), INCIDENT_KINDS, key="inc_f_kind", format_func=lambda k: label_or("inc.kind", k, lang))
        with c2:
            _shared.form_choice(st.selectbox, t("inc.f_level", lang), LEVELS, default=LEVELS[3], key="inc_f_level", format_func=lambda k: label_or("inc.level", k, lang))
        if how == "county":
            codes = counties["code"].tolist()
            st.selectbox(t("dis.by_jurisdiction", lang), codes, index=codes.index(me.jurisdiction if me.jurisdiction in codes else "330421"), key="inc_f_county", format_func=lambda c: f"{names[c]} ({names.get(c[:4] + '00', '')})")
        elif how == "place":
            st.selectbox(t("inc.f_place", lang), places["id"].tolist(), key="inc_f_place", format_func=place_label.get)
        else:
            st.selectbox(t("dis.coords_crs", lang), list(CRS_NAMES), key="inc_f_crs", format_func=lambda c: {"wgs84": "WGS84 / CGCS2000", "gcj02": "GCJ-02（高德/腾讯）", "bd09": "BD-09（百度）"}[c])
            st.text_input(t("dis.coords", lang), value="120.9070,30.8410", key="inc_f_coords")
        _shared.form_choice(st.selectbox, t("inc.f_phase", lang), PHASES[:3], default=PHASES[1], key="inc_f_phase", format_func=lambda p: label_or("inc.phase", p, lang))
        _when("inc_f_when")
        st.multiselect(t("inc.f_jurisdictions", lang), counties["code"].tolist(), key="inc_f_jur", format_func=lambda c: f"{names[c]} ({names.get(c[:4] + '00', '')})",
                       placeholder=t("inc.f_jur_placeholder", lang), select_all=False)  # fmt: skip
        _shared.form_choice(st.multiselect, t("inc.f_departments", lang), DEPARTMENTS_ORDER, default=["emergency", "fire"], multi=True, key="inc_f_depts",
                 format_func=lambda d: label_or("dept", d, lang), placeholder=t("inc.depts_placeholder", lang))  # fmt: skip
        st.text_area(t("inc.f_description", lang), key="inc_f_desc", max_chars=2000)
        st.form_submit_button(t("inc.f_open", lang), type="primary", on_click=_open_incident)


def _start_drill() -> None:
    ss.pop("inc_drill_problems", None)
    upload = ss.get("inc_drill_file")
    text, filename = (upload.getvalue().decode("utf-8-sig", errors="replace"), upload.name) if upload is not None else (ss["inc_drill_text"], None)
    try:
        new_id = _write(drills.start, text, filename=filename, done=lambda i: t("drill.started", lang, id=i))
    except ScenarioError as exc:  # every problem, by line; nothing was opened
        ss["inc_drill_problems"] = [(p.line, lc.drill_problem_text(p.code, p.params, lang)) for p in exc.problems]
        return
    if new_id:
        ss["inc_pick"] = new_id


def _new_drill() -> None:
    st.subheader(t("drill.title", lang))
    st.caption(t("drill.intro", lang))
    if _no_account():
        return
    may = _may("drill.control", lead_code=me.jurisdiction)
    if not may.allowed:
        st.info(decision_text(may, lang, names))
        return
    ss.setdefault("inc_drill_text", TEMPLATE)
    problems = ss.get("inc_drill_problems")
    if problems:
        st.error(t("drill.err.scenario", lang, count=len(problems)) + "  \n" + "  \n".join(lc.plain(t("drill.problem_line", lang, line=n, text=x)) for n, x in problems))
    st.text_area(t("drill.editor", lang), key="inc_drill_text", height=420)
    st.file_uploader(t("drill.upload", lang), type=["yaml", "yml", "json"], key="inc_drill_file")
    st.button(t("drill.start", lang), type="primary", key="inc_drill_start", on_click=_start_drill)


if picked == NEW or picked == DRILL or incidents.empty:
    if incidents.empty:
        st.info(t("inc.none", lang))
    _show_message()
    _new_drill() if picked == DRILL else _new_incident()
    st.stop()


# ---- the shared board, refreshed on its own ------------------------------------------
def _resources(board: boards.Board) -> dict[int, str]:
    """Request id -> the resource requested."""
    return dict(zip(board.requests["id"], board.requests["resource_name"], strict=True))


def _phase_control(board: boards.Board) -> None:
    """The phase form, for the lead jurisdiction's commander only (统一领导): the phases they may move the incident to."""
    if not TRANSITIONS[board.phase]:
        st.caption(t("inc.phase_final", lang))
        return
    if me is None:
        return  # the sections below say how to sign in
    lead = board.incident["lead_code"]
    decisions = {p: _may("incident.end" if p == "aftermath" else "incident.phase", lead_code=lead) for p in TRANSITIONS[board.phase]}
    allowed = [p for p, d in decisions.items() if d.allowed]
    if not allowed:
        st.caption(decision_text(next(iter(decisions.values())), lang, names))
        return
    with st.form("inc_phase_form", border=False):
        c1, c2, c3 = st.columns([2, 3, 1], vertical_alignment="bottom")
        with c1:
            _shared.form_choice(st.selectbox, t("inc.phase_to", lang), allowed, key="inc_phase_to", format_func=lambda p: label_or("inc.phase", p, lang))
        c2.text_input(t("inc.phase_note", lang), key="inc_phase_note", max_chars=2000)
        c3.form_submit_button(t("inc.phase_go", lang), on_click=_change_phase, args=(board.incident_id,))


def _change_phase(incident_id: str) -> None:
    target = _shared.form_chosen("inc_phase_to")
    if _write(log.transition, incident_id, target, text=ss["inc_phase_note"], done=lambda i: t("inc.phase_changed", lang, phase=label_or("inc.phase", target, lang), id=i)):
        ss["inc_phase_note"] = ""


def _entry_form(board: boards.Board) -> None:
    if _no_account():
        return
    may = _may("entry.post", department=me.department, jurisdictions=board.incident["jurisdictions"])
    if not may.allowed:
        st.info(decision_text(may, lang, names))
        return
    with st.form("inc_entry_form"):
        c1, c2 = st.columns([1, 3])
        with c1:
            _shared.form_choice(st.selectbox, t("inc.entry_kind", lang), NOTE_KINDS, key="inc_entry_kind", format_func=lambda k: label_or("inc.entry", k, lang))
        c2.text_area(t("inc.entry_text", lang), key="inc_entry_text", height=80)
        # a number, not a list of ids: new rows from other sessions would reset a list's choice on refresh
        st.number_input(t("inc.entry_corrects", lang), min_value=0, step=1, key="inc_entry_corrects")
        st.caption(t("inc.signed_as", lang, who=_people([me.username]).get(me.username, me.username), department=label_or("dept", me.department, lang)))
        st.form_submit_button(t("inc.entry_add", lang), type="primary", on_click=_add_note, args=(board.incident_id,))


def _board_tab(board: boards.Board) -> None:
    _entry_form(board)
    people = _people(board.entries["who"])
    depts = sorted(board.entries["department"].unique())
    only = _shared.selectbox(t("inc.filter_dept", lang), [None, *depts], key="inc_filter_dept",
                             format_func=lambda d: t("inc.all_departments", lang) if d is None else label_or("dept", d, lang))  # fmt: skip
    rows = boards.timeline(board)
    if only:
        rows = rows[rows["department"] == only]
    shown = rows.head(500)
    st.caption(t("inc.shown", lang, shown=len(shown), n=len(rows)))
    st.dataframe(lc.entries_table(shown, lang, names, _resources(board), people=people), hide_index=True, width="stretch", height=420)
    with st.expander(t("inc.timeline_chart", lang)):
        st.altair_chart(lc.timeline_chart(board.entries, lang), width="stretch")
    with st.expander(t("inc.phases", lang)):
        st.dataframe(lc.phases_table(board.phases, lang, people=people), hide_index=True, width="stretch")


def _add_note(incident_id: str) -> None:
    corrects = int(ss["inc_entry_corrects"]) or None
    if _write(log.note, incident_id, _shared.form_chosen("inc_entry_kind"), ss["inc_entry_text"], corrects=corrects, done=lambda i: t("inc.entry_saved", lang, id=i)):
        ss["inc_entry_text"] = ""  # kept when refused: nothing typed is lost
        ss["inc_entry_corrects"] = 0


def _warnings_tab(board: boards.Board) -> None:
    inc = board.incident
    signed = not _no_account()
    may_issue = _may("warning.issue", lead_code=inc["lead_code"])
    if signed and board.phase != "aftermath" and not may_issue.allowed:
        st.caption(decision_text(may_issue, lang, names))
    if signed and board.phase != "aftermath" and may_issue.allowed:
        with st.expander(t("inc.warn_new", lang), expanded=board.warnings.empty):
            area_kind = _shared.radio(t("inc.warn_area", lang), ["buffer", "isochrone", "polygon"], key="inc_warn_area", horizontal=True,
                                      format_func=lambda a: label_or("inc.area", a, lang))  # fmt: skip
            with st.form("inc_warn_form"):
                c1, c2 = st.columns([1, 3])
                with c1:
                    _shared.form_choice(st.selectbox, t("inc.warn_colour", lang), WARNING_COLOURS, key="inc_warn_colour", format_func=lambda c: label_or("inc.colour", c, lang))
                c2.text_area(t("inc.warn_text", lang), key="inc_warn_text", height=80)
                if area_kind == "buffer":
                    st.number_input(t("inc.warn_radius", lang), min_value=0.1, max_value=100.0, value=5.0, step=0.5, key="inc_warn_radius")
                elif area_kind == "isochrone":
                    st.number_input(t("inc.warn_minutes", lang), min_value=1, max_value=180, value=15, key="inc_warn_minutes")
                else:
                    st.text_area(t("inc.warn_polygon", lang), key="inc_warn_polygon", height=100)
                _shared.form_choice(st.multiselect, t("inc.warn_departments", lang), DEPARTMENTS_ORDER, default=list(inc["departments"]) or ["emergency"], multi=True,
                         key="inc_warn_depts", format_func=lambda d: label_or("dept", d, lang), placeholder=t("inc.depts_placeholder", lang))  # fmt: skip
                st.form_submit_button(t("inc.warn_issue", lang), type="primary", on_click=_issue_warning, args=(board.incident_id, inc["lon"], inc["lat"]))
    if board.warnings.empty:
        st.info(t("inc.warn_none", lang))
        return
    total_calls, total_acked = int(board.warnings["calls"].sum()), int(board.warnings["acked"].sum())
    c1, c2, c3 = st.columns(3)
    c1.metric(t("inc.rate", lang), lc.rate_text(total_acked, total_calls, lang))
    first = board.warnings["first_ack_s"].min()
    c2.metric(t("inc.first_ack", lang), "—" if first != first else f"{boards.minutes_text(first)} {t('dis.min', lang)}")
    c3.metric(t("inc.overdue", lang), int(board.warnings["overdue"].sum()))
    st.dataframe(lc.warnings_table(board.warnings, names, lang), hide_index=True, width="stretch")
    colour_of = dict(zip(board.warnings["id"], board.warnings["colour"], strict=True))
    warning_id = _shared.selectbox(t("inc.col.colour", lang), board.warnings["id"].iloc[::-1].tolist(), key="inc_warn_pick",
                                   format_func=lambda i: f"#{i} {label_or('inc.colour', colour_of[i], lang)}")  # fmt: skip
    calls = board.calls[board.calls["warning_id"] == warning_id]
    st.markdown(f"**{t('inc.calls_of', lang, id=warning_id)}**")
    st.dataframe(lc.calls_table(calls, names, lang, answered=lc.answers(board.entries), people=_people(board.entries["who"])), hide_index=True, width="stretch")
    waiting = calls[calls["state"] != "acked"]
    if waiting.empty:
        st.success(t("inc.ack_all", lang))
        return
    if not signed:
        return
    # each unit answers its own 叫应; a duty officer or commander party to the incident may record it on the unit's behalf, with a reason
    own, behalf = [], []
    for dept, code in zip(waiting["department"], waiting["jurisdiction_code"], strict=True):
        context = {"unit_department": str(dept or ""), "unit_jurisdiction": str(code or ""), "jurisdictions": inc["jurisdictions"]}
        own.append(_may("ack.answer", **context, reason=""))
        behalf.append(_may("ack.answer", **context, reason="—"))
    if not any(d.allowed for d in own + behalf):
        st.caption(decision_text(own[0], lang, names))
        return
    unit = dict(zip(waiting["contact_id"], waiting["unit"] + " · " + waiting["jurisdiction_code"].map(lambda c: names.get(c, c)) + " · " + waiting["department"].map(lambda d: label_or("dept", d, lang)), strict=True))
    with st.form("inc_ack_form"):
        _shared.form_choice(st.selectbox, t("inc.ack_pick", lang), list(unit), key="inc_ack_contact", format_func=unit.get)
        _when("inc_ack_when")
        if any(d.on_behalf for d in behalf):
            st.text_input(t("inc.ack_reason", lang), key="inc_ack_reason", max_chars=200, placeholder=t("inc.ack_reason_hint", lang))
        st.form_submit_button(t("inc.ack_go", lang), type="primary", on_click=_acknowledge, args=(board.incident_id, int(warning_id), unit))


def _acknowledge(incident_id: str, warning_id: int, unit: dict[str, str]) -> None:
    contact = _shared.form_chosen("inc_ack_contact")
    if _write(log.acknowledge, incident_id, warning_id, contact, at=_when_value("inc_ack_when"), reason=ss.get("inc_ack_reason") or "",
              done=lambda _: t("inc.ack_saved", lang, unit=lc.plain(unit[contact]))):  # fmt: skip
        ss["inc_ack_reason"] = ""


def _issue_warning(incident_id: str, lon: float, lat: float) -> None:
    ss.pop("inc_msg", None)
    area_kind = ss["inc_warn_area"]
    try:
        if area_kind == "buffer":
            area = buffer_area(lon, lat, ss["inc_warn_radius"] * 1000)
        elif area_kind == "isochrone":
            if meta is None:
                _say("error", t("inc.req_no_network", lang))
                return
            area = isochrone_area(_shared.network(meta), lon, lat, float(ss["inc_warn_minutes"]))
        else:
            if not (ss.get("inc_warn_polygon") or "").strip():
                _say("error", t("inc.warn_polygon_empty", lang))
                return
            area = polygon_area(ss["inc_warn_polygon"])
    except OffNetwork as exc:
        _say("error", off_network_message(exc, lang))
        return
    except ValueError:  # geo.warning says why in English: the message says what is accepted
        _say("error", t("inc.warn_polygon_bad" if area_kind == "polygon" else "inc.warn_bad_area", lang))
        return
    hit = affected_counties(area, counties)
    if hit.empty:
        _say("error", t("inc.warn_no_county", lang))
        return
    departments = _shared.form_chosen("inc_warn_depts")
    calls = call_list(hit["code"].tolist(), departments, contacts)
    warning_id = _write(
        log.issue_warning, incident_id, colour=_shared.form_chosen("inc_warn_colour"), text=ss["inc_warn_text"], area_kind=area_kind, area=shapely.geometry.mapping(area),
        counties=hit["code"].tolist(), departments=departments, calls=calls.to_dict("records"), radius_m=ss["inc_warn_radius"] * 1000 if area_kind == "buffer" else None,
        minutes=ss["inc_warn_minutes"] if area_kind == "isochrone" else None,
        done=lambda i: t("inc.warn_issued", lang, id=i, calls=len(calls), counties="、".join(hit["name"])),
    )  # fmt: skip
    if warning_id:
        ss["inc_warn_pick"] = warning_id
        ss["inc_warn_text"] = ""


_STEP_ACTION = {"approved": "request.approve", "declined": "request.approve", "dispatched": "request.dispatch", "arrived": "request.arrive"}


def _steps_allowed(requests) -> dict[int, list[str]]:
    """Open request id -> the statuses the signed-in account may move it to (the providing side approves and dispatches)."""
    out = {}
    for r in requests.itertuples():
        context = {"from_code": r.from_code, "to_code": r.to_code, "provider_department": r.provider_department or ""}
        steps = [s for s in REQUEST_FLOW[r.status] if _may(_STEP_ACTION[s], **context).allowed]
        if steps:
            out[int(r.id)] = steps
    return out


def _requests_tab(board: boards.Board) -> None:
    inc = board.incident
    signed = not _no_account()
    may_request = _may("request.create", to_code=inc["lead_code"])
    if signed and board.phase != "aftermath" and not may_request.allowed:
        st.caption(decision_text(may_request, lang, names))
    if signed and board.phase != "aftermath" and may_request.allowed:
        with st.expander(t("inc.req_new", lang), expanded=board.requests.empty):
            if meta is None:
                st.info(t("inc.req_no_network", lang))
            else:
                c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
                with c1:
                    _shared.selectbox(t("inc.req_layer", lang), ["teams", "stockpiles", "bases"], key="inc_req_layer", format_func=lambda k: t(f"layer.{k}", lang))
                c2.button(t("inc.req_find", lang), key="inc_req_find", on_click=_find_candidates, args=(board.incident_id, inc["lon"], inc["lat"]))
                found = ss.get("inc_candidates") or {}
                if found.get("incident") == board.incident_id and found["rows"]:
                    rows = {r["id"]: r for r in found["rows"]}
                    with st.form("inc_req_form"):
                        _shared.form_choice(st.selectbox, t("inc.req_pick", lang), list(rows), key="inc_req_pick", format_func=lambda i: t(
                            "inc.req_option", lang, name=rows[i]["name"], county=names.get(rows[i]["county_code"], rows[i]["county_code"]), eta=boards.minutes(rows[i]["eta_s"]),
                            est=f"（{t('dis.estimate', lang)}）" if rows[i]["estimate"] else ""))  # fmt: skip
                        st.text_input(t("inc.req_text", lang), key="inc_req_text", max_chars=2000)
                        st.form_submit_button(t("inc.req_go", lang), type="primary", on_click=_request, args=(board.incident_id, inc["lead_code"], found["layer"], rows))
    if board.requests.empty:
        st.info(t("inc.req_none", lang))
        return
    st.dataframe(lc.requests_table(board.requests, names, lang, target_s=boards.ON_SCENE_TARGET_S), hide_index=True, width="stretch")
    open_ = board.requests[board.requests["status"].map(lambda s: bool(REQUEST_FLOW[s]))]
    if open_.empty or not signed:
        return
    steps = _steps_allowed(open_)
    if not steps:
        st.caption(t("inc.req_not_yours", lang))
        return
    open_ = open_[open_["id"].isin(list(steps))]
    st.markdown(f"**{t('inc.req_advance', lang)}**")
    with st.form("inc_req_adv_form"):
        c1, c2 = st.columns(2)
        label = dict(zip(open_["id"], [f"#{i} {n} · {label_or('inc.status', s, lang)}" for i, n, s in zip(open_["id"], open_["resource_name"], open_["status"], strict=True)], strict=True))
        statuses = [s for s in ("approved", "dispatched", "arrived", "declined") if any(s in v for v in steps.values())]
        with c1:
            _shared.form_choice(st.selectbox, t("inc.req_which", lang), list(label), key="inc_req_adv_pick", format_func=label.get)
        with c2:
            _shared.form_choice(st.selectbox, t("inc.req_status", lang), statuses, key="inc_req_adv_status",
                     format_func=lambda s: label_or("inc.status", s, lang))  # fmt: skip
        _when("inc_req_when")
        st.form_submit_button(t("inc.req_advance_go", lang), on_click=_advance, args=(board.incident_id,))


def _request(incident_id: str, lead_code: str, layer: str, rows: dict[str, dict]) -> None:
    r = rows[_shared.form_chosen("inc_req_pick")]
    if _write(log.request, incident_id, resource_id=r["id"], resource_name=r["name"], resource_layer=layer, from_code=r["county_code"], to_code=lead_code,
              text=ss["inc_req_text"], eta_s=r["eta_s"], estimate=r["estimate"], route=r["route"], crossed=r["crossed"], provider_department=r["department"],
              done=lambda i: t("inc.req_saved", lang, id=i, eta=boards.minutes(r["eta_s"]))):  # fmt: skip
        ss["inc_req_text"] = ""


def _advance(incident_id: str) -> None:
    rid, status = int(_shared.form_chosen("inc_req_adv_pick")), _shared.form_chosen("inc_req_adv_status")
    _write(log.advance_request, incident_id, rid, status, at=_when_value("inc_req_when"), done=lambda _: t("inc.req_advanced", lang, id=rid, status=label_or("inc.status", status, lang)))


def _find_candidates(incident_id: str, lon: float, lat: float) -> None:
    ss.pop("inc_msg", None)
    layer_key = ss["inc_req_layer"]
    closed = boards.closures(boards.build(log.rows(incident_id), now=now_beijing()))  # closures recorded on the incident are avoided
    try:
        result = dispatch(_shared.network(meta), (lon, lat), features[layer_key], counties=counties, contacts=contacts, k=8,
                          closures=[p for _, p in closed], closure_names=[n for n, _ in closed])  # fmt: skip
    except OffNetwork as exc:
        _say("error", off_network_message(exc, lang))
        return
    except NoRoute:
        _say("error", t("inc.no_route", lang))
        return
    rows = [
        {"id": str(r["id"]), "name": str(r["name"]), "county_code": str(r["county_code"]), "department": str(r["department"]), "eta_s": float(r["eta_s"]),
         "estimate": bool(r["estimate"]), "route": [[round(float(x), 6), round(float(y), 6)] for x, y in coords], "crossed": [c.code for c in crossed if c.code]}
        for (_, r), coords, crossed in zip(result.ranked.iterrows(), result.routes, result.crossed, strict=True)
    ]  # fmt: skip
    ss["inc_candidates"] = {"incident": incident_id, "layer": layer_key, "rows": rows}


def _map_tab(board: boards.Board) -> None:
    inc = board.incident
    bounds = lc.view_bounds(inc, board.warnings, board.requests)
    view = view_for_bounds(bounds)
    deck_layers = _shared.near_outlines(bounds, zoom=view.zoom)  # static files the browser fetches once, not features on every refresh
    if not board.warnings.empty:
        deck_layers.append(lc.warning_layer(board.warnings, lang))
    if not board.requests.empty:
        deck_layers += lc.request_layers(board.requests, names, lang)
    closed = boards.closures(board)
    if closed:
        deck_layers.append(closure_layer([p for _, p in closed], [n for n, _ in closed], lang))
    deck_layers.append(incident_layer(inc["lon"], inc["lat"], lang, drill=bool(inc.get("drill"))))
    if inc.get("drill"):
        st.caption(t("drill.banner", lang))
    st.pydeck_chart(make_deck(deck_layers, view, tile_url=_shared.settings().tile_url), height=560, key="inc_map")


def _make_brief(board: boards.Board) -> None:
    """Build the briefing of `board` (a button's callback): kept in the session, or a lasting message on failure."""
    from data.incidents.briefing import briefing

    ss.pop("inc_msg", None)
    try:
        signers = _people({*board.entries["who"], board.incident.get("who")} - {None})
        made = briefing(board, jur[jur["level"] == "county"], fmt=("docx", "pdf"), names=names, generated_at=now_beijing(), signers=signers)
    except (ValueError, OSError):
        logger.exception("briefing of %s failed", board.incident_id)
        _say("error", t("inc.brief_failed", lang))
    else:
        ss["inc_brief"] = {"incident": board.incident_id, "last": board.last_id, **made}


def _verify() -> None:
    """Check the whole trace (a button's callback); the result stays in the session, shown until the log grows."""
    rows = log.size()  # counted first: a row added meanwhile makes the result read as stale, never as covering it
    ss["inc_verified"] = {"at": now_beijing(), "rows": rows, "problems": log.verify()}


def _verification() -> None:
    done = ss.get("inc_verified")
    if not done:
        return
    rows_now = log.size()
    if rows_now != done["rows"]:
        st.caption(t("inc.verify_stale", lang, at=f"{done['at']:%H:%M:%S}", n=done["rows"]))
        return
    text = lc.verify_text(done["problems"], checked_at=done["at"], rows=done["rows"], lang=lang)
    (st.error if done["problems"] else st.success)(text)


def _brief_tab(board: boards.Board) -> None:
    st.button(t("inc.brief_make", lang), key="inc_brief_make", type="primary", on_click=_make_brief, args=(board,))
    made = ss.get("inc_brief") or {}
    if made.get("incident") == board.incident_id:
        st.caption(t("inc.brief_done", lang, last=made["last"]))
        c1, c2 = st.columns(2)
        stem = f"{board.incident_id}-briefing-{made['last']}"
        c1.download_button(t("inc.brief_docx", lang), made["docx"], file_name=f"{stem}.docx", key="inc_dl_docx",
                           mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document")  # fmt: skip
        c2.download_button(t("inc.brief_pdf", lang), made["pdf"], file_name=f"{stem}.pdf", mime="application/pdf", key="inc_dl_pdf")
    st.download_button(t("inc.export_log", lang), lc.entries_table(board.entries, lang, names, _resources(board), people=_people(board.entries["who"])).to_csv(index=False).encode("utf-8-sig"),
                       file_name=("演练-" if board.incident.get("drill") else "") + f"{board.incident_id}-log.csv", mime="text/csv", key="inc_dl_log")  # fmt: skip
    st.subheader(t("inc.review", lang))
    if board.phase != "aftermath":
        st.info(t("inc.review_wait", lang))
    else:
        review = lc.review_table(boards.review(board), lang)
        st.dataframe(review, hide_index=True, width="stretch")
        st.download_button(t("inc.review_csv", lang), review.to_csv(index=False).encode("utf-8-sig"), file_name=f"{board.incident_id}-review.csv", mime="text/csv", key="inc_dl_review")
    st.button(t("inc.verify", lang), key="inc_verify", on_click=_verify)
    _verification()


def _drill_tab(board: boards.Board) -> None:
    """The controller's view of a drill (the injects and when they fire) and, for all once it has ended, the scored review."""
    controller = me is not None and me.username == board.incident.get("controller")
    if not controller and board.phase != "aftermath":
        st.info(t("drill.only_controller", lang))
        return
    schedule = drills.schedule(board.incident_id)
    if controller:
        st.markdown(f"**{t('drill.schedule', lang)}**")
        st.dataframe(ld.schedule_table(schedule, lang), hide_index=True, width="stretch")
    st.markdown(f"**{t('drill.review', lang)}**")
    scored = drill_review(board, names=names)
    if scored.empty:
        st.caption(t("drill.no_review", lang))
        return
    st.dataframe(ld.drill_review_table(scored, lang), hide_index=True, width="stretch")
    st.altair_chart(lc.timeline_chart(board.entries, lang), width="stretch")
    blocks = ld.drill_review_blocks(board, scored, schedule)
    c1, c2 = st.columns(2)
    c1.download_button(t("drill.review_docx", lang), write_docx(blocks), file_name=f"{board.incident_id}-review.docx", key="inc_drill_docx")
    c2.download_button(t("drill.review_pdf", lang), write_pdf(blocks, title=f"{board.incident_id} 演练评估", footer=f"{board.incident_id}　演练评估"),
                       file_name=f"{board.incident_id}-review.pdf", mime="application/pdf", key="inc_drill_pdf")  # fmt: skip


# The board's refresh (`pages._shared.incident_stamp`): on PostgreSQL it reruns every
# `_shared.PUSH_CHECK_S` seconds, a look at the newest id this process heard by NOTIFY (no
# query), and re-reads rows only when that moved (the database is asked at most every
# `refresh_s` seconds, for a missed notification); on DuckDB it reruns every `refresh_s` seconds
# and asks `last_id`.
@st.fragment(run_every=_shared.PUSH_CHECK_S if _shared.incident_pushed() else float(int(refresh_s)))
def incident_view(incident_id: str) -> None:
    if incident_id.startswith("DRILL-"):  # a drill's injects due by now, written by whichever session looks first (once each)
        try:
            drills.fire_due(incident_id)
        except (IncidentError, ScenarioError, WorkspaceError):
            logger.exception("drill %s: injects not fired", incident_id)
    last = _shared.incident_stamp(incident_id, fallback_s=float(refresh_s))
    board = _shared.incident_board(incident_id, last, now=now_beijing(), overdue_after_s=float(overdue_min) * 60)  # shared by the process's sessions
    inc = board.incident
    if inc.get("drill") and (me is None or me.username != inc.get("controller")):  # 双盲: the players see the injects, not the drill's own rows
        board = dataclasses.replace(board, entries=board.entries[board.entries["kind"] != "drill_start"])
    _show_message()
    if inc.get("drill"):
        st.warning(t("drill.banner", lang))
    st.subheader((t("drill.mark", lang) if inc.get("drill") else "") + f"{incident_id} · {lc.plain(inc['title'])}")
    st.caption(t("inc.summary", lang, kind=label_or("inc.kind", inc["kind"], lang), level=label_or("inc.level", inc["level"], lang), lead=inc["lead_name"], at=f"{inc['at']:%Y-%m-%d %H:%M}"))
    st.markdown(f"**{t('inc.phase_now', lang, phase=label_or('inc.phase', board.phase, lang), since=f'{board.phase_since:%m-%d %H:%M}')}**")
    _phase_control(board)
    st.caption(t("inc.refreshed_push" if _shared.incident_pushed() else "inc.refreshed", lang, s=int(refresh_s), n=len(board.entries), last=board.last_id,
                 at=f"{board.entries['recorded_at'].iloc[-1]:%H:%M:%S}"))  # fmt: skip
    with st.container(border=True):
        st.markdown(f"**{t('inc.feed', lang)}**  \n" + "  \n".join(lc.feed_lines(boards.timeline(board, limit=5), lang, names, _resources(board), people=_people(board.entries["who"]))))
    # A radio, not st.tabs: its choice is session state, so the timed refresh keeps the section open;
    # and only the open section is built on each refresh.
    sections = {"board": _board_tab, "warnings": _warnings_tab, "requests": _requests_tab, "map": _map_tab, "brief": _brief_tab}
    if inc.get("drill"):
        sections["drill"] = _drill_tab
    section = _shared.radio(t("inc.section", lang), list(sections), key="inc_section", horizontal=True, label_visibility="collapsed",
                            format_func=lambda k: t(f"inc.tab_{k}", lang))  # fmt: skip
    st.divider()
    sections[section](board)


incident_view(picked)
