"""Layers of the situation map (一张图): registry, styles, tooltips, legend and view."""

from __future__ import annotations

import json
import math
import os
import threading
from urllib.parse import quote
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk
import shapely
from pydeck.bindings.json_tools import default_serialize

from layers.labels import label_or, t

RGBA = tuple[int, int, int, int]

#: Tooltip template: plain text (deck.gl sets innerText), so names can never inject HTML.
TOOLTIP = {"text": "{tooltip}", "style": {"fontSize": "13px", "whiteSpace": "pre-line", "maxWidth": "360px"}}

_LEVEL_STYLE: dict[str, tuple[RGBA, float]] = {
    "province": ((90, 60, 140, 255), 3.0),
    "city": ((70, 110, 170, 230), 1.6),
    "county": ((120, 140, 160, 200), 0.8),
}
_LEVEL_LAYER_KEY = {"province": "layer.provinces", "city": "layer.cities", "county": "layer.counties"}
_HIGHLIGHT_FILL: RGBA = (255, 220, 120, 70)
_BACKGROUND = "#eef1f4"
#: Decimals of lon/lat sent to the browser: 1e-5 degrees is about 1 m.
_DECIMALS = 5


@dataclass(frozen=True)
class LayerSpec:
    """One toggleable point layer of the map."""

    key: str
    colour: RGBA
    radius_px: int
    default_on: bool
    operational: bool  # sample operational data (has department/owner, marked 示例)


#: The layer registry that drives the toggles, the legend and the headline counts.
LAYERS: dict[str, LayerSpec] = {
    spec.key: spec
    for spec in (
        LayerSpec("projects", (142, 68, 173, 230), 7, True, True),
        LayerSpec("bases", (192, 57, 43, 255), 11, True, True),
        LayerSpec("teams", (230, 126, 34, 235), 6, True, True),
        LayerSpec("stockpiles", (39, 120, 200, 235), 6, True, True),
        LayerSpec("hazards", (30, 30, 30, 235), 6, True, True),
        LayerSpec("shelters", (39, 174, 96, 235), 6, True, True),
        LayerSpec("places", (130, 130, 130, 160), 2, False, False),
    )
}


def _tooltip_lines(row: pd.Series, layer: str, lang: str) -> str:
    sep = "：" if lang == "zh" else ": "  # label and value, with the language's colon
    lines = [str(row["name"]), t(f"layer.{layer}", lang)]
    if "kind" in row and pd.notna(row.get("kind")):
        lines[-1] += " · " + label_or("kind", row["kind"], lang)
    if "department" in row and pd.notna(row.get("department")):
        lines.append(f"{t('col.department', lang)}{sep}{label_or('dept', row['department'], lang)}")
    if "owner" in row and pd.notna(row.get("owner")):
        lines.append(f"{t('col.owner', lang)}{sep}{row['owner']}")
    if "members" in row:  # an imported team may not give its head count: unknown, not 0
        known = pd.notna(row.get("members"))
        lines.append(f"{t('sit.members', lang)}{sep}{int(row['members']) if known else t('sit.unknown', lang)}")
    if "capacity_persons" in row and pd.notna(row.get("capacity_persons")):
        lines.append(f"{t('sit.shelter_capacity', lang)}{sep}{int(row['capacity_persons'])}")
    if "status" in row and pd.notna(row.get("status")):
        lines.append(label_or("status", row["status"], lang))
    if "risk_level" in row and pd.notna(row.get("risk_level")):
        lines.append(label_or("risk", row["risk_level"], lang))
    if "county_name" in row and pd.notna(row.get("county_name")):
        lines.append(f"{t('col.county', lang)}{sep}{row['county_name']}")
    if row.get("data_status") == "示例":
        lines.append("【示例 / sample】")
    return "\n".join(lines)


def tooltips(gdf: pd.DataFrame, layer: str, lang: str) -> pd.Series:
    """Plain-text tooltip per row (name, kind, department, owner, ...); never HTML."""
    if gdf.empty:
        return pd.Series([], dtype=object, index=gdf.index)
    return gdf.apply(_tooltip_lines, axis=1, layer=layer, lang=lang)


