"""The embedded dataset built from the real sources: counts, geometry, positions, provenance."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from data.dataset.build import CountyLocator
from data.schema import POINT_LAYERS
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def full(store):
    return store.jurisdictions(detail="full")


@pytest.fixture(scope="module")
def locator(full):
    return CountyLocator(full)


def test_counts_4_41_305(full):
    assert full["level"].value_counts().to_dict() == {"county": 305, "city": 41, "province": 4}
    assert set(full.loc[full["level"] == "province", "name"]) == {"上海市", "江苏省", "浙江省", "安徽省"}


def test_parents_are_consistent(full):
    codes = set(full["code"])
    counties = full[full["level"] == "county"]
    assert counties["parent_code"].isin(codes).all()
    assert (full.loc[full["level"] == "city", "parent_code"].str[:2] == full.loc[full["level"] == "city", "code"].str[:2]).all()


def test_peoples_square_is_in_huangpu(locator):
    assert locator.locate([121.4737], [31.2304]).tolist() == ["310101"]
    assert locator.names["310101"] == "黄浦区"


def test_no_invalid_geometry(store, full):
    display = store.jurisdictions(detail="display")
    assert shapely.is_valid(full.geometry.values).all()
    assert shapely.is_valid(display.geometry.values).all()
    assert not full.geometry.is_empty.any() and not display.geometry.is_empty.any()


def test_qingpu_area_within_5_percent_of_670_km2(full):
    area = float(full.loc[full["code"] == "310118", "area_km2"].iloc[0])
    assert abs(area - 670) / 670 < 0.05


def test_display_outlines_keep_shared_borders_shared(store):
    counties = store.jurisdictions("county", detail="display")
    sh = counties[counties["code"].str.startswith("31")].to_crs("EPSG:32651")
    # coverage simplification: neighbours overlap by (almost) nothing
    union_area = shapely.union_all(sh.geometry.values).area
    assert sh.geometry.area.sum() == pytest.approx(union_area, rel=1e-6)


@pytest.mark.parametrize("layer", POINT_LAYERS)
def test_every_operational_record_lies_in_its_stated_county(store, locator, layer):
    gdf = store.layer(layer)
    assert len(gdf) > 0
    found = locator.locate(gdf.geometry.x, gdf.geometry.y)
    wrong = gdf.loc[found != gdf["county_code"].to_numpy(), ["id", "name", "county_code"]]
    assert wrong.empty, wrong.to_string()
    assert (gdf["data_status"] == "示例").all()


def test_places_are_joined_to_the_county_that_contains_them(store, locator):
    places = store.layer("places")
    assert 2000 < len(places) < 3000
    np.testing.assert_array_equal(locator.locate(places.geometry.x, places.geometry.y), places["county_code"].to_numpy())


def test_demonstration_zone_chongming_pinghu_each_have_a_professional_team(store):
    teams = store.layer("teams")
    for code in ("310118", "320509", "330421", "310151", "330482"):
        here = teams[teams["county_code"] == code]
        assert len(here) >= 1, code
        assert (here["kind"] == "professional").any(), code


def test_rescue_base_network_of_the_seeds(store):
    bases = store.layer("bases")
    for city in ("310100", "330200", "330900", "320100", "320300"):  # 上海 宁波 舟山 南京 徐州
        assert (bases["city_code"] == city).any(), city


def test_inventory_and_contacts_refer_to_known_records(store):
    inv = store.table("inventory")
    assert inv["stockpile_id"].isin(store.layer("stockpiles")["id"]).all()
    assert (inv["quantity"] > 0).all()
    contacts = store.table("contacts")
    codes = set(store.jurisdictions(detail="full")["code"])
    assert contacts["jurisdiction_code"].isin(codes).all()
    for layer in POINT_LAYERS:
        assert store.layer(layer)["county_code"].isin(contacts["jurisdiction_code"]).all(), layer


def test_provenance_lists_every_layer_with_source_and_licence(store):
    prov = store.table("provenance").set_index("layer")
    for layer in ("jurisdictions", "places", *POINT_LAYERS, "inventory", "contacts"):
        assert prov.at[layer, "source"] and prov.at[layer, "licence"], layer
    assert bool(prov.at["jurisdictions", "real"]) and bool(prov.at["places", "real"])
    assert not prov.loc[list(POINT_LAYERS), "real"].any()
    assert prov.at["teams", "records"] == len(store.layer("teams"))


@pytest.mark.shared
def test_converted_boundaries_line_up_with_geoboundaries(full):
    """cnmaps ships GCJ-02 (≈ 500 m off in Shanghai); after conversion a district sits on the WGS84 one."""
    import geopandas as gpd

    from geo.crs import transform_geometry, wgs84_to_gcj02

    ref = gpd.read_file(shared_file("admin/shanghai_districts_geoboundaries.geojson"))
    ours = full.set_index("name")
    to_m = "EPSG:32651"
    for name in ("黄浦区", "静安区", "徐汇区"):
        theirs = ref.loc[ref["district"] == name].to_crs(to_m).geometry.iloc[0]
        converted = gpd.GeoSeries([ours.at[name, "geometry"]], crs=4326).to_crs(to_m).iloc[0]
        as_shipped = gpd.GeoSeries([transform_geometry(ours.at[name, "geometry"], wgs84_to_gcj02)], crs=4326).to_crs(to_m).iloc[0]
        d_conv = converted.centroid.distance(theirs.centroid)
        d_ship = as_shipped.centroid.distance(theirs.centroid)
        assert d_conv < 120, (name, d_conv)
        assert d_ship > 3 * d_conv, (name, d_ship, d_conv)


@pytest.mark.parametrize("name", ["approx", "backbone"])
def test_the_built_networks_carry_their_landmark_tables_and_hierarchy(dataset, name):
    """The one-to-one search's landmark tables and contraction hierarchy are made by the build and
    saved with each network, so no user's first route waits for them; reloaded, they are the ones
    `geo.routing.landmarks` / `geo.hierarchy.hierarchy` use."""
    from geo import hierarchy, network, routing

    folder = network.networks_dir(dataset) / name
    assert all((folder / f"{k}.npy").exists() for k in ("alt_landmarks", "alt_from_s", "alt_to_s"))
    net = network.load(folder)
    lm = routing.landmarks(net)
    assert np.shares_memory(lm.from_s, net.arrays["alt_from_s"])  # the saved tables, not rebuilt
    assert lm.from_s.shape == lm.to_s.shape == (net.n_nodes, len(lm.nodes)) and len(lm.nodes) >= 1
    assert all((folder / f"{k}.npy").exists() for k in hierarchy._ARRAYS)
    h = hierarchy.hierarchy(net)
    assert np.shares_memory(h.uf_to, net.arrays["ch_uf_to"]) and len(h.rank) == net.n_nodes
