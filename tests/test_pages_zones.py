"""The zones & coverage page (AppTest through the app's router), on the embedded dataset."""

from __future__ import annotations

import json

import pytest

from pages._shared import widget_key
from tests.conftest import ROOT, frame_with


@pytest.fixture
def page(open_app):
    return open_app("pages/zones.py")


def _layer_ids(page, index: int = 0) -> set[str]:
    return {layer["id"] for layer in json.loads(page.get("deck_gl_json_chart")[index].proto.json)["layers"]}


def _open_tab(page, view: str) -> None:
    """Open the tab of `view` ('zones', 'iso', 'aid', 'cov') as the page's code would (AppTest cannot click tabs)."""
    page.session_state["zon_view"] = view
    page.run()
    assert not page.exception, page.exception


def test_zones_page_shows_zones_aid_and_coverage(page, store):
    zones = frame_with(page, "面积（平方公里）")
    teams = store.layer("teams")
    assert set(zones["名称"]) <= set(teams["name"])
    assert page.selectbox(key=widget_key("zon_network", "zh")).value == "backbone"  # the default network
    assert page.warning[0].value.startswith("骨干路网（估算）：")  # and what its answers rest on
    _open_tab(page, "aid")
    aid = frame_with(page, "先到力量所属区县")
    assert len(aid) > 0 and (aid["区县"] != aid["先到力量所属区县"]).all()
    _open_tab(page, "cov")
    cov = frame_with(page, "覆盖率（%）")
    assert cov["区县"].iloc[-1] == "合计"
    assert ((cov["覆盖率（%）"] >= 0) & (cov["覆盖率（%）"] <= 100)).all()
    assert {"可达但超时", "无路可达", "需求（平方公里）"} <= set(cov.columns)  # territory by default, late and no road apart


def test_one_map_follows_the_chosen_view_and_the_view_survives_a_language_switch(page):
    """Every tab used to draw its own map on every run: four decks built and sent, and a new map started
    in the browser at each tab switch.  Now one map (one key, one place) shows the chosen view."""
    assert len(page.get("deck_gl_json_chart")) == 1 and "zones" in _layer_ids(page)
    radio = page.radio(key=widget_key("zon_view", "zh"))
    assert radio.value == "zones" and radio.options == ["责任区", "服务范围", "跨界互助", "覆盖指标"]
    first = page.get("deck_gl_json_chart")[0].proto.id
    for view, layer in (("iso", "isochrones"), ("aid", "mutual-aid"), ("cov", "beyond")):
        _open_tab(page, view)
        decks = page.get("deck_gl_json_chart")
        assert len(decks) == 1 and layer in _layer_ids(page), view
        assert decks[0].proto.id == first, view  # the same map element: the browser keeps its map
    page.radio(key=widget_key("zon_view", "zh")).set_value("zones").run()  # as a click does
    assert not page.exception and page.session_state["zon_view"] == "zones" and "zones" in _layer_ids(page)
    page.radio(key=widget_key("zon_view", "zh")).set_value("cov").run()
    page.sidebar.radio[0].set_value("en").run()
    assert not page.exception
    assert page.radio(key=widget_key("zon_view", "en")).value == "cov" and "beyond" in _layer_ids(page)
    assert frame_with(page, "Coverage (%)") is not None
    page.sidebar.radio[0].set_value("zh").run()
    assert not page.exception
    assert page.radio(key=widget_key("zon_view", "zh")).value == "cov" and "beyond" in _layer_ids(page)


def test_maps_fetch_the_boundaries_from_static_files(page):
    """The outlines were GeoJSON inside every map's JSON (parsed by the server and the browser on
    every run); now they are the static files the browser fetches once, as on the situation page."""
    deck = json.loads(page.get("deck_gl_json_chart")[0].proto.json)
    outlines = [layer for layer in deck["layers"] if layer["id"].startswith("boundary")]
    assert outlines and all(isinstance(layer["data"], str) and layer["data"].startswith("app/static/gen/") for layer in outlines)
    for layer in outlines:
        assert (ROOT / "static" / "gen" / layer["data"].removeprefix("app/static/gen/")).is_file()


