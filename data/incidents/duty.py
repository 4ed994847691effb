"""Duty and handover (值班值守、交接班): the roster of shifts per jurisdiction and the handover record of each shift change.

The seeds ask for 24-hour duty with a leader on duty (领导带班; "1+1" or "N+1": one shift
leader, 值班长, and one or more officers) and a handover book (交接班记录本) that keeps a trace of
every change (全程痕迹化管理).  Both live in the incident log (`data.incidents.log.IncidentLog`),
append-only and hash-chained like everything else, under the pseudo-incident ``DUTY-<code>`` of
the jurisdiction:

- ``duty_shift``: a shift (starts, ends, leader on duty, shift leader, officers, phone), added
  by the jurisdiction's commander or duty officers (``duty.roster``).  A shift may not overlap
  another of the same jurisdiction unless it replaces it (``replaces``: the row id; the old one
  then no longer counts).
- ``handover``: signed by an account on the outgoing shift (``duty.handover``), it freezes what
  the incoming shift must see at a glance (`handover_content`: open incidents and their phase,
  warnings in force with their 叫应 rates, overdue calls, requests in flight) and the notes for
  the next shift.
- ``handover_ack``: the incoming shift acknowledges (``duty.handover``): an account on a later
  shift of the same jurisdiction, not the signer.

Times are Beijing time (naive).  Drill incidents (`data.incidents.drill`) are left out of the
handover unless asked for, and marked 演练 when they are in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from data.accounts.accounts import Session, session_of
from data.accounts.authority import contains
from data.incidents.board import Board, minutes_text
from data.incidents.briefing import COLOUR_LABELS, PHASE_LABELS, STATUS_LABELS, Block
from data.incidents.log import IncidentError, IncidentLog, _code, _fmt, _text

#: The pseudo-incident of a jurisdiction's duty book.
PREFIX = "DUTY-"
#: Longest shift accepted (hours).
MAX_SHIFT_H = 48
#: Request statuses still in flight (not yet on scene, not declined).
IN_FLIGHT = ("requested", "approved", "dispatched")

MESSAGES = {
    "shift_order": "the shift ends at {ends}, not after it starts ({starts}); enter an end after the start.",
    "shift_long": "the shift lasts {hours:.1f} h; the longest accepted is {limit} h.",
    "shift_overlap": "the shift {starts}–{ends} overlaps shift #{other} ({other_starts}–{other_ends}) of the same jurisdiction; choose other times or replace that shift.",
    "no_leader": "`{field}` is empty: a shift needs a leader on duty (带班领导) and a shift leader (值班长).",
    "not_on_shift": "{who} is not on the shift on duty at {at} in {jurisdiction}; only its leader, shift leader or officers sign its handover.",
    "no_shift": "no shift of {jurisdiction} is on duty at {at}; add it to the roster first.",
    "not_incoming": "{who} is not on a later shift of {jurisdiction} than the one handing over (#{shift}); the incoming shift acknowledges.",
    "own_handover": "{who} signed handover #{ref}; it is acknowledged by someone of the incoming shift.",
    "handover_acked": "handover #{ref} was acknowledged already, by {who} at {when}.",
    "unknown_handover": "handover #{ref} is not in the duty book of {jurisdiction}.",
}


class DutyError(IncidentError):
    """Input the duty book refuses (``code`` and ``params`` for the message in any language); nothing was written."""

    def __init__(self, code: str, **params: object):
        self.code, self.params = code, params
        ValueError.__init__(self, MESSAGES[code].format(**params))


@dataclass(frozen=True)
class Shift:
    """One shift of the roster (row id ``id``)."""

    id: int
    code: str
    starts: datetime
    ends: datetime
    leader: str  # 带班领导 (username)
    chief: str  # 值班长 (username)
    officers: tuple[str, ...]
    phone: str = ""
    note: str = ""

    @property
    def people(self) -> tuple[str, ...]:
        """Everyone on the shift."""
        return tuple(dict.fromkeys((self.leader, self.chief, *self.officers)))

    def covers(self, at: datetime) -> bool:
        """True when `at` falls in [starts, ends)."""
        return self.starts <= at < self.ends


def book_id(code: str) -> str:
    """The pseudo-incident id of jurisdiction `code`'s duty book."""
    return PREFIX + code


