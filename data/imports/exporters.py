"""Export any layer or the whole dataset (GeoJSON, GeoPackage, CSV, XLSX), and write import templates.

An export holds the fields a user imports (see `data.imports.fields`), so that importing it again
gives back the same records: spatial formats carry the geometry (EPSG:4326), CSV and XLSX
carry ``lon``/``lat`` (or ``wkt`` for closures and townships).  Numbers keep their full precision; CSV
is UTF-8 with a byte-order mark so that Excel shows Chinese correctly; an unknown head
count is an empty cell, never 0.

Spreadsheets never receive formulas from users' text (OWASP "CSV injection"): in CSV a
text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
leading single quote (numbers, and text that is a plain number such as ``-3.5``, are left
as they are; the importer drops that quote again); in XLSX such text is stored as a string
cell with Excel's quote prefix, so it is shown, not evaluated.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from data.imports.fields import (
    IMPORT_LAYERS,
    LAYER_NAMES_ZH,
    POLYGON_LAYERS,
    TABLE_LAYERS,
    VALUE_WORDS,
    allowed_values,
    description,
    stored_fields,
    template_header,
)
from data.schema import POINT_LAYERS

EXPORT_FORMATS = ("geojson", "gpkg", "csv", "xlsx")
#: Formats that hold several layers (the whole dataset).
DATASET_FORMATS = ("gpkg", "xlsx")
TEMPLATE_FORMATS = ("xlsx", "csv")
TEMPLATE_LANGUAGES = ("zh", "en")
MEDIA_TYPES = {
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}
#: Longest text an XLSX cell holds.
_XLSX_CELL_MAX = 32_767
#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
#: Fields holding whole numbers: exported without a decimal point, empty when unknown.
_INTEGER_FIELDS = ("members", "capacity_persons")


class ExportError(ValueError):
    """An export that cannot be written; `code` and `params` say why (the page words it)."""

    def __init__(self, code: str, message: str, **params: object):
        self.code = code
        self.params = params
        super().__init__(message)


def _check(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        msg = f"`{name}` was {value!r} but is expected to be in {allowed}."
        raise ValueError(msg)


def neutralise(value: object) -> object:
    """`value` safe for a CSV cell: text that a spreadsheet would run as a formula gets a leading quote.

    Only text starting with one of `FORMULA_STARTS` is changed, unless it is a plain number
    ('-3.5', '+86' is not one); non-text values are returned as they are.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_csv(frame: pd.DataFrame) -> bytes:
    """`frame` as CSV for Excel (UTF-8 with byte-order mark), text cells neutralised against formula injection."""
    out = pd.DataFrame(frame, copy=True)
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return ("\ufeff" + out.to_csv(index=False, lineterminator="\n")).encode("utf-8")


def export_fields(layer: str, *, spatial: bool) -> list[str]:
    """Columns written for `layer`: its stored import fields, without lon/lat/wkt when the format has a geometry."""
    return [f.name for f in stored_fields(layer) if not (spatial and f.name in ("lon", "lat", "wkt"))]


def layer_frame(store, layer: str, *, origin: str | None = None) -> pd.DataFrame:
    """Records of `layer` from `store` (imports included), optionally only those of one `origin` ('base' or an import id)."""
    _check(layer, IMPORT_LAYERS, "layer")
    if layer in POINT_LAYERS:
        frame = store.layer(layer)
    elif layer in TABLE_LAYERS:
        frame = store.table(layer)
    elif layer == "townships":
        frame = store.townships()
    else:
        frame = store.closures()
    if origin is not None:
        frame = frame[frame["origin"] == origin]
    return frame.reset_index(drop=True)


