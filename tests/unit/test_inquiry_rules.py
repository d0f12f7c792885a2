"""Missed calls -> inquiries with a call-back task: the rules, then applied to SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from pbx_daemon.crm import models as m
from pbx_daemon.db import make_engine, make_session_factory, seed_reference_data
from pbx_daemon.crm.inquiries.rules import (
    CreateInquiry,
    Ignore,
    MergeInquiry,
    MissedCall,
    OpenInquiry,
    decide_missed,
)
from pbx_daemon.crm.inquiries.apply import apply_answered, apply_missed, missed_call_facts

AT = datetime(2026, 11, 22, 10, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("call,expected_responsible", [
    (MissedCall("+79161234567", AT, owner_id=1, duty_id=2, head_id=3, top_id=9), 1),
    (MissedCall("+79161234567", AT, duty_id=2, head_id=3, top_id=9), 2),
    (MissedCall("+79161234567", AT, head_id=3, top_id=9), 3),
    (MissedCall("+79161234567", AT, top_id=9), 9),
])
def test_the_task_goes_to_the_owner_else_duty_else_head_else_top(call, expected_responsible):
    decision = decide_missed(call, None, 15)
    assert isinstance(decision, CreateInquiry)
    assert decision.responsible_id == expected_responsible
    assert decision.task_deadline == AT + timedelta(minutes=15)


def test_repeated_misses_merge_into_the_open_inquiry():
    decision = decide_missed(MissedCall("+79161234567", AT), OpenInquiry(7, 1))
    assert decision == MergeInquiry(7, 2, AT)


@pytest.mark.parametrize("call,reason", [
    (MissedCall("+79161234567", AT, blocked=True), "blocklisted caller"),
    (MissedCall("+79161234567", AT, is_staff=True), "own staff"),
])
def test_blocked_callers_and_staff_never_create_inquiries(call, reason):
    assert decide_missed(call, None) == Ignore(reason)


def test_withheld_number_is_an_inquiry_without_a_task():
    decision = decide_missed(MissedCall(None, AT, head_id=3), None)
    assert isinstance(decision, CreateInquiry) and decision.task_deadline is None


@pytest.fixture
def session():
    engine = make_engine("sqlite://")
    m.Base.metadata.create_all(engine)
    with make_session_factory(engine)() as s:
        seed_reference_data(s)
        sales = m.Department(name="Sales")
        s.add(sales)
        s.flush()
        anna = m.Employee(full_name="Anna", login="anna", department_id=sales.id)
        vera = m.Employee(full_name="Vera", login="vera", role="head", department_id=sales.id)
        s.add_all([anna, vera])
        s.flush()
        sales.head_id = vera.id
        s.flush()
        yield s
    engine.dispose()


def _missed(session, linkedid, caller, at, owner_id=None):
    call = m.Call(linkedid=linkedid, direction="inbound", caller=caller, started_at=at,
                  outcome="missed", department_id=session.scalar(select(m.Department.id)))
    session.add(call)
    session.flush()
    facts = missed_call_facts(session, call, blocked=False, is_staff=False, owner_id=owner_id,
                              source_id=None, tracking_number_id=None, at=at)
    apply_missed(session, call, facts, 15)
    session.flush()
    return call


def test_missed_twice_then_answered_one_inquiry_counter_two_task_done(session):
    vera = session.scalar(select(m.Employee).where(m.Employee.login == "vera"))
    first = _missed(session, "c1", "+79161234567", AT)
    second = _missed(session, "c2", "+79161234567", AT + timedelta(minutes=3))
    inquiries = session.scalars(select(m.Inquiry)).all()
    assert len(inquiries) == 1 and inquiries[0].missed_count == 2
    assert inquiries[0].inquiry_class.code == "unclear"
    assert first.inquiry_id == second.inquiry_id == inquiries[0].id
    tasks = session.scalars(select(m.Task)).all()
    assert [(t.type, t.responsible_id, t.status) for t in tasks] == [("call", vera.id, "open")]
    assert tasks[0].deadline.replace(tzinfo=timezone.utc) == AT + timedelta(minutes=15)

    answered = m.Call(linkedid="c3", direction="inbound", caller="+79161234567",
                      started_at=AT + timedelta(hours=1), outcome="answered")
    session.add(answered)
    session.flush()
    apply_answered(session, answered, AT + timedelta(hours=1))
    session.flush()
    assert tasks[0].status == "done"
    assert first.recovered_at is not None and second.recovered_at is not None
    assert answered.inquiry_id == inquiries[0].id


def test_an_answered_call_without_an_inquiry_changes_nothing(session):
    call = m.Call(linkedid="c9", direction="inbound", caller="+79160000000", started_at=AT)
    session.add(call)
    session.flush()
    apply_answered(session, call, AT)
    assert call.inquiry_id is None and session.scalars(select(m.Task)).all() == []
