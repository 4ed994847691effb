"""The hazard-scenario page (AppTest through the app's router) on the embedded dataset's default network and a real workspace file.

Expected values are recomputed in the test: the closed roads with `geo.hazard.consequences`
on the network loaded from disk and, independently, with a shapely STRtree over the edge
geometries; the log rows with the incident log read back after the app let go of the workspace.
"""

from __future__ import annotations

import ast
import json
import numpy as np
import pytest
import shapely

from data.incidents.log import IncidentLog
from data.storage.workspace import Workspace
from geo import hazard as hz
from geo.network import list_networks, load, networks_dir
from layers.consultation import plain
from layers.hazard import error_text
from layers.labels import LABELS
from pages._shared import widget_key
from tests.conftest import ROOT, frame_with
from tests.people import cheap_accounts, signed_in_cast
from tests.test_pages_consultation import _as

SHOWN = {"commander": "王指挥", "duty": "李值班", "viewer": "孙查看"}
#: A plume west of People's Square over the backbone's roads into 青浦 (east wind, 30 km).
PLUME = {"source": "121.4737,31.2304", "wind": 90.0, "distance": 30.0, "spread": 40.0}


def _w(key: str) -> str:
    return widget_key(key, "zh")


@pytest.fixture
def cast(workspace_path) -> dict:
    """Signed-in sessions of this test's workspace (tests/people.py `CAST`), made before the app opens it."""
    return signed_in_cast(workspace_path, SHOWN)


@pytest.fixture(scope="module")
def net(dataset):
    """The network the page picks first: the default of the dataset's saved networks."""
    return load(list_networks(networks_dir(dataset))[0]["path"])


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _plume(at, **kw) -> hz.Hazard:
    """Type the plume's inputs on the page; the same hazard made directly."""
    p = PLUME | kw
    at.radio(key=_w("haz_source")).set_value("plume")
    at.text_input(key="haz_plume_src").input(p["source"])
    at.number_input(key="haz_wind").set_value(p["wind"])
    at.number_input(key="haz_distance").set_value(p["distance"])
    at.number_input(key="haz_spread").set_value(p["spread"]).run()
    assert not at.exception, at.exception
    lon, lat = (float(v) for v in p["source"].split(","))
    return hz.gas_plume(lon, lat, wind_from_deg=p["wind"], distance_km=p["distance"], spread_deg=p["spread"], name="危化品气体扩散")


def _release(at) -> None:
    """Let the app's cached workspace go (as the `open_app` fixture does at the end) so the test can open the file."""
    from pages import _shared

    _shared._incident_feed.clear()
    _shared._workspace.clear()


def test_a_plume_closes_the_roads_it_intersects(open_app, cast, net, store):
    at = _as(open_app("pages/scenarios.py"), cast["duty"])
    lines = shapely.linestrings(net.geom_lon, net.geom_lat, indices=np.repeat(np.arange(net.n_edges), np.diff(net.geom_offsets)))
    tree = shapely.STRtree(lines)
    full = store.jurisdictions(detail="full")
    counties = full[full["level"] == "county"]
    for distance_km in (15.0, 30.0):  # all closed roads drawn; too many for the map's budget: the longest drawn
        h = _plume(at, distance=distance_km)
        c = hz.consequences(h, net=net)
        want = np.zeros(net.n_edges, dtype=bool)
        want[tree.query(h.area, predicate="intersects")] = True
        assert 500 < want.sum() and np.array_equal(np.asarray(c.closed), want)
        assert _metric(at, "封闭路段（有向）") == f"{int(want.sum()):,}"
        assert _metric(at, "封闭道路里程") == f"{c.closed_road_km:,.1f} 公里"
        hit = set(counties.loc[shapely.intersects(counties.geometry.to_numpy(), h.area), "code"])
        assert _metric(at, "受影响区县") == str(len(hit)) and set(_counties(at)) == hit

        deck = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
        layers = {layer["id"]: layer for layer in deck["layers"]}
        assert {"hazard-area", "hazard-closed-roads", "hazard-shelters"} <= set(layers)
        roads = layers["hazard-closed-roads"]
        assert len(json.dumps(roads, separators=(",", ":"))) < 25_000  # a few KB, whatever the closure
        feature = roads["data"]["features"][0]
        paths = feature["geometry"]["coordinates"]
        drawn = shapely.multilinestrings([shapely.linestrings(p) for p in paths])
        closed_lines = shapely.union_all(lines[want])
        vertices = shapely.points(shapely.get_coordinates(drawn))
        assert shapely.distance(vertices, closed_lines).max() < 1e-4  # every vertex drawn is one of a closed road (rounded to 4 decimals)
        tip = feature["properties"]["tooltip"]
        assert tip.startswith(f"封闭道路 {int(want.sum()):,} 段，{c.closed_road_km:,.1f} 公里")
        if distance_km == 15.0:  # all of them drawn: no closed road is missing from the map
            assert "仅画出" not in tip and shapely.hausdorff_distance(drawn, closed_lines) < 0.005
        else:
            assert f"仅画出最长的 {len(paths)} 条" in tip


