"""Stasis() fails but the daemon is up (here: registered under another application
name): the dialplan asks the daemon's FastAGI server, which routes like the daemon.

The process AGI script has no database attached in this module, so if the FastAGI path
did not work the fallback group (101 and 102 together) would ring instead."""

from __future__ import annotations

import time

import pytest

from pbx_daemon import db
from pbx_daemon.lab import Lab
from tests.integration.conftest import running_daemon
from tests.integration.test_routing_lab import CLIENT, SALES_NUMBER, seed

pytestmark = pytest.mark.lab


def test_fastagi_routes_the_owner_first_when_stasis_is_unavailable(lab: Lab, tmp_path):
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    with running_daemon(lab, tmp_path, url, app="pbx-crm-elsewhere"):
        lab.wait_idle()
        lab.reset_behaviour()
        lab.set_phone("101", "answer:1:1")
        start = time.time()
        lab.call(CLIENT, SALES_NUMBER, ring_timeout=15, hold=1)
        lab.wait_for(lambda: [r for r in lab.rings(start) if r.caller_num == CLIENT and r.ended_at],
                     15, "the owner's phone to ring and end")
        rings = [r for r in lab.rings(start) if r.caller_num == CLIENT]
        assert [r.target for r in rings] == ["101"]
        assert rings[0].answered_at and rings[0].caller_name == "ООО Ромашка"
