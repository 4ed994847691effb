"""Map, check and commit users' files into the workspace: one report per file, one transaction per commit.

The steps are pure functions on a `RawTable` (see `data.imports.readers`)::

    raw = read_table(data, "队伍.csv")                       # cells as text
    mapping = suggest_mapping(raw.columns, "teams")          # field -> file column
    report = validate(raw, "teams", mapping, context, crs="gcj02")
    commit(report, workspace, mode="valid", by=session)      # one transaction, by a signed-in data administrator

`validate` accepts or rejects every row with its reasons (missing field, bad number,
unknown jurisdiction code or name, invalid geometry and whether it was repaired, duplicate id,
position outside the four provinces or far from its stated county) and warns about the
whole file (lon/lat swapped, a CRS that fits the stated counties better, encoding, head
counts left empty).

Users' lists rarely carry ids or head counts, and name their county instead of coding it:

- a missing id is generated from the layer and the row's content (`generated_id`: name and
  WGS84 position rounded to 1e-6 degrees for points; name and outline for closures), so
  re-importing the same file gives the same ids and is refused row by row as already
  present; a second row with the same name and position is rejected as a duplicate row;
- a township (乡镇/街道 polygon) gets its county as a point does, from a point inside its
  polygon (`shapely.point_on_surface`): a stated county is checked against it, a missing one
  derived from it; its code (``code``, e.g. the 12-digit division code) is imported once
  (a code given twice, or already in the store, is rejected), and a township without one
  takes its id as its code;
- a missing head count (`members`) stays unknown (NULL), never 0;
- a county may be a code or a name (`data.fields.JurisdictionNames`); a name several
  counties share (鼓楼区) is resolved by a city column, else by the county that contains
  the point, else rejected with the candidates.
Positions are converted to WGS84 (EPSG:4326): GCJ-02 and BD-09 by `geo.crs`, projected
EPSG codes by pyproj; CGCS2000 is taken as WGS84.

Who may write (`data.accounts.authority`): `commit` and `remove` take the signed-in session
(``by``, checked by `Accounts.check`) and ask the permission table for ``layer.import`` /
``layer.edit`` with ``codes``, the jurisdictions of the records (`jurisdictions_of`: a point's
county, a contact's jurisdiction, an inventory row's stockpile's county, the counties a
closure polygon overlaps, a township's own county).  Only a data administrator whose
jurisdiction contains every one of them may write; a refusal raises `Refused` (audited) and
nothing is written.  A record of no jurisdiction refuses the whole file (`ImportRejected`
'no_jurisdiction').  The provenance names the account (``who``: its username).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from data.accounts.accounts import Accounts, Session, session_of
from data.dataset.build import CountyLocator, add_jurisdiction_columns
from data.schema import DEPARTMENTS, now_beijing
from data.imports.fields import (
    IMPORT_LAYERS,
    IMPORTED_LABEL,
    MAX_TEXT,
    JurisdictionNames,
    POLYGON_LAYERS,
    TABLE_LAYERS,
    allowed_values,
    fields,
    normalise_department,
    normalise_value,
    suggest_mapping,
)
from data.imports.issues import ImportRejected, Issue
from data.imports.readers import RawTable, read_path
from data.schema import POINT_LAYERS
from data.storage.workspace import columns
from geo.crs import to_wgs84, transform_geometry

log = logging.getLogger(__name__)

__all__ = [
    "ID_PREFIXES", "ImportContext", "ImportRejected", "ImportReport", "Issue", "MODES", "NEAR_COUNTY_M",
    "commit", "generated_id", "import_file", "jurisdictions_of", "parse_crs", "remove", "suggest_mapping", "validate",
]

#: 'all': a file with any rejected row imports nothing; 'valid': the valid rows are imported.
MODES = ("all", "valid")
#: CRS names besides 'EPSG:<code>'.
CRS_CHOICES = ("auto", "wgs84", "cgcs2000", "gcj02", "bd09")
#: A point this close (metres) outside its stated county is accepted with a note; farther is rejected.
NEAR_COUNTY_M = 1000.0
#: Rows compared under each CRS when looking for a file in the wrong CRS.
_CRS_SAMPLE = 5_000
_GEOD = pyproj.Geod(ellps="WGS84")
#: First part of a generated id, per layer ('T-3f2a9c1b0d4e' for a team).
ID_PREFIXES = {"projects": "P", "bases": "B", "teams": "T", "stockpiles": "S", "hazards": "H", "shelters": "SH", "contacts": "C", "closures": "RC", "townships": "TS"}
#: A CSV cell that starts with one of these after a single quote was escaped against formula
#: injection (OWASP; `data.imports.exporters` writes them so): the quote is dropped on import.
_ESCAPED = r"^'(?=[=+\-@\t\r])"


# ---- CRS ------------------------------------------------------------------------------------


def parse_crs(value: str) -> str:
    """Normalise a CRS choice to 'auto', 'wgs84', 'gcj02', 'bd09' or 'EPSG:<code>'.

    'cgcs2000', 'EPSG:4326' and 'EPSG:4490' become 'wgs84' (they agree to a few centimetres).

    Raises
    ------
    ValueError
        If `value` is none of these, or an EPSG code pyproj does not know.
    """
    s = re.sub(r"[\s_\-]", "", str(value)).lower()
    aliases = {"": "auto", "auto": "auto", "wgs84": "wgs84", "cgcs2000": "wgs84", "crs84": "wgs84", "gcj02": "gcj02", "bd09": "bd09", "bd09ll": "bd09"}
    if s in aliases:
        return aliases[s]
    found = re.fullmatch(r"(?:epsg:)?(\d{4,6})", s)
    if found:
        code = int(found.group(1))
        if code in (4326, 4490):
            return "wgs84"
        try:
            pyproj.CRS.from_epsg(code)
        except pyproj.exceptions.CRSError as exc:
            msg = f"`crs` was {value!r}: EPSG:{code} is not a known coordinate reference system."
            raise ValueError(msg) from exc
        return f"EPSG:{code}"
    msg = f"`crs` was {value!r} but is expected to be one of {CRS_CHOICES} or 'EPSG:<code>'."
    raise ValueError(msg)


def _file_crs(crs: str | None) -> str | None:
    """The CRS a file states, as `parse_crs` names it (a WKT without EPSG code stays WKT)."""
    if not crs:
        return None
    try:
        return parse_crs(crs)
    except ValueError:
        try:
            epsg = pyproj.CRS.from_user_input(crs).to_epsg()
        except pyproj.exceptions.CRSError:
            return crs
        return parse_crs(f"EPSG:{epsg}") if epsg else crs


def _resolve_crs(declared: str, stated: str | None) -> tuple[str, str, list[Issue]]:
    """(CRS to read positions in, 'file'/'declared'/'assumed', warnings)."""
    declared = parse_crs(declared)
    stated = _file_crs(stated)
    if declared == "auto":
        return (stated, "file", []) if stated else ("wgs84", "assumed", [Issue("crs_assumed")])
    warnings = [Issue("crs_override", {"file_crs": stated, "declared": declared})] if stated and stated != declared else []
    return declared, "declared", warnings


def _is_geographic(crs: str) -> bool:
    return crs in ("wgs84", "gcj02", "bd09") or pyproj.CRS.from_user_input(crs).is_geographic


def convert(x, y, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions `x`, `y` in `crs` (a `parse_crs` name or WKT) as WGS84 lon/lat (degrees)."""
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    if crs in ("wgs84", "gcj02", "bd09"):
        return to_wgs84(x, y, crs)
    transformer = pyproj.Transformer.from_crs(pyproj.CRS.from_user_input(crs), pyproj.CRS.from_epsg(4326), always_xy=True)
    lon, lat = transformer.transform(x, y, errcheck=False)
    return np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")


