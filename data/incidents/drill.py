"""Drill scenarios (演练脚本): read and check a YAML or JSON scenario file, and schedule its injects.

A scenario names the drill's incident and lists injects at offsets from the start: a
warning for a county, a road closure over a polygon, a resource request between two
jurisdictions, a message.  `parse_scenario` reads the file and checks all of it against
the jurisdictions of the dataset; every problem found is reported with its line
(`ScenarioError.problems`), and a scenario with any problem is refused whole, so nothing
of it is ever scheduled.  The schedule is pure arithmetic on times the caller passes
(`fire_times`, `due`), so tests inject the clock and never sleep.

File shape (YAML; the same keys in JSON)::

    title: 嘉善县暴雨内涝联合演练
    start: 2026-12-02 09:00      # optional, Beijing time; default: when the controller starts it
    speed: 1                     # 1 = real time, 10 = ten times faster (0 < speed <= 60)
    incident: {title: ..., kind: rainstorm, level: III, county: 嘉善县, lon: 120.92, lat: 30.84}
    injects:
      - at: +5 min               # +90 s, +1 h, +1 h 30 min, 00:12:00, or a number of minutes
        kind: warning            # warning | closure | request | message
        colour: red
        county: 嘉善县
        text: 嘉善县气象台发布暴雨红色预警

Counties are given by name as in the dataset (嘉善县), by the bare name when that is
unambiguous (嘉善), by city and name (南京市鼓楼区; needed where two counties share a
name) or by their 6-digit code.  A request's ``from`` is the jurisdiction whose resource
is asked for and ``to`` the one that receives it, as in `IncidentLog.request`.
Offsets are scenario time; with ``speed`` s an inject at offset t falls due t / s seconds
of wall time after the start.  Times are Beijing time (UTC+8) as naive datetimes.

YAML needs PyYAML; without it JSON is read in full and a YAML file is refused with the
code ``yaml_missing``.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePath

import pandas as pd
import shapely
from shapely.errors import GEOSException

from data.incidents.log import INCIDENT_KINDS, LEVELS, MAX_NAME, MAX_TEXT, WARNING_COLOURS
from data.schema import BEIJING

try:  # PyYAML is optional: JSON scenarios work without it
    import yaml
except ImportError:  # pragma: no cover - depends on the environment
    yaml = None

log = logging.getLogger(__name__)

#: Whether YAML scenarios can be read here (PyYAML is importable).
HAVE_YAML = yaml is not None
INJECT_KINDS = ("warning", "closure", "request", "message")
#: Inject kind -> (required fields, optional fields), besides ``at`` and ``kind``.
KIND_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "warning": (("colour", "county", "text"), ()),
    "closure": (("polygon",), ("county", "text")),
    "request": (("from", "to", "resource"), ("quantity", "text")),
    "message": (("text",), ("from",)),
}
TOP_FIELDS = ("title", "start", "speed", "incident", "injects")
INCIDENT_FIELDS = ("title", "kind", "level", "county", "lon", "lat", "place", "description", "jurisdictions")
MAX_SPEED = 60.0
MAX_INJECTS = 500
#: A start this many seconds before `now` still counts as now (clock skew, time to press the button).
START_TOLERANCE_S = 60

#: code -> English message (the page shows the label ``drill.err.<code>`` with the same parameters).
MESSAGES: dict[str, str] = {
    "scenario": "the scenario has {count} problem(s); nothing of it was scheduled.",
    "empty": "the scenario file is empty.",
    "syntax": "the file is not valid {fmt}: {reason}.",
    "yaml_missing": "the file is YAML, but PyYAML is not installed here; write the scenario as JSON.",
    "not_mapping": "`{field}` must be a set of `key: value` fields.",
    "not_list": "`{field}` must be a list.",
    "not_scalar": "`{field}` must be a single value, not a list or a set of fields.",
    "required": "`{field}` is missing; fill it in.",
    "unknown_field": "`{field}` is not a field of {where}; expected one of {allowed}.",
    "duplicate": "`{field}` is given twice (first on line {first}).",
    "too_long": "`{field}` has {length} characters; the limit is {limit}.",
    "too_many": "the scenario has {count} injects; the limit is {limit}.",
    "bad_choice": "`{field}` was {value!r}; expected one of {allowed}.",
    "unknown_county": "`{field}` {value!r} is not a county of the dataset; give its name (e.g. 嘉善县) or its 6-digit code (e.g. 330421).",
    "ambiguous_county": "`{field}` {value!r} matches several counties ({matches}); add the city (e.g. 南京市鼓楼区) or give the code.",
    "bad_time": "`{field}` was {value!r}; expected a Beijing time such as 2026-12-02 09:00.",
    "past": "`{field}` {value} is in the past (now {now}); choose a later time, or leave it out to start when the controller starts the drill.",
    "bad_offset": "`{field}` was {value!r}; expected an offset such as +5 min, +90 s, +1 h, 00:12:00 or a number of minutes.",
    "out_of_order": "this inject at {value} comes before the previous one at {previous} (line {previous_line}); list injects in time order.",
    "bad_speed": "`speed` was {value!r}; expected a number above 0 and at most 60 (1 = real time, 10 = ten times faster).",
    "bad_number": "`{field}` was {value!r}; expected a number.",
    "bad_count": "`{field}` was {value!r}; expected a whole number of at least 1.",
    "bad_position": "position ({lon}, {lat}) is not a valid longitude/latitude.",
    "bad_wkt": "`{field}` is not valid WKT: {reason}.",
    "not_polygon": "`{field}` is a {value}; expected a POLYGON in WKT or a list of [lon, lat] points.",
    "bad_point": "`{field}` point {index} was {value!r}; expected [lon, lat].",
    "few_points": "`{field}` has {count} distinct point(s); a polygon needs at least 3.",
    "self_intersecting": "`{field}` crosses itself ({reason}); draw its outline without crossings.",
    "invalid_polygon": "`{field}` is not a valid polygon ({reason}).",
}


def message(code: str, params: dict) -> str:
    """The English text of problem `code` with `params`."""
    return MESSAGES[code].format(**params)


@dataclass(frozen=True)
class ScenarioProblem:
    """One problem of a scenario file: its 1-based ``line``, a ``code`` of `MESSAGES` and the message's ``params``."""

    line: int
    code: str
    params: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        """The problem in English."""
        return message(self.code, self.params)

    def __iter__(self):  # unpacks as (line, code, params)
        return iter((self.line, self.code, self.params))


