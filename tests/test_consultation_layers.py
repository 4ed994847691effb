"""Builders of the consultation page: escaping, what each log row says, localized refusals, highlighted calls."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from data.incidents import board as boards
from data.incidents.log import IncidentError, IncidentLog
from data.storage.workspace import Workspace
from layers import consultation as lc
from tests.people import People, cheap_accounts
from tests.test_incidents import AREA, CALLS, T0, Clock

NAMES = {"330421": "嘉善县", "310118": "青浦区"}


def _log(ws: Workspace, clock: Clock) -> tuple[IncidentLog, People]:
    """The log of `ws` and signed-in people of its accounts (tests/people.py `CAST`, plus 黄浦区's commander as "huangpu")."""
    log = IncidentLog(ws, clock=clock, accounts=cheap_accounts(ws))
    people = People(log.accounts, now=clock)
    people.sign_in("huangpu", "emergency", "310101", "commander")
    return log, people


def test_plain_escapes_every_markdown_and_html_character():
    text = '<script>alert("x")</script> **bold** [link](javascript:alert(1)) `code` # h | ~ $x$ \\'
    escaped = lc.plain(text)
    assert re.search(r"(?<!\\)[<>*\[\]()`#|~$]", escaped) is None  # each one preceded by a backslash
    assert escaped.replace("\\", "") == text.replace("\\", "")  # nothing dropped


@pytest.fixture
def board(workspace_path):
    clock = Clock(T0 + timedelta(minutes=30))
    ws = Workspace(workspace_path)
    log, p = _log(ws, clock)
    lead = {"by": p["commander"]}
    iid = log.open_incident(title="<b>泄漏</b>", kind="hazchem", level="II", lon=120.92, lat=30.84, lead_code="330421", lead_name="嘉善县", at=T0,
                            jurisdictions=["310118"], **lead)  # fmt: skip
    w = log.issue_warning(iid, colour="orange", text="橙色预警", area_kind="polygon", area=AREA, counties=["330421"], departments=["fire"], calls=CALLS,
                          at=T0 + timedelta(minutes=1), **lead)  # fmt: skip
    log.acknowledge(iid, w, "C1", at=T0 + timedelta(minutes=2), by=p["fire"])  # 嘉善县消防救援大队 answers its own call
    r = log.request(iid, resource_id="T1", resource_name="青浦特勤站", resource_layer="teams", from_code="310118", to_code="330421", text="急需",
                    eta_s=900, at=T0 + timedelta(minutes=3), **lead)  # fmt: skip
    log.advance_request(iid, r, "approved", at=T0 + timedelta(minutes=4), by=p["qingpu_commander"])  # the providing jurisdiction approves
    log.transition(iid, "response", at=T0 + timedelta(minutes=5), **lead)
    yield boards.build(log.rows(iid), now=T0 + timedelta(minutes=30), overdue_after_s=600)
    ws.close()


def test_each_row_says_what_happened(board):
    resources = dict(zip(board.requests["id"], board.requests["resource_name"], strict=True))
    said = dict(zip(board.entries["id"], lc.describe(board.entries, "zh", NAMES, resources), strict=True))
    assert said == {
        1: "<b>泄漏</b> · 嘉善县",
        2: "橙色预警：橙色预警",
        3: "嘉善县消防救援大队 值班室",
        4: "青浦特勤站 · 青浦区 · 15.0 分钟：急需",
        5: "#4 青浦特勤站 → 已批准",
        6: "信息报告与预警 → 应急响应与处置",
    }
    feed = lc.feed_lines(board.entries.tail(1), "zh", NAMES, resources)[0]
    assert feed.endswith("**阶段变更** 信息报告与预警 → 应急响应与处置")
    first = lc.feed_lines(board.entries.head(1), "en", NAMES, resources)[0]
    assert "\\<b\\>泄漏\\</b\\>" in first and "**Opened**" in first  # user text escaped, the kind in bold


def test_overdue_calls_stand_out(board):
    styled = lc.calls_table(board.calls, NAMES, "zh")
    ctx = styled._compute().ctx  # the cell styles the Styler computed
    backgrounds = {row: dict(props).get("background-color") for (row, col), props in ctx.items() if col == 0}
    assert backgrounds == {0: "#e7f6ec", 1: "#fde2e2", 2: "#fde2e2"}  # two calls unanswered 29 minutes on stand out
    assert list(styled.data["状态"]) == ["已应答", "超时未应", "超时未应"]


def test_refusals_read_in_the_users_language(workspace_path):
    ws = Workspace(workspace_path)
    try:
        log, p = _log(ws, Clock(T0 + timedelta(minutes=5)))
        me = {"by": p["huangpu"]}
        iid = log.open_incident(title="t", kind="fire", level="IV", lon=121.47, lat=31.23, lead_code="310101", lead_name="黄浦区", at=T0, **me)
        log.transition(iid, "response", **me)
        with pytest.raises(IncidentError) as exc:
            log.transition(iid, "warning", **me)
        assert lc.error_text(exc.value.code, exc.value.params, "zh") == "当前阶段为 应急响应与处置，只能转入 应急终止与善后，不能转入 信息报告与预警。"
        assert "may move to Termination and aftermath, not Information report and warning" in lc.error_text(exc.value.code, exc.value.params, "en")
        with pytest.raises(IncidentError) as exc:
            log.note(iid, "log", "x", at=datetime(2026, 11, 22, 8, 0), **me)
        assert lc.error_text(exc.value.code, exc.value.params, "zh").startswith("时间 2026-11-22 08:00:00 早于事件发生时间（2026-11-22 09:00:00）")
    finally:
        ws.close()


def test_timeline_chart_plots_key_rows_without_user_text(board):
    chart = lc.timeline_chart(board.entries, "zh")
    data = chart.data
    assert list(data["编号"]) == [i for i, k in zip(board.entries["id"], board.entries["kind"], strict=True) if k != "log"]
    assert set(data.columns) == {"编号", "时间", "部门", "类型"}  # no text column: nothing typed reaches the chart's tooltip


def test_warning_table_gives_rate_and_times_to_answer(board):
    table = lc.warnings_table(board.warnings, NAMES, "zh").iloc[0]
    assert table["叫应率"] == "1/3（33%）"
    assert table["首次应答（分钟）"] == "1.0" and table["应答用时中位数（分钟）"] == "1.0" and table["超时未应"] == 2


RAW = ("None", "nan", "NaN", "NaT", "<NA>")


def _raw_cells(frame) -> list:
    """Cells of `frame` that are missing or would read as a raw None/nan/NaT."""
    return [(col, v) for col in frame.columns for v in frame[col] if v is None or (not isinstance(v, str) and v != v) or str(v) in RAW]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_table_shows_a_raw_none(workspace_path, lang):
    """A warning nobody answered, a contact without role or phone, a request without ETA, a review with nothing measured."""
    clock = Clock(T0 + timedelta(minutes=30))
    ws = Workspace(workspace_path)
    try:
        log, p = _log(ws, clock)
        lead = {"by": p["commander"]}
        iid = log.open_incident(title="泄漏", kind="hazchem", level="II", lon=120.92, lat=30.84, lead_code="330421", lead_name="嘉善县", at=T0, **lead)
        calls = [CALLS[0], {**CALLS[1], "role": None, "duty_phone": None}]
        log.issue_warning(iid, colour="red", text="红色预警", area_kind="polygon", area=AREA, counties=["330421"], departments=["fire", "police"], calls=calls,
                          at=T0 + timedelta(minutes=1), **lead)  # fmt: skip
        log.request(iid, resource_id="T1", resource_name="青浦特勤站", resource_layer="teams", from_code="310118", to_code="330421", text="", **lead)
        log.transition(iid, "aftermath", **lead)
        board = boards.build(log.rows(iid), now=clock.now, overdue_after_s=600)
    finally:
        ws.close()
    resources = dict(zip(board.requests["id"], board.requests["resource_name"], strict=True))
    calls_table = lc.calls_table(board.calls, NAMES, lang, answered=lc.answers(board.entries)).data
    tables = {
        "warnings": lc.warnings_table(board.warnings, NAMES, lang), "calls": calls_table, "entries": lc.entries_table(board.entries, lang, NAMES, resources),
        "phases": lc.phases_table(board.phases, lang, people={"commander": "王指挥（嘉善县）"}), "review": lc.review_table(boards.review(board), lang),
        "requests": lc.requests_table(board.requests, NAMES, lang, target_s=boards.ON_SCENE_TARGET_S),
    }  # fmt: skip
    assert {name: _raw_cells(frame) for name, frame in tables.items()} == dict.fromkeys(tables, [])
    answered_at = calls_table.iloc[:, 6].tolist()
    assert answered_at == ["未应答" if lang == "zh" else "not answered"] * 2 and calls_table.iloc[:, 7].tolist() == ["—", "—"]
    assert calls_table.iloc[:, 8].tolist() == ["—", "—"]  # nobody recorded an answer
    assert calls_table.iloc[1, 4] == "—" and calls_table.iloc[1, 5] == "—"  # no role, no phone
    warning = tables["warnings"].iloc[0]
    assert warning.iloc[6] == "—" and warning.iloc[7] == "—"  # first and median answer: none yet
    feed = "\n".join(lc.feed_lines(boards.timeline(board), lang, NAMES, resources))
    assert not any(word in feed for word in RAW)


def test_minutes_read_the_same_in_every_table(board):
    """One rounding rule (data.board.minutes, half up): 153 s is 2.6 min in every table, as in the briefing."""
    assert boards.minutes_text(153) == "2.6" and boards.minutes_text(213) == "3.6" and boards.minutes_text(None) == "—"
    calls = board.calls.copy()
    calls["ack_s"] = [153.0, float("nan"), float("nan")]
    assert lc.calls_table(calls, NAMES, "zh").data["应答用时（分钟）"].tolist() == ["2.6", "—", "—"]
    requests = board.requests.assign(eta_s=[153.0])
    assert lc.requests_table(requests, NAMES, "zh", target_s=1800)["预计到达（分钟）"].tolist() == ["2.6"]
    warnings = board.warnings.assign(first_ack_s=[153.0], median_ack_s=[213.0])
    row = lc.warnings_table(warnings, NAMES, "zh").iloc[0]
    assert (row["首次应答（分钟）"], row["应答用时中位数（分钟）"]) == ("2.6", "3.6")


@pytest.mark.duckdb_only("tampers through the raw DuckDB connection; PostgreSQL refuses the change (test_postgres_refuses_changes_to_append_only_tables)")
def test_verification_reads_in_the_users_language(workspace_path):
    ws = Workspace(workspace_path)
    try:
        log, p = _log(ws, Clock(T0 + timedelta(minutes=5)))
        me = {"by": p["huangpu"]}
        iid = log.open_incident(title="t", kind="fire", level="IV", lon=121.47, lat=31.23, lead_code="310101", lead_name="黄浦区", at=T0, **me)
        first = log.note(iid, "log", "一", **me)
        second = log.note(iid, "log", "二", **me)
        log.note(iid, "log", "三", **me)
        at = datetime(2026, 11, 22, 9, 5, 7)
        assert lc.verify_text(log.verify(), checked_at=at, rows=log.size(), lang="zh") == "校验于 09:05:07：完整，共 4 行，均与登记时一致。"
        ws._con.execute("UPDATE incident_log SET text = '改' WHERE id = ?", [first])
        ws._con.execute("DELETE FROM incident_log WHERE id = ?", [second])
        problems = log.verify()
        assert [p.code for p in problems] == ["content", "missing", "chain"]
        zh = lc.verify_text(problems, checked_at=at, rows=3, lang="zh")
        assert zh == (f"校验于 09:05:07：痕迹链被改动，共 3 行中发现 3 处问题：#{first} 的内容与登记时不一致；"
                      f"#{second + 1} 之前的第 {second}–{second} 行缺失；#{second + 1} 与上一行的哈希不衔接")  # fmt: skip
        assert re.search(r"[A-Za-z]", zh) is None  # no English reason inside the Chinese message
        assert "does not follow the previous row's hash" in lc.verify_text(problems, checked_at=at, rows=3, lang="en")
    finally:
        ws.close()


def test_refusal_after_a_final_status_reads_in_chinese(workspace_path):
    ws = Workspace(workspace_path)
    try:
        log, p = _log(ws, Clock(T0 + timedelta(minutes=5)))
        me = {"by": p["huangpu"]}
        iid = log.open_incident(title="t", kind="fire", level="IV", lon=121.47, lat=31.23, lead_code="310101", lead_name="黄浦区", at=T0, **me)
        r = log.request(iid, resource_id="T1", resource_name="队", resource_layer="teams", from_code="310101", to_code="310101", text="", **me)
        log.advance_request(iid, r, "declined", **me)
        with pytest.raises(IncidentError) as exc:
            log.advance_request(iid, r, "approved", **me)
        assert lc.error_text(exc.value.code, exc.value.params, "zh") == f"请求 #{r} 当前为 已拒绝，只能更新为 无（已是最终状态），不能更新为 已批准。"
    finally:
        ws.close()


def test_map_tooltips_use_chinese_punctuation(board):
    warning_tip = lc.warning_layer(board.warnings, "zh").data["features"][0]["properties"]["tooltip"]
    assert warning_tip.endswith("叫应率：1/3（33%）") and ": " not in warning_tip
    routed = board.requests.assign(route=[[[121.0, 31.1], [120.92, 30.84]]])
    request_tip = lc.request_layers(routed, NAMES, "zh")[0].data[0]["tooltip"]
    assert request_tip.endswith("已批准 · 预计到达：15.0 分钟") and ": " not in request_tip
    assert lc.request_layers(routed, NAMES, "en")[0].data[0]["tooltip"].endswith("Approved · ETA: 15.0 min")


def test_an_answer_on_a_units_behalf_says_so_with_its_reason(workspace_path):
    """A duty officer records 嘉善县公安局's answer for it, with a reason: the timeline, the feed and the call list say 代为叫应 and why."""
    clock = Clock(T0 + timedelta(minutes=30))
    ws = Workspace(workspace_path)
    try:
        log, p = _log(ws, clock)
        iid = log.open_incident(title="泄漏", kind="hazchem", level="II", lon=120.92, lat=30.84, lead_code="330421", lead_name="嘉善县", at=T0, by=p["commander"])
        w = log.issue_warning(iid, colour="red", text="红色预警", area_kind="polygon", area=AREA, counties=["330421"], departments=["fire", "police"], calls=CALLS,
                              at=T0 + timedelta(minutes=1), by=p["commander"])  # fmt: skip
        log.acknowledge(iid, w, "C1", by=p["fire"])
        log.acknowledge(iid, w, "C2", by=p["duty"], reason="电话应答，值班员代录")
        board = boards.build(log.rows(iid), now=clock.now, overdue_after_s=600)
    finally:
        ws.close()
    people = {"duty": "李值班（嘉善县）", "fire": "赵消防（嘉善县）"}
    said = lc.describe(board.entries, "zh", NAMES, {})
    assert said[2:] == ["嘉善县消防救援大队 值班室", "代为叫应（理由：电话应答，值班员代录）：嘉善县公安局 值班室"]
    assert lc.describe(board.entries, "en", NAMES, {})[-1] == "Answered on the unit's behalf (reason: 电话应答，值班员代录): 嘉善县公安局 值班室"  # English punctuation in English
    table = lc.calls_table(board.calls, NAMES, "zh", answered=lc.answers(board.entries), people=people).data
    assert table["应答登记人"].tolist() == ["赵消防（嘉善县）", "李值班（嘉善县）（代为叫应，理由：电话应答，值班员代录）", "—"]
    entries = lc.entries_table(board.entries, "zh", NAMES, {}, people=people)
    assert entries["记录人"].tolist() == ["commander", "commander", "赵消防（嘉善县）", "李值班（嘉善县）"]  # an account not in `people`: its username
    feed = lc.feed_lines(board.entries.tail(1), "zh", NAMES, {}, people=people)[0]
    assert "应急管理 · 李值班（嘉善县） · **叫应应答** 代为叫应（理由：电话应答，值班员代录）：嘉善县公安局 值班室" in feed
