"""Township (乡镇/街道) polygons and the seeds' township indicators: professional teams and 1-hour coverage per township.

The Chongming plan sets two indicators per township: at least one professional emergency
rescue team (乡镇专业应急救援队伍 不少于1支/乡镇) and 1-hour emergency-transport coverage of
100 % (应急运输1小时覆盖率 达到100%).  This module reads township polygons from a user's
layer (`read_townships`), places points in them (`township_of`), and computes both
indicators per township with the gaps listed (`township_indicators`, `gaps`).

Coverage is measured on territory, as `geo.coverage` does for counties: each township gets
its own square grid (`township_demand`; every cell clipped to the township and weighted by
its area in km², so a small township has at least one point), each point is snapped to the
road network and timed from the nearest of the sites (`geo.coverage.times_from_sites`), and
the share of the township's area reached within the threshold is its coverage.  A point of a
township belongs to that township only, even where user polygons overlap.

A point lies in a township when the township's polygon covers it (inside or on its
boundary); a point on the shared boundary of two townships counts in the first of them in
the table's order, so a team is never counted twice nor lost on a border.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import re
import unicodedata

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import coverage as gc
from geo import crs as gcrs
from geo.network import Network

log = logging.getLogger(__name__)

__all__ = [
    "CODE_CANDIDATES",
    "DEFAULT_TEAM_KINDS",
    "GAP_REASONS",
    "NAME_CANDIDATES",
    "PARENT_CANDIDATES",
    "TownshipError",
    "gaps",
    "read_townships",
    "township_demand",
    "township_indicators",
    "township_of",
    "township_table",
]

#: Header names taken as the township's name, best first (compared after `_header`); then a
#: Chinese header holding 乡镇 or 街道, then one holding 名称 but no county word (never a code column).
NAME_CANDIDATES = (
    "name", "osm_name", "名称", "乡镇", "街道", "乡镇名称", "街道名称", "乡镇街道", "乡镇街道名称", "乡镇（街道）名称",
    "official_control_name_2023", "township", "township_name", "town", "street", "name_zh", "name:zh", "xzqmc",
)  # fmt: skip
#: Header names taken as the township's code (e.g. the 12-digit statistical division code).
CODE_CANDIDATES = (
    "official_control_code_2023", "code", "代码", "编码", "区划代码", "行政区划代码", "乡镇代码", "街道代码", "乡镇街道代码",
    "township_code", "towncode", "adcode", "xzqdm",
)  # fmt: skip
#: Header names taken as the county (区县) the township belongs to: its name or 6-digit code.
PARENT_CANDIDATES = (
    "county_code", "district", "county", "区县", "所属区县", "区县名称", "县区", "所属县区", "所属区", "区", "县",
    "district_name", "county_name", "parent", "parent_code",
)  # fmt: skip
#: Team kinds that count towards "≥ 1 professional team per township": the plan's
#: 乡镇专业应急救援队伍 are kept as 'township' teams (乡镇/街道 → township at import) or 'professional' ones.
DEFAULT_TEAM_KINDS = ("professional", "township")
#: Why a township is a gap (`gaps`): code -> English text.
GAP_REASONS = {
    "no_team": "no professional team in the township",
    "not_covered": "not all of the township's area is reached within the threshold",
}
#: Roles of the columns `read_townships` picks, with their candidates.
_CANDIDATES = {"name": NAME_CANDIDATES, "code": CODE_CANDIDATES, "parent": PARENT_CANDIDATES}
#: Code-like words: a header holding one of them is never taken as a name.
_CODE_WORDS = ("代码", "编码", "编号", "code", "id")
#: Words of a county, city or province header: a '名称' column holding one of them is not the township's name.
_PARENT_WORDS = ("区县", "县区", "县", "区", "市", "省")
_PUNCT = re.compile(r"[\s_\-\.:：/\\*()（）\[\]【】]+")


class TownshipError(ValueError):
    """A township layer that cannot be used, with a `code` and `params` for a localized message.

    ``str(exc)`` is an English sentence for logs and the command line (what is wrong and what
    to do); pages show a message chosen by `code`:

    - 'unreadable': ``source`` cannot be read as a vector layer (``detail``);
    - 'no_column': the ``role`` column (name, code or parent) ``column`` asked for is not in
      the layer, which has ``available``;
    - 'no_polygons': no feature has a (multi)polygon geometry; ``found`` lists the geometry
      types there are (``[]`` when none);
    - 'no_name': no column of township names among ``available`` (or every name is blank);
    - 'not_lonlat': the coordinates are not longitude/latitude (the layer states no CRS, or
      they fall outside ±180° × ±90°): ``x``, ``y`` is a corner of the layer's extent, and
      ``lat_first`` says it looks like latitude before longitude;
    - 'crs_conflict': `crs` ``crs`` (GCJ-02 or BD-09, shifts of lon/lat) was given for a layer in
      the projected CRS ``file_crs``;
    - 'duplicate_code': the code ``township_code`` is given to townships of different names ``names``.
    """

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


# ---- reading --------------------------------------------------------------------------------


def _header(text: object) -> str:
    """A header for comparison: NFKC, lower case, without spaces, brackets or punctuation."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", str(text)).lower())