class ScenarioError(ValueError):
    """A scenario file refused: ``problems`` lists every problem found, by line; nothing of it was scheduled.

    ``code`` ('scenario') and ``params`` (``count``) give the heading in any language; each problem has its own code.
    """

    def __init__(self, problems: Iterable[ScenarioProblem]):
        self.problems = sorted(problems, key=lambda p: p.line)
        self.code, self.params = "scenario", {"count": len(self.problems)}
        lines = [message(self.code, self.params)] + [f"line {p.line}: {p.message}" for p in self.problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class County:
    """A county of the dataset: its ``code``, ``name`` and the ``label`` that names it unambiguously (name, city + name, or code)."""

    code: str
    name: str
    label: str


@dataclass(frozen=True)
class Inject:
    """One scheduled event of a drill.

    ``offset_s`` is scenario time after the start (seconds).  Fields by kind: warning —
    ``colour``, ``counties``, ``text``; closure — ``polygon`` (rings of (lon, lat), the
    exterior first, closed; EPSG:4326), optional ``counties`` and ``text``; request —
    ``from_county`` (whose resource), ``to_county`` (who receives it), ``resource``,
    ``quantity``, optional ``text``; message — ``text``, optional ``from_county``.
    ``line`` is where the inject begins in the file (not compared).
    """

    offset_s: float
    kind: str
    text: str = ""
    colour: str = ""
    counties: tuple[County, ...] = ()
    polygon: tuple[tuple[tuple[float, float], ...], ...] = ()
    from_county: County | None = None
    to_county: County | None = None
    resource: str = ""
    quantity: int = 1
    line: int = field(default=0, compare=False)

    @property
    def geometry(self) -> shapely.Polygon | None:
        """The closure's polygon (EPSG:4326), or None for other kinds."""
        return shapely.Polygon(self.polygon[0], self.polygon[1:]) if self.polygon else None


@dataclass(frozen=True)
class Scenario:
    """A checked drill scenario.

    ``start`` is the planned start (Beijing time) or None (when the controller starts it);
    ``speed`` how many seconds of scenario time pass per second of wall time.
    ``incident`` holds the drill incident: ``title, kind, level, lon, lat, place,
    description`` and ``county`` (the lead `County`) and ``jurisdictions`` (taking part
    besides the lead, `County` tuple); `open_incident_kwargs` turns it into the arguments
    of `IncidentLog.open_incident`.  ``injects`` are in time order.
    """

    title: str
    start: datetime | None
    speed: float
    incident: dict
    injects: tuple[Inject, ...]

    @property
    def duration_s(self) -> float:
        """Scenario time from the start to the last inject (seconds)."""
        return self.injects[-1].offset_s if self.injects else 0.0

    def open_incident_kwargs(self) -> dict:
        """Keyword arguments of `IncidentLog.open_incident` for the drill incident (without ``by`` and ``at``)."""
        inc = self.incident
        return {"title": inc["title"], "kind": inc["kind"], "level": inc["level"], "lon": inc["lon"], "lat": inc["lat"],
                "lead_code": inc["county"].code, "lead_name": inc["county"].name, "place": inc["place"],
                "description": inc["description"], "jurisdictions": [c.code for c in inc["jurisdictions"]]}  # fmt: skip


# ---- the file as a tree of nodes with line numbers ----------------------------------------------------


@dataclass
class _Node:
    """A value of the file: ``kind`` 'map' (value: list of (key, key line, node)), 'seq' (list of nodes) or 'scalar'.

    A scalar has its typed ``value`` and its ``text`` as written (unquoted), so offsets such as 00:12:00 are read as written.
    """

    kind: str
    line: int
    value: object
    text: str = ""


class _SyntaxProblem(Exception):
    def __init__(self, problem: ScenarioProblem):
        self.problem = problem


def _json_tree(text: str) -> _Node:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise _SyntaxProblem(ScenarioProblem(exc.lineno, "syntax", {"fmt": "JSON", "reason": f"{exc.msg} (column {exc.colno})"})) from None
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    decoder = json.JSONDecoder()
    space = re.compile(r"[ \t\n\r]*")

    def line(pos: int) -> int:
        return bisect.bisect_right(newlines, pos - 1) + 1

    def node(pos: int) -> tuple[_Node, int]:  # the text is valid JSON (checked above)
        pos = space.match(text, pos).end()
        start, ch = pos, text[pos]
        if ch in "{[":
            items: list = []
            pos = space.match(text, pos + 1).end()
            while text[pos] not in "}]":
                if ch == "{":
                    key_line = line(pos)
                    key, pos = json.decoder.scanstring(text, pos + 1)
                    pos = space.match(text, pos).end() + 1  # the colon
                    value, pos = node(pos)
                    items.append((key, key_line, value))
                else:
                    value, pos = node(pos)
                    items.append(value)
                pos = space.match(text, pos).end()
                if text[pos] == ",":
                    pos = space.match(text, pos + 1).end()
            return _Node("map" if ch == "{" else "seq", line(start), items), pos + 1
        value, end = decoder.raw_decode(text, pos)
        return _Node("scalar", line(start), value, value if isinstance(value, str) else text[start:end]), end

    return node(0)[0]


def _yaml_tree(text: str) -> _Node | None:
    if yaml is None:
        raise _SyntaxProblem(ScenarioProblem(1, "yaml_missing", {}))
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise _SyntaxProblem(ScenarioProblem(mark.line + 1 if mark else 1, "syntax", {"fmt": "YAML", "reason": reason})) from None
    except yaml.YAMLError as exc:
        raise _SyntaxProblem(ScenarioProblem(1, "syntax", {"fmt": "YAML", "reason": str(exc)})) from None
    constructor = yaml.SafeLoader("")

    def node(n) -> _Node:
        line = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            return _Node("map", line, [(str(k.value) if isinstance(k, yaml.ScalarNode) else "?", k.start_mark.line + 1, node(v)) for k, v in n.value])
        if isinstance(n, yaml.SequenceNode):
            return _Node("seq", line, [node(v) for v in n.value])
        try:
            value = constructor.construct_object(n)
        except (yaml.YAMLError, ValueError):  # e.g. a timestamp with a 13th month: keep the text, the field's check reports it
            value = n.value
        return _Node("scalar", line, value, n.value)

    return None if root is None else node(root)


def scenario_format(text: str, *, filename: str | None = None) -> str:
    """'json' or 'yaml': by `filename`'s extension (.json, .yaml, .yml) when given, else by content (JSON begins with ``{`` or ``[``)."""
    suffix = PurePath(filename).suffix.lower() if filename else ""
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    return "json" if text.lstrip("\ufeff \t\r\n")[:1] in ("{", "[") else "yaml"


# ---- counties -----------------------------------------------------------------------------------------

_SUFFIXES = ("畲族自治县", "自治县", "县", "区", "市")


def _bare(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return ""


class _Counties:
    """Name and code look-up over the county rows of a jurisdictions table."""

    def __init__(self, jurisdictions: pd.DataFrame):
        missing = {"code", "name"} - set(jurisdictions.columns)
        if missing:
            msg = f"`jurisdictions` has no column {sorted(missing)}; expected the dataset's jurisdictions (code, name, level, parent_code)."
            raise ValueError(msg)
        frame = pd.DataFrame({"code": jurisdictions["code"].astype(str), "name": jurisdictions["name"].astype(str)})
        level = jurisdictions["level"].astype(str) if "level" in jurisdictions.columns else pd.Series("county", index=jurisdictions.index)
        for column in ("city_code", "parent_code"):
            if column in jurisdictions.columns:
                frame["city"] = jurisdictions[column].astype(str)
                break
        else:
            frame["city"] = frame["code"].str[:4] + "00"
        cities = dict(zip(frame.loc[level == "city", "code"], frame.loc[level == "city", "name"], strict=True))
        counties = frame[level == "county"]
        self.by_code: dict[str, County] = {}
        self._names: dict[str, list[str]] = defaultdict(list)
        self._bare: dict[str, list[str]] = defaultdict(list)
        self._qualified: dict[str, list[str]] = defaultdict(list)
        for code, name, city in counties[["code", "name", "city"]].itertuples(index=False):
            self._names[name].append(code)
            if bare := _bare(name):
                self._bare[bare].append(code)
            if city in cities:
                self._qualified[cities[city] + name].append(code)
        for code, name, city in counties[["code", "name", "city"]].itertuples(index=False):
            qualified = cities.get(city, "") + name
            label = name if len(self._names[name]) == 1 else qualified if len(self._qualified.get(qualified, ())) == 1 else code
            self.by_code[code] = County(code, name, label)

    def resolve(self, text: str) -> County | tuple[str, dict]:
        """The county named by `text`, or the problem (code, params without ``field``)."""
        text = text.strip()
        if text in self.by_code:
            return self.by_code[text]
        for index in (self._names, self._qualified, self._bare):
            codes = index.get(text, [])
            if len(codes) == 1:
                return self.by_code[codes[0]]
            if codes:
                matches = ", ".join(f"{self.by_code[c].label} {c}" for c in codes)
                return "ambiguous_county", {"value": text, "matches": matches}
        return "unknown_county", {"value": text}


# ---- reading the fields -------------------------------------------------------------------------------

_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "秒": 1, "秒钟": 1,
          "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60, "分": 60, "分钟": 60,
          "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600, "时": 3600, "小时": 3600}  # fmt: skip
_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"\s*({_NUMBER})\s*([^\d\s.:+-]+)")


def _offset_s(text: str) -> float | None:
    """Seconds of an offset written '+5 min', '+90 s', '+1 h 30 min', '00:12:00' (h:mm:ss) or '5' (minutes); None if malformed."""
    s = text.strip()
    if re.fullmatch(rf"\+?{_NUMBER}", s):
        return round(float(s.lstrip("+")) * 60, 3)
    if m := re.fullmatch(r"\+?(\d{1,3}):([0-5]\d):([0-5]\d)", s):
        return float(int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]))
    body, pos, total = s.removeprefix("+"), 0, 0.0
    while pos < len(body) and (m := _PART.match(body, pos)):
        unit = _UNITS.get(m[2].lower())
        if unit is None:
            return None
        total, pos = total + float(m[1]) * unit, m.end()
    return round(total, 3) if pos and body[pos:].strip() == "" else None


