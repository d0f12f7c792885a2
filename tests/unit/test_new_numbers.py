"""New numbers end to end in-process: the daemon's SQL store and reconciliation from CEL
both leave one inquiry for an answered unknown caller, whichever sees the call, however
often."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select
from twisted.internet.defer import succeed

from pbx_daemon.crm import models as m
from pbx_daemon.db import make_engine, make_session_factory, seed_reference_data
from pbx_daemon.telephony.calls.interfaces import CallDetails
from pbx_daemon.telephony.outputs.store import SqlCallRecorder
from pbx_daemon.telephony.reconcile import reconcile
from pbx_daemon.telephony.routing.policy import RoutePlan

NUMBER = "+79165550001"
START = datetime(2026, 11, 22, 10, 30, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def factory():
    engine = make_engine("sqlite://")
    m.Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    with sessions() as s:
        seed_reference_data(s)
        sales = m.Department(name="Sales")
        s.add(sales)
        s.flush()
        s.add(m.Employee(full_name="Anna", login="anna", department_id=sales.id, sip_endpoint="101"))
        s.commit()
    yield sessions
    engine.dispose()


def _anna(s):
    return s.scalar(select(m.Employee.id).where(m.Employee.login == "anna"))


def _recorder(factory):
    return SqlCallRecorder(factory, run=lambda fn: succeed(fn()))


def _daemon_call(recorder, call_id, anna, at=START):
    recorder.caller_identified(call_id, CallDetails(NUMBER, NUMBER, None))
    recorder.call_started(call_id, "chan", RoutePlan(steps=()), at)
    recorder.leg_ringing(call_id, f"{call_id}-leg", "101", anna, 1, at + 1)
    recorder.call_answered(call_id, f"{call_id}-leg", anna, at + 5)


def test_the_store_leaves_one_inquiry_for_the_answering_employee_replays_included(factory):
    with factory() as s:
        anna = _anna(s)
    recorder = _recorder(factory)
    _daemon_call(recorder, "1700000000.1", anna)
    recorder.call_answered("1700000000.1", "1700000000.1-leg", anna, START + 5)  # replayed
    recorder.call_ended("1700000000.1", "answered", START + 60)
    _daemon_call(recorder, "1700000100.1", anna, START + 100)  # they call again
    recorder.call_ended("1700000100.1", "answered", START + 160)
    with factory() as s:
        inquiry = s.scalar(select(m.Inquiry))
        assert s.scalar(select(func.count(m.Inquiry.id))) == 1
        assert (inquiry.phone, inquiry.responsible_id, inquiry.inquiry_class.code,
                inquiry.missed_count) == (NUMBER, anna, "unclear", 0)
        assert set(s.scalars(select(m.Call.inquiry_id))) == {inquiry.id}
        assert s.scalars(select(m.Task)).all() == []


def _cel(linkedid, start, answered=True):
    leg = f"{linkedid}9"
    events = [
        {"eventtype": "CHAN_START", "eventtime": start, "linkedid": linkedid, "uniqueid": linkedid,
         "channame": "PJSIP/pbxcrm-trunk-00000001", "num": NUMBER, "exten": "+74950000000"},
        {"eventtype": "CHAN_START", "eventtime": start + 1, "linkedid": linkedid, "uniqueid": leg,
         "channame": "PJSIP/101-00000002"},
    ]
    if answered:
        events.append({"eventtype": "ANSWER", "eventtime": start + 5, "linkedid": linkedid,
                       "uniqueid": leg, "channame": "PJSIP/101-00000002"})
    events += [
        {"eventtype": "HANGUP", "eventtime": start + 60, "linkedid": linkedid, "uniqueid": leg,
         "channame": "PJSIP/101-00000002", "eventextra": json.dumps({"hangupcause": 16})},
        {"eventtype": "LINKEDID_END", "eventtime": start + 61, "linkedid": linkedid,
         "uniqueid": linkedid, "channame": "PJSIP/pbxcrm-trunk-00000001"},
    ]
    return [json.dumps(e) for e in events]


def test_reconciliation_leaves_one_inquiry_and_running_it_again_adds_nothing(factory, tmp_path):
    lines = _cel("1700000000.1", START) + _cel("1700000100.1", START + 100)
    with factory() as s:
        anna = _anna(s)
        assert reconcile(s, lines, recordings_dir=tmp_path).answered == 2
    with factory() as s:
        reconcile(s, lines, recordings_dir=tmp_path)
    with factory() as s:
        inquiry = s.scalar(select(m.Inquiry))
        assert s.scalar(select(func.count(m.Inquiry.id))) == 1
        assert (inquiry.responsible_id, inquiry.missed_count) == (anna, 0)
        assert set(s.scalars(select(m.Call.inquiry_id))) == {inquiry.id}


def test_a_call_the_daemon_handed_to_the_fallback_group_is_applied_once(factory, tmp_path):
    """The store began the call and handed it over; reconciliation finishes it; a second
    reconciliation run and the store's late writes add no second inquiry."""
    with factory() as s:
        anna = _anna(s)
    recorder = _recorder(factory)
    recorder.caller_identified("1700000000.1", CallDetails(NUMBER, NUMBER, None))
    recorder.call_started("1700000000.1", "chan", RoutePlan(steps=()), START)
    recorder.call_ended("1700000000.1", "fallback", START + 30)
    lines = _cel("1700000000.1", START)
    for _ in range(2):
        with factory() as s:
            reconcile(s, lines, recordings_dir=tmp_path)
    with factory() as s:
        call = s.scalar(select(m.Call))
        assert (call.outcome, call.answered_by_id) == ("answered", anna)
        assert s.scalar(select(func.count(m.Inquiry.id))) == 1
        assert call.inquiry_id == s.scalar(select(m.Inquiry.id))


