"""Read users' files (CSV, XLSX, GeoJSON, GeoPackage, zipped Shapefile) into a raw table of text, within limits.

Every cell comes back as text exactly as the file holds it ('' when empty): interpreting
numbers, codes and positions is `data.imports.importers`' job, so that a bad value is reported
against its row instead of being silently coerced.  Files are refused whole (with
`ImportRejected`) when they are too large, unreadable, or archives that would unpack
outside their folder or grow beyond the limits.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import math
import re
import stat
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.errors
import shapely.geometry

from data.imports.fields import looks_like_header
from data.imports.issues import ImportRejected, Issue

#: Largest file accepted (bytes): 50 MB.
MAX_FILE_BYTES = 50 * 1024 * 1024
#: Most members an archive (zip, xlsx) may hold.
MAX_ZIP_MEMBERS = 200
#: Largest total an archive may unpack to (bytes): 200 MB.
MAX_ZIP_BYTES = 200 * 1024 * 1024
#: Encodings the user can choose for text files and Shapefile attributes.
ENCODINGS = ("auto", "utf-8", "gbk", "gb18030")
FORMATS = ("csv", "xlsx", "geojson", "gpkg", "zip")
#: Extensions the upload field accepts.
EXTENSIONS = ("csv", "txt", "tsv", "xlsx", "geojson", "json", "gpkg", "zip")
#: Rows looked at for a header below title rows.
_HEADER_SEARCH_ROWS = 20
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_GEOJSON_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}
_SHP_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


@dataclass
class RawTable:
    """A user's file as read: cells as text, row numbers, geometry and CRS when the format has them."""

    frame: pd.DataFrame  # one column per file column, every cell a str
    rows: np.ndarray  # per record: the row as the user finds it (spreadsheet row, or feature number)
    file_name: str
    format: str
    encoding: str | None = None  # text encoding used (CSV, GeoJSON, Shapefile attributes)
    geometry: np.ndarray | None = None  # shapely geometries (None where missing) of spatial formats
    crs: str | None = None  # CRS stated by the file ('EPSG:4490', or WKT), None when it states none
    sources: tuple[str, ...] = ()  # sheets / layers / shapefiles in the file
    source: str | None = None  # the one read
    warnings: list[Issue] = field(default_factory=list)
    row_errors: dict[int, Issue] = field(default_factory=dict)  # record position -> why it cannot be read

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    @property
    def has_geometry(self) -> bool:
        return self.geometry is not None and any(g is not None for g in self.geometry)


def read_table(
    data: bytes, file_name: str, *, encoding: str = "auto", source: str | None = None, prefer: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
) -> RawTable:
    """Read `data` (the bytes of an uploaded file called `file_name`) into a `RawTable`.

    Parameters
    ----------
    encoding : str
        'auto' (BOM, else UTF-8, else GBK/GB18030) or one of `ENCODINGS`; for CSV,
        GeoJSON and Shapefile attributes.
    source : str, optional
        Sheet (XLSX), layer (GeoPackage) or shapefile (zip) to read; default `prefer` if the
        file has it, else the first.
    max_bytes : int
        Size limit (default `MAX_FILE_BYTES`).

    Raises
    ------
    ImportRejected
        When the file is too large, of an unknown format, unreadable, an unsafe archive,
        or holds no rows.
    """
    if encoding not in ENCODINGS:
        msg = f"`encoding` was {encoding!r} but is expected to be in {ENCODINGS}."
        raise ValueError(msg)
    if len(data) > max_bytes:
        raise ImportRejected("too_large", size_mb=f"{len(data) / 2**20:.1f}", limit_mb=f"{max_bytes / 2**20:.0f}")
    fmt = detect_format(data, file_name)
    reader = {"csv": _read_csv, "xlsx": _read_xlsx, "geojson": _read_geojson, "gpkg": _read_gpkg, "zip": _read_zip}[fmt]
    raw = reader(data, file_name, encoding=encoding, source=source, prefer=prefer)
    if raw.frame.empty and not len(raw.rows):
        raise ImportRejected("empty")
    return raw