def _offset_text(offset_s: float) -> str:
    """An offset as it is written back: whole hours, whole minutes, or seconds (to the millisecond)."""
    if offset_s % 3600 == 0 and offset_s:
        return f"+{int(offset_s // 3600)} h"
    if offset_s % 60 == 0:
        return f"+{int(offset_s // 60)} min"
    return f"+{offset_s:.3f}".rstrip("0").rstrip(".") + " s"


def _beijing(t: datetime) -> datetime:
    return t if t.tzinfo is None else t.astimezone(BEIJING).replace(tzinfo=None)


def _fmt(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}"


def _shown(n: _Node) -> str:
    """A node as the user wrote it, for a message."""
    if n.kind == "scalar":
        return n.text
    if n.kind == "seq":
        return "[" + ", ".join(_shown(v) for v in n.value) + "]"
    return "{…}"


def _blank(n: _Node | None) -> bool:
    """Whether a field is absent, null or an empty text."""
    return n is None or (n.kind == "scalar" and (n.value is None or not n.text.strip()))


def _float(n: _Node) -> float:
    """A scalar's number (NaN if it is none)."""
    if isinstance(n.value, (int, float)) and not isinstance(n.value, bool):
        return float(n.value)
    try:
        return float(n.text.strip())
    except ValueError:
        return math.nan


