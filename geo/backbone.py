"""Build the regional road backbone (骨干路网) from OpenStreetMap via ``scgraph-data``, and audit it.

Source
------
PyPI ``scgraph-data`` (MIT) ships ``world_highways``: a simplified, undirected highway
network of the world derived from OpenStreetMap (© OpenStreetMap contributors, ODbL).  Nodes
are (lat, lon) rounded to 0.001° (about 100 m), edges are straight segments whose length is
given in km, and there is no road class, no one-way and no speed.  The package itself says
the graph is simplified and "not 100 % accurate"; it is a regional backbone, not a street map.
It is read from the installed package: no network access.

Cut
---
Every node within `MARGIN_KM` (30 km, so that routes may leave the region briefly, e.g.
around Lake Tai or through a neighbouring province, as real trips do) of the four
provinces' full-detail outlines is kept, with every edge whose two ends are kept; each
undirected edge becomes two directed edges (both directions), length in metres.  That is
about 25,500 nodes and 81,000 directed edges.

Speed rule
----------
One speed for the whole backbone, `SPEED_KPH` = 70 km/h, times the emergency factor.  The
backbone holds expressways, national and provincial trunk roads and main urban arterials
without telling them apart; 70 km/h is the door-to-door average a navigation app gives for
intercity trips in the region (上海—南京 ≈ 300 km in 3.5–4.5 h, 上海—杭州 ≈ 175 km in
2–2.5 h: 65–85 km/h), slower than expressway free flow because urban stretches are in the
same edges.  Short urban trips come out optimistic; long expressway trips slightly
pessimistic.  Every answer on the backbone is therefore an estimate: ``meta["estimate"]``
is True and ``meta["kind"]`` is ``"backbone"``, and answers say 骨干路网（估算）: main roads
only, speeds estimated.

Access leg
----------
A point off the backbone reaches it by an access leg: straight-line distance to the snapped
position × `ACCESS_CIRCUITY` (1.3) at `ACCESS_SPEED_KPH` (30 km/h, local roads), up to
`SNAP_LIMIT_M` (30 km).  The rule is written into the network's meta (``access_circuity``,
``access_speed_kph``) and `access_time_s` computes it.

Connectivity audit
------------------
`audit` lists counties with no backbone node, counties whose nodes are all cut off from the
main component, counties with places farther than the snap limit from every node, and every
component cut off from the main one (its size, counties and centre).  The remedy is the same for each: import a detailed OSM extract for that area
(``python -m geo build --osm FILE --name NAME``, or 数据管理 → 路网).
"""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.network import Network, build_from_arrays, haversine_m

log = logging.getLogger(__name__)

#: Name of the backbone network (folder name under networks/).
NAME = "backbone"
#: Value of ``meta["kind"]`` that marks the backbone.
KIND = "backbone"
#: ``meta["source"]`` of the backbone (also a label key suffix: ``net.source.<SOURCE>``).
SOURCE = "scgraph-data world_highways"
#: Margin (km) around the four provinces' outlines within which nodes are kept.
MARGIN_KM = 30.0
#: The one speed (km/h) of every backbone edge (see the module docstring), before the emergency factor.
SPEED_KPH = 70.0
#: Access leg: straight line × circuity at the local-road speed (km/h), up to the snap limit (m).
ACCESS_CIRCUITY = 1.3
ACCESS_SPEED_KPH = 30.0
SNAP_LIMIT_M = 30_000.0
#: Licence of the data (and of the package that ships it).
LICENCE = "© OpenStreetMap contributors, ODbL 1.0 (data); MIT (scgraph-data package)"
#: Equal-area projection for the margin test (the same Albers as data.dataset.build).
_ALBERS_CHINA = "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
#: What a user can do about each audit finding (code → English sentence for logs and the CLI;
#: pages show the label ``bb.action.<code>``).
ACTIONS = {
    "import_osm": "import a detailed OSM extract for this area: `python -m geo build --osm FILE --name NAME`, or Data management → Road networks",
}
#: What every answer on the backbone says (Chinese mark; English meaning for logs and the CLI).
LABEL_ZH = "骨干路网（估算）"
MEANING = (
    f"simplified OpenStreetMap backbone: main roads only, no road classes or one-way streets, one estimated speed of "
    f"{SPEED_KPH:g} km/h; points off it reach it in a straight line × {ACCESS_CIRCUITY:g} at {ACCESS_SPEED_KPH:g} km/h"
)
#: Audit row kinds.
AUDIT_KINDS = ("no_node", "county_cut_off", "places_far", "component")
AUDIT_COLUMNS = ("kind", "component", "n_nodes", "n_places", "county_codes", "county_names", "lon", "lat", "action")