# ---- context and report ---------------------------------------------------------------------


@dataclass
class ImportContext:
    """What rows are checked against: county outlines, jurisdiction codes and the ids already in the store."""

    # The tables are left out of the repr: a test that fails prints a context of a few lines, not 30 kB.
    locator: CountyLocator = field(repr=False)
    levels: dict[str, str] = field(repr=False)  # jurisdiction code -> 'province' | 'city' | 'county'
    names: dict[str, str] = field(repr=False)  # jurisdiction code -> name
    ids: dict[str, dict[str, str]] = field(repr=False)  # layer -> id -> origin ('base' or an import id)
    parents: dict[str, str] = field(default_factory=dict, repr=False)  # jurisdiction code -> parent code ('' for a province)
    stockpiles: dict[str, str] = field(default_factory=dict, repr=False)  # stockpile id -> its county code (an inventory row's jurisdiction)
    township_codes: dict[str, str] = field(default_factory=dict, repr=False)  # township code -> origin (the import id)

    @functools.cached_property
    def jurisdiction_names(self) -> JurisdictionNames:
        """Codes from names ('嘉善县' → 330421); parents default to the code's own pattern."""
        parents = {c: self.parents.get(c) or _parent_by_pattern(c, self.levels) for c in self.names}
        return JurisdictionNames(self.names, self.levels, parents)

    @classmethod
    def from_store(cls, store, *, locator: CountyLocator | None = None) -> ImportContext:
        """The context of `store` (a `data.store.Store`, imports included)."""
        jur = store.jurisdictions(detail="full")
        frames = {name: store.layer(name) for name in POINT_LAYERS}
        frames["contacts"] = store.table("contacts")
        frames["closures"] = store.closures()
        frames["townships"] = store.townships()
        return cls(
            locator=locator or CountyLocator(jur),
            levels=dict(zip(jur["code"], jur["level"], strict=True)),
            names=dict(zip(jur["code"], jur["name"], strict=True)),
            ids={name: dict(zip(f["id"].astype(str), f["origin"].astype(str), strict=True)) for name, f in frames.items()},
            parents=dict(zip(jur["code"], jur["parent_code"].fillna("").astype(str), strict=True)),
            stockpiles=dict(zip(frames["stockpiles"]["id"].astype(str), frames["stockpiles"]["county_code"].fillna("").astype(str), strict=True)),
            township_codes=dict(zip(frames["townships"]["code"].astype(str), frames["townships"]["origin"].astype(str), strict=True)),
        )


def _parent_by_pattern(code: str, levels: Mapping[str, str]) -> str:
    """The parent of a 6-digit code by its pattern (330421 → 330400 → 330000), '' for a province."""
    above = {"county": (code[:4] + "00", code[:2] + "0000"), "city": (code[:2] + "0000",)}.get(levels.get(code, ""), ())
    return next((p for p in above if p in levels and p != code), "")


def generated_id(layer: str, parts: Sequence[str]) -> str:
    """The id of a record that came without one: ``<prefix>-<12 hex digits>`` of the SHA-1 of
    `layer` and `parts` (the row's identifying content), so the same row always gets the same id.

    Two different rows get the same id with a probability of about n²/2⁴⁹ (n rows): for a
    million records, under one in a thousand; a clash is caught as a duplicate like any id.
    """
    digest = hashlib.sha1("\x1f".join([layer, *map(str, parts)]).encode("utf-8")).hexdigest()[:12]
    return f"{ID_PREFIXES.get(layer, layer[:2].upper())}-{digest}"


@dataclass
class ImportReport:
    """The outcome of checking one file for one layer, and of committing it."""

    layer: str
    file_name: str
    format: str
    encoding: str | None
    crs: str  # CRS the positions were read in
    crs_from: str  # 'file', 'declared' or 'assumed'
    source: str | None  # sheet or layer read
    mapping: dict[str, str | None]
    rows: pd.DataFrame  # per record: row (as the user finds it), id, status ('accepted'/'rejected')
    reasons: dict[int, list[Issue]]  # rejected record position -> why
    notes: dict[int, list[Issue]]  # record position -> remarks on an accepted or repaired row
    warnings: list[Issue]
    accepted: pd.DataFrame  # the accepted records in the workspace's columns (+ geom_wkb)
    mode: str | None = None
    committed: bool = False
    import_id: str | None = None
    error: Issue | None = None  # why nothing was committed
    #: Per accepted record (same order as `accepted`), the jurisdiction codes that decide who may import it (`jurisdictions_of`).
    jurisdictions: list[tuple[str, ...]] = field(default_factory=list, repr=False)

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def n_rejected(self) -> int:
        return len(self.reasons)

    @property
    def n_accepted(self) -> int:
        return self.total - self.n_rejected

    @property
    def n_imported(self) -> int:
        return self.n_accepted if self.committed else 0

    def accepted_frame(self) -> pd.DataFrame:
        """The accepted records as the store will hold them: a GeoDataFrame (EPSG:4326) for spatial layers."""
        if "geom_wkb" not in self.accepted:
            return self.accepted.copy()
        geometry = shapely.from_wkb(self.accepted["geom_wkb"].to_numpy())
        return gpd.GeoDataFrame(self.accepted.drop(columns="geom_wkb"), geometry=geometry, crs=4326)

    def to_dict(self) -> dict:
        """The full report, JSON-ready: file, CRS, mapping, warnings and every row's outcome."""
        rows = [
            {
                "row": int(row), "id": rid, "status": status, "imported": self.committed and status == "accepted",
                "reasons": [i.to_dict() for i in self.reasons.get(k, [])], "notes": [i.to_dict() for i in self.notes.get(k, [])],
            }
            for k, (row, rid, status) in enumerate(zip(self.rows["row"], self.rows["id"], self.rows["status"], strict=True))
        ]
        return {
            "file": self.file_name, "layer": self.layer, "format": self.format, "encoding": self.encoding,
            "source": self.source, "crs": self.crs, "crs_from": self.crs_from, "mapping": self.mapping,
            "mode": self.mode, "committed": self.committed, "import_id": self.import_id,
            "rows_total": self.total, "rows_accepted": self.n_accepted, "rows_rejected": self.n_rejected,
            "rows_imported": self.n_imported, "error": self.error.to_dict() if self.error else None,
            "warnings": [w.to_dict() for w in self.warnings], "rows": rows,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)


