"""Dispatch orchestration on real data, and the dispatch page (AppTest)."""

from __future__ import annotations

import pytest
import shapely

from geo import network as gn
from geo.dispatch import ON_SCENE_TARGET_S, circle, dispatch, hex_grid, read_closures
from geo.routing import OffNetwork
from layers.dispatch import MISSING, notify_table, pick_layer, rank_css, ranked_table, style_ranks
from pages._shared import widget_key
from tests.conftest import shared_file

QINGPU = (121.0540, 31.1530)  # 青浦区, next to 吴江区 and 嘉善县 (the demonstration zone)


@pytest.fixture(scope="module")
def approx(dataset):
    return gn.load(gn.networks_dir(dataset) / "approx")


@pytest.fixture(scope="module")
def counties(store):
    return store.jurisdictions("county", detail="full")


def test_dataset_build_saves_the_approximate_network(dataset, approx):
    assert approx.estimate and approx.name == "approx"
    assert [m["name"] for m in gn.list_networks(gn.networks_dir(dataset))] == ["backbone", "approx"]  # the backbone is the default, the approximation last


def test_dispatch_ranks_marks_estimate_and_lists_contacts(approx, store, counties):
    teams = store.layer("teams")
    d = dispatch(approx, QINGPU, teams, counties=counties, contacts=store.table("contacts"), k=5)
    assert d.incident_county == "310118" and d.estimate
    assert list(d.ranked["rank"]) == [1, 2, 3, 4, 5]
    assert d.ranked["eta_s"].is_monotonic_increasing
    assert d.ranked["estimate"].all()
    assert (d.ranked["within_target"] == (d.ranked["eta_s"] <= ON_SCENE_TARGET_S)).all()
    for crosses, row in zip(d.ranked["crosses"], d.ranked.itertuples(), strict=True):
        assert crosses[-1] == "青浦区"  # every route ends in the incident's county
        assert crosses[0] == store.jurisdictions("county").set_index("code").at[row.county_code, "name"]
    crossed_codes = {c.code for cs in d.crossed for c in cs}
    assert set(d.notify["jurisdiction_code"]) <= crossed_codes | {c[:2] + "0000" for c in crossed_codes}
    assert set(d.notify["department"]) <= {"emergency", "police", "transport"}
    assert "310118" in set(d.notify["jurisdiction_code"])


def test_cross_border_team_is_flagged(approx, store, counties):
    teams = store.layer("teams")
    wujiang = teams[teams["county_code"] == "320509"]
    d = dispatch(approx, QINGPU, wujiang, counties=counties, contacts=store.table("contacts"), k=1)
    assert bool(d.ranked["cross_border"].iloc[0])
    assert "吴江区" in d.ranked["crosses"].iloc[0]
    assert d.ranked["provinces"].iloc[0] == ["320000", "310000"]  # Jiangsu, then Shanghai
    flagged = d.notify[d.notify["cross_border"]]
    assert {"320509", "320000"} <= set(flagged["jurisdiction_code"])


def test_closures_in_force_are_named(approx, store, counties):
    teams = store.layer("teams")
    base = dispatch(approx, QINGPU, teams, counties=counties, contacts=store.table("contacts"), k=3)
    first = shapely.LineString(base.routes[0])
    disc = first.interpolate(0.5, normalized=True).buffer(0.01)
    far = circle(118.0, 30.0, 500)  # in Anhui, touches no road near the incident
    d = dispatch(approx, QINGPU, teams, counties=counties, contacts=store.table("contacts"), k=3, closures=[disc, far], closure_names=["积水", "远处"])
    assert "积水" in d.closures_in_force and "远处" not in d.closures_in_force
    assert d.closed_edges > 0


def test_off_network_incident(store, counties):
    road = gn.build_from_graph(gn.read_osm(shared_file("osm/shanghai_center.osm")), name="sh", source="osm")
    with pytest.raises(OffNetwork):
        dispatch(road, QINGPU, store.layer("teams"), counties=counties, contacts=store.table("contacts"))


def test_circle_and_hex_grid():
    c = circle(121.0, 31.0, 1000)
    assert c.contains(shapely.Point(121.0, 31.0))
    assert c.area == pytest.approx(3.1416 * (1000 / 111_195) ** 2 / 0.857, rel=0.02)
    with pytest.raises(ValueError, match="`radius_m` was 0"):
        circle(121.0, 31.0, 0)
    h = hex_grid((120.0, 30.0, 121.0, 31.0), cells_across=10)
    assert len(h) >= 100 and h["lon"].between(120.0, 121.1).all()


