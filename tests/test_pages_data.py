"""AppTest of the data-management page: upload, preview, mapping, report, commit, export, imports; failures as messages."""

from __future__ import annotations

import re

import json
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from data.dataset.store import Store
from data.storage.workspace import Workspace
from pages._shared import widget_key
from tests.conftest import ROOT, frame_with
from tests.import_files import csv_bytes, team_rows, zip_bytes
from tests.people import People, cheap_accounts

APP = str(ROOT / "app.py")
TIMEOUT = 120
#: A department's team list: Chinese headers, GBK, and a members column the auto-mapping cannot know (规模).
HEADERS = ["编号", "队伍名称", "类别", "责任部门", "经度", "纬度", "规模"]
#: The issue's list: no id, no head count, the county by name.
PLAIN_HEADERS = ["名称", "经度", "纬度", "类型", "所属部门", "所属区县"]



@pytest.fixture
def app(open_app):
    return open_app("pages/manage.py", timeout_s=TIMEOUT)


#: Data administrators: of 上海市 (the teams of `team_rows` lie in 崇明区), of 浙江省, and the cast's of 嘉善县.
ADMINS = {"sh_admin": "310000", "zj_admin": "330000"}


def _sign_in(at, workspace_path, who: str = "sh_admin"):
    """Sign `who` in for this browser session (as the sidebar's form does: the session in ``st.session_state["account"]``)."""
    with Workspace(workspace_path) as ws:
        people = People(cheap_accounts(ws))
        session = people.sign_in(who, "natural_resources", ADMINS[who], "data_admin") if who in ADMINS else people[who]
    at.session_state["account"] = session
    at.run()
    assert not at.exception, at.exception
    return at


def _commit(at):
    next(b for b in at.button if b.label == "提交导入").click().run()
    assert not at.exception, at.exception
    return at


def _gbk_teams(store, n: int = 3, *, bad_row: int | None = None) -> bytes:
    teams = team_rows(store, n, prefix="W")
    rows = [HEADERS, *[[r.id, r.name, "专业救援队伍", "应急管理局", repr(r.lon), repr(r.lat), str(r.members)] for r in teams.itertuples()]]
    if bad_row is not None:
        rows[bad_row][4] = "东经121度半"
    return csv_bytes(rows, encoding="gbk")


def _selectbox(at, label: str):
    return next(s for s in at.selectbox if s.label == label)


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _plain_teams(store) -> bytes:
    """The issue's GBK list: 名称,经度,纬度,类型,所属部门,所属区县, the county by name (three counties of 浙江省)."""
    counties = store.jurisdictions("county", detail="full").set_index("code")
    rows = [PLAIN_HEADERS]
    for code, kind, dept in (("330421", "消防救援队伍", "消防救援"), ("330482", "专业救援队伍", "水务局"), ("330481", "社会救援力量", "应急管理局")):
        p = counties.at[code, "geometry"].representative_point()
        rows.append([f"{counties.at[code, 'name']}测试队", f"{p.x:.6f}", f"{p.y:.6f}", kind, dept, counties.at[code, "name"]])
    return csv_bytes(rows, encoding="gbk")


def _upload(at, name: str, data: bytes, mime: str = "text/csv", *, layer: str = "teams", lang: str = "zh"):
    at.selectbox(key=widget_key("data_layer", lang)).select(layer).run()
    at.file_uploader[0].set_value((name, data, mime)).run()
    assert not at.exception, at.exception
    return at


def test_page_renders_with_templates_and_hint(app):
    assert app.title[0].value == "数据管理"
    assert any("请选择目标图层并上传文件" in i.value for i in app.info)
    labels = [b.label for b in app.download_button]
    assert "下载模板（Excel）" in labels and "下载模板（CSV）" in labels
    assert [tab.label for tab in app.tabs] == ["导入", "导出", "导入记录", "路网"]


