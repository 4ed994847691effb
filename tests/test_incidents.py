"""The incident log on a real workspace, DuckDB file and PostgreSQL database (`backend`): phases, append-only trace, validation, concurrency, durability, board and review."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import duckdb
import pytest

from data.incidents import board as boards
from data.incidents.log import AppendOnly, IncidentError, IncidentLog, TRANSITIONS
from data.storage.workspace import Workspace, WorkspaceError
from tests.conftest import ROOT
from tests.people import People, cheap_accounts

T0 = datetime(2026, 11, 22, 9, 0)


class Clock:
    """A settable Beijing-time clock."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock():
    return Clock(T0 + timedelta(minutes=10))


@pytest.fixture
def log(backend, workspace_path, clock):
    ws = Workspace(workspace_path)  # on 'postgres' the database URL that `backend` sets takes precedence, as in the app
    yield IncidentLog(ws, clock=clock, accounts=cheap_accounts(ws))
    ws.close()


@pytest.fixture
def people(log, clock) -> People:
    """Signed-in accounts of the log's workspace (tests/people.py `CAST`: 嘉善县 leads)."""
    return People(log.accounts, now=clock)
CALLS = [
    {"contact_id": "C1", "unit": "嘉善县消防救援大队", "role": "值班室", "department": "fire", "jurisdiction_code": "330421", "duty_phone": "1"},
    {"contact_id": "C2", "unit": "嘉善县公安局", "role": "值班室", "department": "police", "jurisdiction_code": "330421", "duty_phone": "2"},
    {"contact_id": "C3", "unit": "青浦区应急管理局", "role": "值班室", "department": "emergency", "jurisdiction_code": "310118", "duty_phone": "3"},
]
AREA = {"type": "Polygon", "coordinates": [[[120.8, 30.8], [121.0, 30.8], [121.0, 30.9], [120.8, 30.9], [120.8, 30.8]]]}


def _open(log, people, **kw) -> str:
    args = {"title": "嘉善化工园区泄漏", "kind": "hazchem", "level": "II", "lon": 120.92, "lat": 30.84, "lead_code": "330421", "lead_name": "嘉善县", "at": T0,
            "jurisdictions": ["310118"], "departments": ["fire", "police"]} | kw  # fmt: skip
    return log.open_incident(**args, by=people["commander"])


def _warn(log, people, iid, **kw) -> int:
    args = {"colour": "red", "text": "危化品泄漏，下风向 5 公里疏散", "area_kind": "polygon", "area": AREA, "counties": ["330421", "310118"],
            "departments": ["fire", "police", "emergency"], "calls": CALLS} | kw  # fmt: skip
    return log.issue_warning(iid, **args, by=people["commander"])


def test_incident_ids_count_per_day(log, people):
    assert _open(log, people) == "YRD-20261122-001"
    assert _open(log, people) == "YRD-20261122-002"
    assert _open(log, people, at=T0 - timedelta(days=1)) == "YRD-20261121-001"


def test_phase_transitions_allowed_and_refused(log, clock, people):
    iid = _open(log, people)
    assert log.phase(iid)[0] == "warning"
    with pytest.raises(IncidentError, match="may move to response, aftermath, not to preparation") as exc:
        log.transition(iid, "preparation", by=people["commander"])
    assert exc.value.code == "phase"
    log.transition(iid, "response", by=people["commander"])
    with pytest.raises(IncidentError, match="not to warning"):
        log.transition(iid, "warning", by=people["commander"])
    with pytest.raises(IncidentError, match="not to response"):
        log.transition(iid, "response", by=people["commander"])
    clock.tick(minutes=5)
    log.transition(iid, "aftermath", by=people["commander"])
    for phase in ("preparation", "warning", "response", "aftermath"):
        with pytest.raises(IncidentError, match=r"none \(final\)"):
            log.transition(iid, phase, by=people["commander"])
    with pytest.raises(IncidentError, match="expected one of"):
        log.transition(iid, "over", by=people["commander"])
    board = boards.build(log.rows(iid), now=clock())
    assert board.phase == "aftermath"
    assert board.phases["phase"].tolist() == ["warning", "response", "aftermath"]
    # the full table of transitions, each one tried on a fresh incident
    for start in ("preparation", "warning", "response"):
        for target in ("preparation", "warning", "response", "aftermath"):
            fresh = _open(log, people, phase=start)
            if target in TRANSITIONS[start]:
                log.transition(fresh, target, by=people["commander"])
                assert log.phase(fresh)[0] == target
            else:
                with pytest.raises(IncidentError):
                    log.transition(fresh, target, by=people["commander"])
                assert log.phase(fresh)[0] == start