def _counties(at) -> dict[str, str]:
    """The counties the page's table lists (code -> name)."""
    juris = frame_with(at, "受影响面积（平方公里）")
    return dict(zip(juris["代码"], juris["名称"], strict=True))


#: (source, widget, bad value, the Chinese message, a good value to put back).
BAD_INPUT = [
    ("typhoon", "haz_radius", 0.0, "风圈半径 0.0 无效：须为大于 0、不超过 1000 公里的数字。", 50.0),
    ("typhoon", "haz_radius", -20.0, "风圈半径 -20.0 无效：须为大于 0、不超过 1000 公里的数字。", 50.0),
    ("typhoon", "haz_track", "122.3,30.2\nabc\n121.2,31.5", "台风路径的坐标无效（第 2 行：abc）：须为 WGS84 经纬度（经度 -180～180，纬度 -90～90），如 121.4737,31.2304。",
     "122.3,30.2\n121.2,31.5"),
    ("typhoon", "haz_track", "122.3,30.2", "台风路径只有 1 个点：至少需要 2 行“经度,纬度”。", "122.3,30.2\n121.2,31.5"),
    ("plume", "haz_wind", 400.0, "风向 400.0 无效：须为 0～360 度（风的来向，0 = 北风，顺时针）。", 45.0),
    ("plume", "haz_plume_src", "31.23,121.47", "泄漏源位置的坐标无效（31.23,121.47）：须为 WGS84 经纬度（经度 -180～180，纬度 -90～90），如 121.4737,31.2304。",
     "120.9070,30.8410"),
    ("flood", "haz_stage", 0.0, "洪水水位 0.0 无效：须为大于 0、不超过 100 米的数字。", 1.0),
]


def _type(at, widget: str, value) -> None:
    if widget == "haz_track":
        at.text_area(key=widget).input(value)
    elif widget == "haz_plume_src":
        at.text_input(key=widget).input(value)
    else:
        at.number_input(key=widget).set_value(value)
    at.run()
    assert not at.exception, at.exception


def test_bad_input_is_explained_in_chinese(open_app, cast):
    at = _as(open_app("pages/scenarios.py"), cast["duty"])
    for source, widget, bad, expected, good in BAD_INPUT:
        at.radio(key=_w("haz_source")).set_value(source).run()
        _type(at, widget, bad)
        assert [e.value for e in at.error] == [plain(expected)], (source, widget, bad)
        assert len(at.get("deck_gl_json_chart")) == 0 and not any(m.label == "封闭路段（有向）" for m in at.metric)  # nothing computed from bad input
        _type(at, widget, good)
        assert not at.error and len(at.get("deck_gl_json_chart")) == 1, (source, widget, good)


