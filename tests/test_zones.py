"""Responsibility zones, isochrones, mutual-aid zones and coverage on the real central-Shanghai network."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo import coverage as gc
from geo import network as gn
from geo import routing
from geo import zones as gz
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def net():
    return gn.build_from_graph(gn.read_osm(shared_file("osm/shanghai_center.osm")), name="sh", source="osm")


@pytest.fixture(scope="module")
def districts():
    d = gpd.read_file(shared_file("admin/shanghai_districts_geoboundaries.geojson"))
    return d.rename(columns={"district": "code"}).assign(name=lambda x: x["code"])


@pytest.fixture(scope="module")
def facilities(net, districts):
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(121.42, 121.53, 12), rng.uniform(31.19, 31.27, 12)
    pts = gpd.GeoDataFrame({"id": [f"F{i:02d}" for i in range(12)]}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    joined = gpd.sjoin(pts, districts[["code", "geometry"]], predicate="within", how="left")
    return pts.assign(county_code=joined["code"].fillna("").to_numpy())


@pytest.fixture(scope="module")
def snaps(net, facilities):
    return gz.snap_facilities(net, facilities.geometry.x, facilities.geometry.y)


@pytest.fixture(scope="module")
def assignment(net, snaps):
    return gz.assign(net, snaps)


@pytest.fixture(scope="module")
def brute(net, snaps):
    return np.vstack([gz.times_from(net, s) if s is not None else np.full(net.n_nodes, np.inf) for s in snaps])


@pytest.fixture(scope="module")
def cells(net):
    return gz.node_cells(net, shapely.box(*net.meta["bounds"]).buffer(0.002))


def test_zones_agree_with_a_search_per_facility_on_every_node(assignment, brute):
    best = brute.min(axis=0)
    reached = np.isfinite(best)
    assert reached.mean() > 0.95
    np.testing.assert_array_equal(np.isfinite(assignment.time_s), reached)
    np.testing.assert_allclose(assignment.time_s[reached], best[reached], rtol=1e-9)
    chosen = brute[assignment.facility[reached], np.flatnonzero(reached)]
    np.testing.assert_allclose(chosen, best[reached], rtol=1e-9)  # the assigned facility is a fastest one


def test_zone_polygons_do_not_overlap_and_hold_every_reachable_node(net, assignment, cells, facilities):
    zones = gz.zone_polygons(assignment, cells, facilities)
    metric = zones.to_crs("EPSG:32651")
    assert metric.area.sum() == pytest.approx(shapely.union_all(metric.geometry.values).area, rel=1e-9)
    pts = shapely.points(net.node_lon, net.node_lat)
    for node in np.flatnonzero(assignment.facility >= 0):
        assert zones.geometry.iloc[assignment.facility[node]].covers(pts[node])
    assert zones["nodes"].sum() == (assignment.facility >= 0).sum()


def test_isochrone_contains_exactly_the_nodes_within_its_break(net, snaps, cells):
    t = gz.times_from(net, snaps[0])
    iso = gz.isochrones(t, cells, breaks_min=(5, 10, 15))
    pts = shapely.points(net.node_lon, net.node_lat)
    for _, row in iso.iterrows():
        poly = row.geometry
        shapely.prepare(poly)
        inside = t <= row["break_min"] * 60
        assert inside.sum() == row["nodes"] > 0
        assert shapely.covers(poly, pts[inside]).all()
        assert not shapely.contains_properly(poly, pts[~inside]).any()
    areas = iso.to_crs("EPSG:32651").area.to_numpy()
    assert (np.diff(areas) > 0).all()


def test_node_served_from_a_neighbouring_district_shows_in_mutual_aid(net, assignment, facilities, districts):
    table, foreign = gz.mutual_aid(net, assignment, facilities, districts)
    assert foreign.any()
    node_county = gz.locate_nodes(net, districts)
    fac_county = facilities["county_code"].to_numpy()[assignment.facility]
    node = int(np.flatnonzero(foreign)[0])
    pair = table[(table["county"] == node_county[node]) & (table["by_county"] == fac_county[node])]
    assert len(pair) == 1 and pair["nodes"].iloc[0] >= 1
    assert (table["county"] != table["by_county"]).all()
    saved = table.loc[np.isfinite(table["median_saved_min"]), "median_saved_min"]
    assert (saved >= 0).all()


def test_coverage_indicators_by_hand(net, snaps, facilities, districts):
    """A small real extract: 15 points; each one's time by an explicit route from every facility."""
    rng = np.random.default_rng(99)
    lon, lat = rng.uniform(121.44, 121.51, 15), rng.uniform(31.20, 31.26, 15)
    demand = gpd.GeoDataFrame({"population": rng.integers(0, 5000, 15)}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    demand["county_code"] = gz.locate_nodes(gn.build_from_arrays(lon, lat, [0], [1], [1.0], [1.0], [0], ["x"], name="pts", source="t"), districts)
    a = gz.assign(net, snaps)
    times = gc.point_times(net, a.time_s, gc.snap_points(net, lon, lat))
    by_hand = []
    for x, y in zip(lon, lat, strict=True):
        best = np.inf
        for f in facilities.itertuples():
            try:
                best = min(best, routing.route(net, (f.geometry.x, f.geometry.y), (x, y)).travel_time_s)
            except (routing.OffNetwork, routing.NoRoute):
                pass
        by_hand.append(best)
    np.testing.assert_allclose(times, by_hand, rtol=1e-9)
    threshold = float(np.median(by_hand))
    table = gc.indicators(demand, times, threshold_s=threshold, weight="population").set_index("county_code")
    covered = np.asarray(by_hand) <= threshold
    for code, grp in pd.DataFrame({"c": demand["county_code"], "cov": covered, "pop": demand["population"]}).groupby("c"):
        assert table.at[code, "points"] == len(grp)
        assert table.at[code, "covered"] == grp["cov"].sum()
        assert table.at[code, "covered_weight"] == (grp["pop"] * grp["cov"]).sum()
    assert table.at["ALL", "share"] == pytest.approx(covered.mean())


def test_indicator_input_checks():
    with pytest.raises(ValueError, match="`threshold_s` was 0"):
        gc.indicators(pd.DataFrame({"county_code": ["a"]}), np.array([1.0]), threshold_s=0)
    with pytest.raises(ValueError, match="2 values for 1 demand rows"):
        gc.indicators(pd.DataFrame({"county_code": ["a"]}), np.array([1.0, 2.0]))


def test_teams_per_county(store):
    counties = store.jurisdictions("county", detail="display")
    per = gc.teams_per(store.layer("teams"), counties).set_index("code")
    assert per.at["310151", "teams"] >= 1  # Chongming has a professional team
    assert per["teams"].sum() == (store.layer("teams")["kind"] == "professional").sum()


def test_cli_zones_isochrones_coverage(net, facilities, tmp_path):
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    folder = gn.save(net, tmp_path / "sh")
    fac = tmp_path / "fac.geojson"
    facilities[["id", "geometry"]].to_file(fac)
    demand = tmp_path / "demand.geojson"
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(121.44, 121.51, 20), rng.uniform(31.20, 31.26, 20)
    gpd.GeoDataFrame({"population": rng.integers(1, 100, 20), "county_code": "X"}, geometry=gpd.points_from_xy(lon, lat), crs=4326).to_file(demand)

    def run(*args):
        proc = subprocess.run([sys.executable, "-m", "geo", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        return json.loads(proc.stdout)

    zones = run("zones", "--network", str(folder), "--facilities", str(fac))
    assert len(zones["features"]) == len(facilities)
    iso = run("isochrones", "--network", str(folder), "--facilities", str(fac), "--breaks", "5,10")
    assert [f["properties"]["break_min"] for f in iso["features"]] == [5, 10]
    cov = run("coverage", "--network", str(folder), "--facilities", str(fac), "--demand", str(demand), "--threshold-min", "6")
    snaps = gz.snap_facilities(net, facilities.geometry.x, facilities.geometry.y)
    times = gc.point_times(net, gz.assign(net, snaps).time_s, gc.snap_points(net, lon, lat))
    assert cov["indicators"][-1]["covered"] == int((times <= 360).sum())


# --------------------------------------------------------------------------- honest demand


def test_indicators_keep_beyond_the_limit_and_no_road_apart():
    demand = pd.DataFrame({"county_code": ["a", "a", "a", "b"], "weight": [1.0, 2.0, 4.0, 8.0]})
    times = np.array([100.0, 700.0, np.inf, 50.0])
    table = gc.indicators(demand, times, threshold_s=600).set_index("county_code")
    assert table.loc["a", ["covered", "beyond", "no_road"]].tolist() == [1, 1, 1]
    assert table.loc["a", ["covered_weight", "beyond_weight", "no_road_weight"]].tolist() == [1.0, 2.0, 4.0]
    assert table.at["ALL", "weight_share"] == pytest.approx(9 / 15)


def test_territory_grid_weights_are_the_area():
    square = gpd.GeoSeries([shapely.box(0, 0, 10_500, 10_500)], crs=gc.EQUAL_AREA_CRS).to_crs(4326).iloc[0]  # 110.25 km²
    grid = gc.territory_grid(square, spacing_m=1000)
    assert grid.unit == "km2" and grid.spacing_m == 1000
    assert len(grid) == 121  # 10 full columns and a half one, each way
    assert grid.total == pytest.approx(110.25, rel=1e-6)
    assert sorted(set(np.round(grid.weight, 6))) == [0.25, 0.5, 1.0]
    xy = grid.points.to_crs(gc.EQUAL_AREA_CRS).get_coordinates().to_numpy()
    assert ((xy > -1e-3) & (xy < 10_500 + 1e-3)).all()  # every point inside the square (in the metric CRS)
    assert gc.default_spacing_m(square, target_cells=100) == 1500  # √(110.25/100) km = 1.05 km, rounded up to a step
    with pytest.raises(ValueError, match="`spacing_m` was -1"):
        gc.territory_grid(square, spacing_m=-1)


def test_territory_grid_of_shanghai_sums_to_its_area(store):
    full = store.jurisdictions(detail="full")
    sh = full.set_index("code").loc["310000"]
    grid = gc.territory_grid(sh.geometry, counties=full[full["level"] == "county"])
    assert 1000 <= len(grid) <= 4000
    assert grid.total == pytest.approx(sh["area_km2"], rel=1e-6)
    assert (grid.points["county_code"] != "").mean() > 0.95


def test_place_population_counts_nested_places_once(store):
    """上海市 used to be 59,722,616 people (上海 24.9 M + 浦西 6.7 M + 浦东 5.7 M + its districts + towns)."""
    places = store.layer("places")
    counties = store.jurisdictions("county", detail="display")
    sh = places[places["province_code"] == "310000"]
    assert sh["population"].sum() > 59e6
    d = gc.place_population(sh, counties)
    assert 20e6 < d.total < 26e6  # Shanghai: 24.9 million (2020 census)
    assert (d.weight > 0).all()  # no place counts as 1 for an unknown population
    assert d.unknown == int((sh["population"] <= 0).sum()) and d.unknown > 0
    assert len(d) + d.unknown + d.nested == len(sh)
    assert "GN1796236" not in set(d.points["id"])  # 上海 (the whole municipality at a point in 黄浦区)
    assert d.points["county_code"].is_unique


def test_imported_population_replaces_the_places_of_its_county(store):
    places = store.layer("places")
    counties = store.jurisdictions("county", detail="display")
    sh = places[places["county_code"] == "310151"]
    extra = sh.iloc[:1].assign(id="IMP1", population=70_000, origin="imp-1")
    d = gc.place_population(pd.concat([sh, extra, extra.assign(id="IMP2", population=30_000)]), counties)
    assert sorted(d.points["id"]) == ["IMP1", "IMP2"] and d.total == 100_000


def test_facilities_without_a_zone_say_why(net, facilities, districts):
    """Two teams at one landing place and one far off the road: no '0 km²' without a reason."""
    fac = pd.concat([facilities.iloc[:3], facilities.iloc[[0]].assign(id="TWIN"), facilities.iloc[[0]].assign(id="SEA", geometry=[shapely.Point(122.2, 31.0)])], ignore_index=True)
    fac = gpd.GeoDataFrame(fac, geometry="geometry", crs=4326)
    snaps = gz.snap_facilities(net, fac.geometry.x, fac.geometry.y)
    a = gz.assign(net, snaps)
    cells = gz.node_cells(net, shapely.box(*net.meta["bounds"]).buffer(0.002))
    zones = gz.zone_polygons(a, cells, fac, net).set_index("id")
    assert zones.at["SEA", "status"] == "off_network" and zones.at["SEA", "snap_distance_m"] > net.meta["snap_limit_m"]
    twin = zones.loc[["F00", "TWIN"]]
    assert sorted(twin["status"]) == ["ok", "outranked"]  # the tie goes to one of them; the other says so
    loser = twin[twin["status"] == "outranked"].iloc[0]
    assert zones.index[loser["first_other"]] in ("F00", "TWIN") and zones.index[loser["first_other"]] != loser.name
    ok = zones["status"] == "ok"
    assert (zones.loc[ok, "area_km2"] > 0).all() and (zones.loc[~ok, "area_km2"] == 0).all()
    outside = gz.zone_polygons(a, gz.node_cells(net, shapely.box(121.40, 31.18, 121.41, 31.19)), fac, net)
    assert "outside" in set(outside["status"])


def test_water_rescue_team_on_the_river_is_outranked_not_zero(store, dataset):
    """崇明 water search team (T003) sits on the Yangtze 1.6 km from the approximate network; the flood
    team beside it (T002) arrives first everywhere, which the zone says instead of '0 km²'."""
    teams = store.layer("teams")
    net = gn.load(gn.networks_dir(dataset) / "approx")
    fac = teams[teams["kind"] == "professional"].reset_index(drop=True)
    a = gz.assign(net, gz.snap_facilities(net, fac.geometry.x, fac.geometry.y))
    full = store.jurisdictions(detail="full")
    zones = gz.zone_polygons(a, gz.node_cells(net, full.set_index("code").geometry["310000"]), fac, net).set_index("id")
    assert zones.at["T003", "status"] == "outranked" and zones.at["T003", "area_km2"] == 0
    assert zones.index[zones.at["T003", "first_other"]] == "T002"
    assert zones.at["T002", "status"] == "ok" and zones.at["T002", "area_km2"] > 100


def test_cells_are_polygons_and_isochrones_work_on_the_whole_backbone(dataset):
    """Clipping Voronoi cells to the area used to leave a polygon plus a line at two nodes of the
    backbone near 徐州 (117.094, 35.094): isochrones then failed ("Overlay input is mixed-dimension")."""
    net = gn.load(gn.networks_dir(dataset) / "backbone")
    area = shapely.box(*net.meta["bounds"])
    cells = gz.node_cells(net, area)
    kinds = set(shapely.get_type_id(cells.cells[~shapely.is_empty(cells.cells)]).tolist())
    assert kinds <= {3, 6}, kinds  # Polygon, MultiPolygon
    near = int(np.argmin(np.hypot(np.asarray(net.node_lon) - 117.094, np.asarray(net.node_lat) - 35.094)))
    assert shapely.get_type_id(cells.cells[near]) in (3, 6) and shapely.area(cells.cells[near]) > 0
    snap = routing.snap(net, float(net.node_lon[near]), float(net.node_lat[near]))
    bands = gz.isochrones(gz.times_from(net, snap), cells, breaks_min=(30, 60))
    assert len(bands) == 2 and all(g.is_valid and not g.is_empty for g in bands.geometry)
