"""A daemon killed during a connected call: the next daemon re-adopts the call, so when
the manager hangs up the caller is hung up too (not left alone in a silent bridge)."""

from __future__ import annotations

import signal
import time

import pytest

from pbx_daemon import db
from pbx_daemon.lab import Lab
from tests.integration.conftest import running_daemon
from tests.integration.test_routing_lab import CLIENT, SALES_NUMBER, seed

pytestmark = pytest.mark.lab


def test_connected_call_survives_a_daemon_crash_and_ends_cleanly(lab: Lab, tmp_path):
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("101", "answer:1:8")  # Anna answers, talks 8 s, hangs up
    start = time.time()
    first = tmp_path / "first"
    first.mkdir()
    with running_daemon(lab, first, url) as daemon:
        lab.call(CLIENT, SALES_NUMBER, ring_timeout=15, hold=40)  # the caller would stay 40 s
        lab.wait_for(lambda: [r for r in lab.rings(start) if r.answered_at], 10, "Anna to answer")
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(5)
    second = tmp_path / "second"
    second.mkdir()
    with running_daemon(lab, second, url, after_crash=True):
        ring = lab.wait_for(lambda: [r for r in lab.rings(start) if r.target == "101" and r.ended_at],
                            15, "Anna to hang up")[0]

        def caller_gone():
            return [e for e in lab.events(start) if e.type == "HANGUP" and e.caller_num == CLIENT
                    and e.context == "world-caller"]

        hangup = lab.wait_for(caller_gone, 10, "the caller to be hung up")[0]
        assert hangup.time - ring.ended_at < 2.0  # not 40 s later
        lab.wait_idle(5)


def test_sigterm_with_calls_up_stops_within_3_s_and_the_next_daemon_takes_over(lab: Lab, tmp_path):
    """SIGTERM while one call talks and another rings: the daemon is gone within 3 s, the
    calls go on in Asterisk; the next daemon re-adopts the connected one and routes the
    waiting caller again, so each ends as one stored call with its outcome."""
    from sqlalchemy import select

    from pbx_daemon.crm import models as m

    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    lab.wait_idle()
    lab.reset_behaviour()
    waiting = "+79035557001"  # unknown: rings the department
    lab.set_phone("101", "answer:1:12")  # Anna takes ООО Ромашка's call and talks 12 s
    lab.set_phone("102", "ring")
    start = time.time()
    first = tmp_path / "first"
    first.mkdir()
    with running_daemon(lab, first, url) as daemon:
        lab.call(CLIENT, SALES_NUMBER, ring_timeout=15, hold=60)
        lab.wait_for(lambda: [r for r in lab.rings(start) if r.answered_at], 10, "Anna to answer")
        lab.call(waiting, SALES_NUMBER, ring_timeout=40, hold=3)
        lab.wait_for(lambda: [r for r in lab.rings(start) if r.caller_num == waiting
                              and r.target == "102"], 10, "the waiting caller to ring 102")
        stopping = time.time()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)
        assert time.time() - stopping < 3.0, (first / "daemon.log").read_text()[-3000:]
    lab.set_phone("102", "answer:1:2")
    second = tmp_path / "second"
    second.mkdir()
    with running_daemon(lab, second, url, after_crash=True):
        def stored():
            with db.make_session_factory(db.make_engine(url))() as s:
                calls = {c.caller: c for c in s.scalars(select(m.Call))}
                done = [c for c in calls.values() if c.outcome != "in_progress"]
                return calls if len(calls) == 2 and len(done) == 2 else None

        try:
            calls = lab.wait_for(stored, 40, "both calls to end and be stored")
        except Exception:
            with db.make_session_factory(db.make_engine(url))() as s:
                print([(c.caller, c.outcome, c.linkedid) for c in s.scalars(select(m.Call))])
            print((second / "daemon.log").read_text()[-6000:])
            raise
        assert calls[CLIENT].outcome == "answered"
        assert calls[waiting].outcome == "answered"
        lab.wait_idle(10)