def rejected_report(file_name: str, layer: str, issue: Issue) -> dict:
    """The JSON report of a file refused before its rows could be checked."""
    return {"file": file_name, "layer": layer, "committed": False, "rows_total": 0, "rows_accepted": 0, "rows_rejected": 0, "rows_imported": 0, "error": issue.to_dict(), "warnings": [], "rows": []}


class _Outcomes:
    """Reasons and notes per record position."""

    def __init__(self, n: int):
        self.n = n
        self.reasons: dict[int, list[Issue]] = {}
        self.notes: dict[int, list[Issue]] = {}
        self.ambiguous: dict[int, list[str]] = {}  # record position -> county codes its county name may mean

    def reject(self, mask: np.ndarray, make: Callable[[int], Issue]) -> None:
        for i in np.flatnonzero(mask):
            self.reasons.setdefault(int(i), []).append(make(int(i)))

    def note(self, mask: np.ndarray, make: Callable[[int], Issue]) -> None:
        for i in np.flatnonzero(mask):
            self.notes.setdefault(int(i), []).append(make(int(i)))

    def ok(self) -> np.ndarray:
        mask = np.ones(self.n, dtype=bool)
        mask[list(self.reasons)] = False
        return mask


# ---- checks ---------------------------------------------------------------------------------


def _check_mapping(raw: RawTable, layer: str, mapping: Mapping[str, str | None]) -> tuple[dict[str, str | None], list[Issue]]:
    spec = {f.name: f for f in fields(layer)}
    unknown = sorted(set(mapping) - set(spec))
    if unknown:
        msg = f"`mapping` has fields {unknown} that layer {layer!r} does not have; it has {list(spec)}."
        raise ValueError(msg)
    chosen = {name: (mapping.get(name) or None) for name in spec}
    used: dict[str, str] = {}
    for name, column in chosen.items():
        if column is None:
            continue
        if column not in raw.columns:
            raise ImportRejected("mapping_column", column=column, field=name)
        if column in used:
            raise ImportRejected("mapping_twice", column=column, field=used[column], other=name)
        used[column] = name
    position = {"lon", "lat", "wkt"}
    for f in spec.values():
        if f.required and chosen[f.name] is None and not (f.name in position and raw.has_geometry):
            raise ImportRejected("mapping_missing", field=f.name)
    if (chosen.get("lon") is None) != (chosen.get("lat") is None):
        raise ImportRejected("mapping_missing", field="lat" if chosen.get("lat") is None else "lon")
    unmapped = [c for c in raw.columns if c not in used]
    return chosen, [Issue("unmapped_columns", {"columns": ", ".join(unmapped)})] if unmapped else []


def _numbers(s: pd.Series, *, thousands: bool = False) -> pd.Series:
    """Numbers from text (full-width digits allowed; '°' dropped; ',' as thousands separator if `thousands`); NaN where not a finite number."""
    t = s.str.normalize("NFKC").str.strip().str.replace(r"[°度\s]", "", regex=True)
    if thousands:
        t = t.str.replace(",", "", regex=False)
    num = pd.to_numeric(t, errors="coerce").astype("float64")
    return num.where(np.isfinite(num))


def _first_of(keys: pd.Series) -> np.ndarray:
    """Per record, the position of the first record with the same key."""
    return pd.Series(np.arange(len(keys))).groupby(keys.to_numpy()).transform("min").to_numpy()


def _check_values(layer: str, values: dict[str, pd.Series], rows: np.ndarray, ctx: ImportContext, out: _Outcomes) -> dict[str, pd.Series]:
    """Check every non-position field (`rows`: the row numbers users see); return the typed values."""
    typed: dict[str, pd.Series] = {}
    for f in fields(layer):
        if f.name in ("lon", "lat", "wkt"):
            continue
        s = values[f.name]
        empty = (s == "").to_numpy()
        if f.required:
            out.reject(empty, lambda i: Issue("missing", {"field": f.name}))
        out.reject((s.str.len() > MAX_TEXT).to_numpy(), lambda i: Issue("too_long", {"field": f.name, "limit": MAX_TEXT}))
        if f.kind in ("integer", "positive"):
            num = _numbers(s, thousands=True)
            bad = ~empty & num.isna().to_numpy()
            out.reject(bad, lambda i: Issue("bad_integer" if f.kind == "integer" else "bad_number", {"field": f.name, "value": s.iat[i]}))
            if f.kind == "integer":
                frac = (num.notna() & (num != np.floor(num))).to_numpy()
                out.reject(frac, lambda i: Issue("bad_integer", {"field": f.name, "value": s.iat[i]}))
                out.reject((num < 0).to_numpy(), lambda i: Issue("negative", {"field": f.name, "value": s.iat[i]}))
                out.reject((num.abs() >= 2**62).to_numpy(), lambda i: Issue("bad_integer", {"field": f.name, "value": s.iat[i]}))
                # Empty stays unknown (NULL), never 0: a head count nobody gave is not a head count of 0.
                typed[f.name] = num.where((num.abs() < 2**62) & (num == np.floor(num))).astype("Int64")
            else:
                out.reject((num <= 0).to_numpy(), lambda i: Issue("not_positive", {"field": f.name, "value": s.iat[i]}))
                typed[f.name] = num
        elif f.kind == "department":
            codes = s.map({v: normalise_department(v) for v in s.unique()})
            allowed = ", ".join(DEPARTMENTS)
            out.reject(~empty & codes.isna().to_numpy(), lambda i: Issue("bad_department", {"value": s.iat[i], "allowed": allowed}))
            typed[f.name] = codes.fillna("")
        elif f.kind == "coded":
            codes = s.map({v: normalise_value(layer, f.name, v) for v in s.unique()})
            allowed = ", ".join(allowed_values(layer, f.name))
            out.note(~empty & codes.isna().to_numpy(), lambda i: Issue("value_unknown", {"field": f.name, "value": s.iat[i], "allowed": allowed}))
            typed[f.name] = codes.fillna(s)
        elif f.kind in ("county", "jurisdiction", "city"):
            typed[f.name] = s  # resolved below, once the city column is known
        elif f.kind == "ref":
            known = ctx.ids.get(f.target, {})
            out.reject(~empty & ~s.isin(known.keys()).to_numpy(), lambda i: Issue("unknown_ref", {"field": f.name, "value": s.iat[i], "target": f.target}))
            typed[f.name] = s
        elif f.kind == "id":
            # Only the ids the file gives; empty ones are generated once positions are known (`_fill_ids`).
            first = _first_of(s)
            out.reject(~empty & (first != np.arange(len(s))), lambda i: Issue("duplicate_id", {"value": s.iat[i], "first": int(rows[first[i]])}))
            existing = ctx.ids.get(layer, {})
            out.reject(~empty & s.isin(existing.keys()).to_numpy(), lambda i: Issue("id_exists", {"value": s.iat[i], "origin": existing[s.iat[i]]}))
            typed[f.name] = s
        else:
            typed[f.name] = s
    if "data_status" in typed:
        typed["data_status"] = typed["data_status"].mask(typed["data_status"] == "", IMPORTED_LABEL)
    for name in ("county_code", "jurisdiction_code"):
        if name in typed:
            typed[name] = _resolve_jurisdictions(name, typed[name], typed.pop("city", None), ctx, out)
    if layer == "inventory":
        sid, material = values["stockpile_id"], values["material"]
        first = _first_of(sid + "\u0000" + material)
        dup = (first != np.arange(len(sid))) & (material != "").to_numpy()
        out.reject(dup, lambda i: Issue("duplicate_id", {"value": f"{sid.iat[i]} {material.iat[i]}", "first": int(rows[first[i]])}))
    return typed


