"""Export any layer or the whole dataset (GeoJSON, GeoPackage, CSV, XLSX), and write import templates.

An export holds the fields a user imports (see `data.fields`), so that importing it again
gives back the same records: spatial formats carry the geometry (EPSG:4326), CSV and XLSX
carry ``lon``/``lat`` (or ``wkt`` for closures).  Numbers keep their full precision; CSV
is UTF-8 with a byte-order mark so that Excel shows Chinese correctly.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from data.fields import DESCRIPTIONS, IMPORT_LAYERS, POLYGON_LAYERS, TABLE_LAYERS, allowed_values, fields
from data.store import POINT_LAYERS

EXPORT_FORMATS = ("geojson", "gpkg", "csv", "xlsx")
#: Formats that hold several layers (the whole dataset).
DATASET_FORMATS = ("gpkg", "xlsx")
TEMPLATE_FORMATS = ("xlsx", "csv")
MEDIA_TYPES = {
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}
#: Longest text an XLSX cell holds.
_XLSX_CELL_MAX = 32_767


def _check(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        msg = f"`{name}` was {value!r} but is expected to be in {allowed}."
        raise ValueError(msg)


def export_fields(layer: str, *, spatial: bool) -> list[str]:
    """Columns written for `layer`: its import fields, without lon/lat/wkt when the format has a geometry."""
    return [f.name for f in fields(layer) if not (spatial and f.name in ("lon", "lat", "wkt"))]


def layer_frame(store, layer: str, *, origin: str | None = None) -> pd.DataFrame:
    """Records of `layer` from `store` (imports included), optionally only those of one `origin` ('base' or an import id)."""
    _check(layer, IMPORT_LAYERS, "layer")
    if layer in POINT_LAYERS:
        frame = store.layer(layer)
    elif layer in TABLE_LAYERS:
        frame = store.table(layer)
    else:
        frame = store.closures()
    if origin is not None:
        frame = frame[frame["origin"] == origin]
    return frame.reset_index(drop=True)


def _flat(frame: pd.DataFrame, layer: str) -> pd.DataFrame:
    """The layer as a plain table: import fields, closures' geometry as WKT."""
    out = pd.DataFrame(frame.drop(columns=["geometry"], errors="ignore"))
    if layer in POLYGON_LAYERS:
        out["wkt"] = shapely.to_wkt(frame.geometry.values, rounding_precision=-1) if len(frame) else pd.Series(dtype=object)
    return out[export_fields(layer, spatial=False)]


def _spatial(frame: pd.DataFrame, layer: str) -> pd.DataFrame:
    cols = export_fields(layer, spatial=True)
    if layer in TABLE_LAYERS:
        return pd.DataFrame(frame[cols])
    return gpd.GeoDataFrame(frame[cols], geometry=frame.geometry.values, crs=4326)


def _csv(frame: pd.DataFrame) -> bytes:
    return ("\ufeff" + frame.to_csv(index=False, lineterminator="\n")).encode("utf-8")


def _xlsx(sheets: dict[str, pd.DataFrame]) -> bytes:
    for name, frame in sheets.items():
        for col in frame.columns:
            if frame[col].dtype == object and (frame[col].astype(str).str.len() > _XLSX_CELL_MAX).any():
                msg = f"`{name}.{col}` has values longer than an XLSX cell holds ({_XLSX_CELL_MAX:,} characters); export as GeoPackage or GeoJSON."
                raise ValueError(msg)
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name[:31], index=False)
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
    ValueError
        For an unknown `layer` or `fmt`, or closures too detailed for an XLSX cell.
    """
    _check(fmt, EXPORT_FORMATS, "fmt")
    frame = layer_frame(store, layer, origin=origin)
    if fmt == "csv":
        return _csv(_flat(frame, layer))
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


def template(layer: str, fmt: str) -> bytes:
    """An empty file to fill in for `layer`: the header row (CSV), plus a 说明 sheet describing each field (XLSX)."""
    _check(fmt, TEMPLATE_FORMATS, "fmt")
    header = pd.DataFrame(columns=export_fields(layer, spatial=False))
    if fmt == "csv":
        return _csv(header)
    notes = pd.DataFrame(
        [
            {
                "字段 field": f.name,
                "必填 required": "是 yes" if f.required else "否 no",
                "说明": DESCRIPTIONS.get(f.name, (f.name, f.name))[0],
                "description": DESCRIPTIONS.get(f.name, (f.name, f.name))[1],
                "可选值 codes": ", ".join(allowed_values(layer, f.name)),
            }
            for f in fields(layer)
        ]
    )
    return _xlsx({layer: header, "说明": notes})