def test_closed_incident_takes_no_warning_or_request(log, people):
    iid = _open(log, people, phase="response")
    log.transition(iid, "aftermath", by=people["commander"])
    with pytest.raises(IncidentError) as exc:
        _warn(log, people, iid)
    assert exc.value.code == "closed"
    assert log.note(iid, "log", "善后：现场移交属地", by=people["commander"]) > 0  # entries are still taken


def test_update_and_delete_are_refused_and_tampering_is_found(log, backend, people):
    iid = _open(log, people)
    entry = log.note(iid, "event", "发现第二泄漏点", by=people["commander"])
    with pytest.raises(AppendOnly, match="append-only"):
        log.update(entry, text="没有泄漏")
    with pytest.raises(AppendOnly, match="never deleted"):
        log.delete(entry)
    assert log.verify() == []
    fix = log.note(iid, "correction", "第二泄漏点为误报", corrects=entry, by=people["commander"])
    board = boards.build(log.rows(iid), now=T0 + timedelta(hours=1))
    row = board.entries.set_index("id")
    assert row.at[entry, "corrected_by"] == fix and row.at[fix, "corrects"] == entry
    assert row.at[entry, "text"] == "发现第二泄漏点"  # the original is kept as it was
    if backend == "postgres":  # the database itself refuses changes (tests/test_storage_backends.py tries them all)
        with pytest.raises(WorkspaceError, match="append-only: UPDATE refused"), log.workspace.transaction("tampering failed ({exc})") as cur:
            cur.execute("UPDATE incident_log SET text = '没有泄漏' WHERE id = ?", [entry])
        assert log.verify() == [] and log.rows(iid).set_index("id").at[entry, "text"] == "发现第二泄漏点"
        return
    # a change made behind the log's back (raw SQL on the file) breaks the chain at that row
    con = log.workspace._con
    con.execute("UPDATE incident_log SET text = '没有泄漏' WHERE id = ?", [entry])
    assert [(p.entry_id, p.code, p.reason) for p in log.verify()] == [(entry, "content", "content differs from what was logged")]
    con.execute("UPDATE incident_log SET text = '发现第二泄漏点' WHERE id = ?", [entry])
    assert log.verify() == []
    con.execute("DELETE FROM incident_log WHERE id = ?", [entry])
    problems = log.verify()
    assert problems and problems[0].entry_id == fix and "missing" in problems[0].reason
    assert (problems[0].code, problems[0].params) == ("missing", {"first": entry, "last": entry})  # coded, for a message in any language


def test_corrections_must_point_at_an_entry_of_the_incident(log, people):
    iid, other = _open(log, people), _open(log, people)
    foreign = log.note(other, "log", "另一事件", by=people["commander"])
    with pytest.raises(IncidentError, match="empty") as exc:
        log.note(iid, "correction", "更正", by=people["commander"])
    assert exc.value.params["field"] == "corrects"
    with pytest.raises(IncidentError, match=f"#{foreign} is not a entry of incident {iid}"):
        log.note(iid, "correction", "更正", corrects=foreign, by=people["commander"])


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"text": ""}, "required"),
        ({"text": "   "}, "required"),
        ({"text": "长" * 2001}, "too_long"),
        ({"at": T0 + timedelta(hours=2)}, "future"),
        ({"at": T0 - timedelta(minutes=1)}, "before"),
        ({"kind": "gossip"}, "bad_choice"),
    ],
)
def test_bad_entries_are_refused_and_nothing_is_written(log, kwargs, code, people):
    iid = _open(log, people)
    before = log.size()
    args = {"kind": "log", "text": "正常内容", "by": people["commander"]} | kwargs
    with pytest.raises(IncidentError) as exc:
        log.note(iid, args.pop("kind"), args.pop("text"), **args)
    assert exc.value.code == code
    assert log.size() == before
    assert log.verify() == []