def point_layer(key: str, gdf: gpd.GeoDataFrame, lang: str) -> pdk.Layer:
    """A pickable scatterplot of one registered point layer (EPSG:4326 input)."""
    spec = LAYERS[key]
    data = pd.DataFrame({"lon": gdf.geometry.x.round(_DECIMALS), "lat": gdf.geometry.y.round(_DECIMALS), "tooltip": tooltips(gdf, key, lang)})
    return pdk.Layer(
        "ScatterplotLayer",
        id=f"layer-{key}",
        data=data,
        get_position=["lon", "lat"],
        get_fill_color=list(spec.colour),
        get_line_color=[255, 255, 255, 255],
        stroked=True,
        line_width_min_pixels=1,
        get_radius=1,
        radius_min_pixels=spec.radius_px,
        radius_max_pixels=spec.radius_px,
        pickable=True,
    )


def _rounder(decimals: int):
    return lambda coords: np.round(coords, decimals)


_round = _rounder(_DECIMALS)


def boundary_features(level: str, gdf: gpd.GeoDataFrame, lang: str, *, decimals: int = _DECIMALS) -> dict:
    """GeoJSON FeatureCollection of one jurisdiction level, with a plain-text tooltip per feature.

    Coordinates are rounded to `decimals` (5: about 1 m; see `decimals_for`); the app serves
    this as a static file so the browser loads it once, not on every rerun.
    """
    rounder = _rounder(decimals)
    features = []
    for code, name, geom, parent in zip(gdf["code"], gdf["name"], gdf.geometry, gdf.get("parent_name", gdf["name"]), strict=True):
        label = f"{name} ({code})\n{t(f'level.{level}', lang)}"
        if level != "province":
            label += f" · {parent}"
        features.append({"type": "Feature", "geometry": shapely.transform(geom, rounder).__geo_interface__, "properties": {"tooltip": label}})
    return {"type": "FeatureCollection", "features": features}


def metres_per_pixel(zoom: float, latitude: float) -> float:
    """Ground metres per screen pixel of a Web-Mercator map (deck.gl's 512-pixel world at zoom 0) at `zoom` and `latitude` (degrees)."""
    return 40_075_016.686 * math.cos(math.radians(latitude)) / (512 * 2**zoom)


def decimals_for(metres_per_px: float) -> int:
    """Decimals of lon/lat that keep rounding under a quarter of a pixel of `metres_per_px` (between 3 and 5)."""
    if not metres_per_px > 0:
        msg = f"`metres_per_px` was {metres_per_px!r} but must be a positive number."
        raise ValueError(msg)
    return int(min(5, max(3, math.ceil(math.log10(111_320.0 * 4 / metres_per_px)))))


#: The levels of `write_boundary_files` (plus 'highlight' when a code is given).
LEVELS = ("province", "city", "county")


def write_boundary_files(outlines: gpd.GeoDataFrame, lang: str, *, directory: Path, stem: str, decimals: int = _DECIMALS, highlight: str | None = None) -> dict[str, str]:
    """Write `boundary_features` of each level of `outlines` to ``directory/{stem}-{level}-{lang}.json``; return level -> file name.

    A file that exists is kept (the stem must name what the outlines are: dataset build, area,
    zoom).  With `highlight` (a code), also writes that jurisdiction's outline under the level
    'highlight', for `highlight_layer`.  Files are written whole and then renamed, so a browser
    never reads half of one.
    """
    directory.mkdir(parents=True, exist_ok=True)
    parts = {lvl: (lvl, outlines[outlines["level"] == lvl]) for lvl in LEVELS}
    if highlight is not None:
        rows = outlines[outlines["code"] == highlight]
        parts["highlight"] = (str(rows["level"].iloc[0]) if len(rows) else "county", rows)
    names = {}
    for key, (level, gdf) in parts.items():
        name = f"{stem}-{key}-{lang}.json"
        path = directory / name
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(boundary_features(level, gdf, lang, decimals=decimals), separators=(",", ":"), ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)
        names[key] = name
    return names


