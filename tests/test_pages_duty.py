"""The duty page (AppTest through the app's router) on the embedded dataset and a real workspace: roster, handover, information reports (issue 14)."""

from __future__ import annotations

import datetime as dt

import pytest

from data.incidents.duty import DutyBook
from data.incidents.log import IncidentLog
from data.schema import now_beijing
from data.storage.workspace import Workspace
from pages._shared import widget_key
from tests.people import People, cheap_accounts, signed_in_cast
from tests.test_pages_consultation import _as, _submit

SHOWN = {"commander": "王指挥", "duty": "李值班"}
JIASHAN = "330421"


@pytest.fixture
def cast(workspace_path) -> dict:
    """嘉善县's commander and duty officer (tests/people.py), and a second duty officer `night` for the next shift."""
    out = signed_in_cast(workspace_path, SHOWN)
    with Workspace(workspace_path) as ws:
        out["night"] = People(cheap_accounts(ws)).sign_in("night", "emergency", JIASHAN, "duty_officer", display_name="周夜班")
    return out


def _shift(at, *, start: dt.datetime, hours: float, leader: str, chief: str, officers=()) -> None:
    at.date_input(key="duty_f_day").set_value(start.date())
    at.time_input(key="duty_f_from").set_value(start.time())
    at.number_input(key="duty_f_hours").set_value(hours)
    at.selectbox(key="duty_f_leader").set_value(leader)
    at.selectbox(key="duty_f_chief").set_value(chief)
    for o in officers:
        at.multiselect(key="duty_f_officers").select(o)
    _submit(at, "duty_shift_form")


def test_roster_handover_and_acknowledgment_on_the_page(open_app, cast, workspace_path):
    at = _as(open_app("pages/duty.py"), cast["duty"])
    assert any("当前没有排班" in w.value for w in at.warning)
    start = now_beijing().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    _shift(at, start=start, hours=6, leader="commander", chief="duty")
    assert any("已保存班次" in s.value for s in at.success), [s.value for s in at.success]
    assert any("带班领导 王指挥" in s.value and "值班长 李值班" in s.value for s in at.success)
    # an overlapping shift is refused in Chinese, and nothing is saved
    _shift(at, start=start + dt.timedelta(hours=2), hours=6, leader="commander", chief="night")
    assert any("重叠" in e.value for e in at.error), [e.value for e in at.error]
    _shift(at, start=start + dt.timedelta(hours=6), hours=12, leader="commander", chief="night")
    # a shift without a leader on duty is refused, naming the field in Chinese
    at.date_input(key="duty_f_day").set_value((start + dt.timedelta(days=2)).date())
    at.selectbox(key="duty_f_leader").set_value(None)
    _submit(at, "duty_shift_form")
    assert any("“带班领导”不能为空" in e.value for e in at.error), [e.value for e in at.error]
    # the handover: live content (no incident yet), notes, signature
    at.text_area(key="duty_notes").input("夜间注意暴雨预警")
    at.button(key="duty_sign").click().run()
    assert not at.exception, at.exception
    assert any("已签署交接班记录" in s.value for s in at.success), [s.value for s in at.success]
    with Workspace(workspace_path) as ws:
        book = DutyBook(IncidentLog(ws, accounts=cheap_accounts(ws)))
        assert len(book.shifts(JIASHAN)) == 2
        row = book.handovers(JIASHAN).iloc[0]
        assert (row["who"], row["notes"]) == ("duty", "夜间注意暴雨预警")
    # the signer cannot acknowledge it; the incoming shift does
    at.button(key="duty_ack").click().run()
    assert any("须由接班人员确认" in e.value for e in at.error), [e.value for e in at.error]
    at = _as(at, cast["night"])
    at.button(key="duty_ack").click().run()
    assert not at.exception, at.exception
    assert any("已确认接班" in s.value for s in at.success)
    table = next(d.value for d in at.dataframe if "接班人" in d.value.columns)
    assert table["接班人"].iloc[0].startswith("周夜班") and table["交班人"].iloc[0].startswith("李值班")