def _pick_column(columns: list[str], role: str, given: str | None) -> str | None:
    """The column of `role` ('name', 'code', 'parent'): `given` if named, else the best candidate."""
    if given is not None:
        if given not in columns:
            msg = f"the {role} column {given!r} is not in the layer; it has {columns}. Pass one of them as `{role}=`."
            raise TownshipError("no_column", msg, role=role, column=given, available=list(columns))
        return given
    headers = {c: _header(c) for c in columns}
    for cand in map(_header, _CANDIDATES[role]):
        found = next((c for c, h in headers.items() if h == cand), None)
        if found is not None:
            return found
    if role == "name":  # '街道办事处名称', '所属乡镇' …, then '单位名称'; never '乡镇代码' nor '区县名称'
        plain = {c: h for c, h in headers.items() if not h.isascii() and not any(w in h for w in _CODE_WORDS)}
        for words, unless in ((("乡镇", "街道"), ()), (("名称",), _PARENT_WORDS)):
            found = next((c for c, h in plain.items() if any(w in h for w in words) and not any(w in h for w in unless)), None)
            if found is not None:
                return found
    return None


def _text(value: object) -> str:
    """A cell as text: '' for missing, integral floats without '.0' (codes read from a .dbf)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return unicodedata.normalize("NFKC", str(value)).strip()


def _read(source, layer: str | None) -> gpd.GeoDataFrame:
    if isinstance(source, gpd.GeoDataFrame):
        return source.copy()
    if isinstance(source, pd.DataFrame):
        msg = "the table has no geometry column; give a polygon layer (GeoJSON, GeoPackage, Shapefile) or a GeoDataFrame."
        raise TownshipError("no_polygons", msg, found=[])
    label = "bytes" if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        data = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray)) else source
        return gpd.read_file(data, layer=layer) if layer is not None else gpd.read_file(data)
    except Exception as exc:  # noqa: BLE001 (pyogrio raises several types for unreadable input)
        detail = f"{type(exc).__name__}: {exc}"[:300]
        msg = f"{label} is not readable as a vector layer ({detail}); give a GeoJSON, GeoPackage or zipped Shapefile of township polygons."
        raise TownshipError("unreadable", msg, source=label, detail=detail) from exc


def _has_geometry(frame) -> bool:
    """Whether `frame` is a GeoDataFrame with an active geometry column."""
    try:
        return isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns
    except AttributeError:  # a GeoDataFrame whose geometry column was never set
        return False


def _lonlat(gdf: gpd.GeoDataFrame, crs: str) -> np.ndarray:
    """The layer's geometries as lon/lat in WGS84 (EPSG:4326), or a `TownshipError`."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    file_crs = gdf.crs
    if file_crs is not None and not file_crs.is_geographic:
        if crs != "wgs84":
            msg = (f"`crs` was {crs!r} but the layer is in the projected CRS {file_crs.to_string()}: the GCJ-02 and BD-09 shifts apply to "
                   "longitude/latitude only. Leave `crs` as 'wgs84' (the layer's CRS is converted), or give the layer in lon/lat.")  # fmt: skip
            raise TownshipError("crs_conflict", msg, crs=crs, file_crs=file_crs.to_string())
        geoms = np.asarray(gdf.geometry.to_crs(4326).values, dtype=object)
    elif file_crs is not None and file_crs.to_epsg() not in (4326, 4490):
        geoms = np.asarray(gdf.geometry.to_crs(4326).values, dtype=object)  # another geographic datum (e.g. Beijing 1954)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        lat_first = bool(-90 <= minx <= maxx <= 90 and -180 <= miny <= maxy <= 180)
        stated = "states no CRS" if file_crs is None else f"is in {file_crs.to_string()}"
        hint = (" They look like latitude before longitude: swap the axes." if lat_first
                else " Save the layer with its CRS (a .prj beside the Shapefile, or a GeoPackage), or in EPSG:4326.")  # fmt: skip
        msg = f"the coordinates are not longitude/latitude (a corner of the layer is x={maxx:.6g}, y={maxy:.6g}) and the layer {stated}.{hint}"
        raise TownshipError("not_lonlat", msg, x=float(maxx), y=float(maxy), lat_first=lat_first)
    if crs != "wgs84":
        geoms = gcrs.transform_geometry(geoms, lambda lon, lat: gcrs.to_wgs84(lon, lat, crs))
    return geoms


