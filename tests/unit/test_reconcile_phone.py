"""Reconciliation of desk-phone calls the dialplan placed while the daemon was away
(``[pbxcrm-phone-fallback]`` marks them in CEL): stored once, as the employee's outbound
call linked to the card, or as an internal call; CEL lines as Asterisk 22 writes them."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from pbx_daemon.crm import models as m
from pbx_daemon.telephony.reconcile import reconcile
from tests.unit.helpers import memory_session

T = datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc).timestamp()


def ev(kind, t, uniqueid, channame, linkedid="1700.1", **kw):
    return json.dumps({"eventtype": kind, "userdeftype": kw.pop("userdeftype", ""), "eventtime": t,
                       "name": "", "num": kw.pop("num", "101"), "dnid": "", "exten": kw.pop("exten", ""),
                       "context": kw.pop("context", ""), "channame": channame, "appname": "",
                       "appdata": "", "uniqueid": uniqueid, "linkedid": linkedid, "peer": "",
                       "userfield": "", "eventextra": kw.pop("eventextra", "")})


def phone_call_cel(dialled, peer_channel, *, answered=True, cause=16, linkedid="1700.1"):
    lines = [
        ev("CHAN_START", T, linkedid, "PJSIP/101-00000001", linkedid, exten=dialled,
           context="pbxcrm-internal"),
        ev("USER_DEFINED", T + 0.1, linkedid, "PJSIP/101-00000001", linkedid,
           userdeftype="PBXCRM_PHONE_FALLBACK", exten=dialled, context="pbxcrm-phone-fallback"),
        ev("CHAN_START", T + 0.2, f"{linkedid}x", peer_channel, linkedid),
    ]
    if answered:
        lines += [ev("ANSWER", T + 3, f"{linkedid}x", peer_channel, linkedid),
                  ev("ANSWER", T + 3, linkedid, "PJSIP/101-00000001", linkedid)]
    lines += [ev("HANGUP", T + 33, f"{linkedid}x", peer_channel, linkedid,
                 eventextra=json.dumps({"hangupcause": cause})),
              ev("HANGUP", T + 33, linkedid, "PJSIP/101-00000001", linkedid),
              ev("LINKEDID_END", T + 33.5, linkedid, "PJSIP/101-00000001", linkedid)]
    return lines


@pytest.fixture
def session():
    with memory_session() as s:
        sales = m.Department(name="Sales")
        s.add(sales)
        s.flush()
        anna = m.Employee(full_name="Anna", login="anna", sip_endpoint="101", department_id=sales.id)
        boris = m.Employee(full_name="Boris", login="boris", sip_endpoint="102", department_id=sales.id)
        company = m.Company(name="ООО Ромашка", responsible=anna, phones=[m.CompanyPhone(phone="+79161234567")])
        s.add_all([anna, boris, company])
        s.commit()
        yield s


def test_an_outbound_desk_call_placed_by_the_dialplan_is_stored_on_the_card(session, tmp_path):
    cel = phone_call_cel("89161234567", "PJSIP/pbxcrm-trunk-00000002")
    summary = reconcile(session, cel, recordings_dir=tmp_path)
    assert (summary.stored, summary.answered) == (1, 1)
    call = session.scalar(select(m.Call))
    anna = session.scalar(select(m.Employee).where(m.Employee.login == "anna"))
    company = session.scalar(select(m.Company))
    assert (call.direction, call.outcome, call.callee, call.handled_by) == \
        ("outbound", "answered", "+79161234567", "reconciled")
    assert call.employee_id == call.answered_by_id == anna.id
    assert call.company_id == company.id and call.department_id == anna.department_id
    assert (call.talk_seconds, call.duration_seconds) == (30, 33)
    assert [(leg.endpoint, leg.outcome) for leg in sorted(call.legs, key=lambda leg: leg.step)] == \
        [("PJSIP/101", "answered"), ("PJSIP/pbxcrm-trunk", "answered")]
    # Running it again stores nothing twice.
    assert reconcile(session, cel, recordings_dir=tmp_path).stored == 0
    assert session.scalar(select(func.count()).select_from(m.Call)) == 1


def test_an_internal_desk_call_is_stored_as_internal(session, tmp_path):
    reconcile(session, phone_call_cel("102", "PJSIP/102-00000002"), recordings_dir=tmp_path)
    call = session.scalar(select(m.Call))
    boris = session.scalar(select(m.Employee).where(m.Employee.login == "boris"))
    assert (call.direction, call.outcome, call.dialled_number, call.callee) == \
        ("internal", "answered", "102", None)
    assert call.answered_by_id == boris.id
    assert max(call.legs, key=lambda leg: leg.step).employee_id == boris.id


@pytest.mark.parametrize("cause,outcome", [(17, "busy"), (19, "no_answer"), (16, "abandoned")])
def test_an_unanswered_desk_call_keeps_its_outcome(session, tmp_path, cause, outcome):
    reconcile(session, phone_call_cel("+79161234567", "PJSIP/pbxcrm-trunk-00000002", answered=False,
                                      cause=cause), recordings_dir=tmp_path)
    call = session.scalar(select(m.Call))
    assert (call.outcome, call.answered_at, call.talk_seconds) == (outcome, None, None)


def test_a_call_the_daemon_stored_is_left_alone(session, tmp_path):
    session.add(m.Call(linkedid="1700.1", direction="outbound", outcome="answered",
                       started_at=datetime.fromtimestamp(T, timezone.utc)))
    session.commit()
    assert reconcile(session, phone_call_cel("89161234567", "PJSIP/pbxcrm-trunk-1"),
                     recordings_dir=tmp_path).stored == 0


def call_events(session):
    return [(e.kind, e.payload.get("reconciled")) for e in session.scalars(
        select(m.WebhookEvent).where(m.WebhookEvent.kind.startswith("call.")).order_by(m.WebhookEvent.id))]


@pytest.mark.parametrize("answered,kinds", [
    (True, ["call.started", "call.answered", "call.ended"]), (False, ["call.started", "call.ended"])])
def test_a_desk_call_from_cel_sends_its_webhook_events_once(session, tmp_path, answered, kinds):
    cel = phone_call_cel("89161234567", "PJSIP/pbxcrm-trunk-00000002", answered=answered)
    reconcile(session, cel, recordings_dir=tmp_path)
    reconcile(session, cel, recordings_dir=tmp_path)
    assert call_events(session) == [(kind, True) for kind in kinds]


def test_a_placed_call_left_in_progress_gets_answered_and_ended_only(session, tmp_path):
    """The daemon sent call.started for it; reconciliation sends the rest."""
    started = datetime.fromtimestamp(T, timezone.utc)
    session.add(m.Call(linkedid="1700.1", direction="outbound", outcome="in_progress", started_at=started,
                       callee="+79161234567",
                       legs=[m.CallLeg(endpoint="PJSIP/101", step=1, channel_id="1700.1", ringing_at=started,
                                       outcome="ringing"),
                             m.CallLeg(endpoint="PJSIP/pbxcrm-trunk", step=2, channel_id="1700.1x",
                                       ringing_at=started, outcome="ringing")]))
    session.commit()
    cel = phone_call_cel("89161234567", "PJSIP/pbxcrm-trunk-00000002")
    assert reconcile(session, cel, recordings_dir=tmp_path).completed == 1
    reconcile(session, cel, recordings_dir=tmp_path)
    assert call_events(session) == [("call.answered", True), ("call.ended", True)]