def _resolve_jurisdictions(name: str, s: pd.Series, city: pd.Series | None, ctx: ImportContext, out: _Outcomes) -> pd.Series:
    """Codes for the codes or names in `s` (field `name`: 'county_code' takes counties only).

    A county name several counties share is narrowed by `city` (a city name or code), and
    when still ambiguous left to the position (`_Outcomes.ambiguous`, settled in `_check_points`).
    """
    names = ctx.jurisdiction_names
    county = name == "county_code"
    codes = np.full(len(s), "", dtype=object)
    cache: dict[tuple[str, str], tuple[list[str], list[str], set[str]]] = {}
    city_values = city.to_numpy(dtype=object) if city is not None else np.full(len(s), "", dtype=object)
    for i, (value, where) in enumerate(zip(s.to_numpy(dtype=object), city_values, strict=True)):
        if not value:
            continue
        key = (value, where)
        if key not in cache:
            found = names.candidates(value)
            wanted = [c for c in found if ctx.levels.get(c) == "county"] if county else found
            cities = set(names.candidates(where)) if where else set()
            if len(wanted) > 1 and cities:
                wanted = [c for c in wanted if cities & (names.ancestors(c) | {c})] or wanted
            cache[key] = (found, wanted, cities)
        found, wanted, cities = cache[key]
        if len(wanted) == 1:
            codes[i] = wanted[0]
            if where and county:
                if not cities:
                    out.notes.setdefault(i, []).append(Issue("city_unknown", {"value": where}))
                elif not cities & names.ancestors(wanted[0]):
                    out.notes.setdefault(i, []).append(Issue("city_mismatch", {"city": where, "county": names.label(wanted[0])}))
        elif len(wanted) > 1 and county:
            out.ambiguous[i] = wanted
        elif len(wanted) > 1:
            out.reasons.setdefault(i, []).append(Issue("ambiguous_name", {"field": name, "value": value, "candidates": "、".join(map(names.label, wanted))}))
        elif found:  # a city or province where a county is needed
            level = ctx.levels[found[0]]
            out.reasons.setdefault(i, []).append(Issue("not_county", {"field": name, "value": value, "level": level}))
        elif re.fullmatch(r"\d{6}", unicodedata.normalize("NFKC", value)):
            out.reasons.setdefault(i, []).append(Issue("unknown_code", {"field": name, "value": value}))
        else:
            out.reasons.setdefault(i, []).append(Issue("unknown_name", {"field": name, "value": value}))
    return pd.Series(codes, index=s.index, dtype=object)


def _cells(column: pd.Series, fmt: str) -> pd.Series:
    """A file column as stripped text; in CSV, the quote that escapes a formula-like cell is dropped."""
    s = column.astype(str)
    if fmt == "csv":
        s = s.str.replace(_ESCAPED, "", regex=True)
    return s.str.strip()


def _plain_text(value: object) -> str:
    return " ".join(unicodedata.normalize("NFKC", str(value)).split())


def _fill_ids(layer: str, typed: dict[str, pd.Series], rows: np.ndarray, ctx: ImportContext, out: _Outcomes, *,
              lon: np.ndarray | None, lat: np.ndarray | None, geoms: np.ndarray | None) -> pd.Series:
    """The ids, generated (`generated_id`) where the file gives none, and checked as given ids are.

    A point's id comes from its name and WGS84 position (1e-6 degrees, about 0.1 m), a
    closure's or a township's from its name and outline, a contact's from department,
    jurisdiction, unit, role and phone.  Rows that repeat an earlier row's content get its id
    and are rejected as duplicate rows; ids already in the store mean the row was imported before.
    """
    given = typed["id"].to_numpy(dtype=object)
    empty = given == ""
    if not empty.any():
        return typed["id"]
    n = len(given)
    if lon is not None and lat is not None:
        parts = [[_plain_text(name), f"{x:.6f}", f"{y:.6f}"] for name, x, y in zip(typed["name"], lon, lat, strict=True)]
    elif geoms is not None:
        wkt = [shapely.to_wkt(g, rounding_precision=7) if g is not None else "" for g in geoms]
        parts = [[_plain_text(name), w] for name, w in zip(typed["name"], wkt, strict=True)]
    else:
        keys = [k for k in ("department", "jurisdiction_code", "unit", "role", "duty_phone", "name") if k in typed]
        parts = [[_plain_text(typed[k].iat[i]) for k in keys] for i in range(n)]
    ids = np.array([generated_id(layer, p) if e else g for p, e, g in zip(parts, empty, given, strict=True)], dtype=object)
    first = _first_of(pd.Series(ids))
    repeat = empty & (first != np.arange(n))
    out.reject(repeat & empty[first], lambda i: Issue("duplicate_row", {"first": int(rows[first[i]])}))
    out.reject(repeat & ~empty[first], lambda i: Issue("duplicate_id", {"value": ids[i], "first": int(rows[first[i]])}))
    existing = ctx.ids.get(layer, {})
    known = empty & ~repeat & pd.Series(ids).isin(existing.keys()).to_numpy()
    out.reject(known, lambda i: Issue("row_exists", {"value": ids[i], "origin": existing[ids[i]]}))
    return pd.Series(ids, index=typed["id"].index, dtype=object)


def _region_box(ctx: ImportContext) -> tuple[float, float, float, float]:
    return ctx.locator.region.bounds


