"""Imports and removals of base-layer records only by a signed-in data administrator within their own jurisdiction, case by case, on DuckDB and PostgreSQL (`backend`).

`commit` and `remove` take the session and ask the permission table (``layer.import`` /
``layer.edit``, ``all_within:codes``) with the jurisdictions of the records: a refusal raises
`Refused`, is audited, and nothing is written.  The cast (tests/people.py): ``data_admin`` of
嘉善县 330421, ``city_data_admin`` of 嘉兴市 330400; 平湖市 330482 is another county of 嘉兴市,
青浦区 310118 a neighbour in 上海市.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import timedelta

import pytest
import shapely

from data.accounts.accounts import AuthError, Refused
from data.dataset.store import Store
from data.imports.fields import suggest_mapping
from data.imports.importers import ImportContext, ImportRejected, commit, import_file, jurisdictions_of, remove, validate
from data.imports.readers import read_table
from data.schema import now_beijing
from data.storage.workspace import Workspace
from layers.accounts import error_text
from layers.imports import issue_text
from tests.conftest import ROOT
from tests.import_files import csv_bytes
from tests.people import PASSWORD, People, cheap_accounts

HEADERS = ["名称", "经度", "纬度", "类型", "所属部门", "所属区县"]
NAMES = {"330421": "嘉善县", "330482": "平湖市", "310118": "青浦区", "330400": "嘉兴市", "310000": "上海市"}


@pytest.fixture
def ws(backend, workspace_path):
    w = Workspace(workspace_path)  # on 'postgres' the database URL set by `backend` takes precedence
    yield w
    w.close()


@pytest.fixture
def st(dataset, ws):
    s = Store(dataset, workspace=ws)
    yield s
    s.close()


@pytest.fixture
def accounts(ws):
    return cheap_accounts(ws)


@pytest.fixture
def people(accounts) -> People:
    """The cast, signed in before the test counts audit rows."""
    cast = People(accounts)
    for who in ("data_admin", "city_data_admin", "fire", "duty", "commander", "viewer"):
        cast[who]
    return cast


@pytest.fixture(scope="module")
def counties(store):
    return store.jurisdictions("county", detail="full").set_index("code")


def _inside(counties, code: str):
    return counties.at[code, "geometry"].representative_point()


def _teams(st, counties, *codes: str, name: str = "测试队"):
    """A validated team list with one team in each county of `codes` (the county by name)."""
    rows = [HEADERS]
    for k, code in enumerate(codes):
        p = _inside(counties, code)
        rows.append([f"{name}{k}", f"{p.x:.6f}", f"{p.y:.6f}", "专业救援队伍", "应急管理局", counties.at[code, "name"]])
    return _report(st, csv_bytes(rows), "teams")


def _report(st, data: bytes, layer: str, ctx: ImportContext | None = None):
    raw = read_table(data, f"{layer}.csv", prefer=layer)
    report = validate(raw, layer, suggest_mapping(raw.columns, layer, has_geometry=raw.has_geometry), ctx or ImportContext.from_store(st))
    assert not report.reasons, report.reasons
    return report


def _closure(st, polygon):
    return _report(st, csv_bytes([["id", "name", "reason", "wkt"], ["RC1", "封闭", "积水", polygon.wkt]]), "closures")


def _last_audit(accounts):
    return accounts.audit().sort_values("id").iloc[-1]


def _refused(ws, accounts, call, *, who: str, event: str, code: str, target: str | None = None) -> Refused:
    """`call` raises `Refused` `code`, audited as `event` by `who`, and the workspace is unchanged."""
    version, imports, audited = ws.version(), ws.imports(), len(accounts.audit())
    with pytest.raises(Refused) as exc:
        call()
    assert exc.value.code == code, exc.value.decision
    if target is not None:
        assert exc.value.params["target"] == target
    assert ws.version() == version and ws.imports().equals(imports)  # nothing written
    assert len(accounts.audit()) == audited + 1
    last = _last_audit(accounts)
    assert (last["actor"], last["event"], last["outcome"], last["code"]) == (who, event, "refused", code)
    for lang in ("zh", "en"):  # what the page and the CLI show: no raw code, no None
        text = error_text(exc.value, lang, NAMES)
        assert text and "None" not in text and code not in text
    return exc.value


# ---- importing ------------------------------------------------------------------------------


def test_a_county_admin_imports_its_countys_records_signed_with_the_account(ws, st, accounts, people, counties):
    report = _teams(st, counties, "330421", "330421")
    assert report.jurisdictions == [("330421",), ("330421",)]
    import_id = commit(report, ws, by=people["data_admin"], accounts=accounts, source="嘉善县自然资源局")
    imp = ws.imports().set_index("import_id").loc[import_id]
    assert (imp["who"], imp["rows_accepted"]) == ("data_admin", 2)  # the account, never a typed name
    assert (st.layer("teams")["origin"] == import_id).sum() == 2


def test_a_city_admin_imports_records_of_two_of_its_counties(ws, st, accounts, people, counties):
    report = _teams(st, counties, "330421", "330482")
    import_id = commit(report, ws, by=people["city_data_admin"], accounts=accounts)
    assert ws.imports().set_index("import_id").at[import_id, "who"] == "city_data_admin"
    assert sorted(ws.layer("teams")["county_code"]) == ["330421", "330482"]


def test_a_county_admin_cannot_import_a_record_of_another_county(ws, st, accounts, people, counties):
    report = _teams(st, counties, "330421", "310118", "330421")
    me = people["data_admin"]
    refusal = _refused(ws, accounts, lambda: commit(report, ws, by=me, accounts=accounts, mode="valid"), who="data_admin", event="layer.import",
                       code="other_jurisdiction", target="310118")  # fmt: skip
    assert not report.committed and report.import_id is None
    assert "青浦区（310118）" in error_text(refusal, "zh", NAMES) and "嘉善县（330421）" in error_text(refusal, "zh", NAMES)
    # a city admin of 嘉兴市 may not either: 青浦区 is in 上海市
    _refused(ws, accounts, lambda: commit(report, ws, by=people["city_data_admin"], accounts=accounts), who="city_data_admin", event="layer.import",
             code="other_jurisdiction", target="310118")  # fmt: skip


@pytest.mark.parametrize("who", ["fire", "duty", "commander", "viewer"])
def test_only_data_administrators_import(ws, st, accounts, people, counties, who):
    report = _teams(st, counties, "330421")
    _refused(ws, accounts, lambda: commit(report, ws, by=people[who], accounts=accounts), who=who, event="layer.import", code="missing_role")


def test_no_import_without_a_valid_session(ws, st, accounts, people, counties):
    report = _teams(st, counties, "330421")
    with pytest.raises(TypeError, match="Session of a signed-in account"):
        commit(report, ws, by="张三", accounts=accounts)
    with pytest.raises(TypeError):
        commit(report, ws, who="张三", accounts=accounts)  # the old typed name is gone
    me = people["data_admin"]
    with pytest.raises(AuthError) as exc:
        commit(report, ws, by=me, accounts=accounts, now=now_beijing() + timedelta(hours=13))  # past the 12 h session limit
    assert exc.value.code == "expired"
    people.accounts.disable(people.admin, "data_admin")
    with pytest.raises(AuthError) as exc:
        commit(report, ws, by=me, accounts=accounts)
    assert exc.value.code == "disabled"
    assert ws.version() == 0 and ws.imports().empty


def test_contacts_are_checked_by_their_jurisdiction(ws, st, accounts, people):
    data = csv_bytes([["所属部门", "所属行政区", "单位名称", "岗位", "值班电话"], ["应急管理局", "嘉兴市", "嘉兴市应急管理局", "值班室", "0573-1"],
                      ["消防", "嘉善县", "嘉善县消防救援大队", "值班室", "0573-2"]])  # fmt: skip
    report = _report(st, data, "contacts")
    assert report.jurisdictions == [("330400",), ("330421",)]
    _refused(ws, accounts, lambda: commit(report, ws, by=people["data_admin"], accounts=accounts), who="data_admin", event="layer.import",
             code="other_jurisdiction", target="330400")  # a county's admin may not write the city's duty contacts  # fmt: skip
    assert commit(report, ws, by=people["city_data_admin"], accounts=accounts)


def test_inventory_is_checked_by_the_county_of_its_stockpile(ws, st, accounts, people):
    stockpiles = st.layer("stockpiles").set_index("id")["county_code"]
    assert (stockpiles["S003"], stockpiles["S001"]) == ("330421", "310118")
    headers = ["储备点编号", "物资名称", "计量单位", "数量"]
    mine = _report(st, csv_bytes([headers, ["S003", "抽水泵", "台", "4"]]), "inventory")
    assert mine.jurisdictions == [("330421",)]
    assert commit(mine, ws, by=people["data_admin"], accounts=accounts)
    theirs = _report(st, csv_bytes([headers, ["S003", "发电机", "台", "2"], ["S001", "发电机", "台", "2"]]), "inventory")
    _refused(ws, accounts, lambda: commit(theirs, ws, by=people["data_admin"], accounts=accounts), who="data_admin", event="layer.import",
             code="other_jurisdiction", target="310118")  # fmt: skip


def test_closures_are_checked_by_every_county_they_overlap(ws, st, accounts, people, counties):
    inside = _closure(st, _inside(counties, "330421").buffer(0.002))
    assert inside.jurisdictions == [("330421",)]
    border = shapely.intersection(counties.at["330421", "geometry"].boundary, counties.at["310118", "geometry"].boundary)
    across = _closure(st, border.representative_point().buffer(0.01))
    assert across.jurisdictions == [("310118", "330421")]
    _refused(ws, accounts, lambda: commit(across, ws, by=people["data_admin"], accounts=accounts), who="data_admin", event="layer.import",
             code="other_jurisdiction", target="310118")  # fmt: skip
    assert commit(inside, ws, by=people["data_admin"], accounts=accounts)


def test_records_of_no_jurisdiction_refuse_the_whole_file(ws, st, accounts, people, counties):
    """No record slips through the check for want of a jurisdiction: a point outside every county is rejected by
    validation; an inventory row whose stockpile has no known county refuses the file, for every account."""
    at_sea = [HEADERS, ["海上队", "123.500000", "30.500000", "专业救援队伍", "应急管理局", ""]]
    raw = read_table(csv_bytes(at_sea), "t.csv")
    sea = validate(raw, "teams", suggest_mapping(raw.columns, "teams"), ImportContext.from_store(st))
    assert sea.n_accepted == 0 and [i.code for i in sea.reasons[0]] == ["outside_region"]

    ctx = ImportContext.from_store(st)
    unknown = dataclasses.replace(ctx, stockpiles={k: v for k, v in ctx.stockpiles.items() if k != "S003"})
    report = _report(st, csv_bytes([["储备点编号", "物资名称", "计量单位", "数量"], ["S003", "抽水泵", "台", "4"]]), "inventory", unknown)
    assert report.jurisdictions == [()]
    audited = len(accounts.audit())
    for who in ("data_admin", "city_data_admin"):
        with pytest.raises(ImportRejected, match="1 of 1 records of inventory belong to no known jurisdiction") as exc:
            commit(report, ws, by=people[who], accounts=accounts)
        assert exc.value.issue.code == "no_jurisdiction" and report.error.code == "no_jurisdiction" and not report.committed
    assert "不属于任何已知辖区" in issue_text(exc.value.issue, "zh") and "物资库存" in issue_text(exc.value.issue, "zh")
    assert ws.version() == 0 and len(accounts.audit()) == audited


def test_import_file_takes_the_session(ws, st, accounts, people, counties, tmp_path):
    p = _inside(counties, "330421")
    src = tmp_path / "队伍.csv"
    src.write_bytes(csv_bytes([HEADERS, ["甲队", f"{p.x:.6f}", f"{p.y:.6f}", "专业救援队伍", "应急管理局", "嘉善县"]], encoding="gbk"))
    report = import_file(src, "teams", store=st, workspace=ws, by=people["data_admin"], accounts=accounts)
    assert report.committed and ws.imports().iloc[0]["who"] == "data_admin"
    again = tmp_path / "乙.csv"
    q = _inside(counties, "310118")
    again.write_bytes(csv_bytes([HEADERS, ["乙队", f"{q.x:.6f}", f"{q.y:.6f}", "专业救援队伍", "应急管理局", "青浦区"]]))
    with pytest.raises(Refused):
        import_file(again, "teams", store=st, workspace=ws, by=people["data_admin"], accounts=accounts)
    assert len(ws.imports()) == 1


# ---- removing -------------------------------------------------------------------------------


def test_removing_an_import_needs_the_jurisdiction_of_its_records(ws, st, accounts, people, counties):
    import_id = commit(_teams(st, counties, "330421", "330482"), ws, by=people["city_data_admin"], accounts=accounts)
    ctx = ImportContext.from_store(st)
    _refused(ws, accounts, lambda: remove(ws, import_id, by=people["data_admin"], accounts=accounts, context=ctx), who="data_admin", event="layer.edit",
             code="other_jurisdiction", target="330482")  # 平湖市's record is not 嘉善县's to remove  # fmt: skip
    _refused(ws, accounts, lambda: remove(ws, import_id, by=people["duty"], accounts=accounts, context=ctx), who="duty", event="layer.edit", code="missing_role")
    with pytest.raises(TypeError):
        remove(ws, import_id, by=None, accounts=accounts, context=ctx)
    with pytest.raises(AuthError, match="session has ended"):
        remove(ws, import_id, by=people["city_data_admin"], accounts=accounts, context=ctx, now=now_beijing() + timedelta(hours=13))
    assert (st.layer("teams")["origin"] == import_id).sum() == 2
    assert remove(ws, import_id, by=people["city_data_admin"], accounts=accounts, context=ctx) == 2
    assert ws.imports().empty and (st.layer("teams")["origin"] == import_id).sum() == 0


def test_removing_closures_and_orphaned_inventory(ws, st, accounts, people, counties):
    """Closures are removed by the counties they overlap; inventory whose stockpile import is gone cannot be attributed, and stays (clear refusal)."""
    closure = commit(_closure(st, _inside(counties, "330421").buffer(0.002)), ws, by=people["data_admin"], accounts=accounts)
    qingpu = people.sign_in("qp_admin", "natural_resources", "310118", "data_admin")
    _refused(ws, accounts, lambda: remove(ws, closure, by=qingpu, accounts=accounts, context=ImportContext.from_store(st)), who="qp_admin",
             event="layer.edit", code="other_jurisdiction", target="330421")  # fmt: skip
    assert remove(ws, closure, by=people["data_admin"], accounts=accounts, context=ImportContext.from_store(st)) == 1

    p = _inside(counties, "330421")
    stock = _report(st, csv_bytes([["编号", "名称", "类型", "所属部门", "经度", "纬度", "所属区县"], ["SX1", "新仓库", "综合", "应急管理局", f"{p.x:.6f}", f"{p.y:.6f}", "嘉善县"]]), "stockpiles")
    stock_id = commit(stock, ws, by=people["data_admin"], accounts=accounts)
    inv = _report(st, csv_bytes([["储备点编号", "物资名称", "计量单位", "数量"], ["SX1", "抽水泵", "台", "4"]]), "inventory")
    assert inv.jurisdictions == [("330421",)]
    inv_id = commit(inv, ws, by=people["data_admin"], accounts=accounts)
    assert remove(ws, stock_id, by=people["data_admin"], accounts=accounts, context=ImportContext.from_store(st)) == 1
    with pytest.raises(ImportRejected) as exc:
        remove(ws, inv_id, by=people["data_admin"], accounts=accounts, context=ImportContext.from_store(st))
    assert exc.value.issue.code == "no_jurisdiction" and inv_id in set(ws.imports()["import_id"])


def test_jurisdictions_of_reads_stored_records(st, ws, accounts, people, counties):
    """`remove` attributes the stored records (GeoDataFrames from the workspace) as `validate` did the file's."""
    report = _teams(st, counties, "330421", "330482")
    import_id = commit(report, ws, by=people["city_data_admin"], accounts=accounts)
    stored = ws.layer("teams")
    assert jurisdictions_of("teams", stored[stored["origin"] == import_id], ImportContext.from_store(st)) == report.jurisdictions
    with pytest.raises(ValueError, match="`layer` was 'roads'"):
        jurisdictions_of("roads", stored, ImportContext.from_store(st))


