"""The database away while calls end: a test holds SQLite's write lock for 20 s while
callers give up and a client talks; the daemon's writes wait (busy timeout, then retries
in order) and, once the lock is gone, every call is stored with its final outcome, every
missed number has exactly one inquiry, and the answered call its recording."""

from __future__ import annotations

import sqlite3
import time

import pytest
from sqlalchemy import func, select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.conftest import running_daemon
from tests.integration.test_routing_lab import CLIENT, SALES_NUMBER, seed

pytestmark = pytest.mark.lab

MISSED = ("+79035558001", "+79035558002", "+79035558003")


def test_calls_ending_while_the_database_is_locked_are_all_stored_after(lab: Lab, tmp_path):
    path = tmp_path / "pbx.sqlite3"
    url = f"sqlite:///{path}"
    db.upgrade(url)
    seed(url)
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("101", "answer:1:3")  # Anna takes ООО Ромашка's call
    with running_daemon(lab, tmp_path, url):
        start = time.time()
        lock = sqlite3.connect(path, isolation_level=None, timeout=30)
        lock.execute("BEGIN EXCLUSIVE")  # every write waits; WAL readers still read
        try:
            lab.call(CLIENT, SALES_NUMBER, ring_timeout=15, hold=4)
            lab.wait_for(lambda: [r for r in lab.rings(start) if r.answered_at], 10, "Anna to answer")
            lab.set_phone("101", "ring")
            for number in MISSED:  # nobody answers the department: they give up
                lab.call(number, SALES_NUMBER, ring_timeout=4, hold=1)
            lab.wait_for(lambda: len([r for r in lab.rings(start) if r.ended_at]) >= 4, 30,
                         "the calls to ring and end")
            time.sleep(max(0.0, start + 20 - time.time()))  # the lock holds 20 s in all
            with db.make_session_factory(db.make_engine(url))() as s:
                assert s.scalar(select(func.count(m.Call.id))) == 0  # nothing got through yet
        finally:
            lock.execute("ROLLBACK")
            lock.close()

        def stored():
            with db.make_session_factory(db.make_engine(url))() as s:
                calls = s.scalars(select(m.Call)).all()
                if len(calls) == 4 and all(c.outcome != "in_progress" for c in calls) and \
                        all(c.recording is not None for c in calls if c.outcome == "answered"):
                    return {c.caller: c.outcome for c in calls}
                return None

        outcomes = lab.wait_for(stored, 40, "every call stored after the lock")
        log = (tmp_path / "daemon.log").read_text()
        assert "retrying" in log  # the writes failed and were retried, not dropped
    assert outcomes == {CLIENT: "answered", **{n: "missed" for n in MISSED}}
    with db.make_session_factory(db.make_engine(url))() as s:
        inquiries = s.scalars(select(m.Inquiry).order_by(m.Inquiry.phone)).all()
        assert [i.phone for i in inquiries] == list(MISSED)
        assert all(i.missed_count == 1 for i in inquiries)
        tasks = s.scalar(select(func.count(m.Task.id)).where(m.Task.inquiry_id.isnot(None)))
        assert tasks == 3
