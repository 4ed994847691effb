"""Exports: every format round-trips (re-importing an export gives back the same records); whole dataset; templates."""

from __future__ import annotations

import dataclasses
import io
import re

import numpy as np
import pandas as pd
import pytest
import shapely

from data.imports.exporters import EXPORT_FORMATS, export_dataset, export_fields, export_layer, file_name, neutralise, template
from data.imports.fields import IMPORT_LAYERS, LAYER_NAMES_ZH, allowed_values, fields, suggest_mapping, template_header
from data.imports.importers import ImportContext, ImportRejected, commit, validate
from data.imports.readers import read_table
from data.dataset.store import Store
from data.storage.workspace import Workspace
from tests.import_files import csv_bytes, team_rows
from tests.people import People, cheap_accounts


@pytest.fixture(scope="module")
def ctx(store):
    return ImportContext.from_store(store)


def _signed_in(ws):
    """(accounts, session) of a data administrator of 上海市, where these tests' records lie."""
    accounts = cheap_accounts(ws)
    return accounts, People(accounts).sign_in("sh_admin", "natural_resources", "310000", "data_admin")


def _reimport(data: bytes, name: str, layer: str, ctx):
    raw = read_table(data, name, prefer=layer)
    report = validate(raw, layer, suggest_mapping(raw.columns, layer, has_geometry=raw.has_geometry), ctx)
    assert not report.reasons, list(report.reasons.items())[:3]
    return report