def test_bad_incidents_are_refused(log, people):
    with pytest.raises(IncidentError, match="`title` is empty"):
        _open(log, people, title="")
    with pytest.raises(IncidentError, match="`level` was 'V'"):
        _open(log, people, level="V")
    with pytest.raises(IncidentError, match="not a valid longitude/latitude"):
        _open(log, people, lon=200.0)
    with pytest.raises(IncidentError, match="in the future"):
        _open(log, people, at=T0 + timedelta(days=1))
    with pytest.raises(IncidentError, match="unknown_incident|is not in the log"):
        log.note("YRD-20990101-001", "log", "x", by=people["commander"])
    assert log.size() == 0


def test_warning_acknowledgments_rate_and_overdue(log, clock, people):
    iid = _open(log, people)
    clock.tick(minutes=5)  # 09:15
    w = _warn(log, people, iid)
    with pytest.raises(IncidentError, match="before the warning was issued"):
        log.acknowledge(iid, w, "C1", at=T0 + timedelta(minutes=14), by=people["fire"])
    log.acknowledge(iid, w, "C1", at=T0 + timedelta(minutes=17), by=people["fire"])
    clock.tick(minutes=4)  # 09:19
    log.acknowledge(iid, w, "C3", by=people["qingpu"])
    with pytest.raises(IncidentError, match="already, at 2026-11-22 09:17:00") as exc:
        log.acknowledge(iid, w, "C1", by=people["fire"])
    assert exc.value.code == "acknowledged"
    with pytest.raises(IncidentError, match="not on the call list"):
        log.acknowledge(iid, w, "C9", by=people["commander"])
    with pytest.raises(IncidentError, match="no contact"):
        _warn(log, people, iid, calls=[])
    board = boards.build(log.rows(iid), now=T0 + timedelta(minutes=20), overdue_after_s=600)
    w_row = board.warnings.iloc[0]
    assert (w_row["calls"], w_row["acked"], w_row["overdue"]) == (3, 2, 0)
    assert w_row["rate"] == pytest.approx(2 / 3)
    assert w_row["first_ack_s"] == 120 and w_row["median_ack_s"] == 180
    assert board.calls.set_index("contact_id")["state"].to_dict() == {"C1": "acked", "C2": "waiting", "C3": "acked"}
    later = boards.build(log.rows(iid), now=T0 + timedelta(minutes=26), overdue_after_s=600)  # 11 minutes after the warning
    assert later.calls.set_index("contact_id").at["C2", "state"] == "overdue"
    assert later.warnings["overdue"].iloc[0] == 1