def test_read_closures(tmp_path):
    import geopandas as gpd

    p = tmp_path / "c.geojson"
    gpd.GeoDataFrame({"name": ["断桥"]}, geometry=[circle(121.0, 31.0, 200)], crs=4326).to_file(p)
    polys, names = read_closures(p.read_bytes())
    assert names == ["断桥"] and polys[0].is_valid
    pts = tmp_path / "p.geojson"
    gpd.GeoDataFrame(geometry=[shapely.Point(121, 31)], crs=4326).to_file(pts)
    with pytest.raises(ValueError, match="polygons only"):
        read_closures(pts.read_bytes())
    with pytest.raises(ValueError, match="not readable as GeoJSON"):
        read_closures(b"{not json")


@pytest.fixture
def page(open_app):
    return open_app("pages/dispatch.py", timeout_s=60)


def test_dispatch_page_default_answer(page):
    frames = [df.value for df in page.dataframe]
    ranked = frames[0]
    assert len(ranked) == 5 and (ranked["估算"] == "估算").all()
    assert page.selectbox(key=widget_key("dis_network", "zh")).value == "backbone"  # the default network
    assert page.warning[0].value.startswith("骨干路网（估算）：")  # what its answers rest on
    assert "其中接驳段（分钟）" in ranked.columns  # and how much of each ETA is access leg
    assert any("嘉善县" in c.value for c in page.caption)


@pytest.mark.parametrize(
    ("typed", "zh", "en"),
    [
        ("31.15,121.05", "看起来纬度写在了前面", "look like latitude,longitude"),
        ("abc", "无法识别", "Could not read"),
        ("200,100", "超出范围", "out of range"),
    ],
)
def test_dispatch_page_bad_coordinates_are_explained_in_each_language(page, typed, zh, en):
    """The message is the page's own, in the user's language: no English reason inside Chinese text."""
    page.radio(key=widget_key("dis_how", "zh")).set_value("coords").run()
    page.text_input(key="dis_coords").input(typed).run()
    assert not page.exception
    message = page.error[0].value
    assert zh in message and message.startswith("坐标“") and message.endswith("。")
    assert not any(w in message for w in ("LON", "LAT", "degrees", "longitude", "'"))
    page.sidebar.radio[0].set_value("en").run()
    message = page.error[0].value
    assert en in message and "坐标" not in message and "。" not in message


def test_dispatch_page_accepts_full_width_coordinates(page):
    page.radio(key=widget_key("dis_how", "zh")).set_value("coords").run()
    page.text_input(key="dis_coords").input("１２０．９０７０，３０．８４１０").run()
    assert not page.exception and not page.error
    assert page.session_state["dis_incident"] == pytest.approx((120.907, 30.841))
    assert len(page.dataframe[0].value) == 5


def test_dispatch_page_stockpile_with_material(page, store):
    inv = store.table("inventory")
    material = inv["material"].value_counts().index[0]
    page.selectbox(key=widget_key("dis_layer", "zh")).select("stockpiles").run()
    page.selectbox(key=widget_key("dis_material", "zh")).select(material).run()
    assert not page.exception
    ranked = page.dataframe[0].value
    holders = set(store.layer("stockpiles").set_index("id").loc[inv.loc[inv["material"] == material, "stockpile_id"], "name"])
    assert set(ranked["名称"]) <= holders and len(ranked) >= 1


def test_dispatch_page_in_english(page):
    page.session_state["lang"] = "en"
    page.run()
    assert page.title[0].value.startswith("Dispatch")
    assert "ETA (min)" in page.dataframe[0].value.columns


def _answer(page) -> tuple:
    return [df.value.to_dict("list") for df in page.dataframe], [w.value for w in page.warning], [i.value for i in page.info]