class _Reader:
    """Reads the tree into a `Scenario`, adding every problem met to ``problems``.

    Each reader returns the value, or a default when the field is absent or bad; a bad one
    adds a problem, and any problem refuses the whole scenario, so the defaults are never used.
    """

    def __init__(self, counties: _Counties, now: datetime):
        self.counties, self.now = counties, _beijing(now)
        self.problems: list[ScenarioProblem] = []

    def problem(self, line: int, code: str, **params: object) -> None:
        self.problems.append(ScenarioProblem(line, code, params))

    def fields(self, n: _Node, name: str, where: str, allowed: tuple[str, ...] | None) -> dict[str, _Node] | None:
        """The mapping `n` as key -> node; duplicates and keys not in `allowed` are problems."""
        if n.kind != "map":
            self.problem(n.line, "not_mapping", field=name)
            return None
        out: dict[str, _Node] = {}
        first: dict[str, int] = {}
        for key, key_line, value in n.value:
            if key in first:
                self.problem(key_line, "duplicate", field=key, first=first[key])
                continue
            first[key] = key_line
            if allowed is not None and key not in allowed:
                self.problem(key_line, "unknown_field", field=key, where=where, allowed=", ".join(allowed))
            else:
                out[key] = value
        return out

    def scalar(self, f: dict, name: str, line: int, *, required: bool) -> _Node | None:
        """Field `name` of `f` if it is a single value; None if absent or empty (a problem when `required`) or not a single value."""
        n = f.get(name)
        if _blank(n):
            if required:
                self.problem(line if n is None else n.line, "required", field=name)
            return None
        if n.kind != "scalar":
            self.problem(n.line, "not_scalar", field=name)
            return None
        return n

    def text(self, f: dict, name: str, line: int, *, required: bool, limit: int = MAX_TEXT) -> str:
        n = self.scalar(f, name, line, required=required)
        value = "" if n is None else n.text.strip()
        if len(value) > limit:
            self.problem(n.line, "too_long", field=name, length=len(value), limit=limit)
        return value

    def choice(self, f: dict, name: str, line: int, allowed: tuple[str, ...]) -> str:
        n = self.scalar(f, name, line, required=True)
        value = "" if n is None else n.text.strip()
        if n is not None and value not in allowed:
            self.problem(n.line, "bad_choice", field=name, value=value, allowed=", ".join(allowed))
        return value

    def number(self, f: dict, name: str, line: int) -> float:
        n = self.scalar(f, name, line, required=True)
        if n is None:
            return math.nan
        value = _float(n)
        if not math.isfinite(value):
            self.problem(n.line, "bad_number", field=name, value=n.text)
        return value

    def county(self, n: _Node, name: str) -> County | None:
        found = self.counties.resolve(n.text)
        if isinstance(found, County):
            return found
        code, params = found
        self.problem(n.line, code, field=name, **params)
        return None

    def one_county(self, f: dict, name: str, line: int, *, required: bool) -> County | None:
        n = self.scalar(f, name, line, required=required)
        return None if n is None else self.county(n, name)

    def counties_of(self, f: dict, name: str, line: int, *, required: bool) -> tuple[County, ...]:
        """Field `name` as one county or a list of counties."""
        n = f.get(name)
        if not _blank(n) and n.kind == "seq":
            if not n.value and required:
                self.problem(n.line, "required", field=name)
            found = [self.county(item, name) if item.kind == "scalar" else self.problem(item.line, "not_scalar", field=name) for item in n.value]
            return tuple(dict.fromkeys(c for c in found if c is not None))
        one = self.one_county(f, name, line, required=required)
        return () if one is None else (one,)

    def start(self, f: dict) -> datetime | None:
        n = self.scalar(f, "start", 1, required=False)
        if n is None:
            return None
        raw = n.text.strip()
        try:
            if ":" not in raw:  # a date alone is not a start time
                raise ValueError(raw)
            start = _beijing(datetime.fromisoformat(raw)).replace(microsecond=0)
        except ValueError:
            self.problem(n.line, "bad_time", field="start", value=raw)
            return None
        if start < self.now - timedelta(seconds=START_TOLERANCE_S):
            self.problem(n.line, "past", field="start", value=_fmt(start), now=_fmt(self.now))
        return start

    def speed(self, f: dict) -> float:
        n = self.scalar(f, "speed", 1, required=False)
        if n is None:
            return 1.0
        value = _float(n)
        if not (math.isfinite(value) and 0 < value <= MAX_SPEED):
            self.problem(n.line, "bad_speed", value=n.text)
        return value

    def polygon(self, f: dict, line: int) -> tuple[tuple[tuple[float, float], ...], ...]:
        """Field ``polygon``: WKT or a list of [lon, lat] points (closed or not), checked; its rings as (lon, lat) tuples."""
        n, name = f.get("polygon"), "polygon"
        if not _blank(n) and n.kind == "seq":
            points = []
            for i, item in enumerate(n.value, start=1):
                xy = tuple(_float(v) for v in item.value if v.kind == "scalar") if item.kind == "seq" else ()
                if len(xy) != 2 or len(item.value) != 2 or not all(map(math.isfinite, xy)):
                    self.problem(item.line, "bad_point", field=name, index=i, value=_shown(item))
                    return ()
                points.append(xy)
            ring = points[:-1] if len(points) > 1 and points[0] == points[-1] else points
            if len(set(ring)) < 3:
                self.problem(n.line, "few_points", field=name, count=len(set(ring)))
                return ()
            geom = shapely.Polygon(ring)
        else:
            s = self.scalar(f, name, line, required=True)
            if s is None:
                return ()
            try:
                geom = shapely.from_wkt(s.text.strip())
            except GEOSException as exc:
                self.problem(s.line, "bad_wkt", field=name, reason=str(exc).split(": ", 1)[-1])
                return ()
            if geom.geom_type != "Polygon":
                self.problem(s.line, "not_polygon", field=name, value=geom.geom_type)
                return ()
            distinct = 0 if geom.is_empty else len(set(geom.exterior.coords[:-1]))
            if distinct < 3:
                self.problem(s.line, "few_points", field=name, count=distinct)
                return ()
        coords = shapely.get_coordinates(geom)
        bad = ~((coords[:, 0] >= -180) & (coords[:, 0] <= 180) & (coords[:, 1] >= -90) & (coords[:, 1] <= 90))
        if bad.any():
            lon, lat = coords[bad.argmax()]
            self.problem(n.line, "bad_position", lon=float(lon), lat=float(lat))
            return ()
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            self.problem(n.line, "self_intersecting" if "Self-intersection" in reason else "invalid_polygon", field=name, reason=reason)
            return ()
        return tuple(tuple((float(x), float(y)) for x, y in ring.coords) for ring in (geom.exterior, *geom.interiors))

    def incident(self, root: dict, title: str) -> dict | None:
        n = root.get("incident")
        if _blank(n):
            self.problem(1, "required", field="incident")
            return None
        f = self.fields(n, "incident", "incident", INCIDENT_FIELDS)
        if f is None:
            return None
        before = len(self.problems)
        partners = None if _blank(f.get("jurisdictions")) else f["jurisdictions"]
        if partners is not None and partners.kind != "seq":
            self.problem(partners.line, "not_list", field="jurisdictions")
        out = {
            "title": self.text(f, "title", n.line, required=False, limit=MAX_NAME) or title,
            "kind": self.choice(f, "kind", n.line, INCIDENT_KINDS),
            "level": self.choice(f, "level", n.line, LEVELS),
            "county": self.one_county(f, "county", n.line, required=True),
            "lon": self.number(f, "lon", n.line),
            "lat": self.number(f, "lat", n.line),
            "place": self.text(f, "place", n.line, required=False, limit=MAX_NAME),
            "description": self.text(f, "description", n.line, required=False),
            "jurisdictions": self.counties_of(f, "jurisdictions", n.line, required=False) if partners is not None and partners.kind == "seq" else (),
        }
        lon, lat = out["lon"], out["lat"]
        if math.isfinite(lon) and math.isfinite(lat) and not (-180 <= lon <= 180 and -90 <= lat <= 90):
            self.problem(f["lon"].line, "bad_position", lon=lon, lat=lat)
        return out if len(self.problems) == before else None

    def inject(self, n: _Node) -> tuple[Inject | None, _Node | None, float | None]:
        """The inject (None if it has a problem), its ``at`` node and its offset (None if unreadable)."""
        before = len(self.problems)
        f = self.fields(n, "injects", "an inject", None)
        if f is None:
            return None, None, None
        kind = self.choice(f, "kind", n.line, INJECT_KINDS)
        if kind in KIND_FIELDS:
            required, optional = KIND_FIELDS[kind]
            allowed, first_line = ("at", "kind", *required, *optional), {}
            for key, key_line, _ in n.value:
                if key not in allowed and key_line == first_line.setdefault(key, key_line):  # once, where it is first given
                    self.problem(key_line, "unknown_field", field=key, where=f"a {kind} inject", allowed=", ".join(allowed))
        at = self.scalar(f, "at", n.line, required=True)
        offset = None if at is None else _offset_s(at.text)
        if at is not None and offset is None:
            self.problem(at.line, "bad_offset", field="at", value=at.text.strip())
        values: dict = {}
        if kind == "warning":
            values["colour"] = self.choice(f, "colour", n.line, WARNING_COLOURS)
            values["counties"] = self.counties_of(f, "county", n.line, required=True)
            values["text"] = self.text(f, "text", n.line, required=True)
        elif kind == "closure":
            values["polygon"] = self.polygon(f, n.line)
            values["counties"] = self.counties_of(f, "county", n.line, required=False)
            values["text"] = self.text(f, "text", n.line, required=False)
        elif kind == "request":
            values["from_county"] = self.one_county(f, "from", n.line, required=True)
            values["to_county"] = self.one_county(f, "to", n.line, required=True)
            values["resource"] = self.text(f, "resource", n.line, required=True, limit=MAX_NAME)
            values["quantity"] = self.quantity(f)
            values["text"] = self.text(f, "text", n.line, required=False)
        elif kind == "message":
            values["text"] = self.text(f, "text", n.line, required=True)
            values["from_county"] = self.one_county(f, "from", n.line, required=False)
        if len(self.problems) > before:
            return None, at, offset
        return Inject(offset, kind, line=n.line, **values), at, offset

    def quantity(self, f: dict) -> int:
        n = self.scalar(f, "quantity", 1, required=False)
        if n is None:
            return 1
        if not re.fullmatch(r"\d+", n.text.strip()) or int(n.text) < 1:
            self.problem(n.line, "bad_count", field="quantity", value=n.text)
            return 1
        return int(n.text)

    def scenario(self, root: _Node) -> Scenario | None:
        f = self.fields(root, "the scenario", "the scenario", TOP_FIELDS)
        if f is None:
            return None
        title = self.text(f, "title", 1, required=True, limit=MAX_NAME)
        start, speed = self.start(f), self.speed(f)
        incident = self.incident(f, title)
        injects: list[Inject] = []
        node = f.get("injects")
        if _blank(node) or (node.kind == "seq" and not node.value):
            self.problem(node.line if node else 1, "required", field="injects")
        elif node.kind != "seq":
            self.problem(node.line, "not_list", field="injects")
        else:
            if len(node.value) > MAX_INJECTS:
                self.problem(node.line, "too_many", count=len(node.value), limit=MAX_INJECTS)
            previous: tuple[float, int] | None = None  # the offset and line of the last inject whose `at` was read
            for item in node.value:
                inject, at, offset = self.inject(item)
                if inject is not None:
                    injects.append(inject)
                if offset is None:
                    continue
                if previous is not None and offset < previous[0]:
                    self.problem(at.line, "out_of_order", value=_offset_text(offset), previous=_offset_text(previous[0]), previous_line=previous[1])
                previous = (offset, item.line)
        if self.problems:
            return None
        return Scenario(title=title, start=start, speed=speed, incident=incident, injects=tuple(injects))


