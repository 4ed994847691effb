"""Reading users' files: formats, encodings, title rows, CRS stated by the file, size and archive limits."""

from __future__ import annotations

import io
import json
import zipfile

import geopandas as gpd
import pytest
import shapely

from data.imports.issues import ImportRejected
from data.imports.readers import MAX_ZIP_MEMBERS, check_archive, decode_text, read_path, read_table
from tests.import_files import TEAM_HEADERS_ZH, csv_bytes, shapefile_zip, xlsx_bytes, zip_bytes

ROWS_ZH = [TEAM_HEADERS_ZH, ["X1", "青浦区防汛抢险队", "专业救援队伍", "水务", "青浦区水务局", "310118", "121.1245", "31.1502", "45"]]


@pytest.mark.parametrize(
    ("encoding", "bom", "detected"),
    [("utf-8", False, "utf-8"), ("utf-8", True, "utf-8-sig"), ("gbk", False, "gbk"), ("gb18030", False, "gb18030")],
)
def test_csv_encoding_is_detected(encoding, bom, detected):
    rows = [r[:] for r in ROWS_ZH]
    if encoding == "gb18030":
        rows[1][1] = "𠀀队"  # a CJK Extension B character: in GB18030, not in GBK
    raw = read_table(csv_bytes(rows, encoding=encoding, bom=bom), "队伍.csv")
    assert raw.encoding == detected
    assert raw.columns == TEAM_HEADERS_ZH
    assert raw.frame.iloc[0, 1] == rows[1][1]
    assert not raw.warnings


def test_a_wrong_encoding_shows_in_the_preview_and_is_warned():
    data = csv_bytes(ROWS_ZH, encoding="gbk")
    raw = read_table(data, "队伍.csv", encoding="utf-8")
    assert raw.columns != TEAM_HEADERS_ZH and "\ufffd" in "".join(raw.columns)  # the preview shows � instead of 编号
    replaced = next(w for w in raw.warnings if w.code == "encoding_replaced")
    assert "choose another encoding" in replaced.message
    assert read_table(data, "队伍.csv", encoding="gbk").columns == TEAM_HEADERS_ZH


def test_utf16_from_excel_unicode_text_is_read():
    text = "\t".join(TEAM_HEADERS_ZH) + "\r\n" + "\t".join(ROWS_ZH[1]) + "\r\n"
    raw = read_table(text.encode("utf-16"), "队伍.txt")
    assert raw.columns == TEAM_HEADERS_ZH and raw.frame.iloc[0, 6] == "121.1245"


def test_title_rows_above_the_header_are_skipped_and_rows_keep_their_spreadsheet_number():
    rows = [["青浦区应急救援队伍名单（2025年）"], [], *ROWS_ZH, [], ROWS_ZH[1]]
    raw = read_table(csv_bytes(rows), "名单.csv")
    assert raw.columns == TEAM_HEADERS_ZH
    assert raw.rows.tolist() == [4, 6]
    assert {w.code for w in raw.warnings} == {"header_skipped", "empty_rows"}


def test_semicolon_csv_and_a_row_with_extra_fields():
    rows = [["id", "name", "lon", "lat"], ["A", "甲", "121.1", "31.1"], ["B", "乙", "121.2", "31.2", "extra"]]
    raw = read_table(csv_bytes(rows, delimiter=";"), "a.csv")
    assert raw.columns == ["id", "name", "lon", "lat"]
    assert raw.row_errors[1].code == "field_count" and raw.row_errors[1].params == {"count": 5, "expected": 4}


def test_repeated_and_empty_headers_are_renamed():
    raw = read_table(csv_bytes([["名称", "", "名称"], ["a", "b", "c"]]), "a.csv")
    assert raw.columns == ["名称", "column_2", "名称_2"]
    assert raw.warnings[0].code == "header_renamed"


