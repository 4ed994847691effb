"""The zones & coverage page (AppTest through the app's router), on the embedded dataset."""

from __future__ import annotations

import pytest

from tests.conftest import frame_with


@pytest.fixture
def page(open_app):
    return open_app("pages/zones.py")


def test_zones_page_shows_zones_aid_and_coverage(page, store):
    zones = frame_with(page, "面积（平方公里）")
    teams = store.layer("teams")
    assert set(zones["名称"]) <= set(teams["name"])
    aid = frame_with(page, "先到力量所属区县")
    assert len(aid) > 0 and (aid["区县"] != aid["先到力量所属区县"]).all()
    cov = frame_with(page, "覆盖率（%）")
    assert cov["区县"].iloc[-1] == "合计"
    assert ((cov["覆盖率（%）"] >= 0) & (cov["覆盖率（%）"] <= 100)).all()
    assert "估算路网" in page.warning[0].value
    assert len(page.get("deck_gl_json_chart")) == 4


def test_what_if_out_of_service_gives_before_and_after(page):
    first = page.multiselect(key="zon_out").options[0]
    page.multiselect(key="zon_out").select(first).run()
    assert not page.exception
    cov = frame_with(page, "覆盖率（%）")
    assert "覆盖率（%） ↘" in cov.columns
    assert (cov["覆盖率（%） ↘"] <= cov["覆盖率（%）"] + 1e-9).all()  # losing a team never raises coverage


def test_bad_breaks_are_explained(page):
    page.text_input(key="zon_breaks").input("15,abc").run()
    assert not page.exception
    assert "15,abc" in page.error[0].value


def test_zones_page_in_english(page):
    page.radio(key="lang").set_value("en").run()
    assert not page.exception
    assert page.title[0].value.startswith("Responsibility zones")