def _datum(crs: str) -> str:
    """'wgs84', 'gcj02' or 'bd09' from a `crs` argument ('cgcs2000' is WGS84 to a few centimetres)."""
    key = str(crs).lower().replace("-", "").replace("_", "")
    key = "wgs84" if key == "cgcs2000" else key
    if key not in gcrs.CRS_NAMES:
        msg = f"`crs` was {crs!r} but is expected to be one of {gcrs.CRS_NAMES} (or 'cgcs2000')."
        raise ValueError(msg)
    return key


def _polygonal(geom):
    """The polygonal part of a repaired geometry (None when nothing of it is an area)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon") and p.area > 0]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def _generated_code(name: str, county: str, geom) -> str:
    """A stable code for a township that came without one: 'TS-' and 12 hex digits of its name, county and outline."""
    outline = shapely.to_wkt(geom, rounding_precision=6)
    digest = hashlib.sha1("\x1f".join(("township", name, county, outline)).encode("utf-8")).hexdigest()[:12]
    return f"TS-{digest}"


def read_townships(source, *, name: str | None = None, code: str | None = None, parent: str | None = None, crs: str = "wgs84",
                   layer: str | None = None) -> gpd.GeoDataFrame:  # fmt: skip
    """Township (乡镇/街道) polygons from a user's layer, in WGS84 (EPSG:4326).

    Parameters
    ----------
    source : path, bytes or GeoDataFrame
        A GeoJSON, GeoPackage or (zipped) Shapefile read by geopandas/pyogrio, or a GeoDataFrame.
    name, code, parent : str, optional
        The columns holding the township's name, its code and its county (a name or a 6-digit
        code); default: the first header among `NAME_CANDIDATES`, `CODE_CANDIDATES` and
        `PARENT_CANDIDATES` (compared without case, spaces or punctuation).  Without a code
        column, each township gets a stable code ('TS-' + 12 hex digits of its name, county
        and outline: the same on every reading of the same file).
    crs : str
        The datum of the layer's longitudes/latitudes: 'wgs84' (or 'cgcs2000'), 'gcj02'
        (Amap, Tencent) or 'bd09' (Baidu); GCJ-02 and BD-09 are shifted back to WGS84
        (`geo.crs`).  A layer in a projected CRS is converted with its own CRS.
    layer : str, optional
        The layer of a multi-layer file (GeoPackage).

    Returns
    -------
    geopandas.GeoDataFrame
        ``code``, ``name``, ``county_code`` (6 digits: the parent column's code, else the first
        6 digits of a 9- or 12-digit township code, else ''), ``county`` (the parent column's
        name, '' when it gives a code or is missing), ``area_km2`` and a (multi)polygon
        ``geometry`` in EPSG:4326, one row per township in the file's order.  Invalid polygons
        are repaired (``make_valid``, keeping the polygonal part); features sharing a code and
        a name are merged into one township.  ``attrs`` tells what was done: ``columns``
        (role -> the column used, None for none), ``dropped`` (a list of ``{"row", "reason",
        "type"}``: 1-based feature number; reason 'no_geometry', 'empty', 'not_polygon' or
        'no_name'), ``repaired`` (feature numbers), ``merged`` (codes), ``generated_codes``
        (how many codes were made) and ``crs_assumed`` (the layer stated no CRS and its
        coordinates were taken as lon/lat).

    Raises
    ------
    TownshipError
        'unreadable', 'no_column', 'no_polygons', 'no_name', 'not_lonlat', 'crs_conflict' or
        'duplicate_code' (see the class).
    """
    crs = _datum(crs)
    gdf = _read(source, layer)
    if not _has_geometry(gdf):
        msg = "the layer has no geometry; give township polygons (GeoJSON, GeoPackage, Shapefile)."
        raise TownshipError("no_polygons", msg, found=[])
    gdf = gdf.reset_index(drop=True)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    present = ~shapely.is_missing(geoms)
    nonempty = present & ~shapely.is_empty(np.where(present, geoms, shapely.Point()))
    kind = np.where(nonempty, shapely.get_type_id(np.where(nonempty, geoms, shapely.Point())), -1)
    polygonal = nonempty & np.isin(kind, (3, 6))
    if not polygonal.any():
        found = sorted({g.geom_type for g in geoms[nonempty]})
        msg = (f"the layer holds no township polygons (geometry types found: {', '.join(found) or 'none'}); "
               "give one (multi)polygon per township (乡镇/街道), not points or lines.")  # fmt: skip
        raise TownshipError("no_polygons", msg, found=found)
    columns = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    gdf.columns = [str(c) for c in gdf.columns]
    chosen = {role: _pick_column(columns, role, given) for role, given in (("name", name), ("code", code), ("parent", parent))}
    if chosen["name"] is None:
        msg = (f"no column of township names among {columns}; name it 'name' (or 名称, 乡镇, 街道) "
               "or pass the column as `name=`.")  # fmt: skip
        raise TownshipError("no_name", msg, available=columns)
    crs_assumed = gdf.crs is None
    sub = gdf[polygonal]
    lonlat = _lonlat(sub, crs)
    rows = np.arange(1, len(gdf) + 1)
    dropped = [{"row": int(r), "reason": "no_geometry", "type": ""} for r in rows[~present]]
    dropped += [{"row": int(r), "reason": "empty", "type": geoms[r - 1].geom_type} for r in rows[present & ~nonempty]]
    dropped += [{"row": int(r), "reason": "not_polygon", "type": geoms[r - 1].geom_type} for r in rows[nonempty & ~polygonal]]
    repaired: list[int] = []
    valid = shapely.is_valid(lonlat)
    for k in np.flatnonzero(~valid):
        fixed = _polygonal(shapely.make_valid(lonlat[k]))
        row = int(rows[polygonal][k])
        if fixed is None:
            dropped.append({"row": row, "reason": "empty", "type": lonlat[k].geom_type})
        else:
            repaired.append(row)
        lonlat[k] = fixed
    names = np.array([_text(v) for v in sub[chosen["name"]]], dtype=object)
    codes = np.array([_text(v) for v in sub[chosen["code"]]], dtype=object) if chosen["code"] else np.full(len(sub), "", dtype=object)
    parents = np.array([_text(v) for v in sub[chosen["parent"]]], dtype=object) if chosen["parent"] else np.full(len(sub), "", dtype=object)
    keep = ~shapely.is_missing(lonlat) & (names != "")
    dropped += [{"row": int(r), "reason": "no_name", "type": ""} for r in rows[polygonal][~shapely.is_missing(lonlat) & (names == "")]]
    if not keep.any():
        msg = f"every township polygon has a blank name in column {chosen['name']!r}; fill the names or pass another column as `name=`."
        raise TownshipError("no_name", msg, available=columns)
    names, codes, parents, lonlat, feature = names[keep], codes[keep], parents[keep], lonlat[keep], rows[polygonal][keep]
    is_code = np.array([bool(re.fullmatch(r"\d{6}", p)) for p in parents], dtype=bool)
    county_code = np.where(is_code, parents, [c[:6] if re.fullmatch(r"\d{9}|\d{12}", c) else "" for c in codes]).astype(object)
    county = np.where(is_code, "", parents).astype(object)
    blank = codes == ""
    codes[blank] = [_generated_code(n, p, g) for n, p, g in zip(names[blank], parents[blank], lonlat[blank], strict=True)]
    frame = pd.DataFrame({"code": codes, "name": names, "county_code": county_code, "county": county, "feature": feature})
    merged: list[str] = []
    if frame["code"].duplicated().any():
        for c, group in frame.groupby("code", sort=False):
            if len(group) > 1 and group["name"].nunique() > 1:
                distinct = sorted(group["name"].unique())
                msg = f"code {c!r} is given to townships of different names {distinct}; fix the codes, or pass another column as `code=`."
                raise TownshipError("duplicate_code", msg, township_code=str(c), names=distinct)
            if len(group) > 1:
                merged.append(str(c))
        first = ~frame["code"].duplicated().to_numpy()
        lonlat = np.array([shapely.union_all(lonlat[(frame["code"] == c).to_numpy()]) for c in frame["code"][first]], dtype=object)
        frame = frame[first].reset_index(drop=True)
    out = gpd.GeoDataFrame(frame.drop(columns="feature"), geometry=gpd.GeoSeries(lonlat, crs=4326), crs=4326)
    out.insert(4, "area_km2", out.geometry.to_crs(gc.EQUAL_AREA_CRS).area.to_numpy() / 1e6)
    out.attrs = {
        "columns": chosen, "dropped": sorted(dropped, key=lambda d: d["row"]), "repaired": sorted(repaired), "merged": merged,
        "generated_codes": int(blank.sum()), "crs_assumed": bool(crs_assumed),
    }  # fmt: skip
    log.info("townships: %s read (%s dropped, %s repaired, %s merged, %s codes generated)", f"{len(out):,}", len(dropped), len(repaired), len(merged), int(blank.sum()))
    return out


# ---- points in townships --------------------------------------------------------------------


def township_of(lon, lat, townships: gpd.GeoDataFrame) -> np.ndarray:
    """Code of the township (EPSG:4326) that covers each point; '' outside all.

    A point on a boundary shared by several townships gets the first of them in the
    table's order (module docstring).
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if lon.shape != lat.shape:
        msg = f"`lon` and `lat` must have the same shape, got {lon.shape} and {lat.shape}."
        raise ValueError(msg)
    out = np.full(lon.shape, "", dtype=object)
    if not lon.size or not len(townships):
        return out
    pts = shapely.points(lon.ravel(), lat.ravel())
    pi, ti = shapely.STRtree(np.asarray(townships.geometry.values, dtype=object)).query(pts, predicate="intersects")
    order = np.lexsort((ti, pi))  # per point, the first township in table order
    pi, ti = pi[order], ti[order]
    first = np.ones(len(pi), dtype=bool)
    first[1:] = pi[1:] != pi[:-1]
    flat = out.ravel()
    flat[pi[first]] = townships["code"].to_numpy(dtype=object)[ti[first]]
    return flat.reshape(lon.shape)