def _whole_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Head counts and capacities as nullable integers (a float column from NULLs would print 12.0)."""
    for col in _INTEGER_FIELDS:
        if col in frame:
            frame[col] = pd.to_numeric(frame[col]).round().astype("Int64")
    return frame


def _flat(frame: pd.DataFrame, layer: str) -> pd.DataFrame:
    """The layer as a plain table: import fields, polygons (closures, townships) as WKT."""
    out = pd.DataFrame(frame.drop(columns=["geometry"], errors="ignore"))
    if layer in POLYGON_LAYERS:
        out["wkt"] = shapely.to_wkt(frame.geometry.values, rounding_precision=-1) if len(frame) else pd.Series(dtype=object)
    return _whole_numbers(pd.DataFrame(out[export_fields(layer, spatial=False)]))


def _spatial(frame: pd.DataFrame, layer: str) -> pd.DataFrame:
    cols = export_fields(layer, spatial=True)
    attrs = _whole_numbers(pd.DataFrame(frame[cols]))
    if layer in TABLE_LAYERS:
        return attrs
    return gpd.GeoDataFrame(attrs, geometry=frame.geometry.values, crs=4326)


def _xlsx(sheets: dict[str, pd.DataFrame]) -> bytes:
    """One sheet per frame; text is written as text (string cells, formula-like ones with a quote prefix)."""
    for name, frame in sheets.items():
        for col in frame.columns:
            if frame[col].dtype == object and (frame[col].astype(str).str.len() > _XLSX_CELL_MAX).any():
                msg = f"`{name}.{col}` has values longer than an XLSX cell holds ({_XLSX_CELL_MAX:,} characters); export as GeoPackage or GeoJSON."
                raise ExportError("xlsx_cell", msg, sheet=name, column=col, limit=_XLSX_CELL_MAX)
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name[:31], index=False)
            for row in writer.sheets[name[:31]].iter_rows():
                for cell in row:
                    if isinstance(cell.value, str) and (cell.data_type == "f" or cell.value.startswith(FORMULA_STARTS)):
                        cell.data_type = "s"  # openpyxl takes any text starting with '=' for a formula
                        cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
    return buf.getvalue()


def _geojson(frame: pd.DataFrame) -> bytes:
    geoms = frame.geometry.values if isinstance(frame, gpd.GeoDataFrame) else [None] * len(frame)
    props = pd.DataFrame(frame.drop(columns=["geometry"], errors="ignore"))
    records = props.astype(object).where(props.notna(), None).to_dict("records")
    features = [
        {"type": "Feature", "properties": rec, "geometry": None if g is None else shapely.geometry.mapping(g)}
        for rec, g in zip(records, geoms, strict=True)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, allow_nan=False).encode("utf-8")


def _gpkg(layers: dict[str, pd.DataFrame]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.gpkg"
        for name, frame in layers.items():
            # Polygons and multipolygons keep their own type (no promotion), so they come back as they went.
            kwargs = {"geometry_type": "Unknown", "promote_to_multi": False} if name in POLYGON_LAYERS else {}
            pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG", **kwargs)
        return path.read_bytes()


def export_layer(store, layer: str, fmt: str, *, origin: str | None = None) -> bytes:
    """The records of `layer` (imports included; only one `origin` if given) as a file in `fmt`.

    Raises
    ------
    ExportError
        For closures too detailed for an XLSX cell (code 'xlsx_cell').
    ValueError
        For an unknown `layer` or `fmt`.
    """
    _check(fmt, EXPORT_FORMATS, "fmt")
    frame = layer_frame(store, layer, origin=origin)
    if fmt == "csv":
        return safe_csv(_flat(frame, layer))
    if fmt == "xlsx":
        return _xlsx({layer: _flat(frame, layer)})
    if fmt == "geojson":
        return _geojson(_spatial(frame, layer))
    return _gpkg({layer: _spatial(frame, layer)})


def export_dataset(store, fmt: str) -> bytes:
    """Every importable layer and the provenance in one file: GeoPackage (with the
    jurisdiction outlines) or XLSX (one sheet per layer, no outlines)."""
    _check(fmt, DATASET_FORMATS, "fmt")
    frames = {layer: layer_frame(store, layer) for layer in IMPORT_LAYERS}
    provenance = store.table("provenance")
    if fmt == "xlsx":
        return _xlsx({**{k: _flat(v, k) for k, v in frames.items()}, "provenance": provenance})
    jur = store.jurisdictions(detail="full")[["code", "name", "level", "parent_code", "area_km2", "geometry"]]
    return _gpkg({**{k: _spatial(v, k) for k, v in frames.items()}, "provenance": provenance, "jurisdictions": jur})


def file_name(layer: str, fmt: str) -> str:
    """Download name of an export: ``teams.geojson``; the whole dataset is ``yrd-dataset.gpkg``."""
    return f"{'yrd-dataset' if layer == 'all' else layer}.{fmt}"


def template_name(layer: str, fmt: str, *, lang: str = "zh") -> str:
    """Download name of a template: ``救援队伍-导入模板.xlsx`` (Chinese), ``teams-template.csv`` (English)."""
    return f"{LAYER_NAMES_ZH[layer]}-导入模板.{fmt}" if lang == "zh" else f"{layer}-template.{fmt}"


#: One example row per layer, by field (Chinese template): names, Chinese words for codes, a county by name.
#: Positions lie in the county given; the stockpile of the inventory row is a sample stockpile.
EXAMPLES_ZH: dict[str, dict[str, object]] = {
    "projects": {"name": "示例：嘉善县城际铁路站", "kind": "铁路", "department": "交通运输", "owner": "嘉兴市交通投资集团", "county_code": "嘉善县", "lon": 120.9260, "lat": 30.8420, "status": "在建"},
    "bases": {"name": "示例：嘉善县水域救援基地", "kind": "水域救援", "department": "消防救援", "owner": "嘉兴市消防救援支队", "county_code": "嘉善县", "lon": 120.9230, "lat": 30.8380},
    "teams": {"name": "示例：嘉善县消防救援大队", "kind": "消防救援队伍", "department": "消防救援", "owner": "嘉兴市消防救援支队", "county_code": "嘉善县", "lon": 120.9210, "lat": 30.8410, "members": 35},
    "stockpiles": {"name": "示例：嘉善县防汛物资仓库", "kind": "防汛物资", "department": "水利", "owner": "嘉善县水利局", "county_code": "嘉善县", "lon": 120.9300, "lat": 30.8350},
    "hazards": {"name": "示例：嘉善县某化工企业", "kind": "危化品企业", "department": "应急管理", "owner": "嘉善县应急管理局", "county_code": "嘉善县", "lon": 120.9500, "lat": 30.8600, "risk_level": "较大"},
    "shelters": {"name": "示例：嘉善县体育中心避难场所", "kind": "室内避难场所", "department": "应急管理", "owner": "嘉善县应急管理局", "county_code": "嘉善县", "lon": 120.9150, "lat": 30.8300, "capacity_persons": 3000},
    "inventory": {"stockpile_id": "S001", "material": "示例：救生圈", "unit": "个", "quantity": 50},
    "contacts": {"department": "应急管理", "jurisdiction_code": "嘉善县", "unit": "嘉善县应急管理局", "role": "值班室", "duty_phone": "0573-0000-0000"},
    "closures": {"name": "示例：嘉善县某路段封闭", "reason": "道路积水", "wkt": "POLYGON ((120.92 30.84, 120.93 30.84, 120.93 30.845, 120.92 30.845, 120.92 30.84))"},
    "townships": {"name": "示例：嘉善县某街道", "code": "330421900000", "county_code": "嘉善县",
                  "wkt": "POLYGON ((120.90 30.83, 120.94 30.83, 120.94 30.86, 120.90 30.86, 120.90 30.83))"},
}
#: What the English template's example rows write in codes where the Chinese ones have words.
_EXAMPLE_CODES: dict[str, dict[str, str]] = {
    "projects": {"kind": "rail", "department": "transport", "county_code": "330421", "status": "construction"},
    "bases": {"kind": "water_rescue", "department": "fire", "county_code": "330421"},
    "teams": {"kind": "fire", "department": "fire", "county_code": "330421"},
    "stockpiles": {"kind": "flood_control", "department": "water", "county_code": "330421"},
    "hazards": {"kind": "hazchem_plant", "department": "emergency", "county_code": "330421", "risk_level": "high"},
    "shelters": {"kind": "indoor", "department": "emergency", "county_code": "330421"},
    "inventory": {},
    "contacts": {"department": "emergency", "jurisdiction_code": "330421"},
    "closures": {},
    "townships": {"county_code": "330421"},
}


def _example(layer: str, lang: str) -> dict[str, object]:
    row = dict(EXAMPLES_ZH[layer])
    if lang == "en":
        row.update(_EXAMPLE_CODES[layer])
        for key in ("name", "material"):
            if key in row:
                row[key] = str(row[key]).replace("示例：", "Example: ")
    return row


def _choices(layer: str, name: str, lang: str) -> str:
    """The values a coded field takes, for the template's notes: Chinese words (and the codes) or codes."""
    codes = allowed_values(layer, name)
    if not codes or lang == "en":
        return ", ".join(codes)
    words = [next((w for w, c in VALUE_WORDS.get((layer, name), ()) if c == code), code) for code in codes]
    return f"{'、'.join(words)}（也可填代码 {'、'.join(codes)}）"


