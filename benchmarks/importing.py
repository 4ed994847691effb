"""Importing users' data: 100,000 points from CSV (read, check, commit, one transaction) and peak memory.

Imports are made by a signed-in data administrator within their jurisdiction, so the points lie
in one province (江苏省 320000, the largest) and a data administrator of that province commits them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"import_s": 10.0}
ROWS = 100_000
#: The province the points lie in, and its data administrator's account.
PROVINCE = "320000"
ADMIN, PASSWORD = "bench_admin", "benchmark-password-1"


def points_csv(store, path: Path, *, n: int = ROWS, crs: str = "wgs84", seed: int = 1, province: str = PROVINCE) -> Path:
    """`n` teams at random positions inside `province`, as a department's CSV (UTF-8, Chinese
    headers); half state their county, half leave it to be derived from the position."""
    from data.dataset.build import CountyLocator
    from geo.crs import wgs84_to_bd09, wgs84_to_gcj02

    jur = store.jurisdictions(detail="full")
    locator = CountyLocator(jur)
    area = jur.set_index("code").at[province, "geometry"]
    shapely.prepare(area)
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = area.bounds
    lon, lat = np.empty(0), np.empty(0)
    while len(lon) < n:
        x, y = rng.uniform(minx, maxx, 2 * n), rng.uniform(miny, maxy, 2 * n)
        inside = shapely.contains_xy(area, x, y)
        lon, lat = np.concatenate([lon, x[inside]]), np.concatenate([lat, y[inside]])
    lon, lat = lon[:n], lat[:n]
    county = locator.locate(lon, lat)
    keep = county != ""
    lon, lat, county = lon[keep], lat[keep], county[keep]
    if crs != "wgs84":
        lon, lat = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}[crs](lon, lat)
    m = len(lon)
    depts = np.array(["应急管理局", "消防救援支队", "水务局", "交通运输局"])
    frame = pd.DataFrame(
        {
            "编号": [f"B{i:06d}" for i in range(m)],
            "队伍名称": [f"基准测试队{i}" for i in range(m)],
            "类别": "专业救援队伍",
            "责任部门": depts[np.arange(m) % len(depts)],
            "权属单位": "基准测试单位",
            "区县代码": np.where(np.arange(m) % 2 == 0, county, ""),
            "经度": lon,
            "纬度": lat,
            "队员人数": 5 + np.arange(m) % 50,
        }
    )
    frame.to_csv(path, index=False, encoding="utf-8")
    return path


def data_admin(ws):
    """(accounts, session) of the province's data administrator in workspace `ws`, made as a site makes it
    (the first system administrator, then the account, its first sign-in and password change)."""
    from argon2 import PasswordHasher

    from data.accounts.accounts import Accounts

    accounts = Accounts(ws, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))  # setting up is not measured
    accounts.bootstrap(username="bench_root", display_name="基准测试系统管理员", department="emergency", jurisdiction=PROVINCE, roles=["sysadmin"],
                       password=PASSWORD, by="benchmark", must_change=False)  # fmt: skip
    root = accounts.authenticate("bench_root", PASSWORD)
    accounts.create(root, username=ADMIN, display_name="基准测试数据管理员", department="natural_resources", jurisdiction=PROVINCE, roles=["data_admin"],
                    password=PASSWORD + "0")  # fmt: skip
    session = accounts.change_password(accounts.authenticate(ADMIN, PASSWORD + "0"), PASSWORD + "0", PASSWORD)
    return accounts, session


def _in_process(dataset: Path, csv: Path, workspace: Path, crs: str) -> dict:
    from data.imports.fields import suggest_mapping
    from data.imports.importers import ImportContext, commit, validate
    from data.imports.readers import read_path
    from data.dataset.store import Store
    from data.storage.workspace import Workspace

    out: dict = {}
    with Workspace(workspace) as ws, Store(dataset, workspace=ws) as st:
        accounts, me = data_admin(ws)
        t = time.perf_counter()
        raw = read_path(csv)
        out["read_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ctx = ImportContext.from_store(st)
        out["context_s"] = time.perf_counter() - t
        t = time.perf_counter()
        report = validate(raw, "teams", suggest_mapping(raw.columns, "teams"), ctx, crs=crs)
        out["validate_s"] = time.perf_counter() - t
        t = time.perf_counter()
        commit(report, ws, mode="all", by=me, accounts=accounts)
        out["commit_s"] = time.perf_counter() - t
        out["import_s"] = out["read_s"] + out["context_s"] + out["validate_s"] + out["commit_s"]
        out["rows"] = report.total
        out["accepted"] = report.n_imported
        t = time.perf_counter()
        teams = st.layer("teams")
        out["store_read_s"] = time.perf_counter() - t
        out["store_rows"] = len(teams)
        t = time.perf_counter()
        out["report_json_mb"] = len(report.to_json().encode()) / 2**20
        out["report_json_s"] = time.perf_counter() - t
    return out


# Peak memory from VmHWM (this process's own address space), not getrusage's ru_maxrss: Linux carries
# ru_maxrss across exec, so a child started from this big benchmark process would report the
# parent's peak (3.1 GB was reported that way for a CLI run that peaks at about 0.7 GB).
_CHILD = """
import json, re, sys, time
t = time.perf_counter()
from data.__main__ import main
rc = main(sys.argv[1:])
hwm = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
print(json.dumps({"rc": rc, "wall_s": time.perf_counter() - t, "peak_rss_mib": hwm / 1024}))
"""


def _cli(dataset: Path, csv: Path, workspace: Path, report: Path, crs: str) -> dict:
    """The batch CLI in a fresh process, signed in as the province's data administrator: wall time (imports and the sign-in included) and the process's peak memory."""
    from data.storage.workspace import Workspace

    with Workspace(workspace) as ws:
        data_admin(ws)
    secret = workspace.with_suffix(".pw")
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, "import", str(csv), "--layer", "teams", "--crs", crs, "--report", str(report),
         "--dataset", str(dataset), "--workspace", str(workspace), "--user", ADMIN, "--password-file", str(secret)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["process_s"] = time.perf_counter() - t
    return figures


def run(dataset: Path, *, rows: int = ROWS) -> dict:
    """Import `rows` points three ways (WGS84 and GCJ-02 in process, GCJ-02 by the CLI); figures in s / MiB."""
    from data.dataset.store import Store

    out: dict = {"rows": rows}
    with tempfile.TemporaryDirectory() as tmp, Store(dataset) as st:
        tmp = Path(tmp)
        wgs = points_csv(st, tmp / "wgs84.csv", n=rows)
        gcj = points_csv(st, tmp / "gcj02.csv", n=rows, crs="gcj02")
        out["file_mb"] = wgs.stat().st_size / 2**20
        out["wgs84"] = _in_process(dataset, wgs, tmp / "ws1.duckdb", "wgs84")
        out["gcj02"] = _in_process(dataset, gcj, tmp / "ws2.duckdb", "gcj02")
        out["cli"] = _cli(dataset, gcj, tmp / "ws3.duckdb", tmp / "report.json", "gcj02")
    return out


def markdown(r: dict) -> str:
    """The section of BENCHMARKS.md for these figures."""
    ok = lambda v: "✅" if v <= TARGETS["import_s"] else "❌"  # noqa: E731
    w, g, c = r["wgs84"], r["gcj02"], r["cli"]
    return "\n".join(
        [
            "## Importing (`benchmarks/importing.py`)",
            "",
            f"{r['rows']:,} team points in one CSV ({r['file_mb']:.1f} MB, Chinese headers, half without a county code) in 江苏省, "
            "read, checked row by row against the county outlines and committed in one transaction by the province's signed-in data administrator.",
            "",
            "| measure | WGS84 | GCJ-02 | target |",
            "|---|---|---|---|",
            f"| read CSV | {w['read_s']:.2f} s | {g['read_s']:.2f} s | |",
            f"| context (outlines, ids in the store) | {w['context_s']:.2f} s | {g['context_s']:.2f} s | |",
            f"| validate (mapping, numbers, codes, CRS, region, county, ids) | {w['validate_s']:.2f} s | {g['validate_s']:.2f} s | |",
            f"| commit (one transaction) | {w['commit_s']:.2f} s | {g['commit_s']:.2f} s | |",
            f"| **import total** | **{w['import_s']:.2f} s** | **{g['import_s']:.2f} s** | ≤ 10 s {ok(max(w['import_s'], g['import_s']))} |",
            f"| rows imported | {w['accepted']:,} | {g['accepted']:,} | |",
            f"| read the layer back from the store (base + imported) | {w['store_read_s']:.2f} s | {g['store_read_s']:.2f} s | |",
            f"| JSON report (every row's outcome) | {w['report_json_mb']:.1f} MB in {w['report_json_s']:.2f} s | | |",
            "",
            f"Batch CLI (`python -m data import … --crs gcj02`), fresh process: {c['wall_s']:.2f} s after start-up "
            f"({c['process_s']:.2f} s including Python start-up), peak memory (VmHWM) **{c['peak_rss_mib']:.0f} MiB**.",
        ]
    )


if __name__ == "__main__":
    import logging
    import os

    logging.basicConfig(level=logging.WARNING)
    dataset = Path(os.environ.get("YRD_DATASET", ROOT / "data" / "build" / "yrd.duckdb"))
    print(markdown(run(dataset)))