# ---- indicators -----------------------------------------------------------------------------


def _check_townships(townships: gpd.GeoDataFrame) -> None:
    need = {"code", "name"} - set(townships.columns)
    if need:
        msg = f"`townships` lacks the columns {sorted(need)}; read it with `read_townships`."
        raise ValueError(msg)
    if townships.crs is None or townships.crs.to_epsg() != 4326:
        msg = f"`townships` must be in EPSG:4326; it is in {townships.crs}. Read it with `read_townships`."
        raise ValueError(msg)
    if townships["code"].duplicated().any():
        msg = f"`townships` has duplicate codes {sorted(townships['code'][townships['code'].duplicated()].unique())[:5]}."
        raise ValueError(msg)


def township_demand(townships: gpd.GeoDataFrame, *, spacing_m: float | None = None, target_cells: int = gc.TARGET_CELLS) -> gc.Demand:
    """Territory demand inside each township: a grid per township (`geo.coverage.territory_grid`).

    Parameters
    ----------
    townships : GeoDataFrame
        As `read_townships` gives (``code``, polygons in EPSG:4326).
    spacing_m : float, optional
        Cell side (m); default `geo.coverage.default_spacing_m` over all the townships (about
        `target_cells` cells in all).  Every township gets at least one point, whatever its size.

    Returns
    -------
    geo.coverage.Demand
        ``kind == "territory"``, unit km²; the points carry ``township_code`` (and
        ``county_code`` when the townships have it); each township's weights sum to its area.
    """
    _check_townships(townships)
    if not len(townships):
        msg = "`townships` is empty."
        raise ValueError(msg)
    if spacing_m is None:
        spacing_m = gc.default_spacing_m(townships.geometry, target_cells=target_cells)
    parts = []
    county = townships["county_code"].to_numpy(dtype=object) if "county_code" in townships.columns else np.full(len(townships), "", dtype=object)
    for code, geom, cc in zip(townships["code"].to_numpy(dtype=object), townships.geometry.values, county, strict=True):
        pts = gc.territory_grid(geom, spacing_m=spacing_m).points
        pts["township_code"] = code
        pts["county_code"] = cc
        parts.append(pts)
    points = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=4326)
    ids = [f"C{i:06d}" for i in range(len(points))]
    points["id"] = ids
    points["name"] = ids
    points = points[["id", "name", "township_code", "county_code", "weight", "geometry"]]
    return gc.Demand("territory", points, "km2", spacing_m=float(spacing_m))