def test_dispatch_choices_survive_a_language_switch(page):
    """物资储备点 · 帐篷 · at least 1000, zh → en → zh: the same choices and the same answer (was: back to 救援队伍)."""
    page.selectbox(key=widget_key("dis_layer", "zh")).select("stockpiles").run()
    page.selectbox(key=widget_key("dis_material", "zh")).select("帐篷").run()
    page.number_input(key="dis_min_q").set_value(1000.0).run()
    page.radio(key=widget_key("dis_click_mode", "zh")).set_value("closure").run()
    before = _answer(page)
    # the one store of 1000 tents is in 徐州: the default network (the backbone) drives there
    assert before[0][0]["名称"] == ["徐州市救灾物资储备库"], before
    for lang in ("en", "zh"):
        page.sidebar.radio[0].set_value(lang).run()
        assert not page.exception
        assert page.selectbox(key=widget_key("dis_layer", lang)).value == "stockpiles"
        assert page.selectbox(key=widget_key("dis_material", lang)).value == "帐篷"
        assert page.number_input(key="dis_min_q").value == 1000.0
        assert page.radio(key=widget_key("dis_click_mode", lang)).value == "closure"
        if lang == "en":
            assert page.selectbox(key=widget_key("dis_network", lang)).value == "backbone"
            assert "ETA (min)" in page.dataframe[0].value.columns and page.dataframe[0].value["Name"].tolist() == ["徐州市救灾物资储备库"]
    assert _answer(page) == before


def _deck(page) -> dict:
    import json

    return json.loads(page.get("deck_gl_json_chart")[0].proto.json)