def _when(value: object, name: str) -> datetime:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise IncidentError("required", field=name)
    try:
        return pd.Timestamp(value).to_pydatetime().replace(microsecond=0, tzinfo=None)
    except (ValueError, TypeError):
        raise IncidentError("bad_choice", field=name, value=value, allowed="a time such as 2026-12-02 08:00") from None


class DutyBook:
    """The roster and the handover records of every jurisdiction, in `log`'s table.

    Writes go through `log` (its lock, its permission checks and its hash chain); reads fold the
    ``DUTY-`` rows.
    """

    def __init__(self, log: IncidentLog):
        self.log = log

    # ---- the roster ----------------------------------------------------------------------
    def _rows(self, code: str, kind: str) -> pd.DataFrame:
        return self.log.workspace.query(
            "SELECT id, \"at\", who, department, text, data, ref FROM incident_log WHERE incident_id = ? AND kind = ? ORDER BY id", [book_id(code), kind]
        )

    def shifts(self, code: str) -> list[Shift]:
        """The shifts of `code` that count (not replaced), by start time."""
        rows = self._rows(code, "duty_shift")
        data = [json.loads(d) for d in rows["data"]]
        replaced = {d.get("replaces") for d in data} - {None}
        out = [
            Shift(int(i), code, _when(d["starts"], "starts"), _when(d["ends"], "ends"), d["leader"], d["chief"], tuple(d["officers"]), d.get("phone", ""), text)
            for i, d, text in zip(rows["id"], data, rows["text"], strict=True)
            if int(i) not in replaced
        ]
        return sorted(out, key=lambda s: (s.starts, s.id))

    def on_duty(self, code: str, at: datetime) -> Shift | None:
        """The shift of `code` on duty at `at`, or None."""
        return next((s for s in self.shifts(code) if s.covers(at)), None)

    def add_shift(self, code: str, *, starts, ends, leader: str, chief: str, officers: Iterable[str] = (), by: Session, phone: str = "",
                  note: str = "", replaces: int | None = None) -> int:  # fmt: skip
        """Add a shift to `code`'s roster (``duty.roster``: the jurisdiction's commander or duty officers); returns its row id."""
        code = _code("code", code)
        starts, ends = _when(starts, "starts"), _when(ends, "ends")
        leader, chief = _text("leader", leader, limit=100), _text("chief", chief, limit=100)
        officers = tuple(dict.fromkeys(o for o in (_text("officers", o, limit=100) for o in officers) if o))
        if ends <= starts:
            raise DutyError("shift_order", starts=_fmt(starts), ends=_fmt(ends))
        hours = (ends - starts).total_seconds() / 3600
        if hours > MAX_SHIFT_H:
            raise DutyError("shift_long", hours=hours, limit=MAX_SHIFT_H)
        with self.log._writing(f"shift of {code} was not saved ({{exc}}); try again."):
            account, _ = self.log._signed(by, "duty.roster", code=code)
            current = self.shifts(code)
            if replaces is not None and int(replaces) not in {s.id for s in current}:
                raise IncidentError("unknown_entry", value=replaces, what="entry", incident=book_id(code))
            for s in current:
                if s.id != replaces and s.starts < ends and starts < s.ends:
                    raise DutyError("shift_overlap", starts=_fmt(starts), ends=_fmt(ends), other=s.id, other_starts=_fmt(s.starts), other_ends=_fmt(s.ends))
            data = {"code": code, "starts": _fmt(starts), "ends": _fmt(ends), "leader": leader, "chief": chief, "officers": list(officers),
                    "phone": _text("phone", phone, limit=40, required=False)} | ({"replaces": int(replaces)} if replaces is not None else {})  # fmt: skip
            return self.log._append(book_id(code), "duty_shift", by=account, at=None, text=_text("note", note, required=False), data=data)

    def roster(self, code: str, *, names: Mapping[str, str] | None = None) -> pd.DataFrame:
        """The roster as a table: id, starts, ends, leader, chief, officers (display names from `names` where known), phone, note."""
        names = names or {}
        rows = [{"id": s.id, "starts": s.starts, "ends": s.ends, "leader": names.get(s.leader, s.leader), "chief": names.get(s.chief, s.chief),
                 "officers": "、".join(names.get(o, o) for o in s.officers), "phone": s.phone, "note": s.note} for s in self.shifts(code)]  # fmt: skip
        return pd.DataFrame(rows, columns=["id", "starts", "ends", "leader", "chief", "officers", "phone", "note"])

    # ---- handover ------------------------------------------------------------------------
    def sign_handover(self, code: str, *, boards: Iterable[Board], notes: str, by: Session, at: datetime | None = None, include_drills: bool = False) -> int:
        """Sign the handover of the shift on duty at `at` (default now) in `code`: its content frozen from `boards` (`handover_content`).

        Signed by an account on that shift (``duty.handover``); returns the row id.
        """
        code = _code("code", code)
        at = self.log.clock() if at is None else _when(at, "at")
        who = session_of(by).account.username
        with self.log._writing(f"handover of {code} was not saved ({{exc}}); try again."):
            account, _ = self.log._signed(by, "duty.handover", code=code)
            shift = self.on_duty(code, at)
            if shift is None:
                raise DutyError("no_shift", jurisdiction=code, at=_fmt(at))
            if who not in shift.people:
                raise DutyError("not_on_shift", who=who, at=_fmt(at), jurisdiction=code)
            content = handover_content(boards, code=code, now=at, include_drills=include_drills)
            data = {"code": code, "shift": shift.id, "content": _jsonable(content)}
            return self.log._append(book_id(code), "handover", by=account, at=at, text=_text("notes", notes, required=False), data=data)

    def acknowledge_handover(self, code: str, handover_id: int, *, by: Session, at: datetime | None = None, text: str = "") -> int:
        """The incoming shift acknowledges handover `handover_id` (``duty.handover``): an account on a later shift, not the signer."""
        code = _code("code", code)
        at = self.log.clock() if at is None else _when(at, "at")
        who = session_of(by).account.username
        with self.log._writing(f"acknowledgment of handover #{handover_id} was not saved ({{exc}}); try again."):
            account, _ = self.log._signed(by, "duty.handover", code=code)
            rows = self._rows(code, "handover")
            row = rows[rows["id"] == int(handover_id)]
            if row.empty:
                raise DutyError("unknown_handover", ref=handover_id, jurisdiction=code)
            acks = self._rows(code, "handover_ack")
            done = acks[acks["ref"] == int(handover_id)]
            if len(done):
                raise DutyError("handover_acked", ref=handover_id, who=done["who"].iloc[0], when=_fmt(pd.Timestamp(done["at"].iloc[0]).to_pydatetime()))
            if row["who"].iloc[0] == who:
                raise DutyError("own_handover", who=who, ref=handover_id)
            outgoing = json.loads(row["data"].iloc[0])["shift"]
            out_shift = next((s for s in self.shifts(code) if s.id == outgoing), None)
            later = [s for s in self.shifts(code) if s.id != outgoing and (out_shift is None or s.starts >= out_shift.starts) and who in s.people]
            if not later:
                raise DutyError("not_incoming", who=who, jurisdiction=code, shift=outgoing)
            handed = pd.Timestamp(row["at"].iloc[0]).to_pydatetime()
            return self.log._append(book_id(code), "handover_ack", by=account, at=at, text=_text("text", text, required=False), ref=int(handover_id),
                                    data={"shift": later[0].id}, not_before=("entry", handed))  # fmt: skip

    def handovers(self, code: str) -> pd.DataFrame:
        """Every handover of `code`, newest first: id, at, who (signer), shift, notes, content (dict), acked_by, acked_at, ack_text."""
        rows, acks = self._rows(code, "handover"), self._rows(code, "handover_ack")
        by_ref = {int(r): (w, a, t) for r, w, a, t in zip(acks["ref"], acks["who"], acks["at"], acks["text"], strict=True)}
        out = []
        for r in rows.itertuples():
            d = json.loads(r.data)
            w, a, t = by_ref.get(int(r.id), (None, pd.NaT, ""))
            out.append({"id": int(r.id), "at": r.at, "who": r.who, "shift": d["shift"], "notes": r.text, "content": d["content"], "acked_by": w, "acked_at": a, "ack_text": t})
        frame = pd.DataFrame(out, columns=["id", "at", "who", "shift", "notes", "content", "acked_by", "acked_at", "ack_text"])
        return frame.sort_values("id", ascending=False).reset_index(drop=True)