def template(layer: str, fmt: str, *, lang: str = "zh") -> bytes:
    """A file to fill in for `layer`: the header row and one example row to replace (CSV), plus a
    sheet describing each field (XLSX).  `lang` 'zh' gives Chinese column names (名称, 经度, 所属区县 …)
    and Chinese words in the example; 'en' the field names and codes.  Either maps back by itself.
    """
    _check(fmt, TEMPLATE_FORMATS, "fmt")
    _check(lang, TEMPLATE_LANGUAGES, "lang")
    _check(layer, IMPORT_LAYERS, "layer")
    names = export_fields(layer, spatial=False)
    example = _example(layer, lang)
    sheet = pd.DataFrame([[example.get(n, "") for n in names]], columns=[template_header(layer, n, lang) for n in names])
    if fmt == "csv":
        return safe_csv(sheet)
    zh = lang == "zh"
    notes = pd.DataFrame(
        [
            {
                ("列名" if zh else "column"): template_header(layer, f.name, lang),
                ("字段" if zh else "field"): f.name,
                ("必填" if zh else "required"): ("是" if f.required else "否") if zh else ("yes" if f.required else "no"),
                ("说明" if zh else "description"): description(layer, f.name)[0 if zh else 1],
                ("可选值" if zh else "codes"): _choices(layer, f.name, lang),
            }
            for f in stored_fields(layer)
        ]
    )
    remark = "第 2 行是示例，请替换或删除后再导入。" if zh else "Row 2 is an example: replace or delete it before importing."
    notes = pd.concat([notes, pd.DataFrame([{notes.columns[0]: remark}])], ignore_index=True).fillna("")
    return _xlsx({(LAYER_NAMES_ZH[layer] if zh else layer): sheet, ("说明" if zh else "notes"): notes})