def parse_scenario(text: str, *, jurisdictions: pd.DataFrame, now: datetime, filename: str | None = None) -> Scenario:
    """Read and check a drill scenario (YAML or JSON, see the module docstring).

    Parameters
    ----------
    text : str
        The scenario file's content.
    jurisdictions : pandas.DataFrame
        The dataset's jurisdictions with ``code``, ``name`` and, for city + name look-ups and
        the ``level`` filter, ``level`` and ``parent_code`` (e.g. ``Store.jurisdictions()``;
        the geometry is not used).  Only ``level == 'county'`` rows are counties.
    now : datetime
        The current Beijing time (naive; an aware time is converted): a ``start`` before it
        (less `START_TOLERANCE_S`) is refused.
    filename : str, optional
        The file's name: its extension (.json, .yaml, .yml) decides the format; otherwise
        the content does (`scenario_format`).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        With every problem found (line, code, params); nothing of the scenario may be used then.
    """
    if not text.strip("\ufeff \t\r\n"):
        raise ScenarioError([ScenarioProblem(1, "empty", {})])
    fmt = scenario_format(text, filename=filename)
    try:
        root = _json_tree(text) if fmt == "json" else _yaml_tree(text)
    except _SyntaxProblem as exc:
        raise ScenarioError([exc.problem]) from None
    if root is None or (root.kind == "scalar" and root.value is None):
        raise ScenarioError([ScenarioProblem(1, "empty", {})])
    reader = _Reader(_Counties(jurisdictions), now)
    scenario = reader.scenario(root)
    if reader.problems or scenario is None:
        log.info("scenario refused with %d problem(s)", len(reader.problems))
        raise ScenarioError(reader.problems)
    log.info("scenario %r: %d injects over %.0f s at speed %g", scenario.title, len(scenario.injects), scenario.duration_s, scenario.speed)
    return scenario