def township_table(townships: gpd.GeoDataFrame, teams: pd.DataFrame, demand: pd.DataFrame, time_s, *, threshold_s: float = gc.DEFAULT_THRESHOLD_S,
                   kinds: tuple[str, ...] = DEFAULT_TEAM_KINDS) -> pd.DataFrame:  # fmt: skip
    """Both township indicators from arrays: teams inside each township and the coverage of its demand.

    Parameters
    ----------
    townships : GeoDataFrame
        ``code``, ``name`` (and ``county_code``, ``county``) with polygons in EPSG:4326.
    teams : DataFrame
        ``lon``, ``lat`` (EPSG:4326) and ``kind`` of the teams; those of `kinds` count.
    demand : DataFrame
        Demand points with ``township_code`` and ``weight`` (km²), e.g. `township_demand(...).points`.
    time_s : array
        Time (s) to each demand point (inf where no road leads), e.g. from `geo.coverage.times_from_sites`.

    Returns
    -------
    DataFrame
        Per township, in the order of `townships`: ``code``, ``name``, ``county_code``,
        ``county``, ``teams`` (of `kinds` inside), ``teams_ok`` (≥ 1), ``points``,
        ``covered`` / ``beyond`` / ``no_road`` (points reached within `threshold_s`, later,
        never), ``area_km2`` (the demand's weight), ``covered_km2``, ``coverage_share`` (of
        the area, NaN without demand) and ``coverage_ok`` (every point covered).
    """
    _check_townships(townships)
    need = {"lon", "lat", "kind"} - set(teams.columns)
    if need:
        msg = f"`teams` lacks the columns {sorted(need)}; it has {list(teams.columns)}."
        raise ValueError(msg)
    if "township_code" not in demand.columns:
        msg = "`demand` lacks the column 'township_code'; make it with `township_demand`."
        raise ValueError(msg)
    codes = townships["code"].to_numpy(dtype=object)
    sel = teams[teams["kind"].isin(kinds)]
    where = township_of(sel["lon"].to_numpy(dtype=float), sel["lat"].to_numpy(dtype=float), townships)
    counts = pd.Series(where[where != ""]).value_counts()
    cov = gc.indicators(demand, time_s, threshold_s=threshold_s, by="township_code")
    cov = cov[cov["township_code"] != "ALL"].set_index("township_code").reindex(codes)
    out = pd.DataFrame({
        "code": codes,
        "name": townships["name"].to_numpy(dtype=object),
        "county_code": townships["county_code"].to_numpy(dtype=object) if "county_code" in townships.columns else "",
        "county": townships["county"].to_numpy(dtype=object) if "county" in townships.columns else "",
    })  # fmt: skip
    out["teams"] = pd.Series(codes).map(counts).fillna(0).astype(int).to_numpy()
    out["teams_ok"] = out["teams"] >= 1
    for col in ("points", "covered", "beyond", "no_road"):
        out[col] = cov[col].fillna(0).astype(int).to_numpy()
    weight = cov["weight"] if "weight" in cov.columns else pd.Series(np.nan, index=cov.index)
    covered_w = cov["covered_weight"] if "covered_weight" in cov.columns else pd.Series(np.nan, index=cov.index)
    out["area_km2"] = weight.fillna(0.0).to_numpy(dtype=float)
    out["covered_km2"] = covered_w.fillna(0.0).to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["coverage_share"] = np.where(out["area_km2"] > 0, out["covered_km2"] / out["area_km2"], np.nan)
    out["coverage_ok"] = (out["points"] > 0) & (out["covered"] == out["points"])
    return out