def test_xlsx_sheets_numbers_and_text_codes():
    data = xlsx_bytes({"说明": [["填写说明"]], "teams": [TEAM_HEADERS_ZH, ["X1", "队", "专业", "水务", "局", "310118", 121.1245, 31.1502, 45]]})
    raw = read_table(data, "队伍.xlsx", prefer="teams")
    assert raw.sources == ("说明", "teams") and raw.source == "teams"
    assert raw.frame.iloc[0].tolist() == ["X1", "队", "专业", "水务", "局", "310118", "121.1245", "31.1502", "45"]
    with pytest.raises(ImportRejected, match="sheet 'nope' is not in the file; it has 说明, teams"):
        read_table(data, "队伍.xlsx", source="nope")


def test_geojson_properties_geometry_and_legacy_crs():
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}},
        "features": [
            {"type": "Feature", "properties": {"id": "G1", "name": "甲", "members": 12, "ok": True}, "geometry": {"type": "Point", "coordinates": [121.1, 31.1]}},
            {"type": "Feature", "properties": {"id": "G2", "extra": {"a": 1}}, "geometry": {"type": "Point", "coordinates": ["x"]}},
            {"type": "Feature", "properties": None, "geometry": None},
        ],
    }
    raw = read_table(json.dumps(doc, ensure_ascii=False).encode(), "a.geojson")
    assert raw.crs == "EPSG:4490"
    assert raw.columns == ["id", "name", "members", "ok", "extra"]
    assert raw.frame.iloc[0].tolist() == ["G1", "甲", "12", "true", ""]
    assert raw.frame.iloc[1]["extra"] == '{"a": 1}'
    assert raw.geometry[0].equals(shapely.Point(121.1, 31.1)) and raw.geometry[2] is None
    assert raw.row_errors[1].code == "bad_geometry"


def test_broken_json_names_line_and_column():
    with pytest.raises(ImportRejected, match="GeoJSON file cannot be read: line 2 column"):
        read_table(b'{"type": "FeatureCollection",\n "features": [}', "a.geojson")
    with pytest.raises(ImportRejected, match="expected a FeatureCollection or a Feature"):
        read_table(b"[1, 2]", "a.json")


def test_geopackage_layers_and_crs(tmp_path):
    gdf = gpd.GeoDataFrame({"id": ["P1"], "名称": ["甲"], "n": [3]}, geometry=[shapely.Point(500000, 3450000)], crs="EPSG:4549")
    path = tmp_path / "a.gpkg"
    gdf.to_file(path, layer="sites", driver="GPKG")
    gdf.to_crs(4326).to_file(path, layer="other", driver="GPKG")
    raw = read_path(path, source="sites")
    assert set(raw.sources) == {"sites", "other"} and raw.source == "sites"
    assert raw.crs == "EPSG:4549"
    assert raw.frame.iloc[0].tolist() == ["P1", "甲", "3"]
    assert raw.geometry[0].equals(shapely.Point(500000, 3450000))


def test_zipped_shapefile_in_gbk_without_cpg_is_detected():
    gdf = gpd.GeoDataFrame({"名称": ["青浦区防汛抢险队"], "编号": ["X1"]}, geometry=[shapely.Point(121.1, 31.1)], crs=4326)
    raw = read_table(shapefile_zip(gdf, encoding="GBK", cpg=False, folder="队伍/"), "队伍.zip")
    assert raw.encoding == "gb18030"
    assert raw.frame.iloc[0].tolist() == ["青浦区防汛抢险队", "X1"]
    assert raw.crs == "EPSG:4326"
    utf8 = read_table(shapefile_zip(gdf, encoding="UTF-8", cpg=True), "队伍.zip")
    assert utf8.frame.iloc[0, 0] == "青浦区防汛抢险队"


def test_a_zip_holding_one_geojson_is_read():
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"id": "a"}, "geometry": None}]}
    raw = read_table(zip_bytes({"data/a.geojson": json.dumps(doc).encode()}), "a.zip")
    assert raw.format == "geojson" and raw.columns == ["id"]