def test_upload_fix_mapping_commit_and_see_it_on_the_situation_page(app, store, workspace_path):
    teams_before = len(store.layer("teams"))
    _upload(app, "青浦队伍.csv", _gbk_teams(store))
    assert "编码 gbk" in app.caption[0].value or any("编码 gbk" in c.value for c in app.caption)
    members = _selectbox(app, "队员人数")
    assert members.value == ""  # 规模 is not a known header: unmapped, the head counts would be unknown
    assert not app.error and any("3 行未填队员人数" in w.value for w in app.warning)
    members.select("规模").run()
    assert not app.error and not any("未填队员人数" in w.value for w in app.warning)
    assert _metric(app, "通过") == "3" and _metric(app, "被拒绝") == "0"
    assert any("未注明坐标系" in w.value for w in app.warning)
    notes = frame_with(app, "说明")["说明"]
    assert notes.str.startswith("未填所属区县，已按位置判定为").all()
    assert len(app.get("deck_gl_json_chart")) == 1  # preview map of the valid records
    spec = json.loads(app.get("deck_gl_json_chart")[0].proto.json)
    assert "layer-teams" in {layer["id"] for layer in spec["layers"]}
    commit = next(b for b in app.button if b.label == "提交导入")
    assert commit.disabled and any("请先在侧栏登录数据管理员账户" in i.value for i in app.info)  # nobody signed in yet
    assert "data_who" not in {w.key for w in app.text_input}  # no typed name any more
    _sign_in(app, workspace_path)
    assert any("将以 sh_admin（sh_admin，上海市）的身份导入" in c.value for c in app.caption)
    _commit(app)
    assert any("已导入 3 条记录到“救援队伍”" in s.value for s in app.success)

    with Workspace(workspace_path) as ws, Store(store.path, workspace=ws) as st:
        imported = st.layer("teams")
        assert len(imported) == teams_before + 3
        assert st.imports().iloc[0]["who"] == "sh_admin"  # the signed-in account
        assert st.imports().iloc[0]["file_name"] == "青浦队伍.csv"

    app.switch_page("pages/situation.py").run()
    assert not app.exception
    assert _metric(app, "救援队伍") == str(teams_before + 3)


def test_all_or_nothing_refusal_is_a_message_and_writes_nothing(app, store, workspace_path):
    _upload(app, "t.csv", _gbk_teams(store, 4, bad_row=2))
    _selectbox(app, "队员人数").select("规模").run()
    assert _metric(app, "被拒绝") == "1"
    table = frame_with(app, "行号").set_index("行号")
    assert table.at[3, "结果"] == "拒绝" and table.at[3, "拒绝原因"] == "“经度 / X”为“东经121度半”，不是数字。"
    _sign_in(app, workspace_path)
    _commit(app)
    assert any("文件未导入" in e.value and "全部通过才导入" in e.value for e in app.error)
    with Workspace(workspace_path) as ws:
        assert ws.imports().empty and ws.version() == 0
    app.radio(key=widget_key("data_mode", "zh")).set_value("valid").run()
    next(b for b in app.button if b.label == "提交导入").click().run()
    assert any("已导入 3 条记录" in s.value for s in app.success)


def test_without_an_account_import_and_removal_wait_for_a_sign_in(app, store, workspace_path):
    _upload(app, "t.csv", _gbk_teams(store, 2))
    _selectbox(app, "队员人数").select("规模").run()
    _sign_in(app, workspace_path)
    _commit(app)
    app.session_state["account"] = None  # signed out
    app.run()
    hint = "请先在侧栏登录数据管理员账户，再导入、撤销数据或生成路网。"
    assert [i.value for i in app.info].count(hint) == 2  # the import tab (the new upload field waits for a file) and the road-network tab ...
    _upload(app, "t2.csv", _gbk_teams(store, 1))
    _selectbox(app, "队员人数").select("规模").run()
    assert [i.value for i in app.info].count(hint) == 3  # ... and the imports tab
    assert next(b for b in app.button if b.label == "提交导入").disabled
    app.selectbox(key="data_remove_pick").select(app.selectbox(key="data_remove_pick").options[0]).run()
    assert next(b for b in app.button if b.label == "撤销所选导入").disabled
    app.sidebar.radio[0].set_value("en").run()
    assert any(i.value == "Sign in (sidebar) with a data administrator's account to import or remove data or to build a road network." for i in app.info)
    with Workspace(workspace_path) as ws:
        assert len(ws.imports()) == 1