class BackboneError(ValueError):
    """The backbone cannot be built; `code` 'package_missing' (scgraph-data not installed) or
    'no_region' (no outline given), with `params` for a localized message."""

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def package_version() -> str:
    """Installed version of ``scgraph-data``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scgraph-data")
    except PackageNotFoundError as exc:
        msg = "PyPI package `scgraph-data` is not installed; run `make setup` (requirements.txt pins scgraph==2.15.0, scgraph-data==2.0.0)."
        raise BackboneError("package_missing", msg) from exc


def read_world_highways() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The installed ``world_highways`` graph as arrays, each undirected edge once.

    Returns
    -------
    lon, lat : node positions (degrees, EPSG:4326)
    u, v : node indices of each edge (u < v)
    length_km : length of each edge (km, as the package gives it)
    """
    package_version()
    from scgraph_data.world_highways import world_highways_geograph

    nodes = np.asarray(world_highways_geograph.nodes, dtype=float)  # [lat, lon]
    graph = world_highways_geograph.graph
    counts = np.fromiter((len(d) for d in graph), dtype=np.int64, count=len(graph))
    rows = np.repeat(np.arange(len(graph), dtype=np.int64), counts)
    cols = np.fromiter((j for d in graph for j in d), dtype=np.int64, count=int(counts.sum()))
    km = np.fromiter((w for d in graph for w in d.values()), dtype=float, count=int(counts.sum()))
    once = rows < cols
    log.info("world_highways: %s nodes, %s undirected edges", f"{len(nodes):,}", f"{int(once.sum()):,}")
    return nodes[:, 1].copy(), nodes[:, 0].copy(), rows[once], cols[once], km[once]


def within_margin(lon: np.ndarray, lat: np.ndarray, regions, *, margin_km: float = MARGIN_KM) -> np.ndarray:
    """Boolean mask of the points (EPSG:4326) within `margin_km` of any polygon of `regions` (EPSG:4326).

    Distances are measured in an Albers equal-area projection (metres), never on degrees.
    """
    import pyproj

    if not margin_km >= 0:
        msg = f"`margin_km` was {margin_km!r}; it must be a non-negative number."
        raise ValueError(msg)
    polys = [g for g in np.atleast_1d(np.asarray(regions, dtype=object)) if g is not None and not shapely.is_empty(g)]
    if not polys:
        msg = "`regions` holds no polygon; give the provinces' outlines (EPSG:4326)."
        raise BackboneError("no_region", msg)
    minx, miny, maxx, maxy = shapely.total_bounds(polys)
    pad = margin_km / 111.0 / max(math.cos(math.radians(max(abs(miny), abs(maxy)))), 0.1) + 0.01
    box = np.flatnonzero((lon >= minx - pad) & (lon <= maxx + pad) & (lat >= miny - margin_km / 111.0 - 0.01) & (lat <= maxy + margin_km / 111.0 + 0.01))
    to_albers = pyproj.Transformer.from_crs(4326, _ALBERS_CHINA, always_xy=True)
    projected = gpd.GeoSeries(polys, crs=4326).to_crs(_ALBERS_CHINA).values
    x, y = to_albers.transform(lon[box], lat[box])
    pts = shapely.points(x, y)
    near = np.zeros(len(box), dtype=bool)
    for poly in projected:  # a prepared polygon answers dwithin fast; an STRtree over 4 polygons does not help
        shapely.prepare(poly)
        near |= shapely.dwithin(poly, pts, margin_km * 1000.0)
    mask = np.zeros(len(lon), dtype=bool)
    mask[box[near]] = True
    return mask


