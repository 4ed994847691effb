"""Duty roster and handover, information reports (初报/续报/终报) and drill incidents, on a real workspace (`backend`): issue 14 items 1–3."""

from __future__ import annotations

from datetime import timedelta

import pytest

from data.accounts.accounts import Refused
from data.incidents import board as boards
from data.incidents import reports
from data.incidents.duty import DutyBook, DutyError, book_id
from data.incidents.log import IncidentError
from data.incidents.reports import ReportError, Reports
from tests.test_incidents import CALLS, T0, _open, _warn, clock, log, people  # noqa: F401  (fixtures)

JIASHAN = "330421"
NAMES = {"330421": "嘉善县", "310118": "青浦区", "320509": "吴江区"}


def _request(log, people, iid, name, **kw):
    args = {"resource_id": f"T-{name}", "resource_name": name, "resource_layer": "teams", "from_code": "310118", "to_code": JIASHAN, "text": "请求支援",
            "eta_s": 1500.0, "provider_department": "emergency"} | kw  # fmt: skip
    return log.request(iid, **args, by=people["commander"])


def _staff(people) -> dict:
    """嘉善县's duty officers besides the cast's `duty`: `day2` on the day shift, `night` and `night2` on the night shift."""
    return {name: people.sign_in(name, "emergency", JIASHAN, "duty_officer") for name in ("day2", "night", "night2")}


def _roster(log, people):
    """Two 12-hour shifts of 嘉善县 (08:00 and 20:00 on T0's day), each 1 leader on duty + 1 shift leader + 1 officer ("1+1")."""
    book, staff = DutyBook(log), _staff(people)
    day = T0.replace(hour=8, minute=0)
    first = book.add_shift(JIASHAN, starts=day, ends=day + timedelta(hours=12), leader="commander", chief="duty", officers=["day2"], by=people["duty"])
    second = book.add_shift(JIASHAN, starts=day + timedelta(hours=12), ends=day + timedelta(hours=24), leader="commander", chief="night", officers=["night2"],
                            by=people["duty"])  # fmt: skip
    people.staff = staff
    return book, first, second


def test_roster_refuses_bad_shifts_and_keeps_replacements(log, people):
    book, first, second = _roster(log, people)
    day = T0.replace(hour=8, minute=0)
    with pytest.raises(DutyError) as exc:
        book.add_shift(JIASHAN, starts=day + timedelta(hours=6), ends=day + timedelta(hours=14), leader="commander", chief="duty", by=people["duty"])
    assert exc.value.code == "shift_overlap" and exc.value.params["other"] == first
    with pytest.raises(DutyError) as exc:
        book.add_shift(JIASHAN, starts=day + timedelta(days=2), ends=day + timedelta(days=2), leader="commander", chief="duty", by=people["duty"])
    assert exc.value.code == "shift_order"
    with pytest.raises(DutyError) as exc:
        book.add_shift(JIASHAN, starts=day + timedelta(days=2), ends=day + timedelta(days=5), leader="commander", chief="duty", by=people["duty"])
    assert exc.value.code == "shift_long"
    with pytest.raises(IncidentError) as exc:
        book.add_shift(JIASHAN, starts=day + timedelta(days=2), ends=day + timedelta(days=2, hours=8), leader="", chief="duty", by=people["duty"])
    assert exc.value.code == "required"
    with pytest.raises(Refused):  # another jurisdiction's duty officer keeps no roster here
        book.add_shift(JIASHAN, starts=day + timedelta(days=2), ends=day + timedelta(days=2, hours=8), leader="x", chief="y", by=people["qingpu"])
    # a replacement may overlap the shift it replaces, and the old one no longer counts
    new = book.add_shift(JIASHAN, starts=day, ends=day + timedelta(hours=12), leader="commander", chief="day2", officers=["duty"], by=people["duty"], replaces=first)
    assert [s.id for s in book.shifts(JIASHAN)] == [new, second]
    assert book.on_duty(JIASHAN, T0).chief == "day2"
    assert book.on_duty(JIASHAN, day + timedelta(hours=12)).id == second  # [starts, ends)
    assert book.on_duty(JIASHAN, day - timedelta(seconds=1)) is None
    assert log.incidents().empty  # the duty book is no incident
    assert log.verify() == []