def test_request_flow_eta_and_review(log, clock, people):
    iid = _open(log, people)  # 09:00
    clock.tick(minutes=2)
    _warn(log, people, iid)  # 09:12
    log.acknowledge(iid, 2, "C1", at=T0 + timedelta(minutes=13), by=people["fire"])
    route = [[121.1, 31.1], [120.92, 30.84]]
    near = log.request(iid, resource_id="T1", resource_name="青浦危化救援队", resource_layer="teams", from_code="310118", to_code="330421", text="",
                       eta_s=900, route=route, crossed=["310118", "330421"], provider_department="fire", by=people["commander"])  # fmt: skip
    far = log.request(iid, resource_id="T2", resource_name="嘉兴物资库", resource_layer="stockpiles", from_code="330402", to_code="330421", text="",
                      eta_s=2400, provider_department="emergency", by=people["commander"])  # fmt: skip
    clock.tick(minutes=18)  # 09:30
    for status, minute in (("approved", 12), ("dispatched", 13), ("arrived", 28)):
        log.advance_request(iid, near, status, at=T0 + timedelta(minutes=minute), by=people["qingpu_fire"])
    with pytest.raises(IncidentError, match="before the request's last status"):
        log.advance_request(iid, far, "approved", at=T0 + timedelta(minutes=5), by=people["jiaxing"])
    with pytest.raises(IncidentError, match="may move to approved, declined, not to arrived") as exc:
        log.advance_request(iid, far, "arrived", by=people["jiaxing"])
    assert exc.value.code == "request_flow"
    log.advance_request(iid, far, "approved", at=T0 + timedelta(minutes=12), by=people["jiaxing"])
    log.advance_request(iid, far, "dispatched", at=T0 + timedelta(minutes=12), by=people["jiaxing"])
    with pytest.raises(IncidentError, match="is arrived; it may move to none"):
        log.advance_request(iid, near, "declined", by=people["qingpu_fire"])
    clock.tick(minutes=40)
    log.advance_request(iid, far, "arrived", at=T0 + timedelta(minutes=50), by=people["jiaxing"])
    log.transition(iid, "response", at=T0 + timedelta(minutes=11), by=people["commander"])
    log.transition(iid, "aftermath", by=people["commander"])
    board = boards.build(log.rows(iid), now=clock())
    req = board.requests.set_index("id")
    assert req.at[near, "status"] == "arrived" and req.at[near, "eta_s"] == 900 and req.at[near, "route"] == route
    assert req.at[near, "arrived_at"] == T0 + timedelta(minutes=28)
    review = boards.review(board).set_index("department")
    assert review.at["fire", "first_ack_s"] == 60  # warning 09:12, answered 09:13
    assert review.at["fire", "first_dispatch_s"] == 13 * 60 and review.at["fire", "first_arrival_s"] == 28 * 60
    assert review.at["fire", "met_target"] is True and review.at["fire", "arrivals_within_target"] == 1
    assert review.at["emergency", "first_arrival_s"] == 50 * 60 and review.at["emergency", "met_target"] is False
    assert review.at["*", "requests"] == 2 and review.at["*", "arrivals_within_target"] == 1
    assert review.at["police", "acked"] == 0 and review.at["police", "met_target"] is None


def test_concurrent_writers_lose_nothing(log, people):
    iid = _open(log, people)
    threads, per_thread, errors = 8, 40, []
    fire = people["fire"]

    def write(k: int) -> None:
        try:
            for i in range(per_thread):
                log.note(iid, "log", f"线程{k}-{i}", by=fire)
        except Exception as exc:  # noqa: BLE001 (collected and failed below)
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    rows = log.rows(iid)
    texts = set(rows["text"])
    assert {f"线程{k}-{i}" for k in range(threads) for i in range(per_thread)} <= texts
    assert len(rows) == 1 + threads * per_thread
    assert rows["id"].tolist() == list(range(1, len(rows) + 1))
    assert log.verify() == []


