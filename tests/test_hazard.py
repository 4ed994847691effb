"""Hazard scenarios on the real central-Shanghai OSM network: areas, closed roads, dispatch, shelters, cut-off resources, coverage.

Every expected value is recomputed independently: closed roads with a shapely STRtree over the
edge geometries, travel times with networkx Dijkstra over the edge weights (the columns
``python -m geo network`` exports) with those edges removed, circles with an azimuthal
equidistant projection (pyproj) instead of the geodesic vertices the module places.
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS, Geod, Transformer

from geo import hazard as hz
from geo import network as gn
from geo.nearest import nearest, prepare
from tests.conftest import shared_file

GEOD = Geod(ellps="WGS84")
PEOPLES_SQUARE = (121.4737, 31.2304)


@pytest.fixture(scope="module")
def net():
    return gn.build_from_graph(gn.read_osm(shared_file("osm/shanghai_center.osm")), name="sh-center", source="osm")


@pytest.fixture(scope="module")
def edges(net):
    """The network's edges as ``python -m geo network`` exports them: u, v, travel_time_s, geometry."""
    lines = shapely.linestrings(net.geom_lon, net.geom_lat, indices=np.repeat(np.arange(net.n_edges), np.diff(net.geom_offsets)))
    return gpd.GeoDataFrame({"u": np.asarray(net.edge_u), "v": np.asarray(net.edge_v), "travel_time_s": np.asarray(net.edge_time_s)}, geometry=lines, crs=4326)


@pytest.fixture(scope="module")
def tree(edges):
    return shapely.STRtree(edges.geometry.values)


@pytest.fixture(scope="module")
def core_nodes(edges):
    """Nodes of the largest strongly connected part (every resource there reaches every other)."""
    return np.array(sorted(max(nx.strongly_connected_components(graph(edges)), key=len)))


def graph(edges: gpd.GeoDataFrame, closed: np.ndarray | None = None) -> nx.DiGraph:
    """The oracle's directed graph: the fastest of parallel edges, closed ones left out."""
    keep = np.ones(len(edges), dtype=bool) if closed is None else ~closed
    g = nx.DiGraph()
    for u, v, t in zip(edges["u"].to_numpy()[keep], edges["v"].to_numpy()[keep], edges["travel_time_s"].to_numpy()[keep], strict=True):
        if not g.has_edge(u, v) or g[u][v]["weight"] > t:
            g.add_edge(int(u), int(v), weight=float(t))
    return g


def intersecting(tree: shapely.STRtree, n_edges: int, area) -> np.ndarray:
    mask = np.zeros(n_edges, dtype=bool)
    mask[tree.query(area, predicate="intersects")] = True
    return mask


def node_frame(net, nodes, prefix: str, **columns) -> pd.DataFrame:
    """Points exactly at network nodes (the snapping rule places them at the node, no access leg)."""
    return pd.DataFrame({"name": [f"{prefix}{i}" for i in range(len(nodes))], "lon": net.node_lon[nodes], "lat": net.node_lat[nodes], "node": nodes, **columns})


def aeqd_circle(lon: float, lat: float, radius_m: float):
    """A circle of `radius_m` drawn in an azimuthal equidistant projection centred on the point."""
    crs = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m")
    back = Transformer.from_crs(crs, 4326, always_xy=True)
    ring = np.asarray(shapely.Point(0, 0).buffer(radius_m, quad_segs=64).exterior.coords)
    x, y = back.transform(ring[:, 0], ring[:, 1])
    return shapely.Polygon(np.column_stack([x, y]))


def at(lon: float, lat: float, azimuth_deg: float, km: float) -> tuple[float, float]:
    x, y, _ = GEOD.fwd(lon, lat, azimuth_deg, km * 1000)
    return float(x), float(y)


# ---- hazards on the network: closed roads ------------------------------------------------------------

FLOOD = shapely.Polygon([(121.462, 31.222), (121.481, 31.219), (121.489, 31.231), (121.476, 31.241), (121.458, 31.236), (121.466, 31.229)])  # not convex


