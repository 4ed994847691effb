"""Bad sample rows stop the build with the file, the row and the reason."""

from __future__ import annotations

import shutil

import pytest

from data.dataset.build import BuildError, CountyLocator, load_samples
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def locator(store):
    return CountyLocator(store.jurisdictions(detail="full"))


@pytest.fixture
def samples(tmp_path):
    folder = tmp_path / "samples"
    shutil.copytree(ROOT / "data" / "samples", folder)
    return folder


def _edit(folder, name, row, **changes):
    """Change cells of spreadsheet row `row` (header = 1) of `name`.csv."""
    path = folder / f"{name}.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[row - 1].split(",")
    for col, value in changes.items():
        cells[header.index(col)] = value
    lines[row - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cells


def _load(folder, locator, store):
    return load_samples(locator, set(store.jurisdictions(detail="full")["code"]), samples_dir=folder)


def test_the_shipped_samples_load(samples, locator, store):
    tables = _load(samples, locator, store)
    assert len(tables["teams"]) > 0


def test_unknown_jurisdiction(samples, locator, store):
    _edit(samples, "shelters", 3, county_code="310199")
    with pytest.raises(BuildError, match=r"shelters\.csv .*row 3.*unknown jurisdiction code .*310199"):
        _load(samples, locator, store)


def test_position_outside_the_four_provinces(samples, locator, store):
    _edit(samples, "hazards", 2, lon="116.397", lat="39.909")  # Beijing
    with pytest.raises(BuildError, match=r"hazards\.csv .*row 2.*outside Shanghai, Jiangsu, Zhejiang and Anhui"):
        _load(samples, locator, store)


def test_swapped_lon_lat(samples, locator, store):
    path = samples / "teams.csv"
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    cells = path.read_text(encoding="utf-8").splitlines()[4].split(",")
    lon, lat = cells[header.index("lon")], cells[header.index("lat")]
    _edit(samples, "teams", 5, lon=lat, lat=lon)
    with pytest.raises(BuildError, match=r"teams\.csv .*row 5.*lon/lat look swapped"):
        _load(samples, locator, store)


def test_point_in_another_county(samples, locator, store):
    _edit(samples, "stockpiles", 2, lon="121.4737", lat="31.2304")  # People's Square, 黄浦区
    with pytest.raises(BuildError, match=r"stockpiles\.csv .*row 2.*lies in 黄浦区 310101, not in the stated"):
        _load(samples, locator, store)


def test_not_a_number(samples, locator, store):
    _edit(samples, "projects", 2, lat="31,2")
    with pytest.raises(BuildError, match=r"projects\.csv .*row 2"):
        _load(samples, locator, store)


def test_unlabelled_sample_row(samples, locator, store):
    _edit(samples, "bases", 2, data_status="真实")
    with pytest.raises(BuildError, match=r"bases\.csv .*row 2.*must say '示例'"):
        _load(samples, locator, store)


def test_wrong_header(samples, locator, store):
    path = samples / "shelters.csv"
    text = path.read_text(encoding="utf-8").replace("capacity_persons", "capacity", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BuildError, match=r"shelters\.csv .*row 1.*columns are"):
        _load(samples, locator, store)


def test_inventory_for_unknown_stockpile(samples, locator, store):
    with (samples / "inventory.csv").open("a", encoding="utf-8") as fh:
        fh.write("S999,帐篷,顶,10\n")
    with pytest.raises(BuildError, match=r"inventory\.csv .*`stockpile_id` 'S999'"):
        _load(samples, locator, store)
