"""The incident file (一事一档): one append-only, hash-chained log per workspace of incidents, phases, entries, warnings, 叫应 and resource requests.

Everything that happens to an incident is a row of the ``incident_log`` table in the
workspace DuckDB file: its opening, each phase change, each position-log entry,
significant event and decision, each warning with its frozen call list, each
acknowledgment, each resource request and each change of a request's status.  Current
state (phase, acknowledgment rates, request status) is folded from the rows by
`data.incidents.board`; nothing is ever updated or deleted.  A correction is a new row whose
``corrects`` points at the row it corrects.

Every write is made by a signed-in account (``by``, an `data.accounts.accounts.Session`,
checked by `Accounts.check`: not expired, not disabled, password changed) and is allowed by
the permission table (`data.accounts.authority`, through `Accounts.require`, which audits a
refusal and raises `Refused`; nothing is written then).  Every row carries the account
(``who``: its username; ``department``: its department), when it happened (``at``, entered
by the user or now) and when it was recorded (``recorded_at``, the server clock), plus the
SHA-256 hash of its content chained to the previous row's hash.  A 叫应 answered on another
unit's behalf says so in its data (``on_behalf``, ``reason``).  The class offers no way to change a row
(`update` and `delete` raise `AppendOnly`); a change made behind its back with SQL breaks
the chain, and `verify` names the first row that no longer matches.

Times are Beijing time (UTC+8, no daylight saving) as naive datetimes.  Each write method
is one transaction, its checks of the current state included: the threads of one process
(the app's sessions) are serialised by a lock and, on PostgreSQL, the servers sharing the
database by ``LOCK TABLE incident_log IN EXCLUSIVE MODE`` (readers go on), so the next id
and the previous hash are taken safely and two servers cannot both move a phase on.  When a
method returns, the row is committed (DuckDB: to the write-ahead log) and survives the
process being killed.

On PostgreSQL the database itself refuses UPDATE, DELETE and TRUNCATE on the log (a
trigger, beside the hash chain), and every committed row is announced with
``NOTIFY yrd_incident_log, '<incident_id>:<id>'``: `watch` and `wait_for_change` hear it
from any server within milliseconds; on DuckDB they poll the newest id instead.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from data.accounts.accounts import Accounts, Session, session_of
from data.schema import now_beijing
from data.storage.workspace import Workspace, WorkspaceError

log = logging.getLogger(__name__)

#: PostgreSQL channel announcing each committed row as ``<incident_id>:<id>``.
CHANNEL = "yrd_incident_log"

#: The four phases of a response (应急准备; 信息报告与预警; 应急响应与处置; 应急终止与善后).
PHASES = ("preparation", "warning", "response", "aftermath")
#: Phase -> the phases it may move to.  Forward only; a warning may be lifted straight into aftermath.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "preparation": ("warning", "response"),
    "warning": ("response", "aftermath"),
    "response": ("aftermath",),
    "aftermath": (),
}
LEVELS = ("I", "II", "III", "IV")
INCIDENT_KINDS = ("flood", "typhoon", "rainstorm", "fire", "hazchem", "traffic", "geological", "other")
#: Free-text entry kinds on the board: position log (部门工作记录), significant event, decision, correction.
NOTE_KINDS = ("log", "event", "decision", "correction")
WARNING_COLOURS = ("red", "orange", "yellow", "blue")
AREA_KINDS = ("buffer", "isochrone", "polygon")
#: Request status -> the statuses it may move to.
REQUEST_FLOW: dict[str, tuple[str, ...]] = {
    "requested": ("approved", "declined"),
    "approved": ("dispatched", "declined"),
    "dispatched": ("arrived",),
    "arrived": (),
    "declined": (),
}
MAX_TEXT = 2000
MAX_NAME = 100
#: Clock skew tolerated before a time counts as in the future (seconds).
FUTURE_TOLERANCE_S = 120

#: code -> English message (the page shows the label ``inc.err.<code>`` with the same parameters).
MESSAGES: dict[str, str] = {
    "required": "`{field}` is empty; fill it in.",
    "too_long": "`{field}` has {length} characters; the limit is {limit}.",
    "bad_choice": "`{field}` was {value!r}; expected one of {allowed}.",
    "future": "`{field}` {value} is in the future (now {now}); enter the time it happened.",
    "before": "`{field}` {value} is before {what} ({limit}); times must follow each other.",
    "unknown_incident": "incident {value!r} is not in the log.",
    "unknown_entry": "entry #{value} is not a {what} of incident {incident}.",
    "phase": "the incident is in phase {current}; it may move to {allowed}, not to {value}.",
    "closed": "the incident is in aftermath (应急终止与善后); only log entries, corrections and acknowledgments are taken now.",
    "request_flow": "request #{ref} is {current}; it may move to {allowed}, not to {value}.",
    "acknowledged": "{contact} acknowledged warning #{ref} already, at {when}.",
    "not_called": "{contact} is not on the call list of warning #{ref}.",
    "no_calls": "the warning reaches no contact: choose departments and an area that covers a jurisdiction with duty contacts.",
    "bad_code": "`{field}` was {value!r}; expected a 6-digit jurisdiction code such as 330421.",
    "bad_position": "position ({lon}, {lat}) is not a valid longitude/latitude.",
    "append_only": "the incident log is append-only: rows are never {action}; add a correction (更正) that points at entry #{ref} instead.",
}


#: The `what` parameter of messages: code -> English words (the page has ``inc.what.<code>``).
WHAT = {"incident": "the incident", "phase": "the current phase began", "warning": "the warning was issued", "request": "the request's last status",
        "entry": "entry", "warning_entry": "warning", "request_entry": "resource request"}  # fmt: skip


class IncidentError(ValueError):
    """Input the log refuses; ``code`` and ``params`` give the message in any language, nothing was written."""

    def __init__(self, code: str, **params: object):
        self.code, self.params = code, params
        english = params | ({"what": WHAT[params["what"]]} if params.get("what") in WHAT else {})
        super().__init__(MESSAGES[code].format(**english))


class AppendOnly(IncidentError):
    """An attempt to change or remove a logged row."""


@dataclass(frozen=True)
class Problem:
    """A row of the log whose hash does not match its content or its predecessor.

    ``code`` says which check failed, for a message in any language: 'missing' (rows
    ``params['first']``–``params['last']`` are gone before this one), 'chain' (it does not
    follow the previous row's hash) or 'content' (it differs from what was logged);
    ``reason`` says it in English.
    """

    entry_id: int
    reason: str
    code: str = ""
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """A row committed to the log, as a watcher hears of it.

    ``via`` says how: 'notify' (PostgreSQL's NOTIFY), 'poll' (DuckDB: the newest id was
    read again) or 'check' (the row was already there when the wait began).
    """

    incident_id: str
    entry_id: int
    via: str


def _change(payload: str, via: str) -> Change:
    incident_id, _, entry_id = payload.rpartition(":")
    return Change(incident_id, int(entry_id), via)


_COLUMNS: dict[str, str] = {
    "id": "BIGINT PRIMARY KEY", "incident_id": "VARCHAR NOT NULL", "kind": "VARCHAR NOT NULL", "at": "TIMESTAMP NOT NULL",
    "recorded_at": "TIMESTAMP NOT NULL", "who": "VARCHAR NOT NULL", "department": "VARCHAR NOT NULL", "text": "VARCHAR NOT NULL",
    "data": "VARCHAR NOT NULL", "ref": "BIGINT", "corrects": "BIGINT", "prev_hash": "VARCHAR NOT NULL", "hash": "VARCHAR NOT NULL",
}  # fmt: skip
_GENESIS = "0" * 64


def _hash(prev: str, row: dict) -> str:
    body = [prev] + [row[c] if not isinstance(row[c], datetime) else row[c].isoformat(sep=" ") for c in _COLUMNS if c not in ("prev_hash", "hash")]
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def _text(name: str, value: object, *, limit: int = MAX_TEXT, required: bool = True) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise IncidentError("required", field=name)
    if len(text) > limit:
        raise IncidentError("too_long", field=name, length=len(text), limit=limit)
    return text


def _choice(name: str, value: object, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise IncidentError("bad_choice", field=name, value=value, allowed=", ".join(allowed))
    return str(value)


def _code(name: str, value: object) -> str:
    code = "" if value is None else str(value).strip()
    if not code:
        raise IncidentError("required", field=name)
    if not (len(code) == 6 and code.isdigit()):
        raise IncidentError("bad_code", field=name, value=code)
    return code



def _serialised(method):
    """Run `method` as one write (`IncidentLog._writing`): its checks of the current state and its row are
    one step, so two sessions (or servers) cannot both move a phase or a request on, or answer the same call twice."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        incident_id = args[0] if args else kwargs.get("incident_id")
        with self._writing(f"entry for incident {incident_id} was not saved ({{exc}}); try again."):
            return method(self, *args, **kwargs)

    return wrapper


def _fmt(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}"


class IncidentLog:
    """The incident log in a workspace: append methods, reads, and `verify`.

    Parameters
    ----------
    workspace : Workspace
        The read-write workspace (one per process); its tables are created when missing.
    clock : callable, optional
        Returns the current Beijing time (naive); tests pass a fixed clock.
    accounts : Accounts, optional
        The accounts of the same workspace that sign and authorise every write; default a new
        `Accounts(workspace)` (a process should share one, as the app does).
    """

    def __init__(self, workspace: Workspace, *, clock: Callable[[], datetime] = now_beijing, accounts: Accounts | None = None):
        self.workspace = workspace
        self.clock = clock
        self.accounts = accounts if accounts is not None else Accounts(workspace)
        self._lock = threading.RLock()
        self._cur = None  # the cursor of the write under way (set while `_lock` is held)
        cols = ", ".join(f'"{c}" {t}' for c, t in _COLUMNS.items())
        with workspace.transaction("incident log cannot be created in the workspace ({exc}).") as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS incident_log ({cols})")
            cur.execute("CREATE INDEX IF NOT EXISTS incident_log_incident ON incident_log (incident_id)")
        workspace.append_only("incident_log")

    @contextlib.contextmanager
    def _writing(self, failed: str) -> Iterator:
        """The transaction of one write, holding the log's lock (and on PostgreSQL the table's) until it commits; re-entrant."""
        with self._lock:
            if self._cur is not None:
                yield self._cur
                return
            with self.workspace.transaction(failed, lock="incident_log") as cur:
                self._cur = cur
                try:
                    yield cur
                finally:
                    self._cur = None

    # ---- writing -------------------------------------------------------------------------
    def _signed(self, by: Session, action: str, **context: object):
        """The account of session `by` as stored now, after `Accounts.check` and the permission table's `action` in `context`.

        Returns (account, decision).  Raises `AuthError` (no valid session) or `Refused` (audited).
        """
        now = self.clock()
        session = self.accounts.check(session_of(by), now=now)
        decision = self.accounts.require(session.actor, action, now=now, **context)
        return session.account, decision

    def _append(self, incident_id: str, kind: str, *, by, at: datetime | None, text: str = "",
                data: dict | None = None, ref: int | None = None, corrects: int | None = None, not_before: tuple[str, datetime] | None = None) -> int:  # fmt: skip
        who, department = by.username, by.department
        now = self.clock()
        at = now if at is None else pd.Timestamp(at).to_pydatetime().replace(microsecond=0)
        if at > now + timedelta(seconds=FUTURE_TOLERANCE_S):
            raise IncidentError("future", field="at", value=_fmt(at), now=_fmt(now))
        if not_before is not None and at < not_before[1]:
            raise IncidentError("before", field="at", value=_fmt(at), what=not_before[0], limit=_fmt(not_before[1]))
        payload = json.dumps(data or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        with self._writing(f"entry for incident {incident_id} was not saved ({{exc}}); try again.") as cur:
            last = cur.execute("SELECT id, hash FROM incident_log ORDER BY id DESC LIMIT 1").fetchone()
            entry_id = int(last[0]) + 1 if last else 1
            prev = str(last[1]) if last else _GENESIS
            row = {"id": entry_id, "incident_id": incident_id, "kind": kind, "at": at, "recorded_at": max(now, at), "who": who,
                   "department": department, "text": text, "data": payload, "ref": ref, "corrects": corrects, "prev_hash": prev}  # fmt: skip
            row["hash"] = _hash(prev, row)
            names = ", ".join(f'"{c}"' for c in _COLUMNS)
            cur.execute(f"INSERT INTO incident_log ({names}) VALUES ({', '.join('?' * len(_COLUMNS))})", [row[c] for c in _COLUMNS])
            self.workspace.notify(cur, CHANNEL, f"{incident_id}:{entry_id}")  # delivered when the transaction commits
        log.info("incident %s: %s #%d by %s (%s)", incident_id, kind, entry_id, who, department)
        return entry_id

    def open_incident(self, *, title: str, kind: str, level: str, lon: float, lat: float, lead_code: str, lead_name: str,
                      by: Session, at: datetime | None = None, place: str = "", description: str = "",
                      jurisdictions: Iterable[str] = (), departments: Iterable[str] = (), phase: str = "warning", drill: bool = False) -> str:  # fmt: skip
        """Open an incident and return its id (``YRD-YYYYMMDD-NNN`` by the day it happened; a drill ``DRILL-YYYYMMDD-NNN``).

        `lead_code` is the county found from the location (`geo.dispatch.county_of`);
        `jurisdictions` (county codes) and `departments` take part besides the lead.
        `phase` is where the response starts (``warning`` by default: information report and warning).
        Allowed to duty officers and commanders whose jurisdiction contains `lead_code` (``incident.open``).
        A `drill` (演练) is opened by its controller (``drill.control``), who is recorded in it; its
        rows never count in real figures (`data.incidents.drill`).
        """
        title = _text("title", title, limit=MAX_NAME)
        kind = _choice("kind", kind, INCIDENT_KINDS)
        level = _choice("level", level, LEVELS)
        phase = _choice("phase", phase, PHASES[:3])
        lead_code = _code("lead_code", lead_code)
        jurisdictions = [_code("jurisdictions", c) for c in jurisdictions]
        account, _ = self._signed(by, "drill.control" if drill else "incident.open", lead_code=lead_code)
        if not (-180 <= float(lon) <= 180 and -90 <= float(lat) <= 90):
            raise IncidentError("bad_position", lon=lon, lat=lat)
        data = {
            "title": title, "kind": kind, "level": level, "lon": round(float(lon), 6), "lat": round(float(lat), 6),
            "lead_code": lead_code, "lead_name": _text("lead_name", lead_name, limit=MAX_NAME), "place": _text("place", place, limit=MAX_NAME, required=False),
            "jurisdictions": sorted({lead_code, *jurisdictions}), "departments": list(dict.fromkeys(departments)), "phase": phase,
        } | ({"drill": True, "controller": account.username} if drill else {})  # fmt: skip
        description = _text("description", description, required=False)
        day = (at or self.clock()).strftime("%Y%m%d")
        prefix = "DRILL" if drill else "YRD"
        with self._writing(f"new incident {title!r} was not saved ({{exc}}); try again."):  # the id's counter and the row in one write
            n = int(self.workspace.query("SELECT count(*) AS n FROM incident_log WHERE kind = 'incident' AND incident_id LIKE ?", [f"{prefix}-{day}-%"])["n"].iloc[0])
            incident_id = f"{prefix}-{day}-{n + 1:03d}"
            self._append(incident_id, "incident", by=account, at=at, text=description, data=data)
        return incident_id

    def _head(self, incident_id: str) -> dict:
        rows = self.workspace.query("SELECT \"at\", data FROM incident_log WHERE incident_id = ? AND kind = 'incident'", [incident_id])
        if rows.empty:
            raise IncidentError("unknown_incident", value=incident_id)
        head = json.loads(rows["data"].iloc[0])
        head["at"] = rows["at"].iloc[0].to_pydatetime()
        return head

    def phase(self, incident_id: str) -> tuple[str, datetime]:
        """The incident's current phase and since when."""
        return self._phase(incident_id, self._head(incident_id))

    def _phase(self, incident_id: str, head: dict) -> tuple[str, datetime]:
        rows = self.workspace.query("SELECT \"at\", data FROM incident_log WHERE incident_id = ? AND kind = 'phase' ORDER BY id DESC LIMIT 1", [incident_id])
        if rows.empty:
            return head["phase"], head["at"]
        return json.loads(rows["data"].iloc[0])["phase"], rows["at"].iloc[0].to_pydatetime()

    @_serialised
    def transition(self, incident_id: str, phase: str, *, by: Session, at: datetime | None = None, text: str = "") -> int:
        """Move the incident to `phase` (see `TRANSITIONS`); refused otherwise.

        Only the lead jurisdiction's commander (``incident.phase``; ``incident.end`` for aftermath, 应急终止).
        """
        phase = _choice("phase", phase, PHASES)
        head = self._head(incident_id)
        account, _ = self._signed(by, "incident.end" if phase == "aftermath" else "incident.phase", lead_code=head["lead_code"])
        current, since = self._phase(incident_id, head)
        if phase not in TRANSITIONS[current]:
            allowed = ", ".join(TRANSITIONS[current]) or "none (final)"
            raise IncidentError("phase", current=current, allowed=allowed, value=phase)
        text = _text("text", text, required=False)
        return self._append(incident_id, "phase", by=account, at=at, text=text, data={"phase": phase, "from": current}, not_before=("phase", since))

    @_serialised
    def note(self, incident_id: str, kind: str, text: str, *, by: Session, at: datetime | None = None, corrects: int | None = None) -> int:
        """Add a position-log entry, significant event, decision or correction (which needs `corrects`).

        Written for the account's own department, by an account whose jurisdiction is party to the incident (``entry.post``).
        """
        kind = _choice("kind", kind, NOTE_KINDS)
        text = _text("text", text)
        head = self._head(incident_id)
        account, _ = self._signed(by, "entry.post", department=session_of(by).account.department, jurisdictions=head["jurisdictions"])
        if kind == "correction" or corrects is not None:
            if corrects is None:
                raise IncidentError("required", field="corrects")
            self._entry(incident_id, corrects, None, "entry")
        return self._append(incident_id, kind, by=account, at=at, text=text, corrects=corrects, not_before=("incident", head["at"]))

    def _entry(self, incident_id: str, entry_id: int, kind: str | None, what: str) -> pd.Series:
        rows = self.workspace.query("SELECT * FROM incident_log WHERE incident_id = ? AND id = ?", [incident_id, int(entry_id)])
        if rows.empty or (kind is not None and rows["kind"].iloc[0] != kind):
            raise IncidentError("unknown_entry", value=entry_id, what=what, incident=incident_id)
        return rows.iloc[0]

    def _open_head(self, incident_id: str) -> dict:
        """The incident's opening data; refused once it is in aftermath (no new warnings or requests)."""
        head = self._head(incident_id)
        if self._phase(incident_id, head)[0] == "aftermath":
            raise IncidentError("closed")
        return head

    @_serialised
    def issue_warning(self, incident_id: str, *, colour: str, text: str, area_kind: str, area: dict, counties: Iterable[str],
                      departments: Iterable[str], calls: list[dict], by: Session, at: datetime | None = None, radius_m: float | None = None,
                      minutes: float | None = None) -> int:  # fmt: skip
        """Issue a warning over `area` (a GeoJSON geometry, WGS84) with its call list, frozen in the row.

        `calls` are the duty contacts to call (dicts with ``contact_id``, ``unit``, ``role``,
        ``department``, ``jurisdiction_code``, ``duty_phone``), from `geo.warning.call_list`.
        Issued by the lead jurisdiction's duty officers and commander (``warning.issue``).
        """
        head = self._open_head(incident_id)
        account, _ = self._signed(by, "warning.issue", lead_code=head["lead_code"])
        colour = _choice("colour", colour, WARNING_COLOURS)
        area_kind = _choice("area_kind", area_kind, AREA_KINDS)
        text = _text("text", text)
        if not calls:
            raise IncidentError("no_calls")
        keep = ("contact_id", "unit", "role", "department", "jurisdiction_code", "duty_phone", "escalated")
        data = {"colour": colour, "area_kind": area_kind, "area": area, "counties": sorted(set(counties)), "departments": list(dict.fromkeys(departments)),
                "calls": [{k: c.get(k) for k in keep} for c in calls], "radius_m": radius_m, "minutes": minutes}  # fmt: skip
        return self._append(incident_id, "warning", by=account, at=at, text=text, data=data, not_before=("incident", head["at"]))

    @_serialised
    def acknowledge(self, incident_id: str, warning_id: int, contact_id: str, *, by: Session, at: datetime | None = None, text: str = "",
                    reason: str = "") -> int:  # fmt: skip
        """Record that `contact_id` answered the call of warning `warning_id` (叫应), at `at` (default now).

        Answered by the called unit's own people (its department in its jurisdiction), or on its
        behalf by a duty officer or commander party to the incident with a stated `reason`
        (``ack.answer``): the row then says ``on_behalf`` and the reason.
        """
        head = self._head(incident_id)
        warning = self._entry(incident_id, warning_id, "warning", "warning_entry")
        calls = {c["contact_id"]: c for c in json.loads(warning["data"])["calls"]}
        if contact_id not in calls:
            raise IncidentError("not_called", contact=contact_id, ref=warning_id)
        done = self.workspace.query("SELECT \"at\", data FROM incident_log WHERE incident_id = ? AND kind = 'ack' AND ref = ?", [incident_id, int(warning_id)])
        for row in done.itertuples():
            if json.loads(row.data)["contact_id"] == contact_id:
                raise IncidentError("acknowledged", contact=contact_id, ref=warning_id, when=_fmt(row.at))
        call = calls[contact_id]
        reason = _text("reason", reason, limit=MAX_NAME * 2, required=False)
        account, decision = self._signed(by, "ack.answer", unit_department=str(call.get("department") or ""), unit_jurisdiction=str(call.get("jurisdiction_code") or ""),
                                         jurisdictions=head["jurisdictions"], reason=reason)  # fmt: skip
        data = {"contact_id": contact_id} | ({"on_behalf": True, "reason": reason} if decision.on_behalf else {})
        text = _text("text", text, required=False) or f"{call.get('unit') or contact_id} {call.get('role') or ''}".strip()
        return self._append(incident_id, "ack", by=account, at=at, text=text, ref=int(warning_id), data=data,
                            not_before=("warning", warning["at"].to_pydatetime()))  # fmt: skip

    @_serialised
    def request(self, incident_id: str, *, resource_id: str, resource_name: str, resource_layer: str, from_code: str, to_code: str,
                text: str, by: Session, at: datetime | None = None, eta_s: float | None = None, estimate: bool = False,
                route: list[list[float]] | None = None, crossed: list[str] | None = None, provider_department: str = "") -> int:  # fmt: skip
        """Request a resource of jurisdiction `from_code` for the incident in `to_code`; ETA and route from the engine.

        Made by the requesting jurisdiction or a level above it (``request.create``).
        """
        head = self._open_head(incident_id)
        from_code, to_code = _code("from_code", from_code), _code("to_code", to_code)
        account, _ = self._signed(by, "request.create", to_code=to_code)
        data = {
            "resource_id": _text("resource_id", resource_id, limit=MAX_NAME), "resource_name": _text("resource_name", resource_name, limit=MAX_NAME),
            "resource_layer": resource_layer, "from_code": from_code, "to_code": to_code,
            "eta_s": None if eta_s is None else round(float(eta_s), 1), "estimate": bool(estimate), "route": route or [], "crossed": crossed or [],
            "provider_department": provider_department, "status": "requested",
        }  # fmt: skip
        return self._append(incident_id, "request", by=account, at=at, text=_text("text", text, required=False), data=data,
                            not_before=("incident", head["at"]))  # fmt: skip

    @_serialised
    def advance_request(self, incident_id: str, request_id: int, status: str, *, by: Session, at: datetime | None = None,
                        text: str = "", eta_s: float | None = None) -> int:  # fmt: skip
        """Move request `request_id` on (requested → approved → dispatched → arrived, or declined).

        Approved, declined and dispatched by the providing jurisdiction (``request.approve``,
        ``request.dispatch``); arrival confirmed by either side (``request.arrive``).
        """
        asked = json.loads(self._entry(incident_id, request_id, "request", "request_entry")["data"])
        status = _choice("status", status, tuple(REQUEST_FLOW))
        action = {"approved": "request.approve", "declined": "request.approve", "dispatched": "request.dispatch", "arrived": "request.arrive"}.get(status, "request.approve")
        account, _ = self._signed(by, action, from_code=asked["from_code"], to_code=asked["to_code"], provider_department=asked.get("provider_department") or "")
        steps = self.workspace.query("SELECT \"at\", data FROM incident_log WHERE incident_id = ? AND (id = ? OR (kind = 'request_status' AND ref = ?)) ORDER BY id",
                                     [incident_id, int(request_id), int(request_id)])  # fmt: skip
        current = json.loads(steps["data"].iloc[-1])["status"]
        if status not in REQUEST_FLOW[current]:
            raise IncidentError("request_flow", ref=request_id, current=current, allowed=", ".join(REQUEST_FLOW[current]) or "none (final)", value=status)
        data = {"status": status, "eta_s": None if eta_s is None else round(float(eta_s), 1)}
        return self._append(incident_id, "request_status", by=account, at=at, text=_text("text", text, required=False), ref=int(request_id),
                            data=data, not_before=("request", steps["at"].iloc[-1].to_pydatetime()))  # fmt: skip

    def update(self, entry_id: int, **_: object) -> None:
        """Always refused: the log is append-only (add a correction instead)."""
        raise AppendOnly("append_only", action="changed", ref=entry_id)

    def delete(self, entry_id: int) -> None:
        """Always refused: the log is append-only."""
        raise AppendOnly("append_only", action="deleted", ref=entry_id)

    # ---- reading -------------------------------------------------------------------------
    def incidents(self, *, drills: bool = True) -> pd.DataFrame:
        """One row per incident: id, title, kind, level, lead, time, current phase, last entry id, drill (演练) or not.

        `drills=False` leaves drills out (real figures and exports)."""
        rows = self.workspace.query(
            "SELECT l.incident_id, l.\"at\", l.data, p.data AS phase_data, m.last_id FROM incident_log l "
            "LEFT JOIN (SELECT incident_id, data FROM incident_log WHERE id IN (SELECT max(id) FROM incident_log WHERE kind = 'phase' GROUP BY incident_id)) p USING (incident_id) "
            "JOIN (SELECT incident_id, max(id) AS last_id FROM incident_log GROUP BY incident_id) m USING (incident_id) "
            "WHERE l.kind = 'incident' ORDER BY l.id DESC"
        )
        heads = [json.loads(d) for d in rows["data"]]
        out = pd.DataFrame({
            "incident_id": rows["incident_id"], "title": [h["title"] for h in heads], "kind": [h["kind"] for h in heads],
            "level": [h["level"] for h in heads], "lead_code": [h["lead_code"] for h in heads], "lead_name": [h["lead_name"] for h in heads],
            "at": rows["at"], "phase": [json.loads(p)["phase"] if isinstance(p, str) else h["phase"] for p, h in zip(rows["phase_data"], heads, strict=True)],
            "last_id": rows["last_id"].astype("int64"), "drill": [bool(h.get("drill")) for h in heads],
        })  # fmt: skip
        return out if drills else out[~out["drill"]].reset_index(drop=True)

    def last_id(self, incident_id: str) -> int:
        """Id of the incident's newest row (0 when none): a cheap change stamp for refreshing a board."""
        return int(self.workspace.query("SELECT coalesce(max(id), 0) AS n FROM incident_log WHERE incident_id = ?", [incident_id])["n"].iloc[0])

    def latest_id(self) -> int:
        """Id of the newest row of the whole log (0 when empty)."""
        return int(self.workspace.query("SELECT coalesce(max(id), 0) AS n FROM incident_log")["n"].iloc[0])

    def _newer(self, after_id: int, incident_id: str | None, via: str) -> Change | None:
        where, params = ("id > ?", [int(after_id)]) if incident_id is None else ("id > ? AND incident_id = ?", [int(after_id), incident_id])
        rows = self.workspace.query(f"SELECT id, incident_id FROM incident_log WHERE {where} ORDER BY id LIMIT 1", params)
        return Change(str(rows["incident_id"].iloc[0]), int(rows["id"].iloc[0]), via) if len(rows) else None

    def watch(self, callback: Callable[[Change], None], *, poll_s: float = 1.0) -> Callable[[], None]:
        """Call ``callback(change)`` for every row committed from now on, by any process; return a function that stops watching.

        PostgreSQL: a listening connection hears each NOTIFY (``via='notify'``); DuckDB: a
        thread reads the newest id every `poll_s` seconds (``via='poll'``).  The callback runs
        on that thread: keep it short (e.g. set a flag that a session's rerun reads).
        """
        stop = self.workspace.listen(CHANNEL, lambda payload: callback(_change(payload, "notify")))
        if stop is not None:
            return stop
        halt, seen = threading.Event(), [self.latest_id()]

        def poll() -> None:
            while not halt.wait(poll_s):
                try:
                    rows = self.workspace.query("SELECT id, incident_id FROM incident_log WHERE id > ? ORDER BY id", [seen[0]])
                except WorkspaceError as exc:  # the workspace was closed: nothing more to watch
                    log.warning("incident log: watching stopped (%s)", exc)
                    return
                for r in rows.itertuples():
                    seen[0] = int(r.id)
                    callback(Change(str(r.incident_id), int(r.id), "poll"))

        thread = threading.Thread(target=poll, name="incident-log-poll", daemon=True)
        thread.start()

        def stop_polling() -> None:
            halt.set()
            thread.join(timeout=poll_s + 5)

        return stop_polling

    def wait_for_change(self, timeout_s: float, *, after_id: int | None = None, incident_id: str | None = None, poll_s: float = 0.25) -> Change | None:
        """Wait up to `timeout_s` seconds for a row newer than `after_id` (default: the newest now), of `incident_id` if given.

        Returns the first such row as a `Change`, or None after `timeout_s`.  PostgreSQL:
        woken by the NOTIFY of the commit (``via='notify'``), a row already there is returned
        at once (``via='check'``); DuckDB: the newest id is read every `poll_s` seconds (``via='poll'``).
        """
        heard: queue.Queue[Change] = queue.Queue()
        stop = self.workspace.listen(CHANNEL, lambda payload: heard.put(_change(payload, "notify")))
        try:
            after = self.latest_id() if after_id is None else int(after_id)
            deadline = time.monotonic() + float(timeout_s)
            if stop is None:
                while (found := self._newer(after, incident_id, "poll")) is None and (left := deadline - time.monotonic()) > 0:
                    time.sleep(min(poll_s, left))
                return found
            if (found := self._newer(after, incident_id, "check")) is not None:  # listening already: nothing can slip between
                return found
            while (left := deadline - time.monotonic()) > 0:
                try:
                    change = heard.get(timeout=left)
                except queue.Empty:
                    return None
                if change.entry_id > after and incident_id in (None, change.incident_id):
                    return change
            return None
        finally:
            if stop is not None:
                stop()

    def size(self) -> int:
        """Rows in the whole log."""
        return int(self.workspace.query("SELECT count(*) AS n FROM incident_log")["n"].iloc[0])

    def rows(self, incident_id: str) -> pd.DataFrame:
        """All rows of one incident in the order they were written."""
        names = ", ".join(f'"{c}"' for c in _COLUMNS if c not in ("prev_hash", "hash"))
        rows = self.workspace.query(f"SELECT {names} FROM incident_log WHERE incident_id = ? ORDER BY id", [incident_id])
        if rows.empty:
            raise IncidentError("unknown_incident", value=incident_id)
        return rows

    def verify(self) -> list[Problem]:
        """Check the whole chain: every row's hash against its content and its predecessor's hash."""
        rows = self.workspace.query("SELECT * FROM incident_log ORDER BY id")
        problems: list[Problem] = []
        prev, expected_id = _GENESIS, 1
        for row in rows.to_dict("records"):
            clean = {c: (None if pd.isna(row[c]) else int(row[c])) if c in ("ref", "corrects") else row[c] for c in _COLUMNS}
            for c in ("at", "recorded_at"):
                clean[c] = pd.Timestamp(clean[c]).to_pydatetime()
            if int(row["id"]) != expected_id:
                first, last = expected_id, int(row["id"]) - 1
                problems.append(Problem(int(row["id"]), f"rows {first}–{last} are missing", "missing", {"first": first, "last": last}))
            if row["prev_hash"] != prev:
                problems.append(Problem(int(row["id"]), "does not follow the previous row's hash", "chain"))
            if _hash(row["prev_hash"], clean) != row["hash"]:
                problems.append(Problem(int(row["id"]), "content differs from what was logged", "content"))
            prev, expected_id = row["hash"], int(row["id"]) + 1
        return problems
