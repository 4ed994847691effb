"""Build a road network from an OSM file in bounded memory: two streaming passes, then numpy.

`build_network` reads a ``.osm.pbf`` (or any file osmium reads: ``.osm``, ``.osm.bz2``) in
two passes with pyosmium and never holds a Python object per node or a graph of the region:

1. **ways** (``osmium.filter.KeyFilter("highway")``, so other ways are skipped in C++): the
   node references of every drivable way (``highway`` in `geo.network.DRIVABLE`) go into one
   flat int64 array, with per way its direction, class and speed (km/h);
2. **nodes**: osmium fills its on-disk location index (``sparse_file_array``) in C++, and
   only the referenced ids are looked up, into float64 arrays.  (``osmium.filter.IdFilter``
   is not used: built from millions of scattered ids it takes minutes.)

The rest is vectorised numpy/scipy over segment arrays, with the rules osmnx 2.1.1 applies
when it reads a file (``graph_from_xml(simplify=True, retain_all=False)``), so that the
network answers as `geo.network.build_from_graph(read_osm(...))` does:

- **One-way** (osmnx ``_is_path_one_way`` / ``_is_path_reversed``): ``oneway`` in
  ``yes, true, 1, -1, reverse, T, F`` is one-way, backwards against the node order for
  ``-1, reverse, T``.  ``junction=roundabout`` or ``junction=circular`` is one-way unless
  ``oneway=no`` (the OSM wiki; osmnx ignores ``circular`` and ``oneway=no`` there).
- **Largest weakly connected part** kept (counted in OSM nodes, as osmnx's
  `largest_component`); isolated rings dropped (osmnx ``_remove_rings``).
- **Simplification** (osmnx ``_is_endpoint``): a node stays a network node where its edges
  start or end only (no way in or no way out), or where it has not exactly two distinct
  neighbours with 2 or 4 directed edges (intersections, dead ends, one-way/two-way changes,
  parallel ways).  In addition it stays where the class or speed of its roads changes
  (osmnx's ``edge_attrs_differ`` on the speed-giving tags): osmnx would merge such a chain
  and give it the speed of one of its classes, chosen by Python set order; here every
  edge has one class and one speed, so its travel time is the sum of its parts'.  Where a
  chain is digitised oddly (a one-way that turns two-way without a junction), the node
  stays too, where osmnx logs "Unexpected simplify pattern" and drops the rest of the chain.
- **Length**: sum of the great-circle lengths of the segments, R = 6,371,009 m (osmnx
  `osmnx.distance.great_circle`); **time** = length / speed, the speed from
  `geo.network.edge_speed_kph` (``maxspeed`` tag, else the class speed) × the emergency factor.

Segments that touch a node missing from the file (a clipped extract) are left out, with a
warning (osmnx fails on those files).

Memory: the arrays of pass 1 (8 bytes per node reference, a few per way), the looked-up
locations (16 bytes per referenced node), then per segment about a dozen int64/float64
arrays while the chains are found, and `geo.network.build_from_arrays` (adjacency and
snapping grid); BENCHMARKS.md has the peak for 5 M referenced nodes.
"""

from __future__ import annotations

import logging
import os
import time
from array import array
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from geo import network as gn

log = logging.getLogger(__name__)

#: Earth radius (m) of osmnx's `great_circle`, so that lengths equal osmnx's.
OSMNX_EARTH_RADIUS_M = 6_371_009.0
#: ``oneway`` values that make a way one-way, and those that make it run against its node order (osmnx 2.1.1).
ONEWAY_VALUES = frozenset({"yes", "true", "1", "-1", "reverse", "T", "F"})
REVERSED_VALUES = frozenset({"-1", "reverse", "T"})
#: ``junction`` values that imply one-way (unless ``oneway=no``).
ONEWAY_JUNCTIONS = frozenset({"roundabout", "circular"})
#: Seconds between progress reports (at most; the numpy steps report between steps).
PROGRESS_EVERY_S = 1.0

Progress = Callable[[str, float], None]


def way_direction(oneway: str | None, junction: str | None) -> int:
    """Direction of a way from its ``oneway`` and ``junction`` tags: 0 both ways, 1 forward only, -1 backward only."""
    if oneway in ONEWAY_VALUES:
        return -1 if oneway in REVERSED_VALUES else 1
    if junction in ONEWAY_JUNCTIONS and oneway != "no":
        return 1
    return 0