def test_a_wrong_account_gets_a_localized_refusal_and_nothing_is_written(app, store, workspace_path):
    """嘉善县's data administrator may not import 崇明区's teams, nor remove 上海市's import; a duty officer imports nothing."""
    _upload(app, "t.csv", _gbk_teams(store, 2))
    _selectbox(app, "队员人数").select("规模").run()
    _sign_in(app, workspace_path, "data_admin")
    _commit(app)
    assert [e.value for e in app.error] == ["未导入：无权导入基础数据：崇明区（310151）不在您的辖区（嘉善县（330421））范围内。"]
    _sign_in(app, workspace_path, "duty")
    _commit(app)
    assert [e.value for e in app.error] == ["未导入：无权导入基础数据：需要以下角色之一：数据管理员。"]
    app.sidebar.radio[0].set_value("en").run()
    next(b for b in app.button if b.label == "Commit the import").click().run()
    assert [e.value for e in app.error] == ["Not imported: You may not import base-layer records: one of these roles is needed: Data administrator."]
    app.sidebar.radio[0].set_value("zh").run()
    with Workspace(workspace_path) as ws:
        assert ws.imports().empty and ws.version() == 0
        audit = cheap_accounts(ws).audit()
    assert audit[audit["outcome"] == "refused"][["actor", "event", "code"]].values.tolist()[:2] == [["duty", "layer.import", "missing_role"]] * 2

    _sign_in(app, workspace_path, "sh_admin")
    _commit(app)
    import_id = frame_with(app, "导入人").iloc[0]["导入编号"]
    _sign_in(app, workspace_path, "data_admin")
    app.selectbox(key="data_remove_pick").select(import_id).run()
    next(b for b in app.button if b.label == "撤销所选导入").click().run()
    assert not app.exception, app.exception
    assert [e.value for e in app.error] == ["未撤销：无权修改或删除基础数据：崇明区（310151）不在您的辖区（嘉善县（330421））范围内。"]
    with Workspace(workspace_path) as ws:
        assert ws.imports()["import_id"].tolist() == [import_id]


def test_unsafe_zip_and_bad_files_are_messages_not_tracebacks(app):
    _upload(app, "evil.zip", zip_bytes({"../../evil.shp": b"x"}), "application/zip")
    assert any("会解压到目录之外" in e.value for e in app.error)
    _upload(app, "a.xlsx", b"PK\x03\x04 not really", "application/octet-stream")
    assert any("文件未导入" in e.value for e in app.error)


def test_export_tab_prepares_a_download(app):
    app.selectbox(key=widget_key("exp_layer", "zh")).select("teams").run()
    app.selectbox(key=widget_key("exp_format_teams", "zh")).select("csv").run()
    next(b for b in app.button if b.label == "生成导出文件").click().run()
    assert not app.exception
    assert any(b.label == "下载 teams.csv" for b in app.download_button)


def test_imports_tab_lists_and_removes_an_import(app, store, workspace_path):
    _upload(app, "t.csv", _gbk_teams(store, 2))
    _selectbox(app, "队员人数").select("规模").run()
    _sign_in(app, workspace_path)
    _commit(app)
    listing = frame_with(app, "导入人")
    assert listing.iloc[0]["导入人"] == "sh_admin" and listing.iloc[0]["导入行数"] == 2
    app.selectbox(key="data_remove_pick").select(listing.iloc[0]["导入编号"]).run()
    next(b for b in app.button if b.label == "撤销所选导入").click().run()
    assert any("已撤销导入" in s.value and "删除 2 条记录" in s.value for s in app.success)
    assert any("尚无导入记录" in i.value for i in app.info)


def test_the_issues_list_imports_as_it_is(app, store, workspace_path):
    """名称,经度,纬度,类型,所属部门,所属区县 in GBK: no id, no head count, counties by name; nothing to fix by hand."""
    _upload(app, "队伍台账.csv", _plain_teams(store))
    assert not app.error, [e.value for e in app.error]
    assert _selectbox(app, "所属区县").value == "所属区县" and _selectbox(app, "编号").value == ""
    assert not any("以下列不导入" in w.value for w in app.warning)
    assert _metric(app, "通过") == "3" and _metric(app, "被拒绝") == "0"
    assert any("3 行未填队员人数" in w.value and "不计为 0" in w.value for w in app.warning)
    ids = frame_with(app, "行号")["编号"]
    assert ids.str.fullmatch(r"T-[0-9a-f]{12}").all()
    _sign_in(app, workspace_path, "zj_admin")  # a data administrator of 浙江省
    _commit(app)
    assert any("已导入 3 条记录" in s.value for s in app.success)
    with Workspace(workspace_path) as ws:
        teams = ws.layer("teams")
    assert sorted(teams["county_code"]) == ["330421", "330481", "330482"] and teams["members"].isna().all()
    assert sorted(teams["id"]) == sorted(ids)  # the ids the report showed


