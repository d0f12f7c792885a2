"""Transfers from a phone (SIP REFER), real SIP: ООО Ромашка calls, Anna's phone 101 answers
and hands the caller to Boris's 102, blind or after a consultation call. Either way it
stays one call on the company's card: both legs answered with their own times (each
employee's part), one recording of the whole conversation, the caller talking to 102 at
the end. The world's phone sends the REFER itself (Asterisk's Transfer() on its channel:
Refer-To the extension, or with Replaces naming the consultation's dialog)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.crm.stats.analytics import per_employee
from pbx_daemon.lab import Lab
from tests.integration.conftest import running_daemon
from tests.integration.test_routing_lab import CLIENT, SALES_NUMBER, seed

pytestmark = pytest.mark.lab


def _session(url):
    return db.make_session_factory(db.make_engine(url))()


@pytest.fixture(scope="module")
def daemon(lab: Lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("transfer")
    url = f"sqlite:///{tmp}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    with running_daemon(lab, tmp, url):
        yield lab, url, tmp


def _finished_call(url, since):
    """The latest inbound call from the client, once ended with its recording attached."""
    with _session(url) as s:
        call = s.scalar(select(m.Call).where(m.Call.caller == CLIENT, m.Call.direction == "inbound")
                        .order_by(m.Call.id.desc()))
        if call is None or call.ended_at is None or call.recording is None \
                or call.started_at.timestamp() < since - 1:
            return None
        legs = [(leg.endpoint, leg.step, leg.outcome, leg.answered_at, leg.ended_at,
                 leg.employee.login if leg.employee else None)
                for leg in sorted(call.legs, key=lambda leg: leg.ringing_at)]
        return {"id": call.id, "outcome": call.outcome, "company": call.company_id,
                "answered_by": call.answered_by.login if call.answered_by else None,
                "legs": legs, "recording": call.recording.size_bytes,
                "started": call.started_at, "ended": call.ended_at}


def _check_one_call_two_parts(lab, url, tmp, start, talk_101):
    try:
        call = lab.wait_for(lambda: _finished_call(url, start), 60, "the call and its recording")
    except Exception:
        print((tmp / "daemon.log").read_text()[-20000:])
        raise
    with _session(url) as s:
        company = s.scalar(select(m.Company).where(m.Company.name == "ООО Ромашка"))
        assert call["company"] == company.id
    assert call["outcome"] == "answered" and call["answered_by"] == "anna"
    answered = [leg for leg in call["legs"] if leg[2] == "answered"]
    assert [(leg[0], leg[5]) for leg in answered] == [("PJSIP/101", "anna"), ("PJSIP/102", "boris")]
    (_, _, _, a101, e101, _), (_, step102, _, a102, e102, _) = answered
    assert step102 == m.TRANSFER_STEP  # rung by the transfer, not by a routing step
    # Anna's part ends where Boris's begins (give or take the hand-over).
    assert talk_101 - 1 <= (e101 - a101).total_seconds() <= talk_101 + 4
    assert a102 >= e101 - (e101 - a101) / 2 and (e102 - a102).total_seconds() >= 2
    assert call["recording"] and call["recording"] > 16000  # one file, both parts
    # Only one inbound call row for the whole conversation.
    with _session(url) as s:
        inbound = s.scalars(select(m.Call).where(m.Call.caller == CLIENT, m.Call.direction == "inbound",
                                                 m.Call.id >= call["id"])).all()
        assert len(inbound) == 1
    # The caller ended up talking to 102: the world's 102 answered and hung up at the end.
    rings = [r for r in lab.rings(start) if r.target == "102" and r.answered_at]
    assert rings, "102 never answered"
    return call


def test_blind_transfer_keeps_one_call_with_both_parts(daemon):
    lab, url, tmp = daemon
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("101", "blind:1:3:102")
    lab.set_phone("102", "answer:1")
    start = time.time()
    lab.call(CLIENT, SALES_NUMBER, ring_timeout=20, hold=12)
    call = _check_one_call_two_parts(lab, url, tmp, start, talk_101=3)
    # Both employees' talk time counts, each for their part.
    today = call["started"].date()
    with _session(url) as s:
        minutes = {e.name: e.minutes for e in per_employee(s, today, today, "UTC")}
    assert minutes.get("Boris", 0) > 0 and minutes.get("Anna", 0) > 0


def test_attended_transfer_moves_the_consulted_phone_into_the_call(daemon):
    lab, url, tmp = daemon
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("101", "attended:1:2:102")
    lab.set_phone("102", "answer:1")
    start = time.time()
    lab.call(CLIENT, SALES_NUMBER, ring_timeout=20, hold=15)
    _check_one_call_two_parts(lab, url, tmp, start, talk_101=4)
    # The consultation itself is an internal call of Anna's to Boris.
    with _session(url) as s:
        consult = s.scalar(select(m.Call).where(m.Call.direction == "internal")
                           .order_by(m.Call.id.desc()))
        assert consult is not None and consult.outcome == "answered"
        assert consult.employee.login == "anna"