def great_circle_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance (m) between lon/lat points (degrees), exactly as osmnx computes edge lengths."""
    y1, y2 = np.deg2rad(lat1), np.deg2rad(lat2)
    x1, x2 = np.deg2rad(lon1), np.deg2rad(lon2)
    h = np.sin((y2 - y1) / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin((x2 - x1) / 2) ** 2
    h = np.minimum(1, h)
    return 2 * np.arcsin(np.sqrt(h)) * OSMNX_EARTH_RADIUS_M


class _Reporter:
    """Calls `progress` (phase, fraction 0..1) at most every `PROGRESS_EVERY_S`, fractions never decreasing within a phase."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.phase = ""
        self.last_t = -np.inf
        self.last_f = 0.0

    def __call__(self, phase: str, fraction: float, *, force: bool = False) -> None:
        if self.progress is None:
            return
        if phase != self.phase:
            self.phase, self.last_f, force = phase, 0.0, True
        now = time.monotonic()
        if not force and now - self.last_t < PROGRESS_EVERY_S:
            return
        self.last_f = max(self.last_f, min(max(float(fraction), 0.0), 1.0))
        self.last_t = now
        self.progress(phase, self.last_f)


def _file_fraction(path: Path, size: int) -> float | None:
    """How far this process has read `path` (0..1), from the position of its open descriptor (Linux), or None."""
    if size <= 0:
        return None
    try:
        target = os.path.realpath(path)
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}") != target:
                    continue
                with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as fh:
                    pos = int(fh.readline().split()[1])
            except (OSError, ValueError, IndexError):
                continue
            return pos / size
    except OSError:
        return None
    return None


def _read_ways(path: Path, report: _Reporter, *, emergency_factor: float) -> dict:
    """Pass 1: node references of the drivable ways (flat) and per way its direction, class and speed."""
    import osmium

    refs = array("q")
    counts = array("q")
    direction = array("b")
    way_class = array("h")
    way_speed = array("d")
    class_id: dict[str, int] = {}
    speeds: dict[tuple[str, str | None], float] = {}
    size = path.stat().st_size
    processor = osmium.FileProcessor(str(path), osmium.osm.WAY).with_filter(osmium.filter.KeyFilter("highway"))
    report("ways", 0.0, force=True)
    for i, way in enumerate(processor):
        if not i & 4095:
            report("ways", _file_fraction(path, size) or 0.0)
        tags = way.tags
        hw = tags.get("highway")
        if hw not in gn.DRIVABLE:
            continue
        maxspeed = tags.get("maxspeed")
        key = (hw, maxspeed)
        speed = speeds.get(key)
        if speed is None:
            speed = speeds[key] = gn.edge_speed_kph(hw, maxspeed, emergency_factor=emergency_factor)
        ids = [n.ref for n in way.nodes]
        refs.extend(ids)
        counts.append(len(ids))
        direction.append(way_direction(tags.get("oneway"), tags.get("junction")))
        way_class.append(class_id.setdefault(hw, len(class_id)))
        way_speed.append(speed)
    report("ways", 1.0, force=True)
    return {
        "refs": np.frombuffer(refs, dtype=np.int64) if refs else np.zeros(0, np.int64),
        "counts": np.frombuffer(counts, dtype=np.int64) if counts else np.zeros(0, np.int64),
        "direction": np.frombuffer(direction, dtype=np.int8) if direction else np.zeros(0, np.int8),
        "way_class": np.frombuffer(way_class, dtype=np.int16) if way_class else np.zeros(0, np.int16),
        "way_speed": np.frombuffer(way_speed, dtype=np.float64) if way_speed else np.zeros(0),
        "classes": sorted(class_id, key=class_id.get),
    }