def read_path(path: str | Path, **kwargs) -> RawTable:
    """`read_table` on a file on disk; the size limit is checked before the file is read."""
    path = Path(path)
    limit = kwargs.get("max_bytes", MAX_FILE_BYTES)
    size = path.stat().st_size
    if size > limit:
        raise ImportRejected("too_large", size_mb=f"{size / 2**20:.1f}", limit_mb=f"{limit / 2**20:.0f}")
    return read_table(path.read_bytes(), path.name, **kwargs)


def detect_format(data: bytes, file_name: str) -> str:
    """One of `FORMATS`, from the file's first bytes and then its extension."""
    ext = Path(file_name).suffix.lower()
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        if ext == ".xlsx":
            return "xlsx"
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                return "xlsx" if "xl/workbook.xml" in zf.namelist() else "zip"
        except zipfile.BadZipFile as exc:
            raise ImportRejected("bad_file", format="zip", detail=str(exc)) from exc
    if data.startswith(b"SQLite format 3\0"):
        return "gpkg"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportRejected("bad_file", format="Excel", detail="old .xls workbooks are not supported; save it as .xlsx or CSV (UTF-8)", why="xls")
    if ext in (".xlsx", ".gpkg", ".zip"):
        raise ImportRejected("bad_file", format=ext[1:], detail=f"the content is not a {ext} file", why="not_format")
    if ext in (".geojson", ".json"):
        return "geojson"
    if ext in (".csv", ".txt", ".tsv"):
        return "csv"
    head = data[:64].lstrip(codecs.BOM_UTF8).lstrip()
    if head.startswith(b"{"):
        return "geojson"
    if ext:
        raise ImportRejected("unknown_format", name=file_name)
    return "csv"


# ---- text ---------------------------------------------------------------------------------


def decode_text(data: bytes, encoding: str = "auto") -> tuple[str, str, list[Issue]]:
    """Decode `data`; return (text, encoding used, warnings).

    'auto' follows a byte-order mark, else takes UTF-8 if the bytes are valid UTF-8, else GBK,
    else GB18030.  A chosen encoding never fails: undecodable bytes become U+FFFD and a
    warning says how many, so a wrong choice shows in the preview.
    """
    if encoding not in ENCODINGS:
        msg = f"`encoding` was {encoding!r} but is expected to be in {ENCODINGS}."
        raise ValueError(msg)
    if encoding == "auto":
        for bom, name in _BOMS:
            if data.startswith(bom):
                return _decode_replacing(data, name, name)
        for name in ("utf-8", "gbk", "gb18030"):
            try:
                return data.decode(name), name, []
            except UnicodeDecodeError:
                continue
        return _decode_replacing(data, "utf-8", "utf-8")
    name = "utf-8-sig" if encoding == "utf-8" and data.startswith(codecs.BOM_UTF8) else encoding
    return _decode_replacing(data, name, encoding)


def _decode_replacing(data: bytes, codec: str, label: str) -> tuple[str, str, list[Issue]]:
    text = data.decode(codec, errors="replace")
    bad = text.count("\ufffd")
    return text, codec, [Issue("encoding_replaced", {"count": bad, "encoding": label})] if bad else []