def test_dispatch_view_is_kept_on_a_rerun_that_changes_nothing(page):
    """The map's initial view (what Streamlit resets the user's zoom to when it changes) is the
    same after a rerun that changes neither the incident nor the answer, and after a map click."""
    page.radio(key=widget_key("dis_how", "zh")).set_value("click").run()
    view = _deck(page)["initialViewState"]
    page.number_input(key="dis_radius").set_value(500).run()  # a rerun: no new incident, no new answer
    assert _deck(page)["initialViewState"] == view
    # a click on the pick grid moves the incident; the view stays where the user is looking
    layer = next(lyr for lyr in _deck(page)["layers"] if lyr["id"].startswith("pick-hex"))
    cell = layer["data"][len(layer["data"]) // 3]
    page.session_state["dis_map"] = {"selection": {"indices": {layer["id"]: [0]}, "objects": {layer["id"]: [cell]}}}
    page.run()
    assert page.session_state["dis_incident"] == (cell["lon"], cell["lat"])
    assert _deck(page)["initialViewState"] == view
    # the next cell id: the old selection no longer counts, a click on the same cell again is new
    assert next(lyr["id"] for lyr in _deck(page)["layers"] if lyr["id"].startswith("pick-hex")) != layer["id"]
    # an incident chosen in the sidebar is framed again
    page.radio(key=widget_key("dis_how", "zh")).set_value("jurisdiction").run()
    page.selectbox(key=widget_key("dis_county", "zh")).select("310118").run()
    assert _deck(page)["initialViewState"] != view


#: Bytes of the dispatch deck JSON: 5 ranked stockpiles, their routes, the incident (9-15 KB) and
#: the URLs of the outlines.  The outlines sent inline made it 0.3 MB (嘉善县) to 3.0 MB (a
#: quantity that sends the routes across the region), parsed again by the browser on every filter change.
DISPATCH_DECK_BUDGET_BYTES = 60_000


def test_stockpile_filters_send_outlines_as_files_and_keep_them(page):
    """物资储备点 with 帐篷, then at least 36 and at least 1: each deck is small, its outlines are URLs
    of files (simplified to the view), and a filter change that leaves the view keeps the same URLs,
    so the browser keeps the boundary layers it has drawn."""
    from pages import _shared

    page.selectbox(key=widget_key("dis_layer", "zh")).select("stockpiles").run()
    seen = []
    for step in (lambda: page.selectbox(key=widget_key("dis_material", "zh")).select("帐篷").run(),
                 lambda: page.number_input(key="dis_min_q").set_value(36.0).run(),
                 lambda: page.number_input(key="dis_min_q").set_value(1.0).run()):  # fmt: skip
        step()
        assert not page.exception
        text = page.get("deck_gl_json_chart")[0].proto.json
        assert len(text.encode()) < DISPATCH_DECK_BUDGET_BYTES, len(text.encode())
        deck = _deck(page)
        outlines = {lyr["id"]: lyr["data"] for lyr in deck["layers"] if lyr["id"].startswith("boundary-")}
        assert set(outlines) == {"boundary-county", "boundary-province"} and all(isinstance(u, str) for u in outlines.values()), outlines
        for url in outlines.values():
            assert (_shared.STATIC_DIR / url.rsplit("/", 1)[1]).exists(), url
        seen.append((deck["initialViewState"], outlines, page.dataframe[0].value["名称"].tolist()))
    (view36, urls36, ranked36), (view1, urls1, ranked1) = seen[1], seen[2]
    assert ranked36 and view1 == view36 and urls1 == urls36


def test_pick_grid_is_invisible_and_pickable():
    cells = hex_grid((120.0, 30.0, 121.0, 31.0), cells_across=10)
    layer = pick_layer(cells, "zh", layer_id="pick-hex-3")
    assert layer.id == "pick-hex-3" and layer.pickable
    fill = layer.get_fill_color
    assert fill[3] == 1  # invisible, yet drawn (deck.gl does not pick alpha 0)
    assert not layer.stroked
    assert layer.type == "ScatterplotLayer"


def test_tables_show_a_dash_for_missing_values_and_colour_the_ranks(approx, store, counties):
    """An imported team without owner, a duty desk without phone: "—", never None or nan."""
    teams = store.layer("teams")
    teams = teams[teams["county_code"] == "310118"].head(3).copy()
    teams.loc[teams.index[0], "owner"] = None
    teams.loc[teams.index[1], "kind"] = None
    contacts = store.table("contacts").copy()
    contacts.loc[contacts["jurisdiction_code"] == "310118", "duty_phone"] = None
    contacts.loc[contacts["jurisdiction_code"] == "310118", "unit"] = float("nan")
    d = dispatch(approx, QINGPU, teams, counties=counties, contacts=contacts, k=3)
    names = dict(zip(store.jurisdictions()["code"], store.jurisdictions()["name"], strict=True))
    for lang in ("zh", "en"):
        shown = [ranked_table(d.ranked, lang, names), notify_table(d.notify, names, lang)]
        for table in shown:
            cells = table.astype(str).to_numpy().ravel().tolist()
            assert not {"None", "nan", "NaN", "NaT", "<NA>"} & set(cells), cells
        assert MISSING in shown[0].iloc[:, 4].tolist() and MISSING in shown[0].iloc[:, 2].tolist()
        assert MISSING in shown[1].iloc[:, 3].tolist()
    assert "示例" not in notify_table(d.notify, names, "en").iloc[:, -1].tolist()
    styled = style_ranks(ranked_table(d.ranked, "zh", names), "zh").to_html()
    for rank in d.ranked["rank"]:
        assert f"background-color: {rank_css(rank)}" in styled


# ---- messages of failures: fully in the user's language (no raw English exception text) ------


def _latin_words(text: str, allowed: set[str]) -> set[str]:
    import re

    return set(re.findall(r"[A-Za-z]{2,}", text)) - allowed


def _feature_collection(*geometries: dict, names: list | None = None) -> bytes:
    import json

    features = [{"type": "Feature", "properties": {} if names is None else {"name": names[i]}, "geometry": g} for i, g in enumerate(geometries)]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


_POINT = {"type": "Point", "coordinates": [121.05, 31.15]}
_LINE = {"type": "LineString", "coordinates": [[121.05, 31.15], [121.06, 31.16]]}
_SQUARE = {"type": "Polygon", "coordinates": [[[121.0, 31.1], [121.01, 31.1], [121.01, 31.11], [121.0, 31.11], [121.0, 31.1]]]}


@pytest.mark.parametrize(
    ("data", "code", "zh", "en"),
    [
        (b"{not json", "unreadable", "不是可读取的 GeoJSON", "not readable as GeoJSON"),
        (b"", "unreadable", "不是可读取的 GeoJSON", "not readable as GeoJSON"),
        (_feature_collection(), "no_geometry", "没有任何几何图形", "holds no geometry"),
        (_feature_collection(_SQUARE, _POINT, _LINE), "not_polygons", "还含有线、点要素", "also holds LineString, Point"),
    ],
)
def test_closure_file_errors_carry_a_code_and_read_in_each_language(data, code, zh, en):
    """read_closures' reasons (was: English text inside the Chinese message, e.g. "found ['Point']")."""
    from geo.dispatch import ClosureError
    from layers.dispatch import closure_message

    with pytest.raises(ClosureError) as caught:
        read_closures(data)
    exc = caught.value
    assert exc.code == code and isinstance(exc, ValueError)
    message = closure_message(exc, "zh")
    assert message.startswith("封闭区文件无法使用：") and zh in message and message.endswith("。")
    assert not _latin_words(message, {"GeoJSON", "geojson"}), message
    english = closure_message(exc, "en")
    assert english.startswith("The closure file cannot be used: ") and en in english and "。" not in english


def test_closure_names_never_show_none():
    polys, names = read_closures(_feature_collection(_SQUARE, _SQUARE, _SQUARE, names=["断桥", None, "  "]))
    assert len(polys) == 3 and names == ["断桥", "#2", "#3"]  # was: "None"


def test_no_route_carries_a_code_and_reads_in_each_language():
    """NoRoute (closures cut the network) as the dispatch page shows it (was: "没有道路可达：no road route from (…) on network 'sh'.")."""
    from geo import routing
    from layers.dispatch import route_message

    net = gn.build_from_graph(gn.read_osm(shared_file("osm/shanghai_center.osm")), name="sh", source="osm")
    square, other = (121.4737, 31.2304), (121.4450, 31.2400)
    moat = shapely.Point(square).buffer(0.01).exterior.buffer(0.0005)
    with pytest.raises(routing.NoRoute) as caught:
        routing.route(net, square, other, blocked=routing.blocked_edges(net, [moat]))
    exc = caught.value
    assert str(exc).startswith("no road route from (121.473700, 31.230400)")  # the command line's text, unchanged
    assert exc.code == "no_route" and exc.params == {"origin": square, "destination": other, "network": "sh"}
    assert routing.NoRoute("x").code == "no_route"  # raised without a code: the same message
    message = route_message(exc, "zh")
    assert message.startswith("没有道路可达：") and message.endswith("。") and not _latin_words(message, set()), message
    english = route_message(exc, "en")
    assert english.startswith("No road route: ") and "no road route from" not in english and "。" not in english


@pytest.mark.parametrize(("code", "zh", "en"), [("not_polygons", "还含有点要素", "also holds Point"), ("unreadable", "不是可读取的 GeoJSON", "not readable as GeoJSON")])
def test_dispatch_page_explains_a_bad_closure_file_in_each_language(page, code, zh, en):
    data = _feature_collection(_POINT) if code == "not_polygons" else b"PK\x03\x04 not a GeoJSON"
    page.file_uploader(key="dis_upload").set_value(("closures.geojson", data, "application/geo+json")).run()
    assert not page.exception
    message = page.error[0].value
    assert message.startswith("封闭区文件无法使用：") and zh in message
    assert not _latin_words(message, {"GeoJSON", "geojson"}), message  # was: "…：it must hold polygons only; found ['Point']"
    assert len(page.dataframe[0].value) == 5  # the answer without the file's closures
    page.sidebar.radio[0].set_value("en").run()
    assert en in page.error[0].value and "封闭区" not in page.error[0].value


def test_dispatch_page_explains_a_damaged_network_in_each_language(page, dataset, approx):
    """_shared.network(): a saved network that lost an array (was: the English "network at /… lacks ['edge_time_s']; rebuild it.")."""
    import shutil

    folder = gn.save(gn.Network({**approx.meta, "name": "broken"}, approx.arrays), gn.networks_dir(dataset) / "broken")
    try:
        (folder / "edge_time_s.npy").unlink()
        page.run()
        page.selectbox(key=widget_key("dis_network", "zh")).select("broken").run()
        assert not page.exception
        message = page.error[0].value
        assert "路网 broken 的文件不完整" in message and "数据管理 → 路网" in message
        assert not _latin_words(message, {"broken"}), message
        page.sidebar.radio[0].set_value("en").run()
        assert "The files of network broken are incomplete" in page.error[0].value
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_network_build_time_is_shown_in_beijing_time_to_the_minute():
    """The network tab showed '2026-12-01T09:07:38', the server's UTC clock with a T."""
    from layers.dispatch import beijing_time, network_table

    assert beijing_time("2026-12-01T09:07:38+00:00") == "2026-12-01 17:07"
    assert beijing_time(None) == "—" and beijing_time("") == "—"
    table = network_table([{"name": "x", "source": "s.osm", "n_nodes": 1, "n_edges": 2, "created": "2026-12-01T23:30:00+00:00"}], "zh")
    assert table["生成时间（北京时间）"].tolist() == ["2026-12-02 07:30"]
