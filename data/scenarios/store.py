"""Saved hazard scenarios: one append-only table ``hazard_scenarios`` in the workspace, attached to incidents through their log.

A row is one scenario as it was saved: its ``id`` (1, 2, … in the order saved), ``name``,
``kind`` (`geo.hazard.HAZARD_KINDS`), ``params`` (JSON of the parameters it was made from),
``area`` (the GeoJSON Feature of `geo.hazard.Hazard.geojson`, EPSG:4326, which
`geo.hazard.hazard_from_geojson` reads back as the same hazard), ``area_km2``, who saved it
(``created_by``: the username of a signed-in `data.accounts.accounts.Session`;
``department``), when (``created_at``, Beijing time, the server clock) and, optionally, the
incident it is attached to (``incident_id``, with ``log_entry``: the id of the row written into
that incident's log) and the scenario it was copied from (``copy_of``).

Nothing is ever updated or deleted (`update` and `delete` raise; on PostgreSQL the database
refuses UPDATE, DELETE and TRUNCATE, as for the incident log).  A changed scenario is saved
as a new one; attaching a saved scenario to an incident (`ScenarioStore.attach`) saves a copy
that names the incident and the original (``copy_of``), and writes a significant event into
the incident's log (`data.incidents.log.IncidentLog.note`, kind ``event``) naming the scenario
and its id.  A drill (演练) is an incident too: attaching works the same, and its log row is a
drill row like every other row of the drill.

Who may save
    A signed-in working account: the session is checked by `Accounts.check` (not expired,
    not disabled, password changed) and the permission table's ``scenario.save`` (duty
    officer, liaison, commander) is required, else `Refused` ('missing_role'), audited.
    Attaching is, besides, a log entry: the log's own check (``entry.post``: one's own
    department, on an incident one's jurisdiction is party to) applies and refuses it
    otherwise, with nothing saved.  Reading needs no account.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from data.accounts.accounts import Account, Session, session_of
from data.incidents.log import IncidentLog
from data.schema import now_beijing
from data.storage.workspace import Workspace
from geo.hazard import HAZARD_KINDS, Hazard, hazard_from_geojson

log = logging.getLogger(__name__)

#: The table of saved scenarios.
TABLE = "hazard_scenarios"
#: The permission table's action (`data.accounts.authority`).
SAVE_ACTION = "scenario.save"
#: Chinese names of the hazard kinds, for the log row (the incident file is kept in Chinese).
KIND_NAMES = {"flood": "洪涝淹没", "typhoon": "台风大风圈", "plume": "危化品气体扩散", "drawn": "绘制/导入区域"}
#: Longest scenario name (characters).
MAX_NAME = 100

_COLUMNS: dict[str, str] = {
    "id": "BIGINT PRIMARY KEY", "name": "VARCHAR NOT NULL", "kind": "VARCHAR NOT NULL", "params": "VARCHAR NOT NULL",
    "area": "VARCHAR NOT NULL", "area_km2": "DOUBLE PRECISION", "created_by": "VARCHAR NOT NULL", "department": "VARCHAR NOT NULL",
    "created_at": "TIMESTAMP NOT NULL", "incident_id": "VARCHAR", "log_entry": "BIGINT", "copy_of": "BIGINT",
}  # fmt: skip

#: code -> English message (the page shows the label ``haz.store_err.<code>`` with the same parameters).
MESSAGES: dict[str, str] = {
    "required": "`{field}` is empty; give the scenario a name.",
    "too_long": "`{field}` has {length} characters; the limit is {limit}.",
    "bad_kind": "`kind` was {value!r}; expected one of {allowed}.",
    "unknown_scenario": "scenario #{value} is not saved in this workspace.",
    "append_only": "saved scenarios are never {action} (scenario #{ref}); save the changed scenario as a new one.",
}


class ScenarioError(ValueError):
    """Input the scenario store refuses; ``code`` and ``params`` give the message in any language, nothing was written."""

    def __init__(self, code: str, **params: object):
        self.code, self.params = code, params
        super().__init__(MESSAGES[code].format(**params))


@dataclass(frozen=True)
class SavedScenario:
    """One saved scenario: its row's fields and the hazard read back from its GeoJSON."""

    id: int
    hazard: Hazard
    created_by: str
    department: str
    created_at: datetime
    incident_id: str | None = None
    log_entry: int | None = None
    copy_of: int | None = None


