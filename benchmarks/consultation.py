"""The consultation board with 10,000 log entries: appending, refreshing (server side and the page), and the briefing documents."""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"refresh_s": 0.300, "briefing_s": 5.0}
ENTRIES = 10_000
T0 = datetime(2026, 11, 22, 8, 0)


def populate(log, store, people, *, entries: int = ENTRIES) -> str:
    """One incident of `entries` rows through the log's API, as a long response writes them: position-log
    entries from 7 departments, 20 warnings with their call lists (real sample contacts) and answers,
    30 cross-jurisdiction requests moved to arrival, and some corrections.

    Each row is signed by an account allowed to write it (`people`, tests/people.py's `People` on the
    log's accounts): 嘉善县's commander leads, each unit's liaison answers its own calls and each
    department logs its own entries, 青浦区's commander approves and dispatches what 青浦区 provides.
    """
    from geo.warning import call_list

    contacts = store.table("contacts")
    counties = ["330421", "330424", "310118", "320509", "330402"]  # 嘉善、海盐、青浦、吴江、南湖
    me = {"by": people["commander"]}

    signed: dict[tuple[str, str], object] = {}

    def liaison(department: str, code: str):
        """The session of the liaison of `department` in jurisdiction `code` (made and signed in once)."""
        if (department, code) not in signed:
            signed[department, code] = people.sign_in(f"{department}-{code}", department, code, "liaison")
        return signed[department, code]

    iid = log.open_incident(title="基准测试：嘉善化工园区泄漏", kind="hazchem", level="II", lon=120.92, lat=30.84, lead_code="330421",
                            lead_name="嘉善县", at=T0, jurisdictions=counties[1:], departments=["fire", "police", "transport"], **me)  # fmt: skip
    calls = call_list(counties, ["emergency", "fire", "police", "transport", "water", "weather"], contacts).to_dict("records")
    area = {"type": "Polygon", "coordinates": [[[120.8, 30.75], [121.05, 30.75], [121.05, 30.95], [120.8, 30.95], [120.8, 30.75]]]}
    departments = ["emergency", "fire", "police", "transport", "water", "weather", "natural_resources"]
    warnings, requests, last = [], [], 1
    for i in range(entries - 1):
        at = T0 + timedelta(seconds=2 * (i + 1))
        step = i % 500
        if step == 0 and len(warnings) < 20:
            last = log.issue_warning(iid, colour="red" if len(warnings) % 2 == 0 else "orange", text=f"第{len(warnings) + 1}次预警", area_kind="polygon",
                                              area=area, counties=counties, departments=departments[:6], calls=calls, at=at, **me)  # fmt: skip
            warnings.append(last)
        elif 1 <= step <= len(calls) and step % 3 and warnings:
            call = calls[step - 1]
            last = log.acknowledge(iid, warnings[-1], call["contact_id"], at=at, by=liaison(call["department"], call["jurisdiction_code"]))
        elif step == 200 and len(requests) < 30:
            last = log.request(iid, resource_id=f"T{len(requests)}", resource_name=f"跨区救援队{len(requests)}", resource_layer="teams", from_code="310118",
                                        to_code="330421", text="", eta_s=900 + 60 * len(requests), route=[[121.1, 31.1], [120.92, 30.84]],
                                        crossed=["310118", "330421"], provider_department="fire", at=at, **me)  # fmt: skip
            requests.append(last)
        elif step in (201, 202, 203) and requests:
            by = me["by"] if step == 203 else people["qingpu_commander"]  # the providing side approves and dispatches, the requesting side confirms arrival
            last = log.advance_request(iid, requests[-1], {201: "approved", 202: "dispatched", 203: "arrived"}[step], at=at, by=by)
        elif step == 300:
            last = log.note(iid, "correction", f"更正：#{last} 地点有误", corrects=last, at=at, **me)
        else:
            last = log.note(iid, "event" if step % 50 == 0 else "log", f"第{i}条：{departments[i % 7]}现场情况更新，人员转移 {i % 97} 人",
                            by=liaison(departments[i % 7], "330421"), at=at)  # fmt: skip
    return iid


