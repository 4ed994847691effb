"""Property-based tests (hypothesis): the parsers and checks never crash on any input.

Whatever the bytes, `read_table` returns a table or refuses the file with `ImportRejected`;
whatever the cells, `validate` returns a report that accounts for every row.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.imports.fields import IMPORT_LAYERS, normalise_department, normalise_header, suggest_mapping
from data.imports.importers import ImportContext, ImportRejected, validate
from data.imports.readers import ENCODINGS, check_archive, decode_text, read_table
from tests.import_files import csv_bytes

# The autouse workspace fixture is function-scoped but unused here: the examples share nothing.
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

NAMES = st.sampled_from(["a.csv", "a.txt", "a.xlsx", "a.geojson", "a.json", "a.gpkg", "a.zip", "a", "a.bin"])
HEADERS = ["id", "编号", "name", "名称", "department", "责任部门", "lon", "经度", "lat", "纬度", "members", "人数", "county_code",
           "区县代码", "capacity_persons", "wkt", "kind", "类别", "stockpile_id", "material", "quantity", "unit", "jurisdiction_code", "role", "duty_phone"]
CELLS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["121.47", "31.23", "310101", "330421", "fire", "消防", "", "NaN", "inf", "-1", "1e400", "１２１.５", "T001", "POLYGON ((121.4 31.2, 121.5 31.2, 121.5 31.3, 121.4 31.2))", "POINT (1 2)"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@pytest.fixture(scope="module")
def ctx(store):
    return ImportContext.from_store(store)


@SETTINGS
@given(data=st.binary(max_size=2000), name=NAMES, encoding=st.sampled_from(ENCODINGS))
def test_read_table_never_crashes_on_bytes(data, name, encoding):
    try:
        raw = read_table(data, name, encoding=encoding)
    except ImportRejected as exc:
        assert exc.issue.message
        return
    assert len(raw.rows) == len(raw.frame)
    assert all(isinstance(v, str) for v in raw.frame.to_numpy().ravel())


@SETTINGS
@given(data=st.binary(max_size=500), encoding=st.sampled_from(ENCODINGS))
def test_decode_text_never_fails(data, encoding):
    text, used, warnings = decode_text(data, encoding)
    assert isinstance(text, str) and used


JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(["type", "coordinates", "geometries", "properties", "geometry", "features", "id", "名称", "x"]), children, max_size=4),
    max_leaves=25,
)
GEOMETRY_TYPES = st.sampled_from(["Point", "MultiPoint", "LineString", "Polygon", "MultiPolygon", "GeometryCollection", "Nope"])


@SETTINGS
@given(
    features=st.lists(
        st.fixed_dictionaries(
            {"type": st.just("Feature"), "properties": st.dictionaries(st.sampled_from(HEADERS), CELLS, max_size=6) | JSON,
             "geometry": st.none() | st.fixed_dictionaries({"type": GEOMETRY_TYPES, "coordinates": JSON}) | JSON}
        ),
        max_size=6,
    ),
    layer=st.sampled_from(IMPORT_LAYERS),
    crs=st.sampled_from(["auto", "wgs84", "gcj02", "bd09", "EPSG:4549"]),
)
def test_geojson_features_never_crash_the_checks(ctx, features, layer, crs):
    data = json.dumps({"type": "FeatureCollection", "features": features}, allow_nan=True).encode()
    _read_and_check(data, "a.geojson", layer, crs, ctx)


@SETTINGS
@given(
    header=st.lists(st.sampled_from(HEADERS) | st.text(max_size=6), min_size=1, max_size=8),
    body=st.lists(st.lists(CELLS, max_size=9), max_size=8),
    layer=st.sampled_from(IMPORT_LAYERS),
    crs=st.sampled_from(["auto", "gcj02", "bd09", "EPSG:4549"]),
    encoding=st.sampled_from(["utf-8", "gb18030"]),
)
def test_csv_rows_never_crash_the_checks(ctx, header, body, layer, crs, encoding):
    data = csv_bytes([header, *body], encoding=encoding)
    _read_and_check(data, "a.csv", layer, crs, ctx)


def _read_and_check(data: bytes, name: str, layer: str, crs: str, ctx) -> None:
    try:
        raw = read_table(data, name)
        report = validate(raw, layer, suggest_mapping(raw.columns, layer, has_geometry=raw.has_geometry), ctx, crs=crs)
    except ImportRejected as exc:
        assert exc.issue.message
        return
    assert report.total == len(raw.frame) == len(report.rows)
    assert report.n_accepted == len(report.accepted)
    assert all(report.reasons[k] for k in report.reasons)
    assert set(report.rows.loc[report.rows["status"] == "rejected"].index) == set(report.reasons)
    json.loads(report.to_json())


PARTS = st.sampled_from(["..", ".", "a", "b.shp", "", "C:", "..\\x", "~", "中文"]) | st.text(alphabet=st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), min_size=1, max_size=6)
MEMBER_NAMES = st.tuples(st.lists(PARTS, min_size=1, max_size=5), st.sampled_from(["/", "\\"])).map(lambda t: t[1].join(t[0])).filter(lambda n: n.strip("/"))


@SETTINGS
@given(names=st.lists(MEMBER_NAMES, min_size=1, max_size=5, unique=True))
def test_archive_check_refuses_every_path_that_climbs_out(names):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n in names:
            zf.writestr(n, b"x")
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        try:
            infos = check_archive(zf)
        except ImportRejected as exc:
            assert exc.issue.code == "zip_unsafe"
            return
    for info in infos:
        parts = info.filename.replace("\\", "/").split("/")
        assert ".." not in parts and not info.filename.startswith(("/", "\\")) and not (len(info.filename) > 1 and info.filename[1] == ":")


@SETTINGS
@given(headers=st.lists(st.text(max_size=10), max_size=12, unique=True), layer=st.sampled_from(IMPORT_LAYERS))
def test_suggested_mapping_uses_existing_columns_once(headers, layer):
    mapping = suggest_mapping(headers, layer)
    used = [c for c in mapping.values() if c is not None]
    assert set(used) <= set(headers) and len(used) == len(set(used))


@SETTINGS
@given(text=st.text(max_size=30))
def test_normalisers_never_fail(text):
    normalise_header(text)
    assert normalise_department(text) in (None, "emergency", "fire", "police", "transport", "water", "weather", "natural_resources", "health")


def _valid_files() -> dict[str, bytes]:
    import tempfile
    from pathlib import Path

    import geopandas as gpd
    import shapely

    from tests.import_files import shapefile_zip, xlsx_bytes

    rows = [["编号", "名称", "责任部门", "经度", "纬度", "人数"], ["A1", "甲队", "消防", "121.47", "31.23", "12"], ["A2", "乙队", "水务", "120.5", "30.7", "8"]]
    gdf = gpd.GeoDataFrame({"编号": ["A1", "A2"], "名称": ["甲队", "乙队"], "责任部门": ["fire", "water"], "人数": [12, 8]},
                           geometry=[shapely.Point(121.47, 31.23), shapely.Point(120.5, 30.7)], crs=4326)
    with tempfile.TemporaryDirectory() as tmp:
        gdf.to_file(Path(tmp) / "a.gpkg", layer="teams", driver="GPKG")
        gpkg = (Path(tmp) / "a.gpkg").read_bytes()
    return {
        "a.csv": csv_bytes(rows, encoding="gbk"),
        "a.xlsx": xlsx_bytes({"teams": rows}),
        "a.geojson": gdf.to_json(ensure_ascii=False).encode(),
        "a.gpkg": gpkg,
        "a.zip": shapefile_zip(gdf, encoding="GBK", cpg=False),
    }


VALID_FILES = _valid_files()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(sorted(VALID_FILES)),
    cut=st.floats(min_value=0.05, max_value=1.0),
    flips=st.lists(st.tuples(st.floats(min_value=0, max_value=0.999), st.integers(0, 255)), max_size=6),
)
def test_damaged_real_files_never_crash(ctx, name, cut, flips):
    """Truncated and bit-damaged CSV, XLSX, GeoJSON, GeoPackage and zipped Shapefiles: read or refused, never a crash."""
    data = bytearray(VALID_FILES[name])
    for where, value in flips:
        data[int(where * len(data))] = value
    _read_and_check(bytes(data[: max(1, int(cut * len(data)))]), name, "teams", "auto", ctx)


def test_archive_check_refuses_any_drive_like_prefix():
    """Hypothesis found '0:' let through (only A–Z drive letters were refused)."""
    for name in ("0:", "0:x.shp", "中:a", "C:x"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(name, b"x")
        with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf, pytest.raises(ImportRejected) as exc:
            check_archive(zf)
        assert exc.value.issue.code == "zip_unsafe", name
