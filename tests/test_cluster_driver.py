"""The load driver of `benchmarks/cluster.py`: a few seconds on two servers, every write it saw confirmed found once in PostgreSQL."""

from __future__ import annotations

import pytest

from benchmarks import cluster

pytestmark = pytest.mark.browser


def test_the_driver_finds_every_confirmed_write_once_and_sees_it_on_the_other_server(dataset, postgres_database):
    r = cluster.run(dataset, servers=2, sessions=3, duration_s=15, kill_at_s=None, database_url=postgres_database)
    assert r["signed_in"] == 3, r
    assert r["entries_confirmed"] >= 1 and r["acks_confirmed"] >= 1, r  # both kinds of write went through the page
    assert (r["entries_lost"], r["entries_duplicated"], r["entries_wrong_id"], r["acks_lost"], r["acks_duplicated"]) == (0, 0, 0, 0, 0), r
    assert r["refused"] == {}, r
    assert r["delays"]["never_seen"] == 0, r["delays"]  # every entry (but the last seconds') reached the other server's board
    assert r["rows_after"] == r["rows_before"] + r["entries_confirmed"] + r["acks_confirmed"] + r["unconfirmed_in_db"], r