def _delimiter(text: str) -> str:
    """The field separator of a CSV: the most frequent of , ; tab | in the first lines."""
    head = "\n".join(text.splitlines()[:5])
    counts = {d: head.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _text(value: object) -> str:
    """A cell or property as text: numbers in their shortest exact form, dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(value)
    if isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if value is pd.NaT:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _table(rows: list[list[str]], numbers: list[int]) -> tuple[pd.DataFrame, np.ndarray, dict[int, Issue], list[Issue]]:
    """Header and records from rows of text; title rows above the header and empty rows are skipped."""
    filled = [i for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not filled:
        raise ImportRejected("empty")
    head = next((i for i in filled[:_HEADER_SEARCH_ROWS] if looks_like_header(rows[i])), filled[0])
    issues: list[Issue] = []
    skipped = sum(1 for i in filled if i < head)
    if skipped:
        issues.append(Issue("header_skipped", {"count": skipped}))
    cells = [c.strip() for c in rows[head]]
    while cells and not cells[-1]:
        cells.pop()
    header, renamed = _unique_header(cells)
    if renamed:
        issues.append(Issue("header_renamed", {"columns": ", ".join(renamed)}))
    width = len(header)
    body, kept, errors, empty = [], [], {}, 0
    for i in range(head + 1, len(rows)):
        row = rows[i]
        if not any(c.strip() for c in row):
            empty += 1
            continue
        if len(row) > width and any(c.strip() for c in row[width:]):
            errors[len(body)] = Issue("field_count", {"count": len(row), "expected": width})
        body.append((row + [""] * width)[:width])
        kept.append(numbers[i])
    if empty:
        issues.append(Issue("empty_rows", {"count": empty}))
    frame = pd.DataFrame(body, columns=header, dtype=object) if body else pd.DataFrame(columns=header, dtype=object)
    return frame, np.asarray(kept, dtype=int), errors, issues


def _unique_header(cells: list[str]) -> tuple[list[str], list[str]]:
    header, renamed, seen = [], [], set()
    for i, cell in enumerate(cells, start=1):
        name = cell or f"column_{i}"
        base, n = name, 2
        while name in seen:
            name, n = f"{base}_{n}", n + 1
        if name != cell:
            renamed.append(name)
        seen.add(name)
        header.append(name)
    return header, renamed


def _pick(sources: list[str], source: str | None, prefer: str | None, kind: str) -> str:
    if not sources:
        raise ImportRejected("empty")
    if source is not None:
        if source not in sources:
            raise ImportRejected("no_source", kind=kind, name=source, available=", ".join(sources))
        return source
    return prefer if prefer in sources else sources[0]


# ---- formats --------------------------------------------------------------------------------


def _read_csv(data: bytes, file_name: str, *, encoding: str, source: str | None, prefer: str | None) -> RawTable:
    text, used, issues = decode_text(data, encoding)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text)))
    except csv.Error as exc:
        raise ImportRejected("bad_file", format="CSV", detail=str(exc)) from exc
    frame, numbers, errors, more = _table(rows, list(range(1, len(rows) + 1)))
    return RawTable(frame, numbers, file_name, "csv", encoding=used, warnings=issues + more, row_errors=errors)


def _read_xlsx(data: bytes, file_name: str, *, encoding: str, source: str | None, prefer: str | None) -> RawTable:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    broken = (InvalidFileException, KeyError, ValueError, TypeError, OSError, zipfile.BadZipFile, EOFError, zlib.error)
    with _zip(data) as zf:
        check_archive(zf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions it skips
        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except broken as exc:
            raise ImportRejected("bad_file", format="XLSX", detail=f"{type(exc).__name__}: {exc}"[:300]) from exc
        try:
            sheets = tuple(book.sheetnames)
            name = _pick(list(sheets), source, prefer, "sheet")
            try:
                rows = [[_text(v) for v in row] for row in book[name].iter_rows(values_only=True)]
            except broken as exc:
                raise ImportRejected("bad_file", format="XLSX", detail=f"{type(exc).__name__}: {exc}"[:300]) from exc
        finally:
            book.close()
    frame, numbers, errors, issues = _table(rows, list(range(1, len(rows) + 1)))
    return RawTable(frame, numbers, file_name, "xlsx", sources=sheets, source=name, warnings=issues, row_errors=errors)


def _geojson_crs(doc: dict) -> str | None:
    """EPSG code of a legacy GeoJSON ``crs`` member ('EPSG:4490'), if any."""
    crs = doc.get("crs")
    name = crs.get("properties", {}).get("name") if isinstance(crs, dict) and isinstance(crs.get("properties"), dict) else None
    if not isinstance(name, str):
        return None
    if "CRS84" in name.upper():
        return "EPSG:4326"
    found = re.search(r"EPSG:{1,2}(\d+)", name, flags=re.IGNORECASE)
    return f"EPSG:{found.group(1)}" if found else name


def _shape(obj: object) -> tuple[object, str | None]:
    """(shapely geometry or None, why it cannot be read) from a GeoJSON geometry object."""
    if obj is None:
        return None, None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str) or obj["type"] not in _GEOJSON_TYPES:
        kind = obj.get("type") if isinstance(obj, dict) else type(obj).__name__
        return None, f"not a GeoJSON geometry (type {kind!r})"
    try:
        geom = shapely.geometry.shape(obj)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, shapely.errors.ShapelyError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:200]
    return geom, None


def _read_geojson(data: bytes, file_name: str, *, encoding: str, source: str | None, prefer: str | None) -> RawTable:
    text, used, issues = decode_text(data, encoding)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportRejected("bad_file", format="GeoJSON", detail=f"line {exc.lineno} column {exc.colno}: {exc.msg}", why="json_syntax", line=exc.lineno, column=exc.colno) from exc
    except RecursionError as exc:
        raise ImportRejected("bad_file", format="GeoJSON", detail="nested too deeply", why="json_nested") from exc
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" and isinstance(doc.get("features"), list):
        features = doc["features"]
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    else:
        kind = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise ImportRejected("bad_file", format="GeoJSON", detail=f"expected a FeatureCollection or a Feature, found {kind!r}", why="geojson_type")
    props, geoms, errors = [], [], {}
    for i, feat in enumerate(features):
        feat = feat if isinstance(feat, dict) else {}
        p = feat.get("properties")
        props.append(p if isinstance(p, dict) else {})
        geom, why = _shape(feat.get("geometry"))
        geoms.append(geom)
        if why:
            errors[i] = Issue("bad_geometry", {"detail": why, "why": "not_geojson"})
    columns = list(dict.fromkeys(str(k) for p in props for k in p))
    frame = pd.DataFrame([[_text(p.get(c)) for c in columns] for p in props], columns=columns, dtype=object)
    if frame.shape[1] == 0:
        frame = pd.DataFrame(index=range(len(props)))
    geometry = np.empty(len(geoms), dtype=object)
    geometry[:] = geoms
    return RawTable(
        frame, np.arange(1, len(features) + 1), file_name, "geojson", encoding=used, geometry=geometry,
        crs=_geojson_crs(doc), warnings=issues, row_errors=errors,
    )


def _crs_name(crs) -> str | None:
    if crs is None:
        return None
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def _read_ogr(path: Path, file_name: str, fmt: str, layer: str | None, encoding: str | None) -> tuple[pd.DataFrame, list[Issue]]:
    """Read one layer with GDAL (pyogrio); GDAL's warnings become issues."""
    import pyogrio
    import pyogrio.errors

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            df = pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError,
                pyogrio.errors.GeometryError, pyogrio.errors.FeatureError, pyogrio.errors.CRSError, UnicodeDecodeError, LookupError) as exc:
            raise ImportRejected("bad_file", format=fmt, detail=f"{type(exc).__name__}: {exc}"[:300]) from exc
    return df, [Issue("gdal", {"detail": str(w.message)[:300]}) for w in caught]