def test_save_compare_and_attach(open_app, cast, net, workspace_path):
    with Workspace(workspace_path) as ws:  # an incident and a drill of 嘉善县, opened before the app holds the file
        log = IncidentLog(ws, accounts=cheap_accounts(ws))
        args = {"title": "嘉善化工园区泄漏", "kind": "hazchem", "level": "II", "lon": 120.907, "lat": 30.841, "lead_code": "330421", "lead_name": "嘉善县",
                "jurisdictions": ["310118"], "departments": ["emergency"], "by": cast["commander"]}  # fmt: skip
        real = log.open_incident(**args)
        drill = log.open_incident(**args | {"title": "危化品泄漏桌面推演"}, drill=True)

    at = _as(open_app("pages/scenarios.py"), cast["viewer"])
    _plume(at)
    at.button(key="haz_save").click().run()
    assert [e.value for e in at.error] == [plain("无权保存情景模拟：需要以下角色之一：值班员、联络员、指挥长。")]  # a viewer saves nothing
    assert any(i.value == "还没有保存的情景。" for i in at.info)

    _as(at, cast["duty"])
    small = _plume(at, distance=10.0)
    at.button(key="haz_save").click().run()
    assert at.success[0].value == plain("已保存情景 #1。")
    big = _plume(at, distance=30.0)
    at.button(key="haz_save").click().run()
    assert at.success[0].value == plain("已保存情景 #2。")
    saved = frame_with(at, "保存人")
    assert saved["编号"].tolist() == [2, 1] and set(saved["保存人"]) == {"李值班（嘉善县）"}

    at.multiselect(key=_w("haz_compare")).set_value([1, 2]).run()
    assert not at.exception, at.exception
    table = frame_with(at, "指标").set_index("指标")
    assert list(table.columns) == ["#1 危化品气体扩散", "#2 危化品气体扩散"]
    for column, h in zip(table.columns, (small, big), strict=True):
        c = hz.consequences(h, net=net)
        assert table.at["封闭路段（有向）", column] == f"{c.n_closed:,}"
        assert table.at["面积（平方公里）", column] == f"{h.area_km2:,.2f}"
    assert table.at["封闭路段（有向）", "#1 危化品气体扩散"] != table.at["封闭路段（有向）", "#2 危化品气体扩散"]

    options = at.selectbox(key=_w("haz_attach_incident")).options
    assert options == [f"【演练】{drill} 危化品泄漏桌面推演", f"{real} 嘉善化工园区泄漏"]  # newest first, the drill marked
    for iid in (real, drill):
        at.selectbox(key=_w("haz_attach_scenario")).set_value(2)
        at.selectbox(key=_w("haz_attach_incident")).set_value(iid)
        at.button(key="haz_attach").click().run()
        assert not at.exception, at.exception
        assert at.success[0].value.startswith(plain("已将情景 #2 关联到")), at.success[0].value
    saved = frame_with(at, "保存人").set_index("编号")
    assert saved.at[3, "关联事件"] == f"{real} 嘉善化工园区泄漏" and saved.at[4, "关联事件"] == f"【演练】{drill} 危化品泄漏桌面推演"
    assert saved.at[3, "复制自"] == "#2" == saved.at[4, "复制自"]

    _release(at)
    with Workspace(workspace_path) as ws:
        log = IncidentLog(ws, accounts=cheap_accounts(ws))
        for iid, copy in ((real, 3), (drill, 4)):
            rows = log.rows(iid)
            assert len(rows) == 2  # the opening and the attachment
            row = rows.iloc[-1]
            assert (row["kind"], row["who"]) == ("event", "duty")
            assert f"关联情景模拟 #{copy}「危化品气体扩散」" in row["text"] and "复制自情景 #2" in row["text"]
        assert log.verify() == []