def _read_nodes(path: Path, needed: np.ndarray, report: _Reporter) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 2: lon, lat (degrees) of the nodes `needed` (sorted ids), NaN where missing; and a found mask.

    The file's node locations go into osmium's on-disk location index (``sparse_file_array``
    in a temporary folder: 16 bytes per node on disk, not in memory), filled in C++ on a
    helper thread while this one reports progress; then only the `needed` ids are looked up.
    """
    import tempfile
    import threading

    import osmium

    size = path.stat().st_size
    n = len(needed)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    with tempfile.TemporaryDirectory(prefix="osm-locations-") as tmp:
        index = osmium.index.create_map(f"sparse_file_array,{Path(tmp) / 'locations.bin'}")
        handler = osmium.NodeLocationsForWays(index)
        handler.ignore_errors()
        failed: list[BaseException] = []

        def fill() -> None:
            try:
                # the ways too: the handler sorts the index when it meets the first way
                with osmium.io.Reader(str(path), osmium.osm.NODE | osmium.osm.WAY) as reader:
                    osmium.apply(reader, handler)
            except BaseException as exc:  # noqa: BLE001 (re-raised on the calling thread)
                failed.append(exc)

        report("nodes", 0.0, force=True)
        worker = threading.Thread(target=fill, name="osm-locations", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(PROGRESS_EVERY_S)
            report("nodes", 0.9 * (_file_fraction(path, size) or 0.0))
        if failed:
            raise failed[0]
        get = index.get
        x = np.zeros(n, dtype=np.int64)
        y = np.zeros(n, dtype=np.int64)
        found = np.zeros(n, dtype=bool)
        for i, node_id in enumerate(needed.tolist()):
            if not i & 65535:
                report("nodes", 0.9 + 0.1 * i / max(n, 1))
            try:
                loc = get(node_id)
            except KeyError:
                continue
            if loc.valid():
                x[i], y[i], found[i] = loc.x, loc.y, True
        del index, handler
    report("nodes", 1.0, force=True)
    # fixed-point 1e-7 degrees, divided as osmium's Location.lon/lat do (and as XML parsing gives)
    lon[found] = x[found] / 1e7
    lat[found] = y[found] / 1e7
    return lon, lat, found


def _segments(ways: dict, needed_index: np.ndarray, located: np.ndarray) -> dict:
    """Directed segments (node indices) of the ways: both directions of two-way ways, reversed where one-way backwards."""
    counts = ways["counts"]
    way_of_ref = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    a, b = needed_index[:-1], needed_index[1:]
    keep = (way_of_ref[:-1] == way_of_ref[1:]) & (a != b)
    n_missing = int(np.sum(keep & ~(located[a] & located[b])))
    if n_missing:
        log.warning("%s road segments touch nodes missing from the file (a clipped extract?) and are left out", f"{n_missing:,}")
    keep &= located[a] & located[b]
    a, b, way = a[keep], b[keep], way_of_ref[:-1][keep]
    direction = ways["direction"][way]
    back = direction == -1
    a, b = np.where(back, b, a), np.where(back, a, b)
    two = np.flatnonzero(direction == 0)
    seg = np.concatenate([np.arange(len(a)), two])
    return {"u": np.concatenate([a, b[two]]), "v": np.concatenate([b, a[two]]), "way": way[seg], "n_fwd": len(a)}


def _largest_component(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mask of the nodes in the largest weakly connected part (by number of nodes on its roads)."""
    graph = sparse.csr_matrix((np.ones(len(u), dtype=np.int8), (u, v)), shape=(n, n))
    _, label = connected_components(graph, directed=True, connection="weak")
    used = np.zeros(n, dtype=bool)
    used[u] = True
    used[v] = True
    sizes = np.bincount(label[used], minlength=label.max() + 1)
    return label == sizes.argmax()


