"""Tables and map layers of the joint-consultation page: the log, warnings and their calls, requests, the review."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pydeck as pdk
import shapely

from data.incidents.board import MISSING, minutes, minutes_text
from layers.labels import label_or, t

WARNING_RGB = {"red": (220, 38, 38), "orange": (245, 130, 32), "yellow": (234, 200, 30), "blue": (37, 99, 235)}
STATUS_RGB = {"requested": (120, 120, 120), "approved": (37, 99, 235), "dispatched": (245, 130, 32), "arrived": (22, 163, 74), "declined": (160, 160, 160)}
_DECIMALS = 6


def _minutes(seconds) -> list[str]:
    """Durations as minutes with one decimal, "—" when missing: `data.board.minutes_text`, the rule the briefing uses too."""
    return [minutes_text(s) for s in seconds]


def _time(values, *, missing: str = MISSING) -> list[str]:
    return [f"{pd.Timestamp(v):%m-%d %H:%M:%S}" if v is not None and pd.notna(v) else missing for v in values]


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, (list, tuple, dict, np.ndarray)) and bool(pd.isna(value)))


def _texts(values, *, missing: str = MISSING) -> list[str]:
    """Cells as text: None/NaN → `missing` (a table never shows a raw None or nan)."""
    return [missing if _missing(v) or str(v) == "" else str(v) for v in values]


_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:")


def plain(text: object) -> str:
    """`text` with every Markdown/HTML character backslash-escaped, so st.markdown shows it as typed."""
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in str(text)).replace("\n", "  \n")


def signers(who, people: dict[str, str] | None) -> list[str]:
    """Who signed each row as shown: `people` maps an account's username to its display text
    (e.g. 姓名（辖区）); a username it lacks is shown as it is, a missing one as "—"."""
    people = people or {}
    return [MISSING if _missing(w) or str(w) == "" else people.get(str(w), str(w)) for w in who]


def answers(entries: pd.DataFrame) -> dict[tuple[int, str], dict]:
    """The 叫应 answers of a board's rows (`data.incidents.board.Board.entries`): (warning id, contact id) ->
    ``who``, ``department``, ``on_behalf`` (recorded on the unit's behalf) and ``reason``."""
    acks = entries[entries["kind"] == "ack"]
    out = {}
    for ref, who, dept, d in zip(acks["ref"], acks["who"], acks["department"], acks["detail"], strict=True):
        d = d or {}
        out[(int(ref), str(d.get("contact_id")))] = {"who": who, "department": dept, "on_behalf": bool(d.get("on_behalf")), "reason": str(d.get("reason") or "")}
    return out


def answer_text(answer: dict | None, lang: str, people: dict[str, str] | None = None) -> str:
    """Who recorded a 叫应 answer, and for an answer recorded on the unit's behalf 代为叫应 with its reason; "—" when none."""
    if not answer:
        return MISSING
    who = signers([answer["who"]], people)[0]
    return t("inc.answered_on_behalf", lang, who=who, reason=answer["reason"]) if answer["on_behalf"] else who


def describe(entries: pd.DataFrame, lang: str, names: dict[str, str], resources: dict[int, str]) -> list[str]:
    """What each row says, from its text and its payload: the phase moved, the warning's colour,
    the resource requested and its ETA, a request's new status, a 叫应 answered on the unit's
    behalf with its reason (plain text, not yet escaped).

    `resources` names the resource of each request id (``Board.requests``).
    """
    out = []
    for kind, text, ref, d in zip(entries["kind"], entries["text"], entries["ref"], entries["detail"], strict=True):
        d = d or {}
        if kind == "incident":
            head = f"{d.get('title', '')} · {names.get(d.get('lead_code'), d.get('lead_name', ''))}"
        elif kind == "phase":
            head = f"{label_or('inc.phase', d.get('from'), lang)} → {label_or('inc.phase', d.get('phase'), lang)}"
        elif kind == "warning":
            head = label_or("inc.colour", d.get("colour"), lang)
        elif kind == "request":
            eta = minutes(d.get("eta_s"))
            head = f"{d.get('resource_name', '')} · {names.get(d.get('from_code'), d.get('from_code', ''))}" + (f" · {eta:.1f} {t('dis.min', lang)}" if eta == eta else "")
        elif kind == "request_status":
            head = f"#{int(ref)} {resources.get(int(ref), '')} → {label_or('inc.status', d.get('status'), lang)}"
        elif kind == "ack" and d.get("on_behalf"):
            head = t("inc.on_behalf", lang, reason=d.get("reason") or MISSING)
        else:
            head = ""
        out.append(("：" if lang == "zh" else ": ").join(p for p in (head, text) if p))
    return out


def feed_lines(entries: pd.DataFrame, lang: str, names: dict[str, str], resources: dict[int, str], *, people: dict[str, str] | None = None) -> list[str]:
    """Rows as escaped Markdown lines: id, time, department, who (`signers` of `people`), kind and what they say (see `describe`)."""
    said = describe(entries, lang, names, resources)
    return [
        f"`#{int(r.id)}` {pd.Timestamp(r.at):%H:%M:%S} · {plain(label_or('dept', r.department, lang))} · {plain(who)} · "
        f"**{plain(label_or('inc.entry', r.kind, lang))}** {plain(text)}"
        for r, who, text in zip(entries.itertuples(), signers(entries["who"], people), said, strict=True)
    ]


def entries_table(entries: pd.DataFrame, lang: str, names: dict[str, str], resources: dict[int, str], *, people: dict[str, str] | None = None) -> pd.DataFrame:
    """Rows of the log for display, as given (newest first from `data.board.timeline`); the text as `describe` says it,
    the signer as `signers` of `people` shows it."""
    notes = [
        "；".join(
            ([t("inc.corrected_by", lang, id=int(b))] if pd.notna(b) else []) + ([t("inc.corrects", lang, id=int(c))] if pd.notna(c) else [])
        )
        for b, c in zip(entries["corrected_by"], entries["corrects"], strict=True)
    ]  # fmt: skip
    said = describe(entries, lang, names, resources)
    return pd.DataFrame({
        t("inc.col.id", lang): entries["id"].astype("int64").to_numpy(), t("inc.col.at", lang): _time(entries["at"]),
        t("inc.col.kind", lang): [label_or("inc.entry", k, lang) for k in entries["kind"]], t("inc.col.department", lang): [label_or("dept", d, lang) for d in entries["department"]],
        t("inc.col.who", lang): signers(entries["who"], people), t("inc.col.text", lang): said, t("inc.col.note", lang): notes,
    })  # fmt: skip


def timeline_chart(entries: pd.DataFrame, lang: str, *, limit: int = 500):
    """The newest `limit` rows other than position-log entries on a time × department chart (Altair).

    The tooltip holds the row number, time, kind and department only: no user text.
    """
    import altair as alt

    key = entries[entries["kind"] != "log"].tail(limit)
    at, dept, kind, num = (t(f"inc.col.{c}", lang) for c in ("at", "department", "kind", "id"))
    frame = pd.DataFrame({
        num: key["id"].astype("int64").to_numpy(), at: pd.to_datetime(key["at"]).to_numpy(),
        dept: [label_or("dept", d, lang) for d in key["department"]], kind: [label_or("inc.entry", k, lang) for k in key["kind"]],
    })  # fmt: skip
    return (
        alt.Chart(frame)
        .mark_circle(size=90, opacity=0.85)
        .encode(
            x=alt.X(f"{at}:T", axis=alt.Axis(format="%H:%M", title=at)), y=alt.Y(f"{dept}:N", title=dept), color=alt.Color(f"{kind}:N", title=kind),
            tooltip=[alt.Tooltip(f"{num}:Q"), alt.Tooltip(f"{at}:T", format="%m-%d %H:%M:%S"), alt.Tooltip(f"{kind}:N"), alt.Tooltip(f"{dept}:N")],
        )
        .properties(height=max(120, 40 * frame[dept].nunique()))
    )  # fmt: skip


def phases_table(phases: pd.DataFrame, lang: str, *, people: dict[str, str] | None = None) -> pd.DataFrame:
    return pd.DataFrame({
        t("inc.col.at", lang): _time(phases["at"]), t("inc.col.kind", lang): [label_or("inc.phase", p, lang) for p in phases["phase"]],
        t("inc.col.department", lang): [label_or("dept", d, lang) for d in phases["department"]], t("inc.col.who", lang): signers(phases["who"], people),
        t("inc.col.text", lang): _texts(phases["text"], missing=""),
    })  # fmt: skip


def rate_text(acked: int, calls: int, lang: str) -> str:
    return t("inc.rate_value", lang, acked=int(acked), calls=int(calls), pct=100 * acked / calls if calls else 0.0)


def warnings_table(warnings: pd.DataFrame, names: dict[str, str], lang: str) -> pd.DataFrame:
    return pd.DataFrame({
        t("inc.col.id", lang): warnings["id"].astype("int64").to_numpy(), t("inc.col.at", lang): _time(warnings["at"]),
        t("inc.col.colour", lang): [label_or("inc.colour", c, lang) for c in warnings["colour"]],
        t("inc.col.jurisdiction", lang): ["、".join(names.get(c, c) for c in cs) for cs in warnings["counties"]],
        t("inc.col.text", lang): _texts(warnings["text"], missing=""),
        t("inc.col.rate", lang): [rate_text(a, c, lang) for a, c in zip(warnings["acked"], warnings["calls"], strict=True)],
        t("inc.col.first_ack", lang): _minutes(warnings["first_ack_s"]), t("inc.col.median_ack", lang): _minutes(warnings["median_ack_s"]),
        t("inc.col.overdue", lang): warnings["overdue"].astype("int64").to_numpy(),
    })  # fmt: skip


def calls_table(calls: pd.DataFrame, names: dict[str, str], lang: str, *, answered: dict[tuple[int, str], dict] | None = None,
                people: dict[str, str] | None = None):  # fmt: skip
    """The call list of one warning, overdue rows highlighted (a pandas Styler).

    Every cell is text: an unanswered call reads 未应答 (not answered) at its answer time and
    "—" for its minutes; a contact without a role or phone reads "—".  The last column says
    who recorded the answer (`answer_text` of `answered`, from `answers`): 代为叫应 with the
    reason when it was recorded on the unit's behalf.
    """
    answered = answered or {}
    frame = pd.DataFrame({
        t("inc.col.state", lang): [label_or("inc.state", s, lang) for s in calls["state"]],
        t("inc.col.jurisdiction", lang): [names.get(c, c) for c in calls["jurisdiction_code"]],
        t("inc.col.department", lang): [label_or("dept", d, lang) for d in calls["department"]],
        t("inc.col.unit", lang): [f"{u}{t('inc.escalated', lang) if e else ''}" for u, e in zip(calls["unit"], calls["escalated"], strict=True)],
        t("inc.col.role", lang): _texts(calls["role"]), t("inc.col.phone", lang): _texts(calls["duty_phone"]),
        t("inc.col.acked_at", lang): _time(calls["acked_at"], missing=t("inc.not_answered", lang)), t("inc.col.ack_min", lang): _minutes(calls["ack_s"]),
        t("inc.col.answered_by", lang): [answer_text(answered.get((int(w), str(c))), lang, people) for w, c in zip(calls["warning_id"], calls["contact_id"], strict=True)],
    })  # fmt: skip
    state = calls["state"].to_numpy()
    colours = {"overdue": "background-color: #fde2e2; color: #991b1b; font-weight: 600", "acked": "background-color: #e7f6ec", "waiting": ""}
    return frame.style.apply(lambda _: [colours[state[i]] for i in range(len(frame))], axis=0)


def requests_table(requests: pd.DataFrame, names: dict[str, str], lang: str, *, target_s: float) -> pd.DataFrame:
    eta = requests["eta_s"].astype("float64")
    return pd.DataFrame({
        t("inc.col.id", lang): requests["id"].astype("int64").to_numpy(), t("inc.col.at", lang): _time(requests["at"]),
        t("inc.col.resource", lang): requests["resource_name"].to_numpy(), t("inc.col.from", lang): [names.get(c, c) for c in requests["from_code"]],
        t("inc.col.status", lang): [label_or("inc.status", s, lang) for s in requests["status"]],
        t("inc.col.eta", lang): [f"{minutes_text(e)}{' ' + t('dis.estimate', lang) if not _missing(est) and bool(est) else ''}" if np.isfinite(e) else MISSING
                                 for e, est in zip(eta, requests["estimate"], strict=True)],
        t("inc.col.target", lang): [t("inc.yes", lang) if e <= target_s else t("inc.no", lang) if np.isfinite(e) else MISSING for e in eta],
        t("inc.col.crossed", lang): [" → ".join(names.get(c, c) for c in cs) for cs in requests["crossed"]],
        t("inc.col.requested_by", lang): [label_or("dept", d, lang) for d in requests["department"]],
    })  # fmt: skip


def review_table(review: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The review (`data.board.review`) for the page and its CSV: minutes by `data.board.minutes_text`, as in the briefing."""

    def yes_no(v):
        return MISSING if _missing(v) else t("inc.yes", lang) if v else t("inc.no", lang)

    return pd.DataFrame({
        t("inc.col.department", lang): [t("inc.all_departments", lang) if d == "*" else label_or("dept", d, lang) for d in review["department"]],
        t("inc.col.calls_n", lang): review["calls"].to_numpy(), t("inc.col.acked_n", lang): review["acked"].to_numpy(),
        t("inc.col.first_ack_min", lang): _minutes(review["first_ack_s"]), t("inc.col.requests", lang): review["requests"].to_numpy(),
        t("inc.col.dispatched", lang): review["dispatched"].to_numpy(), t("inc.col.first_dispatch_min", lang): _minutes(review["first_dispatch_s"]),
        t("inc.col.first_arrival_min", lang): _minutes(review["first_arrival_s"]), t("inc.col.met", lang): [yes_no(v) for v in review["met_target"]],
        t("inc.col.within", lang): review["arrivals_within_target"].to_numpy(),
    })  # fmt: skip


def warning_layer(warnings: pd.DataFrame, lang: str) -> pdk.Layer:
    """Warning areas filled with their colour; the tooltip is plain text."""
    features = []
    for w in warnings.itertuples():
        geom = shapely.geometry.shape(w.area)
        features.append({
            "type": "Feature", "geometry": shapely.geometry.mapping(shapely.set_precision(geom, 10**-_DECIMALS)),
            "properties": {"fill": [*WARNING_RGB[w.colour], 50], "line": [*WARNING_RGB[w.colour], 220],
                           "tooltip": f"#{w.id} {label_or('inc.colour', w.colour, lang)}\n{w.text}\n{t('inc.tip_rate', lang, rate=rate_text(w.acked, w.calls, lang))}"},
        })  # fmt: skip
    return pdk.Layer(
        "GeoJsonLayer", id="warnings", data={"type": "FeatureCollection", "features": features}, filled=True, stroked=True,
        get_fill_color="properties.fill", get_line_color="properties.line", line_width_min_pixels=2, pickable=True,
    )  # fmt: skip


def request_layers(requests: pd.DataFrame, names: dict[str, str], lang: str) -> list[pdk.Layer]:
    """Routes of the requested resources (coloured by status) and the resources at their start."""
    paths, starts = [], []
    for r in requests.itertuples():
        if not r.route:
            continue
        eta = f"{minutes_text(r.eta_s)} {t('dis.min', lang)}" if r.eta_s is not None and np.isfinite(r.eta_s) else MISSING
        tip = f"#{r.id} {r.resource_name} · {names.get(r.from_code, r.from_code)}\n{label_or('inc.status', r.status, lang)} · {t('inc.tip_eta', lang, eta=eta)}"
        colour = [*STATUS_RGB[r.status], 230]
        paths.append({"path": [[round(x, _DECIMALS), round(y, _DECIMALS)] for x, y in r.route], "colour": colour, "tooltip": tip})
        starts.append({"lon": round(r.route[0][0], _DECIMALS), "lat": round(r.route[0][1], _DECIMALS), "colour": colour, "tooltip": tip})
    return [
        pdk.Layer("PathLayer", id="request-routes", data=paths, get_path="path", get_color="colour", get_width=30, width_min_pixels=3, width_max_pixels=6, pickable=True),
        pdk.Layer("ScatterplotLayer", id="request-resources", data=starts, get_position=["lon", "lat"], get_fill_color="colour", get_line_color=[255, 255, 255, 255],
                  stroked=True, line_width_min_pixels=2, get_radius=1, radius_min_pixels=7, radius_max_pixels=7, pickable=True),
    ]  # fmt: skip


def view_bounds(incident: dict, warnings: pd.DataFrame, requests: pd.DataFrame, *, pad: float = 0.03) -> tuple[float, float, float, float]:
    """Lon/lat bounds of the incident, its warning areas and its routes, padded by `pad` degrees."""
    xs, ys = [incident["lon"]], [incident["lat"]]
    for area in warnings["area"]:
        minx, miny, maxx, maxy = shapely.geometry.shape(area).bounds
        xs += [minx, maxx]
        ys += [miny, maxy]
    for route in requests["route"]:
        if route:
            xs += [p[0] for p in route]
            ys += [p[1] for p in route]
    return (min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad)


#: Refusal code -> the label prefix of the coded values it names (current, allowed, value).
_CODED = {"phase": "inc.phase", "request_flow": "inc.status"}
_FINAL = "none (final)"  # what data.incidents.log says is allowed after a final phase or status


def drill_problem_text(code: str, params: dict, lang: str) -> str:
    """A problem of a drill scenario file (`data.incidents.drill.ScenarioProblem`'s code and params) in `lang`."""
    return t(f"drill.err.{code}", lang, **params)


def error_text(code: str, params: dict, lang: str) -> str:
    """The message of a refused entry (`data.incidents.IncidentError`'s code and params) in `lang`."""
    out = {}
    for k, v in params.items():
        if k == "field":
            v = label_or("inc.field", v, lang)
        elif k == "what":
            v = label_or("inc.what", v, lang)
        elif k in ("current", "value", "allowed") and code in _CODED:
            v = "、".join(t("inc.final", lang) if x == _FINAL else label_or(_CODED[code], x, lang) for x in str(v).split(", "))
        out[k] = v
    return t(f"inc.err.{code}", lang, **out)


def verify_text(problems: list, *, checked_at, rows: int, lang: str, limit: int = 10) -> str:
    """What a check of the trace (`data.incidents.IncidentLog.verify`) found, with when it ran and over how many rows.

    `problems` are its `Problem`s; each reads by its code (``inc.verify.<code>``), the first
    `limit` of them listed.
    """
    at = f"{pd.Timestamp(checked_at):%H:%M:%S}"
    if not problems:
        return t("inc.verify_ok", lang, at=at, n=rows)
    said = [t(f"inc.verify.{p.code}", lang, id=p.entry_id, **p.params) if p.code else f"#{p.entry_id}" for p in problems[:limit]]
    more = t("inc.verify_more", lang, n=len(problems) - limit) if len(problems) > limit else ""
    return t("inc.verify_bad", lang, at=at, n=rows, count=len(problems), problems="；".join(said) + more)
