"""The process-wide incident feed behind the pushed boards (pages/_shared.py): on PostgreSQL a write of another server is heard without a query."""

from __future__ import annotations

import time

from data.incidents.log import IncidentLog
from data.storage.workspace import Workspace
from pages._shared import IncidentFeed
from tests.people import People, cheap_accounts


def _log(ws: Workspace) -> IncidentLog:
    return IncidentLog(ws, accounts=cheap_accounts(ws))


def _open(log: IncidentLog, people: People) -> str:
    return log.open_incident(title="嘉善县危化品泄漏", kind="hazchem", level="III", lon=120.888, lat=30.943, lead_code="330421",
                             lead_name="嘉善县", by=people["duty"])  # fmt: skip


def test_a_write_on_another_server_moves_the_stamp_without_a_query(postgres_database):
    with Workspace(url=postgres_database) as ws_a, Workspace(url=postgres_database) as ws_b:  # two servers' connections
        log_a, log_b = _log(ws_a), _log(ws_b)
        people = People(log_b.accounts)
        inc = _open(log_b, people)
        feed = IncidentFeed(log_a)
        try:
            first = feed.stamp(inc, fallback_s=3600)  # first look: asks the database once
            assert first == log_b.last_id(inc) == 1
            entry = log_b.note(inc, "log", "现场已封控", by=people["fire"])
            deadline = time.monotonic() + 2
            while feed.stamp(inc, fallback_s=3600) < entry and time.monotonic() < deadline:  # fallback far off: only NOTIFY can move it
                time.sleep(0.01)
            assert feed.stamp(inc, fallback_s=3600) == entry and feed.changes == 1
        finally:
            feed.stop()


def test_a_missed_notification_is_caught_by_the_fallback_query(postgres_database):
    with Workspace(url=postgres_database) as ws:
        log = _log(ws)
        people = People(log.accounts)
        inc = _open(log, people)
        feed = IncidentFeed(log)
        assert feed.stamp(inc, fallback_s=3600) == 1
        feed.stop()  # deaf from now on, as while the listening connection reconnects
        entry = log.note(inc, "log", "现场已封控", by=people["duty"])
        time.sleep(0.3)
        assert feed.stamp(inc, fallback_s=3600) == 1  # not due: no query, nothing heard
        assert feed.stamp(inc, fallback_s=0) == entry  # due: asks `last_id`