def _in_box(x: np.ndarray, y: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    minx, miny, maxx, maxy = box
    return (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy)


def _point_positions(raw: RawTable, layer: str, mapping: dict, values: dict[str, pd.Series], out: _Outcomes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, has position) per record, from the file's point geometry or the lon/lat columns (in the file's CRS)."""
    n = len(raw.frame)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    have = np.zeros(n, dtype=bool)
    if raw.geometry is not None:
        geoms = raw.geometry
        present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
        kind = shapely.get_type_id(geoms)
        single = present & (kind == 4) & (shapely.get_num_geometries(geoms) == 1)
        out.note(single, lambda i: Issue("single_multipoint"))
        pts = np.where(single, shapely.get_geometry(geoms, 0), geoms)
        point = present & ((kind == 0) | single)
        out.reject(present & ~point, lambda i: Issue("geometry_type", {"type": geoms[i].geom_type, "layer": layer, "expected": "Point"}))
        x[point] = shapely.get_x(pts[point])
        y[point] = shapely.get_y(pts[point])
        have = point.copy()
    if mapping.get("lon") and mapping.get("lat"):
        use = ~have & ~np.isin(np.arange(n), list(out.reasons))
        for name, target in (("lon", x), ("lat", y)):
            s = values[name]
            empty = (s == "").to_numpy()
            num = _numbers(s).to_numpy()
            out.reject(use & empty, lambda i: Issue("missing", {"field": name}))
            out.reject(use & ~empty & np.isnan(num), lambda i: Issue("bad_number", {"field": name, "value": s.iat[i]}))
            target[use] = num[use]
        have |= use & np.isfinite(x) & np.isfinite(y)
    lacking = ~have & ~np.isin(np.arange(n), list(out.reasons))
    out.reject(lacking, lambda i: Issue("no_geometry"))
    bad = have & ~(np.isfinite(x) & np.isfinite(y))
    out.reject(bad, lambda i: Issue("bad_geometry", {"detail": "coordinates are not finite numbers", "why": "not_finite"}))
    return x, y, have & ~bad


def _located_distance_m(points_lon: np.ndarray, points_lat: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Geodesic distance (metres) from each point to the nearest point of its polygon (0 inside)."""
    pts = shapely.points(points_lon, points_lat)
    lines = shapely.shortest_line(polygons, pts)
    a = shapely.get_point(lines, 0)
    b = shapely.get_point(lines, 1)
    _, _, dist = _GEOD.inv(shapely.get_x(a), shapely.get_y(a), shapely.get_x(b), shapely.get_y(b))
    return np.where(shapely.contains_xy(polygons, points_lon, points_lat), 0.0, np.asarray(dist))


def _check_points(raw: RawTable, layer: str, mapping: dict, values: dict[str, pd.Series], typed: dict[str, pd.Series],
                  ctx: ImportContext, crs: str, out: _Outcomes, warnings: list[Issue]) -> tuple[np.ndarray, np.ndarray]:
    """Positions to WGS84 with the swapped, region and county checks; fills in missing county codes."""
    n = len(raw.frame)
    x, y, have = _point_positions(raw, layer, mapping, values, out)
    box = _region_box(ctx)
    geographic = _is_geographic(crs)
    if geographic:
        swapped = have & ~_in_box(x, y, box) & _in_box(y, x, box)
        out.reject(swapped, lambda i: Issue("swapped", {"lon": x[i], "lat": y[i]}))
        if swapped.any():
            warnings.append(Issue("swapped_file", {"count": int(swapped.sum()), "total": int(have.sum())}))
        have &= ~swapped
        big = have & ((np.abs(x) > 180) | (np.abs(y) > 90))
        if big.sum() > have.sum() / 2:
            i = int(np.flatnonzero(big)[0])
            warnings.append(Issue("looks_projected", {"x": x[i], "y": y[i]}))
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    if have.any():
        lon[have], lat[have] = convert(x[have], y[have], crs)
    failed = have & ~(np.isfinite(lon) & np.isfinite(lat))
    out.reject(failed, lambda i: Issue("bad_transform", {"x": x[i], "y": y[i], "crs": crs}))
    have &= ~failed
    inside = np.zeros(n, dtype=bool)
    inside[have] = shapely.contains_xy(ctx.locator.region, lon[have], lat[have])
    outside = have & ~inside
    out.reject(outside, lambda i: Issue("outside_region", {"lon": round(lon[i], 6), "lat": round(lat[i], 6)}))
    if outside.sum() and outside.sum() >= have.sum() / 2:
        warnings.append(Issue("many_outside", {"count": int(outside.sum()), "total": int(have.sum())}))

    valid_stated, stated = _settle_counties(lon, lat, inside, values, typed, ctx, out, index=raw.frame.index)
    if crs in ("wgs84", "gcj02", "bd09"):
        _suspect_crs(x, y, inside & valid_stated, stated, crs, ctx, warnings)
    return lon, lat