def boundary_layer(level: str, data: str | dict, *, fade_metres: float | None = None, pickable: bool = True) -> pdk.Layer:
    """Outlines of one jurisdiction level from `data` (a URL of `boundary_features` output, or the dict).

    With `fade_metres`, the outline is that many metres wide, capped at the level's pixel
    width: invisible in the regional view, it appears as the user zooms in (county outlines
    show from about zoom 9, i.e. a city view), without a round trip to the server.
    Polygons are filled transparently so that hovering inside one shows its tooltip; with
    `pickable` False they show none (a map taking clicks: Streamlit's click selection is lost
    when a pickable layer's data comes from a URL, as the outlines' files do).
    """
    colour, width = _LEVEL_STYLE[level]
    return pdk.Layer(
        "GeoJsonLayer",
        id=f"boundary-{level}",
        data=data,
        stroked=True,
        filled=False,
        get_fill_color=[0, 0, 0, 0],
        get_line_color=list(colour),
        # widths in metres clamped to pixels (pydeck would read a bare "pixels" string as an expression)
        get_line_width=fade_metres or 1,
        line_width_min_pixels=0 if fade_metres else width,
        line_width_max_pixels=width,
        pickable=pickable and level == "county",
    )


def highlight_layer(data: gpd.GeoDataFrame | str) -> pdk.Layer:
    """The selected jurisdiction, filled, under the point layers: its outline(s) in `data`, or the URL of a
    'highlight' file of `write_boundary_files`."""
    if not isinstance(data, str):
        data = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": shapely.transform(g, _round).__geo_interface__, "properties": {}} for g in data.geometry]}
    return pdk.Layer(
        "GeoJsonLayer",
        id="highlight",
        data=data,
        stroked=False,
        filled=True,
        get_fill_color=list(_HIGHLIGHT_FILL),
        pickable=False,
    )


