"""The store's failure modes: missing, corrupt, incomplete datasets give a rebuild message."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from data.dataset.store import DatasetError, Store, connect
from tests.conftest import ROOT


def test_missing_dataset_says_make_data(tmp_path):
    with pytest.raises(DatasetError, match="make data"):
        Store(tmp_path / "nope.duckdb")


def test_corrupt_dataset_says_make_data(tmp_path):
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"this is not a duckdb file" * 100)
    with pytest.raises(DatasetError, match="make data"):
        Store(bad)


def test_incomplete_dataset_says_make_data(tmp_path):
    path = tmp_path / "partial.duckdb"
    con = connect(path, read_only=False)
    con.execute("CREATE TABLE meta AS SELECT 1 AS schema_version")
    con.close()
    with pytest.raises(DatasetError, match=r"lacks tables .*make data"):
        Store(path)


def test_spatial_extension_is_loaded_offline(store):
    con = connect(":memory:")
    assert con.execute("SELECT ST_Area(ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 1,0 0))'))").fetchone()[0] == 1.0
    assert duckdb.__version__ == "1.5.5"


def test_store_rejects_unknown_names(store):
    with pytest.raises(ValueError, match="`name` was 'secrets'"):
        store.layer("secrets")
    with pytest.raises(ValueError, match="`level` was 'town'"):
        store.jurisdictions("town")


def test_geometry_round_trips_through_duckdb(store):
    teams = store.layer("teams")
    assert teams.crs.to_epsg() == 4326
    assert (teams.geometry.x == teams["lon"]).all() and (teams.geometry.y == teams["lat"]).all()


def test_build_cli_reports_bad_row_and_keeps_the_existing_dataset(tmp_path, dataset):
    import shutil

    samples = tmp_path / "samples"
    shutil.copytree(ROOT / "data" / "samples", samples)
    lines = (samples / "teams.csv").read_text(encoding="utf-8").splitlines()
    cells = lines[3].split(",")
    cells[5] = "999999"
    lines[3] = ",".join(cells)
    (samples / "teams.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "yrd.duckdb"
    shutil.copy(dataset, out)
    before = out.read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "data", "build", "--out", str(out), "--samples", str(samples)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 1
    assert "teams.csv" in proc.stderr and "row 4" in proc.stderr and "999999" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.read_bytes() == before


def test_built_at_is_beijing_time_to_the_second(store, dataset):
    """The data-sources tab showed the build time in UTC with microseconds."""
    from datetime import datetime, timedelta

    when = store.built_at()
    assert when.utcoffset() == timedelta(hours=8)
    assert when.microsecond == 0
    built = datetime.fromtimestamp(dataset.stat().st_mtime).astimezone(when.tzinfo)
    assert abs((built - when).total_seconds()) < 120


def test_situation_page_shows_build_time_in_beijing_time(open_app):
    import re

    at = open_app()
    captions = [c.value for c in at.caption if c.value.startswith("数据集构建时间")]
    assert len(captions) == 1
    assert re.fullmatch(r"数据集构建时间：\d{4}-\d\d-\d\d \d\d:\d\d（北京时间）", captions[0]), captions[0]