def attach_text(scenario_id: int, hazard: Hazard, *, copy_of: int | None = None) -> str:
    """The text of the log row that attaches scenario `scenario_id` to an incident (it names the scenario and its id)."""
    source = f"，复制自情景 #{copy_of}" if copy_of is not None else ""
    kind = KIND_NAMES.get(hazard.kind, hazard.kind)
    return f"关联情景模拟 #{scenario_id}「{hazard.name}」（{kind}，{hazard.area_km2:.2f} km²{source}），见情景模拟页。"


def _opt_int(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _opt_str(value: object) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


class ScenarioStore:
    """The saved hazard scenarios of a workspace: `save`, `attach`, `scenarios`, `load`; never a change.

    Parameters
    ----------
    workspace : Workspace
        The read-write workspace (one per process); the table is created when missing.
    log : IncidentLog
        The incident log of the same workspace: attaching writes into it, and its `Accounts`
        check every session (a process shares one log, as the app does).
    clock : callable, optional
        Returns the current Beijing time (naive); tests pass a fixed clock.
    """

    def __init__(self, workspace: Workspace, *, log: IncidentLog, clock: Callable[[], datetime] = now_beijing):
        if log.workspace is not workspace:
            msg = "`log` must be the incident log of the same `workspace` (attaching writes into both)."
            raise ValueError(msg)
        self.workspace = workspace
        self.log = log
        self.accounts = log.accounts
        self.clock = clock
        self._lock = threading.RLock()
        cols = ", ".join(f'"{c}" {t}' for c, t in _COLUMNS.items())  # types both DuckDB and PostgreSQL know
        with workspace.transaction(f"the table of hazard scenarios cannot be created in the workspace ({{exc}}).") as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({cols})")
        workspace.append_only(TABLE)

    # ---- writing -------------------------------------------------------------------------
    def _signed(self, by: Session) -> Account:
        """The account of session `by` as stored now, after `Accounts.check` and the permission table (``scenario.save``).

        Raises `AuthError` (no valid session) or `Refused` ('missing_role').
        """
        now = self.clock()
        session = self.accounts.check(session_of(by), now=now)
        self.accounts.require(session.actor, SAVE_ACTION, now=now)  # the permission table's row; a refusal is audited
        return session.account

    def save(self, hazard: Hazard, *, by: Session, name: str | None = None, incident_id: str | None = None, copy_of: int | None = None) -> int:
        """Save `hazard` as a new scenario and return its id.

        Parameters
        ----------
        hazard : geo.hazard.Hazard
        by : Session
            The signed-in working account that saves it (module docstring).
        name : str, optional
            The scenario's name (default the hazard's); stored as the hazard's name.
        incident_id : str, optional
            Attach it to this incident (or drill): a significant event naming the scenario and
            its id is written into the incident's log (`attach_text`), signed by `by`.
        copy_of : int, optional
            The saved scenario this one copies (`attach`).

        Raises
        ------
        ScenarioError
            'required' / 'too_long' for the name, 'bad_kind', 'unknown_scenario' for `copy_of`.
        AuthError, Refused
            From the session check and the role check; with `incident_id`, from the log's
            ``entry.post`` check.  Nothing is saved then.
        IncidentError
            With `incident_id`: an incident not in the log ('unknown_incident').
        """
        if not isinstance(hazard, Hazard):
            msg = f"`hazard` was {type(hazard).__name__}; it must be a geo.hazard.Hazard (flood_area, typhoon_track, gas_plume, hazard_from_geojson)."
            raise TypeError(msg)
        text = (hazard.name if name is None else str(name)).strip()
        if not text:
            raise ScenarioError("required", field="name")
        if len(text) > MAX_NAME:
            raise ScenarioError("too_long", field="name", length=len(text), limit=MAX_NAME)
        if hazard.kind not in HAZARD_KINDS:
            raise ScenarioError("bad_kind", value=hazard.kind, allowed=", ".join(HAZARD_KINDS))
        account = self._signed(by)
        hazard = Hazard(hazard.kind, hazard.area, dict(hazard.params), text)
        feature = hazard.geojson()
        area = json.dumps(feature, ensure_ascii=False, separators=(",", ":"))
        params = json.dumps(feature["properties"]["params"], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        km2 = round(hazard.area_km2, 6)
        with self._lock, self.workspace.transaction(f"scenario {text!r} was not saved ({{exc}}); try again.", lock=TABLE) as cur:
            if copy_of is not None and cur.execute(f"SELECT count(*) FROM {TABLE} WHERE id = ?", [int(copy_of)]).fetchone()[0] == 0:
                raise ScenarioError("unknown_scenario", value=copy_of)
            last = cur.execute(f"SELECT max(id) FROM {TABLE}").fetchone()[0]
            scenario_id = int(last) + 1 if last is not None else 1
            entry = None
            if incident_id is not None:  # the log row first: refused there, nothing is saved here (this transaction rolls back)
                entry = self.log.note(str(incident_id), "event", attach_text(scenario_id, hazard, copy_of=copy_of), by=by)
            row = {"id": scenario_id, "name": text, "kind": hazard.kind, "params": params, "area": area, "area_km2": km2, "created_by": account.username,
                   "department": account.department, "created_at": self.clock(), "incident_id": incident_id, "log_entry": entry, "copy_of": copy_of}  # fmt: skip
            names = ", ".join(f'"{c}"' for c in _COLUMNS)
            cur.execute(f"INSERT INTO {TABLE} ({names}) VALUES ({', '.join('?' * len(_COLUMNS))})", [row[c] for c in _COLUMNS])
        log.info("scenarios: #%d %r (%s, %.1f km²) saved by %s%s", scenario_id, text, hazard.kind, km2, account.username, f" for {incident_id}" if incident_id else "")
        return scenario_id

    def attach(self, scenario_id: int, incident_id: str, *, by: Session) -> int:
        """Attach saved scenario `scenario_id` to an incident (or drill): save a copy naming the
        incident (``copy_of`` = `scenario_id`) and write the log row; return the copy's id.

        Raises as `save`, and `ScenarioError` ('unknown_scenario').
        """
        found = self.load(scenario_id)
        return self.save(found, by=by, incident_id=incident_id, copy_of=int(scenario_id))

    def update(self, scenario_id: int, **_: object) -> None:
        """Always refused: saved scenarios are append-only (save the changed one as new)."""
        raise ScenarioError("append_only", action="changed", ref=scenario_id)

    def delete(self, scenario_id: int) -> None:
        """Always refused: saved scenarios are append-only."""
        raise ScenarioError("append_only", action="deleted", ref=scenario_id)

    # ---- reading -------------------------------------------------------------------------
    def scenarios(self, *, incident_id: str | None = None) -> pd.DataFrame:
        """The saved scenarios, newest first (of `incident_id` when given): every column but
        ``area``, with ``params`` as a dict."""
        names = ", ".join(f'"{c}"' for c in _COLUMNS if c != "area")
        where, args = ("WHERE incident_id = ?", [incident_id]) if incident_id is not None else ("", [])
        rows = self.workspace.query(f"SELECT {names} FROM {TABLE} {where} ORDER BY id DESC", args)
        rows["params"] = [json.loads(p) for p in rows["params"]]
        for c in ("id",):
            rows[c] = rows[c].astype("int64")
        for c in ("log_entry", "copy_of"):
            rows[c] = rows[c].astype("Int64")
        return rows.reset_index(drop=True)

    def scenario(self, scenario_id: int) -> SavedScenario:
        """Saved scenario `scenario_id`, its hazard read back from its GeoJSON (`geo.hazard.hazard_from_geojson`).

        Raises
        ------
        ScenarioError
            'unknown_scenario'.
        """
        try:
            key = int(scenario_id)
        except (TypeError, ValueError):
            raise ScenarioError("unknown_scenario", value=scenario_id) from None
        rows = self.workspace.query(f"SELECT * FROM {TABLE} WHERE id = ?", [key])
        if rows.empty:
            raise ScenarioError("unknown_scenario", value=scenario_id)
        r = rows.iloc[0]
        return SavedScenario(
            id=int(r["id"]), hazard=hazard_from_geojson(r["area"]), created_by=str(r["created_by"]), department=str(r["department"]),
            created_at=pd.Timestamp(r["created_at"]).to_pydatetime(), incident_id=_opt_str(r["incident_id"]), log_entry=_opt_int(r["log_entry"]),
            copy_of=_opt_int(r["copy_of"]),
        )  # fmt: skip

    def load(self, scenario_id: int) -> Hazard:
        """The hazard of saved scenario `scenario_id` (see `scenario`)."""
        return self.scenario(scenario_id).hazard

    def size(self) -> int:
        """Scenarios saved."""
        return int(self.workspace.query(f"SELECT count(*) AS n FROM {TABLE}")["n"].iloc[0])
