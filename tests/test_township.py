"""Township indicators recomputed by hand on the real OSM street polygons of Shanghai.

- `read_townships` picks the name, code and county columns of the shared file, converts
  GCJ-02 / BD-09 back to WGS84 (vertices within a metre of the originals), repairs invalid
  polygons, reports what it drops, and refuses a points-only file, a file without names and
  coordinates that are not lon/lat (small files written in tmp_path).
- Teams per township: an independent point-in-polygon loop (`shapely.contains_xy`, then the
  boundary for points on no interior, first township in table order) over points placed
  inside townships, on no township, in the hole of 三林镇 (filled by 东明路街道) and on a
  vertex two townships share.
- Coverage per township: times from the sites to every demand point recomputed with networkx
  Dijkstra over the network's exported edges and the snapping rule of the routing oracle
  (`tests.test_routing_oracle.Oracle`: its own geometry, brute force over every edge),
  aggregated by hand into each township's points, covered area and share.
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

from geo import crs as gcrs
from geo import network as gn
from geo.coverage import EQUAL_AREA_CRS
from geo.township import (
    DEFAULT_TEAM_KINDS,
    TownshipError,
    gaps,
    read_townships,
    township_demand,
    township_indicators,
    township_of,
    township_table,
)
from tests.conftest import shared_file
from tests.test_routing_oracle import Oracle, _cli, hav_m

STREETS = "admin/shanghai_streets_osm.geojson"
OSM = "osm/shanghai_center.osm"
#: Townships of the coverage oracle: partly covered, fully covered, reached late, cut off, off the extract.
ORACLE_TOWNSHIPS = ("老西门街道", "豫园街道", "淮海中路街道", "江苏路街道", "北新泾街道", "南京东路街道")
THRESHOLD_S = 300.0
SPACING_M = 250.0
#: Where the sites are: the network nodes nearest to these positions.
SITES_NEAR = ((121.47, 31.23), (121.52, 31.22))


@pytest.fixture(scope="module")
def streets_path():
    return shared_file(STREETS)


@pytest.fixture(scope="module")
def raw(streets_path) -> gpd.GeoDataFrame:
    return gpd.read_file(streets_path)


@pytest.fixture(scope="module")
def townships(streets_path) -> gpd.GeoDataFrame:
    return read_townships(streets_path)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(engine network, oracle on its exported edges, snap limit m)."""
    osm = shared_file(OSM)
    tmp = tmp_path_factory.mktemp("township")
    folder = gn.save(gn.build_from_graph(gn.read_osm(osm), name="sh-center", source=osm.name), tmp / "sh-center")
    gpkg = tmp / "edges.gpkg"
    exported = _cli("network", "--network", str(folder), "--out", str(gpkg))
    assert exported.returncode == 0, exported.stderr
    net = gn.load(folder)
    return net, Oracle(gpd.read_file(gpkg, layer="edges")), float(net.meta["snap_limit_m"])


def _write(tmp_path, name: str, features: list[dict], **extra) -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", **extra, "features": features}, ensure_ascii=False), encoding="utf-8")
    return str(path)


def _square(x0: float, y0: float, d: float = 0.01) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + d, y0], [x0 + d, y0 + d], [x0, y0 + d], [x0, y0]]]}


# --------------------------------------------------------------------------- reading


def test_the_shared_file_gives_its_codes_names_and_districts(townships, raw):
    assert len(townships) == len(raw) == 113
    assert townships.crs.to_epsg() == 4326
    assert townships.attrs["columns"] == {"name": "osm_name", "code": "official_control_code_2023", "parent": "district"}
    assert townships["code"].tolist() == raw["official_control_code_2023"].astype(str).tolist()
    assert townships["name"].tolist() == raw["osm_name"].tolist()
    assert townships["county"].tolist() == raw["district"].tolist()
    assert townships["county_code"].tolist() == [c[:6] for c in raw["official_control_code_2023"].astype(str)]
    assert set(townships["county_code"]) == {"310101", "310104", "310105", "310106", "310107", "310109", "310110", "310115"}
    assert all(a.equals(b) for a, b in zip(townships.geometry, raw.geometry, strict=True))
    utm_km2 = raw.geometry.to_crs(32651).area.to_numpy() / 1e6  # another projection than the module's
    assert np.allclose(townships["area_km2"], utm_km2, rtol=5e-3)
    assert townships.attrs["dropped"] == [] and townships.attrs["repaired"] == [] and townships.attrs["generated_codes"] == 0


