"""Tables of the duty page: the roster, what a handover says, the handover book and the information reports, in the user's language."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from data.incidents.board import MISSING, minutes_text
from layers.labels import label_or, t


def _time(value, fmt: str = "%m-%d %H:%M") -> str:
    return MISSING if value is None or pd.isna(value) else f"{pd.Timestamp(value):{fmt}}"


def _drill(text: str, drill: bool, lang: str) -> str:
    return f"{t('drill.mark', lang)} {text}" if drill else str(text)


def person(username, people: Mapping[str, str]) -> str:
    """An account's display text (姓名（辖区）) from `people`, its username where unknown, "—" when none."""
    if username is None or (isinstance(username, float) and pd.isna(username)) or str(username) == "":
        return MISSING
    return people.get(str(username), str(username))


def roster_table(roster: pd.DataFrame, lang: str, people: Mapping[str, str], *, now=None) -> pd.DataFrame:
    """`DutyBook.roster` for display: shift number, from, to, leader on duty, shift leader, officers, phone, note, on duty now."""
    rows = []
    for r in roster.itertuples():
        on = now is not None and r.starts <= now < r.ends
        rows.append({
            t("duty.c_shift", lang): f"#{r.id}", t("duty.c_starts", lang): _time(r.starts, "%Y-%m-%d %H:%M"), t("duty.c_ends", lang): _time(r.ends, "%Y-%m-%d %H:%M"),
            t("duty.c_leader", lang): person(r.leader, people), t("duty.c_chief", lang): person(r.chief, people),
            t("duty.c_officers", lang): "、".join(person(o, people) for o in str(r.officers).split("、") if o) or MISSING,
            t("duty.c_phone", lang): r.phone or MISSING, t("duty.c_note", lang): r.note or MISSING, t("duty.c_now", lang): t("duty.on_now", lang) if on else "",
        })  # fmt: skip
    return pd.DataFrame(rows)