def _median(fn, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(dataset: Path) -> dict:
    import os

    from data.incidents import board as boards
    from data.incidents.briefing import briefing
    from data.incidents.log import IncidentLog
    from data.dataset.store import Store
    from data.storage.workspace import Workspace
    from layers import consultation as lc
    from tests.people import People, cheap_accounts

    out: dict = {"entries": ENTRIES}
    with tempfile.TemporaryDirectory() as tmp, Store(dataset) as store:
        ws_path = Path(tmp) / "workspace.duckdb"
        clock_now = [T0 + timedelta(days=1)]
        ws = Workspace(ws_path)
        log = IncidentLog(ws, clock=lambda: clock_now[0], accounts=cheap_accounts(ws))
        people = People(log.accounts, now=lambda: clock_now[0])
        start = time.perf_counter()
        iid = populate(log, store, people)
        out["populate_s"] = time.perf_counter() - start
        out["append_ms"] = out["populate_s"] / ENTRIES * 1000
        out["rows"] = log.last_id(iid)
        counties = store.jurisdictions("county")
        names = dict(zip(store.jurisdictions()["code"], store.jurisdictions()["name"], strict=True))

        def check():
            log.last_id(iid)

        def refresh():  # what a refresh does after a new entry: read the rows, fold, build what the page shows
            rows = log.rows(iid)
            board = boards.build(rows, now=clock_now[0])
            resources = dict(zip(board.requests["id"], board.requests["resource_name"], strict=True))
            signers = {u: f"{u}（嘉善县）" for u in board.entries["who"].unique()}  # as the page maps usernames to display names
            lc.entries_table(boards.timeline(board).head(500), "zh", names, resources, people=signers)
            lc.feed_lines(boards.timeline(board, limit=5), "zh", names, resources, people=signers)
            lc.warnings_table(board.warnings, names, "zh")
            lc.calls_table(board.calls[board.calls["warning_id"] == board.warnings["id"].iloc[-1]], names, "zh", answered=lc.answers(board.entries),
                           people=signers).to_html()  # fmt: skip
            lc.requests_table(board.requests, names, "zh", target_s=boards.ON_SCENE_TARGET_S)
            return board

        out["check_ms"] = _median(check, 20) * 1000
        out["refresh_s"] = _median(refresh, 7)
        board = refresh()
        out["warnings"], out["calls"], out["requests"] = len(board.warnings), len(board.calls), len(board.requests)
        start = time.perf_counter()
        made = briefing(board, counties, fmt=("docx", "pdf"), names=names, generated_at=clock_now[0])
        out["briefing_cold_s"] = time.perf_counter() - start
        out["briefing_s"] = _median(lambda: briefing(board, counties, fmt=("docx", "pdf"), names=names, generated_at=clock_now[0]), 3)
        out["docx_kib"], out["pdf_kib"] = len(made["docx"]) / 1024, len(made["pdf"]) / 1024
        commander = People(log.accounts)["commander"]  # signed in now (real time), for the page below
        log.workspace.close()  # the served app below, then the AppTest, take the file over
        os.environ["YRD_WORKSPACE"] = str(ws_path)
        out |= _browser(dataset)

        # the page itself (AppTest, server side): a full run of the consultation page on this incident
        from streamlit.testing.v1 import AppTest

        os.environ["YRD_WORKSPACE"] = str(ws_path)
        os.environ["YRD_DATASET"] = str(dataset)
        os.environ["YRD_CONFIG"] = str(ROOT / "tests" / "no-config.toml")
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.session_state["account"] = commander  # as the sidebar leaves a signed-in commander: the board with its forms
        at.run()
        at.switch_page("pages/consultation.py").run()
        if at.exception:
            raise RuntimeError(f"the consultation page failed: {at.exception}")
        out["page_run_s"] = _median(at.run, 5)
    return out


def _browser(dataset: Path, *, runs: int = 5) -> dict:
    """In Chromium, on the app served over the 10,000-row workspace ($YRD_WORKSPACE): from the click on
    记录 to the new entry shown in the board's feed (write, fragment rerun, render), median of `runs`."""
    from tests.browser import chromium, serve, wait_idle
    from tests.people import PASSWORD
    from tests.walk import sign_in

    out = {}
    with serve(dataset) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        page.goto(url + "/consultation")
        page.wait_for_selector("text=最新动态", timeout=120_000)
        wait_idle(page)
        sign_in(page, "commander", PASSWORD + "x")  # tests/people.py's password after the first sign-in
        page.get_by_label("内容", exact=True).wait_for(timeout=30_000)
        times = []
        for k in range(runs):
            text = f"浏览器计时第{k}条"
            page.get_by_label("内容", exact=True).fill(text)
            start = time.perf_counter()
            page.get_by_role("button", name="记录", exact=True).click()
            page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="最新动态").filter(has_text=text).wait_for(timeout=30_000)
            times.append(time.perf_counter() - start)
            wait_idle(page)
        out["browser_write_to_shown_s"] = statistics.median(times)
    return out


def markdown(r: dict) -> str:
    """The section of BENCHMARKS.md for these figures."""

    def ok(key: str) -> str:
        return "✅" if r[key] <= TARGETS[key] else "❌"

    return "\n".join(
        [
            "## Consultation board and briefing (`benchmarks/consultation.py`)",
            "",
            f"One incident of {r['rows']:,} log rows written through `IncidentLog` into a DuckDB workspace file: position-log entries of 7 departments, "
            f"{r['warnings']} warnings with {r['calls']:,} calls in all (sample duty contacts of 5 counties) and their answers, {r['requests']} requests "
            "moved to arrival, corrections.",
            "",
            "| measure | result | target |",
            "|---|---|---|",
            f"| append one entry (validate, hash chain, one committed transaction), mean over the {r['rows']:,} | {r['append_ms']:.2f} ms | |",
            f"| change check each timed refresh does (newest row id) | {r['check_ms']:.2f} ms | |",
            f"| **board refresh after a new entry** (read {r['rows']:,} rows, fold into board, build the tables shown), median of 7 | **{r['refresh_s'] * 1000:.0f} ms** | ≤ 300 ms {ok('refresh_s')} |",
            f"| full run of the consultation page (AppTest, server side, rows cached), median of 5 | {r['page_run_s'] * 1000:.0f} ms | |",
            f"| in Chromium: click on 记录 → the new entry shown in the feed (write, fragment rerun, render), median of 5 | {r['browser_write_to_shown_s'] * 1000:.0f} ms | |",
            f"| **briefing: map + DOCX + PDF**, median of 3 | **{r['briefing_s']:.2f} s** | ≤ 5 s {ok('briefing_s')} |",
            f"| briefing, first in the process (imports, fonts) | {r['briefing_cold_s']:.2f} s | |",
            f"| document sizes | DOCX {r['docx_kib']:.0f} KiB, PDF {r['pdf_kib']:.0f} KiB | |",
        ]
    )


if __name__ == "__main__":
    import logging

    from data.dataset.build import build

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        print(markdown(run(build(Path(tmp) / "yrd.duckdb"))))
