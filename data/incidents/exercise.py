"""Running a drill (演练): its incident, its injects fired on schedule into that incident only, and the scored review.

A controller (导调, ``drill.control``) starts a drill from a checked scenario
(`data.incidents.drill.parse_scenario`): a drill incident is opened (``DRILL-…``, marked
``drill`` in its head) and a ``drill_start`` row keeps the scenario's text, speed and start.
`Drills.fire_due` writes every inject whose time has come as the row a real event would be
(a warning with its frozen call list, a resource request, a closure or a message as a
significant event), signed by the controller's account, with the inject's number in its
payload (``inject``).  Players answer them as they would real ones (叫应, approve, dispatch,
arrive); the page shows the ``inject`` mark only to the controller (双盲).  Any session looking
at the drill may call `fire_due`: the log's write lock and the inject numbers already written
make each inject fire once.  Nothing of a drill is ever written into a real incident: every
write checks that the target's head says ``drill``.

`review` scores each unit: time to answer each 叫应, to approve, dispatch and arrive against
the 30-minute on-scene target, and the injects it missed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.accounts.accounts import Session, session_of
from data.incidents.board import ON_SCENE_TARGET_S, Board
from data.incidents.drill import Scenario, due, fire_times, parse_scenario
from data.incidents.log import IncidentError, IncidentLog, _fmt
from data.schema import BEIJING

#: Departments called by a warning inject (the incident's own departments when it names some).
DEFAULT_DEPARTMENTS = ("emergency", "fire", "police", "transport", "water")
#: Simplification of a warning inject's county area (degrees; about 100 m).
AREA_SIMPLIFY_DEG = 0.001

MESSAGES = {
    "not_drill": "{incident} is a real incident, not a drill; a drill writes only into its own incident.",
    "not_started": "{incident} has no started scenario.",
}


class DrillError(IncidentError):
    """A drill write refused (``code``, ``params``); nothing was written."""

    def __init__(self, code: str, **params: object):
        self.code, self.params = code, params
        ValueError.__init__(self, MESSAGES[code].format(**params))


def _naive(t: datetime) -> datetime:
    return t.astimezone(BEIJING).replace(tzinfo=None) if t.tzinfo else t


class Drills:
    """Start drills and fire their injects, in `log`.

    Parameters
    ----------
    log : IncidentLog
        The workspace's incident log (its clock is the drill's clock: tests pass a fixed one).
    jurisdictions : DataFrame
        code, name, level (and parent codes) of the dataset: the scenario's counties are checked against it.
    counties : GeoDataFrame
        County outlines (code, geometry; EPSG:4326): a warning inject's area.
    contacts : DataFrame
        Duty contacts (`geo.warning.call_list`): a warning inject's call list.
    """

    def __init__(self, log: IncidentLog, *, jurisdictions: pd.DataFrame, counties: gpd.GeoDataFrame, contacts: pd.DataFrame):
        self.log, self.jurisdictions, self.counties, self.contacts = log, jurisdictions, counties, contacts

    # ---- starting --------------------------------------------------------------------------
    def start(self, text: str, *, by: Session, filename: str | None = None) -> str:
        """Check `text` (a scenario, `parse_scenario`), open its drill incident and start its clock now; returns the incident id.

        Raises `ScenarioError` (every problem with its line; nothing is opened) or the log's refusals.
        """
        now = self.log.clock()
        scenario = parse_scenario(text, jurisdictions=self.jurisdictions, now=now, filename=filename)
        started = _naive(scenario.start) if scenario.start is not None else now
        with self.log._writing("drill was not started ({exc}); try again."):
            incident_id = self.log.open_incident(**scenario.open_incident_kwargs(), by=by, at=min(started, now), drill=True)
            account = self.log.accounts.get(session_of(by).account.username)  # the controller (the row is not readable before the commit)
            data = {"scenario": text, "filename": filename or "", "started_at": _fmt(started), "speed": scenario.speed, "injects": len(scenario.injects)}
            self.log._append(incident_id, "drill_start", by=account, at=min(started, now), text=scenario.title, data=data)
        return incident_id

    def scenario(self, incident_id: str) -> tuple[Scenario, datetime]:
        """The drill's scenario as started, and when it started."""
        self._drill_head(incident_id)
        rows = self.log.workspace.query("SELECT data FROM incident_log WHERE incident_id = ? AND kind = 'drill_start' ORDER BY id LIMIT 1", [incident_id])
        if rows.empty:
            raise DrillError("not_started", incident=incident_id)
        d = json.loads(rows["data"].iloc[0])
        started = datetime.fromisoformat(d["started_at"])
        # checked when it started; read again as of then (a planned start is not "in the past" now)
        scenario = parse_scenario(d["scenario"], jurisdictions=self.jurisdictions, now=started - timedelta(minutes=5), filename=d["filename"] or None)
        return scenario, started

    def _drill_head(self, incident_id: str) -> dict:
        head = self.log._head(incident_id)
        if not head.get("drill"):
            raise DrillError("not_drill", incident=incident_id)
        return head

    # ---- firing ----------------------------------------------------------------------------
    def fired(self, incident_id: str) -> dict[int, int]:
        """Inject number -> the row that fired it."""
        rows = self.log.workspace.query("SELECT id, data FROM incident_log WHERE incident_id = ? AND data LIKE '%\"inject\":%' ORDER BY id", [incident_id])
        out = {}
        for i, d in zip(rows["id"], rows["data"], strict=True):
            k = json.loads(d).get("inject")
            if k is not None:
                out.setdefault(int(k), int(i))
        return out

    def schedule(self, incident_id: str) -> pd.DataFrame:
        """Every inject: number, kind, text, offset_s, due_at (wall time), fired (row id or <NA>)."""
        scenario, started = self.scenario(incident_id)
        fired = self.fired(incident_id)
        times = fire_times(scenario, started)
        return pd.DataFrame({
            "inject": range(len(scenario.injects)), "kind": [i.kind for i in scenario.injects], "text": [i.text for i in scenario.injects],
            "offset_s": [i.offset_s for i in scenario.injects], "due_at": times, "line": [i.line for i in scenario.injects],
            "fired": pd.array([fired.get(k) for k in range(len(scenario.injects))], dtype="Int64"),
        })  # fmt: skip

    def fire_due(self, incident_id: str) -> list[int]:
        """Write every inject due now that has not fired; returns the rows written (none when nothing is due)."""
        head = self._drill_head(incident_id)
        scenario, started = self.scenario(incident_id)
        now = self.log.clock()
        if not due(scenario, started_at=started, now=now, fired=set(self.fired(incident_id))):
            return []  # nothing new is due: no write lock taken (every board refresh asks)
        written = []
        with self.log._writing(f"drill {incident_id}: injects were not written ({{exc}}); try again."):
            fired = set(self.fired(incident_id))  # inside the write lock: another session may just have fired them
            account = self.log.accounts.get(head["controller"])
            times = fire_times(scenario, started)
            for k, inject in due(scenario, started_at=started, now=now, fired=fired):
                at = min(times[k].replace(microsecond=0), now)
                written.append(self._write(incident_id, head, k, inject, account=account, at=at))
        return written

    def _write(self, incident_id: str, head: dict, k: int, inject, *, account, at: datetime) -> int:
        mark = {"inject": k}
        if inject.kind == "warning":
            codes = [c.code for c in inject.counties]
            area = shapely.union_all(self.counties.loc[self.counties["code"].isin(codes)].geometry.to_numpy()).simplify(AREA_SIMPLIFY_DEG)
            departments = list(head.get("departments") or DEFAULT_DEPARTMENTS)
            from geo.warning import call_list

            calls = call_list(codes, departments, self.contacts).to_dict("records")
            data = {"colour": inject.colour, "area_kind": "polygon", "area": json.loads(shapely.to_geojson(area)), "counties": sorted(codes),
                    "departments": departments, "calls": calls, "radius_m": None, "minutes": None} | mark  # fmt: skip
            return self.log._append(incident_id, "warning", by=account, at=at, text=inject.text, data=data)
        if inject.kind == "request":
            data = {"resource_id": f"DRILL-{k}", "resource_name": inject.resource + (f" ×{inject.quantity}" if inject.quantity > 1 else ""), "resource_layer": "drill",
                    "from_code": inject.from_county.code, "to_code": inject.to_county.code, "eta_s": None, "estimate": False, "route": [], "crossed": [],
                    "provider_department": "", "status": "requested"} | mark  # fmt: skip
            return self.log._append(incident_id, "request", by=account, at=at, text=inject.text, data=data)
        if inject.kind == "closure":
            data = {"closure": json.loads(shapely.to_geojson(inject.geometry)), "counties": [c.code for c in inject.counties]} | mark
            return self.log._append(incident_id, "event", by=account, at=at, text=inject.text or "道路封闭", data=data)
        data = ({"from_code": inject.from_county.code} if inject.from_county else {}) | mark
        return self.log._append(incident_id, "event", by=account, at=at, text=inject.text, data=data)


