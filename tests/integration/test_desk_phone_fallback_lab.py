"""A desk phone's call with the daemon stopped: the dialplan places it itself (national
format normalised to E.164, through the trunk, MixMonitor), and reconciliation stores it
as the employee's outbound call, on the card, with its recording, once the daemon starts.
(Its own module: the desk-phone module keeps a daemon running for all its tests.)"""

from __future__ import annotations

import random
import time

import pytest
from sqlalchemy import select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.conftest import reconciled_to_the_end, running_daemon
from tests.integration.test_routing_lab import seed

pytestmark = pytest.mark.lab


def test_a_desk_call_with_the_daemon_stopped_goes_out_and_is_stored_later(lab: Lab, tmp_path):
    # The PBX's CEL log outlives test runs: a number of this run only.
    number = f"+7916{random.randrange(1000000, 9999999)}"
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    engine = db.make_engine(url)
    sessions = db.make_session_factory(engine)
    with sessions() as s:
        anna = s.scalar(select(m.Employee).where(m.Employee.login == "anna"))
        contact = m.Contact(full_name="Клиент Без Демона", responsible_id=anna.id,
                            phones=[m.ContactPhone(phone=number)])
        s.add(contact)
        s.commit()
        anna_id, contact_id = anna.id, contact.id
    cel = reconciled_to_the_end(lab, url)  # before the daemon went down

    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_client(number, "answer:1")
    start = time.time()
    lab.phone_dial("101", "8" + number[2:], hold=3)  # national format: 8 916 ...
    rings = lab.wait_for(lambda: [r for r in lab.rings(start) if r.kind == "pstn" and r.ended_at],
                         30, "the client to ring, answer and hang up")
    assert [r.target for r in rings] == [number]  # the dialplan sent E.164
    assert rings[0].answered_at is not None
    lab.wait_idle(20)
    time.sleep(5)  # the daemon leaves calls that ended in the last 5 s alone

    def stored():
        with sessions() as s:
            return s.scalar(select(m.Call).where(m.Call.callee == number))

    with running_daemon(lab, tmp_path, url,
                        asterisk_extra=f'cel_log = "{cel}"\nreconcile_interval = 1\n'):
        call = lab.wait_for(stored, 15, "the desk call to be reconciled")
    with sessions() as s:
        call = s.get(m.Call, call.id)
        assert (call.direction, call.outcome, call.handled_by) == ("outbound", "answered", "reconciled")
        assert call.employee_id == call.answered_by_id == anna_id
        assert call.contact_id == contact_id
        assert call.talk_seconds is not None and call.talk_seconds >= 2
        assert call.recording is not None and call.recording.size_bytes > 1000
        assert (tmp_path / "recordings" / f"{call.linkedid}.wav").stat().st_size \
            == call.recording.size_bytes
    engine.dispose()