def _same_records(report, original: pd.DataFrame, layer: str) -> None:
    cols = export_fields(layer, spatial=False)
    cols = [c for c in cols if c != "wkt"]
    got = report.accepted[cols].reset_index(drop=True)
    want = original[cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    if "geom_wkb" in report.accepted:
        geoms = shapely.from_wkb(report.accepted["geom_wkb"])
        assert shapely.equals_exact(geoms, original.geometry.values, tolerance=0).all()


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
@pytest.mark.parametrize("layer", ["teams", "shelters", "hazards", "inventory", "contacts"])
def test_each_format_round_trips_the_base_layer(store, ctx, layer, fmt):
    original = store.layer(layer) if layer not in ("inventory", "contacts") else store.table(layer)
    data = export_layer(store, layer, fmt)
    # re-import into a store that does not have these ids yet
    fresh = dataclasses.replace(ctx, ids={k: v for k, v in ctx.ids.items() if k != layer})
    report = _reimport(data, file_name(layer, fmt), layer, fresh)
    assert report.total == len(original)
    _same_records(report, original, layer)
    assert not [w for w in report.warnings if w.code == "unmapped_columns"]


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_imported_records_round_trip_through_the_store(dataset, store, tmp_path, fmt):
    """Import → export that import → remove it → import the export: the store holds the same records."""
    teams = team_rows(store, 5)
    teams.loc[0, "name"] = "<script>alert(1)</script> 队, \"引号\"\n换行"
    closures = [["id", "name", "reason", "wkt"], ["C1", "封闭一", "施工", "POLYGON ((121.4 31.2, 121.41 31.2, 121.41 31.21, 121.4 31.2))"],
                ["C2", "封闭二", "", "MULTIPOLYGON (((121.5 31.2, 121.51 31.2, 121.51 31.21, 121.5 31.2)), ((121.6 31.2, 121.61 31.2, 121.61 31.21, 121.6 31.2)))"]]
    with Workspace(tmp_path / "ws.duckdb") as ws, Store(dataset, workspace=ws) as st:
        accounts, me = _signed_in(ws)
        for layer, data in (("teams", csv_bytes([list(teams.columns), *teams.astype(str).to_numpy().tolist()])), ("closures", csv_bytes(closures))):
            first = _reimport(data, "a.csv", layer, ImportContext.from_store(st))
            import_id = commit(first, ws, mode="all", by=me, accounts=accounts)
            before = _records(st, layer)
            exported = export_layer(st, layer, fmt, origin=import_id)
            ws.remove(import_id)
            again = _reimport(exported, file_name(layer, fmt), layer, ImportContext.from_store(st))
            commit(again, ws, mode="all", by=me, accounts=accounts)
            assert _records(st, layer) == before


def _records(st: Store, layer: str) -> list[dict]:
    frame = st.closures() if layer == "closures" else st.layer(layer)
    frame = frame[frame["origin"] != "base"]
    out = pd.DataFrame(frame.drop(columns=["origin", "geometry"]))
    out["wkt"] = shapely.to_wkt(frame.geometry.values, rounding_precision=-1)
    return out.to_dict("records")


def test_whole_dataset_as_geopackage_and_xlsx(store, ctx):
    import pyogrio
    import openpyxl

    gpkg = export_dataset(store, "gpkg")
    raw = read_table(gpkg, "yrd-dataset.gpkg", prefer="teams")
    assert set(raw.sources) == {*IMPORT_LAYERS, "provenance", "jurisdictions"}
    fresh = dataclasses.replace(ctx, ids={k: v for k, v in ctx.ids.items() if k != "teams"})
    _same_records(_reimport(gpkg, "yrd-dataset.gpkg", "teams", fresh), store.layer("teams"), "teams")
    with pyogrio_tmp(gpkg) as path:
        jur = pyogrio.read_dataframe(path, layer="jurisdictions")
    assert jur["level"].value_counts().to_dict() == {"county": 305, "city": 41, "province": 4}

    xlsx = export_dataset(store, "xlsx")
    book = openpyxl.load_workbook(io.BytesIO(xlsx), read_only=True)
    assert book.sheetnames == [*IMPORT_LAYERS, "provenance"]
    book.close()
    fresh = dataclasses.replace(ctx, ids={k: v for k, v in ctx.ids.items() if k != "shelters"})
    _same_records(_reimport(xlsx, "yrd-dataset.xlsx", "shelters", fresh), store.layer("shelters"), "shelters")
    with pytest.raises(ValueError, match="`fmt` was 'csv'"):
        export_dataset(store, "csv")


class pyogrio_tmp:  # noqa: N801 (a small context manager)
    def __init__(self, data: bytes):
        import tempfile

        self._dir = tempfile.TemporaryDirectory()
        self.path = f"{self._dir.name}/x.gpkg"
        with open(self.path, "wb") as fh:
            fh.write(data)

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *exc) -> None:
        self._dir.cleanup()


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("layer", IMPORT_LAYERS)
def test_templates_have_headers_in_the_language_and_an_example_row_that_imports(store, ctx, layer, lang):
    """Templates: Chinese (or English) column names that map back to their fields, and one valid example row."""
    stored = [f.name for f in fields(layer) if f.stored]
    for fmt in ("csv", "xlsx"):
        raw = read_table(template(layer, fmt, lang=lang), f"t.{fmt}", prefer=layer)
        assert raw.columns == [template_header(layer, n, lang) for n in stored]
        if lang == "zh":
            assert not any(re.search("[A-Za-z]", c) for c in raw.columns), raw.columns  # 名称, 经度, 所属区县 …
            assert raw.source in (None, LAYER_NAMES_ZH[layer])
        mapping = suggest_mapping(raw.columns, layer)
        assert {k: v for k, v in mapping.items() if v} == {n: template_header(layer, n, lang) for n in stored}
        report = validate(raw, layer, mapping, ctx)
        assert report.total == 1 and not report.reasons, report.reasons  # the example row is valid as it stands
        if "county_code" in report.accepted:
            assert report.accepted["county_code"].tolist() == ["330421"]  # 嘉善县 by name (zh) or by code (en)
        if lang == "zh" and "kind" in report.accepted:
            assert report.accepted["kind"].iat[0] in allowed_values(layer, "kind")  # a Chinese word read as its code
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(template(layer, "xlsx", lang=lang)), read_only=True)
    assert book.sheetnames == ([LAYER_NAMES_ZH[layer], "说明"] if lang == "zh" else [layer, "notes"])
    notes = list(book[book.sheetnames[1]].iter_rows(values_only=True))
    book.close()
    assert notes[0][:2] == (("列名", "字段") if lang == "zh" else ("column", "field"))
    assert [r[1] for r in notes[1:-1]] == stored and all(r[3] for r in notes[1:-1])  # a description for every field
    assert "示例" in notes[-1][0] if lang == "zh" else "example" in notes[-1][0]