def test_named_columns_are_used_and_a_missing_one_is_refused(streets_path, raw, tmp_path):
    official = read_townships(streets_path, name="official_control_name_2023")
    assert official["name"].tolist() == raw["official_control_name_2023"].tolist()
    with pytest.raises(TownshipError, match="'nope' is not in the layer") as exc:
        read_townships(streets_path, code="nope")
    assert exc.value.code == "no_column" and exc.value.params["role"] == "code"
    # A GeoPackage with Chinese headers, and a GeoDataFrame, read the same
    sub = raw.iloc[:5][["official_control_code_2023", "osm_name", "district", "geometry"]]
    sub = sub.rename(columns={"official_control_code_2023": "行政区划代码", "osm_name": "乡镇（街道）名称", "district": "所属区县"})
    sub.to_file(tmp_path / "t.gpkg", layer="towns", driver="GPKG")
    for source in (tmp_path / "t.gpkg", sub):
        got = read_townships(source)
        assert got.attrs["columns"] == {"name": "乡镇（街道）名称", "code": "行政区划代码", "parent": "所属区县"}
        assert got["name"].tolist() == raw["osm_name"].iloc[:5].tolist()
        assert got["code"].tolist() == raw["official_control_code_2023"].iloc[:5].astype(str).tolist()


def test_a_zipped_shapefile_with_gis_headers_and_numeric_codes_reads_the_codes_as_digits(raw, tmp_path):
    import zipfile

    sub = raw.iloc[:4][["osm_name", "district", "geometry"]].rename(columns={"osm_name": "XZQMC"})
    sub["XZQDM"] = raw["official_control_code_2023"].iloc[:4].astype(float).to_numpy()  # a .dbf number column
    sub.to_file(tmp_path / "towns.shp", encoding="gbk")
    with zipfile.ZipFile(tmp_path / "towns.zip", "w") as zf:
        for part in tmp_path.glob("towns.*"):
            if part.suffix != ".zip":
                zf.write(part, part.name)
    got = read_townships((tmp_path / "towns.zip").read_bytes())
    assert got.attrs["columns"] == {"name": "XZQMC", "code": "XZQDM", "parent": "district"}
    assert got["code"].tolist() == raw["official_control_code_2023"].iloc[:4].astype(str).tolist()
    assert got["name"].tolist() == raw["osm_name"].iloc[:4].tolist() and got["county_code"].tolist() == ["310101"] * 4


def test_a_points_only_file_is_refused(tmp_path):
    pts = [{"type": "Feature", "properties": {"name": f"P{i}"}, "geometry": {"type": "Point", "coordinates": [121.4 + i / 100, 31.2]}} for i in range(3)]
    with pytest.raises(TownshipError, match="no township polygons") as exc:
        read_townships(_write(tmp_path, "points.geojson", pts))
    assert exc.value.code == "no_polygons" and exc.value.params["found"] == ["Point"]
    with pytest.raises(TownshipError) as exc:
        read_townships(pd.DataFrame({"name": ["a"]}))
    assert exc.value.code == "no_polygons"


def test_a_file_without_names_is_refused(tmp_path):
    feats = [{"type": "Feature", "properties": {"code": f"31010100{i}000", "area": 2.0}, "geometry": _square(121.4 + i / 50, 31.2)} for i in range(3)]
    with pytest.raises(TownshipError, match="no column of township names") as exc:
        read_townships(_write(tmp_path, "nameless.geojson", feats))
    assert exc.value.code == "no_name" and set(exc.value.params["available"]) == {"code", "area"}
    blank = [{"type": "Feature", "properties": {"name": "  "}, "geometry": _square(121.4, 31.2)}]
    with pytest.raises(TownshipError, match="blank name") as exc:
        read_townships(_write(tmp_path, "blank.geojson", blank))
    assert exc.value.code == "no_name"


def test_an_unreadable_file_is_refused(tmp_path):
    with pytest.raises(TownshipError) as exc:
        read_townships(b"this is not a vector file")
    assert exc.value.code == "unreadable"