def test_an_information_report_is_drafted_edited_refused_and_kept(open_app, cast, workspace_path):
    with Workspace(workspace_path) as ws:
        log = IncidentLog(ws, accounts=cheap_accounts(ws))
        iid = log.open_incident(title="嘉善县城区内涝", kind="flood", level="IV", lon=120.92, lat=30.84, lead_code=JIASHAN, lead_name="嘉善县", by=cast["commander"])
        log.note(iid, "decision", "启动防汛Ⅳ级应急响应", by=cast["commander"])
    at = _as(open_app("pages/duty.py"), cast["duty"])
    prefix = f"rep_{iid}_initial_1"
    assert "启动防汛Ⅳ级应急响应" in at.text_area(key=f"{prefix}_measures").value  # drafted from the log
    at.text_input(key=f"{prefix}_n_trapped").input("两")
    at.text_area(key=f"{prefix}_losses").input("被困 2 人，已转移。")
    _submit(at, f"rep_form_{prefix}")
    assert any("请填写 0 至" in e.value for e in at.error), [e.value for e in at.error]
    assert at.text_area(key=f"{prefix}_losses").value == "被困 2 人，已转移。"  # nothing typed is lost
    at.text_input(key=f"{prefix}_n_trapped").input("2")
    _submit(at, f"rep_form_{prefix}")
    assert any("已报送 关于嘉善县城区内涝的初报" in s.value for s in at.success), [s.value for s in at.success]
    history = next(d.value for d in at.dataframe if "标题" in d.value.columns)
    assert history["标题"].tolist() == ["关于嘉善县城区内涝的初报"] and history["伤亡（人）"].tolist() == ["被困 2"]
    assert f"rep_{iid}_update_1_what" in [ta.key for ta in at.text_area]  # the next draft is a 续报


def _drill_text(first_at: str = "+0 s") -> str:
    from data.incidents.drill import TEMPLATE

    return TEMPLATE.replace("  - at: +5 min", f"  - at: {first_at}", 1)


def test_a_drill_on_the_consultation_page_is_marked_fires_its_injects_and_refuses_a_bad_scenario(open_app, cast, workspace_path):
    at = _as(open_app("pages/consultation.py"), cast["commander"])
    at.selectbox(key=widget_key("inc_pick")).set_value("__drill__").run()
    assert not at.exception, at.exception
    # a bad scenario: every problem with its line, in Chinese; nothing is opened
    bad = _drill_text().replace("county: 嘉善县             # 县区名称或 6 位代码", "county: 嘉善区").replace("  - at: +12 min", "  - at: +25 min")
    at.text_area(key="inc_drill_text").input(bad)
    at.button(key="inc_drill_start").click().run()
    assert not at.exception, at.exception
    error = next(e.value for e in at.error if "演练脚本有" in e.value)
    assert "不是数据集中的区县" in error and "早于上一条" in error and "第 " in error
    with Workspace(workspace_path) as ws:
        assert IncidentLog(ws, accounts=cheap_accounts(ws)).incidents().empty
    at.text_area(key="inc_drill_text").input(_drill_text())
    at.button(key="inc_drill_start").click().run()
    assert not at.exception, at.exception
    assert any("已开始演练 DRILL-" in s.value for s in at.success), [s.value for s in at.success]
    at.run()  # the board's next look fires the inject due at +0 s
    assert any("本事件为演练" in w.value for w in at.warning)
    with Workspace(workspace_path) as ws:
        log = IncidentLog(ws, accounts=cheap_accounts(ws))
        drill = log.incidents()["incident_id"].iloc[0]
        rows = log.rows(drill)
        assert drill.startswith("DRILL-") and rows["kind"].tolist()[:3] == ["incident", "drill_start", "warning"]
        assert log.incidents(drills=False).empty
    # the controller sees the injects; a player does not
    at.radio(key=widget_key("inc_section")).set_value("drill").run()
    assert not at.exception, at.exception
    schedule = next(d.value for d in at.dataframe if "计划时间" in d.value.columns)
    assert schedule["已注入（记录）"].iloc[0].startswith("#") and schedule["已注入（记录）"].iloc[1] == "待注入"
    at.radio(key=widget_key("inc_section")).set_value("map").run()
    assert not at.exception, at.exception
    assert any("本事件为演练" in c.value for c in at.caption)  # the map says it too
    at.radio(key=widget_key("inc_section")).set_value("drill").run()
    at = _as(at, cast["duty"])
    assert any("仅导调人员可见" in i.value for i in at.info)
    assert not any("计划时间" in d.value.columns for d in at.dataframe)