@pytest.mark.parametrize("network", ["backbone", "approx"])
def test_no_zone_of_zero_km2_without_a_reason(page, network):
    """The Chongming water-search team (on the river, 1.6 km from the approximate network's road) used to show '0.0 km²'."""
    page.selectbox(key=widget_key("zon_network", "zh")).select(network).run()
    assert not page.exception
    zones = frame_with(page, "面积（平方公里）").set_index("名称")
    if network == "approx":
        assert zones.at["长江口崇明水上搜救专业队", "面积（平方公里）"] == "—"
        assert "崇明区防汛抢险专业队" in zones.at["长江口崇明水上搜救专业队", "说明"]
    for name, row in zones.iterrows():
        if row["面积（平方公里）"] != "—":
            assert float(row["面积（平方公里）"].replace(",", "")) > 0, name
        else:
            assert row["说明"] != "—", name


def test_no_raw_none_in_tables(page):
    for view in ("zones", "aid", "cov"):
        _open_tab(page, view)
        for df in page.dataframe:
            text = df.value.astype(str).to_numpy().ravel()
            assert not any(v in ("None", "nan", "NaN", "NaT", "<NA>") for v in text), df.value.columns.tolist()


def test_what_if_out_of_service_shows_the_after_state(page):
    before_zones = _layer_ids(page, 0)
    assert "lost-coverage" not in before_zones
    ms = page.multiselect(key=widget_key("zon_out", "zh"))
    page.multiselect(key=widget_key("zon_out", "zh")).select("T042").run()  # 外高桥港区危化品专业救援队
    assert not page.exception
    assert ms is not None
    metric = page.metric[0]
    assert "分钟内覆盖" in metric.label and "→" in metric.value
    before, after = (float(v.strip().rstrip("%")) for v in metric.value.split("→"))
    assert after < before and metric.delta.startswith("-")
    zones = frame_with(page, "面积（平方公里）")
    assert "外高桥港区危化品专业救援队" not in set(zones["名称"])  # the zones after, without the team
    for view in ("zones", "iso", "cov"):  # zones, service areas and coverage maps show what is lost
        _open_tab(page, view)
        assert "lost-coverage" in _layer_ids(page), view
    cov = frame_with(page, "覆盖率（%）")
    assert (cov["停用后覆盖率（%）"] <= cov["覆盖率（%）"] + 1e-9).all()  # losing a team never raises coverage
    assert cov["停用后覆盖率（%）"].iloc[-1] == pytest.approx(after, abs=0.051)


def test_bad_breaks_are_explained(page):
    page.text_input(key="zon_breaks").input("15,abc").run()
    assert not page.exception
    assert "15,abc" in page.error[0].value


def test_zones_choices_survive_a_language_switch(page):
    page.selectbox(key=widget_key("zon_layer", "zh")).select("bases").run()
    page.multiselect(key=widget_key("zon_kinds_bases", "zh")).select("water_rescue").run()
    page.radio(key=widget_key("zon_demand", "zh")).set_value("nodes").run()
    assert not page.exception
    _open_tab(page, "cov")
    assert page.multiselect(key=widget_key("zon_depts", "zh")).placeholder == "全部部门"
    zh = frame_with(page, "覆盖率（%）")["覆盖率（%）"].tolist()
    page.sidebar.radio[0].set_value("en").run()
    assert not page.exception
    assert page.title[0].value.startswith("Responsibility zones")
    assert page.selectbox(key=widget_key("zon_layer", "en")).value == "bases"
    assert page.multiselect(key=widget_key("zon_kinds_bases", "en")).value == ["water_rescue"]
    assert page.radio(key=widget_key("zon_demand", "en")).value == "nodes"
    assert frame_with(page, "Coverage (%)")["Coverage (%)"].tolist() == zh
    page.sidebar.radio[0].set_value("zh").run()
    assert not page.exception
    assert page.multiselect(key=widget_key("zon_kinds_bases", "zh")).value == ["water_rescue"]
    assert frame_with(page, "覆盖率（%）")["覆盖率（%）"].tolist() == zh
