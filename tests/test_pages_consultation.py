"""The joint-consultation page (AppTest through the app's router) on the embedded dataset and a real workspace file.

People sign in as the app's sidebar leaves them (``session_state["account"]``, a real `Session`
of an account made in this test's workspace, as tests/test_pages_accounts.py does); the
sign-in panel itself is tested in tests/test_sign_in.py.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from data.incidents.log import AREA_KINDS, INCIDENT_KINDS, LEVELS, MESSAGES, PHASES, REQUEST_FLOW, WARNING_COLOURS, WHAT, IncidentLog
from data.schema import now_beijing
from data.storage.workspace import Workspace
from geo.warning import call_list
from layers.consultation import plain
from layers.labels import LABELS
from pages._shared import widget_key
from tests.conftest import ROOT, frame_with
from tests.people import cheap_accounts, signed_in_cast

#: Display names of the accounts the tests sign in with (tests/people.py `CAST` for their department, jurisdiction and roles).
SHOWN = {"commander": "王指挥", "duty": "李值班", "fire": "赵消防", "qingpu": "钱青浦"}


def _w(key: str, lang: str = "zh") -> str:
    """The key of the widget behind the selection `key` (pages._shared wrappers and the page's in-form choices)."""
    return widget_key(key, lang)


@pytest.fixture
def cast(workspace_path) -> dict:
    """Signed-in sessions of this test's workspace, by cast name: the 嘉善县 commander (the lead's 指挥长), its duty
    officer, its fire liaison and 青浦区's duty officer; made before the app opens the workspace."""
    return signed_in_cast(workspace_path, SHOWN)


def _as(at, session):
    """The page as the holder of `session` sees it, signed in."""
    at.session_state["account"] = session
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def page(open_app, cast):
    return _as(open_app("pages/consultation.py"), cast["commander"])


def _submit(at, form: str) -> None:
    next(b for b in at.button if b.key and b.key.startswith(f"FormSubmitter:{form}-")).click().run()
    assert not at.exception, at.exception


def _section(at, name: str, lang: str = "zh") -> None:
    at.radio(key=_w("inc_section", lang)).set_value(name).run()
    assert not at.exception, at.exception


def _open(at, title="嘉善<script>alert(1)</script>化工泄漏") -> None:
    at.radio(key=_w("inc_where")).set_value("coords").run()
    at.text_input(key="inc_f_title").input(title)
    at.text_input(key="inc_f_coords").input("120.9070,30.8410")
    at.multiselect(key="inc_f_jur").select("310118")
    _submit(at, "inc_new_form")


def test_open_an_incident_and_log_entries(page):
    assert "还没有事件" in page.info[0].value
    _open(page)
    assert "牵头辖区：嘉善县" in page.success[0].value
    assert page.subheader[0].value.endswith(plain("嘉善<script>alert(1)</script>化工泄漏"))  # escaped: shown as text, never run
    page.text_area(key="inc_entry_text").input("消防<b>已到场</b>")
    page.selectbox(key=_w("inc_entry_kind")).set_value("event")
    _submit(page, "inc_entry_form")
    assert page.success[0].value == "已保存记录 #2。"
    assert page.text_area(key="inc_entry_text").value == ""  # cleared once saved
    log = frame_with(page, "记录人")
    assert log["内容"].iloc[0] == "消防<b>已到场</b>" and log["类型"].iloc[0] == "重要事件"
    assert set(log["记录人"]) == {"王指挥（嘉善县）"} and set(log["部门"]) == {"应急管理"}  # signed by the account, shown by its name
    page.selectbox(key=_w("inc_entry_kind")).set_value("correction")
    page.number_input(key="inc_entry_corrects").set_value(2)
    page.text_area(key="inc_entry_text").input("到场的是嘉善中队")
    _submit(page, "inc_entry_form")
    log = frame_with(page, "记录人").set_index("编号")
    assert log.at[2, "更正关系"] == "已被 #3 更正" and log.at[3, "更正关系"] == "更正 #2"


def test_bad_input_is_explained(page):
    _open(page)
    page.text_area(key="inc_entry_text").input("   ")
    _submit(page, "inc_entry_form")
    assert page.error[0].value == "“内容”不能为空，请填写。"
    page.text_area(key="inc_entry_text").input("长" * 2001)
    _submit(page, "inc_entry_form")
    assert "超过上限 2000 字" in page.error[0].value
    assert page.text_area(key="inc_entry_text").value == "长" * 2001  # what was typed is kept for fixing
    assert len(frame_with(page, "记录人")) == 1  # only the opening row: nothing was saved half-way


AREA = {"type": "Polygon", "coordinates": [[[120.8, 30.8], [121.0, 30.8], [121.0, 30.9], [120.8, 30.9], [120.8, 30.8]]]}


def _seed(workspace_path, cast, store) -> str:
    """An incident of 嘉善县 with a warning calling 嘉善县应急管理局 (C0194) and 嘉善县消防救援大队 (C0195), written
    through the log by the lead's commander before the app opens the workspace."""
    with Workspace(workspace_path) as ws:
        log = IncidentLog(ws, accounts=cheap_accounts(ws))
        iid = log.open_incident(title="嘉善化工园区泄漏", kind="hazchem", level="II", lon=120.907, lat=30.841, lead_code="330421", lead_name="嘉善县",
                                jurisdictions=["310118"], departments=["emergency", "fire"], by=cast["commander"])  # fmt: skip
        calls = call_list(["330421"], ["emergency", "fire"], store.table("contacts"))
        log.issue_warning(iid, colour="red", text="危化品泄漏，5 公里内疏散", area_kind="polygon", area=AREA, counties=["330421"], departments=["emergency", "fire"],
                          calls=calls.to_dict("records"), by=cast["commander"])  # fmt: skip
    return iid


def _forms(at) -> list[str]:
    return [b.key for b in at.main.button if b.key and b.key.startswith("FormSubmitter:")]  # the sidebar has the sign-in form


def test_without_an_account_the_board_shows_and_nothing_can_be_written(open_app, cast, store, workspace_path):
    iid = _seed(workspace_path, cast, store)
    at = open_app("pages/consultation.py")
    assert at.subheader[0].value.startswith(iid)  # the board, for everyone
    assert frame_with(at, "记录人")["记录人"].tolist() == ["王指挥（嘉善县）"] * 2
    with pytest.raises(KeyError):
        at.selectbox(key=_w("inc_phase_to"))
    for section in ("board", "warnings", "requests"):
        _section(at, section)
        assert _forms(at) == [], section
        assert [i.value for i in at.info if i.value.startswith("请先在左侧栏登录")] == ["请先在左侧栏登录：登录后才能记录、叫应、申请资源或导入数据。"], section
    _section(at, "warnings")
    assert (frame_with(at, "值班电话")["状态"] == "待应答").all()  # the call list is readable
    _section(at, "brief")
    at.button(key="inc_verify").click().run()  # reading the trace needs no account
    assert any("完整，共 2 行" in s.value for s in at.success)
    at.selectbox(key=_w("inc_pick")).set_value("__new__").run()
    assert not at.exception and _forms(at) == [] and any(i.value.startswith("请先在左侧栏登录") for i in at.info)


def test_a_fire_liaison_cannot_answer_for_the_emergency_bureau(open_app, cast, store, workspace_path):
    """Each unit answers its own 叫应: the 嘉善县 fire liaison records 消防救援大队's answer, not 应急管理局's."""
    _seed(workspace_path, cast, store)
    at = _as(open_app("pages/consultation.py"), cast["fire"])
    with pytest.raises(KeyError):
        at.selectbox(key=_w("inc_phase_to"))  # only the lead's commander moves the phase
    _section(at, "warnings")
    with pytest.raises(KeyError):
        at.text_input(key="inc_ack_reason")  # a liaison never answers on a unit's behalf
    at.selectbox(key=_w("inc_ack_contact")).set_value("C0194")
    _submit(at, "inc_ack_form")
    assert [e.value for e in at.error] == ["无权登记叫应应答：须由应急管理部门人员办理，您属于消防救援部门。"]
    calls = frame_with(at, "值班电话")
    assert (calls["状态"] == "待应答").all() and (calls["应答登记人"] == "—").all()  # nothing written
    _section(at, "board")
    assert len(frame_with(at, "记录人")) == 2
    _section(at, "warnings")
    at.selectbox(key=_w("inc_ack_contact")).set_value("C0195")
    _submit(at, "inc_ack_form")
    assert at.success[0].value == "已记录 嘉善县消防救援大队 · 嘉善县 · 消防救援 的应答。"
    calls = frame_with(at, "值班电话").set_index("单位")
    assert calls.at["嘉善县消防救援大队", "状态"] == "已应答" and calls.at["嘉善县消防救援大队", "应答登记人"] == "赵消防（嘉善县）"
    assert calls.at["嘉善县应急管理局", "状态"] == "待应答"


def test_only_the_lead_commander_moves_the_phase(open_app, cast, store, workspace_path):
    _seed(workspace_path, cast, store)
    at = _as(open_app("pages/consultation.py"), cast["duty"])
    with pytest.raises(KeyError):
        at.selectbox(key=_w("inc_phase_to"))
    assert any(c.value.startswith("无权变更事件阶段") for c in at.caption)
    _as(at, cast["qingpu"])  # a neighbour party to the incident: may log, not lead
    with pytest.raises(KeyError):
        at.selectbox(key=_w("inc_phase_to"))
    assert "inc_entry_form" in " ".join(_forms(at))
    _as(at, cast["commander"])
    at.selectbox(key=_w("inc_phase_to")).set_value("response")
    at.text_input(key="inc_phase_note").input("启动Ⅱ级响应")
    _submit(at, "inc_phase_form")
    assert at.success[0].value.startswith("已转入“应急响应与处置”阶段")
    assert any(m.value.startswith("**当前阶段：应急响应与处置") for m in at.markdown)
    phases = next(df.value for df in at.dataframe if "记录人" in df.value.columns and "编号" not in df.value.columns)  # the phases, under their expander
    assert phases["类型"].tolist() == ["信息报告与预警", "应急响应与处置"] and phases["记录人"].tolist() == ["王指挥（嘉善县）"] * 2


def test_new_incident_outside_every_county_is_refused(page):
    page.radio(key=_w("inc_where")).set_value("coords").run()
    page.text_input(key="inc_f_title").input("海上事故")
    page.text_input(key="inc_f_coords").input("123.5,30.0")
    _submit(page, "inc_new_form")
    assert "不在任何区县内" in page.error[0].value
    page.text_input(key="inc_f_coords").input("30.84,120.90")
    _submit(page, "inc_new_form")
    assert plain("30.84,120.90") in page.error[0].value and "经度在前" in page.error[0].value


@pytest.mark.parametrize("typed", ["abc", "30.84,120.90", "120.9;30.8", "200,100"])
def test_unreadable_coordinates_are_explained_in_chinese_only(page, typed):
    """Whatever geo.crs says (in English), the Chinese message says what to type, with Chinese punctuation only."""
    page.radio(key=_w("inc_where")).set_value("coords").run()
    page.text_input(key="inc_f_title").input("坐标有误")
    page.text_input(key="inc_f_coords").input(typed)
    _submit(page, "inc_new_form")
    message = page.error[0].value
    assert message.startswith(f"坐标“{plain(typed)}”无法识别：") and "经度,纬度" in message and "120.9070,30.8410" in message
    said = message.replace(plain(typed), "").replace("120.9070,30.8410", "")
    assert re.search(r"[A-Za-z]", said) is None, said  # no English fragment (e.g. "is not LON,LAT in degrees")
    assert "'" not in said and ". " not in said and said.endswith("。")


def test_warning_call_list_acknowledgment_and_rate(page, store):
    _open(page)
    _section(page, "warnings")
    page.radio(key=_w("inc_warn_area")).set_value("buffer").run()
    page.text_area(key="inc_warn_text").input("红色预警：危化品泄漏，5 公里内疏散")
    page.number_input(key="inc_warn_radius").set_value(5.0)
    page.multiselect(key=_w("inc_warn_depts")).set_value(["fire", "police"])
    _submit(page, "inc_warn_form")
    assert "已发布预警 #2" in page.success[0].value and "嘉善县" in page.success[0].value
    calls = frame_with(page, "值班电话")
    contacts = store.table("contacts")
    jiashan = contacts[(contacts["jurisdiction_code"] == "330421") & contacts["department"].isin(["fire", "police"])]
    assert set(jiashan["unit"]) <= set(calls["单位"])
    assert (calls["状态"] == "待应答").all()
    # the commander (应急管理) answers for the units called: on their behalf, which needs a reason
    first = page.selectbox(key=_w("inc_ack_contact")).options[0]
    _submit(page, "inc_ack_form")
    assert page.error[0].value.startswith("代为登记叫应应答须说明理由")
    page.text_input(key="inc_ack_reason").input("电话应答，值班员代录")
    # a backfilled answer time before the warning, or in the future, is refused with the reason
    now = now_beijing()
    page.time_input(key="inc_ack_when_time").set_value(now.time())
    page.date_input(key="inc_ack_when_date").set_value(now.date() - dt.timedelta(days=1))
    _submit(page, "inc_ack_form")
    assert "早于预警发布时间" in page.error[0].value
    page.date_input(key="inc_ack_when_date").set_value(now.date() + dt.timedelta(days=1))
    _submit(page, "inc_ack_form")
    assert "晚于当前时间" in page.error[0].value
    assert (frame_with(page, "值班电话")["状态"] == "待应答").all()  # nothing was recorded
    page.time_input(key="inc_ack_when_time").set_value(None)
    page.selectbox(key=_w("inc_ack_contact")).set_value(page.selectbox(key=_w("inc_ack_contact")).value)
    _submit(page, "inc_ack_form")
    assert page.success[0].value.startswith("已记录") and first.split(" · ")[0] in page.success[0].value
    assert page.text_input(key="inc_ack_reason").value == ""  # cleared once saved
    calls = frame_with(page, "值班电话")
    n = len(calls)
    assert (calls["状态"] == "已应答").sum() == 1
    answered = calls[calls["状态"] == "已应答"]
    assert answered["应答登记人"].tolist() == ["王指挥（嘉善县）（代为叫应，理由：电话应答，值班员代录）"]  # shown as recorded on the unit's behalf
    assert (calls.loc[calls["状态"] != "已应答", "应答登记人"] == "—").all()
    assert page.metric[0].value == f"1/{n}（{100 / n:.0f}%）"
    _section(page, "board")
    entries = frame_with(page, "记录人")
    assert entries["内容"].iloc[0].startswith("代为叫应（理由：电话应答，值班员代录）：" + first.split(" · ")[0])
    assert any("代为叫应（理由：电话应答，值班员代录）" in m.value for m in page.markdown)  # the feed says it too


def _candidates(at) -> list[str]:
    """The ids behind the request picker's options, in its order."""
    return [r["id"] for r in at.session_state["inc_candidates"]["rows"]]


def test_request_from_the_engine_and_phase_to_review(page):
    _open(page)
    _section(page, "requests")
    page.selectbox(key=_w("inc_req_layer")).set_value("teams").run()
    page.button(key="inc_req_find").click().run()
    assert not page.exception, page.exception
    option = page.selectbox(key=_w("inc_req_pick"))
    assert len(option.options) == 8 and "分钟" in option.options[0]
    option.set_value(next(i for i, label in zip(_candidates(page), option.options, strict=True) if "嘉善县" in label))  # approved by 嘉善县's own commander
    _submit(page, "inc_req_form")
    assert page.success[0].value.startswith("已提交请求 #2")
    req = frame_with(page, "预计到达（分钟）")
    assert req["状态"].iloc[0] == "已申请" and req["预计到达（分钟）"].iloc[0].endswith("估算")
    for status in ("approved", "dispatched", "arrived"):
        page.selectbox(key=_w("inc_req_adv_status")).set_value(status)
        _submit(page, "inc_req_adv_form")
    assert frame_with(page, "预计到达（分钟）")["状态"].iloc[0] == "已到达"
    with pytest.raises(KeyError):
        page.selectbox(key=_w("inc_req_adv_status"))  # no open request left
    page.selectbox(key=_w("inc_phase_to")).set_value("response")
    _submit(page, "inc_phase_form")
    page.selectbox(key=_w("inc_phase_to")).set_value("aftermath")
    _submit(page, "inc_phase_form")
    assert any("应急终止与善后" in m.value for m in page.markdown)
    _section(page, "brief")
    review = frame_with(page, "首次到场（分钟，自事发）")
    assert review["部门"].iloc[-1] == "全部" and review["资源请求"].iloc[-1] == 1


def test_a_warning_lifted_into_aftermath_makes_the_phase_final(page):
    _open(page)
    page.selectbox(key=_w("inc_phase_to")).set_value("aftermath")
    page.text_input(key="inc_phase_note").input("误报，解除")
    _submit(page, "inc_phase_form")
    assert any("阶段不可再变更" in c.value for c in page.caption)
    with pytest.raises(KeyError):
        page.selectbox(key=_w("inc_phase_to"))
    _section(page, "brief")
    review = frame_with(page, "首次到场（分钟，自事发）")  # the review shows, with nothing to count yet
    assert review["资源请求"].tolist() == [0]


def test_consultation_page_in_english(page):
    page.radio(key="lang").set_value("en").run()
    assert not page.exception
    assert page.title[0].value.startswith("Joint consultation")


def test_every_label_the_consultation_uses_exists_in_both_languages():
    """Each literal label key of the page and its builders, and each coded value they label, is in the table."""
    used = set()
    for path in ("pages/consultation.py", "layers/consultation.py"):
        used |= set(re.findall(r'"((?:inc|dis|layer)\.[a-z_.]+)"', (ROOT / path).read_text(encoding="utf-8")))
    coded = {f"inc.{prefix}.{v}" for prefix, values in (("phase", PHASES), ("kind", INCIDENT_KINDS), ("level", LEVELS), ("colour", WARNING_COLOURS),
                                                        ("status", REQUEST_FLOW), ("what", WHAT)) for v in values}  # fmt: skip
    coded |= {f"inc.entry.{k}" for k in ("incident", "phase", "log", "event", "decision", "correction", "warning", "ack", "request", "request_status")}
    coded |= {f"inc.err.{code}" for code in MESSAGES}
    coded |= {f"inc.area.{a}" for a in AREA_KINDS} | {f"inc.state.{x}" for x in ("acked", "waiting", "overdue")}
    prefixes = {k for k in used if any(label.startswith(k + ".") for label in LABELS)}  # label_or("inc.phase", value, ...)
    missing = sorted(k for k in (used - prefixes) | coded if k not in LABELS or not all(LABELS[k]))
    assert missing == []


RAW = re.compile(r"\b(None|nan|NaN|NaT)\b|<NA>")


def _raw_shown(at) -> list[str]:
    """Every raw None/nan/NaT on the page: in a table's cells (missing values included) or in a text element."""
    found = []
    for df in at.dataframe:
        frame = df.value
        found += [f"{col}: {v!r}" for col in frame.columns for v in frame[col] if v is None or (not isinstance(v, str) and v != v) or RAW.search(str(v))]
    for element in (*at.markdown, *at.caption, *at.success, *at.info, *at.warning, *at.error, *at.metric):
        if RAW.search(str(element.value)):
            found.append(str(element.value))
    return found


def test_no_raw_none_in_the_call_list_warnings_requests_and_review(page):
    """A warning nobody has answered yet (no answer time, no median), a request with no ETA yet answered, in both languages."""
    _open(page)
    _section(page, "warnings")
    page.radio(key=_w("inc_warn_area")).set_value("buffer").run()
    page.text_area(key="inc_warn_text").input("红色预警")
    _submit(page, "inc_warn_form")
    calls = frame_with(page, "值班电话")
    assert (calls["应答时间"] == "未应答").all() and (calls["应答用时（分钟）"] == "—").all()
    warnings = frame_with(page, "应答用时中位数（分钟）")
    assert warnings["首次应答（分钟）"].tolist() == ["—"] and warnings["应答用时中位数（分钟）"].tolist() == ["—"]
    assert _raw_shown(page) == []
    page.selectbox(key=_w("inc_phase_to")).set_value("aftermath")
    _submit(page, "inc_phase_form")
    for lang in ("en", "zh"):
        page.sidebar.radio[0].set_value(lang).run()
        assert not page.exception, page.exception
        for section in ("board", "warnings", "requests", "brief"):
            _section(page, section, lang)
            assert _raw_shown(page) == [], (lang, section)
    review = frame_with(page, "首次到场（分钟，自事发）")
    assert review["部门"].iloc[-1] == "全部" and (review["首次应答（分钟）"] == "—").all() and (review["30分钟到场"] == "—").all()


def test_verification_result_stays_through_the_timed_refreshes(page):
    """The board refreshes every few seconds: the result of 校验痕迹链 stays, with its time, until the log grows."""
    _open(page)
    _section(page, "brief")
    page.button(key="inc_verify").click().run()
    assert not page.exception, page.exception
    for _ in range(3):  # the refreshes that follow the click
        shown = [s.value for s in page.success if s.value.startswith("校验于")]
        assert len(shown) == 1 and re.fullmatch(r"校验于 \d\d:\d\d:\d\d：完整，共 1 行，均与登记时一致。", shown[0]), shown
        page.run()
        assert not page.exception, page.exception
    page.sidebar.radio[0].set_value("en").run()
    assert any(s.value.startswith("Checked at ") and "intact, 1 rows" in s.value for s in page.success)
    page.sidebar.radio[0].set_value("zh").run()
    _section(page, "board")
    page.text_area(key="inc_entry_text").input("新的记录")
    _submit(page, "inc_entry_form")
    _section(page, "brief")
    assert not [s.value for s in page.success if s.value.startswith("校验于")]  # the log grew: no longer shown as current
    assert any("此后日志已新增记录，请重新校验" in c.value for c in page.caption)
    page.button(key="inc_verify").click().run()
    assert any("完整，共 2 行" in s.value for s in page.success)


def test_choices_survive_a_language_switch(page, cast):
    """Entry kind, the department filter and the open section, chosen in Chinese, are still chosen in English and back."""
    for placeholder in (m.placeholder for m in page.multiselect):
        assert placeholder and re.search(r"[A-Za-z]", placeholder) is None, placeholder  # never "Choose options"
    _open(page)
    page.selectbox(key=_w("inc_entry_kind")).set_value("decision")
    page.text_area(key="inc_entry_text").input("封闭园区道路")
    _submit(page, "inc_entry_form")
    _as(page, cast["fire"])  # the fire liaison writes for 消防救援
    page.selectbox(key=_w("inc_entry_kind")).set_value("log")
    page.text_area(key="inc_entry_text").input("巡查")
    _submit(page, "inc_entry_form")
    page.selectbox(key=_w("inc_filter_dept")).set_value("emergency").run()
    before = frame_with(page, "记录人")
    assert before["内容"].tolist()[0] == "封闭园区道路" and len(before) == 2  # the decision and the opening, both by 应急管理
    for lang, who in (("en", "By"), ("zh", "记录人"), ("en", "By")):
        page.sidebar.radio[0].set_value(lang).run()
        assert not page.exception, page.exception
        assert page.selectbox(key=_w("inc_entry_kind", lang)).value == "log"
        assert page.selectbox(key=_w("inc_filter_dept", lang)).value == "emergency"
        assert frame_with(page, who).iloc[:, 0].tolist() == before["编号"].tolist()  # the same rows
    assert frame_with(page, "By")["By"].tolist() == ["王指挥 (嘉善县)"] * 2
    _as(page, cast["commander"])  # the lead's commander issues warnings
    _section(page, "warnings", "en")
    page.selectbox(key=_w("inc_warn_colour", "en")).set_value("orange")
    page.text_area(key="inc_warn_text").input("Orange warning")
    _submit(page, "inc_warn_form")
    for lang in ("zh", "en", "zh"):
        page.sidebar.radio[0].set_value(lang).run()
        assert not page.exception, page.exception
        assert page.radio(key=_w("inc_section", lang)).value == "warnings"
        assert page.selectbox(key=_w("inc_warn_pick", lang)).value == 4
        assert page.selectbox(key=_w("inc_warn_colour", lang)).value == "orange"
    assert frame_with(page, "值班电话")["状态"].eq("待应答").all()


def test_incident_map_fetches_the_boundaries_from_static_files(page):
    """The incident map refreshes with the board; its outlines were GeoJSON inside the map's JSON on
    every refresh, now they are the static files the browser fetches once."""
    import json

    _open(page)
    _section(page, "map")
    deck = json.loads(page.get("deck_gl_json_chart")[0].proto.json)
    outlines = [layer for layer in deck["layers"] if layer["id"].startswith("boundary")]
    assert outlines and all(isinstance(layer["data"], str) and layer["data"].startswith("app/static/gen/") for layer in outlines)
    for layer in outlines:
        assert (ROOT / "static" / "gen" / layer["data"].removeprefix("app/static/gen/")).is_file()