# ---- writing a scenario back ----------------------------------------------------------------------------


def _wkt(rings: tuple[tuple[tuple[float, float], ...], ...]) -> str:
    return "POLYGON (" + ", ".join("(" + ", ".join(f"{x!r} {y!r}" for x, y in ring) + ")" for ring in rings) + ")"


def _as_dict(scenario: Scenario) -> dict:
    inc = scenario.incident
    out: dict = {"title": scenario.title}
    if scenario.start is not None:
        out["start"] = _fmt(scenario.start)
    out["speed"] = int(scenario.speed) if float(scenario.speed).is_integer() else scenario.speed
    incident = {"title": inc["title"], "kind": inc["kind"], "level": inc["level"], "county": inc["county"].label, "lon": inc["lon"], "lat": inc["lat"]}
    incident |= {k: inc[k] for k in ("place", "description") if inc[k]}
    if inc["jurisdictions"]:
        incident["jurisdictions"] = [c.label for c in inc["jurisdictions"]]
    out["incident"] = incident
    injects = []
    for i in scenario.injects:
        row: dict = {"at": _offset_text(i.offset_s), "kind": i.kind}
        if i.kind == "warning":
            row["colour"] = i.colour
        if i.counties:
            row["county"] = i.counties[0].label if len(i.counties) == 1 else [c.label for c in i.counties]
        if i.polygon:
            row["polygon"] = _wkt(i.polygon)
        if i.from_county is not None:
            row["from"] = i.from_county.label
        if i.to_county is not None:
            row["to"] = i.to_county.label
        if i.resource:
            row["resource"] = i.resource
        if i.kind == "request" and i.quantity != 1:
            row["quantity"] = i.quantity
        if i.text:
            row["text"] = i.text
        injects.append(row)
    out["injects"] = injects
    return out


