"""Information reports (信息报送) of an incident: 初报, 续报 and 终报, drafted from the board, edited, and kept as log rows.

A report is drafted from the live board in the usual Chinese order (time, place, what
happened, casualties and losses as entered, measures taken, resources deployed, next steps),
edited on the page, and submitted: the submitted text is a ``report`` row of the incident's
append-only log (``report.submit``: the lead jurisdiction's duty officers and commander), so
every version stays.  Order: one 初报 first; any number of 续报 after it (numbered 续报（第 N 次）);
one 终报 once the incident is in aftermath (应急终止), after which nothing more is reported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from data.accounts.accounts import Session
from data.incidents.board import Board
from data.incidents.briefing import COLOUR_LABELS, DEPARTMENT_LABELS, KIND_LABELS, LEVEL_LABELS, PHASE_LABELS, STATUS_LABELS, Block
from data.incidents.log import IncidentError, IncidentLog, _fmt, _serialised, _text

STAGES = ("initial", "update", "final")
STAGE_LABELS = {"initial": "初报", "update": "续报", "final": "终报"}
#: The casualty figures a report carries (as entered; blank = not reported).
CASUALTIES = ("deaths", "missing", "injured", "trapped")
CASUALTY_LABELS = {"deaths": "死亡", "missing": "失踪", "injured": "受伤", "trapped": "被困"}
#: The sections of a report, in reading order.
SECTIONS = ("time", "place", "what", "losses", "measures", "resources", "next_steps")
SECTION_LABELS = {"time": "一、时间", "place": "二、地点", "what": "三、事件情况", "losses": "四、人员伤亡和财产损失", "measures": "五、已采取的措施",
                  "resources": "六、资源调派情况", "next_steps": "七、下步工作"}  # fmt: skip
MAX_SECTION = 4000
MAX_COUNT = 1_000_000

MESSAGES = {
    "first_initial": "no 初报 has been submitted for {incident}; submit the 初报 first.",
    "initial_done": "the 初报 of {incident} was submitted already (#{ref}); submit a 续报 instead.",
    "final_done": "the 终报 of {incident} was submitted (#{ref}); nothing more is reported.",
    "final_phase": "{incident} is in phase {phase}; the 终报 follows the end of the response (应急终止与善后).",
    "bad_count": "`{field}` was {value!r}; enter a whole number from 0 to {limit}, or leave it blank when not known.",
}


class ReportError(IncidentError):
    """A report the log refuses (``code``, ``params``); nothing was written."""

    def __init__(self, code: str, **params: object):
        self.code, self.params = code, params
        ValueError.__init__(self, MESSAGES[code].format(**params))


@dataclass(frozen=True)
class Report:
    """A report as drafted or submitted: its stage, its number among its stage (续报 1, 2, …), its sections and casualty figures."""

    incident_id: str
    stage: str
    number: int
    title: str
    sections: dict[str, str]
    casualties: dict[str, int | None] = field(default_factory=dict)
    unit: str = ""
    reporter: str = ""
    at: datetime | None = None
    id: int | None = None  # the log row, once submitted

    @property
    def heading(self) -> str:
        """关于…的初报 / 续报（第 N 次） / 终报."""
        stage = STAGE_LABELS[self.stage] + (f"（第 {self.number} 次）" if self.stage == "update" else "")
        return f"关于{self.title}的{stage}"


def _count(name: str, value: object) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, float) and pd.isna(value)):
        return None
    try:
        n = float(str(value).strip())
    except ValueError:
        raise ReportError("bad_count", field=name, value=value, limit=MAX_COUNT) from None
    if not n.is_integer() or not 0 <= n <= MAX_COUNT:
        raise ReportError("bad_count", field=name, value=value, limit=MAX_COUNT)
    return int(n)


def submitted(board: Board) -> list[Report]:
    """The reports submitted for `board`'s incident, in order."""
    rows = board.entries[board.entries["kind"] == "report"].sort_values("id")
    return [Report(board.incident_id, d["stage"], int(d["number"]), d["title"], dict(d["sections"]), dict(d.get("casualties") or {}), d.get("unit", ""),
                   who, pd.Timestamp(at).to_pydatetime(), int(i))
            for i, at, who, d in zip(rows["id"], rows["at"], rows["who"], rows["detail"], strict=True)]  # fmt: skip


