"""Build, save and load road networks as compact arrays (CSR) for fast travel-time search.

A `Network` holds directed edges with length (m), travel time (s), road class and geometry,
the node positions (EPSG:4326), forward and reverse CSR adjacency for
``scipy.sparse.csgraph``, and a uniform grid over edge segments for snapping points to the
nearest edge.  It is built once (from OSM XML/PBF through osmnx, or approximately from a
set of places) and saved as plain ``.npy`` files that load memory-mapped, so every session
shares one read-only copy.

Speeds
------
Travel time = length / speed.  The speed is the edge's ``maxspeed`` tag where it is tagged
and parseable (``60``, ``60 km/h``, ``40 mph``, lists: their mean), otherwise the class
speed of `SPEEDS_KPH`: typical free-flow speeds of Chinese urban roads (expressways 80,
primary 50, residential 25 km/h …), following the urban design speeds of CJJ 37-2012.
An optional emergency-vehicle factor multiplies every speed (priority passage).

Approximate network
-------------------
Where no road data exists, `build_approximate` links nearby places (Delaunay neighbours
up to `APPROX_MAX_EDGE_KM`) with straight edges whose length is the great-circle distance ×
`APPROX_CIRCUITY` (1.3, the usual road circuity of Chinese regions) at `APPROX_SPEED_KPH`.
Every result on it is an estimate (估算): ``meta["estimate"]`` is True.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

log = logging.getLogger(__name__)

#: Free-flow speed (km/h) per OSM highway class where no usable maxspeed is tagged.
SPEEDS_KPH: dict[str, float] = {
    "motorway": 80.0,
    "motorway_link": 50.0,
    "trunk": 60.0,
    "trunk_link": 40.0,
    "primary": 50.0,
    "primary_link": 40.0,
    "secondary": 40.0,
    "secondary_link": 35.0,
    "tertiary": 35.0,
    "tertiary_link": 30.0,
    "unclassified": 30.0,
    "residential": 25.0,
    "living_street": 10.0,
    "service": 15.0,
    "road": 30.0,
    "approximate": 50.0,
}
#: Highway classes a fire engine or ambulance may drive on.
DRIVABLE = frozenset(SPEEDS_KPH) - {"approximate"}
MPH_TO_KPH = 1.609344

#: Approximate network: circuity factor, speed (km/h), longest straight link kept (km).
APPROX_CIRCUITY = 1.3
APPROX_SPEED_KPH = SPEEDS_KPH["approximate"]
APPROX_MAX_EDGE_KM = 40.0

#: Default snap limits (m): beyond them a point is "off the network".
DEFAULT_SNAP_LIMIT_M = 1000.0
APPROX_SNAP_LIMIT_M = 30_000.0
#: Speed (km/h) of the leg between a point and the road it snaps to (yard, lane, on foot).
ACCESS_SPEED_KPH = 15.0

EARTH_RADIUS_M = 6_371_008.8
_GRID_CELL_M = 250.0
_ARRAYS = (
    "node_id", "node_lon", "node_lat", "edge_u", "edge_v", "edge_length_m", "edge_time_s", "edge_class",
    "geom_offsets", "geom_lon", "geom_lat",
    "fwd_indptr", "fwd_indices", "fwd_edge", "fwd_pair_ptr", "fwd_edge_all",
    "rev_indptr", "rev_indices", "rev_edge", "rev_pair_ptr", "rev_edge_all",
    "seg_edge", "seg_x1", "seg_y1", "seg_x2", "seg_y2", "seg_start_m", "edge_proj_len_m",
    "cell_indptr", "cell_seg", "grid_origin",
)  # fmt: skip


class NetworkError(ValueError):
    """A network cannot be built or loaded, with a `code` and `params` for a localized message.

    ``str(exc)`` is an English sentence for logs and the command line (it says why and what to
    do); pages show a message chosen by `code` (`layers.dispatch.network_message`):

    - 'bad_name': ``name`` is not usable as a folder name (see `check_name`);
    - 'file_missing', 'file_type', 'unreadable': the OSM file ``file`` does not exist, does not
      end in .osm, .osm.bz2 or .osm.pbf, or holds no readable OSM data;
    - 'no_edges': network ``name`` would have no drivable road;
    - 'bad_arrays': the node and edge arrays are inconsistent (a defect of the caller);
    - 'too_few_places': an approximate network over ``n`` places (at least 3 are needed);
    - 'download_failed': osmnx could not download the roads (no internet);
    - 'not_found', 'damaged', 'incomplete': no saved network, a damaged one, or one lacking
      arrays (``missing``), at ``folder`` whose folder name is ``name``;
    - 'overlap', 'reserved_name' (`geo.stitch`): the areas of local networks ``name`` and
      ``other`` overlap, or a local network is called ``name`` = 'stitched'.
    """

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def parse_maxspeed(value: object) -> float | None:
    """Speed in km/h from an OSM ``maxspeed`` value, or None when it gives no number.

    Accepts numbers, ``"60"``, ``"60 km/h"``, ``"40 mph"``, ``"60;80"`` and lists of those
    (the mean of the parseable parts).  Zone codes (``"CN:urban"``), ``"none"``,
    ``"signals"`` and the like give None.
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        parts = [parse_maxspeed(v) for v in value]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) and value > 0 else None
    else:
        parts = []
        for piece in re.split(r"[;,|]", str(value)):
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*", piece, flags=re.IGNORECASE)
            if not m:
                parts.append(None)
                continue
            speed = float(m.group(1))
            unit = (m.group(2) or "").lower()
            if unit == "mph":
                speed *= MPH_TO_KPH
            elif unit == "knots":
                speed *= 1.852
            parts.append(speed if speed > 0 else None)
    good = [p for p in parts if p is not None]
    return sum(good) / len(good) if good else None


