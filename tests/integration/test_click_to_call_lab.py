"""Click-to-call against the real lab: the employee's lab phone rings first, then the
client's number through the trunk; the call is stored against the card with its
recording; bad numbers ring nothing; a call-back closes the missed-call task."""

from __future__ import annotations

import time
from datetime import timezone

import pytest
from sqlalchemy import select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.telephony.api_client import click_to_call
from pbx_daemon.telephony.api_client import ClickToCallError
from pbx_daemon.lab import Lab
from tests.integration.conftest import TEST_API_PORT, TEST_API_TOKEN, running_daemon
from tests.integration.test_routing_lab import SALES_NUMBER, seed

pytestmark = pytest.mark.lab

API = f"http://127.0.0.1:{TEST_API_PORT}"
CALLBACK_CLIENT = "+79031230077"
COMPANY_CID = "+74951110001"


@pytest.fixture(scope="module")
def daemon(lab: Lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("c2c")
    url = f"sqlite:///{tmp}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    with running_daemon(lab, tmp, url, "[click_to_call]\nemployee_timeout = 8\nclient_timeout = 6\n"):
        yield lab, url, tmp


def _session(url):
    return db.make_session_factory(db.make_engine(url))()


def _c2c(employee, number, card=None):
    return click_to_call(API, TEST_API_TOKEN, employee=employee, number=number, card=card)


def _stored(url, linkedid):
    with _session(url) as s:
        call = s.scalar(select(m.Call).where(m.Call.linkedid == linkedid))
        return call if call is not None and call.ended_at is not None else None


def _utc(ts):
    from datetime import datetime

    return datetime.fromtimestamp(ts, timezone.utc)


def test_employee_rings_first_then_the_client_and_the_call_lands_on_the_card(daemon):
    lab, url, tmp = daemon
    lab.wait_idle()
    lab.reset_behaviour()
    with _session(url) as s:
        anna = s.scalar(select(m.Employee).where(m.Employee.login == "anna"))
        contact = m.Contact(full_name="Пётр Клиентов", responsible_id=anna.id,
                            phones=[m.ContactPhone(phone="+79035550011")])
        s.add(contact)
        s.commit()
        contact_id = contact.id
    lab.set_phone("101", "answer:1")
    lab.set_client("+79035550011", "answer:2:3")
    start = time.time()
    result = _c2c("anna", "8 (903) 555-00-11", {"kind": "contact", "id": contact_id})
    assert result["number"] == "+79035550011"
    call_id = result["call_id"]
    rings = lab.wait_for(lambda: [r for r in lab.rings(start) if r.ended_at and r.kind == "pstn"]
                         and lab.rings(start), 30, "both phones to ring and the call to end")
    assert [(r.kind, r.target) for r in rings] == [("phone", "101"), ("pstn", "+79035550011")]
    employee, client = rings
    # The employee's phone showed whom it is about to call.
    assert employee.caller_name == "Пётр Клиентов" and employee.caller_num == "+79035550011"
    assert client.rang_at > employee.answered_at  # dialled only once the employee answered
    assert client.answered_at is not None

    call = lab.wait_for(lambda: _stored(url, call_id), 10, "the click-to-call to be stored")
    assert (call.direction, call.outcome, call.callee, call.contact_id) == \
        ("outbound", "answered", "+79035550011", contact_id)
    assert call.employee_id == call.answered_by_id == anna.id
    assert call.talk_seconds is not None and call.talk_seconds >= 2

    def attached():
        with _session(url) as s:
            r = s.scalar(select(m.Recording).join(m.Call).where(m.Call.linkedid == call_id))
            return (r.path, r.size_bytes, r.created_at.replace(tzinfo=timezone.utc).timestamp()) \
                if r else None

    path, size, attached_at = lab.wait_for(attached, 5, "the recording to be attached")
    assert path == f"{call_id}.wav" and (tmp / "recordings" / path).stat().st_size == size > 1000
    assert attached_at - client.ended_at < 5


@pytest.mark.parametrize("number,status", [
    ("8916abc4567", 400), ("+7916123&4567", 400), ("12345", 400), ("+79990000000", 403),
])
def test_bad_numbers_are_refused_before_anything_rings(daemon, number, status):
    lab, url, _ = daemon
    lab.wait_idle()
    start = time.time()
    with pytest.raises(ClickToCallError) as e:
        _c2c("anna", number)
    assert e.value.status == status and e.value.message
    time.sleep(1.5)
    assert lab.rings(start) == []
    assert lab.ari_get("/channels") == []


def test_unavailable_employee_is_refused_and_nothing_rings(daemon):
    lab, url, _ = daemon
    lab.wait_idle()
    start = time.time()
    for who, status in (("nobody", 404), (999999, 404)):
        with pytest.raises(ClickToCallError) as e:
            _c2c(who, "+79161234567")
        assert e.value.status == status
    time.sleep(1)
    assert lab.rings(start) == []


@pytest.mark.parametrize("mode,outcome", [("ring", "no_answer"), ("busy", "busy")])
def test_client_not_answering_is_stored_with_its_outcome(daemon, mode, outcome):
    lab, url, _ = daemon
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("102", "answer:1")
    lab.set_client("+79035550022", mode)
    call_id = _c2c("boris", "+79035550022")["call_id"]
    call = lab.wait_for(lambda: _stored(url, call_id), 20, "the click-to-call to end")
    assert (call.direction, call.outcome, call.answered_at) == ("outbound", outcome, None)
    with _session(url) as s:
        assert s.scalar(select(m.Recording.id).where(m.Recording.call_id == call.id)) is None


def test_missed_twice_then_the_owner_calls_back_task_done_and_recovered(daemon):
    """The acceptance story: the caller hangs up while phones ring, twice -> one inquiry
    (counter 2) and one call-back task for the owner; the owner calls back with
    click-to-call and the client answers -> task done, misses recovered."""
    lab, url, _ = daemon
    with _session(url) as s:
        anna = s.scalar(select(m.Employee).where(m.Employee.login == "anna"))
        s.add(m.Contact(full_name="Ждущий Клиент", responsible_id=anna.id,
                        phones=[m.ContactPhone(phone=CALLBACK_CLIENT)]))
        s.commit()
        anna_id = anna.id
    for attempt in range(2):
        lab.wait_idle()
        lab.reset_behaviour()
        lab.call(CALLBACK_CLIENT, SALES_NUMBER, ring_timeout=2, hold=1)

        def missed(n=attempt + 1):
            with _session(url) as s:
                calls = s.scalars(select(m.Call).where(m.Call.caller == CALLBACK_CLIENT,
                                                       m.Call.outcome == "missed")).all()
                return len(calls) == n
        lab.wait_for(missed, 15, f"missed call {attempt + 1}")
    with _session(url) as s:
        inquiry = s.scalars(select(m.Inquiry).where(m.Inquiry.phone == CALLBACK_CLIENT)).one()
        assert (inquiry.missed_count, inquiry.status, inquiry.responsible_id) == (2, "open", anna_id)
        task = s.scalars(select(m.Task).where(m.Task.inquiry_id == inquiry.id)).one()
        assert (task.type, task.responsible_id, task.status) == ("call", anna_id, "open")
        inquiry_id, task_id = inquiry.id, task.id

    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("101", "answer:1")
    lab.set_client(CALLBACK_CLIENT, "answer:1:2")
    call_id = _c2c(anna_id, CALLBACK_CLIENT, {"kind": "inquiry", "id": inquiry_id})["call_id"]
    call = lab.wait_for(lambda: _stored(url, call_id), 25, "the call-back to end")
    assert call.outcome == "answered" and call.inquiry_id == inquiry_id
    with _session(url) as s:
        assert s.get(m.Task, task_id).status == "done"
        misses = s.scalars(select(m.Call).where(m.Call.caller == CALLBACK_CLIENT,
                                                m.Call.outcome == "missed")).all()
        assert len(misses) == 2 and all(c.recovered_at is not None for c in misses)
