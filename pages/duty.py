"""Duty and reports (值班值守与信息报送): the roster, the shift handover from the live boards, and an incident's 初报/续报/终报.

Every write is signed by the signed-in account and allowed by the permission table
(``duty.roster``, ``duty.handover``, ``report.submit``); the page offers a form only to those
the table lets use it, and a refusal is shown in the user's language with nothing saved.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from data.accounts.authority import decide
from data.incidents import board as boards
from data.incidents import reports as rp
from data.incidents.briefing import write_docx, write_pdf
from data.incidents.duty import DutyBook, handover_blocks, handover_content
from data.schema import now_beijing
from layers import duty as ld
from layers.accounts import decision_text
from layers.labels import t
from pages import _shared

_shared.ensure_router()
lang = _shared.lang()
ss = st.session_state
st.title(t("duty.title", lang))
log = _shared.incident_log()
if log is None:
    st.stop()
book = DutyBook(log)
reports = rp.Reports(log)
jur = _shared.jurisdictions()
names = dict(zip(jur["code"], jur["name"], strict=True))
session = _shared.signed_in()
me = session.actor if session is not None and not session.must_change else None


def _accounts() -> dict[str, tuple[str, str]]:
    """username -> (display name, jurisdiction) of every account (for the roster's choices and the names shown)."""
    acc = _shared.accounts()
    return {a.username: (a.display_name, a.jurisdiction) for a in acc.accounts()} if acc is not None else {}


accounts = _accounts()
people = {u: t("inc.signer", lang, name=n, jurisdiction=names.get(j, j)) for u, (n, j) in accounts.items()}

with st.sidebar:
    st.subheader(t("duty.where", lang))
    codes = jur["code"].tolist()
    default = me.jurisdiction if me is not None and me.jurisdiction in codes else "330421"
    code = _shared.selectbox(t("duty.jurisdiction", lang), codes, key="duty_code", default=default, format_func=lambda c: f"{names.get(c, c)} ({c})")


def _say(kind: str, message: str) -> None:
    ss["duty_msg"] = (kind, message)


def _show_message() -> None:
    kind, message = ss.pop("duty_msg", ("", ""))
    if message:
        {"success": st.success, "error": st.error, "warning": st.warning}[kind](message)


def _write(fn, *args, done=None, **kwargs):
    """One signed write (in a callback); a refusal becomes the message and nothing is saved (`_shared.signed_write`)."""
    return _shared.signed_write(fn, *args, say=_say, refusal=lambda exc: ld.error_text(exc, lang), names=names, done=done, **kwargs)


def _may(action: str, **context):
    return None if me is None else decide(me, action, **context)


def _offer(action: str, **context) -> bool:
    """True when the signed-in account may do `action`; else says why (or how to sign in) and returns False."""
    if session is not None and session.must_change:
        st.info(t("acc.err.must_change", lang))
        return False
    if me is None:
        _shared.sign_in_hint()
        return False
    may = _may(action, **context)
    if not may.allowed:
        st.caption(decision_text(may, lang, names))
    return may.allowed


def _live_boards() -> list[boards.Board]:
    """Every incident's board now (the handover is built from them)."""
    now = now_beijing()
    return [boards.build(log.rows(i), now=now) for i in log.incidents()["incident_id"]]


_show_message()
now = now_beijing()
tab_roster, tab_handover, tab_reports = st.tabs([t("duty.tab_roster", lang), t("duty.tab_handover", lang), t("duty.tab_reports", lang)])

# ---- roster -----------------------------------------------------------------------------
with tab_roster:
    shift = book.on_duty(code, now)
    if shift is None:
        st.warning(t("duty.nobody", lang, where=names.get(code, code)))
    else:
        st.success(t("duty.on_duty", lang, where=names.get(code, code), leader=ld.person(shift.leader, people), chief=ld.person(shift.chief, people),
                     officers="、".join(ld.person(o, people) for o in shift.officers) or "—", ends=f"{shift.ends:%m-%d %H:%M}"))  # fmt: skip
    roster = book.roster(code)
    if roster.empty:
        st.info(t("duty.no_roster", lang))
    else:
        st.dataframe(ld.roster_table(roster, lang, people, now=now), hide_index=True, width="stretch")
    st.subheader(t("duty.add_shift", lang))
    if _offer("duty.roster", code=code):
        staff = sorted(u for u, (_, j) in accounts.items() if j == code)

        def _add_shift() -> None:
            starts = dt.datetime.combine(ss["duty_f_day"], ss["duty_f_from"])
            ends = starts + dt.timedelta(hours=float(ss["duty_f_hours"]))
            replaces = ss["duty_f_replaces"] or None
            _write(book.add_shift, code, starts=starts, ends=ends, leader=ss["duty_f_leader"] or "", chief=ss["duty_f_chief"] or "", officers=ss["duty_f_officers"],
                   phone=ss["duty_f_phone"], note=ss["duty_f_note"], replaces=replaces, done=lambda i: t("duty.shift_saved", lang, id=i))  # fmt: skip

        with st.form("duty_shift_form"):
            c1, c2, c3 = st.columns(3)
            c1.date_input(t("duty.f_day", lang), value=now.date(), key="duty_f_day", format="YYYY/MM/DD")
            c2.time_input(t("duty.f_from", lang), value=dt.time(8, 0), key="duty_f_from", step=1800)
            c3.number_input(t("duty.f_hours", lang), min_value=1.0, max_value=48.0, value=24.0, step=0.5, key="duty_f_hours")
            c1, c2 = st.columns(2)
            c1.selectbox(t("duty.f_leader", lang), staff, index=None, key="duty_f_leader", format_func=lambda u: ld.person(u, people), placeholder=t("duty.f_pick", lang))
            c2.selectbox(t("duty.f_chief", lang), staff, index=None, key="duty_f_chief", format_func=lambda u: ld.person(u, people), placeholder=t("duty.f_pick", lang))
            st.multiselect(t("duty.f_officers", lang), staff, key="duty_f_officers", format_func=lambda u: ld.person(u, people), placeholder=t("duty.f_pick", lang))
            c1, c2, c3 = st.columns([2, 3, 1])
            c1.text_input(t("duty.f_phone", lang), key="duty_f_phone", max_chars=40)
            c2.text_input(t("duty.f_note", lang), key="duty_f_note", max_chars=200)
            c3.number_input(t("duty.f_replaces", lang), min_value=0, step=1, key="duty_f_replaces")
            st.form_submit_button(t("duty.f_add", lang), type="primary", on_click=_add_shift)

# ---- handover ---------------------------------------------------------------------------
with tab_handover:
    live = _live_boards()
    include_drills = st.toggle(t("duty.include_drills", lang), key="duty_drills", value=False)
    content = handover_content(live, code=code, now=now, include_drills=include_drills)
    st.caption(t("duty.live_caption", lang, where=names.get(code, code), at=f"{now:%Y-%m-%d %H:%M}"))
    tables = ld.content_tables(content, lang, names)
    for key in ("incidents", "warnings", "overdue", "requests"):
        st.markdown(f"**{t(f'duty.h_{key}', lang)}**")
        if tables[key].empty:
            st.caption(t("duty.none", lang))
        else:
            st.dataframe(tables[key], hide_index=True, width="stretch")
    if _offer("duty.handover", code=code):

        def _sign() -> None:
            if _write(book.sign_handover, code, boards=_live_boards(), notes=ss["duty_notes"], include_drills=ss.get("duty_drills", False),
                      done=lambda i: t("duty.signed", lang, id=i)):  # fmt: skip
                ss["duty_notes"] = ""

        st.text_area(t("duty.notes", lang), key="duty_notes", height=100, max_chars=2000)
        st.button(t("duty.sign", lang), type="primary", on_click=_sign, key="duty_sign")
    st.subheader(t("duty.book", lang))
    handovers = book.handovers(code)
    if handovers.empty:
        st.info(t("duty.no_handovers", lang))
    else:
        st.dataframe(ld.handovers_table(handovers, lang, people), hide_index=True, width="stretch")
        pick = _shared.selectbox(t("duty.pick_handover", lang), handovers["id"].tolist(), key="duty_pick", format_func=lambda i: f"#{i}")
        row = handovers.set_index("id").loc[pick]
        row = {"id": pick, **row.to_dict()}
        blocks = handover_blocks(row, names=names, signers=people)
        c1, c2, c3 = st.columns(3)
        c1.download_button(t("duty.docx", lang), write_docx(blocks), file_name=f"handover-{code}-{pick}.docx", key="duty_dl_docx")
        c2.download_button(t("duty.pdf", lang), write_pdf(blocks, title=t("duty.book", "zh"), footer=f"{names.get(code, code)}交接班记录 #{pick}"),
                           file_name=f"handover-{code}-{pick}.pdf", mime="application/pdf", key="duty_dl_pdf")  # fmt: skip
        if row.get("acked_by") is None or str(row.get("acked_by")) in ("", "nan", "None"):
            with c3:
                if _offer("duty.handover", code=code):
                    st.button(t("duty.acknowledge", lang), key="duty_ack", on_click=lambda: _write(book.acknowledge_handover, code, int(pick),
                              done=lambda i: t("duty.acked", lang, id=int(pick))))  # fmt: skip

# ---- information reports ----------------------------------------------------------------
with tab_reports:
    incidents = log.incidents()
    if incidents.empty:
        st.info(t("inc.none", lang))
    else:
        labels = {r.incident_id: (f"{t('drill.mark', lang)} " if r.drill else "") + f"{r.incident_id} · {r.title} · {r.lead_name}" for r in incidents.itertuples()}
        iid = _shared.selectbox(t("rep.incident", lang), incidents["incident_id"].tolist(), key="rep_incident", format_func=labels.get)
        board = boards.build(log.rows(iid), now=now)
        drill = bool(board.incident.get("drill"))
        history = rp.history(board)
        if not history.empty:
            st.dataframe(ld.reports_table(history, lang, people), hide_index=True, width="stretch")
            kept = {r.id: r for r in rp.submitted(board)}
            shown = _shared.selectbox(t("rep.pick", lang), list(kept), key="rep_pick", format_func=lambda i: f"#{i} {kept[i].heading}")
            with st.expander(t("rep.text", lang), expanded=False):
                st.text(rp.text(kept[shown]))
            c1, c2 = st.columns(2)
            c1.download_button(t("rep.docx", lang), write_docx(rp.blocks(kept[shown], drill=drill)), file_name=f"{iid}-report-{shown}.docx", key="rep_dl_docx")
            c2.download_button(t("rep.pdf", lang), write_pdf(rp.blocks(kept[shown], drill=drill), title=kept[shown].heading, footer=f"{iid} {kept[shown].heading}"),
                               file_name=f"{iid}-report-{shown}.pdf", mime="application/pdf", key="rep_dl_pdf")  # fmt: skip
        stage = rp.next_stage(board)
        if stage is None:
            st.info(t("rep.done", lang))
        elif _offer("report.submit", lead_code=board.incident["lead_code"]):
            stages = [stage] + (["final"] if stage == "update" and board.phase == "aftermath" else [])
            chosen = _shared.radio(t("rep.stage", lang), stages, key=f"rep_stage_{iid}", horizontal=True, format_func=lambda s: t(f"rep.stage.{s}", lang))
            unit = accounts.get(me.username, ("", ""))[0] if me else ""
            draft = rp.draft(board, chosen, names=names, unit=names.get(me.jurisdiction, ""), reporter=unit, now=now)
            prefix = f"rep_{iid}_{chosen}_{draft.number}"  # a new draft for each new report; what was typed stays across reruns
            st.markdown(f"**{draft.heading}**")

            def _submit(prefix=prefix, chosen=chosen) -> None:
                sections = {k: ss[f"{prefix}_{k}"] for k in rp.SECTIONS}
                casualties = {k: ss[f"{prefix}_n_{k}"] for k in rp.CASUALTIES}
                _write(reports.submit, iid, chosen, sections=sections, casualties=casualties, unit=ss[f"{prefix}_unit"],
                       done=lambda i: t("rep.saved", lang, id=i, heading=draft.heading))  # fmt: skip

            # the draft seeds the fields once; what the officer edits is kept across the page's reruns
            for k in rp.CASUALTIES:
                ss.setdefault(f"{prefix}_n_{k}", "" if draft.casualties.get(k) is None else str(draft.casualties[k]))
            for k in rp.SECTIONS:
                ss.setdefault(f"{prefix}_{k}", draft.sections[k])
            ss.setdefault(f"{prefix}_unit", draft.unit)
            with st.form(f"rep_form_{prefix}"):
                cols = st.columns(len(rp.CASUALTIES))
                for col, k in zip(cols, rp.CASUALTIES, strict=True):
                    col.text_input(t(f"rep.n.{k}", lang), key=f"{prefix}_n_{k}", placeholder=t("rep.unknown", lang))
                for k in rp.SECTIONS:
                    st.text_area(t(f"rep.s.{k}", lang), key=f"{prefix}_{k}", height=68 if k in ("time", "place") else 120, max_chars=rp.MAX_SECTION)
                st.text_input(t("rep.unit", lang), key=f"{prefix}_unit", max_chars=100)
                st.form_submit_button(t("rep.submit", lang), type="primary", on_click=_submit)
