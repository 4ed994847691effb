"""Who may do what: the permission table (roles held in a department of a jurisdiction) and `decide`, a pure check of one action.

The table follows the seed documents' 统一领导、分级负责、属地为主 and the issue:

- the lead jurisdiction (属地, the county where the incident happened) directs: only its
  commander (指挥长) moves a phase or ends the incident, and only its duty officers and
  commander issue warnings;
- each department writes its own rows, on any incident its jurisdiction is party to;
- each unit answers its own 叫应: the called unit's department in the called unit's
  jurisdiction; a duty officer or commander party to the incident may record the answer on
  its behalf only with a stated reason, and the decision says so (``on_behalf``);
- resources are held 分级: a request is made by the requesting jurisdiction (or a level
  above it) and approved, declined and dispatched by the providing jurisdiction (or a level
  above it: 上级调派), by its commander or by a duty officer of the providing department;
- base layers are imported and edited by data administrators within their own
  jurisdiction; accounts are managed by system administrators, who hold no other power.

Jurisdictions are 6-digit codes of the dataset (330421 county 嘉善县, 330400 city 嘉兴市,
330000 province 浙江省).  A jurisdiction *contains* a code when the code begins with its
first 2 digits (a province, ``XX0000``), its first 4 (a city, ``XXXX00``) or is the same
(a county).  A role gives nothing outside the account's own department and jurisdiction
as the table says.

`PERMISSIONS` is the table, as data: the README shows it (`markdown_table`) and the tests
iterate it.  An action is allowed when one of its rows grants it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Roles, in display order.
ROLES = ("viewer", "duty_officer", "liaison", "commander", "data_admin", "sysadmin")
#: Roles of the people working an incident.
WORKING = ("duty_officer", "liaison", "commander")

_CODE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class Actor:
    """Who acts: an account's username, department code, jurisdiction code and roles."""

    username: str
    department: str
    jurisdiction: str
    roles: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", frozenset(self.roles))
        unknown = sorted(self.roles - set(ROLES))
        if unknown:
            msg = f"`roles` had {unknown} but is expected to be within {ROLES}."
            raise ValueError(msg)
        level(self.jurisdiction)


@dataclass(frozen=True)
class Decision:
    """The answer of `decide`: allowed or not, a code for the message and its parameters.

    Codes: 'allowed'; 'on_behalf' (allowed, the row must say it was recorded on the unit's
    behalf, with ``params['reason']``); refusals 'missing_role' (``roles`` needed),
    'not_lead' (``lead``, ``own``), 'other_jurisdiction' (``target``, ``own``),
    'not_party' (``jurisdictions``, ``own``), 'other_department' (``department``, ``own``),
    'reason_required'.  Every decision has ``params['action']``.
    """

    allowed: bool
    code: str
    params: dict = field(default_factory=dict)

    @property
    def on_behalf(self) -> bool:
        """True when allowed only as an answer recorded on another unit's behalf."""
        return self.code == "on_behalf"


@dataclass(frozen=True)
class Grant:
    """One row of the permission table: `action` is allowed to an actor holding one of `roles` when
    `jurisdiction` and `department` hold of the action's context.

    `jurisdiction`: 'any'; ``'is:KEY'`` (the actor's jurisdiction is ``context[KEY]``);
    ``'within:KEY'`` (the actor's jurisdiction contains ``context[KEY]``); ``'party:KEY'``
    (it contains one of the codes ``context[KEY]``); ``'all_within:KEY'`` (it contains every
    code of ``context[KEY]``, which is not empty).  `department`: 'any' or ``'is:KEY'`` (the
    actor's department is ``context[KEY]``).  `reason`: the row grants only with a stated
    ``context['reason']``, and the decision is 'on_behalf'.
    """

    action: str
    roles: tuple[str, ...]
    jurisdiction: str = "any"
    department: str = "any"
    reason: bool = False
    note: str = ""

    def keys(self) -> set[str]:
        """Context keys the row reads (besides 'reason')."""
        return {c.split(":", 1)[1] for c in (self.jurisdiction, self.department) if ":" in c}