def township_indicators(townships: gpd.GeoDataFrame, teams: pd.DataFrame, *, net: Network, sites_lon, sites_lat, threshold_s: float = gc.DEFAULT_THRESHOLD_S,
                        spacing_m: float | None = None, kinds: tuple[str, ...] = DEFAULT_TEAM_KINDS, snap_limit_m: float | None = None,
                        blocked: np.ndarray | None = None) -> pd.DataFrame:  # fmt: skip
    """Teams per township and 1-hour coverage per township by road, in one table (`township_table`).

    Parameters
    ----------
    townships : GeoDataFrame
        As `read_townships` gives.
    teams : DataFrame
        ``lon``, ``lat`` (EPSG:4326), ``kind`` (and ``name``) of the teams; those of `kinds` count.
    net : Network
        The road network the coverage is measured on.
    sites_lon, sites_lat : array_like
        Positions (EPSG:4326) of the bases/teams the coverage is from; sites off the network
        take no part.
    threshold_s : float
        Coverage threshold (s); default one hour.
    spacing_m : float, optional
        Demand grid spacing (m), see `township_demand`.
    snap_limit_m : float, optional
        Demand points farther from a road than this (m) count as ``no_road``; default the network's.
    blocked : array, optional
        Closed edges (`geo.routing.blocked_edges`).

    Returns
    -------
    DataFrame
        See `township_table`; ``attrs["spacing_m"]`` is the grid spacing used.
    """
    demand = township_demand(townships, spacing_m=spacing_m)
    pts = demand.points
    snaps = gc.snap_points(net, pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy(), snap_limit_m=snap_limit_m)
    time_s = gc.times_from_sites(net, sites_lon, sites_lat, snaps, blocked=blocked)
    table = township_table(townships, teams, pts, time_s, threshold_s=threshold_s, kinds=kinds)
    table.attrs["spacing_m"] = demand.spacing_m
    table.attrs["threshold_s"] = float(threshold_s)
    log.info("townships: %s of %s without a team, %s not fully covered within %.0f s", int((~table["teams_ok"]).sum()), len(table), int((~table["coverage_ok"]).sum()), threshold_s)
    return table