def _hazard_error_codes() -> set[str]:
    """Every code `geo.hazard` and `data.scenarios` raise a `HazardError` with (read from their source)."""
    codes = set()
    for path in ("geo/hazard.py", "data/scenarios/assess.py"):
        for node in ast.walk(ast.parse((ROOT / path).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("HazardError", "_number", "_in_range"):
                args = node.args
                pos = {"HazardError": 0, "_number": 2, "_in_range": 2}[getattr(node.func, "id", getattr(node.func, "attr", ""))]
                if len(args) > pos and isinstance(args[pos], ast.Constant):
                    codes.add(args[pos].value)
    return codes


def test_every_hazard_error_has_a_label_in_both_languages():
    codes = _hazard_error_codes()
    assert {"unreadable", "bad_radius", "bad_wind", "invalid_polygon", "bad_coordinates"} <= codes
    assert {f"haz.err.{c}" for c in codes} <= set(LABELS)
    # a message for each way the code is raised formats in both languages, naming the value
    cases = [
        lambda: hz.hazard_from_geojson(b"{not json"),
        lambda: hz.hazard_from_geojson({"type": "Point", "coordinates": [121, 31]}),
        lambda: hz.hazard_from_geojson({"type": "Polygon", "coordinates": [[[121, 31], [122, 31], [121, 31], [121, 31]]]}),
        lambda: hz.hazard_from_geojson({"type": "Polygon", "coordinates": [[[500, 31], [122, 31], [122, 32], [500, 31]]]}),
        lambda: hz.hazard_from_geojson({"type": "GeometryCollection", "geometries": []}),
        lambda: hz.flood_area(shapely.box(121, 31, 121.1, 31.1), stage_m=-1),
        lambda: hz.typhoon_track([(121, 31), (122, 32)], radius_km=[10]),
        lambda: hz.typhoon_track([(121, 31), (122, 32)], radius_km=10, steps=0),
        lambda: hz.typhoon_track([(121, 31), (122, 95)], radius_km=10),
        lambda: hz.gas_plume(121, 31, wind_from_deg=10, distance_km=0),
        lambda: hz.gas_plume(121, 31, wind_from_deg=10, distance_km=5, spread_deg=200),
        lambda: hz.gas_plume(121, 31, wind_from_deg=10, distance_km=5, isolation_km=9),
        lambda: hz.coverage_change(None, [], [], [], [], closed=None, threshold_s=0),
    ]
    for make in cases:
        with pytest.raises(hz.HazardError) as exc:
            make()
        for lang in ("zh", "en"):
            text = error_text(exc.value, lang)
            assert "{" not in text and text != f"haz.err.{exc.value.code}", (exc.value.code, text)
        if "value" in exc.value.params and exc.value.code not in ("unreadable", "bad_coordinates"):
            assert str(exc.value.params["value"]) in error_text(exc.value, "zh"), exc.value.code


def test_the_dispatch_answer_before_and_after_the_closure(open_app, cast, net, store):
    """From the plume's source, the nearest teams without and with the plume's roads closed, as `dispatch` answers them on the same network
    (its times are checked against networkx with the closed edges removed in tests/test_hazard.py)."""
    from data.incidents.board import minutes_text
    from data.scenarios.assess import dispatch_change
    from geo.dispatch import dispatch

    at = _as(open_app("pages/scenarios.py"), cast["duty"])
    h = _plume(at, distance=15.0)
    teams = store.layer("teams")
    counties = store.jurisdictions("county", detail="full")
    from data.scenarios.assess import reference_point

    source = tuple(round(v, 4) for v in reference_point(h, net=net))  # the page's default, as typed in its field (4 decimals)
    assert not h.area.contains(shapely.Point(source))
    shown = next(d.value for d in at.dataframe if "封闭后用时（分钟）" in d.value.columns)  # the default point has an answer
    assert len(shown) >= 5
    before = dispatch(net, source, teams, counties=counties, contacts=store.table("contacts"), k=5).ranked
    after = dispatch(net, source, teams, counties=counties, contacts=store.table("contacts"), k=5, closures=[h.area]).ranked
    assert shown["封闭前名次"].tolist()[: len(before)] == [str(r) for r in before["rank"]]
    assert shown["封闭前用时（分钟）"].tolist()[: len(before)] == [minutes_text(s) for s in before["eta_s"]]
    after_by_name = dict(zip(after["name"], after["eta_s"], strict=True))
    for name, eta in zip(shown["名称"], shown["封闭后用时（分钟）"], strict=True):
        assert eta == (minutes_text(after_by_name[name]) if name in after_by_name else "—")
    direct = dispatch_change(h, net=net, resources=teams, counties=counties, contacts=store.table("contacts"), at=source)
    assert shown["变化"].tolist() == [{"same": "不变", "slower": "变慢", "faster": "变快", "dropped": "退出前 5", "new": "新进前 5"}[c] for c in direct["change"]]
    # a point that is no position is refused in Chinese
    key = next(ti.key for ti in at.text_input if ti.key and ti.key.startswith("haz_dispatch_at_"))
    at.text_input(key=key).input("东经121度").run()
    assert not at.exception and any("无法识别" in e.value for e in at.error)
