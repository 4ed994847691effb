"""What can be wrong with an imported file or row: issue codes, their English messages, and `ImportRejected`.

An `Issue` is a code plus parameters.  The English message (used by the CLI and the JSON
report) is formatted here; the page shows the same issue in Chinese or English from the
label ``imp.issue.<code>`` in `layers/labels.py`, with the same parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: code -> English message template (parameters in braces).
MESSAGES: dict[str, str] = {
    # whole file: the import stops
    "too_large": "the file is {size_mb} MB; the limit is {limit_mb} MB. Split it into smaller files.",
    "empty": "the file holds no data rows.",
    "unknown_format": "cannot tell the format of {name}; use CSV, XLSX, GeoJSON, GeoPackage (.gpkg) or a zipped Shapefile (.zip).",
    "bad_file": "the {format} file cannot be read: {detail}",
    "zip_unsafe": "archive member {name!r} would unpack outside its folder (absolute path, '..' or a link); the archive is refused.",
    "zip_members": "the archive has {count} members; the limit is {limit}.",
    "zip_size": "the archive unpacks to {size_mb} MB; the limit is {limit_mb} MB.",
    "zip_encrypted": "archive member {name!r} is password-protected; unpack it and upload the files without a password.",
    "zip_no_data": "the archive holds no Shapefile (.shp), GeoPackage, GeoJSON, CSV or XLSX file.",
    "zip_shp_parts": "Shapefile {name!r} lacks its {missing} part(s) in the archive.",
    "no_source": "{kind} {name!r} is not in the file; it has {available}.",
    "mapping_missing": "required field `{field}` is not mapped to a column of the file.",
    "mapping_column": "column {column!r} (mapped to `{field}`) is not in the file.",
    "mapping_twice": "column {column!r} is mapped to both `{field}` and `{other}`.",
    "all_or_nothing": "{rejected} of {total} rows were rejected; in all-or-nothing mode nothing is imported. Fix those rows, or choose to accept the valid rows.",
    "nothing_valid": "none of the {total} rows is valid; nothing was imported.",
    "no_jurisdiction": "{count} of {total} records of {layer} belong to no known jurisdiction (county, city or province), so nobody may be allowed to write them; nothing was written.",
    # one row: rejected
    "field_count": "the row has {count} fields, the header {expected}.",
    "missing": "`{field}` is empty.",
    "too_long": "`{field}` is longer than {limit} characters.",
    "bad_number": "`{field}` was {value!r}, not a number.",
    "bad_integer": "`{field}` was {value!r}, not a whole number.",
    "negative": "`{field}` was {value!r}; it must not be negative.",
    "not_positive": "`{field}` was {value!r}; it must be more than 0.",
    "bad_department": "`department` was {value!r}; expected one of {allowed} (or their Chinese names, e.g. 应急管理, 消防救援).",
    "unknown_code": "unknown jurisdiction code `{field}`={value!r}; use a 6-digit code of the four provinces.",
    "not_county": "`{field}`={value!r} is a {level} code; a county (区县) code is needed.",
    "duplicate_id": "duplicate id {value!r} (first at row {first}).",
    "id_exists": "id {value!r} is already in the store ({origin}).",
    "duplicate_row": "the same name and position as row {first}: a repeated row (no id given, so both would get the same id).",
    "row_exists": "a record with the same name and position is already in the store ({origin}, id {value}): this row was imported before.",
    "duplicate_code": "township code {value!r} is given again (first at row {first}); each township once.",
    "code_exists": "township code {value!r} is already in the store (import {origin}); remove that import first to replace the township.",
    "unknown_name": "`{field}`={value!r} is no jurisdiction of the four provinces; write its name (e.g. 嘉善县) or its 6-digit code.",
    "ambiguous_name": "`{field}`={value!r} may be {candidates}; add a city column or write the city with it (e.g. 南京市鼓楼区), or use the code.",
    "unknown_ref": "`{field}`={value!r} is not a record of layer {target} in the store.",
    "swapped": "lon/lat look swapped (lon={lon}, lat={lat}); map the longitude column to `lon`.",
    "outside_region": "position ({lon}, {lat}) is outside Shanghai, Jiangsu, Zhejiang and Anhui.",
    "outside_county": "position ({lon}, {lat}) lies in {found}, {distance_km} km from the stated county {stated}.",
    "no_county": "position ({lon}, {lat}) is in no county of the dataset (at sea or on a border gap).",
    "no_geometry": "no position: the geometry is empty and no lon/lat columns are mapped.",
    "geometry_type": "the geometry is a {type}; layer {layer} takes {expected}.",
    "bad_geometry": "the geometry is invalid and could not be repaired ({detail}).",
    "bad_transform": "the position ({x}, {y}) could not be converted from {crs}.",
    # one row: accepted, with a note
    "county_derived": "county derived from the position: {name} {code}.",
    "near_county": "the position lies {distance_m} m outside its stated county {stated} (accepted: within {limit_m} m).",
    "geometry_repaired": "the geometry was invalid ({detail}) and has been repaired.",
    "single_multipoint": "a MultiPoint of one point, taken as that point.",
    "value_unknown": "`{field}`={value!r} is not a known value ({allowed}); kept as text.",
    "county_by_position": "county {value!r} is the name of several counties; the position lies in {county}, which is taken.",
    "city_mismatch": "the county {county} is not in the stated city {city!r}; the county is kept.",
    "city_unknown": "the city {value!r} is no city of the four provinces; it is not used.",
    # whole file: warnings shown before committing
    "encoding_replaced": "{count} characters could not be read as {encoding} and show as �; choose another encoding.",
    "header_skipped": "{count} row(s) above the header were skipped (title rows).",
    "header_renamed": "empty or repeated column names were renamed: {columns}.",
    "empty_rows": "{count} empty row(s) were skipped.",
    "unmapped_columns": "these columns are not imported: {columns}.",
    "members_unknown": "{count} of {total} valid rows give no head count (`members`); it stays unknown (shown as —), not 0.",
    "swapped_file": "{count} of {total} positions look like lon/lat swapped; swap the columns mapped to `lon` and `lat`.",
    "crs_suspected": "{n_declared} of {total} points lie outside their stated county as {declared}, only {n_best} as {best}: the file looks like {best} coordinates; declare {best}.",
    "looks_projected": "the coordinates look like metres (x={x}, y={y}); declare the projected CRS (EPSG code).",
    "many_outside": "{count} of {total} positions are outside the four provinces.",
    "crs_override": "the file says its CRS is {file_crs}; you declared {declared}, which is used.",
    "crs_assumed": "the file does not state its CRS; WGS84 (EPSG:4326) is assumed. Declare GCJ-02 (Amap), BD-09 (Baidu) or an EPSG code if it is another.",
    "gdal": "GDAL: {detail}",
}


@dataclass
class Issue:
    """One finding about a file or a row: a `code` of `MESSAGES` and its parameters."""

    code: str
    params: dict[str, object] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """The English message."""
        return MESSAGES[self.code].format(**self.params)

    def to_dict(self) -> dict:
        """JSON-ready: code, parameters (as text) and message."""
        return {"code": self.code, **{k: _plain(v) for k, v in self.params.items()}, "message": self.message}


def _plain(value: object) -> object:
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


class ImportRejected(ValueError):
    """The file (or the whole import) is refused; nothing is written.  `issue` says why."""

    def __init__(self, code: str, **params: object):
        self.issue = Issue(code, params)
        super().__init__(self.issue.message)
