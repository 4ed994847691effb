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


def test_near_view_simplified_to_a_pixel_still_meets_and_is_lighter(jur):
    """Outlines simplified to a pixel of the city view keep a valid coverage per level (neighbours
    share their edges: no gaps, no overlaps), lose vertices, and move by at most the tolerance."""
    from layers.situation import metres_per_pixel

    jiaxing = select_area(jur, city="330400")
    view = view_for_bounds(jiaxing.bounds)
    mpp = metres_per_pixel(view.zoom, view.latitude)
    assert 100 < mpp < 250  # a city view: a pixel is some 150 m
    full = near_view(jur, jiaxing.bounds)
    light = near_view(jur, jiaxing.bounds, simplify_m=mpp)
    assert list(light["code"]) == list(full["code"])
    assert len(shapely.get_coordinates(light.geometry.values)) < 0.9 * len(shapely.get_coordinates(full.geometry.values))
    for level in ("province", "city", "county"):
        assert shapely.coverage_is_valid(light[light["level"] == level].geometry.values), level
    county = light.set_index("code").geometry["330421"]
    assert shapely.hausdorff_distance(county, full.set_index("code").geometry["330421"]) <= 1.5 * mpp / 111_320


def test_near_view_refuses_a_bad_tolerance(jur):
    with pytest.raises(ValueError, match="`simplify_m` was -1"):
        near_view(jur, select_area(jur, city="330400").bounds, simplify_m=-1)


def test_decimals_follow_the_pixel():
    from layers.situation import decimals_for, metres_per_pixel

    assert metres_per_pixel(0, 0) == pytest.approx(78_271.5, rel=1e-4)  # deck.gl: 512 px around the equator at zoom 0
    assert decimals_for(metres_per_pixel(8.8, 30.8)) == 4  # a city view: 1e-4 degrees is 11 m, well under a pixel
    assert decimals_for(metres_per_pixel(16, 30.8)) == 5
    assert decimals_for(metres_per_pixel(3, 30.8)) == 3
    with pytest.raises(ValueError, match="`metres_per_px` was 0"):
        decimals_for(0)


def test_boundary_files_are_written_once_per_stem(jur, tmp_path):
    from layers.situation import write_boundary_files

    jiaxing = select_area(jur, city="330400")
    outlines = near_view(jur, jiaxing.bounds)
    names = write_boundary_files(outlines, "en", directory=tmp_path, stem="near-x", decimals=4, highlight="330400")
    assert set(names) == {"province", "city", "county", "highlight"}
    county = json.loads((tmp_path / names["county"]).read_text(encoding="utf-8"))
    assert len(county["features"]) == int((outlines["level"] == "county").sum())
    assert all("\ncounty · " in f["properties"]["tooltip"] for f in county["features"])
    coords = shapely.get_coordinates(shapely.from_geojson(json.dumps(county["features"][0]["geometry"])))
    assert (abs(coords * 1e4 - (coords * 1e4).round()) < 1e-6).all()  # 4 decimals
    highlight = json.loads((tmp_path / names["highlight"]).read_text(encoding="utf-8"))
    assert [f["properties"]["tooltip"].split("\n")[0] for f in highlight["features"]] == ["嘉兴市 (330400)"]
    stamp = (tmp_path / names["county"]).stat().st_mtime_ns
    write_boundary_files(outlines.iloc[:0], "en", directory=tmp_path, stem="near-x")
    assert (tmp_path / names["county"]).stat().st_mtime_ns == stamp  # kept, not rewritten


def test_crossings_locate_every_piece_as_a_point_in_polygon_test_would(store):
    """A line from 青浦区 across 嘉善县 to 平湖市 on the full outlines: the stretches are those a
    plain `within` test of each 100 m piece gives (the fast query must not change the answer)."""
    import numpy as np

    from geo.jurisdiction import _ROUTE_STEP_DEG, crossings

    counties = store.jurisdictions(detail="full").query("level == 'county'")
    coords = np.array([[121.05, 31.15], [120.92, 30.95], [120.85, 30.84], [121.02, 30.70]])
    seg_time_s = np.array([600.0, 400.0, 500.0])
    got = crossings(coords, seg_time_s, counties)
    pieces = []
    for (x0, y0), (x1, y1) in zip(coords[:-1], coords[1:], strict=True):
        n = max(1, int(np.ceil(np.hypot(x1 - x0, y1 - y0) / _ROUTE_STEP_DEG)))
        for k in range(n):
            mid = shapely.Point(x0 + (x1 - x0) * (k + 0.5) / n, y0 + (y1 - y0) * (k + 0.5) / n)
            inside = [c for c, g in zip(counties["code"], counties.geometry, strict=True) if mid.within(g)]
            pieces.append(inside[-1] if inside else "")
    runs = [c for i, c in enumerate(pieces) if i == 0 or c != pieces[i - 1]]
    assert [c.code for c in got] == runs
    assert {"310118", "330421", "330482"} <= set(runs)
    assert sum(c.time_s for c in got) == pytest.approx(seg_time_s.sum())


def test_outlines_of_a_map_taking_clicks_are_not_pickable():
    """Streamlit's click selection is lost when a pickable layer's data is a URL (the dispatch
    map's first click did nothing once its outlines came from files; tests/test_browser_dispatch.py):
    a map taking clicks gets outlines without tooltips, other maps keep the county tooltips."""
    from layers.situation import boundary_layers

    urls = {lvl: f"app/static/gen/x-{lvl}.geojson" for lvl in ("province", "city", "county")}
    for level in ("auto", "county"):
        shown = boundary_layers(urls, level=level, zoom=9.0)
        assert [x.id for x in shown if x.pickable] == ["boundary-county"]
        assert not any(x.pickable for x in boundary_layers(urls, level=level, zoom=9.0, pickable=False))