@pytest.mark.parametrize("name", ["../evil.shp", "a/../../evil.shp", "/etc/evil.shp", "C:\\evil.shp", "..\\evil.dbf"])
def test_zip_members_that_climb_out_are_refused(name):
    data = zip_bytes({name: b"x", "ok.txt": b"y"})
    with pytest.raises(ImportRejected, match="would unpack outside its folder") as exc:
        read_table(data, "evil.zip")
    assert exc.value.issue.code == "zip_unsafe"


def test_zip_with_too_many_members_is_refused():
    data = zip_bytes({f"f{i}.txt": b"" for i in range(MAX_ZIP_MEMBERS + 1)})
    with pytest.raises(ImportRejected, match=f"has {MAX_ZIP_MEMBERS + 1} members; the limit is {MAX_ZIP_MEMBERS}"):
        read_table(data, "many.zip")


def test_zip_bomb_is_refused_before_unpacking():
    data = zip_bytes({"a.csv": b"0" * 3_000_000})
    assert len(data) < 10_000
    with zipfile.ZipFile(io.BytesIO(data)) as zf, pytest.raises(ImportRejected, match="unpacks to 2.9 MB; the limit is 1 MB"):
        check_archive(zf, max_bytes=1024 * 1024)


def test_zip_symlink_member_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link.shp")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ImportRejected, match="would unpack outside its folder"):
        read_table(buf.getvalue(), "a.zip")


def test_file_over_the_size_limit_is_refused_with_sizes(tmp_path):
    data = csv_bytes([["id"], ["x" * 2000]])
    with pytest.raises(ImportRejected, match=r"the file is 0.0 MB; the limit is 0 MB") as exc:
        read_table(data, "a.csv", max_bytes=1000)
    assert exc.value.issue.code == "too_large"
    path = tmp_path / "a.csv"
    path.write_bytes(data)
    with pytest.raises(ImportRejected, match="Split it into smaller files"):
        read_path(path, max_bytes=1000)


@pytest.mark.parametrize(
    ("data", "name", "match"),
    [
        (b"\xd0\xcf\x11\xe0" + b"\0" * 100, "old.xls", "old .xls workbooks are not supported"),
        (b"not a zip", "a.zip", "the content is not a .zip file"),
        (b"plain", "a.docx", "cannot tell the format of a.docx"),
        (b"", "a.csv", "holds no data rows"),
        (b"\n\n  \n", "a.csv", "holds no data rows"),
        (b"SQLite format 3\0" + b"\0" * 200, "a.gpkg", "GeoPackage file cannot be read"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(data, name, match):
    with pytest.raises(ImportRejected, match=match):
        read_table(data, name)


def test_decode_never_fails_for_a_chosen_encoding():
    text, used, warnings = decode_text(b"\xff\xfe\xfa", "gbk")
    assert used == "gbk" and warnings and "\ufffd" in text
    with pytest.raises(ValueError, match="`encoding` was 'latin-9'"):
        decode_text(b"", "latin-9")


def _damaged_member(data: bytes, member: str) -> bytes:
    """`data` (a zip) with one byte of `member`'s deflate stream flipped (a broken download)."""
    import struct

    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
    damaged = bytearray(data)
    damaged[info.header_offset + 30 + name_len + extra_len + 5] ^= 0xFF
    return bytes(damaged)


def test_a_workbook_with_a_damaged_deflate_stream_is_refused_not_a_crash():
    """zlib's own error (not BadZipFile) from a damaged sheet: found by the damaged-files property test."""
    rows = [["编号", "名称", "责任部门", "经度", "纬度", "人数"]] + [[f"A{i}", f"队{i}", "消防", "121.47", "31.23", str(i)] for i in range(200)]
    data = _damaged_member(xlsx_bytes({"teams": rows}), "xl/worksheets/sheet1.xml")
    with pytest.raises(ImportRejected, match="XLSX file cannot be read: error"):
        read_table(data, "a.xlsx")
    geojson = zip_bytes({"a.geojson": json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"n": "x" * 400}, "geometry": None}]}).encode()})
    with pytest.raises(ImportRejected, match="zip file cannot be read"):
        read_table(_damaged_member(geojson, "a.geojson"), "a.zip")