def _hazards():
    return {
        "flood": hz.flood_area(FLOOD, stage_m=0.8, name="积水"),
        "typhoon": hz.typhoon_track([(121.40, 31.17), (121.47, 31.24), (121.56, 31.26)], radius_km=[0.3, 0.9, 0.5], steps=6, name="台风"),
        "plume": hz.gas_plume(121.47, 31.23, wind_from_deg=45, distance_km=2.5, spread_deg=40, name="泄漏"),
    }


@pytest.mark.parametrize("kind", ["flood", "typhoon", "plume"])
def test_closed_roads_equal_the_edges_the_area_intersects(net, edges, tree, kind):
    h = _hazards()[kind]
    assert h.kind == kind
    c = hz.consequences(h, net=net)
    want = intersecting(tree, net.n_edges, h.area)
    assert 50 < want.sum() < net.n_edges / 2
    assert np.array_equal(np.asarray(c.closed), want)
    assert c.n_closed == int(want.sum()) == c.summary()["closed_edges"]
    length = edges.geometry.to_crs(32651).length.to_numpy()[want].sum() / 1000
    assert length / 2 * 0.97 < c.closed_road_km < length * 1.03  # each two-way road once


# ---- dispatch: a resource whose best route crossed the area gets slower or drops out ------------------


def test_dispatch_answer_changes_as_dijkstra_without_the_closed_edges(net, edges, tree, core_nodes):
    rng = np.random.default_rng(7)
    incident_node = int(core_nodes[np.argmin(np.hypot(net.node_lon[core_nodes] - PEOPLES_SQUARE[0], net.node_lat[core_nodes] - PEOPLES_SQUARE[1]))])
    incident = (float(net.node_lon[incident_node]), float(net.node_lat[incident_node]))
    res = node_frame(net, rng.choice(core_nodes, 25, replace=False), "R", layer="teams")
    prep = prepare(net, res["name"], res["lon"], res["lat"])
    base = nearest(net, incident, prep, k=len(res))
    to_incident = nx.single_source_dijkstra_path_length(graph(edges).reverse(copy=False), incident_node, weight="weight")
    by_name = res.set_index("name")
    assert [a.id for a in base] == sorted(res["name"], key=lambda n: (to_incident[by_name.at[n, "node"]], n))
    for a in base:
        assert a.travel_time_s == pytest.approx(to_incident[by_name.at[a.id, "node"]], rel=1e-9)

    # a flood across the middle of the fastest long route
    first = next(a for a in base if a.route.length_m > 1500)
    line = shapely.LineString(first.route.coords)
    flood = hz.flood_area(line.interpolate(0.5, normalized=True).buffer(0.0015), stage_m=1.5)
    c = hz.consequences(flood, net=net, resources=res.drop(columns="node"), incident=incident)
    closed = intersecting(tree, net.n_edges, flood.area)
    assert np.array_equal(np.asarray(c.closed), closed)
    assert not closed[np.isin(edges["u"], [incident_node]) | np.isin(edges["v"], [incident_node])].any()

    after = nearest(net, incident, prep, k=len(res), blocked=c.closed)
    want = nx.single_source_dijkstra_path_length(graph(edges, closed).reverse(copy=False), incident_node, weight="weight")
    got = {a.id: a.travel_time_s for a in after}
    for name, node in zip(res["name"], res["node"], strict=True):
        own_closed = closed[(edges["u"] == node) | (edges["v"] == node)].all()
        if own_closed:
            continue  # a resource whose every road is closed is moved to an open one (geo.routing's rule)
        if node in want:
            assert got[name] == pytest.approx(want[node], rel=1e-9), name
        else:
            assert name not in got, name
    assert got.get(first.id, math.inf) > first.travel_time_s + 1e-6  # its route crossed the flood
    assert any(got.get(a.id) == pytest.approx(a.travel_time_s, rel=1e-12) for a in base)  # others keep their answer

    # the scenario's own before/after times to the incident are the same Dijkstra times
    r = c.resources.set_index("name")
    for name, node in zip(res["name"], res["node"], strict=True):
        if r.at[name, "inside"]:
            continue
        assert r.at[name, "time_before_s"] == pytest.approx(to_incident[node], rel=1e-9)
        if not closed[(edges["u"] == node) | (edges["v"] == node)].all():
            assert r.at[name, "time_after_s"] == pytest.approx(want.get(node, math.inf), rel=1e-9)


