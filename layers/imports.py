"""What the data-management page shows: issues and reports in the user's language, imports, closure and township outlines.

An issue's parameters are worded in the user's language too: field codes become field names
(members → 队员人数), levels, layers, geometry types, origins and CRS codes their labels,
empty values "—", and the English details that libraries give (GDAL, GEOS, parsers) a
sentence of our own, so a Chinese message carries no English fragment.
"""

from __future__ import annotations

import math
import re

import geopandas as gpd
import pandas as pd
import pydeck as pdk
import shapely

from layers.labels import LABELS, label_or, t

_CLOSURE_FILL = (200, 30, 30, 90)
_CLOSURE_LINE = (200, 30, 30, 255)
_TOWNSHIP_FILL = (40, 110, 200, 30)
_TOWNSHIP_LINE = (20, 70, 160, 230)


#: CRS codes of the importer as people name them.
CRS_NAMES = {"wgs84": "WGS84", "gcj02": "GCJ-02", "bd09": "BD-09", "auto": "auto"}
_GEOS_REASON = re.compile(r"^(?P<reason>[A-Za-z \-]+?)\s*\[(?P<where>[-\d.eE ]+)\]?$")
_LABEL_PREFIX = {"kind": "kind", "status": "status", "risk_level": "risk"}


def crs_name(crs: object) -> str:
    """'GCJ-02' for 'gcj02'; an EPSG code or WKT as it is; '—' for none."""
    if crs is None or crs == "" or (isinstance(crs, float) and math.isnan(crs)):
        return "—"
    return CRS_NAMES.get(str(crs), str(crs))


def _blank(value: object) -> bool:
    try:
        return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


def _detail(params: dict, lang: str, *, geometry: bool) -> str:
    """A library's or parser's detail (English) in `lang`: by its `why` code, a GEOS reason, or a general sentence."""
    why = params.get("why")
    if why and f"imp.why.{why}" in LABELS:
        return t(f"imp.why.{why}", lang, **{k: v for k, v in params.items() if k != "why"})
    detail = str(params.get("detail", ""))
    found = _GEOS_REASON.match(detail)
    if found and f"imp.geos.{found['reason']}" in LABELS:
        where = found["where"].strip()
        return t(f"imp.geos.{found['reason']}", lang) + (f"（{where}）" if lang == "zh" else f" ({where})")
    if lang == "en" and detail:
        return detail
    return t("imp.why.invalid" if geometry else "imp.why.damaged", lang)


def issue_params(issue, lang: str) -> dict[str, object]:
    """The parameters of `issue` worded for `lang` (see the module docstring)."""
    params = dict(issue.params)
    out: dict[str, object] = {}
    for name, value in params.items():
        if _blank(value):
            out[name] = "—"
        elif name in ("field", "other") and f"imp.field.{value}" in LABELS:
            out[name] = t(f"imp.field.{value}", lang)
        elif name == "level":
            out[name] = t(f"level.{value}", lang)
        elif name in ("target", "layer") and f"layer.{value}" in LABELS:
            out[name] = layer_label(str(value), lang)
        elif name == "origin":
            out[name] = t("imp.origin.base", lang) if value == "base" else value
        elif name in ("crs", "declared", "best", "file_crs"):
            out[name] = crs_name(value)
        elif name in ("type", "expected"):
            key = "polygonal" if value == "Polygon or MultiPolygon" else value
            out[name] = t(f"imp.geom.{key}", lang) if f"imp.geom.{key}" in LABELS else value
        elif name == "kind" and f"imp.source_kind.{value}" in LABELS:
            out[name] = t(f"imp.source_kind.{value}", lang)
        elif name == "found" and value == "no county":
            out[name] = t("imp.no_county_found", lang)
        elif name == "encoding":
            out[name] = str(value).upper()
        else:
            out[name] = value
    if "detail" in params:
        out["detail"] = _detail(params, lang, geometry=issue.code in ("bad_geometry", "geometry_repaired"))
    if issue.code == "bad_department" and lang == "zh":
        out["allowed"] = "、".join(t(k, lang) for k in LABELS if k.startswith("dept."))
    if issue.code == "value_unknown" and lang == "zh":
        prefix = _LABEL_PREFIX.get(str(params.get("field")), "kind")
        out["allowed"] = "、".join(label_or(prefix, c.strip(), lang) for c in str(params.get("allowed", "")).split(",") if c.strip())
    return out


def issue_text(issue, lang: str) -> str:
    """An import issue (`data.issues.Issue`) as a sentence in `lang`, parameters worded for it too.

    Every issue code has a label in both languages (tested); its English message is the
    fallback for a code added without one.
    """
    key = f"imp.issue.{issue.code}"
    return t(key, lang, **issue_params(issue, lang)) if key in LABELS else issue.message


