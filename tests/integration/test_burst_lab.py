"""A burst through the real lab (issue 13): sipp plays the PSTN trunk and places 100 calls
from unknown numbers at 10 a second to pbx-crm's DID; the phones ring, nobody answers,
every caller gives up (CANCEL) after 6 s. The same code as bench/load.py
(pbx_daemon.lab.burst), one rate, pbx-crm only.
"""

from __future__ import annotations

import pytest

from pbx_daemon import db
from pbx_daemon.lab import Lab
from pbx_daemon.lab.burst import ROUTED_DID, run_burst, seed
from pbx_daemon.lab.sipp import SippBurst, caller_numbers
from tests.integration.conftest import running_daemon

pytestmark = pytest.mark.lab

RATE, COUNT, GIVEUP = 10, 100, 6


def test_a_burst_of_callers_giving_up_is_stored_whole_and_leaves_no_channel(fresh_lab: Lab, tmp_path):
    """Every call one row, missed, with its own inquiry and call-back task; 0 channels on
    the PBX 10 s after the last caller gave up."""
    lab = fresh_lab
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    engine = db.make_engine(url)
    sessions = db.make_session_factory(engine)
    with sessions() as session:
        seed(session, ROUTED_DID)
    for phone in ("101", "102", "103", "104"):
        lab.set_phone(phone, "ring")
    callers = caller_numbers(0, COUNT)
    with running_daemon(lab, tmp_path, url) as daemon:
        report = run_burst(lab, SippBurst("giveup", ROUTED_DID, RATE, COUNT, GIVEUP), callers,
                           target="pbx-crm", workdir=tmp_path / "sipp",
                           sipp_port=lab.s.pbx_sip_port + 2, settle=10, sessions=sessions,
                           recordings_dir=tmp_path / "recordings", daemon_pid=daemon.pid,
                           daemon_log=tmp_path / "daemon.log")
    engine.dispose()
    sipp = report.sipp
    assert (sipp.attempted, sipp.completed, sipp.counter("Cancelled")) == (COUNT, COUNT, COUNT), \
        sipp.failures()
    assert len(sipp.rtt["ring"]) == COUNT  # every caller heard ringing
    assert report.channels_left == []
    check = report.database
    assert check.problems() == []
    assert check.stored == COUNT and dict(check.outcomes) == {"missed": COUNT}