def test_a_resource_ringed_by_the_hazard_is_cut_off(net, edges, tree, core_nodes):
    rng = np.random.default_rng(3)
    nodes = rng.choice(core_nodes, 40, replace=False)
    ringed = int(core_nodes[np.argmin(np.hypot(net.node_lon[core_nodes] - 121.445, net.node_lat[core_nodes] - 31.205))])
    x, y = float(net.node_lon[ringed]), float(net.node_lat[ringed])
    ring = hz.typhoon_track([(x, y), (x, y)], radius_km=0.6).area.difference(hz.typhoon_track([(x, y), (x, y)], radius_km=0.4).area)
    drawn = hz.hazard_from_geojson(json.dumps({"type": "Feature", "geometry": shapely.geometry.mapping(ring), "properties": {"name": "护城河"}}))
    assert drawn.kind == "drawn" and drawn.name == "护城河" and len(drawn.area.interiors) == 1
    res = node_frame(net, np.concatenate([[ringed], nodes]), "R")
    incident_node = int(core_nodes[np.argmin(np.hypot(net.node_lon[core_nodes] - PEOPLES_SQUARE[0], net.node_lat[core_nodes] - PEOPLES_SQUARE[1]))])
    incident = (float(net.node_lon[incident_node]), float(net.node_lat[incident_node]))
    c = hz.consequences(drawn, net=net, resources=res.drop(columns="node"), incident=incident)
    assert c.reference == "incident"
    closed = intersecting(tree, net.n_edges, drawn.area)
    g_before, g_after = graph(edges), graph(edges, closed)
    status = c.resources.set_index("name")["status"]
    assert status["R0"] == "cut_off"
    checked = 0
    for name, node in zip(res["name"], res["node"], strict=True):
        inside = drawn.area.intersects(shapely.Point(net.node_lon[node], net.node_lat[node]))
        if inside:
            assert status[name] == "inside"
            continue
        if closed[(edges["u"] == node) | (edges["v"] == node)].all():
            continue  # moved to another open road by the snapping rule
        before = nx.has_path(g_before, node, incident_node)
        after = node in g_after and nx.has_path(g_after, node, incident_node)
        assert status[name] == ("cut_off" if before and not after else "ok" if after else "unreachable"), name
        checked += 1
    assert checked >= 30
    assert c.summary()["resources_cut_off"] == int((status == "cut_off").sum()) >= 1
    # an incident inside the ring is reached at the edge of its closed patch: from the hole too
    band = core_nodes[shapely.contains_xy(drawn.area.buffer(-0.0005), net.node_lon[core_nodes], net.node_lat[core_nodes])]
    in_ring = int(band[0])
    c_in = hz.consequences(drawn, net=net, resources=res.drop(columns="node"), incident=(float(net.node_lon[in_ring]), float(net.node_lat[in_ring])))
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    patch = nx.Graph()
    patch.add_edges_from(zip(u[closed], v[closed], strict=True))
    open_nodes = set(u[~closed]) | set(v[~closed])
    rim = {n for n in nx.node_connected_component(patch, in_ring) if n in open_nodes}
    to_rim = nx.multi_source_dijkstra_path_length(g_after.reverse(copy=False), rim, weight="weight")
    to_in_ring = nx.single_source_dijkstra_path_length(g_before.reverse(copy=False), in_ring, weight="weight")
    r = c_in.resources.set_index("name")
    assert r.at["R0", "status"] == "ok"
    for name, node in zip(res["name"], res["node"], strict=True):
        if r.at[name, "inside"] or closed[(u == node) | (v == node)].all():
            continue
        assert r.at[name, "time_before_s"] == pytest.approx(to_in_ring.get(node, math.inf), rel=1e-9), name
        assert r.at[name, "time_after_s"] == pytest.approx(to_rim.get(node, math.inf), rel=1e-9), name
    # with no incident and no places, the reference is the area's edge: the hole's resource reaches the ring
    edge_only = hz.consequences(drawn, net=net, resources=res.drop(columns="node"))
    assert edge_only.reference == "edge" and edge_only.resources.set_index("name").at["R0", "status"] == "ok"


# ---- places, population, shelters ---------------------------------------------------------------------