# ---- what a handover says ------------------------------------------------------------------
def _party(board: Board, code: str) -> bool:
    """True when jurisdiction `code` (or one below it) is party to the incident."""
    return any(contains(code, c) for c in board.incident.get("jurisdictions", [board.incident.get("lead_code")]))


def handover_content(boards: Iterable[Board], *, code: str, now: datetime, include_drills: bool = False) -> dict:
    """What the incoming shift of `code` must see, from the live `boards` at `now`.

    Returns a dict of lists: ``incidents`` (open: not in aftermath; id, title, level, phase,
    phase_since, drill), ``warnings`` (of those incidents: id, incident, colour, text, calls,
    acked, rate, overdue), ``overdue_calls`` (unanswered past the overdue delay: warning,
    incident, unit, role, department, jurisdiction, waited_s), ``requests`` in flight
    (requested/approved/dispatched: id, incident, resource, from, to, status, since, eta_s).
    Incidents `code` is not party to are left out, and drills unless `include_drills`.
    """
    boards = [b for b in boards if _party(b, code) and b.phase != "aftermath" and (include_drills or not b.incident.get("drill"))]
    boards.sort(key=lambda b: b.incident_id)
    incidents, warnings, overdue, requests = [], [], [], []
    for b in boards:
        drill = bool(b.incident.get("drill"))
        incidents.append({"id": b.incident_id, "title": b.incident["title"], "level": b.incident["level"], "phase": b.phase,
                          "phase_since": _fmt(b.phase_since), "drill": drill})  # fmt: skip
        for w in b.warnings.itertuples():
            warnings.append({"id": int(w.id), "incident": b.incident_id, "colour": w.colour, "text": w.text, "calls": int(w.calls), "acked": int(w.acked),
                             "rate": None if pd.isna(w.rate) else float(w.rate), "overdue": int(w.overdue), "drill": drill})  # fmt: skip
        issued = dict(zip(b.warnings["id"], b.warnings["at"], strict=True))
        for c in b.calls[b.calls["state"] == "overdue"].itertuples():
            overdue.append({"warning": int(c.warning_id), "incident": b.incident_id, "unit": c.unit, "role": c.role, "department": c.department,
                            "jurisdiction": c.jurisdiction_code, "waited_s": (pd.Timestamp(now) - pd.Timestamp(issued[c.warning_id])).total_seconds(), "drill": drill})  # fmt: skip
        for q in b.requests[b.requests["status"].isin(IN_FLIGHT)].itertuples():
            since = getattr(q, f"{q.status}_at")
            requests.append({"id": int(q.id), "incident": b.incident_id, "resource": q.resource_name, "from": q.from_code, "to": q.to_code, "status": q.status,
                             "since": _fmt(pd.Timestamp(since).to_pydatetime()), "eta_s": None if pd.isna(q.eta_s) else float(q.eta_s), "drill": drill})  # fmt: skip
    return {"code": code, "at": _fmt(now), "incidents": incidents, "warnings": warnings, "overdue_calls": overdue, "requests": requests}


