"""Checking rows: mapping suggestions, CRS conversion to 1 m, swapped columns, positions, codes, ids, geometry repair."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from data.dataset.build import CountyLocator
from data.imports.fields import suggest_mapping
from data.imports.importers import ImportContext, ImportRejected, convert, parse_crs, validate
from data.imports.readers import read_table
from geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from tests.import_files import TEAM_HEADERS_ZH, csv_bytes, team_rows

GEOD = pyproj.Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def locator(store):
    return CountyLocator(store.jurisdictions(detail="full"))


@pytest.fixture(scope="module")
def ctx(store, locator):
    return ImportContext.from_store(store, locator=locator)


def _csv(frame: pd.DataFrame) -> bytes:
    return csv_bytes([list(frame.columns), *frame.astype(str).to_numpy().tolist()])


def _check(data: bytes, layer: str, ctx, *, name: str = "f.csv", crs: str = "auto", **overrides):
    raw = read_table(data, name)
    mapping = {**suggest_mapping(raw.columns, layer, has_geometry=raw.has_geometry), **overrides}
    return validate(raw, layer, mapping, ctx, crs=crs)


def _codes(report) -> dict[int, list[str]]:
    return {int(report.rows["row"].iat[k]): [i.code for i in v] for k, v in report.reasons.items()}


def test_mapping_is_suggested_from_chinese_and_english_headers():
    assert suggest_mapping(TEAM_HEADERS_ZH, "teams") == {
        "id": "编号", "name": "队伍名称", "kind": "类别", "department": "责任部门", "owner": "权属单位",
        "county_code": "区县代码", "city": None, "lon": "经度", "lat": "纬度", "members": "队员人数", "base_id": None, "data_status": None,
    }
    english = ["ID", "Name", "Type", "Dept", "Longitude", "Latitude", "Capacity (persons)", "Remarks"]
    got = suggest_mapping(english, "shelters")
    assert (got["id"], got["name"], got["kind"], got["department"], got["lon"], got["lat"], got["capacity_persons"]) == (
        "ID", "Name", "Type", "Dept", "Longitude", "Latitude", "Capacity (persons)"
    )
    # units in brackets and full-width characters do not hide a header; each column is used once
    assert suggest_mapping(["经度（°）", "纬度(°)", "可容纳人数（人）", "名称"], "shelters")["capacity_persons"] == "可容纳人数（人）"
    assert suggest_mapping(["单位", "物资名称", "数量", "储备点编号"], "inventory") == {"stockpile_id": "储备点编号", "material": "物资名称", "unit": "单位", "quantity": "数量"}
    assert suggest_mapping(["lon", "lat", "id"], "teams", has_geometry=True)["lon"] is None


def test_gbk_csv_with_chinese_headers_and_words_for_codes(ctx):
    rows = [TEAM_HEADERS_ZH, ["X1", "青浦区防汛抢险队", "专业救援队伍", "青浦区水务局", "", "", "１２１.１２４５", "31.1502", "1,200"]]
    report = _check(csv_bytes(rows, encoding="gbk"), "teams", ctx)
    assert report.encoding == "gbk" and report.n_accepted == 1
    rec = report.accepted.iloc[0]
    assert (rec["kind"], rec["department"], rec["county_code"], rec["county_name"], rec["members"], rec["data_status"]) == (
        "professional", "water", "310118", "青浦区", 1200, "导入"
    )
    assert rec["lon"] == 121.1245  # full-width digits read
    assert [i.code for i in report.notes[0]] == ["county_derived"]


@pytest.mark.parametrize(("crs", "forward"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_gcj02_and_bd09_land_within_1_m_of_the_wgs84_truth(store, ctx, crs, forward):
    truth = team_rows(store, 40)
    shifted = truth.copy()
    shifted["lon"], shifted["lat"] = forward(truth["lon"].to_numpy(), truth["lat"].to_numpy())
    shifted["lon"], shifted["lat"] = shifted["lon"].map(repr), shifted["lat"].map(repr)
    report = _check(_csv(shifted), "teams", ctx, crs=crs)
    assert report.n_rejected == 0, report.reasons
    assert report.crs == crs and report.crs_from == "declared"
    _, _, dist = GEOD.inv(report.accepted["lon"], report.accepted["lat"], truth["lon"], truth["lat"])
    assert np.max(dist) < 1.0
    geoms = shapely.from_wkb(report.accepted["geom_wkb"])
    np.testing.assert_array_equal(shapely.get_x(geoms), report.accepted["lon"])


def test_projected_cgcs2000_gauss_kruger_is_converted_with_pyproj(store, ctx):
    truth = team_rows(store, 10)
    to_gk = pyproj.Transformer.from_crs(4326, 4549, always_xy=True)  # CGCS2000 / 3-degree Gauss-Kruger CM 120E
    x, y = to_gk.transform(truth["lon"].to_numpy(), truth["lat"].to_numpy())
    frame = truth.assign(lon=x, lat=y)
    assert parse_crs("EPSG:4549") == "EPSG:4549" and parse_crs("cgcs2000") == "wgs84" and parse_crs("EPSG:4490") == "wgs84"
    report = _check(_csv(frame), "teams", ctx, crs="EPSG:4549")
    assert report.n_rejected == 0, report.reasons
    _, _, dist = GEOD.inv(report.accepted["lon"], report.accepted["lat"], truth["lon"], truth["lat"])
    assert np.max(dist) < 0.01
    plain = _check(_csv(frame), "teams", ctx)
    assert "looks_projected" in [w.code for w in plain.warnings] and plain.n_accepted == 0


def test_bad_crs_names_the_value():
    with pytest.raises(ValueError, match="`crs` was 'mercator'"):
        parse_crs("mercator")
    with pytest.raises(ValueError, match="EPSG:99999 is not a known"):
        parse_crs("EPSG:99999")


def test_swapped_lon_lat_columns_are_caught(store, ctx):
    truth = team_rows(store, 12)
    swapped = truth.rename(columns={"lon": "纬度", "lat": "经度"})  # the file calls its longitude column 纬度
    report = _check(_csv(swapped), "teams", ctx)
    assert report.n_accepted == 0
    assert all(codes == ["swapped"] for codes in _codes(report).values())
    warning = next(w for w in report.warnings if w.code == "swapped_file")
    assert warning.params == {"count": 12, "total": 12}
    assert "swap the columns mapped to `lon` and `lat`" in warning.message
    fixed = _check(_csv(swapped), "teams", ctx, lon="纬度", lat="经度")
    assert fixed.n_rejected == 0


def test_each_bad_row_says_why(store, ctx):
    good = team_rows(store, 1).iloc[0]
    base_id = store.layer("teams")["id"].iloc[0]
    header = ["id", "name", "department", "county_code", "lon", "lat", "members"]
    rows = [
        header,
        ["A1", "好", "fire", good.county_code, good.lon, good.lat, "3"],          # row 2: fine
        ["A2", "", "fire", "", good.lon, good.lat, "3"],                           # row 3: missing name
        ["A3", "坏数", "fire", "", "121.x", good.lat, "3"],                        # row 4: bad number
        ["A4", "坏码", "fire", "999999", good.lon, good.lat, "3"],                 # row 5: unknown code
        ["A5", "市码", "fire", "330400", good.lon, good.lat, "3"],                 # row 6: a city code
        ["A1", "重号", "fire", "", good.lon, good.lat, "3"],                       # row 7: duplicate in file
        [base_id, "已有", "fire", "", good.lon, good.lat, "3"],                    # row 8: already in the store
        ["A8", "境外", "fire", "", "116.40", "39.90", "3"],                        # row 9: Beijing
        ["A9", "负数", "fire", "", good.lon, good.lat, "-2"],                      # row 10: negative members
        ["A10", "小数", "fire", "", good.lon, good.lat, "2.5"],                    # row 11: not whole
        ["A11", "部门", "酒店", "", good.lon, good.lat, "2"],                      # row 12: unknown department
        ["A12", "远县", "fire", "341021", "121.4737", "31.2304", "2"],             # row 13: stated 歙县, lies in 黄浦区
        ["A13", "海上", "fire", "", "123.5", "30.0", "2"],                         # row 14: East China Sea
    ]
    report = _check(csv_bytes(rows), "teams", ctx)
    assert _codes(report) == {
        3: ["missing"], 4: ["bad_number"], 5: ["unknown_code"], 6: ["not_county"], 7: ["duplicate_id"], 8: ["id_exists"],
        9: ["outside_region"], 10: ["negative"], 11: ["bad_integer"], 12: ["bad_department"], 13: ["outside_county"], 14: ["outside_region"],
    }
    assert report.n_accepted == 1 and report.accepted["id"].tolist() == ["A1"]
    messages = {int(report.rows["row"].iat[k]): v[0].message for k, v in report.reasons.items()}
    assert messages[3] == "`name` is empty."
    assert messages[4] == "`lon` was '121.x', not a number."
    assert messages[7] == "duplicate id 'A1' (first at row 2)."
    assert messages[8] == f"id {base_id!r} is already in the store (base)."
    assert "lies in 黄浦区 310101" in messages[13] and "stated county 歙县 341021" in messages[13]
    assert "330400" in messages[6] and "city code" in messages[6]
    report_json = json.loads(report.to_json())
    assert [r["status"] for r in report_json["rows"]].count("rejected") == 12 and len(report_json["rows"]) == 13


def test_a_point_just_across_its_county_border_is_accepted_with_a_note(ctx, locator):
    qingpu = locator.geoms[list(locator.codes).index("310118")]
    inside = shapely.Point(121.1245, 31.1502)
    border = shapely.get_exterior_ring(max(shapely.get_parts(qingpu), key=lambda p: p.area))
    edge = border.interpolate(border.project(inside))
    step = np.array([edge.x - inside.x, edge.y - inside.y])
    out = np.array([edge.x, edge.y]) + step / np.linalg.norm(step) * 0.002  # ≈ 200 m outside
    rows = [["id", "name", "department", "county_code", "lon", "lat", "members"], ["N1", "近", "fire", "310118", repr(float(out[0])), repr(float(out[1])), "1"]]
    report = _check(csv_bytes(rows), "teams", ctx)
    assert report.n_accepted == 1
    note = report.notes[0][0]
    assert note.code == "near_county" and 100 < float(note.params["distance_m"]) < 400


def _border_points(locator, n: int) -> pd.DataFrame:
    """WGS84 points whose GCJ-02 position falls in another county (those near a border)."""
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = locator.region.bounds
    lon, lat = rng.uniform(minx, maxx, 200_000), rng.uniform(miny, maxy, 200_000)
    true = locator.locate(lon, lat)
    glon, glat = wgs84_to_gcj02(lon, lat)
    moved = locator.locate(glon, glat)
    pick = np.flatnonzero((true != "") & (moved != "") & (true != moved))[:n]
    return pd.DataFrame({"lon": glon[pick], "lat": glat[pick], "county_code": true[pick]})


def test_a_file_offset_by_the_gcj02_shift_is_detected_against_the_boundaries(store, ctx, locator):
    near = _border_points(locator, 12)
    teams = team_rows(store, 30).iloc[:30]
    glon, glat = wgs84_to_gcj02(teams["lon"].to_numpy(), teams["lat"].to_numpy())
    frame = pd.concat([teams.assign(lon=glon, lat=glat), near.assign(id=[f"B{i}" for i in range(len(near))], name="边界", department="fire", members=1)], ignore_index=True)
    frame = frame[["id", "name", "department", "county_code", "lon", "lat", "members"]].assign(lon=lambda f: f["lon"].map(repr), lat=lambda f: f["lat"].map(repr))
    as_wgs84 = _check(_csv(frame), "teams", ctx, crs="wgs84")
    warning = next(w for w in as_wgs84.warnings if w.code == "crs_suspected")
    assert warning.params["best"] == "gcj02" and warning.params["n_declared"] >= 12 and warning.params["n_best"] == 0
    assert "declare gcj02" in warning.message
    as_gcj = _check(_csv(frame), "teams", ctx, crs="gcj02")
    assert "crs_suspected" not in [w.code for w in as_gcj.warnings]
    assert as_gcj.n_rejected == 0 and not any(i.code == "near_county" for v in as_gcj.notes.values() for i in v)


def test_mapping_problems_stop_before_any_row(ctx):
    data = csv_bytes([["id", "name", "lon", "lat"], ["a", "b", "121", "31"]])
    raw = read_table(data, "a.csv")
    with pytest.raises(ImportRejected, match="required field `department` is not mapped"):
        validate(raw, "teams", suggest_mapping(raw.columns, "teams"), ctx)
    with pytest.raises(ImportRejected, match="column 'nope' \\(mapped to `department`\\) is not in the file"):
        validate(raw, "teams", {**suggest_mapping(raw.columns, "teams"), "department": "nope"}, ctx)
    with pytest.raises(ImportRejected, match="column 'name' is mapped to both `name` and `department`"):
        validate(raw, "teams", {**suggest_mapping(raw.columns, "teams"), "department": "name", "members": "id"}, ctx)
    with pytest.raises(ValueError, match="`layer` was 'roads'"):
        validate(raw, "roads", {}, ctx)


def test_geojson_points_in_gcj02_and_wrong_geometry_types(store, ctx):
    truth = team_rows(store, 3)
    glon, glat = wgs84_to_gcj02(truth["lon"].to_numpy(), truth["lat"].to_numpy())
    features = [
        {"type": "Feature", "properties": {"id": r.id, "name": r.name, "department": r.department, "members": r.members},
         "geometry": {"type": "Point", "coordinates": [lo, la]}}
        for r, lo, la in zip(truth.itertuples(), glon, glat, strict=True)
    ]
    features[1]["geometry"] = {"type": "MultiPoint", "coordinates": [[glon[1], glat[1]]]}
    features.append({"type": "Feature", "properties": {"id": "L", "name": "线", "department": "fire", "members": 1},
                     "geometry": {"type": "LineString", "coordinates": [[121, 31], [121.1, 31.1]]}})
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    report = _check(data, "teams", ctx, name="a.geojson", crs="gcj02")
    assert _codes(report) == {4: ["geometry_type"]}
    assert report.notes[1][0].code == "single_multipoint"
    _, _, dist = GEOD.inv(report.accepted["lon"], report.accepted["lat"], truth["lon"], truth["lat"])
    assert np.max(dist) < 1.0


def test_closures_invalid_polygon_is_repaired_and_said_so(ctx):
    bowtie = "POLYGON ((121.40 31.20, 121.45 31.25, 121.45 31.20, 121.40 31.25, 121.40 31.20))"
    square = "POLYGON ((121.40 31.20, 121.41 31.20, 121.41 31.21, 121.40 31.21, 121.40 31.20))"
    rows = [["编号", "名称", "封闭原因", "范围"], ["C1", "延安高架封闭", "施工", square], ["C2", "蝴蝶", "积水", bowtie], ["C3", "坏", "", "POLYGON ((1 2"],
            ["C4", "线", "", "LINESTRING (121.4 31.2, 121.5 31.3)"], ["C5", "远", "", "POLYGON ((10 10, 11 10, 11 11, 10 10))"]]
    report = _check(csv_bytes(rows), "closures", ctx)
    assert _codes(report) == {4: ["bad_geometry"], 5: ["geometry_type"], 6: ["outside_region"]}
    repaired = report.notes[1][0]
    assert repaired.code == "geometry_repaired" and "Self-intersection" in repaired.params["detail"]
    geoms = shapely.from_wkb(report.accepted["geom_wkb"])
    assert shapely.is_valid(geoms).all() and geoms[1].area == pytest.approx(2 * 0.5 * 0.05 * 0.025, rel=1e-6)
    assert report.accepted["reason"].tolist() == ["施工", "积水"]


def test_inventory_needs_known_stockpiles_and_positive_quantities(store, ctx):
    stock = store.layer("stockpiles")["id"].iloc[0]
    rows = [["储备点编号", "物资名称", "单位", "数量"], [stock, "冲锋舟", "艘", "4"], [stock, "冲锋舟", "艘", "2"], ["S999", "帐篷", "顶", "3"], [stock, "沙袋", "个", "0"]]
    report = _check(csv_bytes(rows), "inventory", ctx)
    assert _codes(report) == {3: ["duplicate_id"], 4: ["unknown_ref"], 5: ["not_positive"]}
    assert report.accepted.to_dict("records") == [{"stockpile_id": stock, "material": "冲锋舟", "unit": "艘", "quantity": 4.0}]


def test_contacts_take_any_jurisdiction_code(ctx):
    rows = [["id", "department", "jurisdiction_code", "unit", "role", "duty_phone"], ["K1", "应急管理局", "330400", "嘉兴市应急管理局", "值班室", "0573-1"], ["K2", "fire", "123456", "u", "r", "1"]]
    report = _check(csv_bytes(rows), "contacts", ctx)
    assert _codes(report) == {3: ["unknown_code"]}
    assert report.accepted.iloc[0]["department"] == "emergency" and report.accepted.iloc[0]["data_status"] == "导入"


def test_convert_rejects_nothing_silently():
    lon, lat = convert([121.0, np.nan], [31.0, 31.0], "gcj02")
    assert np.isfinite(lon[0]) and np.isnan(lon[1])