#: The actions, with what their context holds (codes are 6-digit jurisdiction codes).
ACTIONS: dict[str, str] = {
    "view": "see the map, the boards and the briefings",
    "incident.open": "open an incident; lead_code: the county where it happened",
    "incident.phase": "move an incident to another phase (not aftermath); lead_code",
    "incident.end": "end the incident (move it to aftermath, 应急终止); lead_code",
    "entry.post": "post a position-log entry, significant event, decision or correction; department: the row's; jurisdictions: the incident's",
    "warning.issue": "issue a warning with its call list; lead_code",
    "ack.answer": "record a unit's answer to a 叫应; unit_department, unit_jurisdiction: the called unit's; jurisdictions: the incident's; reason",
    "request.create": "request a resource; to_code: the requesting jurisdiction",
    "request.approve": "approve or decline a request; from_code: the providing jurisdiction; provider_department",
    "request.dispatch": "mark a request dispatched; from_code; provider_department",
    "request.arrive": "mark a request arrived; to_code; from_code; provider_department",
    "layer.import": "import records into a base layer; codes: the jurisdictions of the records",
    "layer.edit": "edit or remove imported base-layer records; codes",
    "network.build": "add a road network built from an OpenStreetMap file (and rebuild the stitched network from it)",
    "accounts.manage": "create, disable, enable accounts and reset their passwords",
    "duty.roster": "add or replace a shift of the duty roster (值班安排); code: the jurisdiction",
    "duty.handover": "sign a shift's handover (交接班) or acknowledge it as the incoming shift; code",
    "report.submit": "submit an information report (初报/续报/终报) of an incident; lead_code",
    "drill.control": "open a drill (演练), run its scenario and see its injects as injects; lead_code",
    "scenario.save": "save a hazard scenario (情景模拟) for planning, comparison or an incident",
}

_PROVIDER = ("within:from_code", "is:provider_department")

#: The permission table.  Several rows of one action are alternatives.
PERMISSIONS: tuple[Grant, ...] = (
    Grant("view", ROLES, note="every signed-in account"),
    Grant("incident.open", ("duty_officer", "commander"), "within:lead_code", note="in one's own jurisdiction (a city or province for its counties)"),
    Grant("incident.phase", ("commander",), "is:lead_code", note="the lead jurisdiction's commander only (统一领导)"),
    Grant("incident.end", ("commander",), "is:lead_code", note="the lead jurisdiction's commander only"),
    Grant("entry.post", WORKING, "party:jurisdictions", "is:department", note="one's own department, on an incident one's jurisdiction is party to"),
    Grant("warning.issue", ("duty_officer", "commander"), "is:lead_code", note="the lead jurisdiction's duty officers and commander"),
    Grant("ack.answer", WORKING, "is:unit_jurisdiction", "is:unit_department", note="the called unit's own people (its department in its jurisdiction)"),
    Grant("ack.answer", ("duty_officer", "commander"), "party:jurisdictions", reason=True, note="on the unit's behalf, with a stated reason; shown as such"),
    Grant("request.create", WORKING, "within:to_code", note="the requesting jurisdiction (or a level above it)"),
    Grant("request.approve", ("commander",), "within:from_code", note="the providing jurisdiction's commander (or a level above it: 上级调派)"),
    Grant("request.approve", ("duty_officer",), *_PROVIDER, note="a duty officer of the providing department in the providing jurisdiction"),
    Grant("request.dispatch", ("commander",), "within:from_code", note="as approving"),
    Grant("request.dispatch", ("duty_officer",), *_PROVIDER, note="as approving"),
    Grant("request.arrive", WORKING, "within:to_code", note="the requesting jurisdiction confirms the arrival"),
    Grant("request.arrive", ("commander",), "within:from_code", note="or the providing side, as dispatching"),
    Grant("request.arrive", ("duty_officer",), *_PROVIDER, note="or the providing side, as dispatching"),
    Grant("layer.import", ("data_admin",), "all_within:codes", note="only records within one's jurisdiction (county: that county; city: its counties; province: the province)"),
    Grant("layer.edit", ("data_admin",), "all_within:codes", note="as importing"),
    Grant("network.build", ("data_admin",), note="any data administrator: an extract's roads cross jurisdictions; a network is added beside the others, none is changed"),
    Grant("accounts.manage", ("sysadmin",), note="system administrators (no self-registration); they hold no other power"),
    Grant("duty.roster", ("duty_officer", "commander"), "is:code", note="the jurisdiction's own duty officers and commander (值班安排表)"),
    Grant("duty.handover", ("duty_officer", "commander"), "is:code", note="an account on the shift signs; one on a later shift acknowledges"),
    Grant("report.submit", ("duty_officer", "commander"), "is:lead_code", note="the lead jurisdiction reports (信息报送: 初报、续报、终报)"),
    Grant("drill.control", ("commander",), "within:lead_code", note="the commander of the drill's jurisdiction or above runs it as controller (导调)"),
    Grant("scenario.save", WORKING, note="the people working incidents; attaching one to an incident also needs entry.post there"),
)

#: Order of the checks; a refusal names the check that failed latest among the rows of the action.
_STAGES = ("role", "jurisdiction", "department", "reason")


def level(code: str) -> str:
    """'province', 'city' or 'county' of a 6-digit jurisdiction code (``XX0000``, ``XXXX00``, other)."""
    if not isinstance(code, str) or not _CODE.match(code):
        msg = f"`code` was {code!r} but is expected to be a 6-digit jurisdiction code such as '330421'."
        raise ValueError(msg)
    return "province" if code.endswith("0000") else "city" if code.endswith("00") else "county"