def highway_class(value: object) -> str:
    """One OSM highway class from a tag value or a list of them (the first drivable one)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if str(v) in SPEEDS_KPH:
            return str(v)
    return str(values[0])


def edge_speed_kph(highway: object, maxspeed: object = None, *, emergency_factor: float = 1.0) -> float:
    """Speed (km/h) of an edge: its parsed `maxspeed`, else its class speed, × `emergency_factor`."""
    if not emergency_factor > 0:
        msg = f"`emergency_factor` was {emergency_factor!r} but must be a positive number."
        raise ValueError(msg)
    speed = parse_maxspeed(maxspeed)
    if speed is None:
        speed = SPEEDS_KPH.get(highway_class(highway), SPEEDS_KPH["unclassified"])
    return speed * emergency_factor


def haversine_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance (m) between lon/lat points (degrees, EPSG:4326)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


@dataclass
class LocalProjection:
    """Equirectangular metres around (`lon0`, `lat0`): exact enough for snapping within a few km."""

    lon0: float
    lat0: float

    def forward(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        k = math.pi / 180 * EARTH_RADIUS_M
        return (np.asarray(lon) - self.lon0) * k * math.cos(math.radians(self.lat0)), (np.asarray(lat) - self.lat0) * k

    def inverse(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        k = math.pi / 180 * EARTH_RADIUS_M
        return np.asarray(x) / (k * math.cos(math.radians(self.lat0))) + self.lon0, np.asarray(y) / k + self.lat0


@dataclass
class Network:
    """A directed road network as arrays; see the module docstring.  Treat as read-only."""

    meta: dict
    arrays: dict[str, np.ndarray] = field(repr=False)
    _matrices: dict = field(default_factory=dict, repr=False, compare=False)
    #: The folder it was loaded from (`load`), where arrays computed later are cached; None if built in memory.
    folder: Path | None = field(default=None, repr=False, compare=False)

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def estimate(self) -> bool:
        """True for the approximate network: every answer on it is an estimate (估算)."""
        return bool(self.meta.get("estimate"))

    @property
    def n_nodes(self) -> int:
        return len(self.arrays["node_lon"])

    @property
    def n_edges(self) -> int:
        return len(self.arrays["edge_u"])

    @property
    def projection(self) -> LocalProjection:
        return LocalProjection(self.meta["lon0"], self.meta["lat0"])

    @property
    def highway_names(self) -> list[str]:
        return self.meta["classes"]

    def edge_coords(self, edge: int) -> np.ndarray:
        """(n, 2) lon/lat vertices of `edge`, from u to v."""
        a, b = self.geom_offsets[edge], self.geom_offsets[edge + 1]
        return np.column_stack([self.geom_lon[a:b], self.geom_lat[a:b]])

    def csr(self, *, reverse: bool = False, weights: np.ndarray | None = None) -> sparse.csr_matrix:
        """Travel-time adjacency (s) as a CSR matrix; `reverse` gives the transposed graph.

        `weights` (per edge, default `edge_time_s`) lets a query raise blocked edges to inf.
        Parallel edges are merged keeping the fastest.
        """
        prefix = "rev" if reverse else "fwd"
        if weights is None and prefix in self._matrices:
            return self._matrices[prefix]
        indptr, indices = self.arrays[f"{prefix}_indptr"], self.arrays[f"{prefix}_indices"]
        if weights is None:
            data = self.edge_time_s[self.arrays[f"{prefix}_edge"]]
        else:
            data = _pair_min(weights, self.arrays[f"{prefix}_edge_all"], self.arrays[f"{prefix}_pair_ptr"])
        m = sparse.csr_matrix((data, indices, indptr), shape=(self.n_nodes, self.n_nodes))
        if weights is None:
            self._matrices[prefix] = m  # the unweighted-by-query matrix is shared, never mutated
        return m

    def edge_between(self, u: int, v: int, *, weights: np.ndarray | None = None) -> int:
        """Id of the fastest edge u → v (under `weights`), or -1 if there is none."""
        a, b = self.fwd_indptr[u], self.fwd_indptr[u + 1]
        cols = self.fwd_indices[a:b]
        pos = int(np.searchsorted(cols, v))
        if pos >= len(cols) or cols[pos] != v:
            return -1
        lo, hi = self.fwd_pair_ptr[a + pos], self.fwd_pair_ptr[a + pos + 1]
        cand = self.fwd_edge_all[lo:hi]
        w = self.edge_time_s if weights is None else weights
        return int(cand[np.argmin(w[cand])])


def _pair_min(weights: np.ndarray, edges_all: np.ndarray, pair_ptr: np.ndarray) -> np.ndarray:
    return np.minimum.reduceat(weights[edges_all], pair_ptr[:-1]) if len(edges_all) else np.zeros(0)


def _adjacency(n_nodes: int, rows: np.ndarray, cols: np.ndarray, time_s: np.ndarray) -> dict[str, np.ndarray]:
    """CSR of (rows → cols) with parallel edges grouped; entries sorted by column within a row."""
    order = np.lexsort((time_s, cols, rows))
    r, c = rows[order], cols[order]
    new_pair = np.ones(len(order), dtype=bool)
    new_pair[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    pair_ptr = np.flatnonzero(new_pair)
    pair_rows, pair_cols = r[pair_ptr], c[pair_ptr]
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.add.at(indptr, pair_rows + 1, 1)
    np.cumsum(indptr, out=indptr)
    return {
        "indptr": indptr,
        "indices": pair_cols.astype(np.int32),
        "edge": order[pair_ptr].astype(np.int32),  # fastest edge of each pair (times sorted ascending)
        "pair_ptr": np.append(pair_ptr, len(order)).astype(np.int64),
        "edge_all": order.astype(np.int32),
    }


def build_from_arrays(
    node_lon: np.ndarray,
    node_lat: np.ndarray,
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    edge_length_m: np.ndarray,
    edge_time_s: np.ndarray,
    edge_class: np.ndarray,
    classes: list[str],
    geom_offsets: np.ndarray | None = None,
    geom_lon: np.ndarray | None = None,
    geom_lat: np.ndarray | None = None,
    *,
    name: str,
    source: str,
    estimate: bool = False,
    snap_limit_m: float = DEFAULT_SNAP_LIMIT_M,
    emergency_factor: float = 1.0,
    node_id: np.ndarray | None = None,
) -> Network:
    """Assemble a `Network` from node and directed-edge arrays (lon/lat EPSG:4326).

    Edge geometries are given as a ragged array (`geom_offsets` into `geom_lon`/`geom_lat`,
    each running from u to v); without them edges are straight.
    """
    node_lon = np.ascontiguousarray(node_lon, dtype=np.float64)
    node_lat = np.ascontiguousarray(node_lat, dtype=np.float64)
    u = np.ascontiguousarray(edge_u, dtype=np.int32)
    v = np.ascontiguousarray(edge_v, dtype=np.int32)
    n = len(node_lon)
    if len(u) == 0 or n == 0:
        msg = f"network {name!r} has no drivable edges; check the input file covers roads."
        raise NetworkError("no_edges", msg, name=name)
    if u.min() < 0 or v.min() < 0 or max(u.max(), v.max()) >= n:
        msg = "edge endpoints must be node indices in [0, n_nodes)."
        raise NetworkError("bad_arrays", msg)
    time_s = np.ascontiguousarray(edge_time_s, dtype=np.float64)
    if not np.all(np.isfinite(time_s)) or np.any(time_s < 0):
        msg = "edge travel times must be finite and non-negative."
        raise NetworkError("bad_arrays", msg)
    if geom_offsets is None:
        geom_offsets = np.arange(0, 2 * len(u) + 1, 2, dtype=np.int64)
        geom_lon = np.column_stack([node_lon[u], node_lon[v]]).ravel()
        geom_lat = np.column_stack([node_lat[u], node_lat[v]]).ravel()
    arrays: dict[str, np.ndarray] = {
        "node_id": np.arange(n, dtype=np.int64) if node_id is None else np.ascontiguousarray(node_id, dtype=np.int64),
        "node_lon": node_lon,
        "node_lat": node_lat,
        "edge_u": u,
        "edge_v": v,
        "edge_length_m": np.ascontiguousarray(edge_length_m, dtype=np.float64),
        "edge_time_s": time_s,
        "edge_class": np.ascontiguousarray(edge_class, dtype=np.int16),
        "geom_offsets": np.ascontiguousarray(geom_offsets, dtype=np.int64),
        "geom_lon": np.ascontiguousarray(geom_lon, dtype=np.float64),
        "geom_lat": np.ascontiguousarray(geom_lat, dtype=np.float64),
    }
    for prefix, rows, cols in (("fwd", u, v), ("rev", v, u)):
        for key, arr in _adjacency(n, rows, cols, time_s).items():
            arrays[f"{prefix}_{key}"] = arr
    lon0, lat0 = float(np.mean([node_lon.min(), node_lon.max()])), float(np.mean([node_lat.min(), node_lat.max()]))
    proj = LocalProjection(lon0, lat0)
    arrays.update(_segment_grid(arrays, proj))
    meta = {
        "name": name,
        "source": source,
        "estimate": bool(estimate),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),  # with its offset
        "emergency_factor": float(emergency_factor),
        "snap_limit_m": float(snap_limit_m),
        "n_nodes": int(n),
        "n_edges": int(len(u)),
        "classes": list(classes),
        "lon0": lon0,
        "lat0": lat0,
        "bounds": [float(node_lon.min()), float(node_lat.min()), float(node_lon.max()), float(node_lat.max())],
        "grid_cell_m": _GRID_CELL_M,
    }
    log.info("network %s: %s nodes, %s edges", name, f"{n:,}", f"{len(u):,}")
    return Network(meta, arrays)


def _segment_grid(arrays: dict[str, np.ndarray], proj: LocalProjection) -> dict[str, np.ndarray]:
    """Segments of every edge geometry in local metres, and a uniform grid index over them."""
    offsets = arrays["geom_offsets"]
    x, y = proj.forward(arrays["geom_lon"], arrays["geom_lat"])
    n_pts = np.diff(offsets)
    seg_edge = np.repeat(np.arange(len(n_pts), dtype=np.int32), n_pts - 1)
    starts = np.ones(len(x), dtype=bool)
    starts[offsets[1:] - 1] = False  # last vertex of an edge starts no segment
    first = np.flatnonzero(starts)
    x1, y1, x2, y2 = x[first], y[first], x[first + 1], y[first + 1]
    seg_len = np.hypot(x2 - x1, y2 - y1)
    # distance along the edge (projected metres) at each segment start
    cum = np.cumsum(seg_len)
    edge_first_seg = np.concatenate([[0], np.cumsum(n_pts - 1)[:-1]])
    before = np.concatenate([[0.0], cum])[edge_first_seg]
    seg_start = np.concatenate([[0.0], cum[:-1]]) - np.repeat(before, n_pts - 1)
    edge_len = np.bincount(seg_edge, weights=seg_len, minlength=len(n_pts))
    # grid: each segment is registered in every cell its bounding box touches
    xmin, ymin = float(min(x1.min(), x2.min())), float(min(y1.min(), y2.min()))
    nx_ = int((max(x1.max(), x2.max()) - xmin) // _GRID_CELL_M) + 1
    ny_ = int((max(y1.max(), y2.max()) - ymin) // _GRID_CELL_M) + 1
    cx0 = ((np.minimum(x1, x2) - xmin) // _GRID_CELL_M).astype(np.int64)
    cx1 = ((np.maximum(x1, x2) - xmin) // _GRID_CELL_M).astype(np.int64)
    cy0 = ((np.minimum(y1, y2) - ymin) // _GRID_CELL_M).astype(np.int64)
    cy1 = ((np.maximum(y1, y2) - ymin) // _GRID_CELL_M).astype(np.int64)
    span = (cx1 - cx0 + 1) * (cy1 - cy0 + 1)
    seg_ids = np.repeat(np.arange(len(x1), dtype=np.int64), span)
    local = np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span)
    w = np.repeat(cx1 - cx0 + 1, span)
    cells = (np.repeat(cy0, span) + local // w) * nx_ + np.repeat(cx0, span) + local % w
    order = np.argsort(cells, kind="stable")
    cell_indptr = np.searchsorted(cells[order], np.arange(nx_ * ny_ + 1)).astype(np.int64)
    return {
        "seg_edge": seg_edge,
        "seg_x1": x1, "seg_y1": y1, "seg_x2": x2, "seg_y2": y2,
        "seg_start_m": seg_start,
        "edge_proj_len_m": edge_len,
        "cell_indptr": cell_indptr,
        "cell_seg": seg_ids[order].astype(np.int32),
        "grid_origin": np.array([xmin, ymin, nx_, ny_], dtype=np.float64),
    }  # fmt: skip


def build_from_graph(G, *, name: str, source: str, emergency_factor: float = 1.0) -> Network:
    """A `Network` from an osmnx MultiDiGraph (EPSG:4326), keeping drivable classes only."""
    nodes = list(G.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    node_lon = np.array([G.nodes[n]["x"] for n in nodes], dtype=float)
    node_lat = np.array([G.nodes[n]["y"] for n in nodes], dtype=float)
    classes: list[str] = []
    class_id: dict[str, int] = {}
    u, v, length, time_s, cls, offsets, glon, glat = [], [], [], [], [], [0], [], []
    for a, b, data in G.edges(data=True):
        hw = highway_class(data.get("highway"))
        if hw not in DRIVABLE:
            continue
        speed = edge_speed_kph(hw, data.get("maxspeed"), emergency_factor=emergency_factor)
        length_m = float(data["length"])
        if "geometry" in data:
            coords = np.asarray(data["geometry"].coords)
        else:
            coords = np.array([[node_lon[index[a]], node_lat[index[a]]], [node_lon[index[b]], node_lat[index[b]]]])
        u.append(index[a])
        v.append(index[b])
        length.append(length_m)
        time_s.append(length_m / (speed / 3.6))
        cls.append(class_id.setdefault(hw, len(class_id)))
        glon.append(coords[:, 0])
        glat.append(coords[:, 1])
        offsets.append(offsets[-1] + len(coords))
    classes = sorted(class_id, key=class_id.get)
    used = np.unique(np.concatenate([u, v])) if u else np.zeros(0, dtype=int)
    remap = np.full(len(nodes), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return build_from_arrays(
        node_lon[used], node_lat[used], remap[np.asarray(u, dtype=np.int64)], remap[np.asarray(v, dtype=np.int64)],
        np.asarray(length), np.asarray(time_s), np.asarray(cls), classes,
        np.asarray(offsets), np.concatenate(glon) if glon else np.zeros(0), np.concatenate(glat) if glat else np.zeros(0),
        name=name, source=source, emergency_factor=emergency_factor, node_id=np.asarray(nodes, dtype=np.int64)[used],
    )  # fmt: skip


def read_osm(path: str | os.PathLike):
    """An osmnx MultiDiGraph from an OSM file: ``.osm``/``.osm.bz2`` (XML) or ``.osm.pbf``.

    One-way tags are respected; the largest weakly connected part is kept (osmnx default).
    The whole graph is held in memory: for a large ``.osm.pbf`` use `build_osm`, which
    streams it (`geo.osm_stream`).
    """
    import osmnx as ox

    path = Path(path)
    if not path.exists():
        msg = f"OSM file {path} does not exist."
        raise NetworkError("file_missing", msg, file=path.name)
    name = path.name.lower()
    try:
        if name.endswith(".pbf"):
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                xml = Path(tmp) / "roads.osm"
                _pbf_to_xml(path, xml)
                return ox.graph_from_xml(xml, simplify=True, retain_all=False)
        if name.endswith((".osm", ".osm.bz2", ".xml", ".xml.bz2")):
            return ox.graph_from_xml(path, simplify=True, retain_all=False)
    except (ValueError, KeyError, OSError, SyntaxError, RuntimeError) as exc:  # XML ParseError is a SyntaxError; osmium raises RuntimeError
        msg = f"could not read roads from {path.name}: {exc}"
        raise NetworkError("unreadable", msg, file=path.name) from exc
    msg = f"`path` was {path.name!r}; expected an OSM file ending in .osm, .osm.bz2 or .osm.pbf."
    raise NetworkError("file_type", msg, file=path.name)


def download_polygon(polygon):
    """Download drivable OSM roads inside a polygon (EPSG:4326) with osmnx (needs internet).

    The app itself never calls this; sites with internet use it through
    ``python -m geo build --polygon AREA.geojson --name NAME``, then work offline.
    """
    import osmnx as ox

    try:
        return ox.graph_from_polygon(polygon, network_type="drive", simplify=True, retain_all=False)
    except Exception as exc:  # noqa: BLE001 (network errors come in many types)
        msg = f"could not download roads for the polygon ({type(exc).__name__}: {exc}); without internet, build from an OSM file with --osm."
        raise NetworkError("download_failed", msg) from exc


def _pbf_to_xml(src: Path, dst: Path) -> None:
    """Write the highway ways of a PBF file and their nodes as OSM XML (two passes with osmium)."""
    import osmium

    refs: set[int] = set()
    with osmium.SimpleWriter(str(dst)) as writer:
        for way in osmium.FileProcessor(str(src), osmium.osm.WAY):
            if way.tags.get("highway") in DRIVABLE:
                refs.update(n.ref for n in way.nodes)
        for node in osmium.FileProcessor(str(src), osmium.osm.NODE):
            if node.id in refs:
                writer.add_node(node)
        for way in osmium.FileProcessor(str(src), osmium.osm.WAY):
            if way.tags.get("highway") in DRIVABLE:
                writer.add_way(way)


def build_approximate(lon: np.ndarray, lat: np.ndarray, *, name: str = "approx", source: str = "places") -> Network:
    """An approximate network over places (lon/lat, EPSG:4326): see the module docstring."""
    from scipy.spatial import Delaunay

    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if len(lon) < 3:
        msg = "an approximate network needs at least 3 places."
        raise NetworkError("too_few_places", msg, n=len(lon))
    proj = LocalProjection(float(lon.mean()), float(lat.mean()))
    x, y = proj.forward(lon, lat)
    tri = Delaunay(np.column_stack([x, y]))
    simplices = tri.simplices
    pairs = np.vstack([simplices[:, [0, 1]], simplices[:, [1, 2]], simplices[:, [2, 0]]])
    pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    gc = haversine_m(lon[pairs[:, 0]], lat[pairs[:, 0]], lon[pairs[:, 1]], lat[pairs[:, 1]])
    keep = gc <= APPROX_MAX_EDGE_KM * 1000
    pairs, gc = pairs[keep], gc[keep]
    u = np.concatenate([pairs[:, 0], pairs[:, 1]])
    v = np.concatenate([pairs[:, 1], pairs[:, 0]])
    length = np.concatenate([gc, gc]) * APPROX_CIRCUITY
    time_s = length / (APPROX_SPEED_KPH / 3.6)
    return build_from_arrays(
        lon, lat, u, v, length, time_s, np.zeros(len(u), dtype=np.int16), ["approximate"],
        name=name, source=source, estimate=True, snap_limit_m=APPROX_SNAP_LIMIT_M,
    )  # fmt: skip


def save(net: Network, folder: str | os.PathLike) -> Path:
    """Write `net` to `folder` (``meta.json`` and one ``.npy`` per array), replacing it atomically."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for key, arr in net.arrays.items():
        np.save(tmp / f"{key}.npy", np.ascontiguousarray(arr), allow_pickle=False)
    (tmp / "meta.json").write_text(json.dumps(net.meta, ensure_ascii=False, indent=1), encoding="utf-8")
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def save_arrays(folder: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Add arrays computed after the build (the landmark tables of `geo.routing.landmarks`) to a
    saved network's `folder`, each file written under a temporary name and then renamed, so
    that a reader loads the whole old file or the whole new one."""
    folder = Path(folder)
    for key, arr in arrays.items():
        tmp = folder / f".{key}.{os.getpid()}.tmp.npy"
        np.save(tmp, np.ascontiguousarray(arr), allow_pickle=False)
        os.replace(tmp, folder / f"{key}.npy")


_DERIVED_LOCK = threading.RLock()  # a build may ask for another table (re-entrant)


def derived(net: Network, key: str, *, load: Callable[[dict], object | None], build: Callable[[Network], object], to_arrays: Callable[[object], dict], what: str):
    """Search tables derived from `net` (landmarks, hierarchy): kept in memory under `key`;
    else read from its arrays (`load` gives None when they are absent or do not fit it); else
    built once (`build`), added to its arrays (a later `save` writes them) and, for a network
    loaded from a folder, written there too (`save_arrays`; a read-only folder keeps them in
    memory).  One build at a time, whoever asks."""
    got = net._matrices.get(key)
    if got is not None:
        return got
    with _DERIVED_LOCK:
        got = net._matrices.get(key)
        if got is not None:
            return got
        got = load(net.arrays)
        if got is None:
            t0 = time.perf_counter()
            got = build(net)
            arrays = to_arrays(got)
            log.info("network %s: %s built in %.1f s (%.0f MiB)", net.name, what, time.perf_counter() - t0, sum(a.nbytes for a in arrays.values()) / 2**20)
            net.arrays.update(arrays)
            if net.folder is not None:
                try:
                    save_arrays(net.folder, arrays)
                except OSError as exc:
                    log.warning("network %s: %s not written to %s (%s)", net.name, what, net.folder, exc)
        net._matrices[key] = got
        return got


def load(folder: str | os.PathLike) -> Network:
    """Load a saved network memory-mapped (read-only): fast, and shared by every session."""
    folder = Path(folder)
    meta_file = folder / "meta.json"
    if not meta_file.exists():
        msg = f"no network at {folder}; build one with `python -m geo build --osm FILE --name NAME`."
        raise NetworkError("not_found", msg, folder=str(folder), name=folder.name)
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        # plain ndarray views of the read-only maps: no copy, and no memmap overhead per slice
        arrays = {p.stem: np.asarray(np.load(p, mmap_mode="r", allow_pickle=False)) for p in folder.glob("*.npy") if not p.name.startswith(".")}
    except (OSError, ValueError) as exc:
        msg = f"network at {folder} is damaged ({exc}); rebuild it."
        raise NetworkError("damaged", msg, folder=str(folder), name=folder.name) from exc
    missing = [k for k in _ARRAYS if k not in arrays]
    if missing:
        msg = f"network at {folder} lacks {missing}; rebuild it."
        raise NetworkError("incomplete", msg, folder=str(folder), name=folder.name, missing=missing)
    return Network(meta, arrays, folder=folder)


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_name(name: str) -> str:
    """A network name usable as a folder name: letters, digits, '-' and '_' (up to 64)."""
    if not _NAME.match(str(name)):
        msg = f"`name` was {name!r}; use 1–64 letters, digits, '-' or '_', starting with a letter or digit."
        raise NetworkError("bad_name", msg, name=str(name))
    return str(name)


def build_osm(
    path: str | os.PathLike, *, name: str, folder: str | os.PathLike, source: str | None = None, emergency_factor: float = 1.0, progress=None
) -> Network:
    """Read an OSM file, build its network and save it as `folder`/`name` (see `read_osm`, `save`).

    A ``.osm.pbf`` streams in bounded memory (`geo.osm_stream.build_network`: two passes
    with pyosmium, then numpy), so a whole-province extract builds; XML (``.osm``,
    ``.osm.bz2``) is read by osmnx (`read_osm`).  `progress`, if given, is called with
    (phase, fraction 0..1) about every second: 'ways', 'nodes', 'simplify', 'index' for a
    PBF ('read' for XML), then 'save'.
    """
    check_name(name)
    if Path(path).name.lower().endswith(".pbf"):
        from geo import osm_stream

        net = osm_stream.build_network(path, name=name, source=source or Path(path).name, emergency_factor=emergency_factor, progress=progress)
    else:
        if progress is not None:
            progress("read", 0.0)
        net = build_from_graph(read_osm(path), name=name, source=source or Path(path).name, emergency_factor=emergency_factor)
        if progress is not None:
            progress("read", 1.0)
    from geo import routing  # routing builds on this module

    routing.prepare_searches(net)  # the one-to-one search's tables, saved with the network
    if progress is not None:
        progress("save", 0.0)
    save(net, Path(folder) / name)
    if progress is not None:
        progress("save", 1.0)
    return net


def networks_dir(dataset: str | os.PathLike) -> Path:
    """Where networks live: ``networks/`` beside the dataset file."""
    return Path(dataset).parent / "networks"


#: Order in which saved networks are offered, the default first: the backbone stitched with
#: local OSM extracts, the regional backbone, local OSM networks (they cover only their
#: extract), and the place-to-place approximation last (the last resort where no road data
#: reaches).  Keys are ``meta["kind"]`` ('stitched', 'backbone'), else 'real' / 'estimate'.
NETWORK_ORDER = ("stitched", "backbone", "real", "estimate")


def network_rank(meta: dict) -> int:
    """Position of a network's kind in `NETWORK_ORDER` (0 = the default)."""
    kind = meta.get("kind") or ("estimate" if meta.get("estimate") else "real")
    return NETWORK_ORDER.index(kind) if kind in NETWORK_ORDER else len(NETWORK_ORDER)


def list_networks(folder: str | os.PathLike) -> list[dict]:
    """Metadata of every saved network under `folder`, in `NETWORK_ORDER` (the default first), then by name."""
    folder = Path(folder)
    metas = []
    for meta_file in sorted(folder.glob("*/meta.json")):
        if meta_file.parent.name.endswith((".tmp", ".old")):
            continue
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        meta["path"] = str(meta_file.parent)
        metas.append(meta)
    return sorted(metas, key=lambda m: (network_rank(m), m["name"]))
