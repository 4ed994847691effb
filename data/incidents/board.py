"""The consultation board: an incident's current state folded from its append-only log, and the review figures."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

#: The on-scene target (seconds): 30 minutes from the incident to the first team on scene.
ON_SCENE_TARGET_S = 1800
#: Default delay (seconds) after which an unanswered call stands out.
OVERDUE_AFTER_S = 600

_STATUSES = ("requested", "approved", "dispatched", "arrived", "declined")
#: What a missing duration reads as wherever one is shown (tables, exports, the briefing).
MISSING = "—"


def minutes(seconds: object) -> float:
    """A duration in seconds as minutes rounded to one decimal, half up on the decimal value (153 s = 2.55 → 2.6).

    The one rounding rule of every figure in minutes the page, its exports and the briefing
    show, so a figure reads the same everywhere (``f"{x:.1f}"`` would give 2.5 here and
    ``Series.round(1)`` 2.6).  NaN for a missing or non-finite `seconds`.
    """
    if seconds is None or pd.isna(seconds) or not math.isfinite(float(seconds)):
        return math.nan
    return float((Decimal(repr(float(seconds))) / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def minutes_text(seconds: object, *, missing: str = MISSING) -> str:
    """`minutes` as text with one decimal ("2.6"), or `missing` when there is no figure."""
    value = minutes(seconds)
    return missing if math.isnan(value) else f"{value:.1f}"


@dataclass
class Board:
    """What every session of the consultation board shows for one incident.

    Times are Beijing time (naive).  Durations are in seconds (``*_s``).
    """

    incident_id: str
    incident: dict  # title, kind, level, lon, lat, lead_code, lead_name, place, jurisdictions, departments, at, who, department, description
    phase: str
    phase_since: datetime
    phases: pd.DataFrame  # id, at, phase, from_phase, who, department, text
    entries: pd.DataFrame  # every row: id, at, recorded_at, kind, who, department, text, ref, corrects, detail (payload dict), corrected_by
    warnings: pd.DataFrame  # id, at, colour, text, area_kind, area, counties, departments, calls, acked, rate, first_ack_s, median_ack_s, overdue, who, department
    calls: pd.DataFrame  # warning_id, contact_id, unit, role, department, jurisdiction_code, duty_phone, escalated, acked_at, ack_s, state ('acked'|'waiting'|'overdue')
    requests: pd.DataFrame  # id, at, resource_id, resource_name, resource_layer, from_code, to_code, status, eta_s, estimate, route, crossed, provider_department, who, department, <status>_at
    last_id: int
    now: datetime


def build(rows: pd.DataFrame, *, now: datetime, overdue_after_s: float = OVERDUE_AFTER_S) -> Board:
    """Fold the rows of one incident (`data.incidents.IncidentLog.rows`) into its `Board` at time `now`."""
    rows = rows.sort_values("id").reset_index(drop=True)
    head_row = rows[rows["kind"] == "incident"].iloc[0]
    incident = json.loads(head_row["data"]) | {"at": head_row["at"].to_pydatetime(), "who": head_row["who"], "department": head_row["department"], "description": head_row["text"]}
    structured = rows[rows["kind"] != "log"]  # position-log rows carry no data: only the others are parsed
    data = {int(i): json.loads(d) for i, d in zip(structured["id"], structured["data"], strict=True)}

    corrected_by = rows.loc[rows["corrects"].notna(), ["corrects", "id"]].groupby("corrects")["id"].max()
    entries = rows[["id", "at", "recorded_at", "kind", "who", "department", "text", "ref", "corrects"]].copy()
    entries["detail"] = [data.get(int(i)) for i in entries["id"]]  # parsed payload; None for position-log rows
    entries["corrected_by"] = entries["id"].map(corrected_by).astype("Int64")
    entries["ref"] = entries["ref"].astype("Int64")
    entries["corrects"] = entries["corrects"].astype("Int64")

    ph = rows[rows["kind"] == "phase"]
    phases = pd.DataFrame({
        "id": [int(head_row["id"]), *ph["id"].astype(int)], "at": [head_row["at"], *ph["at"]],
        "phase": [incident["phase"], *(data[int(i)]["phase"] for i in ph["id"])], "from_phase": [None, *(data[int(i)]["from"] for i in ph["id"])],
        "who": [head_row["who"], *ph["who"]], "department": [head_row["department"], *ph["department"]], "text": ["", *ph["text"]],
    })  # fmt: skip
    warnings, calls = _warnings(rows, data, now=now, overdue_after_s=overdue_after_s)
    return Board(
        incident_id=str(head_row["incident_id"]), incident=incident, phase=str(phases["phase"].iloc[-1]), phase_since=pd.Timestamp(phases["at"].iloc[-1]).to_pydatetime(),
        phases=phases, entries=entries, warnings=warnings, calls=calls, requests=_requests(rows, data), last_id=int(rows["id"].iloc[-1]), now=now,
    )  # fmt: skip


def _warnings(rows: pd.DataFrame, data: dict[int, dict], *, now: datetime, overdue_after_s: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    wr = rows[rows["kind"] == "warning"]
    acks = rows[rows["kind"] == "ack"]
    acked_at = {(int(r), data[int(i)]["contact_id"]): a for i, r, a in zip(acks["id"], acks["ref"], acks["at"], strict=True)}
    call_rows, warn_rows = [], []
    for w in wr.itertuples():
        d = data[int(w.id)]
        waits = []
        for c in d["calls"]:
            at = acked_at.get((int(w.id), c["contact_id"]))
            ack_s = (at - w.at).total_seconds() if at is not None else np.nan
            waited = (pd.Timestamp(now) - w.at).total_seconds()
            state = "acked" if at is not None else "overdue" if waited > overdue_after_s else "waiting"
            call_rows.append({"warning_id": int(w.id), "colour": d["colour"], **c, "acked_at": at, "ack_s": ack_s, "state": state})
            waits.append((ack_s, state))
        answered = [s for s, st in waits if st == "acked"]
        warn_rows.append({
            "id": int(w.id), "at": w.at, "colour": d["colour"], "text": w.text, "area_kind": d["area_kind"], "area": d["area"],
            "radius_m": d.get("radius_m"), "minutes": d.get("minutes"), "counties": d["counties"], "departments": d["departments"],
            "calls": len(waits), "acked": len(answered), "rate": len(answered) / len(waits) if waits else np.nan,
            "first_ack_s": min(answered) if answered else np.nan, "median_ack_s": float(np.median(answered)) if answered else np.nan,
            "overdue": sum(st == "overdue" for _, st in waits), "who": w.who, "department": w.department,
        })  # fmt: skip
    warn_cols = ["id", "at", "colour", "text", "area_kind", "area", "radius_m", "minutes", "counties", "departments", "calls", "acked", "rate",
                 "first_ack_s", "median_ack_s", "overdue", "who", "department"]  # fmt: skip
    call_cols = ["warning_id", "colour", "contact_id", "unit", "role", "department", "jurisdiction_code", "duty_phone", "escalated", "acked_at", "ack_s", "state"]
    return pd.DataFrame(warn_rows, columns=warn_cols), pd.DataFrame(call_rows, columns=call_cols)


def _requests(rows: pd.DataFrame, data: dict[int, dict]) -> pd.DataFrame:
    steps = rows[rows["kind"] == "request_status"]
    by_request: dict[int, list] = {}
    for i, r, a in zip(steps["id"], steps["ref"], steps["at"], strict=True):
        by_request.setdefault(int(r), []).append((a, data[int(i)]))
    out = []
    for q in rows[rows["kind"] == "request"].itertuples():
        d = data[int(q.id)]
        rec = {"id": int(q.id), "at": q.at, "text": q.text, "who": q.who, "department": q.department, **{k: d[k] for k in d if k != "status"}}
        rec |= {f"{s}_at": pd.NaT for s in _STATUSES} | {"requested_at": q.at, "status": "requested"}
        for at, step in by_request.get(int(q.id), []):
            rec[f"{step['status']}_at"] = at
            rec["status"] = step["status"]
            if step.get("eta_s") is not None:
                rec["eta_s"] = step["eta_s"]
        out.append(rec)
    cols = ["id", "at", "text", "who", "department", "resource_id", "resource_name", "resource_layer", "from_code", "to_code", "eta_s", "estimate",
            "route", "crossed", "provider_department", "status", *(f"{s}_at" for s in _STATUSES)]  # fmt: skip
    frame = pd.DataFrame(out, columns=cols)
    for s in _STATUSES:
        frame[f"{s}_at"] = pd.to_datetime(frame[f"{s}_at"])
    frame["eta_s"] = frame["eta_s"].astype("float64")
    return frame


def closures(board: Board) -> list[tuple[str, object]]:
    """The road closures recorded on the incident (significant events carrying a ``closure`` polygon, e.g. a drill's closure
    inject), not corrected since: (text, shapely polygon in EPSG:4326), oldest first.  Resource searches for the incident avoid them."""
    import shapely

    ev = board.entries[(board.entries["kind"] == "event") & board.entries["corrected_by"].isna()].sort_values("id")
    out = []
    for text, d in zip(ev["text"], ev["detail"], strict=True):
        area = (d or {}).get("closure")
        if area:
            out.append((str(text), shapely.from_geojson(json.dumps(area))))
    return out


def timeline(board: Board, *, limit: int | None = None) -> pd.DataFrame:
    """The rows newest first (at most `limit`), with the fields a timeline shows: id, at, kind, who, department, text, ref, corrects, corrected_by."""
    entries = board.entries.sort_values(["at", "id"], ascending=False)
    return entries.head(limit) if limit else entries


def review(board: Board, *, target_s: float = ON_SCENE_TARGET_S) -> pd.DataFrame:
    """Figures per department, and for all (``department == '*'``), measured from the incident's time.

    Columns: calls, acked, first_ack_s (a warning issued → the department's first
    acknowledgment of it, the shortest over warnings), requests, dispatched, first_dispatch_s and first_arrival_s (incident →
    first resource of the department dispatched / on scene), met_target (first arrival within
    `target_s`), and arrivals_within_target (count of arrivals within `target_s`).
    """
    t0 = pd.Timestamp(board.incident["at"])
    calls, reqs = board.calls, board.requests.copy()
    reqs["by"] = reqs["provider_department"].where(reqs["provider_department"].fillna("") != "", reqs["department"])
    issued = dict(zip(board.warnings["id"], board.warnings["at"], strict=True))
    departments = list(dict.fromkeys([*calls["department"], *reqs["by"]]))
    out = []
    for dept in [*departments, "*"]:
        c = calls if dept == "*" else calls[calls["department"] == dept]
        r = reqs if dept == "*" else reqs[reqs["by"] == dept]
        ack_delays = [(a - issued[w]).total_seconds() for w, a in zip(c["warning_id"], c["acked_at"], strict=True) if pd.notna(a)]
        dispatched = r["dispatched_at"].dropna()
        arrived = r["arrived_at"].dropna()
        first_arrival = (arrived.min() - t0).total_seconds() if len(arrived) else np.nan
        out.append({
            "department": dept, "calls": len(c), "acked": int(c["acked_at"].notna().sum()), "first_ack_s": min(ack_delays) if ack_delays else np.nan,
            "requests": len(r), "dispatched": len(dispatched), "first_dispatch_s": (dispatched.min() - t0).total_seconds() if len(dispatched) else np.nan,
            "first_arrival_s": first_arrival, "met_target": bool(first_arrival <= target_s) if len(arrived) else None,
            "arrivals_within_target": int(((arrived - t0).dt.total_seconds() <= target_s).sum()),
        })  # fmt: skip
    return pd.DataFrame(out)