def _yaml_scalar(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON scalars and flow lists are valid YAML


def scenario_to_text(scenario: Scenario, *, fmt: str | None = None) -> str:
    """The scenario as a file that `parse_scenario` reads back to an equal `Scenario` (for the page's editor).

    `fmt` is 'yaml' or 'json'; by default YAML when PyYAML is installed (it is needed to read it back), else JSON.
    Counties are written by their `County.label`, polygons as WKT, offsets as ``+N min`` / ``+N s`` / ``+N h``.
    """
    fmt = fmt or ("yaml" if HAVE_YAML else "json")
    if fmt not in ("yaml", "json"):
        msg = f"`fmt` was {fmt!r} but is expected to be in ('yaml', 'json')."
        raise ValueError(msg)
    data = _as_dict(scenario)
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    lines = []
    for key, value in data.items():
        if key == "incident":
            lines.append("incident:")
            lines += [f"  {k}: {_yaml_scalar(v)}" for k, v in value.items()]
        elif key == "injects":
            lines.append("injects:")
            for row in value:
                lines += [f"  {'-' if j == 0 else ' '} {k}: {_yaml_scalar(v)}" for j, (k, v) in enumerate(row.items())]
        else:
            lines.append(f"{key}: {_yaml_scalar(value)}")
    return "\n".join(lines) + "\n"


# ---- the schedule ---------------------------------------------------------------------------------------


def fire_times(scenario: Scenario, started_at: datetime | None = None) -> list[datetime]:
    """The wall time (Beijing) each inject falls due: ``started_at + offset_s / speed``.

    `started_at` is when the drill started (the controller's button, or ``scenario.start``, the default).
    """
    started_at = scenario.start if started_at is None else started_at
    if started_at is None:
        msg = "`started_at` is required: the scenario has no `start`; pass when the controller started the drill."
        raise ValueError(msg)
    started_at = _beijing(started_at)
    return [started_at + timedelta(seconds=i.offset_s / scenario.speed) for i in scenario.injects]


def due(scenario: Scenario, *, started_at: datetime, now: datetime, fired: set[int]) -> list[tuple[int, Inject]]:
    """The injects due by `now` that have not fired, in order, as (index in ``scenario.injects``, inject).

    An inject is due from its fire time (`fire_times`) on, so a controller that looks late
    still gets every inject once; `fired` (indexes already fired) is read, never changed:
    the caller adds the indexes it fired.
    """
    now = _beijing(now)
    return [(k, scenario.injects[k]) for k, t in enumerate(fire_times(scenario, started_at)) if t <= now and k not in fired]


# ---- the template for the page's editor -----------------------------------------------------------------

TEMPLATE_YAML = """\
# 演练脚本：嘉善县暴雨内涝联合演练（长三角生态绿色一体化发展示范区）
title: 嘉善县暴雨内涝联合演练
# start: 2026-12-02 09:00   # 计划开始时间（北京时间）；不填则由导演在页面上开始
speed: 1                    # 1 = 实时；10 = 十倍速（最大 60）
incident:
  title: 嘉善县城区暴雨内涝
  kind: rainstorm           # flood | typhoon | rainstorm | fire | hazchem | traffic | geological | other
  level: III                # I | II | III | IV
  county: 嘉善县             # 县区名称或 6 位代码
  lon: 120.92
  lat: 30.84
  place: 嘉善县魏塘街道
  jurisdictions: [吴江区, 青浦区]
injects:                    # 按时间先后排列；at：+5 min、+90 s、+1 h、00:12:00 或分钟数
  - at: +5 min
    kind: warning           # warning | closure | request | message
    colour: red             # red | orange | yellow | blue
    county: 嘉善县
    text: 嘉善县气象台发布暴雨红色预警，未来 3 小时降雨量将达 100 毫米以上
  - at: +12 min
    kind: closure
    county: 嘉善县
    polygon: POLYGON ((120.90 30.83, 120.94 30.83, 120.94 30.85, 120.90 30.85, 120.90 30.83))
    text: 魏塘街道低洼路段积水，道路临时封闭
  - at: +20 min
    kind: request
    from: 吴江区             # 提供资源的一方
    to: 嘉善县               # 接收资源的一方
    resource: 排涝泵车
    quantity: 2
    text: 请求吴江区支援排涝泵车 2 台
  - at: +30 min
    kind: message
    from: 青浦区
    text: 青浦区报告：太浦河水位上涨，请嘉善县关注下游
"""

TEMPLATE_JSON = """\
{
  "title": "嘉善县暴雨内涝联合演练",
  "speed": 1,
  "incident": {
    "title": "嘉善县城区暴雨内涝",
    "kind": "rainstorm",
    "level": "III",
    "county": "嘉善县",
    "lon": 120.92,
    "lat": 30.84,
    "place": "嘉善县魏塘街道",
    "jurisdictions": ["吴江区", "青浦区"]
  },
  "injects": [
    {"at": "+5 min", "kind": "warning", "colour": "red", "county": "嘉善县",
     "text": "嘉善县气象台发布暴雨红色预警，未来 3 小时降雨量将达 100 毫米以上"},
    {"at": "+12 min", "kind": "closure", "county": "嘉善县",
     "polygon": [[120.90, 30.83], [120.94, 30.83], [120.94, 30.85], [120.90, 30.85]],
     "text": "魏塘街道低洼路段积水，道路临时封闭"},
    {"at": "+20 min", "kind": "request", "from": "吴江区", "to": "嘉善县", "resource": "排涝泵车", "quantity": 2,
     "text": "请求吴江区支援排涝泵车 2 台"},
    {"at": "+30 min", "kind": "message", "from": "青浦区", "text": "青浦区报告：太浦河水位上涨，请嘉善县关注下游"}
  ]
}
"""

#: The editor's starting scenario: YAML when PyYAML is installed, else the same scenario in JSON.
TEMPLATE = TEMPLATE_YAML if HAVE_YAML else TEMPLATE_JSON