def build_backbone(regions, *, name: str = NAME, margin_km: float = MARGIN_KM, speed_kph: float = SPEED_KPH, emergency_factor: float = 1.0) -> Network:
    """The backbone `Network` over `regions` (the provinces' polygons, EPSG:4326) plus `margin_km`.

    Both directions of every undirected edge, lengths in metres, travel time at `speed_kph`
    × `emergency_factor`; see the module docstring for the rule.  The network carries
    ``node_component`` (0 = the main, largest connected component; 1, 2 … the cut-off
    ones, largest first) and, in its meta, ``kind`` = 'backbone' and the access-leg rule.

    Raises
    ------
    BackboneError
        If scgraph-data is not installed or `regions` is empty.
    """
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    if not (speed_kph > 0 and emergency_factor > 0):
        msg = f"`speed_kph` ({speed_kph!r}) and `emergency_factor` ({emergency_factor!r}) must be positive."
        raise ValueError(msg)
    lon, lat, u, v, km = read_world_highways()
    keep = within_margin(lon, lat, regions, margin_km=margin_km)
    edge_keep = keep[u] & keep[v]
    u, v, km = u[edge_keep], v[edge_keep], km[edge_keep]
    used = np.unique(np.concatenate([u, v]))
    remap = np.full(len(lon), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    a, b = remap[u], remap[v]
    length_m = km * 1000.0
    speed_ms = speed_kph * emergency_factor / 3.6
    net = build_from_arrays(
        lon[used], lat[used], np.concatenate([a, b]), np.concatenate([b, a]),
        np.concatenate([length_m, length_m]), np.concatenate([length_m, length_m]) / speed_ms,
        np.zeros(2 * len(a), dtype=np.int16), [KIND],
        name=name, source=SOURCE, estimate=True, snap_limit_m=SNAP_LIMIT_M,
        emergency_factor=emergency_factor, node_id=used,
    )  # fmt: skip
    n = len(used)
    _, label = connected_components(sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
    sizes = np.bincount(label)
    rank = np.empty(len(sizes), dtype=np.int32)
    rank[np.lexsort((np.arange(len(sizes)), -sizes))] = np.arange(len(sizes), dtype=np.int32)
    net.arrays["node_component"] = rank[label]
    net.meta.update(
        {
            "kind": KIND,
            "package": f"scgraph-data {package_version()}",
            "licence": LICENCE,
            "margin_km": float(margin_km),
            "speed_kph": float(speed_kph),
            "access_circuity": ACCESS_CIRCUITY,
            "access_speed_kph": ACCESS_SPEED_KPH,
            "components": int(len(sizes)),
            "main_component_nodes": int(sizes.max()),
        }
    )
    log.info("backbone: %s nodes, %s directed edges, %s components (main %s nodes)", f"{n:,}", f"{net.n_edges:,}", len(sizes), f"{int(sizes.max()):,}")
    return net


def is_backbone(meta: dict) -> bool:
    """True when a network's meta marks the backbone (answers say 骨干路网（估算）)."""
    return meta.get("kind") == KIND


def access_time_s(distance_m, *, circuity: float = ACCESS_CIRCUITY, speed_kph: float = ACCESS_SPEED_KPH):
    """Time (s) of the access leg for a straight-line `distance_m` (m): × `circuity` at `speed_kph`."""
    return np.asarray(distance_m, dtype=float) * circuity / (speed_kph / 3.6)


def audit(net: Network, counties: gpd.GeoDataFrame, *, places: pd.DataFrame | None = None) -> pd.DataFrame:
    """The connectivity audit of a backbone `net` against `counties` (``code``, ``name``, polygons, EPSG:4326).

    Rows (`AUDIT_COLUMNS`), one per finding:

    - 'no_node': a county with no backbone node inside it (``n_nodes`` 0; lon/lat its
      representative point);
    - 'county_cut_off': a county whose nodes all lie in components cut off from the main one
      (``component`` the largest of them);
    - 'places_far': a county with `places` (``lon``, ``lat``, ``county_code``) that have no
      backbone node within the snap limit (``n_places`` of them; lon/lat the farthest one):
      points there are "off the network" (e.g. the islands of 嵊泗县);
    - 'component': a component cut off from the main one: its ``n_nodes``, the counties its
      nodes lie in ('' when all lie in the margin outside the four provinces) and its centre.

    ``action`` is a key of `ACTIONS` (what a user can do).
    """
    if "node_component" not in net.arrays:
        msg = f"network {net.name!r} has no `node_component` array; audit a network made by `build_backbone`."
        raise ValueError(msg)
    counties = counties.reset_index(drop=True)
    codes, names = counties["code"].astype(str).to_numpy(), counties["name"].astype(str).to_numpy()
    comp = np.asarray(net.node_component)
    pts = shapely.points(np.asarray(net.node_lon), np.asarray(net.node_lat))
    node_idx, county_idx = shapely.STRtree(counties.geometry.values).query(pts, predicate="within")
    node_county = np.full(net.n_nodes, -1, dtype=np.int64)
    node_county[node_idx] = county_idx
    rows = []
    per_county = np.bincount(county_idx, minlength=len(counties))
    in_main = np.bincount(county_idx[comp[node_idx] == 0], minlength=len(counties))
    for i in range(len(counties)):
        if per_county[i] == 0:
            rep = counties.geometry.values[i].representative_point()
            rows.append(("no_node", -1, 0, 0, codes[i], names[i], rep.x, rep.y, "import_osm"))
        elif in_main[i] == 0:
            mine = comp[node_county == i]
            pick = np.flatnonzero(node_county == i)
            rows.append(("county_cut_off", int(np.bincount(mine).argmax()), int(len(pick)), 0, codes[i], names[i],
                         float(np.mean(net.node_lon[pick])), float(np.mean(net.node_lat[pick])), "import_osm"))  # fmt: skip
    if places is not None and len(places):
        rows += _places_far(net, places, dict(zip(codes, names, strict=True)))
    for c in range(1, int(comp.max()) + 1 if len(comp) else 1):
        members = np.flatnonzero(comp == c)
        where = sorted({int(k) for k in node_county[members] if k >= 0})
        rows.append(("component", c, int(len(members)), 0, ",".join(codes[where]), "、".join(names[where]),
                     float(np.mean(net.node_lon[members])), float(np.mean(net.node_lat[members])), "import_osm"))  # fmt: skip
    out = pd.DataFrame(rows, columns=list(AUDIT_COLUMNS))
    out = out.astype({"component": "int64", "n_nodes": "int64", "n_places": "int64", "lon": "float64", "lat": "float64"})
    order = np.lexsort((out["county_codes"].to_numpy(), out["component"].to_numpy(), out["kind"].map(AUDIT_KINDS.index).to_numpy()))
    out = out.iloc[order].reset_index(drop=True)  # as `data.store.Store.table('network_audit')` reads it back
    log.info("backbone audit: %s counties without a node, %s cut off, %s with places beyond the snap limit, %s cut-off components",
             *(int((out["kind"] == k).sum()) for k in AUDIT_KINDS))  # fmt: skip
    return out


def _places_far(net: Network, places: pd.DataFrame, names: dict[str, str]) -> list[tuple]:
    """Audit rows 'places_far': per county, the places with no backbone node within the snap limit.

    The nearest nodes are found in the network's local metres (k-d tree, 8 candidates) and
    their distance measured on the sphere (`haversine_m`).
    """
    from scipy.spatial import cKDTree

    proj = net.projection
    tree = cKDTree(np.column_stack(proj.forward(np.asarray(net.node_lon), np.asarray(net.node_lat))))
    lon, lat = places["lon"].to_numpy(dtype=float), places["lat"].to_numpy(dtype=float)
    _, idx = tree.query(np.column_stack(proj.forward(lon, lat)), k=min(8, net.n_nodes))
    idx = idx.reshape(len(lon), -1)
    dist = haversine_m(lon[:, None], lat[:, None], np.asarray(net.node_lon)[idx], np.asarray(net.node_lat)[idx]).min(axis=1)
    far = dist > float(net.meta["snap_limit_m"])
    rows = []
    county = places["county_code"].astype(str).to_numpy()
    for code in sorted(set(county[far])):
        mine = np.flatnonzero(far & (county == code))
        worst = mine[np.argmax(dist[mine])]
        rows.append(("places_far", -1, 0, int(len(mine)), code, names.get(code, ""), float(lon[worst]), float(lat[worst]), "import_osm"))
    return rows


def audit_records(table: pd.DataFrame) -> list[dict]:
    """The audit as JSON-ready records, each with its `action` sentence (English) for the CLI."""
    recs = []
    for r in table.to_dict("records"):
        r = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()}
        r["action_text"] = ACTIONS.get(r["action"], r["action"])
        recs.append(r)
    return recs


def component_of(net: Network, edge: int) -> int:
    """Component of a backbone edge (0 = main); -1 on a network without ``node_component``."""
    if "node_component" not in net.arrays:
        return -1
    return int(net.node_component[int(net.edge_u[int(edge)])])


def known_gap(net: Network, audit_table: pd.DataFrame, *edges: int) -> dict | None:
    """The audit row that explains a "no route" between points snapped to `edges`, or None.

    When any of the snapped edges lies in a component cut off from the main one, the answer
    is a known data gap of the backbone, not a missing road: the row of that component
    (kind 'component') is returned so that the answer can say so and what to do.
    """
    for e in edges:
        c = component_of(net, e)
        if c > 0:
            hit = audit_table[(audit_table["kind"] == "component") & (audit_table["component"] == c)]
            if len(hit):
                return hit.iloc[0].to_dict()
    return None