def test_handover_content_equals_the_live_state(log, clock, people):
    """What the handover freezes, against what the test did by hand: open incidents with phase, warnings with their rates,
    overdue calls, requests in flight; a closed incident, a drill and an incident of another county are left out."""
    book, first, second = _roster(log, people)
    a = _open(log, people)  # 嘉善县 leads, 青浦区 party
    b = _open(log, people, title="嘉善县城区内涝", kind="flood", level="IV", phase="response", jurisdictions=[])
    closed = _open(log, people, title="已结束事件", phase="response")
    log.transition(closed, "aftermath", by=people["commander"])
    drill = log.open_incident(title="演练：化工泄漏", kind="hazchem", level="III", lon=120.92, lat=30.84, lead_code=JIASHAN, lead_name="嘉善县", at=T0,
                              by=people["commander"], drill=True)  # fmt: skip
    other = log.open_incident(title="吴江区事件", kind="fire", level="IV", lon=120.64, lat=31.16, lead_code="320509", lead_name="吴江区", at=T0, by=people["wujiang"])
    w = _warn(log, people, a)  # issued at T0 + 10 min (the clock)
    log.acknowledge(a, w, "C1", by=people["fire"])
    clock.tick(minutes=12)  # C2 and C3 are now 12 min unanswered: overdue (10 min)
    r1 = _request(log, people, a, "青浦区救援队")
    r2 = _request(log, people, a, "青浦区排涝车")
    r3 = _request(log, people, a, "青浦区无人机组")
    log.advance_request(a, r2, "approved", by=people["qingpu_commander"])
    log.advance_request(a, r3, "declined", by=people["qingpu_commander"])
    live = [boards.build(log.rows(i), now=clock()) for i in (a, b, closed, drill, other)]
    hid = book.sign_handover(JIASHAN, boards=live, notes="青浦区救援队预计 25 分钟到达，请跟进。", by=people["duty"])
    row = book.handovers(JIASHAN).iloc[0]
    content = row["content"]
    assert row["id"] == hid and row["who"] == "duty" and row["shift"] == first and row["notes"].startswith("青浦区救援队")
    assert [(i["id"], i["phase"], i["drill"]) for i in content["incidents"]] == sorted([(a, "warning", False), (b, "response", False)])
    assert [(x["id"], x["calls"], x["acked"], x["rate"], x["overdue"]) for x in content["warnings"]] == [(w, 3, 1, pytest.approx(1 / 3), 2)]
    assert sorted((c["unit"], c["waited_s"]) for c in content["overdue_calls"]) == sorted([(CALLS[1]["unit"], 720.0), (CALLS[2]["unit"], 720.0)])
    assert sorted((q["id"], q["status"]) for q in content["requests"]) == sorted([(r1, "requested"), (r2, "approved")])
    # with drills asked for, the drill is in and marked
    marked = book.sign_handover(JIASHAN, boards=live, notes="", by=people["duty"], include_drills=True)
    again = book.handovers(JIASHAN).set_index("id").loc[marked, "content"]
    assert (drill, True) in [(i["id"], i["drill"]) for i in again["incidents"]]
    # the frozen content does not follow later changes
    log.acknowledge(a, w, "C2", by=people["police"])
    assert book.handovers(JIASHAN).set_index("id").loc[hid, "content"]["warnings"][0]["acked"] == 1


