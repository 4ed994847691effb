"""The joint-consultation page (AppTest through the app's router) on the embedded dataset and a real workspace file."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from data.incidents.log import AREA_KINDS, INCIDENT_KINDS, LEVELS, MESSAGES, PHASES, REQUEST_FLOW, WARNING_COLOURS, WHAT

from data.schema import now_beijing
from layers.consultation import plain
from layers.labels import LABELS
from pages._shared import widget_key
from tests.conftest import ROOT, frame_with


def _w(key: str, lang: str = "zh") -> str:
    """The key of the widget behind the selection `key` (pages._shared wrappers and the page's in-form choices)."""
    return widget_key(key, lang)


@pytest.fixture
def page(open_app):
    return open_app("pages/consultation.py")


def _submit(at, form: str) -> None:
    next(b for b in at.button if b.key and b.key.startswith(f"FormSubmitter:{form}-")).click().run()
    assert not at.exception, at.exception


def _section(at, name: str, lang: str = "zh") -> None:
    at.radio(key=_w("inc_section", lang)).set_value(name).run()
    assert not at.exception, at.exception


def _open(at, title="嘉善<script>alert(1)</script>化工泄漏") -> None:
    at.text_input(key="inc_me_name").input("张三").run()
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
    page.selectbox(key=_w("inc_entry_kind")).set_value("correction")
    page.number_input(key="inc_entry_corrects").set_value(2)
    page.text_area(key="inc_entry_text").input("到场的是嘉善中队")
    _submit(page, "inc_entry_form")
    log = frame_with(page, "记录人").set_index("编号")
    assert log.at[2, "更正关系"] == "已被 #3 更正" and log.at[3, "更正关系"] == "更正 #2"


def test_identity_is_required_and_bad_input_is_explained(page):
    _open(page)
    page.text_input(key="inc_me_name").input("").run()
    page.text_area(key="inc_entry_text").input("无署名的记录")
    _submit(page, "inc_entry_form")
    assert "请先在侧栏填写姓名" in page.warning[0].value
    page.text_input(key="inc_me_name").input("张三").run()
    page.text_area(key="inc_entry_text").input("   ")
    _submit(page, "inc_entry_form")
    assert page.error[0].value == "“内容”不能为空，请填写。"
    page.text_area(key="inc_entry_text").input("长" * 2001)
    _submit(page, "inc_entry_form")
    assert "超过上限 2000 字" in page.error[0].value
    assert page.text_area(key="inc_entry_text").value == "长" * 2001  # what was typed is kept for fixing
    assert len(frame_with(page, "记录人")) == 1  # only the opening row: nothing was saved half-way


def test_new_incident_outside_every_county_is_refused(page):
    page.text_input(key="inc_me_name").input("张三").run()
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
    page.text_input(key="inc_me_name").input("张三").run()
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
    first = page.selectbox(key=_w("inc_ack_contact")).options[0]
    page.selectbox(key=_w("inc_ack_contact")).set_value(page.selectbox(key=_w("inc_ack_contact")).value)
    _submit(page, "inc_ack_form")
    assert page.success[0].value.startswith("已记录") and first.split(" · ")[0] in page.success[0].value
    calls = frame_with(page, "值班电话")
    n = len(calls)
    assert (calls["状态"] == "已应答").sum() == 1
    assert page.metric[0].value == f"1/{n}（{100 / n:.0f}%）"


def test_request_from_the_engine_and_phase_to_review(page):
    _open(page)
    _section(page, "requests")
    page.selectbox(key=_w("inc_req_layer")).set_value("teams").run()
    page.button(key="inc_req_find").click().run()
    assert not page.exception, page.exception
    option = page.selectbox(key=_w("inc_req_pick"))
    assert len(option.options) == 8 and "分钟" in option.options[0]
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


def test_choices_survive_a_language_switch(page):
    """Department, entry kind, the department filter and the open section, chosen in Chinese, are still chosen in English and back."""
    page.selectbox(key=_w("inc_me_dept")).set_value("fire").run()
    for placeholder in (m.placeholder for m in page.multiselect):
        assert placeholder and re.search(r"[A-Za-z]", placeholder) is None, placeholder  # never "Choose options"
    _open(page)
    page.selectbox(key=_w("inc_entry_kind")).set_value("decision")
    page.text_area(key="inc_entry_text").input("封闭园区道路")
    _submit(page, "inc_entry_form")
    page.selectbox(key=_w("inc_me_dept")).set_value("police").run()
    page.selectbox(key=_w("inc_entry_kind")).set_value("log")
    page.text_area(key="inc_entry_text").input("巡查")
    _submit(page, "inc_entry_form")
    page.selectbox(key=_w("inc_filter_dept")).set_value("fire").run()
    before = frame_with(page, "记录人")
    assert before["内容"].tolist()[0] == "封闭园区道路" and len(before) == 2  # the decision and the opening, both by 消防救援
    for lang, who in (("en", "By"), ("zh", "记录人"), ("en", "By")):
        page.sidebar.radio[0].set_value(lang).run()
        assert not page.exception, page.exception
        assert page.selectbox(key=_w("inc_me_dept", lang)).value == "police"
        assert page.selectbox(key=_w("inc_entry_kind", lang)).value == "log"
        assert page.selectbox(key=_w("inc_filter_dept", lang)).value == "fire"
        assert frame_with(page, who).iloc[:, 0].tolist() == before["编号"].tolist()  # the same rows
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
