"""GCJ-02 / BD-09 conversions: published reference values and round trips."""

from __future__ import annotations

import re

import numpy as np
import pytest
from pyproj import Geod

from geo import crs

GEOD = Geod(ellps="WGS84")


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# Reference values published with the widely used coordtransform (wandergis) and gcoord
# (hujiulong) libraries for (116.404, 39.915) and (123, 45).
@pytest.mark.parametrize(
    ("func", "given", "expected", "tol"),
    [
        (crs.wgs84_to_gcj02, (116.404, 39.915), (116.41024449916938, 39.91640428150164), 1e-9),
        (crs.gcj02_to_bd09, (116.404, 39.915), (116.41036949371029, 39.92133699351022), 1e-9),
        (crs.bd09_to_gcj02, (116.404, 39.915), (116.39762729119315, 39.90865673957631), 1e-9),
        (crs.gcj02_to_bd09, (123.0, 45.0), (123.00636499, 45.00636899), 1e-7),
        (crs.gcj02_to_wgs84, (123.0, 45.0), (122.99395597, 44.99804071), 1e-6),  # gcoord, iterative
    ],
)
def test_reference_points(func, given, expected, tol):
    lon, lat = func(*given)
    assert lon == pytest.approx(expected[0], abs=tol)
    assert lat == pytest.approx(expected[1], abs=tol)


def test_shift_is_hundreds_of_metres_in_shanghai():
    lon, lat = crs.wgs84_to_gcj02(121.4737, 31.2304)
    d = _metres(121.4737, 31.2304, lon, lat)
    assert 300 < d < 700


def test_gcj02_round_trip_below_half_a_metre_everywhere_in_the_region():
    rng = np.random.default_rng(7)
    lon = rng.uniform(114.8, 123.0, 200_000)
    lat = rng.uniform(27.0, 35.2, 200_000)
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    err = _metres(lon, lat, *back)
    assert err.max() < 0.5
    assert err.max() < 0.01  # the iteration actually reaches millimetres


def test_bd09_round_trip_below_half_a_metre():
    rng = np.random.default_rng(11)
    lon = rng.uniform(114.8, 123.0, 50_000)
    lat = rng.uniform(27.0, 35.2, 50_000)
    back = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    assert _metres(lon, lat, *back).max() < 0.5


def test_outside_china_is_unchanged():
    lon, lat = crs.wgs84_to_gcj02([2.35, 139.9], [48.85, 35.7])
    assert lon.tolist() == [2.35, 139.9] and lat.tolist() == [48.85, 35.7]


def test_to_wgs84_dispatch_and_bad_name():
    g = crs.wgs84_to_gcj02(121.0, 31.0)
    assert crs.to_wgs84(*g, "GCJ-02")[0] == pytest.approx(121.0, abs=1e-8)
    assert crs.to_wgs84(121.0, 31.0, "cgcs2000") == (121.0, 31.0)
    with pytest.raises(ValueError, match="`crs` was 'mars'"):
        crs.to_wgs84(121.0, 31.0, "mars")


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same shape"):
        crs.wgs84_to_gcj02([1.0, 2.0], [3.0])


def test_transform_geometry_moves_every_vertex():
    import shapely

    poly = shapely.box(121.0, 31.0, 121.1, 31.1)
    moved = crs.transform_geometry(poly, crs.wgs84_to_gcj02)
    src = shapely.get_coordinates(poly)
    dst = shapely.get_coordinates(moved)
    exp = np.column_stack(crs.wgs84_to_gcj02(src[:, 0], src[:, 1]))
    np.testing.assert_allclose(dst, exp)


@pytest.mark.parametrize(
    "typed",
    ["１２０．９０７，３０．８４１", "120.907，30.841", "120.907, 30.841", " 120.907  30.841 ", "120.907\u300030.841", "120.907°,30.841°"],
)
def test_parse_lonlat_reads_full_width_and_spaced_input(typed):
    """As typed on Chinese keyboards (NFKC, as the importers read them)."""
    assert crs.parse_lonlat(typed) == pytest.approx((120.907, 30.841))


@pytest.mark.parametrize(
    ("typed", "code"),
    [("abc", "not_lonlat"), ("120.9;30.8", "not_lonlat"), ("1,2,3", "not_lonlat"), ("", "not_lonlat"), ("200,100", "out_of_range"), ("31.15,121.05", "lat_first"), ("nan,30", "out_of_range")],
)
def test_parse_lonlat_errors_carry_a_code_and_the_text(typed, code):
    with pytest.raises(crs.CoordinateError) as info:
        crs.parse_lonlat(typed)
    assert isinstance(info.value, ValueError)  # callers catching ValueError still work
    assert info.value.code == code and info.value.params["text"] == typed
    assert repr(typed) in str(info.value)  # the English sentence for logs and the command line


def test_coordinate_messages_are_whole_in_each_language():
    from layers.dispatch import coordinate_message

    for typed in ("abc", "200,100", "31.15,121.05"):
        with pytest.raises(crs.CoordinateError) as info:
            crs.parse_lonlat(typed)
        zh, en = coordinate_message(info.value, "zh"), coordinate_message(info.value, "en")
        assert zh.startswith(f"坐标“{typed}”") and zh.endswith("。")
        assert re.search(r"[A-Za-z]", zh.replace(typed, "")) is None, zh
        assert f"“{typed}”" in en and re.search(r"[\u4e00-\u9fff。，：]", en) is None, en
