"""routing.blocked_action = "message": a blocklisted caller hears a short message (the
call is answered and hung up), and still no phone rings."""

from __future__ import annotations

import time

import pytest

from pbx_daemon import db
from pbx_daemon.lab import Lab
from tests.integration.conftest import running_daemon
from tests.integration.test_routing_lab import SALES_NUMBER, seed

pytestmark = pytest.mark.lab


def test_blocked_caller_hears_the_message_and_nobody_rings(lab: Lab, tmp_path):
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    with running_daemon(lab, tmp_path, url, '[routing]\nblocked_action = "message"\n'):
        lab.wait_idle()
        start = time.time()
        lab.call("+79990000000", SALES_NUMBER, ring_timeout=10, hold=10)

        def caller_answered():
            return [e for e in lab.events(start)
                    if e.type == "ANSWER" and e.caller_num == "+79990000000"]

        lab.wait_for(caller_answered, 10, "the blocked caller's call to be answered (message)")
        lab.wait_idle(15)
        assert [r for r in lab.rings(start) if r.caller_num == "+79990000000"] == []
