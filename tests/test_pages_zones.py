"""The zones & coverage page (AppTest through the app's router), on the embedded dataset."""

from __future__ import annotations

import json

import pytest

from pages._shared import widget_key
from tests.conftest import frame_with


@pytest.fixture
def page(open_app):
    return open_app("pages/zones.py")


def _layer_ids(page, index: int) -> set[str]:
    return {layer["id"] for layer in json.loads(page.get("deck_gl_json_chart")[index].proto.json)["layers"]}


def test_zones_page_shows_zones_aid_and_coverage(page, store):
    zones = frame_with(page, "面积（平方公里）")
    teams = store.layer("teams")
    assert set(zones["名称"]) <= set(teams["name"])
    aid = frame_with(page, "先到力量所属区县")
    assert len(aid) > 0 and (aid["区县"] != aid["先到力量所属区县"]).all()
    cov = frame_with(page, "覆盖率（%）")
    assert cov["区县"].iloc[-1] == "合计"
    assert ((cov["覆盖率（%）"] >= 0) & (cov["覆盖率（%）"] <= 100)).all()
    assert {"可达但超时", "无路可达", "需求（平方公里）"} <= set(cov.columns)  # territory by default, late and no road apart
    assert page.selectbox(key=widget_key("zon_network", "zh")).value == "backbone"  # the default network
    assert page.warning[0].value.startswith("骨干路网（估算）：")  # and what its answers rest on
    assert len(page.get("deck_gl_json_chart")) == 4


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
    for i in (0, 1, 3):  # zones, service areas and coverage maps show what is lost
        assert "lost-coverage" in _layer_ids(page, i)
    zones = frame_with(page, "面积（平方公里）")
    assert "外高桥港区危化品专业救援队" not in set(zones["名称"])  # the zones after, without the team
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
