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
