"""Contraction hierarchy of a road network: built once, saved with it, read by `geo.routing`.

The hierarchy is built on the node-pair graph of the network (each ordered node pair's
fastest road, the graph every search kernel reads) by `geo._ch.contract`: every node gets a
rank, and shortcuts (arcs standing for two arcs through a lower node) keep every fastest
time.  A one-to-one query then searches only upwards from both ends (`geo._ch.query`:
hundreds of nodes settled where a landmark search settles thousands) and unpacks the
shortcuts of the way it found back into road nodes.

Closures are not part of the hierarchy.  They only ever remove roads, so a route can only get
slower: when the fastest way of the open network uses no closed road it is still the fastest
with the closures (`geo.routing.route` checks this on every query), and otherwise the route
is searched on the closed network by the landmark search.  Both ways the answer is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from geo import _ch
from geo.network import Network, derived

#: Witness searches settle at most this many nodes when contracting / when estimating a
#: node's priority (stopping early adds a shortcut that might not be needed, never omits one).
WITNESS_SETTLE = 50
PRIORITY_SETTLE = 10
#: Contraction stops when this share of the nodes remains: the core, searched by the landmark
#: search (the last nodes are the dearest to contract and the core search is short) — on
#: networks of at least `CORE_MIN_NODES` nodes; smaller ones are contracted whole.
CORE_SHARE = 0.02
CORE_MIN_NODES = 50_000

_ARRAYS = (
    "ch_rank", "ch_uf_ptr", "ch_uf_to", "ch_uf_w", "ch_uf_mid", "ch_ub_ptr", "ch_ub_from", "ch_ub_w", "ch_ub_mid",
    "ch_core_nodes", "ch_cf_ptr", "ch_cf_to", "ch_cf_w", "ch_cf_mid", "ch_cr_ptr", "ch_cr_from", "ch_cr_w",
)  # fmt: skip
_NONE = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Hierarchy:
    """Node ranks and the searches' arcs, as CSR arrays: ``uf`` at node u its arcs u→x to
    higher nodes, ``ub`` at node x the arcs y→x from higher nodes, ``cf`` / ``cr`` the arcs
    between core nodes (rank n: not contracted) at their tail / head, numbered within the
    core (`core_nodes`: its nodes in network order, so that the core search's arrays and
    landmark rows fit in the processor's cache); ``*_w`` times (s), ``*_mid`` the node a
    shortcut passes (a network node; -1 for a road)."""

    rank: np.ndarray
    uf_ptr: np.ndarray
    uf_to: np.ndarray
    uf_w: np.ndarray
    uf_mid: np.ndarray
    ub_ptr: np.ndarray
    ub_from: np.ndarray
    ub_w: np.ndarray
    ub_mid: np.ndarray
    core_nodes: np.ndarray
    cf_ptr: np.ndarray
    cf_to: np.ndarray
    cf_w: np.ndarray
    cf_mid: np.ndarray
    cr_ptr: np.ndarray
    cr_from: np.ndarray
    cr_w: np.ndarray

    @cached_property
    def is_core(self) -> np.ndarray:
        return self.rank == len(self.rank)

    @cached_property
    def core_index(self) -> np.ndarray:
        """Each network node's number within the core (-1 outside it)."""
        out = np.full(len(self.rank), -1, dtype=np.int64)
        out[self.core_nodes] = np.arange(len(self.core_nodes))
        return out

    @property
    def n_core(self) -> int:
        return len(self.core_nodes)

    @property
    def n_arcs(self) -> int:
        return int(len(self.uf_to) + len(self.ub_from) + len(self.cf_to))

    @property
    def nbytes(self) -> int:
        return int(sum(getattr(self, k[3:]).nbytes for k in _ARRAYS))

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k[3:]) for k in _ARRAYS}

    def core_graph(self, *, reverse: bool) -> tuple[np.ndarray, ...]:
        """The core's arcs as `geo._kernels.alt_route` reads a graph (no closures: the pair
        arrays it would need for them are empty)."""
        if reverse:
            return self.cr_ptr, self.cr_from, self.cr_w, _NONE, _NONE, _NONE
        return self.cf_ptr, self.cf_to, self.cf_w, _NONE, _NONE, _NONE