def test_the_cli_template_is_the_chinese_one(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = tmp_path / "队伍.csv"
    done = subprocess.run([sys.executable, "-m", "data", "template", "--layer", "teams", "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == template("teams", "csv", lang="zh")
    assert out.read_text(encoding="utf-8-sig").splitlines()[0] == "编号,名称,类型,所属部门,权属单位,所属区县,经度,纬度,队员人数,所属基地编号,数据性质"
    english = tmp_path / "teams.csv"
    done = subprocess.run([sys.executable, "-m", "data", "template", "--layer", "teams", "--out", str(english), "--lang", "en"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert english.read_bytes() == template("teams", "csv", lang="en") != out.read_bytes()


def test_a_template_filled_in_imports(store, ctx):
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(template("shelters", "xlsx")))
    sheet = book[LAYER_NAMES_ZH["shelters"]]
    sheet.delete_rows(2)  # the example row
    good = team_rows(store, 1).iloc[0]
    sheet.append(["SH900", "新建避难场所", "室外", "应急管理", "某街道", "", good.lon, good.lat, 1200, ""])
    buf = io.BytesIO()
    book.save(buf)
    report = _reimport(buf.getvalue(), "shelters.xlsx", "shelters", ctx)
    assert report.total == 1
    rec = report.accepted.iloc[0]
    assert (rec["kind"], rec["department"], rec["capacity_persons"], rec["county_code"]) == ("outdoor", "emergency", 1200, good.county_code)


def test_xlsx_refuses_cells_it_cannot_hold(store, tmp_path, dataset):
    ring = [(121.4 + 0.01 * np.cos(a), 31.2 + 0.01 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 1500)]
    wkt = shapely.Polygon(ring).wkt
    with Workspace(tmp_path / "ws.duckdb") as ws, Store(dataset, workspace=ws) as st:
        accounts, me = _signed_in(ws)
        commit(_reimport(csv_bytes([["id", "name", "wkt"], ["C1", "大", wkt]]), "a.csv", "closures", ImportContext.from_store(st)), ws, by=me, accounts=accounts)
        with pytest.raises(ValueError, match="longer than an XLSX cell holds .* export as GeoPackage or GeoJSON"):
            export_layer(st, "closures", "xlsx")
        assert export_layer(st, "closures", "gpkg")
    with pytest.raises(ValueError, match="`fmt` was 'shp'"):
        export_layer(store, "teams", "shp")


#: Text a spreadsheet would run as a formula (OWASP CSV injection), and text that only looks like it.
FORMULAS = ['=HYPERLINK("http://x";"y")', "+SUM(1,2)", "-2+3", "@SUM(A1)", "=1+1"]


def test_neutralise_quotes_formula_text_and_leaves_numbers():
    assert [neutralise(v) for v in [*FORMULAS, "\tTAB", "\r=1"]] == ["'" + v for v in [*FORMULAS, "\tTAB", "\r=1"]]
    assert [neutralise(v) for v in ("-3.5", "+12", "1e5", "正常名称", "a=b", "")] == ["-3.5", "+12", "1e5", "正常名称", "a=b", ""]
    assert neutralise(-3.5) == -3.5 and neutralise(None) is None


def test_exports_store_formula_text_as_text(dataset, tmp_path):
    """A team named =HYPERLINK(...) exports as a string cell in XLSX and with a leading quote in CSV; numbers stay numbers."""
    import csv as csv_module

    import openpyxl

    rows = [["名称", "所属部门", "权属单位", "经度", "纬度", "队员人数"]]
    rows += [[name, "消防救援", FORMULAS[(k + 1) % len(FORMULAS)], f"{121.0 + k * 0.01:.4f}", "31.10", "-0"] for k, name in enumerate(FORMULAS)]  # in 青浦区 (上海市)
    with Workspace(tmp_path / "ws.duckdb") as ws, Store(dataset, workspace=ws) as st:
        accounts, me = _signed_in(ws)
        report = _reimport(csv_bytes(rows), "f.csv", "teams", ImportContext.from_store(st))
        assert report.accepted["name"].tolist() == FORMULAS  # stored as given
        import_id = commit(report, ws, by=me, accounts=accounts)

        book = openpyxl.load_workbook(io.BytesIO(export_layer(st, "teams", "xlsx", origin=import_id)))
        sheet = book["teams"]
        header = [c.value for c in sheet[1]]
        cells = {name: [row[header.index(name)] for row in sheet.iter_rows(min_row=2)] for name in ("name", "owner", "lon", "members")}
        assert [c.value for c in cells["name"]] == FORMULAS
        assert {c.data_type for c in cells["name"] + cells["owner"]} == {"s"}  # text, never 'f' (a formula)
        assert all(c.quotePrefix for c in cells["name"])
        assert {c.data_type for c in cells["lon"] + cells["members"]} == {"n"} and cells["members"][0].value == 0

        text = export_layer(st, "teams", "csv", origin=import_id).decode("utf-8-sig")
        records = list(csv_module.DictReader(io.StringIO(text)))
        assert [r["name"] for r in records] == ["'" + v for v in FORMULAS]
        assert [float(r["lon"]) for r in records] == [float(f"{121.0 + k * 0.01:.4f}") for k in range(len(FORMULAS))]
        assert not any(r["lon"].startswith("'") or r["members"].startswith("'") for r in records)  # numbers untouched
        assert {r["members"] for r in records} == {"0"}
        assert '"=HYPERLINK' not in text and "\n=" not in text and ",=" not in text

        ws.remove(import_id)
        again = _reimport(text.encode("utf-8-sig"), "teams.csv", "teams", ImportContext.from_store(st))
        assert again.accepted["name"].tolist() == FORMULAS  # the escaping quote is dropped on import


def test_an_unknown_head_count_exports_as_an_empty_cell(dataset, tmp_path):
    rows = [["名称", "所属部门", "经度", "纬度", "队员人数"], ["甲队", "消防", "121.10", "31.15", "12"], ["乙队", "消防", "121.11", "31.15", ""]]
    with Workspace(tmp_path / "ws.duckdb") as ws, Store(dataset, workspace=ws) as st:
        accounts, me = _signed_in(ws)
        import_id = commit(_reimport(csv_bytes(rows), "f.csv", "teams", ImportContext.from_store(st)), ws, by=me, accounts=accounts)
        members = st.layer("teams").set_index("name")["members"]
        assert members["甲队"] == 12 and pd.isna(members["乙队"])  # unknown, not 0
        text = export_layer(st, "teams", "csv", origin=import_id).decode("utf-8-sig")
        assert [r["members"] for r in __import__("csv").DictReader(io.StringIO(text))] == ["12", ""]
        import openpyxl

        sheet = openpyxl.load_workbook(io.BytesIO(export_layer(st, "teams", "xlsx", origin=import_id)))["teams"]
        col = [c.value for c in sheet[1]].index("members")
        assert [row[col].value for row in sheet.iter_rows(min_row=2)] == [12, None]
        geojson = __import__("json").loads(export_layer(st, "teams", "geojson", origin=import_id))
        assert [f["properties"]["members"] for f in geojson["features"]] == [12, None]