def zoom_for_bounds(bounds: tuple[float, float, float, float], *, width_px: int = 900, height_px: int = 620) -> float:
    """Web-Mercator zoom that fits lon/lat `bounds` (minx, miny, maxx, maxy, EPSG:4326) in the map."""
    minx, miny, maxx, maxy = bounds

    def merc_y(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    span_x = max(maxx - minx, 1e-4) / 360.0
    span_y = max(merc_y(maxy) - merc_y(miny), 1e-6) / (2 * math.pi)
    zoom = min(math.log2(width_px / 512 / span_x), math.log2(height_px / 512 / span_y))
    return max(3.0, min(16.0, zoom - 0.15))


def view_for_bounds(bounds: tuple[float, float, float, float]) -> pdk.ViewState:
    """Initial view centred on `bounds` at the zoom that fits them."""
    minx, miny, maxx, maxy = bounds
    return pdk.ViewState(longitude=(minx + maxx) / 2, latitude=(miny + maxy) / 2, zoom=zoom_for_bounds(bounds), pitch=0, bearing=0)


#: Width (metres) of county outlines in the automatic view; see `boundary_layer`.
COUNTY_FADE_METRES = 130.0


#: Views zoomed out further than this use the overview outlines (served as static files);
#: closer views get display outlines clipped around the view (see `geo.jurisdiction.near_view`).
OVERVIEW_MAX_ZOOM = 7.5


#: Below this zoom (the whole region in view) 'auto' leaves counties out: 300 outlines would
#: be sub-pixel there, and each one costs drawing time on machines without a GPU.
COUNTY_MIN_ZOOM = 6.5


def boundary_layers(sources: dict[str, str | dict], *, level: str = "auto", zoom: float = 8.0, pickable: bool = True) -> list[pdk.Layer]:
    """Boundary layers for the chosen `level`, from `sources` (level -> URL or dict of `boundary_features`).

    'auto' draws provinces and cities at fixed widths and, from `COUNTY_MIN_ZOOM` on, counties
    fading in as the user zooms; 'province', 'city' or 'county' draws provinces plus that
    level at full width.
    """
    allowed = ("auto", "province", "city", "county")
    if level not in allowed:
        msg = f"`level` was {level!r} but is expected to be in {allowed}."
        raise ValueError(msg)
    layers = []
    for lvl in ("county", "city", "province"):  # drawn bottom to top
        if level == "auto" and lvl == "county" and zoom < COUNTY_MIN_ZOOM:
            continue
        if level == "auto":
            layers.append(boundary_layer(lvl, sources[lvl], fade_metres=COUNTY_FADE_METRES if lvl == "county" else None, pickable=pickable))
        elif lvl in ("province", level):
            layers.append(boundary_layer(lvl, sources[lvl], pickable=pickable))
    return layers


def map_style(tile_url: str | None = None) -> str:
    """A MapLibre style that needs no internet: a plain background, plus optional XYZ raster tiles.

    Returned as a ``data:`` URL, because Streamlit takes the style as a string and would
    otherwise fetch a public base map (Carto) from the internet.
    """
    style: dict = {"version": 8, "sources": {}, "layers": [{"id": "background", "type": "background", "paint": {"background-color": _BACKGROUND}}]}
    if tile_url:
        style["sources"]["tiles"] = {"type": "raster", "tiles": [tile_url], "tileSize": 256}
        style["layers"].append({"id": "tiles", "type": "raster", "source": "tiles"})
    return "data:application/json;charset=utf-8," + quote(json.dumps(style, separators=(",", ":")))


class CompactDeck(pdk.Deck):
    """A Deck whose JSON has no indentation: pydeck indents by two spaces, which triples the
    payload of boundary coordinates sent to the browser on every rerun."""

    def to_json(self) -> str:
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"))


def make_deck(layers: list[pdk.Layer], view: pdk.ViewState, *, tile_url: str | None = None) -> pdk.Deck:
    """The map: our layers over an offline background (or the configured tiles), plain-text tooltips."""
    return CompactDeck(
        layers=layers,
        initial_view_state=view,
        map_provider="mapbox",
        map_style=map_style(tile_url),
        tooltip=TOOLTIP,
    )


def legend(keys: list[str], lang: str) -> list[tuple[str, str]]:
    """(label, CSS colour) for each shown layer key and each boundary level."""
    items = [(t(f"layer.{k}", lang), "rgba({},{},{},{:.2f})".format(*LAYERS[k].colour[:3], LAYERS[k].colour[3] / 255)) for k in keys]
    for level, (colour, _) in _LEVEL_STYLE.items():
        items.append((t(_LEVEL_LAYER_KEY[level], lang), "rgba({},{},{},1)".format(*colour[:3])))
    return items


def resource_table(shown: dict[str, pd.DataFrame], lang: str) -> pd.DataFrame:
    """One row per operational feature in view, with translated columns, for the table under the map."""
    frames = []
    for key, gdf in shown.items():
        if key not in LAYERS or not LAYERS[key].operational or gdf.empty:
            continue
        frames.append(
            pd.DataFrame(
                {
                    t("col.layer", lang): t(f"layer.{key}", lang),
                    t("col.name", lang): gdf["name"].to_numpy(),
                    t("col.kind", lang): [label_or("kind", k, lang) for k in gdf["kind"]],
                    t("col.department", lang): [label_or("dept", d, lang) for d in gdf["department"]],
                    t("col.owner", lang): gdf["owner"].to_numpy(),
                    t("col.county", lang): gdf["county_name"].to_numpy(),
                    t("col.status", lang): gdf["data_status"].to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def provenance_table(prov: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The provenance table with translated headers and layer names; source, licence and note in
    `lang` (the ``*_zh`` columns in Chinese, where a row has them)."""

    def text(column: str) -> pd.Series:
        english = prov[column].fillna("")
        if lang != "zh" or f"{column}_zh" not in prov:
            return english
        chinese = prov[f"{column}_zh"].fillna("")
        return chinese.where(chinese != "", english)

    return pd.DataFrame(
        {
            t("col.layer", lang): [t(f"layer.{k}", lang) for k in prov["layer"]],
            t("col.source", lang): text("source"),
            t("col.licence", lang): text("licence"),
            t("col.date", lang): prov["date"],
            t("col.real", lang): [t("val.real" if r else "val.sample", lang) for r in prov["real"]],
            t("col.records", lang): prov["records"],
            t("col.note", lang): text("note"),
        }
    )


def inventory_table(stockpiles: pd.DataFrame, inventory: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Inventory rows (material, unit, quantity) of the given stockpiles, with translated headers."""
    stock = stockpiles[["id", "name"]].rename(columns={"id": "stockpile_id"})
    inv = stock.merge(inventory, on="stockpile_id")[["name", "material", "unit", "quantity"]]
    return inv.rename(columns={c: t(f"col.{c}", lang) for c in inv.columns})