def test_coordinates_that_are_not_lonlat_are_refused_and_a_stated_projection_is_converted(raw):
    sub = raw.iloc[:3][["osm_name", "geometry"]]
    metres = gpd.GeoDataFrame(sub[["osm_name"]], geometry=np.asarray(sub.geometry.to_crs(32651).values, dtype=object), crs=None)
    with pytest.raises(TownshipError, match="not longitude/latitude") as exc:
        read_townships(metres)
    assert exc.value.code == "not_lonlat" and not exc.value.params["lat_first"]
    swapped = gpd.GeoDataFrame(sub[["osm_name"]], geometry=shapely.transform(np.asarray(sub.geometry.values, dtype=object), lambda c: c[:, ::-1]), crs=None)
    with pytest.raises(TownshipError, match="latitude before longitude") as exc:
        read_townships(swapped)
    assert exc.value.params["lat_first"]
    # no CRS but lon/lat: taken as lon/lat, and said so
    assumed = read_townships(gpd.GeoDataFrame(sub[["osm_name"]], geometry=np.asarray(sub.geometry.values, dtype=object), crs=None))
    assert assumed.attrs["crs_assumed"] and assumed.geometry.iloc[0].equals(sub.geometry.iloc[0])
    # a stated projected CRS is converted back
    projected = read_townships(gpd.GeoDataFrame(sub[["osm_name"]], geometry=sub.geometry.to_crs(32651).values, crs=32651))
    back = shapely.get_coordinates(projected.geometry.values)
    want = shapely.get_coordinates(sub.geometry.values)
    assert hav_m(back[:, 0], back[:, 1], want[:, 0], want[:, 1]).max() < 0.01
    with pytest.raises(TownshipError, match="lon/lat|longitude/latitude only") as exc:
        read_townships(gpd.GeoDataFrame(sub[["osm_name"]], geometry=sub.geometry.to_crs(32651).values, crs=32651), crs="gcj02")
    assert exc.value.code == "crs_conflict"
    with pytest.raises(ValueError, match="`crs` was 'utm'"):
        read_townships(sub, crs="utm")


@pytest.mark.parametrize(("crs", "forward"), [("gcj02", gcrs.wgs84_to_gcj02), ("bd09", gcrs.wgs84_to_bd09)])
def test_gcj02_and_bd09_input_is_shifted_back_to_wgs84(raw, tmp_path, crs, forward):
    sub = raw.iloc[[0, 20, 60, 99, 112]][["official_control_code_2023", "osm_name", "district", "geometry"]]
    shifted = sub.set_geometry(gcrs.transform_geometry(sub.geometry.values, forward))
    path = tmp_path / f"{crs}.geojson"
    shifted.to_file(path, driver="GeoJSON")
    want = shapely.get_coordinates(sub.geometry.values)
    got = shapely.get_coordinates(read_townships(path, crs=crs).geometry.values)
    assert got.shape == want.shape
    assert hav_m(got[:, 0], got[:, 1], want[:, 0], want[:, 1]).max() < 1.0  # within a metre (in fact, millimetres)
    unshifted = shapely.get_coordinates(read_townships(path).geometry.values)
    assert hav_m(unshifted[:, 0], unshifted[:, 1], want[:, 0], want[:, 1]).min() > 100  # the shift is real: hundreds of metres


def test_bad_rows_are_dropped_and_reported_invalid_ones_repaired_and_codes_generated_stably(tmp_path):
    bowtie = {"type": "Polygon", "coordinates": [[[121.40, 31.20], [121.42, 31.22], [121.42, 31.20], [121.40, 31.22], [121.40, 31.20]]]}
    line = {"type": "LineString", "coordinates": [[121.4, 31.2], [121.5, 31.3]]}
    feats = [
        {"type": "Feature", "properties": {"名称": "甲街道", "区县": "黄浦区"}, "geometry": bowtie},
        {"type": "Feature", "properties": {"名称": "乙街道", "区县": "黄浦区"}, "geometry": line},
        {"type": "Feature", "properties": {"名称": "丙街道", "区县": "黄浦区"}, "geometry": None},
        {"type": "Feature", "properties": {"名称": "", "区县": "黄浦区"}, "geometry": _square(121.45, 31.2)},
        {"type": "Feature", "properties": {"名称": "丁镇", "区县": "310115"}, "geometry": _square(121.5, 31.2)},
    ]
    path = _write(tmp_path, "mixed.geojson", feats)
    got = read_townships(path)
    assert got["name"].tolist() == ["甲街道", "丁镇"]
    assert got.attrs["dropped"] == [
        {"row": 2, "reason": "not_polygon", "type": "LineString"}, {"row": 3, "reason": "no_geometry", "type": ""}, {"row": 4, "reason": "no_name", "type": ""},
    ]  # fmt: skip
    assert got.attrs["repaired"] == [1]
    assert got.geometry.is_valid.all()
    assert got.geometry.iloc[0].area == pytest.approx(2 * 0.5 * 0.02 * 0.01)  # the bow-tie's two triangles
    assert got["county"].tolist() == ["黄浦区", ""] and got["county_code"].tolist() == ["", "310115"]
    assert got.attrs["generated_codes"] == 2 and all(c.startswith("TS-") for c in got["code"]) and got["code"].is_unique
    assert read_townships(path)["code"].tolist() == got["code"].tolist()  # the same on every reading