def _csr(at: np.ndarray, other: np.ndarray, w: np.ndarray, mid: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    order = np.argsort(at, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(at, minlength=n), out=ptr[1:])
    return ptr, np.ascontiguousarray(other[order]), np.ascontiguousarray(w[order]), np.ascontiguousarray(mid[order])


def build_hierarchy(
    net: Network, *, witness_settle: int = WITNESS_SETTLE, priority_settle: int = PRIORITY_SETTLE, core_share: float | None = None,
) -> Hierarchy:  # fmt: skip
    """Contract the nodes of `net` but a core of `core_share` of them (default `CORE_SHARE`
    on networks of `CORE_MIN_NODES` nodes or more, else none; see the module docstring)."""
    if core_share is None:
        core_share = CORE_SHARE if net.n_nodes >= CORE_MIN_NODES else 0.0
    for name, value in (("witness_settle", witness_settle), ("priority_settle", priority_settle)):
        if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1):
            msg = f"`{name}` was {value!r}; expected a whole number of nodes, at least 1."
            raise ValueError(msg)
    if not (isinstance(core_share, (int, float)) and not isinstance(core_share, bool) and 0 <= core_share <= 1):
        msg = f"`core_share` was {core_share!r}; expected a share of the nodes from 0 to 1."
        raise ValueError(msg)
    from geo.routing import _graph  # the pair graph the kernels read (routing imports this module)

    n = net.n_nodes
    indptr, indices, w = _graph(net, reverse=False)[:3]
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    dst = np.asarray(indices, dtype=np.int64)
    w = np.asarray(w, dtype=np.float64)
    keep = (src != dst) & np.isfinite(w)
    src, dst, w = src[keep], dst[keep], w[keep]
    cap = 3 * len(src) + 1024
    while True:
        status, rank, a_from, a_to, a_w, a_mid = _ch.contract(n, src, dst, w, cap, int(witness_settle), int(priority_settle), int(core_share * n))
        if status != _ch.POOL_FULL:
            break
        cap *= 2
    rank = np.where(rank < 0, n, rank)
    core = (rank[a_from] == n) & (rank[a_to] == n)
    up = ~core & (rank[a_from] < rank[a_to])
    down = ~core & ~up
    uf = _csr(a_from[up], a_to[up], a_w[up], a_mid[up], n)
    ub = _csr(a_to[down], a_from[down], a_w[down], a_mid[down], n)
    core_nodes = np.flatnonzero(rank == n).astype(np.int64)
    local = np.full(n, -1, dtype=np.int64)
    local[core_nodes] = np.arange(len(core_nodes))
    c_from, c_to = local[a_from[core]], local[a_to[core]]
    cf = _csr(c_from, c_to, a_w[core], a_mid[core], len(core_nodes))
    cr = _csr(c_to, c_from, a_w[core], a_mid[core], len(core_nodes))[:3]
    return Hierarchy(rank, *uf, *ub, core_nodes, *cf, *cr)


def hierarchy(net: Network) -> Hierarchy:
    """The network's hierarchy: saved with it, else built once (`build_hierarchy`) and kept
    with it (`geo.network.derived`)."""

    def load(a: dict) -> Hierarchy | None:
        fits = (
            all(k in a for k in _ARRAYS) and len(a["ch_rank"]) == net.n_nodes
            and all(len(a[f"ch_{x}_ptr"]) == net.n_nodes + 1 for x in ("uf", "ub"))
            and all(len(a[f"ch_{x}_ptr"]) == len(a["ch_core_nodes"]) + 1 for x in ("cf", "cr"))
        )  # fmt: skip
        return Hierarchy(*(a[k] for k in _ARRAYS)) if fits else None

    return derived(net, "ch", load=load, build=build_hierarchy, to_arrays=Hierarchy.arrays, what="hierarchy")