def layer_label(layer: str, lang: str) -> str:
    """Name of an importable layer ('teams', 'closures', ...)."""
    return t(f"layer.{layer}", lang)


def field_label(name: str, required: bool, lang: str) -> str:
    """Label of a mapping selector: '名称 *' (required), '队员人数' (optional)."""
    return f"{t(f'imp.field.{name}', lang)}{' *' if required else ''}"


def report_table(report, lang: str, *, rejected_only: bool = False) -> pd.DataFrame:
    """One row per record of an `ImportReport`: row number, id, outcome, reasons, notes (translated)."""
    keys = sorted(set(report.reasons) | set(report.notes)) if rejected_only else range(report.total)
    rows = report.rows
    return pd.DataFrame(
        {
            t("imp.col.row", lang): [int(rows["row"].iat[k]) for k in keys],
            t("imp.col.id", lang): [str(rows["id"].iat[k]) if not _blank(rows["id"].iat[k]) and rows["id"].iat[k] != "" else "—" for k in keys],
            t("imp.col.status", lang): [t(f"imp.status.{rows['status'].iat[k]}", lang) for k in keys],
            t("imp.col.reasons", lang): ["；".join(issue_text(i, lang) for i in report.reasons.get(k, [])) for k in keys],
            t("imp.col.notes", lang): ["；".join(issue_text(i, lang) for i in report.notes.get(k, [])) for k in keys],
        }
    )


def imports_table(imports: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The workspace's imports with translated headers and layer names."""
    return pd.DataFrame(
        {
            t("imp.col.import_id", lang): imports["import_id"],
            t("imp.col.when", lang): [f"{w:%Y-%m-%d %H:%M}" for w in imports["imported_at"]],
            t("imp.col.who", lang): imports["who"],
            t("col.layer", lang): [layer_label(k, lang) for k in imports["layer"]],
            t("imp.col.file", lang): imports["file_name"],
            t("imp.col.crs", lang): [crs_name(c) for c in imports["crs"]],
            t("imp.col.total", lang): imports["rows_total"],
            t("imp.col.accepted", lang): imports["rows_accepted"],
            t("imp.col.rejected", lang): imports["rows_rejected"],
            t("imp.col.mode", lang): [t(f"imp.mode_short.{m}", lang) for m in imports["mode"]],
            t("col.source", lang): [s if isinstance(s, str) and s else "—" for s in imports["source"]],
            t("col.licence", lang): [s if isinstance(s, str) and s else "—" for s in imports["licence"]],
        }
    )


def _polygon_layer(layer_id: str, features: list[dict], *, fill: tuple, line: tuple, width_px: int) -> pdk.Layer:
    """A GeoJSON layer of polygon `features` (each with a plain-text ``tooltip``), filled and outlined in one colour each."""
    return pdk.Layer(
        "GeoJsonLayer",
        id=layer_id,
        data={"type": "FeatureCollection", "features": features},
        stroked=True,
        filled=True,
        get_fill_color=list(fill),
        get_line_color=list(line),
        line_width_min_pixels=width_px,
        pickable=True,
    )


def closure_layer(gdf: gpd.GeoDataFrame, lang: str) -> pdk.Layer:
    """Road-closure polygons (EPSG:4326), filled red, with name and reason as plain-text tooltips."""
    features = [
        {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(geom),
            "properties": {"tooltip": f"{name}\n{t('layer.closures', lang)}" + (f"\n{reason}" if reason else "")},
        }
        for name, reason, geom in zip(gdf["name"], gdf["reason"], gdf.geometry, strict=True)
    ]
    return _polygon_layer("layer-closures", features, fill=_CLOSURE_FILL, line=_CLOSURE_LINE, width_px=2)


def township_layer(gdf: gpd.GeoDataFrame, lang: str) -> pdk.Layer:
    """Township (乡镇/街道) outlines (EPSG:4326), thinly filled blue, with name, county and code as plain-text tooltips.

    `gdf` has ``name`` and ``county_name`` (or ``county``), and ``code`` when known: an
    import's accepted records (`ImportReport.accepted_frame`) or `Store.townships()`.
    """
    blank = pd.Series([""] * len(gdf), index=gdf.index)
    county = gdf["county_name"] if "county_name" in gdf else gdf["county"] if "county" in gdf else blank
    code = gdf["code"] if "code" in gdf else blank
    features = []
    for name, where, c, geom in zip(gdf["name"], county, code, gdf.geometry, strict=True):
        if geom is None or geom.is_empty:
            continue
        lines = [str(name), *([where] if isinstance(where, str) and where else []), *([t("town.tip_code", lang, code=c)] if isinstance(c, str) and c else [])]
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": {"tooltip": "\n".join(lines)}})
    return _polygon_layer("layer-townships", features, fill=_TOWNSHIP_FILL, line=_TOWNSHIP_LINE, width_px=1)
