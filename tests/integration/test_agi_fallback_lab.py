"""With the daemon stopped, the dialplan's process AGI fallback routes the same call the
same way; with the database unreachable too, the fallback ring group rings."""

from __future__ import annotations

import time

import pytest

from pbx_daemon import db
from pbx_daemon.lab import Lab
from tests.integration.test_routing_lab import CLIENT, SALES_NUMBER, seed

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def agi_lab(lab: Lab, tmp_path_factory):
    assert not any(a["name"] == "pbx-crm" for a in lab.ari_get("/applications")), \
        "a daemon is running; these tests need it stopped"
    tmp = tmp_path_factory.mktemp("agi")
    url = f"sqlite:///{tmp}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    lab.attach_database(url)
    yield lab, url
    lab.attach_database("sqlite:////nonexistent/no-database-attached.sqlite3")


def _rings(lab, caller, since):
    return [r for r in lab.rings(since) if r.caller_num == caller]


def test_daemon_down_the_owner_still_rings_first_then_the_department(agi_lab):
    lab, _url = agi_lab
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("102", "answer:1:2")
    start = time.time()
    lab.call(CLIENT, SALES_NUMBER, name="PSTN", ring_timeout=20, hold=2)
    lab.wait_for(lambda: [r for r in _rings(lab, CLIENT, start) if r.answered_at], 20, "an answer")
    rings = _rings(lab, CLIENT, start)
    first = rings[0]
    assert first.target == "101" and first.caller_name == "ООО Ромашка"
    later = [r for r in rings if r.rang_at - first.rang_at > 1.5]
    assert {r.target for r in rings if r.rang_at - first.rang_at < 1.5} == {"101"}
    assert {r.target for r in later} >= {"102"}
    answered = [r for r in rings if r.answered_at]
    assert [r.target for r in answered] == ["102"]
    # MixMonitor wrote the recording, named by linkedid (never by caller input).
    recordings = lab.instance_dir("pbx") / "spool" / "recording"
    lab.wait_for(lambda: [p for p in recordings.glob("pbx-*.wav")
                          if p.stat().st_mtime >= start and p.stat().st_size > 1000], 10,
                 "the fallback's MixMonitor recording")


def test_daemon_down_blocked_number_rings_nobody(agi_lab):
    lab, _url = agi_lab
    lab.wait_idle()
    lab.reset_behaviour()
    start = time.time()
    lab.call("+79990000000", SALES_NUMBER, ring_timeout=5, hold=1)
    time.sleep(4)
    assert _rings(lab, "+79990000000", start) == []


def test_daemon_and_database_down_the_fallback_group_rings(agi_lab):
    lab, url = agi_lab
    lab.wait_idle()
    lab.reset_behaviour()
    lab.attach_database("sqlite:////nonexistent/gone.sqlite3")
    try:
        lab.set_phone("101", "answer:1:1")
        caller = "+79031239999"
        start = time.time()
        lab.call(caller, SALES_NUMBER, ring_timeout=15, hold=1)
        lab.wait_for(lambda: [r for r in _rings(lab, caller, start) if r.ended_at], 15, "a ring")
        rings = _rings(lab, caller, start)
        # The lab's fallback group is 101 and 102, rung together.
        assert {r.target for r in rings} == {"101", "102"}
        assert abs(rings[0].rang_at - rings[1].rang_at) < 0.5
    finally:
        lab.attach_database(url)


def test_with_the_process_agi_fallbacks_all_busy_the_fallback_group_rings_at_once(agi_lab):
    """PBXCRM_AGI_MAX bounds the process scripts running at once (each costs ~0.6 s of
    CPU; a burst of them starves Asterisk): with the limit at 0, as if every slot were
    taken, the call rings the fallback group without starting a script."""
    lab, _url = agi_lab
    lab.wait_idle()
    lab.reset_behaviour()
    lab.cli("pbx", "dialplan set global PBXCRM_AGI_MAX 0")
    log = lab.log_dir("pbx") / "messages.log"
    offset = log.stat().st_size
    try:
        start = time.time()
        # The client's own manager would ring first (101 alone) had the script routed it.
        lab.call(CLIENT, SALES_NUMBER, name="PSTN", ring_timeout=6, hold=1)
        lab.wait_for(lambda: len(_rings(lab, CLIENT, start)) >= 2, 10, "the fallback group")
        rings = _rings(lab, CLIENT, start)
        assert {r.target for r in rings} == {"101", "102"}
        assert abs(rings[0].rang_at - rings[1].rang_at) < 1.0, "rung together, not in steps"
        assert rings[0].caller_name != "ООО Ромашка", "no lookup ran"
        with open(log, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        assert "process AGI limit reached" in text
        assert "/agi-route" not in text  # the script was never started
    finally:
        lab.cli("pbx", "dialplan set global PBXCRM_AGI_MAX 2")