def _settle_counties(lon: np.ndarray, lat: np.ndarray, inside: np.ndarray, values: dict[str, pd.Series], typed: dict[str, pd.Series],
                     ctx: ImportContext, out: _Outcomes, *, index: pd.Index) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The county of each record from its position (WGS84 `lon`, `lat`; only where `inside` the region).

    A county name several counties share is settled by the county the position lies in; a
    stated county is kept when the position lies in it or within `NEAR_COUNTY_M` of it (with a
    note), else the record is rejected; a missing county is derived from the position (with a
    note), or the record rejected when the position lies in no county.  Sets
    ``typed["county_code"]``; returns (whether a valid county was stated, the county codes).
    """
    n = len(lon)
    located = np.full(n, "", dtype=object)
    located[inside] = ctx.locator.locate(lon[inside], lat[inside])
    stated = typed.get("county_code", pd.Series([""] * n)).to_numpy(dtype=object).copy()
    # A county name several counties share: the county that contains the point, if it is one of them.
    for i, options in out.ambiguous.items():
        labels = "、".join(map(ctx.jurisdiction_names.label, options))
        if located[i] in options:
            stated[i] = located[i]
            out.notes.setdefault(i, []).append(Issue("county_by_position", {"value": values["county_code"].iat[i], "county": ctx.jurisdiction_names.label(located[i])}))
        else:
            out.reasons.setdefault(i, []).append(Issue("ambiguous_name", {"field": "county_code", "value": values["county_code"].iat[i], "candidates": labels}))
    valid_stated = np.array([ctx.levels.get(c) == "county" for c in stated], dtype=bool)
    derive = inside & (stated == "") & ~np.isin(np.arange(n), list(out.ambiguous))
    out.reject(derive & (located == ""), lambda i: Issue("no_county", {"lon": round(lon[i], 6), "lat": round(lat[i], 6)}))
    out.note(derive & (located != ""), lambda i: Issue("county_derived", {"name": ctx.names.get(located[i], ""), "code": located[i]}))
    stated = np.where(derive, located, stated)
    off = np.flatnonzero(inside & valid_stated & (located != stated))
    if len(off):
        position = {code: k for k, code in enumerate(ctx.locator.codes)}
        polygons = ctx.locator.geoms[[position[c] for c in stated[off]]]
        dist = _located_distance_m(lon[off], lat[off], polygons)
        for i, d in zip(off.tolist(), dist, strict=True):
            label = f"{ctx.names[stated[i]]} {stated[i]}"
            if d <= NEAR_COUNTY_M:
                out.notes.setdefault(i, []).append(Issue("near_county", {"distance_m": f"{d:.0f}", "stated": label, "limit_m": f"{NEAR_COUNTY_M:.0f}"}))
            else:
                found = f"{ctx.names.get(located[i], '?')} {located[i]}" if located[i] else "no county"
                out.reasons.setdefault(i, []).append(
                    Issue("outside_county", {"lon": round(lon[i], 6), "lat": round(lat[i], 6), "found": found, "distance_km": f"{d / 1000:.1f}", "stated": label})
                )
    typed["county_code"] = pd.Series(stated, index=index, dtype=object)
    return valid_stated, stated


def _suspect_crs(x, y, usable: np.ndarray, stated: np.ndarray, crs: str, ctx: ImportContext, warnings: list[Issue]) -> None:
    """Warn when another of WGS84 / GCJ-02 / BD-09 puts far more points in their stated county."""
    idx = np.flatnonzero(usable)[:_CRS_SAMPLE]
    if len(idx) < 3:
        return
    misses = {}
    for name in ("wgs84", "gcj02", "bd09"):
        lon, lat = convert(x[idx], y[idx], name)
        misses[name] = int((ctx.locator.locate(lon, lat) != stated[idx]).sum())
    best = min(misses, key=misses.get)
    if best != crs and misses[crs] >= 3 and misses[best] * 3 <= misses[crs]:
        warnings.append(Issue("crs_suspected", {"n_declared": misses[crs], "total": len(idx), "declared": crs, "n_best": misses[best], "best": best}))


def _check_polygons(raw: RawTable, mapping: dict, values: dict[str, pd.Series], ctx: ImportContext, crs: str,
                    out: _Outcomes, warnings: list[Issue], *, layer: str = "closures") -> np.ndarray:
    """Polygons of `layer` (closures, townships) to WGS84: from the file's geometry or WKT; invalid ones repaired (or rejected)."""
    n = len(raw.frame)
    geoms = np.empty(n, dtype=object)
    geoms[:] = None
    if raw.geometry is not None:
        geoms[:] = raw.geometry
    if mapping.get("wkt"):
        s = values["wkt"]
        use = shapely.is_missing(geoms) & (s != "").to_numpy()
        with np.errstate(all="ignore"):
            parsed = shapely.from_wkt(np.where(use, s.to_numpy(dtype=object), None), on_invalid="ignore")
        out.reject(use & shapely.is_missing(parsed), lambda i: Issue("bad_geometry", {"detail": "not WKT", "why": "not_wkt"}))
        geoms = np.where(use, parsed, geoms)
    missing = shapely.is_missing(geoms)
    out.reject(missing & ~np.isin(np.arange(n), list(out.reasons)), lambda i: Issue("no_geometry"))
    present = ~missing
    kind = np.where(present, shapely.get_type_id(geoms), -1)
    polygonal = present & np.isin(kind, (3, 6))
    out.reject(present & ~polygonal, lambda i: Issue("geometry_type", {"type": geoms[i].geom_type, "layer": layer, "expected": "Polygon or MultiPolygon"}))
    empty = polygonal & shapely.is_empty(np.where(polygonal, geoms, shapely.Point()))
    out.reject(empty, lambda i: Issue("bad_geometry", {"detail": "empty", "why": "empty"}))
    polygonal &= ~empty
    nonfinite = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(polygonal):
        nonfinite[i] = not np.isfinite(shapely.get_coordinates(geoms[i])).all()
    out.reject(nonfinite, lambda i: Issue("bad_geometry", {"detail": "coordinates are not finite numbers", "why": "not_finite"}))
    polygonal &= ~nonfinite
    box = _region_box(ctx)
    if _is_geographic(crs) and polygonal.any():
        cx = np.full(n, np.nan)
        cy = np.full(n, np.nan)
        bounds = shapely.bounds(geoms[polygonal])
        cx[polygonal] = (bounds[:, 0] + bounds[:, 2]) / 2
        cy[polygonal] = (bounds[:, 1] + bounds[:, 3]) / 2
        swapped = polygonal & ~_in_box(cx, cy, box) & _in_box(cy, cx, box)
        out.reject(swapped, lambda i: Issue("swapped", {"lon": cx[i], "lat": cy[i]}))
        if swapped.any():
            warnings.append(Issue("swapped_file", {"count": int(swapped.sum()), "total": int(polygonal.sum())}))
        polygonal &= ~swapped
    result = np.empty(n, dtype=object)
    result[:] = None
    if polygonal.any():
        result[polygonal] = transform_geometry(geoms[polygonal], lambda lon, lat: convert(lon, lat, crs))
    invalid = polygonal & ~shapely.is_valid(np.where(polygonal, result, shapely.Point()))
    for i in np.flatnonzero(invalid):
        reason = shapely.is_valid_reason(result[i])
        parts = [p for p in shapely.get_parts(shapely.make_valid(result[i])) if p.geom_type in ("Polygon", "MultiPolygon")]
        repaired = shapely.union_all(parts) if parts else None
        if repaired is None or repaired.is_empty or repaired.area == 0:
            out.reasons.setdefault(int(i), []).append(Issue("bad_geometry", {"detail": reason}))
            polygonal[i] = False
        else:
            result[i] = repaired
            out.notes.setdefault(int(i), []).append(Issue("geometry_repaired", {"detail": reason}))
    hits = np.zeros(n, dtype=bool)
    hits[polygonal] = shapely.intersects(ctx.locator.region, result[polygonal])
    out.reject(polygonal & ~hits, lambda i: Issue("outside_region", {"lon": round(shapely.centroid(result[i]).x, 6), "lat": round(shapely.centroid(result[i]).y, 6)}))
    return result


def _township_counties(geoms: np.ndarray, values: dict[str, pd.Series], typed: dict[str, pd.Series], ctx: ImportContext, out: _Outcomes) -> None:
    """Each township's county from a point inside its polygon (`shapely.point_on_surface`), as for a point (`_settle_counties`).

    The point, not the overlap: a township belongs to one county, and its outline (from OSM,
    say) may cross the dataset's county borders by a few metres where the two sources differ.
    """
    n = len(geoms)
    have = ~shapely.is_missing(geoms)
    have[have] = shapely.is_valid(geoms[have])  # an outline that could not be repaired is rejected already
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    if have.any():
        inner = shapely.point_on_surface(geoms[have])
        lon[have], lat[have] = shapely.get_x(inner), shapely.get_y(inner)
    have &= np.isfinite(lon) & np.isfinite(lat)
    inside = np.zeros(n, dtype=bool)
    inside[have] = shapely.intersects(ctx.locator.region, geoms[have])  # the others are rejected as outside_region
    _settle_counties(lon, lat, inside, values, typed, ctx, out, index=typed["name"].index)