def _endpoints(n: int, u: np.ndarray, v: np.ndarray, attr: np.ndarray, n_fwd: int) -> np.ndarray:
    """osmnx's `_is_endpoint` (rules 1-3) plus a change of class/speed (`attr`) between a node's edges.

    The first `n_fwd` edges hold every road piece once (the rest are reverse copies of two-way ones).
    """
    out_deg = np.bincount(u, minlength=n)
    in_deg = np.bincount(v, minlength=n)
    degree = in_deg + out_deg
    fu, fv = u[:n_fwd], v[:n_fwd]
    pairs = np.unique(np.minimum(fu, fv) * n + np.maximum(fu, fv))
    n_neighbours = np.bincount(pairs // n, minlength=n) + np.bincount(pairs % n, minlength=n)
    endpoint = (out_deg == 0) | (in_deg == 0) | ~((n_neighbours == 2) & ((degree == 2) | (degree == 4)))
    ends = np.concatenate([fu, fv])
    attrs = np.concatenate([attr[:n_fwd], attr[:n_fwd]])
    seen = np.zeros(n, dtype=np.int64)
    seen[ends] = attrs  # one of each node's values; any other value means a change
    endpoint[ends[attrs != seen[ends]]] = True
    return endpoint


def _next_edges(n: int, u: np.ndarray, v: np.ndarray, endpoint: np.ndarray) -> np.ndarray:
    """For each edge p→x into a non-endpoint x, the edge x→q on to x's other neighbour q (-1 at endpoints; -2 where none exists)."""
    nxt = np.full(len(u), -1, dtype=np.int64)
    into = np.flatnonzero(~endpoint[v])
    if not len(into):
        return nxt
    order = np.argsort(u, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    x, p = v[into], u[into]
    c0 = order[indptr[x]]
    second = indptr[x] + 1 < indptr[x + 1]
    c1 = order[np.where(second, indptr[x] + 1, indptr[x])]
    nxt[into] = np.where(v[c0] != p, c0, np.where(second & (v[c1] != p), c1, -2))
    return nxt


def _chains(n: int, u: np.ndarray, v: np.ndarray, attr: np.ndarray, n_fwd: int, report: _Reporter) -> tuple[np.ndarray, np.ndarray]:
    """Simplify: (edge order, chain id per ordered edge); see the module docstring."""
    endpoint = _endpoints(n, u, v, attr, n_fwd)
    while True:  # nodes where a chain cannot go on (odd digitising) become endpoints too
        nxt = _next_edges(n, u, v, endpoint)
        stuck = nxt == -2
        if not stuck.any():
            break
        endpoint[v[stuck]] = True
    report("simplify", 0.3, force=True)
    start = np.flatnonzero(endpoint[u])
    # parallel edges from an endpoint into the same interstitial node start one chain (as osmnx's path building)
    inner = ~endpoint[v[start]]
    start_keys = u[start] * n + v[start]
    _, first = np.unique(start_keys[inner], return_index=True)
    start = np.concatenate([start[~inner], start[inner][np.sort(first)]])
    edges, chain, step_of = [], [], []
    cur, cid, step = start, np.arange(len(start), dtype=np.int64), 0
    done, total = 0, len(u)
    while len(cur):
        edges.append(cur)
        chain.append(cid)
        step_of.append(np.full(len(cur), step, dtype=np.int64))
        done += len(cur)
        report("simplify", 0.3 + 0.6 * done / max(total, 1))
        after = nxt[cur]
        alive = after >= 0
        cur, cid, step = after[alive], cid[alive], step + 1
        if step > total:  # cannot happen: a chain ends at an endpoint
            msg = "road chains do not end at a junction; the file's ways are inconsistent."
            raise gn.NetworkError("unreadable", msg)
    if not edges:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    edges, chain, step_of = np.concatenate(edges), np.concatenate(chain), np.concatenate(step_of)
    # chain by chain, in order along each: slot = the chain's offset + the step
    offset = np.zeros(len(start), dtype=np.int64)
    np.cumsum(np.bincount(chain, minlength=len(start))[:-1], out=offset[1:])
    out = np.empty(len(edges), dtype=np.int64)
    out[offset[chain] + step_of] = edges
    return out, np.repeat(np.arange(len(start), dtype=np.int64), np.bincount(chain, minlength=len(start)))


def build_network(
    path: str | os.PathLike,
    *,
    name: str,
    source: str | None = None,
    emergency_factor: float = 1.0,
    progress: Progress | None = None,
) -> gn.Network:
    """Build the `geo.network.Network` of the drivable roads in an OSM file, streaming.

    Parameters
    ----------
    path
        An OSM file osmium reads: ``.osm.pbf`` (the format this is for), ``.osm``, ``.osm.bz2``.
    name, source
        The network's name and where it came from (default: the file name).
    emergency_factor
        Multiplies every speed (priority passage), as in `geo.network.edge_speed_kph`.
    progress
        Called with (phase, fraction 0..1) about every second while reading and between the
        steps after: phases 'ways', 'nodes', 'simplify', 'index'.

    Raises
    ------
    geo.network.NetworkError
        'file_missing', 'unreadable' (not OSM data, damaged) or 'no_edges' (no drivable road).
    """
    path = Path(path)
    if not path.exists():
        msg = f"OSM file {path} does not exist."
        raise gn.NetworkError("file_missing", msg, file=path.name)
    if not emergency_factor > 0:
        msg = f"`emergency_factor` was {emergency_factor!r} but must be a positive number."
        raise ValueError(msg)
    report = _Reporter(progress)
    t0 = time.perf_counter()
    try:
        ways = _read_ways(path, report, emergency_factor=emergency_factor)
        needed, needed_index = np.unique(ways["refs"], return_inverse=True)
        lon, lat, located = _read_nodes(path, needed, report)
    except (RuntimeError, ValueError, OSError) as exc:  # osmium raises RuntimeError on damaged files
        msg = f"could not read roads from {path.name}: {exc}"
        raise gn.NetworkError("unreadable", msg, file=path.name) from exc
    log.info("%s: %s drivable ways, %s node references, %s nodes read in %.1f s", path.name,
             f"{len(ways['counts']):,}", f"{len(ways['refs']):,}", f"{int(located.sum()):,}", time.perf_counter() - t0)  # fmt: skip
    report("simplify", 0.0, force=True)
    n = len(needed)
    seg = _segments(ways, needed_index.astype(np.int64, copy=False), located)
    del needed_index
    u, v, way = seg["u"], seg["v"], seg["way"]
    if not len(u):  # no drivable road: the same error as every other builder
        empty = np.zeros(0)
        return gn.build_from_arrays(empty, empty, empty, empty, empty, empty, empty, [], name=name, source=source or path.name)
    main = _largest_component(n, u, v)
    keep = main[u]
    n_fwd = int(np.count_nonzero(keep[: seg["n_fwd"]]))  # forward pieces stay first
    u, v, way = u[keep], v[keep], way[keep]
    report("simplify", 0.1, force=True)
    # one key per (class, speed): chains never run across a change of either
    speed = ways["way_speed"]
    _, speed_id = np.unique(speed, return_inverse=True)
    attr = (ways["way_class"].astype(np.int64) * (int(speed_id.max()) + 1) + speed_id.ravel())[way]
    del seg
    order, chain = _chains(n, u, v, attr, n_fwd, report)
    report("simplify", 0.9, force=True)
    # edges (chains): first and last node, length, time, class, geometry
    seg_len = great_circle_m(lon[u[order]], lat[u[order]], lon[v[order]], lat[v[order]])
    n_chains = int(chain.max()) + 1 if len(chain) else 0
    first = np.searchsorted(chain, np.arange(n_chains))
    last = np.append(first[1:], len(chain)) - 1
    length_m = np.bincount(chain, weights=seg_len, minlength=n_chains)
    chain_way = way[order[first]]
    speed_kph = speed[chain_way]
    time_s = length_m / (speed_kph / 3.6)
    edge_class = ways["way_class"][chain_way]
    cu, cv = u[order[first]], v[order[last]]
    # geometry: tail of the first segment, then the head of every segment
    n_pts = last - first + 2
    geom_offsets = np.zeros(n_chains + 1, dtype=np.int64)
    np.cumsum(n_pts, out=geom_offsets[1:])
    pts = np.empty(int(geom_offsets[-1]), dtype=np.int64)
    pts[geom_offsets[:-1]] = cu
    head_slot = np.arange(len(order)) + np.repeat(np.arange(n_chains) + 1, last - first + 1)
    pts[head_slot] = v[order]
    # network nodes: the chains' ends, renumbered
    ends = np.unique(np.concatenate([cu, cv])) if n_chains else np.zeros(0, np.int64)
    remap = np.full(n, -1, dtype=np.int64)
    remap[ends] = np.arange(len(ends))
    log.info("%s: simplified to %s nodes and %s edges in %.1f s", path.name, f"{len(ends):,}", f"{n_chains:,}", time.perf_counter() - t0)
    report("simplify", 1.0, force=True)
    report("index", 0.0, force=True)
    net = gn.build_from_arrays(
        lon[ends], lat[ends], remap[cu], remap[cv], length_m, time_s, edge_class, ways["classes"],
        geom_offsets, lon[pts], lat[pts],
        name=name, source=source or path.name, emergency_factor=emergency_factor, node_id=needed[ends],
    )  # fmt: skip
    report("index", 1.0, force=True)
    log.info("%s: network %s built in %.1f s", path.name, name, time.perf_counter() - t0)
    return net