def test_places_population_and_nearest_usable_shelters(net, edges, tree, core_nodes):
    elsewhere = shapely.box(121.505, 31.185, 121.525, 31.200)  # a second flooded patch, with no affected place in it
    flood = hz.flood_area(shapely.MultiPolygon([FLOOD, elsewhere]), stage_m=2.0, name="积水")
    area = flood.area
    inside_nodes = core_nodes[shapely.contains_xy(FLOOD.buffer(-0.002), net.node_lon[core_nodes], net.node_lat[core_nodes])]
    rng = np.random.default_rng(5)
    pnodes = rng.choice(inside_nodes, 6, replace=False)
    outside = rng.choice(core_nodes[~shapely.intersects_xy(area, net.node_lon[core_nodes], net.node_lat[core_nodes])], 5, replace=False)
    population = [1200, np.nan, 0, 3400.5, 800, 2500]  # NaN and 0: unknown
    places = gpd.GeoDataFrame(
        {"name": [f"P{i}" for i in range(11)], "population": [*population, 9e5, 9e5, 9e5, 9e5, 9e5]},
        geometry=gpd.points_from_xy(net.node_lon[np.concatenate([pnodes, outside])], net.node_lat[np.concatenate([pnodes, outside])]),
        crs=4326,
    )
    snodes = np.concatenate([rng.choice(inside_nodes, 3, replace=False), rng.choice(core_nodes, 25, replace=False)])
    shelters = node_frame(net, snodes, "S", capacity_persons=rng.integers(500, 3000, len(snodes)))
    c = hz.consequences(flood, net=net, places=places, shelters=shelters.drop(columns="node"))

    assert sorted(c.places["name"]) == [f"P{i}" for i in range(6)]
    assert c.affected_population == pytest.approx(1200 + 3400.5 + 800 + 2500)
    assert c.population_unknown == 2

    # the affected people start at the edge of the closed patches around their places
    closed = intersecting(tree, net.n_edges, area)
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    patch = nx.Graph()
    patch.add_edges_from(zip(u[closed], v[closed], strict=True))
    open_nodes = set(u[~closed]) | set(v[~closed])
    exits = {n for p in pnodes for n in nx.node_connected_component(patch, int(p)) if n in open_nodes}
    other_edge = {n for n in patch if n in open_nodes} - exits
    assert exits and other_edge  # the people start at the edge of their own patch only
    dist = nx.multi_source_dijkstra_path_length(graph(edges, closed), exits, weight="weight")
    shelter_at = dict(zip(shelters["name"], shelters["node"], strict=True))
    in_area = {n for n, x, y in zip(shelters["name"], shelters["lon"], shelters["lat"], strict=True) if area.intersects(shapely.Point(x, y))}
    s = c.shelters.set_index("name")
    assert set(s.index[s["inside"]]) == in_area and len(in_area) >= 3
    assert not s.loc[list(in_area), "usable"].any()
    for name, row in s[~s["inside"]].iterrows():
        node = shelter_at[name]
        if closed[(u == node) | (v == node)].all():
            continue  # its own road is closed: moved to an open road, or refused
        assert row["time_s"] == pytest.approx(dist.get(node, math.inf), rel=1e-9), name
    usable = c.usable_shelters
    assert usable["time_s"].is_monotonic_increasing
    want_needed, total = [], 0.0
    for _, row in usable.iterrows():
        want_needed.append(total < c.affected_population)
        total += row["capacity"]
    assert usable["needed"].tolist() == want_needed
    assert usable["cumulative_capacity"].tolist() == pytest.approx(np.cumsum(usable["capacity"]).tolist())
    summary = c.summary()
    assert summary["shelters_inside"] == len(in_area)
    assert summary["shelter_capacity_inside"] == shelters.set_index("name").loc[list(in_area), "capacity_persons"].sum()
    assert summary["usable_shelter_capacity"] == pytest.approx(usable["capacity"].sum())
    assert summary["shelters_needed"] == sum(want_needed)
    assert set(usable["from_place"]) <= {f"P{i}" for i in range(6)}


