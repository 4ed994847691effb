"""What the data-management page shows: issues and reports in the user's language, imports, closure outlines."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pydeck as pdk
import shapely

from layers.labels import LABELS, t

_CLOSURE_FILL = (200, 30, 30, 90)
_CLOSURE_LINE = (200, 30, 30, 255)


def issue_text(issue, lang: str) -> str:
    """An import issue (`data.issues.Issue`) as a sentence in `lang`; its English message if there is no label."""
    key = f"imp.issue.{issue.code}"
    return t(key, lang, **issue.params) if key in LABELS else issue.message


def layer_label(layer: str, lang: str) -> str:
    """Name of an importable layer ('teams', 'closures', ...)."""
    return t(f"layer.{layer}", lang)


def field_label(name: str, required: bool, lang: str) -> str:
    """Label of a mapping selector: '队员人数 members *'."""
    return f"{t(f'imp.field.{name}', lang)} ({name}){' *' if required else ''}"


def report_table(report, lang: str, *, rejected_only: bool = False) -> pd.DataFrame:
    """One row per record of an `ImportReport`: row number, id, outcome, reasons, notes (translated)."""
    keys = sorted(set(report.reasons) | set(report.notes)) if rejected_only else range(report.total)
    rows = report.rows
    return pd.DataFrame(
        {
            t("imp.col.row", lang): [int(rows["row"].iat[k]) for k in keys],
            t("imp.col.id", lang): [str(rows["id"].iat[k]) for k in keys],
            t("imp.col.status", lang): [t(f"imp.status.{rows['status'].iat[k]}", lang) for k in keys],
            t("imp.col.reasons", lang): ["；".join(issue_text(i, lang) for i in report.reasons.get(k, [])) for k in keys],
            t("imp.col.notes", lang): ["；".join(issue_text(i, lang) for i in report.notes.get(k, [])) for k in keys],
        }
    )


def report_csv(report, lang: str) -> bytes:
    """The whole report table as CSV (UTF-8 with BOM, for Excel)."""
    return ("\ufeff" + report_table(report, lang).to_csv(index=False, lineterminator="\n")).encode("utf-8")


def imports_table(imports: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The workspace's imports with translated headers and layer names."""
    return pd.DataFrame(
        {
            t("imp.col.import_id", lang): imports["import_id"],
            t("imp.col.when", lang): [f"{w:%Y-%m-%d %H:%M}" for w in imports["imported_at"]],
            t("imp.col.who", lang): imports["who"],
            t("col.layer", lang): [layer_label(k, lang) for k in imports["layer"]],
            t("imp.col.file", lang): imports["file_name"],
            t("imp.col.crs", lang): imports["crs"],
            t("imp.col.total", lang): imports["rows_total"],
            t("imp.col.accepted", lang): imports["rows_accepted"],
            t("imp.col.rejected", lang): imports["rows_rejected"],
            t("imp.col.mode", lang): [t(f"imp.mode_short.{m}", lang) for m in imports["mode"]],
            t("col.source", lang): imports["source"],
            t("col.licence", lang): imports["licence"],
        }
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
    return pdk.Layer(
        "GeoJsonLayer",
        id="layer-closures",
        data={"type": "FeatureCollection", "features": features},
        stroked=True,
        filled=True,
        get_fill_color=list(_CLOSURE_FILL),
        get_line_color=list(_CLOSURE_LINE),
        line_width_min_pixels=2,
        pickable=True,
    )