def next_stage(board: Board) -> str | None:
    """The stage the next report takes: 'initial' first, then 'update' ('final' is also open in aftermath); None after the 终报."""
    stages = [r.stage for r in submitted(board)]
    if "final" in stages:
        return None
    return "initial" if "initial" not in stages else "update"


def _losses(casualties: Mapping[str, int | None], losses: str) -> str:
    known = [f"{CASUALTY_LABELS[k]} {casualties[k]} 人" for k in CASUALTIES if casualties.get(k) is not None]
    text = ("，".join(known) + "。") if known else "人员伤亡情况暂无报告。"
    return text + (losses.strip() if losses and losses.strip() else "财产损失情况正在核实。")


def draft(board: Board, stage: str, *, names: Mapping[str, str], unit: str = "", reporter: str = "", now: datetime | None = None) -> Report:
    """A report of `stage` drafted from `board`: every section filled from the log, casualties from the last report.

    `names` maps jurisdiction codes to names.  The page shows the draft for editing; `submit` keeps what was sent.
    """
    if stage not in STAGES:
        raise IncidentError("bad_choice", field="stage", value=stage, allowed=", ".join(STAGES))
    inc = board.incident
    previous = submitted(board)
    casualties = dict(previous[-1].casualties) if previous else dict.fromkeys(CASUALTIES)
    place = "、".join(x for x in (names.get(inc["lead_code"], inc["lead_name"]), inc.get("place") or "") if x)
    place += f"（东经 {inc['lon']:.4f}°，北纬 {inc['lat']:.4f}°）"
    what = f"{_fmt(inc['at'])[:16]}，{place}发生{KIND_LABELS.get(inc['kind'], inc['kind'])}事件，响应等级 {LEVEL_LABELS.get(inc['level'], inc['level'])}，" \
           f"目前处于“{PHASE_LABELS.get(board.phase, board.phase)}”阶段。" + (f"{inc['description'].strip()}" if inc.get("description") else "")
    ents = board.entries
    done = ents[ents["kind"].isin(["decision", "event"]) & ents["corrected_by"].isna()].sort_values("at")
    measures = [f"{pd.Timestamp(a):%H:%M} {DEPARTMENT_LABELS.get(d, d)}：{t}" for a, d, t in zip(done["at"], done["department"], done["text"], strict=True)]
    for w in board.warnings.itertuples():
        rate = "—" if pd.isna(w.rate) else f"{w.rate:.0%}"
        measures.append(f"{pd.Timestamp(w.at):%H:%M} 发布{COLOUR_LABELS[w.colour]}：{w.text}（叫应 {w.acked}/{w.calls}，{rate}）")
    resources = [f"{q.resource_name}（{names.get(q.from_code, q.from_code)} → {names.get(q.to_code, q.to_code)}）：{STATUS_LABELS.get(q.status, q.status)}"
                 + (f"，预计 {q.eta_s / 60:.0f} 分钟" if pd.notna(q.eta_s) and q.status in ('requested', 'approved', 'dispatched') else "")
                 for q in board.requests.itertuples()]  # fmt: skip
    next_steps = {"initial": "继续核实事件情况，及时续报。", "update": "继续做好处置工作，有新情况及时续报。", "final": "做好善后工作，总结评估应急处置情况。"}[stage]
    sections = {
        "time": _fmt(inc["at"])[:16], "place": place, "what": what, "losses": previous[-1].sections.get("losses", "") if previous else _losses(casualties, ""),
        "measures": "\n".join(measures) or "暂无。", "resources": "\n".join(resources) or "暂未调派。", "next_steps": next_steps,
    }  # fmt: skip
    number = 1 + sum(r.stage == stage for r in previous)
    return Report(board.incident_id, stage, number, inc["title"], sections, casualties, unit, reporter, now)