def test_jurisdictions_affected_are_the_street_polygons_the_area_intersects(net):
    streets = gpd.read_file(shared_file("admin/shanghai_streets_osm.geojson"))
    jur = gpd.GeoDataFrame({"code": streets["official_control_code_2023"], "name": streets["osm_name"], "level": "township"}, geometry=streets.geometry, crs=4326)
    h = _hazards()["plume"]
    c = hz.consequences(h, net=net, jurisdictions=jur)
    want = {code for code, g in zip(jur["code"], jur.geometry, strict=True) if g.intersects(h.area)}
    assert set(c.jurisdictions["code"]) == want and len(want) >= 2
    assert c.jurisdictions["overlap_km2"].is_monotonic_decreasing
    covered = shapely.union_all(jur.geometry.values).intersection(h.area)
    assert c.jurisdictions["overlap_km2"].sum() == pytest.approx(gpd.GeoSeries([covered], crs=4326).to_crs(hz.EQUAL_AREA_CRS).area.iloc[0] / 1e6, rel=1e-3)


def test_coverage_before_and_after_equals_dijkstra(net, edges, tree, core_nodes):
    rng = np.random.default_rng(11)
    sites = rng.choice(core_nodes, 4, replace=False)
    demand = rng.choice(net.n_nodes, 400, replace=False)
    h = _hazards()["typhoon"]
    c = hz.consequences(h, net=net)
    change = hz.coverage_change(net, net.node_lon[sites], net.node_lat[sites], net.node_lon[demand], net.node_lat[demand], closed=c.closed, threshold_s=420)
    closed = intersecting(tree, net.n_edges, h.area)
    for g, share, times in ((graph(edges), change.share_before, change.time_before_s), (graph(edges, closed), change.share_after, change.time_after_s)):
        dist = nx.multi_source_dijkstra_path_length(g, {int(s) for s in sites if int(s) in g}, weight="weight")
        want = np.array([dist.get(int(d), 0.0 if d in sites else math.inf) for d in demand])
        assert times == pytest.approx(want, rel=1e-9)
        assert share == pytest.approx(np.mean(want <= 420))
    assert change.share_after < change.share_before
    assert change.n_lost == int(((change.time_before_s <= 420) & (change.time_after_s > 420)).sum()) > 0


def test_scenarios_compare_side_by_side(net):
    hs = _hazards()
    results = [hz.consequences(hs[k], net=net) for k in ("flood", "plume")]
    table = hz.compare(*results)
    assert list(table.columns) == ["积水", "泄漏"]
    assert list(table.index) == list(hz.SUMMARY_KEYS)
    for col, r in zip(table.columns, results, strict=True):
        assert table.at["closed_edges", col] == r.n_closed
        assert table.at["kind", col] == r.hazard.kind
    same = hz.compare(results[0], results[0])
    assert list(same.columns) == ["#1 积水", "#2 积水"]


# ---- geometry of the hazard areas ---------------------------------------------------------------------


@pytest.mark.parametrize("wind_from", [0.0, 90.0, 225.0, 360.0])
def test_plume_lies_downwind(wind_from):
    src = (121.47, 31.23)
    h = hz.gas_plume(*src, wind_from_deg=wind_from, distance_km=4, spread_deg=30, isolation_km=0.3)
    down = (wind_from + 180) % 360
    inside = lambda p: h.area.intersects(shapely.Point(p))  # noqa: E731
    assert inside(at(*src, down, 2.0))
    assert inside(at(*src, down, 3.95)) and not inside(at(*src, down, 4.05))
    assert not inside(at(*src, wind_from, 2.0))  # upwind
    assert inside(at(*src, down + 10, 2.0)) and inside(at(*src, down - 10, 2.0))
    assert not inside(at(*src, down + 20, 2.0)) and not inside(at(*src, down - 20, 2.0))
    assert inside(at(*src, wind_from, 0.25)) and not inside(at(*src, wind_from, 0.35))  # the isolation circle, all round
    if wind_from in (0.0, 360.0):  # a north wind carries the gas south
        beyond_isolation = h.area.difference(aeqd_circle(*src, 310))
        assert beyond_isolation.bounds[3] < src[1]
        assert h.area.centroid.y < src[1]
    assert h.params["downwind_deg"] == pytest.approx(down % 360)


