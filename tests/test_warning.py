"""Warning areas (buffer, road isochrone on real OSM roads, polygon), the counties they touch, and the 叫应 call list."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo import network as gn
from geo.routing import OffNetwork, snap
from geo.warning import affected_counties, buffer_area, call_list, isochrone_area, polygon_area
from geo.zones import times_from
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def net():
    return gn.build_from_graph(gn.read_osm(shared_file("osm/shanghai_center.osm")), name="sh", source="osm")


@pytest.fixture(scope="module")
def counties(store):
    return store.jurisdictions("county", detail="full")


def test_buffer_has_its_radius_in_metres():
    area = buffer_area(120.92, 30.84, 5000)
    metric = gpd.GeoSeries([area], crs=4326).to_crs(32651).iloc[0]
    assert metric.area == pytest.approx(np.pi * 5000**2, rel=0.01)
    centre = gpd.GeoSeries([shapely.Point(120.92, 30.84)], crs=4326).to_crs(32651).iloc[0]
    assert metric.exterior.distance(centre) == pytest.approx(5000, rel=0.01)
    for bad in (0, -1, 100_001):
        with pytest.raises(ValueError, match="`radius_m` was"):
            buffer_area(120.92, 30.84, bad)


def test_isochrone_holds_the_roads_reached_in_time_and_not_those_far_beyond(net):
    lon, lat = 121.4737, 31.2304  # People's Square
    area = isochrone_area(net, lon, lat, 5)
    time_s = times_from(net, snap(net, lon, lat), limit_s=np.inf)
    x, y = net.arrays["node_lon"], net.arrays["node_lat"]
    inside = shapely.contains_xy(area, x, y)
    reached = time_s <= 300
    assert reached.sum() > 50
    assert inside[reached].all()  # every node reached within 5 minutes lies in the area
    far = np.isfinite(time_s) & (time_s > 600)
    assert far.sum() > 50 and not inside[far].any()  # no road that takes twice as long (unreachable bits of road may lie inside)
    assert isochrone_area(net, lon, lat, 10).area > area.area
    with pytest.raises(OffNetwork):
        isochrone_area(net, 121.9, 31.0, 5)  # at sea, far from these roads
    with pytest.raises(ValueError, match="`minutes` was 0"):
        isochrone_area(net, lon, lat, 0)


def test_polygon_from_geojson_and_wkt_and_its_errors():
    square = "POLYGON ((120.8 30.8, 121 30.8, 121 30.9, 120.8 30.9, 120.8 30.8))"
    assert polygon_area(square).equals(shapely.from_wkt(square))
    feature = '{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[[120.8,30.8],[121,30.8],[121,30.9],[120.8,30.8]]]}}'
    assert polygon_area(feature).area > 0
    bowtie = "POLYGON ((120.8 30.8, 121 30.9, 121 30.8, 120.8 30.9, 120.8 30.8))"
    assert polygon_area(bowtie).is_valid  # repaired
    for text, message in [
        ("", "empty"),
        ("POINT (120.9 30.8)", "is a Point"),
        ("{not json", "not readable"),
        ("POLYGON ((350000 3400000, 360000 3400000, 360000 3410000, 350000 3400000))", "not longitude/latitude"),
    ]:
        with pytest.raises(ValueError, match=message):
            polygon_area(text)


def test_counties_hit_and_the_call_list_with_escalation(counties, store):
    area = buffer_area(120.92, 30.84, 15_000)  # 嘉善 and its neighbours across the Shanghai border
    hit = affected_counties(area, counties)
    assert hit["code"].iloc[0] == "330421"  # the largest share first
    assert {"310118", "310117"} <= set(hit["code"]) and "310101" not in set(hit["code"])  # 青浦 and 松江 across the border, not 黄浦
    contacts = store.table("contacts")
    with_desks = set(contacts["jurisdiction_code"])
    bare = next(c for c in counties["code"] if c.startswith("33") and c not in with_desks)  # a Zhejiang county with no duty desk in the samples
    calls = call_list(["330421", "310118", bare], ["fire", "police"], contacts)
    by = calls.set_index(["jurisdiction_code", "department"])
    assert not by.loc[("330421", "fire"), "escalated"] and not by.loc[("310118", "police"), "escalated"]
    assert by.loc[("330000", "fire"), "escalated"] and by.loc[("330000", "police"), "escalated"]  # the province is called instead
    assert len(calls) == 6 and calls["contact_id"].is_unique
    # a department no desk of these counties or provinces holds is left out, not invented
    assert call_list(["330421"], ["natural_resources"], contacts).empty
    assert call_list([], ["fire"], contacts).empty
