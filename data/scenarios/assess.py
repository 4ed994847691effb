"""A hazard scenario on the current data: its consequences (`geo.hazard.consequences`) and the 1-hour coverage of the counties it touches, before and after.

The dataset's layers go in as the app holds them (`data.dataset.store.Store.layer`, imports
included), and `assess` hands `geo.hazard` what it needs:

- places: every place, with ``counted_population``: the people counted once
  (`geo.coverage.place_population`: GeoNames places nest, and only the place that stands for a
  county's people carries them), NaN for the others, whose ``population_note`` says why
  ('nested': their people are counted with another place; 'unknown': no figure);
- shelters: the shelters layer (capacity ``capacity_persons``);
- resources: the teams, stockpiles and bases, with ``layer`` saying which;
- jurisdictions: the county polygons (EPSG:4326).

Coverage before/after (`geo.hazard.coverage_change`): the territory of the counties the area
intersects (a grid of cells weighted by area, `geo.coverage.territory_grid`), reached from the
nearest team of `site_kinds` (default the professional teams of the plans' indicator; every
team when there are none) within `threshold_s`, without and with the closures.

Text typed on the page is read here too (`parse_point`, `parse_track`): a bad line raises
`geo.hazard.HazardError` ('bad_coordinates' with its ``index``, 'too_few_points'), like every
other input of a hazard.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.coverage import place_population, territory_grid
from geo.crs import CoordinateError, parse_lonlat
from geo.hazard import DEFAULT_THRESHOLD_S, Consequences, CoverageChange, Hazard, HazardError, consequences, coverage_change
from geo.network import Network

log = logging.getLogger(__name__)

#: Layers whose points are resources (checked for being inside or cut off).
RESOURCE_LAYERS = ("teams", "stockpiles", "bases")
#: Team kinds whose 1-hour coverage is compared by default (the plans' professional teams).
SITE_KINDS = ("professional",)
_KEEP = ("id", "name", "kind", "department", "owner", "county_code", "county_name")


@dataclass(frozen=True)
class Assessment:
    """What a hazard does on the current data.

    Attributes
    ----------
    consequences : geo.hazard.Consequences
    coverage : geo.hazard.CoverageChange or None
        Territory coverage of `coverage_counties` within the threshold, before and after; None
        when the area touches no county of the dataset.
    coverage_counties : tuple of str
        Codes of the counties whose territory is the demand.
    coverage_sites : int
        Teams the coverage is measured from.
    site_kinds : tuple of str
        Their kinds (empty: every team).
    demand_km2 : float
        Territory of the demand (km²).
    """

    consequences: Consequences
    coverage: CoverageChange | None
    coverage_counties: tuple[str, ...]
    coverage_sites: int
    site_kinds: tuple[str, ...]
    demand_km2: float


def parse_point(text: str, *, param: str = "source") -> tuple[float, float]:
    """'LON,LAT' (WGS84 degrees; full-width digits and commas read too, `geo.crs.parse_lonlat`).

    Raises
    ------
    HazardError
        'bad_coordinates' naming `param` and the text.
    """
    try:
        return parse_lonlat(text)
    except CoordinateError as exc:
        msg = f"`{param}` was {text!r}; it must be LON,LAT in degrees (EPSG:4326), e.g. 121.4737,31.2304."
        raise HazardError("bad_coordinates", msg, param=param, value=str(text), reason=exc.code) from None


def parse_track(text: str) -> list[tuple[float, float]]:
    """A typhoon track typed as one 'LON,LAT' per line (blank lines skipped), in time order.

    Raises
    ------
    HazardError
        'bad_coordinates' with ``index`` (the 0-based point, ``line``: the 1-based line) for a
        line that is not a position; 'too_few_points' for fewer than 2 points.
    """
    points = []
    for line_no, line in enumerate(str(text or "").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            points.append(parse_lonlat(line))
        except CoordinateError as exc:
            msg = f"`track` line {line_no} was {line.strip()!r}; each line must be LON,LAT in degrees (EPSG:4326)."
            raise HazardError("bad_coordinates", msg, param="track", index=len(points), line=line_no, value=line.strip(), reason=exc.code) from None
    if len(points) < 2:
        msg = f"`track` has {len(points)} point(s); a typhoon track needs at least 2 (lon, lat) lines."
        raise HazardError("too_few_points", msg, param="track", n=len(points))
    return points


def counted_places(places: gpd.GeoDataFrame, counties: pd.DataFrame) -> pd.DataFrame:
    """Every place with ``counted_population`` (people counted once, NaN otherwise) and
    ``population_note`` ('counted', 'nested' or 'unknown'); see the module docstring."""
    demand = place_population(places, counties)
    counted = pd.Series(demand.points["weight"].to_numpy(dtype=float), index=demand.points["id"].astype(str).to_numpy())
    counted = counted[~counted.index.duplicated()]
    ids = places["id"].astype(str)
    figure = pd.to_numeric(places["population"], errors="coerce").fillna(0).to_numpy(dtype=float) > 0
    people = counted.reindex(ids).to_numpy(dtype=float)
    note = np.where(np.isfinite(people), "counted", np.where(figure, "nested", "unknown"))
    cols = [c for c in ("id", "name", "county_code", "county_name", "population") if c in places.columns]
    out = pd.DataFrame(places[cols]).reset_index(drop=True)
    out["lon"], out["lat"] = places.geometry.x.to_numpy(), places.geometry.y.to_numpy()
    out["counted_population"] = people
    out["population_note"] = note
    return out


def resources_of(layers: Mapping[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    """The points of `RESOURCE_LAYERS` in one table (``layer``, ``id``, ``name``, ``kind`` …, ``lon``, ``lat``)."""
    frames = []
    for name in RESOURCE_LAYERS:
        g = layers.get(name)
        if g is None or len(g) == 0:
            continue
        f = pd.DataFrame({c: g[c].to_numpy() for c in _KEEP if c in g.columns})
        f.insert(0, "layer", name)
        f["lon"], f["lat"] = g.geometry.x.to_numpy(), g.geometry.y.to_numpy()
        frames.append(f)
    if not frames:
        return pd.DataFrame({"layer": pd.Series(dtype=object), "id": pd.Series(dtype=object), "name": pd.Series(dtype=object),
                             "lon": pd.Series(dtype=float), "lat": pd.Series(dtype=float)})  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def assess(
    hazard: Hazard,
    *,
    net: Network,
    layers: Mapping[str, gpd.GeoDataFrame],
    counties: gpd.GeoDataFrame,
    threshold_s: float = DEFAULT_THRESHOLD_S,
    site_kinds: tuple[str, ...] = SITE_KINDS,
    incident: tuple[float, float] | None = None,
) -> Assessment:
    """The consequences of `hazard` on `net` and the dataset's `layers`, and the coverage change.

    Parameters
    ----------
    hazard : geo.hazard.Hazard
    net : geo.network.Network
    layers : mapping of str to GeoDataFrame
        ``places``, ``shelters`` and the `RESOURCE_LAYERS` (point layers, EPSG:4326).
    counties : GeoDataFrame
        County polygons (EPSG:4326) with ``code``, ``name``, ``level`` and ``area_km2``.
    threshold_s : float
        The coverage threshold (s), default one hour.
    site_kinds : tuple of str
        Team kinds the coverage is measured from; empty, or none of them in the data: every team.
    incident : (lon, lat), optional
        The reference point of "cut off" (`geo.hazard.consequences`).

    Raises
    ------
    HazardError
        As `geo.hazard.consequences` and `geo.hazard.coverage_change` ('bad_threshold').
    """
    places = counted_places(layers["places"], counties) if layers.get("places") is not None else None
    shelters = layers.get("shelters")
    c = consequences(
        hazard, net=net, places=places, shelters=shelters, resources=resources_of(layers), jurisdictions=counties, incident=incident,
        population_column="counted_population", capacity_column="capacity_persons" if shelters is not None and "capacity_persons" in shelters.columns else None,
    )  # fmt: skip
    touched = tuple(c.jurisdictions["code"].astype(str)) if len(c.jurisdictions) else ()
    teams = layers.get("teams")
    kinds = tuple(site_kinds)
    if teams is not None and kinds:
        chosen = teams[teams["kind"].isin(kinds)]
        if chosen.empty:
            chosen, kinds = teams, ()
    else:
        chosen, kinds = teams, ()
    if not touched or chosen is None or len(chosen) == 0:
        return Assessment(c, None, touched, 0 if chosen is None else len(chosen), kinds, 0.0)
    area = shapely.union_all(counties[counties["code"].astype(str).isin(touched)].geometry.values)
    demand = territory_grid(area, counties=counties)
    pts = demand.points
    cov = coverage_change(net, chosen.geometry.x.to_numpy(), chosen.geometry.y.to_numpy(), pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy(),
                          closed=c.closed, threshold_s=threshold_s, weight=demand.weight)  # fmt: skip
    log.info("hazard %s: 1-h coverage of %d counties %.1f%% -> %.1f%%", hazard.name or hazard.kind, len(touched), cov.share_before * 100, cov.share_after * 100)
    return Assessment(c, cov, touched, len(chosen), kinds, demand.total)


def reference_point(hazard: Hazard, *, net: Network | None = None, outside_m: float = 1500.0) -> tuple[float, float]:
    """Where a dispatch is asked from by default: a point about `outside_m` outside the area (EPSG:4326).

    Inside the area every road is closed, so no team reaches it; just outside, the routes that
    crossed the area are the ones that change.  With `net`, the first of 24 points around the
    area whose nearest road stays open (`geo.routing.snap` with the area's closures), so the
    default always has an answer where one exists.
    """
    deg = outside_m / 111_000.0
    ring = hazard.area.buffer(deg).boundary
    fallback = (ring if not ring.is_empty else hazard.area).representative_point()
    if net is not None and not ring.is_empty:
        from geo.routing import NoRoute, OffNetwork, blocked_edges, snap

        blocked = blocked_edges(net, [hazard.area])
        for f in np.linspace(0.0, 1.0, 24, endpoint=False):
            p = ring.interpolate(f, normalized=True)
            try:
                snap(net, p.x, p.y, blocked=blocked)
            except (NoRoute, OffNetwork):
                continue
            return float(p.x), float(p.y)
    return float(fallback.x), float(fallback.y)


def dispatch_change(hazard: Hazard, *, net: Network, resources: gpd.GeoDataFrame, counties: gpd.GeoDataFrame, contacts: pd.DataFrame,
                    at: tuple[float, float], k: int = 5) -> pd.DataFrame:  # fmt: skip
    """The dispatch answer from `at` without and with the hazard's roads closed (`geo.dispatch.dispatch`, closures = the area).

    One row per resource ranked in either answer: id, name, rank_before, eta_before_s,
    rank_after, eta_after_s, change ('same', 'slower', 'faster', 'dropped': no longer among
    the `k`, 'new': only with the closure).  Raises `geo.routing.OffNetwork` / `NoRoute` as
    `dispatch` does (e.g. `at` on a road the hazard closes and no other in reach).
    """
    from geo.dispatch import dispatch

    before = dispatch(net, at, resources, counties=counties, contacts=contacts, k=k).ranked
    after = dispatch(net, at, resources, counties=counties, contacts=contacts, k=k, closures=[hazard.area]).ranked
    cols = ["id", "name", "rank", "eta_s"]
    b = before[cols].rename(columns={"rank": "rank_before", "eta_s": "eta_before_s"}) if len(before) else pd.DataFrame(columns=["id", "name", "rank_before", "eta_before_s"])
    a = after[cols].rename(columns={"rank": "rank_after", "eta_s": "eta_after_s", "name": "name_after"}) if len(after) else pd.DataFrame(columns=["id", "name_after", "rank_after", "eta_after_s"])
    out = b.merge(a, on="id", how="outer")
    out["name"] = out["name"].where(out["name"].notna(), out["name_after"])
    out = out.drop(columns="name_after")

    def change(r) -> str:
        if pd.isna(r.rank_after):
            return "dropped"
        if pd.isna(r.rank_before):
            return "new"
        d = float(r.eta_after_s) - float(r.eta_before_s)
        return "same" if abs(d) < 0.5 else "slower" if d > 0 else "faster"

    out["change"] = [change(r) for r in out.itertuples()]
    order = out["rank_before"].fillna(out["rank_after"] + 0.5 + k)
    return out.assign(_o=order).sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)