def _township_codes(typed: dict[str, pd.Series], rows: np.ndarray, ctx: ImportContext, out: _Outcomes) -> None:
    """Township codes given once: a code repeated in the file or already in the store is rejected; a township without one takes its id.

    A code read as a decimal number (a Shapefile's numeric field: '310101002000.0') is taken without its '.0'.
    """
    ids, given = typed["id"], typed["code"].str.replace(r"^(\d+)\.0$", r"\1", regex=True)
    n = len(ids)
    has = (given != "").to_numpy()
    # Rows already refused for their id (a repeated row, an id in the store) are not refused again for its code.
    repeat_id = _first_of(ids) != np.arange(n)
    known_id = ids.isin(ctx.ids.get("townships", {}).keys()).to_numpy()
    first = _first_of(given)
    out.reject(has & ~repeat_id & (first != np.arange(n)), lambda i: Issue("duplicate_code", {"value": given.iat[i], "first": int(rows[first[i]])}))
    existing = ctx.township_codes
    out.reject(has & ~known_id & given.isin(existing.keys()).to_numpy(), lambda i: Issue("code_exists", {"value": given.iat[i], "origin": existing[given.iat[i]]}))
    typed["code"] = given.mask(~has, ids)


def validate(raw: RawTable, layer: str, mapping: Mapping[str, str | None], ctx: ImportContext, *, crs: str = "auto") -> ImportReport:
    """Check every row of `raw` for `layer` with `mapping` (field -> column); nothing is written.

    Parameters
    ----------
    crs : str
        'auto' (the file's CRS, else WGS84 with a warning), 'wgs84', 'cgcs2000', 'gcj02',
        'bd09' or 'EPSG:<code>'; a declared CRS overrides the file's, with a warning.

    Raises
    ------
    ImportRejected
        When the mapping leaves a required field without a column, names a column the file
        lacks, or uses one column twice.
    ValueError
        For an unknown `layer` or `crs`.
    """
    if layer not in IMPORT_LAYERS:
        msg = f"`layer` was {layer!r} but is expected to be in {IMPORT_LAYERS}."
        raise ValueError(msg)
    crs_used, crs_from, warnings = _resolve_crs(crs, raw.crs)
    chosen, more = _check_mapping(raw, layer, mapping)
    warnings = [*raw.warnings, *more] + (warnings if layer not in TABLE_LAYERS else [])
    n = len(raw.frame)
    frame = raw.frame.reset_index(drop=True)
    values = {name: (_cells(frame[col], raw.format) if col else pd.Series([""] * n, dtype=object)) for name, col in chosen.items()}
    out = _Outcomes(n)
    for i, issue in raw.row_errors.items():
        out.reasons.setdefault(i, []).append(issue)
    typed = _check_values(layer, values, raw.rows, ctx, out)
    accepted_cols = columns(layer)
    lon = lat = geoms = None
    if layer in POINT_LAYERS:
        lon, lat = _check_points(raw, layer, chosen, values, typed, ctx, crs_used, out, warnings)
        typed["lon"], typed["lat"] = pd.Series(lon), pd.Series(lat)
    elif layer in POLYGON_LAYERS:
        geoms = _check_polygons(raw, chosen, values, ctx, crs_used, out, warnings, layer=layer)
        if layer == "townships":
            _township_counties(geoms, values, typed, ctx, out)
    if "id" in typed:
        typed["id"] = _fill_ids(layer, typed, raw.rows, ctx, out, lon=lon, lat=lat, geoms=geoms)
    if layer == "townships":
        _township_codes(typed, raw.rows, ctx, out)
    ok = out.ok()
    if "members" in values:
        unknown = ok & (values["members"] == "").to_numpy()
        if unknown.any():
            warnings.append(Issue("members_unknown", {"count": int(unknown.sum()), "total": int(ok.sum())}))
    data = pd.DataFrame({c: typed[c][ok].reset_index(drop=True) for c in accepted_cols if c in typed})
    if layer in POINT_LAYERS:
        add_jurisdiction_columns(data, ctx.names)
        data["geom_wkb"] = shapely.to_wkb(shapely.points(data["lon"].to_numpy(), data["lat"].to_numpy()))
    elif layer in POLYGON_LAYERS:
        if layer == "townships":
            add_jurisdiction_columns(data, ctx.names)
        data["geom_wkb"] = shapely.to_wkb(geoms[ok]) if ok.any() else pd.Series(dtype=object)
    ids = typed["id"] if "id" in typed else values.get("stockpile_id", pd.Series([""] * n))
    rows = pd.DataFrame({"row": raw.rows.astype(int), "id": ids.to_numpy(dtype=object), "status": np.where(ok, "accepted", "rejected")})
    accepted = data[accepted_cols + (["geom_wkb"] if "geom_wkb" in data else [])]
    return ImportReport(
        layer=layer, file_name=raw.file_name, format=raw.format, encoding=raw.encoding, crs=crs_used if layer not in TABLE_LAYERS else "",
        crs_from=crs_from if layer not in TABLE_LAYERS else "", source=raw.source, mapping=chosen, rows=rows,
        reasons=dict(sorted(out.reasons.items())), notes=dict(sorted(out.notes.items())), warnings=warnings, accepted=accepted,
        jurisdictions=jurisdictions_of(layer, accepted, ctx),
    )


# ---- commit ---------------------------------------------------------------------------------