def contains(outer: str, inner: str) -> bool:
    """True when jurisdiction `outer` is `inner` or lies above it (province: first 2 digits; city: first 4)."""
    n = {"province": 2, "city": 4, "county": 6}[level(outer)]
    level(inner)
    return inner[:n] == outer[:n]


def _codes(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        msg = f"`{key}` was {value!r} but is expected to be a list of jurisdiction codes."
        raise ValueError(msg)
    return tuple(str(v) for v in value)


def _check(grant: Grant, actor: Actor, context: dict) -> tuple[int, str, dict] | None:
    """None when `grant` allows; else (stage, code, params) of the first check that fails."""
    if not actor.roles & set(grant.roles):
        return 0, "missing_role", {"roles": grant.roles}
    kind, _, key = grant.jurisdiction.partition(":")
    own = actor.jurisdiction
    if kind == "is" and context[key] != own:
        code = "not_lead" if key == "lead_code" else "other_jurisdiction"
        return 1, code, {"lead": context[key], "own": own} if code == "not_lead" else {"target": context[key], "own": own}
    if kind == "within" and not contains(own, context[key]):
        return 1, "other_jurisdiction", {"target": context[key], "own": own}
    if kind == "party":
        codes = _codes(context[key], key)
        if not any(contains(own, c) for c in codes):
            return 1, "not_party", {"jurisdictions": codes, "own": own}
    if kind == "all_within":
        codes = _codes(context[key], key)
        outside = [c for c in codes if not contains(own, c)]
        if outside or not codes:
            return 1, "other_jurisdiction", {"target": outside[0] if outside else "", "own": own}
    dkind, _, dkey = grant.department.partition(":")
    if dkind == "is" and context[dkey] != actor.department:
        return 2, "other_department", {"department": context[dkey], "own": actor.department}
    if grant.reason and not str(context.get("reason") or "").strip():
        return 3, "reason_required", {}
    return None


def grants(action: str) -> tuple[Grant, ...]:
    """The rows of `action` in the table."""
    rows = tuple(g for g in PERMISSIONS if g.action == action)
    if not rows:
        msg = f"`action` was {action!r} but is expected to be in {tuple(ACTIONS)}."
        raise ValueError(msg)
    return rows


def decide(actor: Actor, action: str, **context: object) -> Decision:
    """May `actor` do `action` in `context`?  Pure: reads nothing but its arguments.

    Parameters
    ----------
    actor
        Who acts.
    action
        A key of `ACTIONS`.
    **context
        What the action's rows read (see `ACTIONS`): jurisdiction codes (``lead_code``,
        ``to_code``, ``from_code``, ``unit_jurisdiction``), lists of codes (``jurisdictions``,
        ``codes``), department codes (``department``, ``unit_department``,
        ``provider_department``) and, for an answer on another unit's behalf, ``reason``.

    Returns
    -------
    Decision
        Allowed ('allowed', or 'on_behalf'), or refused with the code of the check that failed
        latest among the action's rows (a role, then the jurisdiction, the department, the reason).

    Raises
    ------
    ValueError
        For an unknown action, a missing context key or a malformed jurisdiction code.
    """
    rows = grants(action)
    needed = set().union(*(g.keys() for g in rows))
    missing = sorted(needed - set(context))
    if missing:
        msg = f"`context` of {action!r} lacks {missing}; it needs {sorted(needed)}."
        raise ValueError(msg)
    failures = []
    for grant in rows:
        failed = _check(grant, actor, context)
        if failed is None:
            if grant.reason:
                return Decision(True, "on_behalf", {"action": action, "reason": str(context["reason"]).strip()})
            return Decision(True, "allowed", {"action": action})
        failures.append(failed)
    stage, code, params = max(failures, key=lambda f: f[0])  # max keeps the first of equals
    if stage == 0:
        params = {"roles": tuple(r for r in ROLES if any(r in g.roles for g in rows))}
    return Decision(False, code, {"action": action, **params})


def _describe_jurisdiction(rule: str) -> str:
    kind, _, key = rule.partition(":")
    return {
        "any": "any",
        "is": f"is `{key}`",
        "within": f"contains `{key}`",
        "party": f"contains one of `{key}`",
        "all_within": f"contains all of `{key}`",
    }[kind]


def markdown_table() -> str:
    """The permission table as a Markdown table (the README's section "Accounts and authority" shows it)."""
    lines = ["| action | roles | actor's jurisdiction | actor's department | needs a reason | note |", "|---|---|---|---|---|---|"]
    for g in PERMISSIONS:
        dept = "any" if g.department == "any" else f"is `{g.department.split(':', 1)[1]}`"
        lines.append(f"| `{g.action}` | {', '.join(g.roles)} | {_describe_jurisdiction(g.jurisdiction)} | {dept} | {'yes (on behalf)' if g.reason else 'no'} | {g.note} |")
    return "\n".join(lines)
