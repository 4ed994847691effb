"""Township (乡镇/街道) polygons through the import path, on the real OSM street polygons of Shanghai (../shared/data/admin).

- The shared file maps by itself (osm_name, official_control_code_2023, district) and every
  township is accepted with its code, its name and its outline; its county, derived from a
  point inside it, is checked against two independent answers: the county it overlaps most
  (areas in an equal-area projection, by shapely) and the county its ``district`` column names.
- Permissions: a township belongs to its own county only (81 of the 113 outlines overlap a
  second county by a sliver, OSM and the dataset's borders differing), so a district's data
  administrator imports its own townships, one of another district is refused (audited,
  nothing written), and one of 上海市 imports the rest.
- Codes are imported once; a township without a code takes its id; the store gives the
  townships back as they were imported, and every export format re-imports to the same records.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from data.accounts.accounts import Refused
from data.dataset.store import Store
from data.imports.exporters import EXPORT_FORMATS, export_layer, file_name
from data.imports.fields import suggest_mapping
from data.imports.importers import ImportContext, commit, jurisdictions_of, validate
from data.imports.readers import read_path, read_table
from data.storage.workspace import Workspace
from geo.coverage import EQUAL_AREA_CRS
from layers.imports import issue_text, township_layer
from tests.conftest import shared_file
from tests.import_files import csv_bytes, shapefile_zip
from tests.people import People, cheap_accounts

STREETS = "admin/shanghai_streets_osm.geojson"
HUANGPU, XUHUI = "310101", "310104"


@pytest.fixture(scope="module")
def streets_path():
    return shared_file(STREETS)


@pytest.fixture(scope="module")
def raw_streets(streets_path) -> gpd.GeoDataFrame:
    return gpd.read_file(streets_path)


@pytest.fixture(scope="module")
def counties(store) -> gpd.GeoDataFrame:
    return store.jurisdictions("county", detail="full")


@pytest.fixture
def ws(workspace_path):
    w = Workspace(workspace_path)  # PostgreSQL in the postgres pass (the URL set by conftest takes precedence)
    yield w
    w.close()


@pytest.fixture
def st(dataset, ws):
    s = Store(dataset, workspace=ws)
    yield s
    s.close()


@pytest.fixture
def people(ws) -> People:
    return People(cheap_accounts(ws))


def _admin(people: People, code: str):
    return people.sign_in(f"admin_{code}", "natural_resources", code, "data_admin")


def _validate(data: bytes, name: str, st: Store):
    raw = read_table(data, name, prefer="townships")
    return validate(raw, "townships", suggest_mapping(raw.columns, "townships", has_geometry=raw.has_geometry), ImportContext.from_store(st))


def _geojson(frame: gpd.GeoDataFrame) -> bytes:
    """The shared file's own features of `frame`'s rows (by position), as an uploaded GeoJSON."""
    doc = json.loads(shared_file(STREETS).read_text(encoding="utf-8"))
    doc["features"] = [doc["features"][k] for k in frame.index]
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def _records(st: Store) -> list[dict]:
    frame = st.townships()
    out = pd.DataFrame(frame.drop(columns=["origin", "geometry"]))
    out["wkt"] = shapely.to_wkt(frame.geometry.values, rounding_precision=-1)
    return out.to_dict("records")


def test_the_shared_street_polygons_import_with_codes_names_and_their_own_county(streets_path, raw_streets, counties, store):
    raw = read_path(streets_path, prefer="townships")
    mapping = suggest_mapping(raw.columns, "townships", has_geometry=raw.has_geometry)
    assert mapping == {"id": None, "name": "osm_name", "code": "official_control_code_2023", "county_code": "district", "city": None, "wkt": None}
    report = validate(raw, "townships", mapping, ImportContext.from_store(store))
    assert (report.total, report.n_accepted, report.reasons) == (113, 113, {})
    acc = report.accepted_frame()
    assert acc["name"].tolist() == raw_streets["osm_name"].tolist()
    assert acc["code"].tolist() == raw_streets["official_control_code_2023"].astype(str).tolist()
    assert acc["id"].str.fullmatch(r"TS-[0-9a-f]{12}").all() and acc["id"].is_unique
    assert shapely.equals_exact(acc.geometry.values, raw_streets.geometry.values, tolerance=1e-12).all()  # WGS84 in, WGS84 out

    # The county: the one each township overlaps most (equal-area areas), and the one its district column names.
    ea_towns = raw_streets.geometry.to_crs(EQUAL_AREA_CRS).values
    ea_counties = counties.geometry.to_crs(EQUAL_AREA_CRS).values
    most = []
    for town in ea_towns:
        areas = shapely.area(shapely.intersection(town, ea_counties))
        most.append(counties["code"].iat[int(np.argmax(areas))])
    by_name = dict(zip(counties["name"], counties["code"], strict=True))
    sh = counties[counties["code"].str.startswith("31")]
    by_name.update(zip(sh["name"], sh["code"], strict=True))  # 普陀区 is also a district of 舟山市: the file's are Shanghai's
    assert acc["county_code"].tolist() == most == [by_name[d] for d in raw_streets["district"]]
    assert acc["county_name"].tolist() == raw_streets["district"].tolist()
    assert set(acc["province_code"]) == {"310000"} and set(acc["city_code"]) == {"310100"}
    # 普陀区 (two counties of that name) is settled by the position, with a note saying so
    putuo = [k for k, d in enumerate(raw_streets["district"]) if d == "普陀区"]
    assert putuo and all([i.code for i in report.notes[k]] == ["county_by_position"] for k in putuo)

    # Who may import: each township's own county only, though most outlines overlap a neighbour by a sliver
    assert report.jurisdictions == [(c,) for c in most]
    tree = shapely.STRtree(counties.geometry.values)
    ti, ci = tree.query(raw_streets.geometry.values, predicate="intersects")
    inner = ~shapely.touches(raw_streets.geometry.values[ti], counties.geometry.values[ci])
    overlapping = pd.Series(ti[inner]).value_counts()
    assert (overlapping > 1).sum() > 50  # 81 in the 2023 file: a closure's rule (every county overlapped) would refuse them to a district


def test_a_district_admin_imports_its_own_townships_another_is_refused_and_shanghai_imports_the_rest(raw_streets, ws, st, people):
    accounts = people.accounts
    huangpu = raw_streets[raw_streets["district"] == "黄浦区"]
    report = _validate(_geojson(huangpu), "黄浦区街道.geojson", st)
    assert report.n_accepted == len(huangpu) == 10 and report.jurisdictions == [(HUANGPU,)] * 10

    audited = len(accounts.audit())
    with pytest.raises(Refused) as exc:
        commit(report, ws, by=_admin(people, XUHUI), accounts=accounts)  # 徐汇区's data administrator
    assert (exc.value.code, exc.value.params["target"]) == ("other_jurisdiction", HUANGPU)
    assert ws.version() == 0 and ws.imports().empty and st.townships().empty  # nothing written
    last = accounts.audit().sort_values("id").iloc[-1]
    assert len(accounts.audit()) > audited and (last["actor"], last["event"], last["outcome"]) == (f"admin_{XUHUI}", "layer.import", "refused")

    first = commit(report, ws, by=_admin(people, HUANGPU), accounts=accounts)
    towns = st.townships()
    assert len(towns) == 10 and set(towns["county_code"]) == {HUANGPU} and set(towns["origin"]) == {first}
    assert ws.imports().set_index("import_id").at[first, "who"] == f"admin_{HUANGPU}"

    # 上海市's data administrator: the whole file; 黄浦区's ten are already there (refused once, for their id, not again for their code)
    whole = _validate(_geojson(raw_streets), "上海街道.geojson", st)
    assert sorted(whole.reasons) == [int(k) for k in np.flatnonzero((raw_streets["district"] == "黄浦区").to_numpy())]
    assert {tuple(i.code for i in v) for v in whole.reasons.values()} == {("row_exists",)}
    with pytest.raises(Refused):
        commit(whole, ws, by=_admin(people, HUANGPU), accounts=accounts, mode="valid")  # the rest is not 黄浦区's
    second = commit(whole, ws, by=_admin(people, "310000"), accounts=accounts, mode="valid")
    towns = st.townships()
    assert len(towns) == 113 and towns["code"].is_unique
    assert sorted(towns["code"]) == sorted(raw_streets["official_control_code_2023"].astype(str))
    assert (towns["origin"] == second).sum() == 103
    ctx = ImportContext.from_store(st)
    assert jurisdictions_of("townships", towns, ctx) == [(c,) for c in towns["county_code"]]  # what `remove` checks


def test_codes_are_imported_once_and_a_township_without_one_takes_its_id(raw_streets, ws, st, people):
    sub = raw_streets.iloc[:3][["osm_name", "official_control_code_2023", "geometry"]].rename(columns={"osm_name": "名称", "official_control_code_2023": "乡镇代码"})
    rows = [["名称", "乡镇代码", "范围"]] + [[n, c, g.wkt] for n, c, g in zip(sub["名称"], sub["乡镇代码"], sub.geometry, strict=True)]
    rows.append(["同码另名街道", rows[1][1], shapely.box(121.47, 31.22, 121.48, 31.23).wkt])  # the code of row 2 again
    rows.append(["无代码街道", "", shapely.box(121.50, 31.30, 121.51, 31.31).wkt])  # in 杨浦区
    report = _validate(csv_bytes(rows), "towns.csv", st)
    assert report.mapping["wkt"] == "范围" and report.mapping["code"] == "乡镇代码"
    assert [i.code for i in report.reasons[3]] == ["duplicate_code"] and report.reasons[3][0].params["first"] == 2
    assert "乡镇（街道）代码" in issue_text(report.reasons[3][0], "zh") and "first at row 2" in issue_text(report.reasons[3][0], "en")
    acc = report.accepted_frame().set_index("name")
    assert acc.at["无代码街道", "code"] == acc.at["无代码街道", "id"] and acc.at["无代码街道", "county_code"] == "310110"
    assert shapely.equals_exact(acc.loc[sub["名称"]].geometry.values, sub.geometry.values, tolerance=1e-9).all()  # WKT as written
    commit(report, ws, by=_admin(people, "310000"), accounts=people.accounts, mode="valid")
    # The same code under another name and outline, now that it is in the store
    again = _validate(csv_bytes([["名称", "乡镇代码", "范围"], ["改名街道", rows[1][1], shapely.box(121.47, 31.22, 121.475, 31.225).wkt]]), "again.csv", st)
    assert [i.code for i in again.reasons[0]] == ["code_exists"]
    assert again.reasons[0][0].params["origin"] == ws.imports()["import_id"].iat[0]


def test_a_zipped_shapefile_with_gbk_names_and_numeric_codes_imports(raw_streets, store):
    """A Shapefile as agencies send it: GBK attributes without a .cpg, Chinese headers, the code a numeric (double) field."""
    sub = raw_streets.iloc[10:14]
    shp = gpd.GeoDataFrame({"街道名称": sub["osm_name"].to_numpy(), "区划代码": sub["official_control_code_2023"].astype(float).to_numpy(),
                            "所属区": sub["district"].to_numpy()}, geometry=sub.geometry.to_numpy(), crs=4326)  # fmt: skip
    report = _validate(shapefile_zip(shp, encoding="GBK", cpg=False), "街道.zip", store)
    assert report.mapping == {"id": None, "name": "街道名称", "code": "区划代码", "county_code": "所属区", "city": None, "wkt": None}
    assert not report.reasons and report.encoding == "gb18030"
    acc = report.accepted_frame()
    assert acc["name"].tolist() == sub["osm_name"].tolist() and acc["county_name"].tolist() == sub["district"].tolist()
    assert acc["code"].tolist() == sub["official_control_code_2023"].astype(str).tolist()  # not '310104…000.0'
    assert np.allclose(shapely.area(acc.geometry.values), shapely.area(sub.geometry.values), rtol=1e-9)


def test_store_round_trip_and_every_export_format_reimports_the_same_townships(raw_streets, ws, st, people, tmp_path):
    me, accounts = _admin(people, "310000"), people.accounts
    sub = raw_streets[raw_streets["district"].isin(["黄浦区", "虹口区"])]
    report = _validate(_geojson(sub), "towns.geojson", st)
    import_id = commit(report, ws, by=me, accounts=accounts)
    towns = st.townships()
    assert list(towns.columns) == ["id", "name", "code", "county_code", "province_code", "city_code", "county_name", "origin", "geometry"]
    assert towns.crs.to_epsg() == 4326 and (towns["origin"] == import_id).all()
    accepted = report.accepted_frame()
    pd.testing.assert_frame_equal(pd.DataFrame(towns.drop(columns=["origin", "geometry"])), pd.DataFrame(accepted.drop(columns="geometry")), check_dtype=False)
    assert shapely.equals_exact(towns.geometry.values, sub.geometry.values, tolerance=0).all()  # the outlines exactly as the file gave them
    before = _records(st)
    for fmt in EXPORT_FORMATS:
        data = export_layer(st, "townships", fmt, origin=import_id)
        ws.remove(import_id)
        assert st.townships().empty
        again = _validate(data, file_name("townships", fmt), st)
        assert not again.reasons and again.n_accepted == len(sub), fmt
        assert not [w for w in again.warnings if w.code == "unmapped_columns"], fmt
        import_id = commit(again, ws, by=me, accounts=accounts)
        assert _records(st) == before, fmt
    exported = json.loads(export_layer(st, "townships", "geojson"))
    assert set(exported["features"][0]["properties"]) == {"id", "name", "code", "county_code"}


def test_the_data_page_previews_townships_as_outlines_with_name_and_county(raw_streets, store):
    report = _validate(_geojson(raw_streets.iloc[:4]), "t.geojson", store)
    layer = township_layer(report.accepted_frame(), "zh")
    features = layer.data["features"]
    assert layer.id == "layer-townships" and len(features) == 4
    for f, (name, district, code) in zip(features, raw_streets.iloc[:4][["osm_name", "district", "official_control_code_2023"]].itertuples(index=False), strict=True):
        assert f["properties"]["tooltip"] == f"{name}\n{district}\n代码 {code}"
    assert shapely.geometry.shape(features[0]["geometry"]).equals(raw_streets.geometry.iat[0])


def test_the_data_page_imports_townships_with_an_outline_preview(open_app, raw_streets, workspace_path):
    """数据管理 → 导入 → 乡镇（街道）范围: the file maps by itself, the preview map shows the outlines, a signed-in admin commits."""
    from pages._shared import widget_key
    from tests.conftest import frame_with

    at = open_app("pages/manage.py")
    at.selectbox(key=widget_key("data_layer", "zh")).select("townships").run()
    huangpu = raw_streets[raw_streets["district"] == "黄浦区"]
    at.file_uploader[0].set_value(("黄浦区街道.geojson", _geojson(huangpu), "application/geo+json")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert next(s for s in at.selectbox if s.label == "乡镇（街道）代码").value == "official_control_code_2023"
    assert next(m.value for m in at.metric if m.label == "通过") == "10"
    assert frame_with(at, "行号")["编号"].str.fullmatch(r"TS-[0-9a-f]{12}").all()
    deck = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    outlines = next(layer for layer in deck["layers"] if layer["id"] == "layer-townships")
    assert [f["properties"]["tooltip"].split("\n")[:2] for f in outlines["data"]["features"]] == [[n, "黄浦区"] for n in huangpu["osm_name"]]
    with Workspace(workspace_path) as ws:
        session = People(cheap_accounts(ws)).sign_in("hp_admin", "natural_resources", HUANGPU, "data_admin")
    at.session_state["account"] = session
    at.run()
    next(b for b in at.button if b.label == "提交导入").click().run()
    assert not at.exception, at.exception
    assert any("已导入 10 条记录到“乡镇（街道）范围”" in s.value for s in at.success)
    with Workspace(workspace_path) as ws:
        assert ws.layer("townships")["name"].tolist() == huangpu["osm_name"].tolist()