def test_choices_survive_a_language_switch(app, store):
    """Layer, CRS, a hand-made mapping, the mode and the export choices stay chosen through zh → en → zh."""
    _upload(app, "t.csv", _gbk_teams(store, 4, bad_row=2))
    _selectbox(app, "坐标系").select("wgs84").run()
    _selectbox(app, "队员人数").select("规模").run()
    crs_key, mapping_key = (_selectbox(app, label).key.removesuffix("@zh") for label in ("坐标系", "队员人数"))
    app.radio(key=widget_key("data_mode", "zh")).set_value("valid").run()
    app.selectbox(key=widget_key("exp_layer", "zh")).select("shelters").run()
    app.selectbox(key=widget_key("exp_format_shelters", "zh")).select("xlsx").run()
    chosen = {k: app.session_state[k] for k in ("data_layer", "data_mode", "exp_layer", "exp_format_shelters", crs_key, mapping_key)}
    assert chosen["data_mode"] == "valid" and chosen[mapping_key] == "规模" and chosen[crs_key] == "wgs84"
    before = (_metric(app, "通过"), _metric(app, "被拒绝"))
    for lang, valid, rejected in (("en", "Valid", "Rejected"), ("zh", "通过", "被拒绝")):
        app.sidebar.radio[0].set_value(lang).run()
        assert not app.exception, app.exception
        assert {k: app.session_state[k] for k in chosen} == chosen
        assert app.selectbox(key=widget_key(mapping_key, lang)).value == "规模"
        assert app.radio(key=widget_key("data_mode", lang)).value == "valid"
        assert (_metric(app, valid), _metric(app, rejected)) == before == ("3", "1")


def test_chinese_page_has_chinese_widget_texts(app, store, workspace_path):
    """No code names in the mapping labels, a Chinese placeholder where nothing is chosen yet."""
    _upload(app, "t.csv", _gbk_teams(store, 2))
    _selectbox(app, "队员人数").select("规模").run()
    labels = [s.label for s in app.selectbox]
    assert "名称 *" in labels and "经度 / X *" in labels and "所属地市" in labels
    assert not any("(" in label and any(c.isascii() and c.isalpha() for c in label) for label in labels), labels
    _sign_in(app, workspace_path)
    _commit(app)
    pick = app.selectbox(key="data_remove_pick")
    assert pick.value is None and pick.proto.placeholder == "选择要撤销的导入"


def test_english(app):
    app.radio(key="lang").set_value("en").run()
    assert app.title[0].value == "Data management"
    assert any(b.label == "Template (Excel)" for b in app.download_button)


@pytest.mark.duckdb_only("another process holding the file; a PostgreSQL workspace is shared")
def test_workspace_held_by_another_process_shows_a_warning_and_the_maps_still_work(dataset, monkeypatch, workspace_path, store):
    monkeypatch.setenv("YRD_DATASET", str(dataset))
    monkeypatch.setenv("YRD_CONFIG", str(ROOT / "tests" / "no-config.toml"))
    code = f"import sys\nfrom data.storage.workspace import Workspace\nw = Workspace({str(workspace_path)!r})\nprint('ready', flush=True)\nsys.stdin.read()\n"
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
        assert not at.exception
        warning = next(w.value for w in at.warning if "用户数据工作区不可用" in w.value)
        assert re.search(r"[A-Za-z]{3,}", warning) is None, warning  # the English reason is folded away beneath
        assert any("workspace in use by a running app" in c.value for c in at.code)
        assert next(m.value for m in at.metric if m.label == "救援队伍") == str(len(store.layer("teams")))
        at.switch_page("pages/manage.py").run()
        _upload(at, "t.csv", _gbk_teams(store, 1))
        _selectbox(at, "队员人数").select("规模").run()
        assert next(b for b in at.button if b.label == "提交导入").disabled
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
        holder.stdout.close()