def test_features_sharing_a_code_merge_unless_their_names_differ(tmp_path):
    same = [{"type": "Feature", "properties": {"name": "崇明岛镇", "code": "310151100000"}, "geometry": _square(121.4 + i / 10, 31.6)} for i in range(2)]
    got = read_townships(_write(tmp_path, "parts.geojson", same))
    assert len(got) == 1 and got.attrs["merged"] == ["310151100000"]
    assert got.geometry.iloc[0].area == pytest.approx(2 * 0.01 * 0.01)
    assert got["county_code"].tolist() == ["310151"]
    other = [same[0], {**same[1], "properties": {"name": "别的镇", "code": "310151100000"}}]
    with pytest.raises(TownshipError, match="different names") as exc:
        read_townships(_write(tmp_path, "clash.geojson", other))
    assert exc.value.code == "duplicate_code" and exc.value.params["names"] == ["别的镇", "崇明岛镇"]


# --------------------------------------------------------------------------- points and teams


def _by_loop(lon, lat, polygons, codes) -> list[str]:
    """The oracle: each point's township by a loop over every polygon (interior first, then boundary; first in order)."""
    out = []
    for x, y in zip(lon, lat, strict=True):
        hit = [c for g, c in zip(polygons, codes, strict=True) if shapely.contains_xy(g, x, y)]
        hit = hit or [c for g, c in zip(polygons, codes, strict=True) if shapely.intersects_xy(g, x, y)]
        out.append(hit[0] if hit else "")
    return out


def _placed_points(townships) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Points inside 12 townships (two in some), one on no township, one in 三林镇's hole, one on a shared vertex."""
    geoms = townships.geometry.values
    idx = list(range(0, 113, 10)) + [5, 5, 40]
    pts = [shapely.get_coordinates(shapely.point_on_surface(geoms[i]))[0] for i in idx]
    far = len(pts)
    pts.append(np.array([120.5, 30.2]))  # in Zhejiang: no township of the file
    hole = len(pts)
    sanlin = int(np.flatnonzero(townships["name"] == "三林镇")[0])
    ring = next(r for p in shapely.get_parts(geoms[sanlin]) for r in p.interiors)
    pts.append(shapely.get_coordinates(shapely.point_on_surface(shapely.Polygon(ring)))[0])
    vertex = len(pts)
    a, b = (int(np.flatnonzero(townships["name"] == n)[0]) for n in ("半淞园路街道", "小东门街道"))
    shared = next(c for c in shapely.get_coordinates(geoms[a]) if shapely.intersects_xy(geoms[b], *c))
    pts.append(shared)
    xy = np.array(pts)
    return xy[:, 0], xy[:, 1], {"far": far, "hole": hole, "vertex": vertex, "sanlin": sanlin, "a": a, "b": b}


def test_township_of_equals_a_point_in_polygon_loop(townships):
    lon, lat, at = _placed_points(townships)
    codes = townships["code"].to_numpy()
    got = township_of(lon, lat, townships)
    want = _by_loop(lon, lat, townships.geometry.values, codes)
    assert got.tolist() == want
    assert got[at["far"]] == ""
    dongming = codes[townships["name"] == "东明路街道"][0]
    assert got[at["hole"]] == dongming != codes[at["sanlin"]]  # the hole of 三林镇 is 东明路街道
    assert got[at["vertex"]] == codes[min(at["a"], at["b"])]  # on the border of two: the first in table order
    assert not shapely.contains_xy(townships.geometry.values[at["a"]], lon[at["vertex"]], lat[at["vertex"]])  # really on the boundary
    # without the township that fills it, the hole belongs to no township
    rest = townships[townships["name"] != "东明路街道"]
    assert township_of(lon[[at["hole"]]], lat[[at["hole"]]], rest).tolist() == [""]
    # the table order decides on a border
    flipped = townships.iloc[[at["b"], at["a"]]]
    assert township_of(lon[[at["vertex"]]], lat[[at["vertex"]]], flipped).tolist() == [codes[at["b"]]]


