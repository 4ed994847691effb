"""Exports: every format round-trips (re-importing an export gives back the same records); whole dataset; templates."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pandas as pd
import pytest
import shapely

from data.exporters import EXPORT_FORMATS, export_dataset, export_fields, export_layer, file_name, template
from data.fields import IMPORT_LAYERS, fields, suggest_mapping
from data.importers import ImportContext, ImportRejected, commit, validate
from data.readers import read_table
from data.store import Store
from data.workspace import Workspace
from tests.import_files import csv_bytes, team_rows


@pytest.fixture(scope="module")
def ctx(store):
    return ImportContext.from_store(store)


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
        for layer, data in (("teams", csv_bytes([list(teams.columns), *teams.astype(str).to_numpy().tolist()])), ("closures", csv_bytes(closures))):
            first = _reimport(data, "a.csv", layer, ImportContext.from_store(st))
            import_id = commit(first, ws, mode="all", who="me")
            before = _records(st, layer)
            exported = export_layer(st, layer, fmt, origin=import_id)
            ws.remove(import_id)
            again = _reimport(exported, file_name(layer, fmt), layer, ImportContext.from_store(st))
            commit(again, ws, mode="all", who="me")
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


@pytest.mark.parametrize("layer", IMPORT_LAYERS)
def test_templates_name_every_field_and_map_to_themselves(layer):
    for fmt in ("csv", "xlsx"):
        data = template(layer, fmt)
        with pytest.raises(ImportRejected, match="holds no data rows"):
            validate(read_table(data, f"t.{fmt}", prefer=layer), layer, {}, None)
        header = [f.name for f in fields(layer)]
        assert suggest_mapping(header, layer) == {h: h for h in header}
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(template(layer, "xlsx")), read_only=True)
    notes = list(book["说明"].iter_rows(values_only=True))
    book.close()
    assert notes[0][0] == "字段 field" and [r[0] for r in notes[1:]] == [f.name for f in fields(layer)]
    assert all(r[2] for r in notes[1:])  # a Chinese description for every field


def test_a_template_filled_in_imports(store, ctx):
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(template("shelters", "xlsx")))
    good = team_rows(store, 1).iloc[0]
    book["shelters"].append(["SH900", "新建避难场所", "室外", "应急管理", "某街道", "", good.lon, good.lat, 1200, ""])
    buf = io.BytesIO()
    book.save(buf)
    report = _reimport(buf.getvalue(), "shelters.xlsx", "shelters", ctx)
    rec = report.accepted.iloc[0]
    assert (rec["kind"], rec["department"], rec["capacity_persons"], rec["county_code"]) == ("outdoor", "emergency", 1200, good.county_code)


def test_xlsx_refuses_cells_it_cannot_hold(store, tmp_path, dataset):
    ring = [(121.4 + 0.01 * np.cos(a), 31.2 + 0.01 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 1500)]
    wkt = shapely.Polygon(ring).wkt
    with Workspace(tmp_path / "ws.duckdb") as ws, Store(dataset, workspace=ws) as st:
        commit(_reimport(csv_bytes([["id", "name", "wkt"], ["C1", "大", wkt]]), "a.csv", "closures", ImportContext.from_store(st)), ws, who="me")
        with pytest.raises(ValueError, match="longer than an XLSX cell holds .* export as GeoPackage or GeoJSON"):
            export_layer(st, "closures", "xlsx")
        assert export_layer(st, "closures", "gpkg")
    with pytest.raises(ValueError, match="`fmt` was 'shp'"):
        export_layer(store, "teams", "shp")