def new_import_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique import id: ``imp-YYYYMMDD-HHMMSS-xxxxxx``."""
    return f"imp-{(now or dt.datetime.now()):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def jurisdictions_of(layer: str, records: pd.DataFrame, ctx: ImportContext) -> list[tuple[str, ...]]:
    """Per record of `layer`, the jurisdiction codes that decide who may import, edit or remove it.

    Point layers and townships: the record's county (``county_code``; a township's is the
    county of a point inside it, never every county its outline overlaps: OSM and the
    dataset's borders differ by metres); contacts: its ``jurisdiction_code`` (a county, city
    or province); inventory: the county of its stockpile (``ctx.stockpiles``); closures: every
    county its polygon overlaps (touching a border only does not count).
    An empty tuple: the record has no known jurisdiction (e.g. its stockpile is gone).
    `records` has the layer's columns and, for closures, ``geom_wkb`` (WKB) or a geometry column.
    """
    n = len(records)
    if layer in POINT_LAYERS or layer in ("contacts", "townships"):
        column = "jurisdiction_code" if layer == "contacts" else "county_code"
        return [(str(c),) if isinstance(c, str) and c else () for c in records[column].to_numpy(dtype=object)]
    if layer == "inventory":
        return [(ctx.stockpiles[s],) if ctx.stockpiles.get(s) else () for s in records["stockpile_id"].astype(str)]
    if layer in POLYGON_LAYERS:
        if "geom_wkb" in records:
            geoms = shapely.from_wkb(records["geom_wkb"].to_numpy())
        else:
            geoms = np.asarray(records.geometry.values, dtype=object) if n else np.empty(0, dtype=object)
        out: list[set[str]] = [set() for _ in range(n)]
        if n:
            shapes, counties = ctx.locator.tree.query(geoms, predicate="intersects")
            inner = ~shapely.touches(geoms[shapes], ctx.locator.geoms[counties])
            for i, k in zip(shapes[inner].tolist(), counties[inner].tolist(), strict=True):
                out[i].add(str(ctx.locator.codes[k]))
        return [tuple(sorted(c)) for c in out]
    msg = f"`layer` was {layer!r} but is expected to be in {IMPORT_LAYERS}."
    raise ValueError(msg)



def _codes(jurisdictions: Sequence[tuple[str, ...]], *, layer: str) -> list[str]:
    """The distinct codes of `jurisdictions`; `ImportRejected` 'no_jurisdiction' when a record has none."""
    missing = sum(1 for codes in jurisdictions if not codes)
    if missing:
        raise ImportRejected("no_jurisdiction", count=missing, total=len(jurisdictions), layer=layer)
    return sorted({c for codes in jurisdictions for c in codes})


def _require(session: Session, action: str, jurisdictions: Sequence[tuple[str, ...]], *, layer: str, accounts: Accounts, now: dt.datetime) -> None:
    """Raise unless the (checked) `session` may do `action` on records of these `jurisdictions`:
    `ImportRejected` 'no_jurisdiction', or `Refused` (audited by `Accounts.require`)."""
    accounts.require(session.actor, action, now=now, codes=_codes(jurisdictions, layer=layer))


def commit(report: ImportReport, workspace, *, by: Session, accounts: Accounts | None = None, mode: str = "all", source: str = "",
           licence: str = "", real: bool = True, now: dt.datetime | None = None) -> str:  # fmt: skip
    """Write the accepted rows of `report` into `workspace` in one transaction; return the import id.

    Parameters
    ----------
    by : Session
        The signed-in account that imports (`Accounts.authenticate`): checked at `now`, and
        allowed ``layer.import`` only for records within its jurisdiction (a data
        administrator's county, city or province).  Its username is recorded as ``who``.
    accounts : Accounts, optional
        The accounts of `workspace` (a process shares one); default a new `Accounts(workspace)`.
    mode : str
        'all': refuse the file if any row was rejected; 'valid': write the accepted rows.
    source, licence : str
        Provenance: where the data comes from and under which licence.
    now : datetime, optional
        Beijing time (naive) of the session check; default now.

    Raises
    ------
    TypeError
        When `by` is not a `Session`.
    data.accounts.accounts.AuthError
        When the session has ended (expired, disabled, password to change).
    data.accounts.accounts.Refused
        When the permission table refuses (no data administrator, or a record outside the
        account's jurisdiction); the refusal is audited, nothing is written.
    ImportRejected
        When nothing may be written (a rejected row in 'all' mode, no valid row, a record of
        no jurisdiction); the workspace is unchanged and `report.error` says why.
    data.workspace.WorkspaceError
        When the write fails; the transaction is rolled back.
    """
    if mode not in MODES:
        msg = f"`mode` was {mode!r} but is expected to be in {MODES}."
        raise ValueError(msg)
    now = now or now_beijing()
    accounts = accounts if accounts is not None else Accounts(workspace)
    session = accounts.check(session_of(by), now=now)
    if len(report.jurisdictions) != len(report.accepted):
        msg = f"`report.jurisdictions` has {len(report.jurisdictions)} entries for {len(report.accepted)} accepted records; make the report with `validate`."
        raise ValueError(msg)
    report.mode = mode
    report.error = None
    if report.n_accepted == 0:
        report.error = Issue("nothing_valid", {"total": report.total})
    elif mode == "all" and report.n_rejected:
        report.error = Issue("all_or_nothing", {"rejected": report.n_rejected, "total": report.total})
    if report.error:
        raise ImportRejected(report.error.code, **report.error.params)
    try:
        _require(session, "layer.import", report.jurisdictions, layer=report.layer, accounts=accounts, now=now)
    except ImportRejected as exc:
        report.error = exc.issue
        raise
    import_id = new_import_id()
    record = {
        "import_id": import_id, "layer": report.layer, "file_name": report.file_name, "format": report.format,
        "crs": report.crs or "", "encoding": report.encoding or "", "mode": mode, "who": session.account.username,
        "imported_at": dt.datetime.now().replace(microsecond=0), "rows_total": report.total,
        "rows_accepted": report.n_accepted, "rows_rejected": report.n_rejected,
        "source": source.strip(), "licence": licence.strip(), "real": bool(real),
    }
    workspace.commit(report.layer, report.accepted, record)
    report.committed = True
    report.import_id = import_id
    return import_id


def remove(workspace, import_id: str, *, by: Session, context: ImportContext, accounts: Accounts | None = None, now: dt.datetime | None = None) -> int:
    """Remove one import (its records and provenance) from `workspace` in one transaction; return the records removed.

    `by` must be allowed ``layer.edit`` on every record of the import (`jurisdictions_of`,
    with `context` for the counties of stockpiles and closures): a data administrator whose
    jurisdiction contains them.  `Workspace.remove` is the storage step without this check.

    Raises
    ------
    TypeError, AuthError, Refused
        As `commit` (a refusal is audited; nothing is removed).
    ImportRejected
        'no_jurisdiction' when a record's jurisdiction is unknown (an inventory row whose
        stockpile was removed); nothing is removed.
    ValueError
        When `import_id` is not an import of `workspace`.
    """
    now = now or now_beijing()
    accounts = accounts if accounts is not None else Accounts(workspace)
    session = accounts.check(session_of(by), now=now)
    found = workspace.query("SELECT layer FROM imports WHERE import_id = ?", [import_id])
    if found.empty:
        msg = f"`import_id` was {import_id!r}, which is not an import of workspace {workspace.path}."
        raise ValueError(msg)
    layer = str(found["layer"].iloc[0])
    records = workspace.layer(layer)
    records = records[records["origin"] == import_id]
    _require(session, "layer.edit", jurisdictions_of(layer, records, context), layer=layer, accounts=accounts, now=now)
    n = workspace.remove(import_id)
    log.info("imports: %s removed import %s (%s records of %s)", session.account.username, import_id, f"{n:,}", layer)
    return n


def import_file(path: str | Path, layer: str, *, store, workspace, by: Session, accounts: Accounts | None = None, crs: str = "auto",
                mode: str = "all", encoding: str = "auto", sheet: str | None = None, mapping: Mapping[str, str | None] | None = None,
                source: str = "", licence: str = "", locator: CountyLocator | None = None) -> ImportReport:  # fmt: skip
    """Read, check and commit one file into `workspace` by session `by`, checked against `store` (the CLI and benchmarks use this).

    `mapping` overrides the suggested one field by field.  A file refused before its rows
    are checked raises `ImportRejected`; a commit that is refused (all-or-nothing, nothing
    valid, a record of no jurisdiction) returns the report with `error` set and nothing
    written.  A refusal of the account (`AuthError`, `Refused`; see `commit`) is raised.
    """
    raw = read_path(path, encoding=encoding, source=sheet, prefer=layer)
    chosen = {**suggest_mapping(raw.columns, layer, has_geometry=raw.has_geometry), **(mapping or {})}
    report = validate(raw, layer, chosen, ImportContext.from_store(store, locator=locator), crs=crs)
    try:
        commit(report, workspace, by=by, accounts=accounts, mode=mode, source=source or f"file {Path(path).name}", licence=licence)
    except ImportRejected:
        pass  # report.error says why
    return report