def test_racing_sessions_move_a_phase_or_answer_a_call_once(log, people):
    """Sessions that act on the same state at the same moment: exactly one wins, the others are told why."""
    iid = _open(log, people)
    w = _warn(log, people, iid)
    barrier = threading.Barrier(8)
    police, commander = people["police"], people["commander"]
    outcomes: dict[str, list] = {"ack": [], "phase": []}

    def act(k: int) -> None:
        barrier.wait()
        for what, call in (("ack", lambda: log.acknowledge(iid, w, "C2", by=police)),
                           ("phase", lambda: log.transition(iid, "response", by=commander))):  # fmt: skip
            try:
                outcomes[what].append(call())
            except IncidentError as exc:
                outcomes[what].append(exc.code)

    workers = [threading.Thread(target=act, args=(k,)) for k in range(8)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    for what, refused in (("ack", "acknowledged"), ("phase", "phase")):
        ids = [o for o in outcomes[what] if isinstance(o, int)]
        assert len(ids) == 1 and outcomes[what].count(refused) == 7, outcomes[what]
    rows = log.rows(iid)
    assert (rows["kind"] == "phase").sum() == 1 and (rows["kind"] == "ack").sum() == 1


_WRITER = """
import sys
sys.path.insert(0, {root!r})
from data.storage.workspace import Workspace
from data.incidents.log import IncidentLog
from tests.people import People, cheap_accounts
ws = Workspace({path!r})
log = IncidentLog(ws, accounts=cheap_accounts(ws))
me = People(log.accounts).sign_in("huangpu", "emergency", "310101", "commander")
iid = log.open_incident(title="断电测试", kind="other", level="IV", lon=121.47, lat=31.23, lead_code="310101", lead_name="黄浦区", by=me)
print("incident", iid, flush=True)
i = 0
while True:
    entry = log.note(iid, "log", "第%d条" % i, by=me)
    print("saved", entry, flush=True)
    i += 1
"""


def test_kill_9_while_writing_loses_no_saved_entry(backend, tmp_path):
    path = tmp_path / "crash.duckdb"  # on 'postgres' the writer and the check use the database (the URL is inherited)
    proc = subprocess.Popen([sys.executable, "-c", _WRITER.format(root=str(ROOT), path=str(path))], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    saved: list[int] = []
    deadline = time.monotonic() + 120
    incident = None
    while len(saved) < 150 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        kind, value = line.split()
        if kind == "incident":
            incident = value
        else:
            saved.append(int(value))
    os.kill(proc.pid, signal.SIGKILL)  # in the middle of writing: the loop never pauses
    proc.wait()
    saved += [int(line.split()[1]) for line in proc.stdout.read().splitlines() if line.startswith("saved")]  # told before the kill
    proc.stdout.close()
    assert incident and len(saved) >= 150, "the writer did not get going"
    ws = Workspace(path)  # reopening replays DuckDB's write-ahead log; PostgreSQL rolled the killed client's open transaction back
    try:
        log = IncidentLog(ws)
        ids = set(log.rows(incident)["id"])
        assert set(saved) <= ids
        assert log.verify() == []
    finally:
        ws.close()


def test_a_second_process_writes_only_on_the_shared_database(log, workspace_path, backend, people):
    """DuckDB: the app holds the file and a second process is told so; PostgreSQL: the second process writes beside the app."""
    from data.storage.workspace import WorkspaceBusy

    iid = _open(log, people)
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\nfrom data.storage.workspace import Workspace\nfrom data.incidents.log import IncidentLog\nfrom tests.people import People, cheap_accounts\n"
            f"try:\n    ws = Workspace({str(workspace_path)!r})\n    log = IncidentLog(ws, accounts=cheap_accounts(ws))\n"
            f"    print('saved', log.note({iid!r}, 'log', '第二个进程', by=People(log.accounts).sign_in('fire2', 'fire', '330421', 'liaison')))\n"
            f"except Exception as e:\n    print(type(e).__name__, e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120).stdout
    if backend == "duckdb":
        assert out.startswith(WorkspaceBusy.__name__) and "in use by a running app" in out
    else:
        assert out.split() == ["saved", "2"], out
        assert log.rows(iid)["text"].tolist()[-1] == "第二个进程" and log.verify() == []


def test_log_rows_are_stored_as_given(log, workspace_path, people):
    """HTML and script text is kept verbatim (it is escaped where shown, never stripped or run)."""
    iid = _open(log, people, title="<b>粗体</b>标题")
    text = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    entry = log.note(iid, "event", text, by=people["commander"])
    assert log.rows(iid).set_index("id").at[entry, "text"] == text
    assert log.incidents()["title"].iloc[0] == "<b>粗体</b>标题"
    raw = json.loads(log.workspace.query("SELECT data FROM incident_log WHERE id = 1")["data"].iloc[0])
    assert raw["title"] == "<b>粗体</b>标题"


def test_the_log_lives_in_the_workspace_file(log, workspace_path, backend, people):
    iid = _open(log, people)
    log.note(iid, "decision", "启动Ⅱ级响应", by=people["commander"])
    if backend == "postgres":
        import psycopg

        with psycopg.connect(os.environ["YRD_DATABASE_URL"]) as con:
            assert con.execute("SELECT count(*) FROM incident_log").fetchone()[0] == 2
        return
    log.workspace.close()
    con = duckdb.connect(str(workspace_path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM incident_log").fetchone()[0] == 2
    finally:
        con.close()
    log.workspace = Workspace(workspace_path)  # the fixture closes it