def gaps(table: pd.DataFrame) -> pd.DataFrame:
    """The townships of `table` (`township_indicators`) that fail either indicator, with the reasons.

    Returns
    -------
    DataFrame
        ``code``, ``name``, ``county``, ``teams``, ``coverage_share``, ``uncovered_km2``,
        ``no_road`` (points no road reaches) and ``reasons``: a tuple of `GAP_REASONS` codes
        ('no_team', 'not_covered'), in the order of `table`.
    """
    need = {"code", "name", "teams_ok", "coverage_ok", "teams", "coverage_share", "area_km2", "covered_km2", "no_road"} - set(table.columns)
    if need:
        msg = f"`table` lacks the columns {sorted(need)}; make it with `township_indicators`."
        raise ValueError(msg)
    failing = table[~table["teams_ok"] | ~table["coverage_ok"]]
    reasons = [
        tuple(r for r, bad in (("no_team", not ok_t), ("not_covered", not ok_c)) if bad)
        for ok_t, ok_c in zip(failing["teams_ok"], failing["coverage_ok"], strict=True)
    ]
    return pd.DataFrame({
        "code": failing["code"].to_numpy(dtype=object),
        "name": failing["name"].to_numpy(dtype=object),
        "county": failing["county"].to_numpy(dtype=object) if "county" in failing.columns else "",
        "teams": failing["teams"].to_numpy(dtype=int),
        "coverage_share": failing["coverage_share"].to_numpy(dtype=float),
        "uncovered_km2": (failing["area_km2"] - failing["covered_km2"]).to_numpy(dtype=float),
        "no_road": failing["no_road"].to_numpy(dtype=int),
        "reasons": pd.Series(reasons, dtype=object).to_numpy(),
    })  # fmt: skip