# ---- the scored review ---------------------------------------------------------------------------
def review(board: Board, *, target_s: float = ON_SCENE_TARGET_S, names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per unit and inject it had to answer: how fast it did, as of `board.now`.

    Columns: inject, kind, unit, department, jurisdiction, issued_at, answered_s (a warning's
    叫应), approved_s, dispatched_s, arrived_s (a request; seconds from the inject),
    met_target (arrived within `target_s` of the request; None when not a request),
    missed (a warning unanswered, a request not approved or declined, by `board.now`).
    """
    names = names or {}
    e = board.entries
    marks = {int(i): (d or {}).get("inject") for i, d in zip(e["id"], e["detail"], strict=True)}
    rows = []
    for c in board.calls.itertuples():
        k = marks.get(int(c.warning_id))
        if k is None:
            continue
        issued = board.warnings.loc[board.warnings["id"] == c.warning_id, "at"].iloc[0]
        rows.append({"inject": int(k), "kind": "warning", "unit": c.unit, "department": c.department, "jurisdiction": names.get(c.jurisdiction_code, c.jurisdiction_code),
                     "issued_at": issued, "answered_s": c.ack_s, "approved_s": np.nan, "dispatched_s": np.nan, "arrived_s": np.nan, "met_target": None,
                     "missed": bool(pd.isna(c.acked_at))})  # fmt: skip
    for q in board.requests.itertuples():
        k = marks.get(int(q.id))
        if k is None:
            continue

        def after(t, q=q) -> float:
            return (t - q.at).total_seconds() if pd.notna(t) else np.nan

        arrived = after(q.arrived_at)
        rows.append({"inject": int(k), "kind": "request", "unit": names.get(q.from_code, q.from_code), "department": q.provider_department or "",
                     "jurisdiction": names.get(q.from_code, q.from_code), "issued_at": q.at, "answered_s": np.nan, "approved_s": after(q.approved_at),
                     "dispatched_s": after(q.dispatched_at), "arrived_s": arrived, "met_target": bool(arrived <= target_s) if not np.isnan(arrived) else False,
                     "missed": bool(pd.isna(q.approved_at) and pd.isna(q.declined_at))})  # fmt: skip
    cols = ["inject", "kind", "unit", "department", "jurisdiction", "issued_at", "answered_s", "approved_s", "dispatched_s", "arrived_s", "met_target", "missed"]
    return pd.DataFrame(rows, columns=cols).sort_values(["inject", "unit"], kind="stable").reset_index(drop=True)


__all__ = ["DrillError", "Drills", "review"]
