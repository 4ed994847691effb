"""Layers and tables of the hazard-scenario page: the hazard area, closed roads, shelters, resources cut off; consequence and comparison tables; messages."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pydeck as pdk
import shapely

from layers.labels import LABELS, label_or, t

if TYPE_CHECKING:
    from data.scenarios.assess import Assessment
    from data.scenarios.store import ScenarioError
    from geo.hazard import Hazard, HazardError
    from geo.network import Network

#: Fill colour (RGB) of each hazard kind (`geo.hazard.HAZARD_KINDS`).
KIND_COLOURS: dict[str, tuple[int, int, int]] = {"flood": (30, 110, 220), "typhoon": (130, 70, 180), "plume": (235, 130, 20), "drawn": (200, 50, 50)}
CLOSED_ROAD_COLOUR = [215, 25, 28, 235]
SHELTER_COLOURS = {"unusable": [215, 25, 28, 235], "needed": [26, 150, 65, 240], "usable": [150, 210, 150, 220]}
RESOURCE_COLOURS = {"cut_off": [20, 20, 20, 240], "inside": [240, 120, 0, 240]}
#: Most vertices the closed-roads layer sends (the tolerance grows until it fits): under 20 KB of JSON.
MAX_ROAD_VERTICES = 1000
#: Closed roads' coordinates are rounded to this many decimals (about 10 m; the lines are 3 px wide).
ROAD_DECIMALS = 4
#: Coordinates are rounded to this many decimals (about 1 m).
DECIMALS = 5
#: Usable shelters listed after the needed ones.
EXTRA_SHELTERS = 5
MISSING = "—"


# ---- map layers ------------------------------------------------------------------------------------


def view_bounds(areas: list, *, pad_share: float = 0.15) -> tuple[float, float, float, float]:
    """A lon/lat box around the geometries `areas`, padded by `pad_share` of its size."""
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(areas, dtype=object))
    dx, dy = max(maxx - minx, 0.01) * pad_share, max(maxy - miny, 0.01) * pad_share
    return (float(minx - dx), float(miny - dy), float(maxx + dx), float(maxy + dy))


def _rings(geom, tolerance_deg: float) -> list[list[list[list[float]]]]:
    """Each polygon of `geom` as rings of rounded [lon, lat] (outer first, then holes)."""
    simple = shapely.simplify(geom, tolerance_deg, preserve_topology=True) if tolerance_deg > 0 else geom
    out = []
    for poly in shapely.get_parts(simple):
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        rings = [poly.exterior, *poly.interiors]
        out.append([np.round(np.asarray(r.coords)[:, :2], DECIMALS).tolist() for r in rings])
    return out


def hazard_layer(hazard: Hazard, lang: str, *, layer_id: str = "hazard-area", tolerance_deg: float = 1e-4) -> pdk.Layer:
    """The hazard area, filled by kind (`KIND_COLOURS`), simplified to `tolerance_deg` (about 10 m)."""
    rgb = KIND_COLOURS.get(hazard.kind, KIND_COLOURS["drawn"])
    tip = t("haz.tip_area", lang, kind=t(f"haz.kind.{hazard.kind}", lang), name=hazard.name or MISSING, km2=hazard.area_km2)
    data = [{"polygon": rings, "tooltip": tip} for rings in _rings(hazard.area, tolerance_deg)]
    return pdk.Layer(
        "PolygonLayer", id=layer_id, data=data, get_polygon="polygon", get_fill_color=[*rgb, 70], get_line_color=[*rgb, 255],
        line_width_min_pixels=2, stroked=True, filled=True, pickable=True,
    )  # fmt: skip


def closed_road_lines(net: Network, closed: np.ndarray) -> list:
    """The closed roads as shapely LineStrings (EPSG:4326), each two-way road once (edges u→v and v→u of one geometry)."""
    idx = np.flatnonzero(np.asarray(closed, dtype=bool))
    if len(idx) == 0:
        return []
    u, v = np.asarray(net.edge_u)[idx], np.asarray(net.edge_v)[idx]
    length = np.round(np.asarray(net.edge_length_m)[idx], 1)
    keys = pd.DataFrame({"a": np.minimum(u, v), "b": np.maximum(u, v), "m": length})
    idx = idx[~keys.duplicated().to_numpy()]
    offsets = np.asarray(net.geom_offsets)
    lon, lat = np.asarray(net.geom_lon), np.asarray(net.geom_lat)
    lines = []
    for e in idx:
        a, b = int(offsets[e]), int(offsets[e + 1])
        if b - a >= 2:
            lines.append(shapely.LineString(np.column_stack([lon[a:b], lat[a:b]])))
    return lines


def closed_roads_paths(net: Network, closed: np.ndarray, *, max_vertices: int = MAX_ROAD_VERTICES) -> tuple[list[list[list[float]]], int]:
    """Paths ([lon, lat] lists) of the closed roads, merged where they meet and simplified, at most
    `max_vertices` vertices in all; and how many merged roads there are.

    The tolerance doubles (from 1/4000 of the closure's extent) until the roads fit; where even
    two vertices a road are too many (a closure of thousands of roads), the longest roads are
    kept until the budget is spent (``len(paths)`` < the count then: say so).
    """
    lines = closed_road_lines(net, closed)
    if not lines:
        return [], 0
    merged = [p for p in shapely.get_parts(shapely.line_merge(shapely.union_all(lines))) if not p.is_empty]
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(merged, dtype=object))
    step = max(maxx - minx, maxy - miny, 1e-3) / 4000.0
    tolerance, parts = 0.0, merged
    while sum(len(p.coords) for p in parts) > max_vertices and tolerance < 0.05:
        tolerance = step if tolerance == 0 else tolerance * 2
        parts = list(shapely.simplify(np.asarray(merged, dtype=object), tolerance, preserve_topology=False))
    order = np.argsort(-shapely.length(np.asarray(merged, dtype=object)), kind="stable")
    paths, used = [], 0
    for i in order:
        coords = np.round(np.asarray(parts[i].coords)[:, :2], ROAD_DECIMALS)
        if len(coords) < 2 or used + len(coords) > max_vertices:
            continue
        paths.append(coords.tolist())
        used += len(coords)
    return paths, len(merged)


def closed_roads_layer(net: Network, closed: np.ndarray, lang: str, *, n_closed: int, closed_road_km: float, max_vertices: int = MAX_ROAD_VERTICES) -> pdk.Layer | None:
    """The closed roads (red lines): one GeoJSON MultiLineString with one tooltip, so the map
    gets a few KB whatever the closure (`closed_roads_paths`); None when nothing is closed."""
    paths, roads = closed_roads_paths(net, closed, max_vertices=max_vertices)
    if not paths:
        return None
    tip = t("haz.tip_roads", lang, n=f"{n_closed:,}", km=closed_road_km) + (t("haz.tip_roads_longest", lang, shown=len(paths), roads=roads) if len(paths) < roads else "")
    feature = {"type": "Feature", "geometry": {"type": "MultiLineString", "coordinates": paths}, "properties": {"tooltip": tip}}
    return pdk.Layer(
        "GeoJsonLayer", id="hazard-closed-roads", data={"type": "FeatureCollection", "features": [feature]}, stroked=True, filled=False,
        get_line_color=CLOSED_ROAD_COLOUR, get_line_width=30, line_width_min_pixels=2, line_width_max_pixels=5, pickable=True,  # metres clamped to pixels (pydeck reads a bare "pixels" as an expression)
    )  # fmt: skip


def _shelter_state(shelters: pd.DataFrame) -> np.ndarray:
    usable = shelters["usable"].to_numpy(dtype=bool)
    needed = shelters["needed"].to_numpy(dtype=bool)
    return np.where(~usable, "unusable", np.where(needed, "needed", "usable"))


def shelters_layer(shelters: pd.DataFrame, lang: str) -> pdk.Layer | None:
    """Shelters: red unusable (inside or road closed), green needed, light green other usable."""
    if shelters is None or len(shelters) == 0:
        return None
    state = _shelter_state(shelters)
    status = shelter_status(shelters, lang)
    data = [
        {"lon": round(float(x), DECIMALS), "lat": round(float(y), DECIMALS), "colour": SHELTER_COLOURS[s],
         "tooltip": t("haz.tip_shelter", lang, name=str(n), capacity=float(c), status=st)}
        for x, y, s, n, c, st in zip(shelters["lon"], shelters["lat"], state, shelters.get("name", shelters.index.astype(str)), shelters["capacity"], status, strict=True)
    ]  # fmt: skip
    return pdk.Layer(
        "ScatterplotLayer", id="hazard-shelters", data=data, get_position=["lon", "lat"], get_fill_color="colour", get_line_color=[255, 255, 255, 255],
        stroked=True, line_width_min_pixels=1, radius_min_pixels=6, radius_max_pixels=14, get_radius=400, pickable=True,
    )  # fmt: skip


def resources_layer(resources: pd.DataFrame, lang: str) -> pdk.Layer | None:
    """Resources inside the area (orange) and cut off (black); the others are not drawn."""
    if resources is None or len(resources) == 0:
        return None
    hit = resources[resources["status"].isin(("inside", "cut_off"))]
    if hit.empty:
        return None
    data = [
        {"lon": round(float(x), DECIMALS), "lat": round(float(y), DECIMALS), "colour": RESOURCE_COLOURS[s],
         "tooltip": t("haz.tip_resource", lang, layer=t(f"layer.{layer}", lang), name=str(n), status=t(f"haz.res.{s}", lang))}
        for x, y, s, n, layer in zip(hit["lon"], hit["lat"], hit["status"], hit["name"], hit["layer"], strict=True)
    ]  # fmt: skip
    return pdk.Layer(
        "ScatterplotLayer", id="hazard-resources", data=data, get_position=["lon", "lat"], get_fill_color="colour", get_line_color=[255, 255, 255, 255],
        stroked=True, line_width_min_pixels=1, radius_min_pixels=5, radius_max_pixels=12, get_radius=300, pickable=True,
    )  # fmt: skip


def scenario_layers(assessment: Assessment, net: Network, lang: str) -> list[pdk.Layer]:
    """The layers of one assessed scenario, bottom to top: area, closed roads, shelters, resources."""
    c = assessment.consequences
    out = [hazard_layer(c.hazard, lang), closed_roads_layer(net, c.closed, lang, n_closed=c.n_closed, closed_road_km=c.closed_road_km),
           shelters_layer(c.shelters, lang), resources_layer(c.resources, lang)]  # fmt: skip
    return [layer for layer in out if layer is not None]


# ---- figures and tables ----------------------------------------------------------------------------


def _minutes(seconds) -> list[str]:
    """Minutes with one decimal by the app's one rounding rule (`data.incidents.board.minutes_text`), "—" when none."""
    from data.incidents.board import minutes_text

    return [minutes_text(s) if isinstance(s, (int, float, np.floating)) and math.isfinite(s) else MISSING for s in seconds]


def _text(values) -> list[str]:
    return [MISSING if v is None or (not isinstance(v, str) and pd.isna(v)) or str(v).strip() == "" else str(v) for v in values]


def _percent(share: float) -> str:
    return MISSING if share is None or not math.isfinite(share) else f"{share * 100:.1f}%"


def metrics(assessment: Assessment, lang: str, *, threshold_min: int = 60) -> list[tuple[str, str]]:
    """(label, value) of the scenario's headline figures, for ``st.metric``."""
    c = assessment.consequences
    s = c.summary()
    out = [
        (t("haz.m_closed", lang), f"{c.n_closed:,}"),
        (t("haz.m_closed_km", lang), t("haz.v_km", lang, km=c.closed_road_km)),
        (t("haz.m_jurisdictions", lang), f"{len(c.jurisdictions):,}"),
        (t("haz.m_places", lang), f"{len(c.places):,}"),
        (t("haz.m_population", lang), t("haz.v_people", lang, n=c.affected_population)),
        (t("haz.m_shelters_inside", lang), f"{s['shelters_inside']:,}"),
        (t("haz.m_capacity", lang), t("haz.v_people", lang, n=s["usable_shelter_capacity"])),
        (t("haz.m_cut_off", lang), f"{s['resources_cut_off']:,}"),
    ]
    cov = assessment.coverage
    if cov is not None:
        out.append((t("haz.m_coverage", lang, minutes=threshold_min), f"{_percent(cov.share_before)} → {_percent(cov.share_after)}"))
    return out


def _needed_capacity(shelters: pd.DataFrame) -> float:
    return float(shelters.loc[shelters["needed"].to_numpy(dtype=bool), "capacity"].sum()) if len(shelters) else 0.0


def capacity_text(assessment: Assessment, lang: str) -> str:
    """Capacity of the nearest usable shelters against the affected population, in `lang`."""
    c = assessment.consequences
    if c.affected_population <= 0:
        return t("haz.capacity_none", lang)
    s = c.summary()
    if s["capacity_shortfall"] > 0:
        return t("haz.capacity_short", lang, capacity=s["usable_shelter_capacity"], population=c.affected_population, shortfall=s["capacity_shortfall"])
    return t("haz.capacity_ok", lang, n=s["shelters_needed"], capacity=_needed_capacity(c.shelters), population=c.affected_population)


def jurisdictions_table(jurisdictions: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Jurisdictions the area intersects, largest overlap first."""
    return pd.DataFrame({
        t("haz.c_code", lang): jurisdictions["code"].astype(str).to_numpy(),
        t("haz.c_name", lang): _text(jurisdictions["name"]),
        t("haz.c_level", lang): [label_or("level", v, lang) for v in jurisdictions["level"]],
        t("haz.c_overlap", lang): np.round(jurisdictions["overlap_km2"].to_numpy(dtype=float), 2),
    })  # fmt: skip


def places_table(places: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Places inside the area, most counted people first, with their counted people ("—" where not counted) and why."""
    pop = places["population"].to_numpy(dtype=float) if "population" in places.columns else np.full(len(places), np.nan)
    note = places["population_note"].to_numpy() if "population_note" in places.columns else np.where(np.isfinite(pop), "counted", "unknown")
    order = np.lexsort((np.arange(len(places)), -np.nan_to_num(pop, nan=-1.0)))
    sel = places.iloc[order]
    return pd.DataFrame({
        t("haz.c_name", lang): _text(sel["name"]) if "name" in sel.columns else [MISSING] * len(sel),
        t("haz.c_county", lang): _text(sel["county_name"]) if "county_name" in sel.columns else [MISSING] * len(sel),
        t("haz.c_population", lang): [_people_text(p) for p in pop[order]],
        t("haz.c_population_note", lang): [label_or("haz.pop", n, lang) for n in note[order]],
    })  # fmt: skip


def _people_text(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else MISSING


def shelter_status(shelters: pd.DataFrame, lang: str) -> list[str]:
    """Each shelter's status in `lang`: usable, or why not."""
    return [t("haz.shelter.usable", lang) if ok else t(f"haz.shelter.{r}", lang) for ok, r in zip(shelters["usable"], shelters["reason"], strict=True)]


def shelters_table(shelters: pd.DataFrame, lang: str, *, extra: int = EXTRA_SHELTERS) -> pd.DataFrame:
    """The unusable shelters, the usable ones needed for the affected population (nearest first)
    and `extra` more usable ones."""
    usable = shelters["usable"].to_numpy(dtype=bool)
    needed = shelters["needed"].to_numpy(dtype=bool)
    more = np.zeros(len(shelters), dtype=bool)
    more[np.flatnonzero(usable & ~needed)[:extra]] = True
    keep = shelters[~usable | needed | more]
    yes, no = t("haz.yes", lang), t("haz.no", lang)
    cum = keep["cumulative_capacity"].to_numpy(dtype=float)
    return pd.DataFrame({
        t("haz.c_name", lang): _text(keep["name"]) if "name" in keep.columns else [MISSING] * len(keep),
        t("haz.c_county", lang): _text(keep["county_name"]) if "county_name" in keep.columns else [MISSING] * len(keep),
        t("haz.c_capacity", lang): keep["capacity"].to_numpy(dtype=float).round().astype("int64"),
        t("haz.c_status", lang): shelter_status(keep, lang),
        t("haz.c_time", lang): _minutes(keep["time_s"]),
        t("haz.c_from_place", lang): _text(keep["from_place"]),
        t("haz.c_cumulative", lang): [_people_text(v) for v in cum],
        t("haz.c_needed", lang): [yes if n else no for n in keep["needed"]],
    })  # fmt: skip


def resources_table(resources: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Resources inside the area or cut off, with their times to the reference before and after (minutes)."""
    hit = resources[resources["status"].isin(("inside", "cut_off"))]
    return pd.DataFrame({
        t("haz.c_layer", lang): [t(f"layer.{v}", lang) for v in hit["layer"]] if "layer" in hit.columns else [MISSING] * len(hit),
        t("haz.c_name", lang): _text(hit["name"]) if "name" in hit.columns else [MISSING] * len(hit),
        t("haz.c_kind", lang): [label_or("kind", v, lang) for v in hit["kind"]] if "kind" in hit.columns else [MISSING] * len(hit),
        t("haz.c_county", lang): _text(hit["county_name"]) if "county_name" in hit.columns else [MISSING] * len(hit),
        t("haz.c_status", lang): [t(f"haz.res.{s}", lang) for s in hit["status"]],
        t("haz.c_before", lang): _minutes(hit["time_before_s"]),
        t("haz.c_after", lang): _minutes(hit["time_after_s"]),
    })  # fmt: skip


def dispatch_change_table(change: pd.DataFrame, lang: str) -> pd.DataFrame:
    """`data.scenarios.assess.dispatch_change` for display: the resource, its rank and ETA (minutes) without and with the closure, and the change."""
    def rank(v) -> str:
        return MISSING if pd.isna(v) else str(int(v))

    return pd.DataFrame({
        t("haz.c_name", lang): _text(change["name"]), t("haz.c_rank_before", lang): [rank(v) for v in change["rank_before"]],
        t("haz.c_eta_before", lang): _minutes(change["eta_before_s"]), t("haz.c_rank_after", lang): [rank(v) for v in change["rank_after"]],
        t("haz.c_eta_after", lang): _minutes(change["eta_after_s"]), t("haz.c_dispatch_change", lang): [t(f"haz.dchange.{c}", lang) for c in change["change"]],
    })  # fmt: skip


def coverage_table(assessment: Assessment, lang: str, names: dict[str, str]) -> pd.DataFrame:
    """One row: the counties whose territory is the demand, the teams, coverage before, after and the change."""
    cov = assessment.coverage
    sep = "、" if lang == "zh" else ", "
    sites = t("haz.sites_professional" if assessment.site_kinds == ("professional",) else "haz.sites_all", lang)
    return pd.DataFrame({
        t("haz.c_counties", lang): [sep.join(names.get(c, c) for c in assessment.coverage_counties)],
        t("haz.c_sites", lang): [f"{sites} {assessment.coverage_sites}"],
        t("haz.c_share_before", lang): [_percent(cov.share_before)],
        t("haz.c_share_after", lang): [_percent(cov.share_after)],
        t("haz.c_change", lang): [MISSING if not (math.isfinite(cov.share_before) and math.isfinite(cov.share_after)) else f"{(cov.share_after - cov.share_before) * 100:+.1f}%"],
    })  # fmt: skip


def coverage_caption(assessment: Assessment, lang: str, *, threshold_min: int = 60) -> str:
    cov = assessment.coverage
    sites = t("haz.sites_professional" if assessment.site_kinds == ("professional",) else "haz.sites_all", lang)
    return t("haz.coverage_caption", lang, counties=len(assessment.coverage_counties), km2=assessment.demand_km2, sites=sites, n=assessment.coverage_sites,
             minutes=threshold_min, lost=cov.n_lost)  # fmt: skip


_COUNTS = {"closed_edges", "jurisdictions", "places", "population_unknown", "shelters_inside", "shelters_needed", "resources_inside", "resources_cut_off"}
_PEOPLE = {"population", "shelter_capacity_inside", "usable_shelter_capacity", "capacity_shortfall"}


def _cell(key: str, value, lang: str) -> str:
    if key == "kind":
        return t(f"haz.kind.{value}", lang)
    if key in ("coverage_before", "coverage_after"):
        return _percent(value) if value is not None else MISSING
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if key in _COUNTS or key in _PEOPLE:
        return f"{float(value):,.0f}"
    if key == "area_km2":
        return f"{float(value):,.2f}"
    return f"{float(value):,.1f}"


def compare_table(frame: pd.DataFrame, lang: str, *, titles: list[str], coverage: list | None = None) -> pd.DataFrame:
    """`geo.hazard.compare`'s frame (one row per summary key, one column per scenario) in `lang`,
    its columns named `titles`, with the coverage before/after rows when `coverage` (one
    `CoverageChange` or None per scenario) is given.  Cells are text, formatted per row."""
    keys = list(frame.index)
    rows = {k: [_cell(k, v, lang) for v in frame.loc[k].tolist()] for k in keys}
    if coverage is not None:
        rows["coverage_before"] = [_cell("coverage_before", c.share_before if c is not None else None, lang) for c in coverage]
        rows["coverage_after"] = [_cell("coverage_after", c.share_after if c is not None else None, lang) for c in coverage]
    out = pd.DataFrame(rows, index=titles).T
    out.insert(0, t("haz.c_indicator", lang), [t(f"haz.sum.{k}", lang) for k in out.index])
    return out.reset_index(drop=True)


def scenario_title(scenario_id: int, name: str) -> str:
    """How a saved scenario is named in pickers and column heads: ``#3 name``."""
    return f"#{int(scenario_id)} {name}".strip()


def incident_label(row, lang: str) -> str:
    """An incident of `IncidentLog.incidents` for a picker: 【演练】 first for a drill, then its id and title."""
    mark = t("drill.mark", lang) if bool(row["drill"]) else ""
    return f"{mark}{row['incident_id']} {row['title']}"


def params_text(params: dict, lang: str) -> str:
    """The parameters a scenario was made from, short, in `lang` (labels ``haz.p.<name>``; others as name=value)."""

    def number(v) -> str:
        return f"{float(v):.4g}"

    parts = []
    for key, value in params.items():
        if key == "downwind_deg":  # follows from the wind direction
            continue
        if key == "track":
            shown = str(len(value))
        elif key == "source" and isinstance(value, list):
            shown = ",".join(f"{float(v):.4f}" for v in value)
        elif isinstance(value, list):
            shown = "/".join(number(v) for v in value[:6]) + ("/…" if len(value) > 6 else "")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            shown = number(value)
        else:
            shown = str(value)
        parts.append(t(f"haz.p.{key}", lang, value=shown) if f"haz.p.{key}" in LABELS else f"{key}={shown}")
    return ("；" if lang == "zh" else "; ").join(parts) or MISSING


def saved_table(rows: pd.DataFrame, lang: str, *, incidents: dict[str, str], people: dict[str, str] | None = None) -> pd.DataFrame:
    """The saved scenarios (`ScenarioStore.scenarios`), newest first; `incidents` maps an incident id to its label (drills
    marked), `people` a username to how its account is shown (e.g. 姓名（辖区）; a username it lacks is shown as it is)."""
    people = people or {}
    return pd.DataFrame({
        t("haz.c_id", lang): rows["id"].astype("int64").to_numpy(),
        t("haz.c_name", lang): _text(rows["name"]),
        t("haz.c_kind", lang): [t(f"haz.kind.{k}", lang) for k in rows["kind"]],
        t("haz.c_area", lang): np.round(rows["area_km2"].to_numpy(dtype=float), 2),
        t("haz.c_params", lang): [params_text(p, lang) for p in rows["params"]],
        t("haz.c_by", lang): [people.get(str(u), str(u)) for u in rows["created_by"]],
        t("haz.c_at", lang): [f"{v:%Y-%m-%d %H:%M}" for v in pd.to_datetime(rows["created_at"])],
        t("haz.c_incident", lang): [MISSING if v is None or pd.isna(v) else incidents.get(str(v), str(v)) for v in rows["incident_id"]],
        t("haz.c_copy_of", lang): [MISSING if v is None or pd.isna(v) else f"#{int(v)}" for v in rows["copy_of"]],
    })  # fmt: skip


# ---- messages ----------------------------------------------------------------------------------------


def error_text(exc: HazardError, lang: str) -> str:
    """A `geo.hazard.HazardError` in `lang` (label ``haz.err.<code>``), naming the parameter and the bad value."""
    p = {k: v for k, v in exc.params.items()}
    param = str(p.get("param", ""))
    p["param"] = label_or("haz.param", param, lang) if param else t("haz.param.polygon", lang)
    if "value" in p:
        p["value"] = p["value"] if not isinstance(p["value"], list) else ",".join(str(v) for v in p["value"])
    if exc.code == "bad_coordinates":
        if "line" in p:
            where = t("haz.at_line", lang, line=p["line"], value=p.get("value", ""))
        elif "index" in p:
            where = t("haz.at_point", lang, n=int(p["index"]) + 1)
        elif p.get("value") not in (None, ""):
            where = t("haz.at_value", lang, value=p["value"])
        else:
            where = ""
        p["where"] = where
    if exc.code == "not_polygon":
        p["found"] = ("、" if lang == "zh" else ", ").join(label_or("haz.geom", g, lang) for g in p.get("found") or []) or MISSING
    if exc.code == "missing_columns":
        p["missing"] = ", ".join(map(str, p.get("missing") or []))
    p.setdefault("value", MISSING)
    p.setdefault("reason", MISSING)
    return t(f"haz.err.{exc.code}", lang, **p)


def store_error_text(exc: ScenarioError, lang: str) -> str:
    """A `data.scenarios.store.ScenarioError` in `lang` (label ``haz.store_err.<code>``)."""
    return t(f"haz.store_err.{exc.code}", lang, **exc.params)