def test_handover_is_signed_by_the_outgoing_and_acknowledged_by_the_incoming_shift(log, clock, people):
    book, first, second = _roster(log, people)
    live = [boards.build(log.rows(_open(log, people)), now=clock())]
    with pytest.raises(DutyError) as exc:  # night is on the next shift, not on this one
        book.sign_handover(JIASHAN, boards=live, notes="", by=people.staff["night"])
    assert exc.value.code == "not_on_shift"
    with pytest.raises(DutyError) as exc:
        book.sign_handover(JIASHAN, boards=live, notes="", by=people["duty"], at=T0 + timedelta(days=3))
    assert exc.value.code == "no_shift"
    hid = book.sign_handover(JIASHAN, boards=live, notes="无特殊情况", by=people["duty"])
    with pytest.raises(DutyError) as exc:
        book.acknowledge_handover(JIASHAN, hid, by=people["duty"])
    assert exc.value.code == "own_handover"
    with pytest.raises(DutyError) as exc:  # day2 is on the outgoing shift only
        book.acknowledge_handover(JIASHAN, hid, by=people.staff["day2"])
    assert exc.value.code == "not_incoming"
    with pytest.raises(Refused):  # a liaison is no duty officer
        book.acknowledge_handover(JIASHAN, hid, by=people["police"])
    with pytest.raises(DutyError) as exc:
        book.acknowledge_handover(JIASHAN, hid + 100, by=people.staff["night"])
    assert exc.value.code == "unknown_handover"
    ack = book.acknowledge_handover(JIASHAN, hid, by=people.staff["night"], text="已接班")
    with pytest.raises(DutyError) as exc:
        book.acknowledge_handover(JIASHAN, hid, by=people.staff["night2"])
    assert exc.value.code == "handover_acked"
    shown = book.handovers(JIASHAN).iloc[0]
    assert (shown["who"], shown["acked_by"], shown["ack_text"]) == ("duty", "night", "已接班")
    rows = log.workspace.query("SELECT id, kind, who FROM incident_log WHERE incident_id = ? ORDER BY id", [book_id(JIASHAN)])
    assert rows["kind"].tolist() == ["duty_shift", "duty_shift", "handover", "handover_ack"]
    assert rows["id"].tolist()[-2:] == [hid, ack]
    assert log.verify() == []


def test_reports_follow_their_order_and_every_version_is_kept(log, clock, people):
    iid = _open(log, people)
    w = _warn(log, people, iid)
    log.acknowledge(iid, w, "C1", by=people["fire"])
    log.note(iid, "decision", "启动危化品泄漏Ⅱ级响应", by=people["commander"])
    _request(log, people, iid, "青浦区救援队")
    rep = Reports(log)
    board = boards.build(log.rows(iid), now=clock())
    assert reports.next_stage(board) == "initial"
    with pytest.raises(ReportError) as exc:
        rep.submit(iid, "update", sections=reports.draft(board, "update", names=NAMES).sections, by=people["duty"])
    assert exc.value.code == "first_initial"
    first = reports.draft(board, "initial", names=NAMES, unit="嘉善县应急管理局")
    assert first.heading == "关于嘉善化工园区泄漏的初报"
    assert "嘉善县" in first.sections["place"] and "2026-11-22 09:00" == first.sections["time"]
    assert "启动危化品泄漏Ⅱ级响应" in first.sections["measures"] and "叫应 1/3" in first.sections["measures"]
    assert "青浦区救援队（青浦区 → 嘉善县）：已申请，预计 25 分钟" in first.sections["resources"]
    assert "人员伤亡情况暂无报告" in first.sections["losses"]
    edited = dict(first.sections, losses="被困 2 人，已转移。厂房局部受损。")
    with pytest.raises(ReportError) as exc:
        rep.submit(iid, "initial", sections=edited, casualties={"trapped": "两"}, by=people["duty"])
    assert exc.value.code == "bad_count"
    with pytest.raises(Refused):  # 青浦区 is party, but the lead reports
        rep.submit(iid, "initial", sections=edited, casualties={"trapped": 2}, by=people["qingpu"])
    r1 = rep.submit(iid, "initial", sections=edited, casualties={"trapped": 2}, unit="嘉善县应急管理局", by=people["duty"])
    with pytest.raises(ReportError) as exc:
        rep.submit(iid, "initial", sections=edited, by=people["duty"])
    assert exc.value.code == "initial_done"
    board = boards.build(log.rows(iid), now=clock())
    second = reports.draft(board, "update", names=NAMES)
    assert second.heading == "关于嘉善化工园区泄漏的续报（第 1 次）"
    assert second.casualties["trapped"] == 2 and second.sections["losses"] == "被困 2 人，已转移。厂房局部受损。"  # carried from the last report
    r2 = rep.submit(iid, "update", sections=second.sections, casualties={"trapped": 0, "injured": 1}, by=people["duty"])
    r3 = rep.submit(iid, "update", sections=dict(second.sections, next_steps="继续监测"), casualties={"trapped": 0, "injured": 1}, by=people["commander"])
    with pytest.raises(ReportError) as exc:
        rep.submit(iid, "final", sections=second.sections, by=people["duty"])
    assert exc.value.code == "final_phase"
    log.transition(iid, "aftermath", by=people["commander"])
    r4 = rep.submit(iid, "final", sections=second.sections, by=people["duty"])
    with pytest.raises(ReportError) as exc:
        rep.submit(iid, "update", sections=second.sections, by=people["duty"])
    assert exc.value.code == "final_done"
    board = boards.build(log.rows(iid), now=clock())
    kept = reports.submitted(board)
    assert [(r.id, r.stage, r.number) for r in kept] == [(r1, "initial", 1), (r2, "update", 1), (r3, "update", 2), (r4, "final", 1)]
    assert kept[0].sections["losses"] == "被困 2 人，已转移。厂房局部受损。" and kept[0].casualties["trapped"] == 2 and kept[0].unit == "嘉善县应急管理局"
    assert kept[2].sections["next_steps"] == "继续监测" and kept[2].reporter == "commander"
    assert reports.next_stage(board) is None
    assert reports.history(board)["heading"].tolist()[2] == "关于嘉善化工园区泄漏的续报（第 2 次）"
    text = reports.text(kept[0])
    assert text.startswith("关于嘉善化工园区泄漏的初报") and "四、人员伤亡和财产损失\n被困 2 人" in text and "报送单位：嘉善县应急管理局" in text
    assert log.verify() == []