def test_typhoon_swept_area_holds_every_circle_and_interpolates_the_radius():
    track = [(122.5, 28.0), (121.8, 31.0), (123.0, 33.5)]
    radii = [20.0, 60.0, 30.0]
    h = hz.typhoon_track(track, radius_km=radii, steps=10)
    for (x, y), r in zip(track, radii, strict=True):
        circle = aeqd_circle(x, y, r * 1000)
        assert circle.difference(h.area).area < 1e-5 * circle.area  # an inscribed 64-gon would miss 1.6e-3 of it
    # an independent union: circles every ~2 km along each geodesic, 1 % wider
    fine = []
    for (x0, y0), (x1, y1), r0, r1 in zip(track[:-1], track[1:], radii[:-1], radii[1:], strict=True):
        az, _, d = GEOD.inv(x0, y0, x1, y1)
        for f in np.linspace(0, 1, 200):
            fine.append(aeqd_circle(*at(x0, y0, az, f * d / 1000), (r0 + f * (r1 - r0)) * 1010))
    union = shapely.union_all(fine)
    assert h.area.difference(union).area < 1e-4 * h.area.area
    assert union.difference(h.area).area < 0.02 * h.area.area
    # halfway along the first leg the radius is (20 + 60) / 2 = 40 km, not the 60 km of its wider end
    az, _, d = GEOD.inv(*track[0], *track[1])
    mid = at(*track[0], az, d / 2000)
    inside = lambda p: h.area.intersects(shapely.Point(p))  # noqa: E731
    for side in (az + 90, az - 90):
        assert inside(at(*mid, side, 38.0))
        assert not inside(at(*mid, side, 42.0))
    assert h.params["radius_km"] == radii and h.params["track"] == [list(p) for p in track]


def test_a_hazard_round_trips_through_geojson():
    for h in _hazards().values():
        back = hz.hazard_from_geojson(json.dumps(h.geojson()))
        assert (back.kind, back.name) == (h.kind, h.name)
        assert back.params == h.params
        assert back.area.equals(h.area)
    collection = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": shapely.geometry.mapping(shapely.box(121.40, 31.20, 121.42, 31.22)), "properties": {}},
                                                             {"type": "Feature", "geometry": shapely.geometry.mapping(shapely.box(121.41, 31.21, 121.44, 31.23)), "properties": {}}]}  # fmt: skip
    drawn = hz.hazard_from_geojson(collection, name="两处")
    assert drawn.kind == "drawn" and drawn.name == "两处"
    assert drawn.area.area == pytest.approx(shapely.box(121.40, 31.20, 121.42, 31.22).union(shapely.box(121.41, 31.21, 121.44, 31.23)).area)


def test_an_invalid_polygon_is_repaired():
    bowtie = shapely.Polygon([(121.40, 31.20), (121.42, 31.22), (121.42, 31.20), (121.40, 31.22)])
    assert not bowtie.is_valid
    h = hz.flood_area(bowtie, stage_m=1.0)
    assert h.area.is_valid and h.area.area == pytest.approx(0.0002)  # two triangles of 0.0001 deg²


# ---- bad input --------------------------------------------------------------------------------------

def _with_nan() -> shapely.Polygon:
    with np.errstate(invalid="ignore"):  # shapely warns while building it
        return shapely.Polygon([(121.4, 31.2), (121.5, 31.2), (float("nan"), 31.3)])