def _from_frame(df: pd.DataFrame, file_name: str, fmt: str, **kwargs) -> RawTable:
    geometry = None
    if isinstance(df, gpd.GeoDataFrame):
        geometry = np.asarray(df.geometry.values, dtype=object)
        geometry = np.where(shapely.is_missing(geometry), None, geometry)
        crs = _crs_name(df.crs)
        df = pd.DataFrame(df.drop(columns=df.geometry.name))
    else:
        crs = None
    frame = pd.DataFrame({str(c): [_text(v) for v in df[c].tolist()] for c in df.columns}, index=range(len(df)), dtype=object)
    return RawTable(frame, np.arange(1, len(df) + 1), file_name, fmt, geometry=geometry, crs=crs, **kwargs)


def _read_gpkg(data: bytes, file_name: str, *, encoding: str, source: str | None, prefer: str | None) -> RawTable:
    import pyogrio
    import pyogrio.errors

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.gpkg"
        path.write_bytes(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                layers = [str(row[0]) for row in pyogrio.list_layers(path)]
        except pyogrio.errors.DataSourceError as exc:
            raise ImportRejected("bad_file", format="GeoPackage", detail=str(exc)[:300]) from exc
        name = _pick(layers, source, prefer, "layer")
        df, issues = _read_ogr(path, file_name, "GeoPackage", name, None)
    return _from_frame(df, file_name, "gpkg", sources=tuple(layers), source=name, warnings=issues)


# ---- archives -------------------------------------------------------------------------------


def _zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise ImportRejected("bad_file", format="zip", detail=str(exc)) from exc


def check_archive(zf: zipfile.ZipFile, *, max_members: int = MAX_ZIP_MEMBERS, max_bytes: int = MAX_ZIP_BYTES) -> list[zipfile.ZipInfo]:
    """The members of `zf`, after refusing unsafe archives (nothing is unpacked here).

    Refused: more than `max_members` members; a member with an absolute path, a drive
    letter, a '..' component or a symbolic link; a password-protected member; a total
    unpacked size over `max_bytes`.
    """
    infos = zf.infolist()
    if len(infos) > max_members:
        raise ImportRejected("zip_members", count=len(infos), limit=max_members)
    for info in infos:
        name = info.filename
        parts = re.split(r"[/\\]", name)
        # a drive-like prefix ("C:", and any other "x:", which Windows also reads as a drive or refuses)
        if name.startswith(("/", "\\")) or re.match(r"^[^/\\]:", name) or ".." in parts or stat.S_ISLNK(info.external_attr >> 16):
            raise ImportRejected("zip_unsafe", name=name)
        if info.flag_bits & 0x1:
            raise ImportRejected("zip_encrypted", name=name)
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise ImportRejected("zip_size", size_mb=f"{total / 2**20:.1f}", limit_mb=f"{max_bytes / 2**20:.0f}")
    return infos


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int = MAX_ZIP_BYTES) -> bytes:
    """The bytes of one member, never more than `limit` whatever its header claims."""
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise ImportRejected("bad_file", format="zip", detail=f"{info.filename}: {exc}") from exc
    if len(data) > limit:
        raise ImportRejected("zip_size", size_mb=f">{limit / 2**20:.0f}", limit_mb=f"{limit / 2**20:.0f}")
    return data


