"""Pure pieces of the situation page: area selection, clipping, views, styles, settings."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest
import shapely

from data.settings import SettingsError, load_settings
from geo.jurisdiction import near_view, select_area
from layers.situation import boundary_layers, map_style, view_for_bounds, zoom_for_bounds


@pytest.fixture(scope="module")
def jur(store):
    return store.jurisdictions(detail="display")


def test_select_area_most_specific_wins(jur):
    area = select_area(jur, province="330000", city="330400", county="330421")
    assert (area.code, area.level, area.name) == ("330421", "county", "嘉善县")
    region = select_area(jur, region_name="长三角")
    assert region.code is None and region.bounds[0] < 116 < 122 < region.bounds[2]


def test_select_area_refuses_codes_that_do_not_nest(jur):
    with pytest.raises(ValueError, match="`city` '320500' is not inside '330000'"):
        select_area(jur, province="330000", city="320500")
    with pytest.raises(ValueError, match="`county` was '999999'"):
        select_area(jur, county="999999")


def test_near_view_keeps_neighbours_and_clips(jur):
    jiashan = select_area(jur, county="330421")
    near = near_view(jur, jiashan.bounds)
    codes = set(near["code"])
    assert {"330421", "310118", "320509", "330400", "330000", "310000"} <= codes  # neighbours across borders
    assert "340000" not in codes  # Anhui is far away
    minx, miny, maxx, maxy = shapely.union_all(near.geometry.values).bounds
    w, h = jiashan.bounds[2] - jiashan.bounds[0], jiashan.bounds[3] - jiashan.bounds[1]
    assert maxx - minx <= 3 * w + 1e-9 and maxy - miny <= 3 * h + 1e-9


def test_zoom_fits_bounds():
    region = zoom_for_bounds((114.9, 27.1, 122.9, 35.1))
    county = zoom_for_bounds((120.8, 30.8, 121.1, 31.1))
    assert 5 < region < 7 < 9 < county < 11
    v = view_for_bounds((120.0, 30.0, 122.0, 32.0))
    assert (v.longitude, v.latitude) == (121.0, 31.0)


def test_map_style_is_offline_unless_tiles_are_configured():
    style = json.loads(unquote(map_style(None).split(",", 1)[1]))
    assert style["sources"] == {} and [lyr["type"] for lyr in style["layers"]] == ["background"]
    tiled = json.loads(unquote(map_style("http://tiles.local/{z}/{x}/{y}.png").split(",", 1)[1]))
    assert tiled["sources"]["tiles"]["tiles"] == ["http://tiles.local/{z}/{x}/{y}.png"]


def test_boundary_levels():
    src = {lvl: {"type": "FeatureCollection", "features": []} for lvl in ("province", "city", "county")}
    assert [lyr.id for lyr in boundary_layers(src, zoom=5.5)] == ["boundary-city", "boundary-province"]
    assert [lyr.id for lyr in boundary_layers(src, zoom=9)] == ["boundary-county", "boundary-city", "boundary-province"]
    assert [lyr.id for lyr in boundary_layers(src, level="county", zoom=5.5)] == ["boundary-county", "boundary-province"]
    with pytest.raises(ValueError, match="`level` was 'town'"):
        boundary_layers(src, level="town")


def test_settings(tmp_path):
    assert load_settings(tmp_path / "absent.toml").tile_url is None
    good = tmp_path / "good.toml"
    good.write_text('[basemap]\ntile_url = "http://10.0.0.1/t/{z}/{x}/{y}.png"\nname = "内网底图"\n', encoding="utf-8")
    assert load_settings(good).tile_name == "内网底图"
    bad = tmp_path / "bad.toml"
    bad.write_text("[basemap\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad)
    nozxy = tmp_path / "nozxy.toml"
    nozxy.write_text('[basemap]\ntile_url = "http://10.0.0.1/tiles.png"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"\{z\}, \{x\} and \{y\}"):
        load_settings(nozxy)
