"""Build the files users upload (CSV in several encodings, XLSX, zips, zipped Shapefiles) for import tests."""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd

#: Chinese headers a department's team list might have (编号 … 队员人数).
TEAM_HEADERS_ZH = ["编号", "队伍名称", "类别", "责任部门", "权属单位", "区县代码", "经度", "纬度", "队员人数"]


def csv_bytes(rows: list[list[object]], *, encoding: str = "utf-8", bom: bool = False, delimiter: str = ",") -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode(encoding)


def xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def shapefile_zip(gdf: gpd.GeoDataFrame, *, encoding: str = "UTF-8", cpg: bool = True, folder: str = "") -> bytes:
    """A zipped Shapefile of `gdf`; without `cpg` the .dbf has no code-page file (as many Chinese files)."""
    import pyogrio

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "layer.shp"
        pyogrio.write_dataframe(gdf, path, encoding=encoding)
        members = {}
        for part in sorted(Path(tmp).iterdir()):
            if part.suffix == ".cpg" and not cpg:
                continue
            members[folder + part.name] = part.read_bytes()
    return zip_bytes(members)


def team_rows(store, n: int, *, prefix: str = "U") -> pd.DataFrame:
    """`n` new teams (ids `prefix`0001…) at the positions of real sample teams, with their counties (WGS84)."""
    base = store.layer("teams")
    base = base[base["origin"] == "base"]
    rows = base.iloc[[i % len(base) for i in range(n)]].reset_index(drop=True)
    return pd.DataFrame(
        {
            "id": [f"{prefix}{i:04d}" for i in range(1, n + 1)],
            "name": [f"测试队{i}" for i in range(1, n + 1)],
            "kind": rows["kind"],
            "department": rows["department"],
            "owner": rows["owner"],
            "county_code": rows["county_code"],
            "lon": rows["lon"],
            "lat": rows["lat"],
            "members": [10 + i for i in range(n)],
        }
    )