def _dbf_encoding(dbf: bytes) -> str:
    """'UTF-8' when the records of a .dbf are valid UTF-8, else 'GB18030' (a superset of GBK)."""
    start = int.from_bytes(dbf[8:10], "little") if len(dbf) >= 10 else 0
    try:
        dbf[start:].decode("utf-8")
    except UnicodeDecodeError:
        return "GB18030"
    return "UTF-8"


def _read_zip(data: bytes, file_name: str, *, encoding: str, source: str | None, prefer: str | None) -> RawTable:
    with _zip(data) as zf:
        infos = [i for i in check_archive(zf) if not i.is_dir() and not PurePosixPath(i.filename).name.startswith(("._", "."))]
        by_stem: dict[str, dict[str, zipfile.ZipInfo]] = {}
        for info in infos:
            p = PurePosixPath(info.filename.replace("\\", "/"))
            if p.suffix.lower() in _SHP_PARTS:
                by_stem.setdefault(str(p.with_suffix("")), {})[p.suffix.lower()] = info
        shapefiles = {PurePosixPath(stem).name: parts for stem, parts in by_stem.items() if ".shp" in parts}
        if not shapefiles:
            inner = [i for i in infos if PurePosixPath(i.filename).suffix.lower() in (".gpkg", ".geojson", ".json", ".csv", ".xlsx")]
            if len(inner) != 1:
                raise ImportRejected("zip_no_data")
            member = _member(zf, inner[0])
            if detect_format(member, inner[0].filename) == "zip":
                raise ImportRejected("zip_no_data")
            return read_table(member, PurePosixPath(inner[0].filename).name, encoding=encoding, source=source, prefer=prefer)
        name = _pick(sorted(shapefiles), source, prefer, "shapefile")
        parts = shapefiles[name]
        missing = [ext for ext in (".shx", ".dbf") if ext not in parts]
        if missing:
            raise ImportRejected("zip_shp_parts", name=name, missing=", ".join(missing))
        with tempfile.TemporaryDirectory() as tmp:
            blobs = {ext: _member(zf, info) for ext, info in parts.items()}
            for ext, blob in blobs.items():
                (Path(tmp) / f"layer{ext}").write_bytes(blob)
            if encoding != "auto":
                ogr_encoding = encoding.upper()
            elif ".cpg" in blobs:
                ogr_encoding = None  # GDAL reads the .cpg
            else:
                ogr_encoding = _dbf_encoding(blobs[".dbf"])
            df, issues = _read_ogr(Path(tmp) / "layer.shp", file_name, "Shapefile", None, ogr_encoding)
    used = ogr_encoding.lower() if ogr_encoding else blobs[".cpg"].decode("ascii", errors="replace").strip().lower() or None
    return _from_frame(df, file_name, "zip", encoding=used, sources=tuple(sorted(shapefiles)), source=name, warnings=issues)
