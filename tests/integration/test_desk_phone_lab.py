"""Desk-phone calls through the daemon, real SIP: lab phone 101 dials a client in national
format -> the trunk side receives E.164, the call is Anna's outbound call, recorded, on
the contact's card and in the analytics; 101 dials 102 -> an internal call, stored, in no
client figure; a blocklisted number rings nothing outside."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.crm.stats.analytics import lost_call_rate, per_department, per_employee
from pbx_daemon.lab import Lab
from tests.integration.conftest import running_daemon
from tests.integration.test_routing_lab import seed

pytestmark = pytest.mark.lab

CLIENT_NUMBER = "+79165550101"  # a contact of Anna's, dialled as "8 916 555-01-01"
TZ = "UTC"


@pytest.fixture(scope="module")
def daemon(lab: Lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("desk")
    url = f"sqlite:///{tmp}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    with _session(url) as s:
        anna = s.scalar(select(m.Employee).where(m.Employee.login == "anna"))
        s.add(m.Contact(full_name="Пётр Настольный", responsible_id=anna.id,
                        phones=[m.ContactPhone(phone=CLIENT_NUMBER)]))
        s.commit()
    with running_daemon(lab, tmp, url, "[click_to_call]\nclient_timeout = 15\n"):
        yield lab, url, tmp


def _session(url):
    return db.make_session_factory(db.make_engine(url))()


def _ended_call(url, **where):
    with _session(url) as s:
        query = select(m.Call).where(m.Call.ended_at.isnot(None))
        for column, value in where.items():
            query = query.where(getattr(m.Call, column) == value)
        return s.scalars(query.order_by(m.Call.id.desc())).first()


def _figures(url):
    today = datetime.now(timezone.utc).date()
    with _session(url) as s:
        return ({e.name: (e.calls_in, e.calls_out, e.answered, e.minutes)
                 for e in per_employee(s, today, today, TZ)},
                [(d.name, d.calls_in, d.calls_out, d.minutes) for d in per_department(s, today, today, TZ)],
                [(d.inbound, d.missed) for d in lost_call_rate(s, today, today, TZ)])


def test_phone_101_dials_a_client_in_national_format(daemon):
    """The trunk side receives E.164; stored as Anna's outbound call, answered, recorded,
    linked to the contact's card, and counted in her outbound figures."""
    lab, url, tmp = daemon
    lab.wait_idle()
    lab.reset_behaviour()
    before = _figures(url)[0].get("Anna", (0, 0, 0, 0.0))
    lab.set_client(CLIENT_NUMBER, "answer:1")
    start = time.time()
    lab.phone_dial("101", "8 916 555-01-01", hold=3)
    rings = lab.wait_for(lambda: [r for r in lab.rings(start) if r.kind == "pstn" and r.ended_at],
                         30, "the client to ring, answer and hang up")
    assert [r.target for r in rings] == [CLIENT_NUMBER]  # E.164 at the trunk
    assert rings[0].answered_at is not None

    call = lab.wait_for(lambda: _ended_call(url, callee=CLIENT_NUMBER), 10, "the call to be stored")
    with _session(url) as s:
        call = s.get(m.Call, call.id)
        anna = s.scalar(select(m.Employee).where(m.Employee.login == "anna"))
        contact = s.scalar(select(m.Contact).where(m.Contact.full_name == "Пётр Настольный"))
        assert (call.direction, call.outcome, call.handled_by) == ("outbound", "answered", "daemon")
        assert call.employee_id == call.answered_by_id == anna.id
        assert call.contact_id == contact.id  # on the card
        assert call.talk_seconds is not None and call.talk_seconds >= 2
        assert [leg.endpoint for leg in sorted(call.legs, key=lambda leg: leg.step)] == \
            ["PJSIP/101", f"PJSIP/{CLIENT_NUMBER}@trunk"]
        linkedid = call.linkedid

    def attached():
        with _session(url) as s:
            r = s.scalar(select(m.Recording).join(m.Call).where(m.Call.linkedid == linkedid))
            return (r.path, r.size_bytes) if r else None

    path, size = lab.wait_for(attached, 10, "the recording to be attached")
    assert path == f"{linkedid}.wav" and (tmp / "recordings" / path).stat().st_size == size > 1000

    calls_in, calls_out, answered, minutes = _figures(url)[0]["Anna"]
    assert (calls_in, calls_out, answered) == (before[0], before[1] + 1, before[2] + 1)
    assert minutes >= before[3]


def test_phone_101_dials_102_an_internal_call_in_no_client_figure(daemon):
    lab, url, tmp = daemon
    lab.wait_idle()
    lab.reset_behaviour()
    before = _figures(url)
    lab.set_phone("102", "answer:1:3")
    start = time.time()
    lab.phone_dial("101", "102", hold=10)
    rings = lab.wait_for(lambda: [r for r in lab.rings(start) if r.kind == "phone" and r.ended_at],
                         30, "phone 102 to ring, answer and hang up")
    assert [(r.target, r.caller_name, r.caller_num) for r in rings] == [("102", "Anna", "101")]
    assert rings[0].answered_at is not None
    assert not [r for r in lab.rings(start) if r.kind == "pstn"]

    call = lab.wait_for(lambda: _ended_call(url, direction="internal"), 10, "the internal call")
    with _session(url) as s:
        call = s.get(m.Call, call.id)
        anna, boris = (s.scalar(select(m.Employee).where(m.Employee.login == who))
                       for who in ("anna", "boris"))
        assert (call.outcome, call.employee_id, call.answered_by_id) == ("answered", anna.id, boris.id)
        assert (call.caller_raw, call.dialled_number, call.callee) == ("101", "102", None)
        assert call.talk_seconds is not None and call.talk_seconds >= 2
    lab.wait_idle(10)
    time.sleep(1)  # the recording's attachment is a write too: let it land
    assert _figures(url) == before


def test_a_blocklisted_number_rings_nothing_outside(daemon):
    """The seed's blocklisted +79990000000, dialled from a desk phone: the phone hears the
    short message; nothing reaches the trunk and no outbound call is stored."""
    lab, url, tmp = daemon
    lab.wait_idle()
    lab.reset_behaviour()
    start = time.time()
    lab.phone_dial("101", "89990000000", hold=1)
    time.sleep(4)
    assert [r for r in lab.rings(start) if r.kind == "pstn"] == []
    assert _ended_call(url, callee="+79990000000") is None
    lab.wait_idle(15)
