"""The k resources (teams, stockpiles, bases) that reach an incident fastest by road.

Resources are snapped once (`prepare`); a query is one reverse Dijkstra from the incident's
edge — travel *to* the incident, so one-way streets count the right way — grown in time
steps until k resources are settled, so a query explores only the area it needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geo.network import Network
from geo.routing import NoRoute, Route, Snap, assemble, edge_weights, entries, exits, node_path, search, snap, snap_many

#: First time horizon (s) of a query; doubled until k resources are inside it.
FIRST_HORIZON_S = 600.0


@dataclass
class Prepared:
    """Resources snapped to a network: `snaps[i]` is None where resource i is off the network."""

    ids: list[str]
    snaps: list[Snap | None]
    off_network: dict[str, float] = field(default_factory=dict)  # id -> distance (m)


def prepare(net: Network, ids, lon, lat, *, snap_limit_m: float | None = None) -> Prepared:
    """Snap resource positions (lon/lat, EPSG:4326) to `net` once, for many queries."""
    ids = [str(i) for i in ids]
    snaps, off_by_pos = snap_many(net, lon, lat, limit_m=snap_limit_m)
    off = {ids[i]: d for i, d in off_by_pos.items()}
    return Prepared(ids, snaps, off)


@dataclass
class Answer:
    """One resource's fastest way to the incident."""

    id: str
    travel_time_s: float
    length_m: float
    route: Route = field(repr=False)


def nearest(net: Network, incident: tuple[float, float], resources: Prepared, *, k: int = 5, blocked: np.ndarray | None = None, snap_limit_m: float | None = None) -> list[Answer]:
    """The `k` resources with the shortest road travel time to `incident` (lon, lat; EPSG:4326).

    Unreachable resources (other islands, or cut off by closures in `blocked`) are left out.

    Raises
    ------
    OffNetwork
        If the incident is beyond the snap limit.
    """
    if k < 1:
        msg = f"`k` was {k!r}; it must be at least 1."
        raise ValueError(msg)
    w = edge_weights(net, blocked)
    target = snap(net, *incident, limit_m=snap_limit_m, blocked=blocked)
    ins = entries(net, target, w)
    if not ins:
        msg = f"the incident's road on network {net.name!r} is closed."
        raise NoRoute(msg)
    matrix = net.csr(reverse=True, weights=None if w is net.edge_time_s else w)
    candidates = [(i, s) for i, s in enumerate(resources.snaps) if s is not None]
    outs = {i: exits(net, s, w) for i, s in candidates}
    horizon = FIRST_HORIZON_S
    while True:
        searches = [search(net, en.node, reverse=True, weights=w, limit_s=horizon, matrix=matrix) for en in ins]
        times: list[tuple[float, int, object]] = []
        for i, s in candidates:
            best = (math.inf, None)
            if s.edge == target.edge and s.fraction <= target.fraction:
                best = ((target.fraction - s.fraction) * w[s.edge], ("same",))
            for ex in outs[i]:
                for en, sr in zip(ins, searches, strict=True):
                    t = ex.time_s + sr.dist[ex.node] + en.time_s
                    if t < best[0]:
                        best = (t, (ex, en, sr))
            if math.isfinite(best[0]):
                times.append((best[0] + s.access_time_s + target.access_time_s, i, best[1]))
        times.sort(key=lambda x: x[0])
        # A total within the horizon is exact, and every resource not yet reached takes longer.
        settled = [x for x in times if x[0] <= horizon]
        if len(settled) >= k or math.isinf(horizon):
            break
        horizon = horizon * 4 if horizon < 86_400 else math.inf
    answers = []
    for total, i, how in settled[:k]:
        s = resources.snaps[i]
        if how[0] == "same":
            r = assemble(net, s, target, None, [], None, w)
        else:
            ex, en, sr = how
            r = assemble(net, s, target, ex, node_path(sr, ex.node), en, w)
        answers.append(Answer(resources.ids[i], float(total), r.length_m, r))
    return answers


def filter_resources(
    resources: pd.DataFrame,
    inventory: pd.DataFrame | None = None,
    *,
    kinds: list[str] | None = None,
    departments: list[str] | None = None,
    jurisdictions: list[str] | None = None,
    material: str | None = None,
    min_quantity: float = 0.0,
) -> pd.DataFrame:
    """Rows of `resources` matching every given filter.

    `jurisdictions` match any of county, city or province code; `material` keeps
    resources (stockpiles) whose `inventory` holds at least `min_quantity` of it.
    """
    mask = pd.Series(True, index=resources.index)
    if kinds:
        mask &= resources["kind"].isin(kinds)
    if departments:
        mask &= resources["department"].isin(departments)
    if jurisdictions:
        cols = [c for c in ("county_code", "city_code", "province_code") if c in resources.columns]
        mask &= resources[cols].isin(jurisdictions).any(axis=1)
    if material:
        if inventory is None:
            msg = "`inventory` is needed to filter by `material`."
            raise ValueError(msg)
        held = inventory[(inventory["material"] == material) & (inventory["quantity"] >= min_quantity)]
        mask &= resources["id"].isin(held["stockpile_id"])
    return resources[mask]