def test_an_unknown_callers_miss_after_an_answered_call_gets_a_call_back_task(factory, tmp_path):
    with factory() as s:
        anna = _anna(s)
    recorder = _recorder(factory)
    _daemon_call(recorder, "1700000000.1", anna)
    recorder.call_ended("1700000000.1", "answered", START + 60)
    with factory() as s:
        reconcile(s, _cel("1700000100.1", START + 100, answered=False), recordings_dir=tmp_path)
    with factory() as s:
        inquiry = s.scalar(select(m.Inquiry))
        assert s.scalar(select(func.count(m.Inquiry.id))) == 1 and inquiry.missed_count == 1
        assert [(t.responsible_id, t.status) for t in s.scalars(select(m.Task))] == [(anna, "open")]


# ---- "new lead" on a call to a number on no card ------------------------------------------
def _outbound(s, linkedid, number, **fields):
    call = m.Call(linkedid=linkedid, direction="outbound", callee=number, outcome="answered",
                  started_at=datetime(2026, 11, 22, 10, 30, tzinfo=timezone.utc), **fields)
    s.add(call)
    s.flush()
    return call


def test_new_lead_from_a_call_takes_the_numbers_other_unlinked_calls_along(factory):
    from pbx_daemon.crm.funnel import lead_from_call, on_no_card

    with factory() as s:
        anna = s.get(m.Employee, _anna(s))
        first, second = _outbound(s, "o1", NUMBER), _outbound(s, "o2", NUMBER)
        other = _outbound(s, "o3", "+79165550002")
        assert on_no_card(first) and on_no_card(other)
        result = lead_from_call(s, second, by=anna)
        lead = s.get(m.Lead, result.id)
        assert (result.kind, result.created) == ("lead", True)
        assert (lead.title, lead.phone, lead.status, lead.responsible_id, lead.department_id) == (
            NUMBER, NUMBER, "new", anna.id, anna.department_id)
        assert (first.lead_id, second.lead_id, other.lead_id) == (lead.id, lead.id, None)
        assert not on_no_card(first)


@pytest.mark.parametrize("fields,words", [
    ({"direction": "internal"}, "нет номера клиента"),
    ({"callee": None}, "нет номера клиента"),
    ({"call_list_entry_id": 1}, "из рабочего места"),
])
def test_new_lead_refuses_calls_without_a_client_number_and_call_list_calls(factory, fields, words):
    from pbx_daemon.crm.funnel import FunnelError, lead_from_call

    with factory() as s:
        anna = s.get(m.Employee, _anna(s))
        call = _outbound(s, "o1", NUMBER)
        for k, v in fields.items():
            setattr(call, k, v)  # not flushed: the rule reads the row as it is
        with pytest.raises(FunnelError, match=words):
            lead_from_call(s, call, by=anna)
        assert not [row for row in s.new if isinstance(row, m.Lead)]


def test_a_call_end_the_store_writes_after_reconciliation_completed_the_row_changes_nothing(factory):
    """The database was away while a missed call ended; reconciliation completed the row
    from CEL (inquiry and task) before the store's queued end got through: that end is
    not applied a second time."""
    recorder = _recorder(factory)
    recorder.caller_identified("1700000200.1", CallDetails(NUMBER, NUMBER, None))
    recorder.call_started("1700000200.1", "chan", RoutePlan(steps=()), START)
    recorder.call_ended("1700000200.1", "missed", START + 30)  # as reconciliation would
    with factory() as s:
        before = (s.scalar(select(func.count(m.Inquiry.id))), s.scalar(select(func.count(m.Task.id))),
                  s.scalar(select(m.Inquiry.missed_count)))
    recorder.caller_identified("1700000200.1", CallDetails(NUMBER, NUMBER, None))
    recorder.call_ended("1700000200.1", "missed", START + 31)  # the store's late write
    with factory() as s:
        after = (s.scalar(select(func.count(m.Inquiry.id))), s.scalar(select(func.count(m.Task.id))),
                 s.scalar(select(m.Inquiry.missed_count)))
        assert s.scalar(select(m.Call.ended_at)).timestamp() == START + 30
    assert after == before and before[0] == 1