def test_teams_per_township_equal_a_count_by_hand(townships):
    lon, lat, _ = _placed_points(townships)
    kinds = np.array(["professional", "township", "fire", "social"] * 5)[: len(lon)]
    teams = pd.DataFrame({"lon": lon, "lat": lat, "kind": kinds, "name": [f"team {i}" for i in range(len(lon))]})
    where = _by_loop(lon, lat, townships.geometry.values, townships["code"].to_numpy())
    demand = township_demand(townships).points
    for chosen in (DEFAULT_TEAM_KINDS, ("fire",)):
        want = pd.Series([w for w, k in zip(where, kinds, strict=True) if w and k in chosen]).value_counts()
        table = township_table(townships, teams, demand, np.zeros(len(demand)), kinds=chosen)
        assert table["code"].tolist() == townships["code"].tolist()
        assert table["teams"].tolist() == [int(want.get(c, 0)) for c in townships["code"]]
        assert (table["teams_ok"] == (table["teams"] >= 1)).all()
        assert table["teams"].sum() == sum(1 for w, k in zip(where, kinds, strict=True) if w and k in chosen) > 0
    with pytest.raises(ValueError, match="lacks the columns"):
        township_table(townships, teams.drop(columns="kind"), demand, np.zeros(len(demand)))


def test_every_township_gets_honest_demand_points(townships):
    demand = township_demand(townships, spacing_m=2000.0)  # coarser than many townships: each still gets points
    pts = demand.points
    per = pts.groupby("township_code")["weight"].sum()
    area = townships.set_index("code").geometry.to_crs(EQUAL_AREA_CRS).area / 1e6
    assert set(per.index) == set(townships["code"])
    assert np.allclose(per.reindex(area.index).to_numpy(), area.to_numpy(), rtol=1e-9)
    polygons = dict(zip(townships["code"], townships.geometry.values, strict=True))
    assert all(shapely.covers(polygons[c], p) for c, p in zip(pts["township_code"], pts.geometry, strict=True))
    small = townships.loc[townships["area_km2"].idxmin(), "code"]
    assert (pts["township_code"] == small).sum() >= 1 and townships["area_km2"].min() < 4.0  # smaller than one 2 km cell


# --------------------------------------------------------------------------- coverage by road


def _oracle_times(oracle: Oracle, sites: list, lon, lat, limit_m: float) -> np.ndarray:
    """networkx Dijkstra from a super-source joined to every site's ways onto the network, then each point's ways in."""
    G = oracle.G
    G.add_node("S")
    for s in sites:
        for node, c in oracle.exits(s):
            if not G.has_edge("S", node) or G["S"][node]["weight"] > c:
                G.add_edge("S", node, weight=c)
    try:
        dist = nx.single_source_dijkstra_path_length(G, "S")
    finally:
        G.remove_node("S")
    # Placing a point looks at every edge: only those that can be within the snap limit of a point are kept
    # (the same rows, so the same candidates; their ends are nodes of the whole graph searched above).
    margin = 2 * limit_m / 111_000 + 0.005
    area = shapely.box(min(lon) - margin, min(lat) - margin, max(lon) + margin, max(lat) + margin)
    near = Oracle(oracle.edges[oracle.edges.intersects(area)].reset_index(drop=True))
    out = np.full(len(lon), math.inf)
    for i, (x, y) in enumerate(zip(lon, lat, strict=True)):
        if near.distances(x, y).min() > limit_m:
            continue  # off the network
        q = near.place(float(x), float(y), "demand")
        out[i] = min((dist.get(u, math.inf) + c for u, c in near.entries(q)), default=math.inf)
    return out


def _sites(oracle: Oracle) -> list:
    ends = np.concatenate([np.array([c[0] for c in oracle.coords]), np.array([c[-1] for c in oracle.coords])])
    sites = []
    for x, y in SITES_NEAR:
        k = int(np.argmin(hav_m(x, y, ends[:, 0], ends[:, 1])))
        p = oracle.place(float(ends[k, 0]), float(ends[k, 1]), "site")
        assert p.node is not None  # a site at a node: no part-way edge to share with a demand point
        sites.append(p)
    return sites


