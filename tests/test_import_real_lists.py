"""Real lists: no ids, no head counts, counties by name (GBK CSV with 名称,经度,纬度,类型,所属部门,所属区县)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from data.imports.fields import suggest_mapping
from data.imports.importers import ImportContext, commit, generated_id, validate
from data.imports.readers import read_table
from data.dataset.store import Store
from data.storage.workspace import Workspace
from geo.jurisdiction import headline_counts
from tests.import_files import csv_bytes
from tests.people import People, cheap_accounts

#: The headers of the issue's file: no id, no head count, the county by name.
HEADERS = ["名称", "经度", "纬度", "类型", "所属部门", "所属区县"]


@pytest.fixture(scope="module")
def ctx(store):
    return ImportContext.from_store(store)


@pytest.fixture(scope="module")
def inside(store):
    """A point inside each of a few counties (WGS84)."""
    counties = store.jurisdictions("county", detail="full").set_index("code")
    return {code: counties.at[code, "geometry"].representative_point() for code in ("330421", "310118", "320106", "320302")}


def _check(rows: list[list[str]], ctx, layer: str = "teams", *, encoding: str = "gbk", **overrides):
    raw = read_table(csv_bytes(rows, encoding=encoding), "队伍.csv")
    return validate(raw, layer, {**suggest_mapping(raw.columns, layer), **overrides}, ctx)


def _codes(report) -> dict[int, list[str]]:
    return {int(report.rows["row"].iat[k]): [i.code for i in v] for k, v in report.reasons.items()}


def _row(name: str, point, kind: str = "消防救援队伍", dept: str = "消防救援", county: str = "") -> list[str]:
    return [name, f"{point.x:.6f}", f"{point.y:.6f}", kind, dept, county]


def test_the_issues_gbk_team_list_imports(ctx, inside):
    rows = [HEADERS, _row("嘉善县消防救援大队", inside["330421"], county="嘉善县"), _row("青浦专业队", inside["310118"], "专业救援队伍", "水务局", "青浦"),
            _row("无区县队", inside["330421"], "社会救援力量", "应急管理局", "")]
    report = _check(rows, ctx)
    assert report.encoding == "gbk"
    assert report.mapping == {"id": None, "name": "名称", "kind": "类型", "department": "所属部门", "owner": None, "county_code": "所属区县",
                              "city": None, "lon": "经度", "lat": "纬度", "members": None, "base_id": None, "data_status": None}
    assert "unmapped_columns" not in [w.code for w in report.warnings]  # the county name column is imported
    assert report.n_rejected == 0, report.reasons
    got = report.accepted
    assert got["county_code"].tolist() == ["330421", "310118", "330421"] and got["county_name"].tolist() == ["嘉善县", "青浦区", "嘉善县"]
    assert got["kind"].tolist() == ["fire", "professional", "social"] and got["department"].tolist() == ["fire", "water", "emergency"]
    assert all(re.fullmatch(r"T-[0-9a-f]{12}", i) for i in got["id"])
    assert got["members"].isna().all()  # unknown, not 0
    warning = next(w for w in report.warnings if w.code == "members_unknown")
    assert warning.params == {"count": 3, "total": 3}


def test_generated_ids_are_stable_and_a_reimport_is_refused_row_by_row(dataset, tmp_path, inside):
    rows = [HEADERS, _row("甲队", inside["330421"], county="嘉善县"), _row("乙队", inside["330421"], county="330421"), _row("甲队", inside["330421"], county="嘉善")]
    with Workspace(tmp_path / "ws.duckdb") as ws, Store(dataset, workspace=ws) as st:
        first = _check(rows, ImportContext.from_store(st))
        again = _check(rows, ImportContext.from_store(st), encoding="utf-8")  # the same content, saved again in UTF-8
        assert first.rows["id"].tolist() == again.rows["id"].tolist()
        assert first.rows["id"].iat[0] == generated_id("teams", ["甲队", f"{inside['330421'].x:.6f}", f"{inside['330421'].y:.6f}"])
        assert _codes(first) == {4: ["duplicate_row"]}  # row 4 repeats row 2 (same name, same place)
        assert first.reasons[2][0].message.startswith("the same name and position as row 2")
        accounts = cheap_accounts(ws)
        commit(first, ws, mode="valid", by=People(accounts)["data_admin"], accounts=accounts)  # 嘉善县's data administrator
        before = len(st.layer("teams"))
        third = _check(rows, ImportContext.from_store(st))
        assert _codes(third) == {2: ["row_exists"], 3: ["row_exists"], 4: ["duplicate_row"]}
        assert third.n_accepted == 0 and len(st.layer("teams")) == before  # nothing doubled
        moved = _check([HEADERS, _row("甲队", inside["310118"])], ImportContext.from_store(st))
        assert moved.n_accepted == 1 and moved.rows["id"].iat[0] != first.rows["id"].iat[0]  # another place, another id


def test_same_named_counties_are_settled_by_city_or_position_or_reported(ctx, inside):
    nanjing, xuzhou, qingpu = inside["320106"], inside["320302"], inside["310118"]
    rows = [HEADERS + ["所属地市"],
            _row("宁", nanjing, county="鼓楼区") + [""],          # row 2: the position says 南京市鼓楼区
            _row("徐", xuzhou, county="鼓楼区") + ["徐州市"],     # row 3: the city column says 徐州市
            _row("错", qingpu, county="鼓楼区") + [""],           # row 4: in 青浦, neither 鼓楼区: reported
            _row("写全", nanjing, county="南京市鼓楼区") + [""],  # row 5: the city written with it
            _row("市", nanjing, county="南京市") + [""],          # row 6: a city, not a county
            _row("无", nanjing, county="火星县") + [""],          # row 7: no such county
            _row("码", nanjing, county="999999") + [""],          # row 8: no such code
            _row("城错", xuzhou, county="鼓楼区") + ["南京"]]      # row 9: the city says 南京, the point lies in 徐州
    report = _check(rows, ctx)
    assert report.mapping["city"] == "所属地市"
    assert _codes(report) == {4: ["ambiguous_name"], 6: ["not_county"], 7: ["unknown_name"], 8: ["unknown_code"], 9: ["outside_county"]}
    assert report.accepted["county_code"].tolist() == ["320106", "320302", "320106"]
    ambiguous = report.reasons[2][0]
    assert ambiguous.params["candidates"] == "鼓楼区（南京市 320106）、鼓楼区（徐州市 320302）"
    assert [i.code for i in report.notes[0]] == ["county_by_position"] and 1 not in report.notes


def test_contacts_take_jurisdictions_by_name(ctx):
    rows = [["所属部门", "所属行政区", "单位名称", "岗位", "值班电话"], ["应急管理局", "嘉兴市", "嘉兴市应急管理局", "值班室", "0573-1"],
            ["消防", "上海", "上海市消防救援总队", "值班室", "021-1"], ["公安", "鼓楼区", "某分局", "值班室", "1"]]
    report = _check(rows, ctx, "contacts")
    assert report.accepted["jurisdiction_code"].tolist() == ["330400", "310000"]
    assert _codes(report) == {4: ["ambiguous_name"]}
    assert all(re.fullmatch(r"C-[0-9a-f]{12}", i) for i in report.accepted["id"])


def test_unknown_head_counts_do_not_break_the_headline_counts(dataset, tmp_path, inside):
    rows = [HEADERS + ["队员人数"], _row("有人数", inside["330421"]) + ["20"], _row("未填", inside["330421"], county="嘉善县") + [""]]
    with Workspace(tmp_path / "ws.duckdb") as ws, Store(dataset, workspace=ws) as st:
        base = st.layer("teams")
        accounts = cheap_accounts(ws)
        commit(_check(rows, ImportContext.from_store(st)), ws, by=People(accounts)["data_admin"], accounts=accounts)
        teams = st.layer("teams")
        imported = teams[teams["origin"] != "base"].set_index("name")["members"]
        assert imported["有人数"] == 20 and pd.isna(imported["未填"])
        counts = headline_counts(teams, st.layer("stockpiles"), st.layer("shelters"))
        assert counts["teams"] == len(base) + 2 and counts["members"] == int(base["members"].sum()) + 20
        assert counts["teams_members_unknown"] == 1  # shown as "另有 1 支队伍未填队员人数"
        from layers.situation import _tooltip_lines

        assert "队员人数：未填" in _tooltip_lines(teams[teams["name"] == "未填"].iloc[0], "teams", "zh")