def _jsonable(value):
    """`value` with numpy scalars as Python numbers (the row's JSON)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _drill(item: Mapping) -> str:
    return "【演练】" if item.get("drill") else ""


def handover_blocks(handover: Mapping, *, names: Mapping[str, str], signers: Mapping[str, str] | None = None) -> list[Block]:
    """A handover (a row of `DutyBook.handovers`) as document blocks for `data.incidents.briefing.write_docx` / `write_pdf`.

    `names` maps jurisdiction codes to names; `signers` usernames to the names printed.
    """
    signers = signers or {}
    c = handover["content"]
    code = c["code"]

    def who(u) -> str:
        return "" if u is None or (isinstance(u, float) and pd.isna(u)) else signers.get(str(u), str(u))

    out = [Block("title", f"{names.get(code, code)}交接班记录"), Block("meta", f"交班时间 {c['at']}（北京时间）　记录编号 #{handover['id']}")]
    out.append(Block("heading", "一、在办事件"))
    out.append(Block("table", header=("编号", "事件", "等级", "阶段", "阶段起始"), widths=(3, 5, 1.2, 2.5, 2.6),
                     rows=tuple((i["id"], _drill(i) + i["title"], i["level"], PHASE_LABELS.get(i["phase"], i["phase"]), i["phase_since"]) for i in c["incidents"]))
               if c["incidents"] else Block("para", "无在办事件。"))  # fmt: skip
    out.append(Block("heading", "二、生效预警与叫应"))
    out.append(Block("table", header=("预警", "事件", "内容", "叫应", "叫应率", "超时"), widths=(1.6, 3, 5, 1.4, 1.4, 1.2),
                     rows=tuple((f"#{w['id']} {COLOUR_LABELS.get(w['colour'], w['colour'])}", _drill(w) + w["incident"], w["text"], f"{w['acked']}/{w['calls']}",
                                 "—" if w["rate"] is None else f"{w['rate']:.0%}", str(w["overdue"])) for w in c["warnings"]))
               if c["warnings"] else Block("para", "无生效预警。"))  # fmt: skip
    out.append(Block("heading", "三、超时未叫应"))
    out.append(Block("table", header=("预警", "单位", "岗位", "已等待（分钟）"), widths=(2, 5, 2, 2),
                     rows=tuple((f"#{x['warning']}", _drill(x) + str(x["unit"]), str(x["role"] or ""), minutes_text(x["waited_s"])) for x in c["overdue_calls"]))
               if c["overdue_calls"] else Block("para", "无。"))  # fmt: skip
    out.append(Block("heading", "四、在途资源请求"))
    out.append(Block("table", header=("请求", "资源", "调出 → 调入", "状态", "自"), widths=(1.4, 4, 4, 1.6, 2.6),
                     rows=tuple((f"#{q['id']}", _drill(q) + q["resource"], f"{names.get(q['from'], q['from'])} → {names.get(q['to'], q['to'])}",
                                 STATUS_LABELS.get(q["status"], q["status"]), q["since"]) for q in c["requests"]))
               if c["requests"] else Block("para", "无。"))  # fmt: skip
    out.append(Block("heading", "五、交班事项"))
    out += [Block("para", line) for line in (str(handover.get("notes") or "").strip() or "无。").split("\n")]
    acked = handover.get("acked_by")
    acked_at = handover.get("acked_at")
    sign = f"交班人：{who(handover['who'])}　{pd.Timestamp(handover['at']):%Y-%m-%d %H:%M}　　接班人：" + (
        f"{who(acked)}　{pd.Timestamp(acked_at):%Y-%m-%d %H:%M}" if acked is not None and not pd.isna(acked) else "（待接班确认）")
    out.append(Block("para", sign))
    return out


__all__ = ["DutyBook", "DutyError", "Shift", "book_id", "handover_blocks", "handover_content"]
