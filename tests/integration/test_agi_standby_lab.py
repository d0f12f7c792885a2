"""The standby FastAGI server (`pbx-crm agi-server`, its own process): with the daemon
stopped, the dialplan asks it before the process AGI script, and it routes the call the
daemon's way (the owner alone first, with the CRM name). The process script is pointed at
a database that does not exist here, so only the standby can have routed it so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from pbx_daemon import db
from pbx_daemon.lab import Lab
from tests.integration.conftest import TEST_AGI_STANDBY_LISTEN
from tests.integration.test_routing_lab import CLIENT, SALES_NUMBER, seed

pytestmark = pytest.mark.lab


@pytest.fixture
def standby(lab: Lab, tmp_path):
    assert not any(a["name"] == "pbx-crm" for a in lab.ari_get("/applications")), \
        "a daemon is running; this test needs it stopped"
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    lab.attach_database("sqlite:////nonexistent/no-database-attached.sqlite3")
    config = tmp_path / "pbx-crm.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[agi]\nstandby_listen = "{TEST_AGI_STANDBY_LISTEN}"\n')
    log = tmp_path / "agi-server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBX_CRM_")}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pbx_daemon.cli", "--config", str(config),
                                 "agi-server"], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        # Listening, and its first lookup done (the warm-up a restarted server does, so
        # that its first call is not the cold one).
        lab.wait_for(lambda: "FastAGIFactory starting on" in log.read_text()
                     and "lookup warmed up" in log.read_text(), 15, "the agi-server to be ready")
        yield lab, log
    finally:
        proc.send_signal(signal.SIGTERM)
        started = time.time()
        proc.wait(10)
        assert time.time() - started < 3, "agi-server took 3 s or more to stop"


def test_with_the_daemon_stopped_the_standby_routes_the_owner_first(standby):
    lab, log = standby
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("101", "answer:1:2")
    start = time.time()
    lab.call(CLIENT, SALES_NUMBER, name="PSTN", ring_timeout=20, hold=2)
    rings = lab.wait_for(lambda: [r for r in lab.rings(start) if r.caller_num == CLIENT
                                  and r.answered_at], 20, "an answer")
    first = [r for r in lab.rings(start) if r.caller_num == CLIENT][0]
    # The fallback group would have rung 101 and 102 together, with the trunk's name.
    assert (first.target, first.caller_name) == ("101", "ООО Ромашка"), log.read_text()[-3000:]
    assert [r.target for r in rings] == ["101"]