# ---- the command line -----------------------------------------------------------------------


def _cli(*args, dataset, workspace_path, typed: str | None = None):
    """``python -m data ARGS`` as a shell runs it; `typed` is what the user types at the password prompt (no terminal: getpass reads stdin)."""
    env = {"PATH": "/usr/bin:/bin", "YRD_DATASET": str(dataset), "YRD_WORKSPACE": str(workspace_path), "YRD_DATABASE_URL": os.environ.get("YRD_DATABASE_URL", "")}
    return subprocess.run([sys.executable, "-m", "data", *map(str, args)], cwd=ROOT, capture_output=True, text=True, env=env, check=False,
                          input=typed or "", start_new_session=True)  # fmt: skip


def test_cli_imports_and_removes_as_the_signed_in_account(backend, dataset, workspace_path, tmp_path, counties):
    with Workspace(workspace_path) as ws:
        people = People(cheap_accounts(ws))
        for who in ("data_admin", "city_data_admin", "fire"):
            people[who]
    secret = tmp_path / "pw.txt"
    secret.write_text(PASSWORD + "x\nsecond line ignored\n", encoding="utf-8")  # the password People set
    rows = [HEADERS]
    for k, code in enumerate(("330421", "330482")):
        p = _inside(counties, code)
        rows.append([f"队{k}", f"{p.x:.6f}", f"{p.y:.6f}", "专业救援队伍", "应急管理局", counties.at[code, "name"]])
    src = tmp_path / "队伍.csv"
    src.write_bytes(csv_bytes(rows, encoding="gbk"))
    report = tmp_path / "r.json"
    base = ("import", src, "--layer", "teams", "--report", report)

    refused = _cli(*base, "--user", "data_admin", "--password-file", secret, dataset=dataset, workspace_path=workspace_path)
    assert refused.returncode == 4, refused.stderr
    assert "导入被拒绝 / import refused: 无权导入基础数据：平湖市（330482）不在您的辖区（嘉善县（330421））范围内。" in refused.stderr
    assert "You may not import base-layer records: 平湖市（330482） is outside your jurisdiction" in refused.stderr and "Traceback" not in refused.stderr
    liaison = _cli(*base, "--user", "fire", "--password-file", secret, dataset=dataset, workspace_path=workspace_path)
    assert liaison.returncode == 4 and "需要以下角色之一：数据管理员" in liaison.stderr, liaison.stderr
    wrong = _cli(*base, "--user", "city_data_admin", dataset=dataset, workspace_path=workspace_path, typed="not-the-password\n")
    assert wrong.returncode == 4 and "登录失败 / sign-in refused: 用户名或密码错误" in wrong.stderr, wrong.stderr
    with Workspace(workspace_path) as ws:
        assert ws.imports().empty and ws.version() == 0  # nothing written by the refusals
        audit = cheap_accounts(ws).audit()
        assert audit[audit["outcome"] != "ok"]["code"].tolist() == ["unknown_or_wrong", "missing_role", "other_jurisdiction"]  # newest first

    done = _cli(*base, "--user", "city_data_admin", dataset=dataset, workspace_path=workspace_path, typed=PASSWORD + "x\n")  # typed at the prompt
    assert done.returncode == 0, done.stderr
    with Workspace(workspace_path) as ws:
        imp = ws.imports().iloc[0]
    assert imp["who"] == "city_data_admin" and imp["import_id"] in done.stdout

    not_mine = _cli("remove", imp["import_id"], "--user", "data_admin", "--password-file", secret, dataset=dataset, workspace_path=workspace_path)
    assert not_mine.returncode == 4 and "撤销被拒绝 / removal refused: 无权修改或删除基础数据" in not_mine.stderr, not_mine.stderr
    removed = _cli("remove", imp["import_id"], "--user", "city_data_admin", "--password-file", secret, dataset=dataset, workspace_path=workspace_path)
    assert removed.returncode == 0 and f"removed import {imp['import_id']} (2 records)" in removed.stdout, removed.stderr
    with Workspace(workspace_path) as ws:
        assert ws.imports().empty


def test_cli_needs_a_user_and_has_no_typed_name(dataset, workspace_path, tmp_path):
    src = tmp_path / "t.csv"
    src.write_bytes(b"a,b\n1,2\n")
    for args in (("import", src, "--layer", "teams", "--report", tmp_path / "r.json"), ("remove", "imp-x")):
        proc = _cli(*args, dataset=dataset, workspace_path=workspace_path)
        assert proc.returncode == 2 and "--user" in proc.stderr, proc.stderr
    who = _cli("import", src, "--layer", "teams", "--report", tmp_path / "r.json", "--user", "x", "--who", "张三", dataset=dataset, workspace_path=workspace_path)
    assert who.returncode == 2 and "unrecognized arguments: --who" in who.stderr, who.stderr