def test_build_a_road_network_from_an_uploaded_osm_file(app, dataset):
    """The data page's road-network tab builds a real network that the dispatch page can use."""
    from geo import network as gn
    from tests.conftest import shared_file

    form_upload = [u for u in app.get("file_uploader") if u.proto.form_id == "net_form"]
    assert form_upload, "the network tab has an OSM uploader in a form"
    folder = gn.networks_dir(dataset)
    before = {m["name"] for m in gn.list_networks(folder)}
    net = gn.build_osm(shared_file("osm/shanghai_center.osm"), name="sh-test", folder=folder)
    try:
        assert "sh-test" in {m["name"] for m in gn.list_networks(folder)} - before
        app.run()
        names = next(df.value for df in app.dataframe if "有向边" in df.value.columns)["名称"].tolist()
        assert "sh-test" in names and "approx" in names
        assert net.n_edges > 8000
        with pytest.raises(gn.NetworkError, match="`name` was '../x'"):
            gn.build_osm(shared_file("osm/shanghai_center.osm"), name="../x", folder=folder)
    finally:
        import shutil

        shutil.rmtree(folder / "sh-test", ignore_errors=True)


def _latin_words(text: str, allowed: set[str]) -> set[str]:
    import re

    return set(re.findall(r"[A-Za-z]{2,}", text)) - allowed


def _build_network(app, file_name: str, data: bytes, name: str, *, button: str = "生成路网"):
    app.file_uploader(key="net_file").set_value((file_name, data, "application/octet-stream"))
    app.text_input(key="net_name").input(name)
    next(b for b in app.button if b.label == button).click().run()
    assert not app.exception, app.exception
    return app


@pytest.mark.parametrize(
    ("file_name", "data", "name", "zh", "en"),
    [
        ("roads.osm", b"<osm><way", "qingpu", "无法从文件“roads.osm”读取道路：文件已损坏，或不是 OpenStreetMap 数据。", "Could not read roads from “roads.osm”"),
        ("roads.osm.pbf", b"not a pbf", "qingpu", "无法从文件“roads.osm.pbf”读取道路", "Could not read roads from “roads.osm.pbf”"),
        ("nodes.osm", b'<?xml version="1.0"?><osm version="0.6"><node id="1" lat="31.2" lon="121.4"/></osm>', "qingpu", "路网 qingpu 中没有机动车可通行的道路", "Network qingpu would have no drivable road"),
        ("roads.osm", b"<osm/>", "青浦", "路网名称“青浦”不可用：请用 1 至 64 个字母、数字", "The network name “青浦” cannot be used"),
    ],
)
def test_network_tab_explains_a_failed_build_in_each_language(app, dataset, workspace_path, file_name, data, name, zh, en):
    """A bad OSM file or name on the 路网 tab: a message in the user's language (was: a traceback for
    bad XML, a bad PBF or a file without roads, and "无法生成路网：`name` was '青浦'; use 1–64 letters …")."""
    from geo import network as gn

    _sign_in(app, workspace_path)
    before = {m["name"] for m in gn.list_networks(gn.networks_dir(dataset))}
    _build_network(app, file_name, data, name)
    message = next(e.value for e in app.error)
    assert zh in message.replace("\\", ""), message
    assert not _latin_words(message, {"OSM", "OpenStreetMap", "osm", "bz", "pbf", "qingpu", "roads", "nodes"}), message
    assert {m["name"] for m in gn.list_networks(gn.networks_dir(dataset))} == before
    app.radio(key="lang").set_value("en").run()
    _build_network(app, file_name, data, name, button="Build the network")
    assert en in next(e.value for e in app.error).replace("\\", "")


def test_only_a_data_administrator_builds_a_road_network(app, dataset, workspace_path):
    """A new network changes every dispatch answer: nobody signed in cannot press 生成路网; a liaison is refused (audited), nothing is built."""
    from geo import network as gn
    from tests.conftest import shared_file

    before = {m["name"] for m in gn.list_networks(gn.networks_dir(dataset))}
    assert next(b for b in app.button if b.label == "生成路网").disabled
    _sign_in(app, workspace_path, "fire")  # 嘉善县's fire liaison
    assert not next(b for b in app.button if b.label == "生成路网").disabled
    _build_network(app, "shanghai_center.osm", shared_file("osm/shanghai_center.osm").read_bytes(), "shtest")
    assert [e.value for e in app.error] == ["未生成路网：无权生成路网：需要以下角色之一：数据管理员。"]
    assert {m["name"] for m in gn.list_networks(gn.networks_dir(dataset))} == before
    with Workspace(workspace_path) as ws:
        audit = cheap_accounts(ws).audit()
    assert (audit["event"] == "network.build").any() and (audit[audit["event"] == "network.build"]["outcome"] == "refused").all()