def test_coverage_per_township_equals_dijkstra_over_the_exported_edges(townships, world):
    net, oracle, limit_m = world
    sub = townships[townships["name"].isin(ORACLE_TOWNSHIPS)].reset_index(drop=True)
    assert len(sub) == len(ORACLE_TOWNSHIPS)
    sites = _sites(oracle)
    s_lon, s_lat = [s.lon for s in sites], [s.lat for s in sites]
    team_in = {"淮海中路街道": "professional", "南京东路街道": "township", "豫园街道": "fire"}  # a fire team does not count
    at = sub.set_index("name").geometry.loc[list(team_in)].representative_point()
    teams = pd.DataFrame({"lon": at.x.to_numpy(), "lat": at.y.to_numpy(), "kind": list(team_in.values()), "name": list(team_in)})
    table = township_indicators(sub, teams, net=net, sites_lon=s_lon, sites_lat=s_lat, threshold_s=THRESHOLD_S, spacing_m=SPACING_M)

    pts = township_demand(sub, spacing_m=SPACING_M).points
    t = _oracle_times(oracle, sites, pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy(), limit_m)
    assert not (np.abs(t - THRESHOLD_S) < 1e-3).any()  # nothing on the edge of the threshold: the comparison is sharp
    w = pts["weight"].to_numpy()
    rows = []
    for code in sub["code"]:
        m = (pts["township_code"] == code).to_numpy()
        cov = m & (t <= THRESHOLD_S)
        rows.append({"code": code, "points": int(m.sum()), "covered": int(cov.sum()), "no_road": int((m & np.isinf(t)).sum()),
                     "beyond": int((m & np.isfinite(t) & (t > THRESHOLD_S)).sum()), "area_km2": w[m].sum(), "covered_km2": w[cov].sum()})  # fmt: skip
    want = pd.DataFrame(rows)
    want["coverage_share"] = want["covered_km2"] / want["area_km2"]
    got = table.set_index("code").loc[want["code"]]
    for col in ("points", "covered", "beyond", "no_road"):
        assert got[col].tolist() == want[col].tolist(), col
    for col in ("area_km2", "covered_km2", "coverage_share"):
        assert np.allclose(got[col].to_numpy(dtype=float), want[col].to_numpy(dtype=float), rtol=1e-9, atol=1e-12), col
    assert got["coverage_ok"].tolist() == (want["covered"] == want["points"]).tolist()
    # the subset spans every case: fully covered, partly, mostly reached late, and no road at all
    assert (want["covered"] == want["points"]).any() and ((want["covered"] > 0) & (want["covered"] < want["points"])).any()
    assert (want["beyond"] > want["points"] / 2).any() and (want["no_road"] == want["points"]).any()

    # gaps: exactly the townships without a professional team or not fully covered, with the reasons
    teams_by_hand = [int(team_in.get(n) in DEFAULT_TEAM_KINDS) for n in sub["name"]]
    listed = gaps(table)
    expect = {}
    for (code, row), n in zip(want.set_index("code").iterrows(), teams_by_hand, strict=True):
        reasons = tuple(r for r, bad in (("no_team", n < 1), ("not_covered", row["covered"] < row["points"])) if bad)
        if reasons:
            expect[code] = reasons
    assert table["teams"].tolist() == teams_by_hand
    assert dict(zip(listed["code"], listed["reasons"], strict=True)) == expect
    gap_rows = want.set_index("code").loc[listed["code"]]
    assert np.allclose(listed["uncovered_km2"], gap_rows["area_km2"] - gap_rows["covered_km2"])
    assert set(listed["code"]) != set(sub["code"])  # someone passes


def test_a_longer_threshold_covers_at_least_as_much(townships, world):
    net, oracle, _ = world
    sub = townships[townships["name"].isin(ORACLE_TOWNSHIPS)].reset_index(drop=True)
    sites = _sites(oracle)
    none = pd.DataFrame({"lon": [], "lat": [], "kind": [], "name": []})
    short, hour = (township_indicators(sub, none, net=net, sites_lon=[s.lon for s in sites], sites_lat=[s.lat for s in sites], threshold_s=th, spacing_m=SPACING_M)
                   for th in (THRESHOLD_S, 3600.0))  # fmt: skip
    assert (hour["covered"] >= short["covered"]).all() and (hour["covered"] + hour["no_road"] == hour["points"]).all()
    assert not hour["teams_ok"].any() and set(gaps(hour)["code"]) == set(sub["code"])
