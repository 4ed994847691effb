"""Site planning (MCLP, LSCP, p-median): hand-checked optima, PySAL spopt on real road times, solver limits."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from scipy.sparse.csgraph import connected_components

from geo import network as gn
from geo import planning as pl
from geo import routing
from tests.conftest import shared_file

INF = math.inf

# Hand-checked instance: 4 demand points × 3 candidates, times in seconds.
# Within 10 s: d0 ← {0}, d1 ← {0}, d2 ← {1, 2}, d3 ← {2}.
COST = np.array(
    [
        [5.0, 20.0, 30.0],
        [8.0, 12.0, 25.0],
        [30.0, 6.0, 9.0],
        [40.0, 30.0, 4.0],
    ]
)
W = np.array([10.0, 1.0, 5.0, 7.0])
SERVICE_S = 10.0


# --------------------------------------------------------------------------- hand-checked optima


@pytest.mark.parametrize(
    ("p", "existing", "chosen", "objective"),
    [
        (1, None, [2], 12.0),  # site 0 covers 11, site 1 covers 5, site 2 covers 12
        (2, None, [0, 2], 23.0),  # everything
        (1, [0], [2], 23.0),
        (1, [1], [0], 16.0),  # with base 1 open, site 0 adds 11 and site 2 only 7
        (0, [1], [], 5.0),
    ],
)
def test_mclp_hand_checked(p, existing, chosen, objective):
    r = pl.mclp(COST, W, p=p, service_s=SERVICE_S, existing=existing)
    assert r.chosen.tolist() == chosen
    assert r.objective == objective
    assert r.status == "optimal"
    assert r.mip_gap == pytest.approx(0.0, abs=1e-9)
    assert r.model == "mclp"
    assert r.open_sites.tolist() == sorted(set(chosen) | set(existing or []))
    assert W[r.covered].sum() == objective


def test_mclp_assignment_is_the_nearest_open_site():
    r = pl.mclp(COST, W, p=2, service_s=SERVICE_S)
    assert r.assignment.tolist() == [0, 0, 2, 2]


def test_lscp_hand_checked_and_existing_counts():
    r = pl.lscp(COST, service_s=SERVICE_S)
    assert (r.chosen.tolist(), r.objective, r.status) == ([0, 2], 2.0, "optimal")
    assert r.covered.all()
    r = pl.lscp(COST, service_s=SERVICE_S, existing=[1])
    assert (r.chosen.tolist(), r.existing.tolist(), r.objective) == ([0, 2], [1], 3.0)
    r = pl.lscp(COST, service_s=SERVICE_S, existing=[0, 2])
    assert (r.chosen.tolist(), r.objective) == ([], 2.0)


def test_lscp_reports_uncoverable_demand_instead_of_failing():
    cost = np.vstack([COST, [50.0, 60.0, INF], [INF, INF, INF]])
    r = pl.lscp(cost, service_s=SERVICE_S)
    assert r.uncoverable.tolist() == [4, 5]
    assert r.objective == 2.0
    assert r.covered.tolist() == [True, True, True, True, False, False]
    assert r.assignment[5] == -1
    m = pl.mclp(cost, np.append(W, [100.0, 100.0]), p=3, service_s=SERVICE_S)
    assert m.uncoverable.tolist() == [4, 5]
    assert m.objective == 23.0


@pytest.mark.parametrize(
    ("p", "existing", "chosen", "objective"),
    [
        (1, None, [2], 398.0),  # 300 + 25 + 45 + 28
        (2, None, [0, 2], 131.0),  # 50 + 8 + 45 + 28
        (1, [1], [2], 270.0),  # 200 + 12 + 30 + 28
    ],
)
def test_pmedian_hand_checked(p, existing, chosen, objective):
    r = pl.pmedian(COST, W, p=p, existing=existing)
    assert r.chosen.tolist() == chosen
    assert r.objective == pytest.approx(objective, rel=1e-12)
    assert r.status == "optimal"
    assert r.load.sum() == W.sum()


def test_capacitated_pmedian_single_source_and_fractional():
    cap = np.array([10.0, 14.0, 12.0])
    # Single source: {0, 2} holds 22 < 23; {0, 1} must put d0 at 0: 50 + 12 + 30 + 210 = 302;
    # {1, 2} must put d0 at 1, leaving room there for d1 only: 200 + 12 + 45 + 28 = 285.
    r = pl.pmedian(COST, W, p=2, capacity=cap)
    assert r.chosen.tolist() == [1, 2]
    assert r.objective == pytest.approx(285.0)
    assert r.assignment.tolist() == [1, 1, 2, 2]
    assert r.load.tolist() == [0.0, 11.0, 12.0]
    # Fractional: d2 splits, 3 units at site 1 (6 s) and 2 at site 2 (9 s): 200 + 12 + 18 + 18 + 28 = 276.
    f = pl.pmedian(COST, W, p=2, capacity=cap, single_source=False)
    assert f.chosen.tolist() == [1, 2]
    assert f.objective == pytest.approx(276.0)
    assert f.load.tolist() == pytest.approx([0.0, 14.0, 9.0])
    assert pl.pmedian(COST, W, p=2).objective == pytest.approx(131.0)  # uncapacitated: {0, 2}


def test_capacity_uses_demand_size_not_weight():
    # Every demand point takes 1 unit; site 2 holds 1: only d3 (the heaviest saving) goes there.
    r = pl.pmedian(COST, W, p=2, capacity=np.array([0.0, 10.0, 1.0]), demand_size=np.ones(4))
    assert r.chosen.tolist() == [1, 2]
    assert r.assignment.tolist() == [1, 1, 1, 2]
    assert r.objective == pytest.approx(200 + 12 + 30 + 28)


def test_impossible_capacity_raises_solver_error_with_status():
    with pytest.raises(pl.SolverError, match=r"status 'Infeasible'.*hold 22; the reachable demand size is 23") as info:
        pl.pmedian(COST, W, p=2, capacity=np.array([10.0, 5.0, 12.0]))
    assert info.value.status == "infeasible"
    assert info.value.model == "pmedian"
    assert isinstance(info.value, ValueError)


def test_plan_dispatches_by_name():
    assert pl.plan("mclp", COST, W, p=1, service_s=SERVICE_S).objective == 12.0
    assert pl.plan("lscp", COST, service_s=SERVICE_S).objective == 2.0
    assert pl.plan("pmedian", COST, W, p=2).objective == pytest.approx(131.0)
    assert pl.plan("pmedian", COST, W, p=2, capacity=[10.0, 14.0, 12.0]).objective == pytest.approx(285.0)
    assert pl.plan("mclp", COST, p=1, service_s=SERVICE_S).objective == 2.0  # unit weights: d2 and d3


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: pl.plan("pcenter", COST, W, p=1), r"`model` was 'pcenter'.*\['mclp', 'lscp', 'pmedian'\]"),
        (lambda: pl.mclp(COST, W, p=3, service_s=10, existing=[0]), r"`p` was 3 but only 2 candidates"),
        (lambda: pl.mclp(COST, W, p=-1, service_s=10), r"`p` \(number of new sites\) was -1"),
        (lambda: pl.mclp(COST, W, p=1, service_s=10, existing=[3]), r"`existing` holds \[3\], outside the 3 candidates"),
        (lambda: pl.mclp(COST, W, p=1, service_s=0), r"`service_s` was 0"),
        (lambda: pl.mclp(COST, W[:3], p=1, service_s=10), r"`w` must have shape \(4,\)"),
        (lambda: pl.mclp(np.where(COST > 29, np.nan, COST), W, p=1, service_s=10), r"NaN.*np.inf"),
        (lambda: pl.pmedian(COST, W, p=0), r"`p` was 0 and there are no existing sites"),
        (lambda: pl.pmedian(COST, W, p=1, capacity=[1.0, 2.0]), r"`capacity` must be 3 finite values"),
        (lambda: pl.mclp(COST, W, p=1, service_s=10, time_limit_s=0), r"`time_limit_s` was 0"),
        (lambda: pl.plan("lscp", COST, capacity=[1, 1, 1]), r"apply to the p-median only"),
        (lambda: pl.mclp(np.zeros((4, 0)), W, p=0, service_s=10), r"at least one demand point and one candidate; it has shape \(4, 0\)"),
    ],
)  # fmt: skip
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- solver limits


@pytest.fixture(scope="module")
def hard_mclp():
    """A random maximal-covering instance HiGHS needs about a minute to prove (2,000 × 200, 3 covers each)."""
    rng = np.random.default_rng(0)
    n, m = 2000, 200
    cost = np.full((n, m), 100.0)
    cost[np.repeat(np.arange(n), 3), np.concatenate([rng.choice(m, 3, replace=False) for _ in range(n)])] = 1.0
    return cost, np.ones(n)


def test_time_limit_returns_the_incumbent_with_status_and_gap(hard_mclp):
    cost, w = hard_mclp
    r = pl.mclp(cost, w, p=20, service_s=10, time_limit_s=0.5)
    assert r.status == "time_limit"
    assert not r.optimal
    assert 0 < r.mip_gap < math.inf
    assert len(r.chosen) == 20
    assert r.objective == pl.coverage_of(cost, w, r.chosen, 10).covered_weight
    assert r.objective > 0
    assert r.runtime_s < 5


def test_time_limit_without_a_solution_raises(hard_mclp):
    cost, w = hard_mclp
    with pytest.raises(pl.SolverError, match="Time limit reached.*no feasible solution") as info:
        pl.mclp(cost, w, p=20, service_s=10, time_limit_s=1e-9)
    assert info.value.status == "time_limit_reached"


# --------------------------------------------------------------------------- what-if


def test_base_out_of_service_before_and_after():
    open_sites = pl.mclp(COST, W, p=2, service_s=SERVICE_S).open_sites
    before = pl.coverage_of(COST, W, open_sites, SERVICE_S)
    after = pl.coverage_of(COST, W, pl.without(open_sites, 2), SERVICE_S)
    assert (before.covered_share, after.covered_share) == (1.0, 11 / 23)
    assert after.nearest_site.tolist() == [0, 0, 0, 0]
    assert after.nearest_s.tolist() == [5.0, 8.0, 30.0, 40.0]
    table = pl.compare(COST, W, open_sites, pl.without(open_sites, 2), service_s=SERVICE_S)
    assert list(table.columns) == ["before", "after", "change"]
    assert table.loc["covered_weight"].tolist() == [23.0, 11.0, -12.0]
    assert table.loc["open_sites", "change"] == -1
    assert table.loc["mean_time_s", "before"] == pytest.approx((50 + 8 + 45 + 28) / 23)
    assert table.loc["max_time_s", "after"] == 40.0
    with pytest.raises(ValueError, match=r"`site` was 1, which is not among the open sites \[0, 2\]"):
        pl.without(open_sites, 1)


def test_coverage_with_no_open_site_and_unreachable_demand():
    cost = np.vstack([COST, [INF, INF, INF]])
    c = pl.coverage_of(cost, np.append(W, 2.0), [], SERVICE_S)
    assert c.covered_share == 0.0
    assert (c.nearest_site == -1).all()
    c = pl.coverage_of(cost, np.append(W, 2.0), [0, 1, 2], SERVICE_S)
    assert c.indicators()["unreachable_weight"] == 2.0
    assert c.covered_weight == 23.0


# --------------------------------------------------------------------------- candidates and adapters


def test_grid_candidates_in_a_projected_square():
    square = gpd.GeoSeries([shapely.box(350_000, 3_455_000, 351_000, 3_456_000)], crs=32651)  # 1 km, central Shanghai
    grid = pl.grid_candidates(square, 250)
    assert grid.crs.to_epsg() == 4326
    assert len(grid) == 16
    assert grid["candidate_id"].iloc[0] == "G00000"
    xy = grid.to_crs(32651).get_coordinates().to_numpy()
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    assert d.min(axis=1) == pytest.approx(np.full(16, 250.0), abs=0.5)
    assert square.to_crs(4326).iloc[0].contains(shapely.MultiPoint(grid.geometry.tolist()))


def test_grid_candidates_refuses_bad_input():
    with pytest.raises(ValueError, match="has no CRS"):
        pl.grid_candidates(gpd.GeoSeries([shapely.box(0, 0, 1, 1)]), 100)
    with pytest.raises(ValueError, match="must be a \\(multi\\)polygon; it is LineString"):
        pl.grid_candidates(shapely.LineString([(121.4, 31.2), (121.5, 31.3)]), 100)
    with pytest.raises(ValueError, match="`spacing_m` was -5"):
        pl.grid_candidates(shapely.box(121.4, 31.2, 121.5, 31.3), -5)
    with pytest.raises(ValueError, match="use a coarser spacing"):
        pl.grid_candidates(shapely.box(121.0, 31.0, 122.0, 32.0), 10)


def test_from_geodataframes_straight_line_matches_the_array_function():
    rng = np.random.default_rng(3)
    dlon, dlat = rng.uniform(121.4, 121.5, 6), rng.uniform(31.2, 31.3, 6)
    clon, clat = rng.uniform(121.4, 121.5, 3), rng.uniform(31.2, 31.3, 3)
    demand = gpd.GeoDataFrame({"pop": [1, 2, 3, 4, 5, 6]}, geometry=gpd.points_from_xy(dlon, dlat), crs=4326).to_crs(32651)
    cands = gpd.GeoDataFrame(geometry=gpd.points_from_xy(clon, clat), crs=4326)
    cost, w = pl.from_geodataframes(demand, cands, weight="pop")
    assert w.tolist() == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(cost, pl.straight_line_cost(dlon, dlat, clon, clat), rtol=1e-9)
    # 1 km straight at 50 km/h with circuity 1.3 = 93.6 s
    one_km = pl.straight_line_cost([121.47], [31.23], [121.47], [31.23 + 1000 / 111_195.08])
    assert one_km[0, 0] == pytest.approx(1.3 * 1000 / (50 / 3.6), rel=1e-4)
    with pytest.raises(ValueError, match="`demand` has no CRS"):
        pl.from_geodataframes(demand.set_crs(None, allow_override=True), cands)
    with pytest.raises(ValueError, match="`weight` was 'people'"):
        pl.from_geodataframes(demand, cands, weight="people")


# --------------------------------------------------------------------------- real roads and PySAL spopt


@pytest.fixture(scope="module")
def net():
    return gn.build_from_graph(gn.read_osm(shared_file("osm/shanghai_center.osm")), name="sh-center", source="osm")


@pytest.fixture(scope="module")
def road_case(net):
    """300 demand points × 40 candidates at random nodes (seeded) of central Shanghai, all pairs reachable."""
    _, label = connected_components(net.csr(), directed=True, connection="strong")
    big = np.flatnonzero(label == np.bincount(label).argmax())
    rng = np.random.default_rng(7)
    dn, cn = rng.choice(big, 360, replace=False), rng.choice(big, 50, replace=False)
    cost = pl.cost_matrix(net, net.node_lon[dn], net.node_lat[dn], net.node_lon[cn], net.node_lat[cn])
    # a node snaps onto one of its edges; a one-way edge from outside the strong component can make it unreachable
    rows = np.flatnonzero(np.isfinite(cost).all(axis=1))[:300]
    cols = np.flatnonzero(np.isfinite(cost[rows]).all(axis=0))[:40]
    cost = cost[np.ix_(rows, cols)]
    assert cost.shape == (300, 40)
    w = rng.integers(1, 50, 300).astype(float)
    return cost, w


def test_cost_matrix_equals_routes_from_each_candidate(net):
    rng = np.random.default_rng(11)
    dlon, dlat = rng.uniform(121.43, 121.52, 8), rng.uniform(31.20, 31.26, 8)
    clon, clat = rng.uniform(121.43, 121.52, 4), rng.uniform(31.20, 31.26, 4)
    cost = pl.cost_matrix(net, dlon, dlat, clon, clat)
    for j in range(4):
        for i in range(8):
            try:
                t = routing.route(net, (clon[j], clat[j]), (dlon[i], dlat[i])).travel_time_s
            except routing.NoRoute:
                t = INF
            assert cost[i, j] == pytest.approx(t, rel=1e-9), (i, j)
    # direction: base → demand, not demand → base
    back = routing.route(net, (dlon[0], dlat[0]), (clon[0], clat[0])).travel_time_s
    assert back != pytest.approx(cost[0, 0], rel=1e-6)
    limited = pl.cost_matrix(net, dlon, dlat, clon, clat, limit_s=600)
    np.testing.assert_array_equal(limited, np.where(cost <= 600, cost, INF))


def test_cost_matrix_marks_off_network_points_unreachable(net):
    cost = pl.cost_matrix(net, [121.47, 121.0], [31.23, 31.0], [121.48, 122.5], [31.22, 31.5])
    assert np.isfinite(cost[0, 0])
    assert np.isinf(cost[1]).all() and np.isinf(cost[:, 1]).all()


def test_cost_matrix_with_a_closure_is_never_faster(net):
    rng = np.random.default_rng(5)
    dlon, dlat = rng.uniform(121.45, 121.50, 20), rng.uniform(31.21, 31.25, 20)
    clon, clat = np.array([121.4737]), np.array([31.2304])
    closure = shapely.Point(121.4737, 31.2304).buffer(0.004).exterior.buffer(0.0003)  # a ring road-block around the base
    blocked = routing.blocked_edges(net, [closure])
    open_ = pl.cost_matrix(net, dlon, dlat, clon, clat)
    closed = pl.cost_matrix(net, dlon, dlat, clon, clat, blocked=blocked)
    assert (closed >= open_ - 1e-9).all()
    assert (closed > open_ + 1).any()


# spopt 0.7 builds its models with PuLP calls that PuLP 3.3 marks for its 4.0 API.
spopt_mark = pytest.mark.filterwarnings("ignore:.*PuLP 4.0:DeprecationWarning")


def _spopt():
    pulp = pytest.importorskip("pulp")
    locate = pytest.importorskip("spopt.locate")
    return pulp, locate


@spopt_mark
def test_mclp_equals_spopt_on_road_times(road_case):
    pulp, locate = _spopt()
    cost, w = road_case
    for p, existing in ((5, None), (8, None), (4, [3, 17])):
        ours = pl.mclp(cost, w, p=p, service_s=300, existing=existing)
        pre = None if existing is None else np.isin(np.arange(cost.shape[1]), existing).astype(int)
        theirs = locate.MCLP.from_cost_matrix(cost, w, service_radius=300, p_facilities=p + len(existing or []), predefined_facilities_arr=pre)
        theirs.solve(pulp.PULP_CBC_CMD(msg=False))
        assert ours.status == "optimal"
        assert ours.objective == pytest.approx(theirs.problem.objective.value(), rel=1e-6)
        assert set(existing or []) <= set(ours.open_sites.tolist())
        assert 0 < ours.objective < w.sum()  # a real trade-off, not everything covered


@spopt_mark
def test_lscp_equals_spopt_on_road_times(road_case):
    pulp, locate = _spopt()
    cost, w = road_case
    ours = pl.lscp(cost, service_s=300)
    assert len(ours.uncoverable) > 0  # some points are more than 5 min from every candidate
    ok = np.setdiff1d(np.arange(len(w)), ours.uncoverable)
    theirs = locate.LSCP.from_cost_matrix(cost[ok], service_radius=300)
    theirs.solve(pulp.PULP_CBC_CMD(msg=False))
    assert ours.objective == pytest.approx(theirs.problem.objective.value())
    assert ours.covered[ok].all()


@spopt_mark
def test_pmedian_equals_spopt_on_road_times(road_case):
    pulp, locate = _spopt()
    cost, w = road_case
    ours = pl.pmedian(cost, w, p=5)
    theirs = locate.PMedian.from_cost_matrix(cost, w, p_facilities=5)
    theirs.solve(pulp.PULP_CBC_CMD(msg=False))
    assert ours.objective == pytest.approx(theirs.problem.objective.value(), rel=1e-6)
    assert ours.objective == pytest.approx((w * cost[np.arange(len(w)), ours.assignment]).sum(), rel=1e-12)


@spopt_mark
def test_capacitated_pmedian_equals_spopt_on_road_times(road_case):
    pulp, locate = _spopt()
    cost, w = road_case
    cost, w = cost[:80, :12], w[:80]
    cap = np.full(12, w.sum() / 3.5)  # four sites are needed and they bind
    ours = pl.pmedian(cost, w, p=4, capacity=cap)
    theirs = locate.PMedian.from_cost_matrix(cost, w, p_facilities=4, facility_capacities=cap)
    theirs.solve(pulp.PULP_CBC_CMD(msg=False))
    assert ours.objective == pytest.approx(theirs.problem.objective.value(), rel=1e-6)
    assert (ours.load <= cap + 1e-6).all()
    assert ours.objective > pl.pmedian(cost, w, p=4).objective  # the capacities cost something


# --------------------------------------------------------------------------- status quo, beyond the limit, no road


def test_beyond_the_limit_is_not_no_road():
    cost = np.vstack([COST, [INF, INF, INF]])
    c = pl.coverage_of(cost, np.append(W, 2.0), [0], SERVICE_S).indicators()
    assert c["covered_weight"] == 11.0  # d0, d1 within 10 s of site 0
    assert c["beyond_weight"] == 12.0  # d2 (30 s) and d3 (40 s): a road, but late
    assert c["unreachable_weight"] == 2.0  # only the last has no road


def test_status_quo_is_the_same_whatever_the_matrix_limit(net, road_case):
    """MCLP/LSCP use a matrix cut at the limit, p-median an uncut one: with the unlimited search the
    status quo is identical (it used to call everything beyond the limit 'no road' under MCLP only)."""
    from geo import coverage as gc

    _, label = connected_components(net.csr(), directed=True, connection="strong")
    rng = np.random.default_rng(21)
    big = np.flatnonzero(label == np.bincount(label).argmax())
    dn, cn = rng.choice(big, 200, replace=False), rng.choice(big, 6, replace=False)
    dlon, dlat, clon, clat = net.node_lon[dn], net.node_lat[dn], net.node_lon[cn], net.node_lat[cn]
    limit = 240.0
    cut = pl.cost_matrix(net, dlon, dlat, clon, clat, limit_s=limit)
    full = pl.cost_matrix(net, dlon, dlat, clon, clat)
    existing = [1, 4]
    search = gc.times_from_sites(net, clon[existing], clat[existing], gc.snap_points(net, dlon, dlat))
    w = rng.integers(1, 9, 200).astype(float)
    a = pl.coverage_of(cut, w, existing, limit, search_s=search).indicators()
    b = pl.coverage_of(full, w, existing, limit, search_s=search).indicators()
    assert a == pytest.approx(b, rel=1e-9)
    assert a["beyond_weight"] > 0
    # the unlimited search agrees with the uncut matrix wherever the matrix reaches
    nearest = full[:, existing].min(axis=1)
    fin = np.isfinite(nearest)
    np.testing.assert_allclose(search[fin], nearest[fin], rtol=1e-9)
    old = pl.coverage_of(cut, w, existing, limit).indicators()  # without the search: beyond counted as no road
    assert old["unreachable_weight"] == pytest.approx(a["unreachable_weight"] + a["beyond_weight"])


def test_pmedian_with_existing_sites_equals_enumeration(road_case):
    """The pairs farther than the nearest existing site are left out of the p-median; check by brute force."""
    import itertools

    cost, w = road_case
    cost, w = cost[:120, :16], w[:120]
    existing = [2, 9]
    free = [j for j in range(16) if j not in existing]
    best = min((w * cost[:, list(c) + existing].min(axis=1)).sum() for c in itertools.combinations(free, 2))
    r = pl.pmedian(cost, w, p=2, existing=existing)
    assert r.status == "optimal"
    assert r.objective == pytest.approx(best, rel=1e-9)
    assert r.load.sum() == pytest.approx(w.sum())