class Reports:
    """Submit and list the reports of an incident, as rows of `log`."""

    def __init__(self, log: IncidentLog):
        self.log = log

    def _writing(self, failed: str):
        return self.log._writing(failed)

    @_serialised
    def submit(self, incident_id: str, stage: str, *, sections: Mapping[str, str], casualties: Mapping[str, object] | None = None, unit: str = "",
               by: Session, at: datetime | None = None) -> int:  # fmt: skip
        """Submit a report of `stage` with the (edited) `sections` and `casualties`; returns its row id.

        Refused ('first_initial', 'initial_done', 'final_done', 'final_phase', 'bad_count',
        'too_long', 'required') before anything is written.
        """
        from data.incidents.board import build

        if stage not in STAGES:
            raise IncidentError("bad_choice", field="stage", value=stage, allowed=", ".join(STAGES))
        head = self.log._head(incident_id)
        account, _ = self.log._signed(by, "report.submit", lead_code=head["lead_code"])
        board = build(self.log.rows(incident_id), now=self.log.clock())
        previous = submitted(board)
        first = {r.stage: r for r in reversed(previous)}
        if "final" in first:
            raise ReportError("final_done", incident=incident_id, ref=first["final"].id)
        if stage == "initial" and "initial" in first:
            raise ReportError("initial_done", incident=incident_id, ref=first["initial"].id)
        if stage != "initial" and "initial" not in first:
            raise ReportError("first_initial", incident=incident_id)
        if stage == "final" and board.phase != "aftermath":
            raise ReportError("final_phase", incident=incident_id, phase=PHASE_LABELS.get(board.phase, board.phase))
        clean = {k: _text(SECTION_LABELS[k], sections.get(k, ""), limit=MAX_SECTION, required=k in ("time", "place", "what")) for k in SECTIONS}
        counts = {k: _count(CASUALTY_LABELS[k], (casualties or {}).get(k)) for k in CASUALTIES}
        number = 1 + sum(r.stage == stage for r in previous)
        data = {"stage": stage, "number": number, "title": head["title"], "sections": clean, "casualties": counts, "unit": _text("unit", unit, limit=100, required=False)}
        return self.log._append(incident_id, "report", by=account, at=at, text=f"{STAGE_LABELS[stage]}" + (f"（第 {number} 次）" if stage == "update" else ""),
                                data=data, not_before=("incident", head["at"]))  # fmt: skip


def text(report: Report) -> str:
    """The report as plain text, in the usual order (what is sent or printed)."""
    lines = [report.heading, ""]
    for k in SECTIONS:
        lines += [SECTION_LABELS[k], report.sections.get(k, ""), ""]
    tail = "　".join(x for x in (f"报送单位：{report.unit}" if report.unit else "", f"报送人：{report.reporter}" if report.reporter else "",
                                 f"报送时间：{_fmt(report.at)[:16]}" if report.at else "") if x)  # fmt: skip
    return "\n".join([*lines, tail]).strip() + "\n"


def blocks(report: Report, *, drill: bool = False) -> list[Block]:
    """The report as document blocks (DOCX/PDF through `data.incidents.briefing.write_docx` / `write_pdf`)."""
    out = [Block("title", ("【演练】" if drill else "") + report.heading),
           Block("meta", f"事件编号 {report.incident_id}" + (f"　报送时间 {_fmt(report.at)[:16]}（北京时间）" if report.at else ""))]  # fmt: skip
    for k in SECTIONS:
        out.append(Block("heading", SECTION_LABELS[k]))
        out += [Block("para", line) for line in (report.sections.get(k, "") or "—").split("\n")]
    if report.unit or report.reporter:
        out.append(Block("note", "　".join(x for x in (f"报送单位：{report.unit}" if report.unit else "", f"报送人：{report.reporter}" if report.reporter else "") if x)))
    return out


def history(board: Board) -> pd.DataFrame:
    """Every submitted report: id, at, stage, number, heading, who, unit, casualties (text)."""
    rows = [{"id": r.id, "at": r.at, "stage": r.stage, "number": r.number, "heading": r.heading, "who": r.reporter, "unit": r.unit,
             "casualties": "，".join(f"{CASUALTY_LABELS[k]} {r.casualties[k]}" for k in CASUALTIES if r.casualties.get(k) is not None) or "—"}
            for r in submitted(board)]  # fmt: skip
    return pd.DataFrame(rows, columns=["id", "at", "stage", "number", "heading", "who", "unit", "casualties"])


def as_json(report: Report) -> str:
    """The report's sections and figures as JSON (for an export beside the text)."""
    return json.dumps({"heading": report.heading, "stage": report.stage, "number": report.number, "sections": report.sections, "casualties": report.casualties},
                      ensure_ascii=False, indent=2)  # fmt: skip


__all__ = ["CASUALTIES", "SECTIONS", "STAGES", "Report", "ReportError", "Reports", "blocks", "draft", "history", "next_stage", "submitted", "text"]
