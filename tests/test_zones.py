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
    table = gc.indicators(demand, times, threshold_s=threshold).set_index("county_code")
    covered = np.asarray(by_hand) <= threshold
    for code, grp in pd.DataFrame({"c": demand["county_code"], "cov": covered, "pop": demand["population"]}).groupby("c"):
        assert table.at[code, "points"] == len(grp)
        assert table.at[code, "covered"] == grp["cov"].sum()
        assert table.at[code, "covered_population"] == (grp["pop"] * grp["cov"]).sum()
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