BAD = [
    (lambda: hz.flood_area(shapely.Polygon([(121.40, 31.20), (121.41, 31.21), (121.42, 31.22), (121.40, 31.20)]), stage_m=1), "invalid_polygon", "has no area"),
    (lambda: hz.flood_area(shapely.Polygon([(121.40, 31.20), (121.45, 31.20), (121.40, 31.20), (121.45, 31.20)]), stage_m=1), "invalid_polygon", "repairing it leaves no area"),
    (lambda: hz.flood_area(shapely.LineString([(121.40, 31.20), (121.41, 31.21)]), stage_m=1), "not_polygon", "LineString"),
    (lambda: hz.flood_area(shapely.Polygon(), stage_m=1), "empty", "polygon"),
    (lambda: hz.flood_area(_with_nan(), stage_m=1), "bad_coordinates", "polygon"),
    (lambda: hz.flood_area(shapely.box(221.4, 31.2, 221.5, 31.3), stage_m=1), "bad_coordinates", "221.4"),
    (lambda: hz.flood_area(FLOOD, stage_m=0), "bad_stage", "stage_m` was 0"),
    (lambda: hz.flood_area(FLOOD, stage_m="deep"), "bad_stage", "stage_m` was 'deep'"),
    (lambda: hz.hazard_from_geojson("{not json"), "unreadable", "GeoJSON"),
    (lambda: hz.hazard_from_geojson({"type": "Polygon", "coordinates": [[[121.4, 31.2], [121.5, 31.2]]]}), "unreadable", "GeoJSON"),
    (lambda: hz.hazard_from_geojson({"type": "Point", "coordinates": [121.4, 31.2]}), "not_polygon", "Point"),
    (lambda: hz.hazard_from_geojson({"type": "FeatureCollection", "features": []}), "empty", "obj"),
    (lambda: hz.typhoon_track([(121.4, 31.2)], radius_km=10), "too_few_points", "1 point"),
    (lambda: hz.typhoon_track([], radius_km=10), "too_few_points", "0 point"),
    (lambda: hz.typhoon_track([(121.4, 31.2), (121.5, 31.3)], radius_km=0), "bad_radius", "radius_km` was 0"),
    (lambda: hz.typhoon_track([(121.4, 31.2), (121.5, 31.3)], radius_km=[10, -5]), "bad_radius", "radius_km` was -5"),
    (lambda: hz.typhoon_track([(121.4, 31.2), (121.5, 31.3)], radius_km=[10, 20, 30]), "radius_count", "3 values for 2"),
    (lambda: hz.typhoon_track([(121.4, 31.2), (321.5, 31.3)], radius_km=10), "bad_coordinates", "321.5"),
    (lambda: hz.typhoon_track([(121.4, 31.2), 121.5], radius_km=10), "bad_coordinates", "point 1"),
    (lambda: hz.typhoon_track([(121.4, 31.2), (121.5, 31.3)], radius_km=10, steps=0), "bad_steps", "steps` was 0"),
    (lambda: hz.gas_plume(121.4, 31.2, wind_from_deg=361, distance_km=3), "bad_wind", "wind_from_deg` was 361"),
    (lambda: hz.gas_plume(121.4, 31.2, wind_from_deg=-1, distance_km=3), "bad_wind", "wind_from_deg` was -1"),
    (lambda: hz.gas_plume(121.4, 31.2, wind_from_deg=float("nan"), distance_km=3), "bad_wind", "wind_from_deg"),
    (lambda: hz.gas_plume(121.4, 31.2, wind_from_deg=90, distance_km=0), "bad_distance", "distance_km` was 0"),
    (lambda: hz.gas_plume(121.4, 31.2, wind_from_deg=90, distance_km=3, spread_deg=0), "bad_spread", "spread_deg` was 0"),
    (lambda: hz.gas_plume(121.4, 31.2, wind_from_deg=90, distance_km=3, spread_deg=190), "bad_spread", "190"),
    (lambda: hz.gas_plume(121.4, 31.2, wind_from_deg=90, distance_km=3, isolation_km=4), "bad_isolation", "isolation_km` was 4"),
    (lambda: hz.gas_plume(181.0, 31.2, wind_from_deg=90, distance_km=3), "bad_coordinates", "source"),
]


@pytest.mark.parametrize(("make", "code", "text"), BAD, ids=[f"{c}-{i}" for i, (_, c, _) in enumerate(BAD)])
def test_bad_input_is_refused_with_a_code(make, code, text):
    with pytest.raises(hz.HazardError) as info:
        make()
    assert info.value.code == code
    assert text in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_tables_and_threshold_are_refused(net):
    h = _hazards()["flood"]
    with pytest.raises(hz.HazardError) as info:
        hz.consequences(h, net=net, shelters=pd.DataFrame({"name": ["S"], "lon": [121.47], "lat": [31.23]}))
    assert info.value.code == "missing_columns" and info.value.params["what"] == "shelters" and "capacity" in str(info.value)
    with pytest.raises(hz.HazardError) as info:
        hz.consequences(h, net=net, resources=pd.DataFrame({"name": ["R"]}))
    assert info.value.code == "missing_columns"
    with pytest.raises(hz.HazardError) as info:
        hz.coverage_change(net, [121.47], [31.23], [121.48], [31.24], closed=np.zeros(net.n_edges, dtype=bool), threshold_s=0)
    assert info.value.code == "bad_threshold" and "threshold_s` was 0" in str(info.value)