def test_a_drill_is_opened_by_a_controller_and_left_out_of_real_lists(log, people):
    real = _open(log, people)
    with pytest.raises(Refused):  # a duty officer opens incidents, not drills
        log.open_incident(title="演练", kind="fire", level="IV", lon=120.92, lat=30.84, lead_code=JIASHAN, lead_name="嘉善县", by=people["duty"], drill=True)
    drill = log.open_incident(title="演练：内涝", kind="flood", level="IV", lon=120.92, lat=30.84, lead_code=JIASHAN, lead_name="嘉善县", at=T0,
                              by=people["jiaxing"], drill=True)  # fmt: skip
    assert drill == "DRILL-20261122-001" and real == "YRD-20261122-001"
    listed = log.incidents()
    assert dict(zip(listed["incident_id"], listed["drill"], strict=True)) == {real: False, drill: True}
    assert log.incidents(drills=False)["incident_id"].tolist() == [real]
    head = boards.build(log.rows(drill), now=T0 + timedelta(minutes=20)).incident
    assert head["drill"] is True and head["controller"] == "jiaxing"


def test_handover_and_report_documents_say_what_the_records_say(log, clock, people):
    """The DOCX read back (python-docx) and the PDF's text (pypdf if present, else its header) carry the handover's and the report's content."""
    import io

    from docx import Document

    from data.incidents.briefing import write_docx, write_pdf
    from data.incidents.duty import handover_blocks

    book, first, second = _roster(log, people)
    iid = _open(log, people)
    w = _warn(log, people, iid)
    clock.tick(minutes=11)
    live = [boards.build(log.rows(iid), now=clock())]
    hid = book.sign_handover(JIASHAN, boards=live, notes="注意青浦区方向来车", by=people["duty"])
    book.acknowledge_handover(JIASHAN, hid, by=people.staff["night"])
    row = book.handovers(JIASHAN).iloc[0]
    blocks = handover_blocks(row, names=NAMES, signers={"duty": "张值班", "night": "李接班"})
    doc = Document(io.BytesIO(write_docx(blocks)))
    text = "\n".join(p.text for p in doc.paragraphs) + "\n".join(c.text for t in doc.tables for r in t.rows for c in r.cells)
    assert "嘉善县交接班记录" in text and iid in text and f"#{w} 红色预警" in text and "注意青浦区方向来车" in text
    assert "交班人：张值班" in text and "接班人：李接班" in text and CALLS[1]["unit"] in text
    assert write_pdf(blocks, title="交接班记录", footer="交接班记录").startswith(b"%PDF")
    r = reports.draft(live[0], "initial", names=NAMES, unit="嘉善县应急管理局")
    doc = Document(io.BytesIO(write_docx(reports.blocks(r, drill=True))))
    paras = [p.text for p in doc.paragraphs]
    assert paras[0] == "【演练】关于嘉善化工园区泄漏的初报" and "四、人员伤亡和财产损失" in paras