def content_tables(content: Mapping, lang: str, names: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    """What a handover says (`data.incidents.duty.handover_content`) as four tables: incidents, warnings, overdue calls, requests in flight."""
    incidents = pd.DataFrame([{
        t("duty.c_incident", lang): i["id"], t("duty.c_title", lang): _drill(i["title"], i["drill"], lang), t("inc.f_level", lang): label_or("inc.level", i["level"], lang),
        t("duty.c_phase", lang): label_or("inc.phase", i["phase"], lang), t("duty.c_since", lang): i["phase_since"][5:16],
    } for i in content["incidents"]])  # fmt: skip
    warnings = pd.DataFrame([{
        t("duty.c_warning", lang): f"#{w['id']} {label_or('inc.colour', w['colour'], lang)}", t("duty.c_incident", lang): _drill(w["incident"], w["drill"], lang),
        t("duty.c_text", lang): w["text"], t("duty.c_acked", lang): f"{w['acked']}/{w['calls']}",
        t("duty.c_rate", lang): MISSING if w["rate"] is None else f"{w['rate']:.0%}", t("duty.c_overdue", lang): w["overdue"],
    } for w in content["warnings"]])  # fmt: skip
    overdue = pd.DataFrame([{
        t("duty.c_warning", lang): f"#{c['warning']}", t("duty.c_incident", lang): _drill(c["incident"], c["drill"], lang), t("duty.c_unit", lang): c["unit"] or MISSING,
        t("duty.c_role", lang): c["role"] or MISSING, t("duty.c_dept", lang): label_or("dept", c["department"], lang), t("duty.c_waited", lang): minutes_text(c["waited_s"]),
    } for c in content["overdue_calls"]])  # fmt: skip
    requests = pd.DataFrame([{
        t("duty.c_request", lang): f"#{q['id']}", t("duty.c_incident", lang): _drill(q["incident"], q["drill"], lang), t("duty.c_resource", lang): q["resource"],
        t("duty.c_route", lang): f"{names.get(q['from'], q['from'])} → {names.get(q['to'], q['to'])}", t("duty.c_status", lang): label_or("inc.status", q["status"], lang),
        t("duty.c_since", lang): q["since"][5:16], t("duty.c_eta", lang): minutes_text(q["eta_s"]),
    } for q in content["requests"]])  # fmt: skip
    return {"incidents": incidents, "warnings": warnings, "overdue": overdue, "requests": requests}


def handovers_table(handovers: pd.DataFrame, lang: str, people: Mapping[str, str]) -> pd.DataFrame:
    """`DutyBook.handovers` for display: number, time, signed by, acknowledged by and when, what it listed, notes."""
    rows = []
    for h in handovers.itertuples():
        c = h.content
        rows.append({
            t("duty.c_handover", lang): f"#{h.id}", t("duty.c_at", lang): _time(h.at), t("duty.c_signed", lang): person(h.who, people),
            t("duty.c_ack_by", lang): person(h.acked_by, people) if h.acked_by is not None and not pd.isna(h.acked_by) else t("duty.not_acked", lang),
            t("duty.c_ack_at", lang): _time(h.acked_at),
            t("duty.c_summary", lang): t("duty.summary", lang, incidents=len(c["incidents"]), warnings=len(c["warnings"]), overdue=len(c["overdue_calls"]), requests=len(c["requests"])),
            t("duty.c_notes", lang): h.notes or MISSING,
        })  # fmt: skip
    return pd.DataFrame(rows)


def reports_table(history: pd.DataFrame, lang: str, people: Mapping[str, str]) -> pd.DataFrame:
    """`data.incidents.reports.history` for display."""
    return pd.DataFrame([{
        t("rep.c_id", lang): f"#{r.id}", t("rep.c_at", lang): _time(r.at), t("rep.c_heading", lang): r.heading, t("rep.c_who", lang): person(r.who, people),
        t("rep.c_unit", lang): r.unit or MISSING, t("rep.c_casualties", lang): r.casualties,
    } for r in history.itertuples()])  # fmt: skip


def error_text(exc, lang: str) -> str:
    """A refusal of the duty book or the reports (`DutyError`, `ReportError`, `IncidentError`) in `lang`."""
    from layers.consultation import error_text as incident_error_text

    key = f"duty.err.{exc.code}" if f"duty.err.{exc.code}" in _labels() else f"rep.err.{exc.code}"
    if key in _labels():
        return t(key, lang, **exc.params)
    return incident_error_text(exc.code, exc.params, lang)


def _labels():
    from layers.labels import LABELS

    return LABELS


# ---- drills ---------------------------------------------------------------------------------------
def _min(seconds) -> str:
    return minutes_text(seconds)


def _yes(value, lang: str) -> str:
    return MISSING if value is None or (isinstance(value, float) and pd.isna(value)) else t("drill.yes" if value else "drill.no", lang)


def schedule_table(schedule: pd.DataFrame, lang: str) -> pd.DataFrame:
    """`Drills.schedule` for the controller: inject number, kind, text, due time, the entry that fired it (or pending)."""
    return pd.DataFrame([{
        t("drill.c_inject", lang): f"#{int(r.inject) + 1}", t("drill.c_kind", lang): label_or("drill.kind", r.kind, lang), t("drill.c_text", lang): r.text or MISSING,
        t("drill.c_due", lang): _time(r.due_at, "%m-%d %H:%M:%S"), t("drill.c_fired", lang): t("drill.pending", lang) if pd.isna(r.fired) else f"#{int(r.fired)}",
    } for r in schedule.itertuples()])  # fmt: skip


def drill_review_table(review: pd.DataFrame, lang: str) -> pd.DataFrame:
    """`data.incidents.exercise.review` for display: one row per unit and inject, times in minutes (one decimal)."""
    return pd.DataFrame([{
        t("drill.c_inject", lang): f"#{int(r.inject) + 1} {label_or('drill.kind', r.kind, lang)}", t("drill.c_unit", lang): r.unit or MISSING,
        t("drill.c_dept", lang): label_or("dept", r.department, lang) if r.department else MISSING, t("drill.c_answered", lang): _min(r.answered_s),
        t("drill.c_approved", lang): _min(r.approved_s), t("drill.c_dispatched", lang): _min(r.dispatched_s), t("drill.c_arrived", lang): _min(r.arrived_s),
        t("drill.c_met", lang): _yes(r.met_target, lang), t("drill.c_missed", lang): _yes(r.missed, lang),
    } for r in review.itertuples()])  # fmt: skip


def drill_review_blocks(board, review: pd.DataFrame, schedule: pd.DataFrame, *, png: bool = False) -> list:
    """The drill review as document blocks (Chinese), for `data.incidents.briefing.write_docx` / `write_pdf`."""
    from data.incidents.briefing import Block

    inc = board.incident
    out = [Block("title", f"【演练】{inc['title']} 演练评估"), Block("meta", f"演练编号 {board.incident_id}　截至 {board.now:%Y-%m-%d %H:%M}（北京时间）")]
    out.append(Block("heading", "一、注入安排与执行"))
    table = schedule_table(schedule, "zh")
    out.append(Block("table", header=tuple(table.columns), rows=tuple(tuple(str(v) for v in row) for row in table.to_numpy()), widths=(1, 1.5, 6, 2.2, 1.8))
               if len(table) else Block("para", "无注入。"))  # fmt: skip
    out.append(Block("heading", "二、各单位响应时间（30 分钟到场目标）"))
    table = drill_review_table(review, "zh")
    out.append(Block("table", header=tuple(table.columns), rows=tuple(tuple(str(v) for v in row) for row in table.to_numpy()),
                     widths=(2, 3.5, 1.6, 1.4, 1.4, 1.4, 1.4, 1.4, 1.2)) if len(table) else Block("para", "尚无需要评估的注入。"))  # fmt: skip
    missed = int(review["missed"].sum()) if len(review) else 0
    out.append(Block("para", f"未响应 {missed} 项；资源请求 {int((review['kind'] == 'request').sum()) if len(review) else 0} 项，其中 30 分钟内到场 "
                             f"{sum(v is True for v in review['met_target'])} 项。"))  # fmt: skip
    return out
