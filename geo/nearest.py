"""The k resources (teams, stockpiles, bases) that reach an incident fastest by road.

Resources are snapped once (`prepare`), with their ways onto the network indexed by node; a
query is one reverse Dijkstra from every entry of the incident (the snapping rule of
`geo.routing`: all edges into its node, or the tails of its candidate edges, with their
partial costs) — travel *to* the incident, so one-way streets count the right way — that
stops as soon as k resources are settled (`geo._kernels.k_nearest`), so it explores only
the area it needs.  Closures reach the search as the mask of closed edges (nothing is
rebuilt per query), and the resources' ways are kept per set of their own closed roads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geo import _kernels
from geo.network import Network
from geo.routing import Access, NoRoute, Route, Snap, _graph, _mask, assemble, closed_times, direct, entries, exits, snap, snap_many, workspace

#: How many closure sets' resource ways a `Prepared` keeps.
_KEEP_CLOSURE_SETS = 8


@dataclass
class Prepared:
    """Resources snapped to a network: `snaps[i]` is None where resource i is off the network.

    `targets` caches, per set of closed resource roads, the node → (resource, cost) lookup
    the search uses.
    """

    ids: list[str]
    snaps: list[Snap | None]
    off_network: dict[str, float] = field(default_factory=dict)  # id -> distance (m)
    _targets: dict = field(default_factory=dict, repr=False)

    def targets(self, net: Network, w) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[list[Access]], dict[int, list[int]]]:
        """(nodes, ptr, resource, cost): the nodes holding a resource's exit (sorted) and, per
        node, its resources and costs in CSR form; each resource's exits; and the resources
        with an exit part-way along each edge (edge → resource indices), under edge times `w`
        (the network's own, or `geo.routing.closed_times`).

        Only the resources' own candidate edges matter, so the answer is kept per set of
        those that `w` closes (up to `_KEEP_CLOSURE_SETS` sets).
        """
        own = self._targets.get("edges")
        if own is None:
            own = self._targets["edges"] = np.array(sorted({e for s in self.snaps if s is not None for e in s.cand_edge}), dtype=np.int64)
        key = np.isinf(np.asarray(w[own], dtype=float)).tobytes() if len(own) else b""
        if key in self._targets:
            return self._targets[key]
        outs = [exits(net, s, w) if s is not None else [] for s in self.snaps]
        node = np.array([a.node for o in outs for a in o], dtype=np.int64)
        res = np.array([i for i, o in enumerate(outs) for _ in o], dtype=np.int64)
        cost = np.array([a.time_s + s.access_time_s for o, s in zip(outs, self.snaps, strict=True) for a in o], dtype=float)
        order = np.argsort(node, kind="stable")
        nodes, first = np.unique(node[order], return_index=True)
        ptr = np.append(first, len(order)).astype(np.int64)
        on_edge: dict[int, list[int]] = {}
        for i, o in enumerate(outs):
            for a in o:
                if a.edge >= 0:
                    on_edge.setdefault(a.edge, []).append(i)
        out = (nodes, ptr, res[order], cost[order], outs, on_edge)
        kept = [k for k in self._targets if isinstance(k, bytes)]
        if len(kept) >= _KEEP_CLOSURE_SETS:
            del self._targets[kept[0]]
        self._targets[key] = out
        return out


def prepare(net: Network, ids, lon, lat, *, snap_limit_m: float | None = None) -> Prepared:
    """Snap resource positions (lon/lat, EPSG:4326) to `net` once, for many queries."""
    ids = [str(i) for i in ids]
    snaps, off_by_pos = snap_many(net, lon, lat, limit_m=snap_limit_m)
    off = {ids[i]: d for i, d in off_by_pos.items()}
    prepared = Prepared(ids, snaps, off)
    prepared.targets(net, net.edge_time_s)
    return prepared


@dataclass
class Answer:
    """One resource's fastest way to the incident; the route geometry is built when first used."""

    id: str
    travel_time_s: float
    _build: object = field(repr=False, default=None)
    _route: Route | None = field(repr=False, default=None)

    @property
    def route(self) -> Route:
        if self._route is None:
            self._route = self._build()
        return self._route

    @property
    def length_m(self) -> float:
        return self.route.length_m


def nearest(net: Network, incident: tuple[float, float], resources: Prepared, *, k: int = 5, blocked: np.ndarray | None = None, snap_limit_m: float | None = None) -> list[Answer]:
    """The `k` resources with the shortest road travel time to `incident` (lon, lat; EPSG:4326).

    One reverse Dijkstra from the incident's road that stops once the k fastest resources
    are settled.  Unreachable resources (other islands, or cut off by closures in
    `blocked`) are left out.

    Raises
    ------
    OffNetwork
        If the incident is beyond the snap limit.
    NoRoute
        Code 'in_closure' if the incident's own road is closed (it is not moved to another
        road silently; the exception says how far the nearest open road is).
    """
    if k < 1:
        msg = f"`k` was {k!r}; it must be at least 1."
        raise ValueError(msg)
    w = closed_times(net, blocked)
    target = snap(net, *incident, limit_m=snap_limit_m, blocked=blocked, which="incident")
    ins = entries(net, target, w)
    if not ins:
        msg = f"the incident's road on network {net.name!r} is closed."
        raise NoRoute(msg, code="in_closure", which="incident", point=tuple(incident), road=(target.snap_lon, target.snap_lat), open_road_m=target.distance_m, network=net.name)
    nodes_, ptr, res, cost, outs, on_edge = resources.targets(net, w)
    src = np.array([a.node for a in ins], dtype=np.int64)
    off = np.array([a.time_s for a in ins], dtype=float)
    with workspace(net) as ws:
        dist, _, pred, _, _, flag, touched = ws
        best, via, _ = _kernels.k_nearest(
            *_graph(net, reverse=True), net.edge_time_s, _mask(blocked), src, off, nodes_, ptr, res, cost, len(resources.snaps), k, dist, pred, flag, touched
        )  # fmt: skip
        totals = best + target.access_time_s
        direct_ways = _direct_ways(resources, target, ins, outs, on_edge, totals, w)
        order = [int(i) for i in np.argsort(totals, kind="stable")[:k] if np.isfinite(totals[i])]
        paths = {i: _kernels.path_to_root(pred, int(via[i])) for i in order if i not in direct_ways}
    answers = []
    for i in order:
        s = resources.snaps[i]
        if i in direct_ways:
            ex, en = direct_ways[i]
            build = (lambda s=s, ex=ex, en=en: assemble(net, s, target, ex, None, en, w))
        else:
            node = int(via[i])
            nodes = paths[i]
            ex = min((a for a in outs[i] if a.node == node), key=lambda a: a.time_s)
            en = min((a for a in ins if a.node == int(nodes[-1])), key=lambda a: a.time_s)
            build = (lambda s=s, ex=ex, nodes=nodes, en=en: assemble(net, s, target, ex, nodes.tolist(), en, w))
        answers.append(Answer(resources.ids[i], float(totals[i]), build))
    return answers


def _direct_ways(resources: Prepared, target: Snap, ins: list[Access], outs: list[list[Access]], on_edge: dict, totals: np.ndarray, w) -> dict:
    """Resources upstream on one of the incident's candidate edges drive straight to it: lower
    their `totals` (in place) where that is faster; returns their (exit, entry) by resource."""
    direct_ways = {}
    for i in {i for en in ins if en.edge >= 0 for i in on_edge.get(en.edge, ())}:
        s = resources.snaps[i]
        t, ex, en = direct(outs[i], ins, w)
        t += s.access_time_s + target.access_time_s
        if t < totals[i]:
            totals[i] = t
            direct_ways[i] = (ex, en)
    return direct_ways


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
