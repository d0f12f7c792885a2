"""Missed calls -> inquiries with a call-back task, answered calls from new numbers ->
inquiries to classify: the rules, then applied to SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from pbx_daemon.crm import models as m
from pbx_daemon.db import make_engine, make_session_factory, seed_reference_data
from pbx_daemon.crm.inquiries.rules import (
    AnsweredCall,
    CallbackTask,
    CreateInquiry,
    SUMMARY_LINES,
    Ignore,
    LateCallback,
    MergeInquiry,
    MissedCall,
    OpenInquiry,
    decide_answered,
    decide_late_callbacks,
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


def test_repeated_misses_merge_into_the_open_inquiry_without_a_second_task():
    decision = decide_missed(MissedCall("+79161234567", AT, head_id=3),
                             OpenInquiry(7, 1, responsible_id=3, has_open_task=True))
    assert decision == MergeInquiry(7, 2, AT)


@pytest.mark.parametrize("call,open_inquiry,task_for", [
    # The inquiry came from an answered call (Anna, 5, answered): she calls back.
    (MissedCall("+79161234567", AT, owner_id=5, head_id=3), OpenInquiry(7, 0, responsible_id=5), 5),
    # Its task was done by an answered call, then the number is missed again.
    (MissedCall("+79161234567", AT, head_id=3), OpenInquiry(7, 1, responsible_id=3), 3),
    # Nobody responsible for the inquiry: the missed-call order picks.
    (MissedCall("+79161234567", AT, duty_id=2, head_id=3), OpenInquiry(7, 0), 2),
])
def test_a_miss_on_an_inquiry_without_an_open_task_gets_its_call_back_task(call, open_inquiry, task_for):
    decision = decide_missed(call, open_inquiry, 15)
    assert isinstance(decision, MergeInquiry)
    assert decision.missed_count == open_inquiry.missed_count + 1
    assert decision.task == CallbackTask(task_for, AT + timedelta(minutes=15),
                                         "Перезвонить +79161234567",
                                         "Пропущенный звонок от +79161234567 в 2026-11-22 10:30.")


NEW = "+79165550001"


@pytest.mark.parametrize("call,open_inquiry,expected", [
    (AnsweredCall(NEW, AT, answered_by_id=5, head_id=3), None, "create"),
    (AnsweredCall(NEW, AT, answered_by_id=5), OpenInquiry(7, 2, responsible_id=3), "merge"),
    (AnsweredCall(NEW, AT, answered_by_id=5, known_card=True), None, Ignore("known card")),
    # A known client with an open inquiry (they missed us before): the call joins it.
    (AnsweredCall(NEW, AT, answered_by_id=5, known_card=True), OpenInquiry(7, 1), "merge"),
    (AnsweredCall(NEW, AT, answered_by_id=5, blocked=True), None, Ignore("blocklisted caller")),
    (AnsweredCall(NEW, AT, answered_by_id=5, is_staff=True), None, Ignore("own staff")),
    (AnsweredCall(None, AT, answered_by_id=5), None, Ignore("withheld number")),
    (AnsweredCall(NEW, AT, direction="outbound", answered_by_id=5), None,
     Ignore("not an inbound call")),
    (AnsweredCall(NEW, AT, direction="internal", answered_by_id=5), None,
     Ignore("not an inbound call")),
    # Applied before, and the inquiry was classified (closed) since: not a second one.
    (AnsweredCall(NEW, AT, answered_by_id=5, linked_inquiry_id=7), None, Ignore("already applied")),
    (AnsweredCall(NEW, AT, answered_by_id=5, linked_inquiry_id=7), OpenInquiry(8, 0),
     Ignore("already applied")),
    # Applied before and still open: the same merge again, which changes nothing.
    (AnsweredCall(NEW, AT, answered_by_id=5, linked_inquiry_id=7),
     OpenInquiry(7, 0, responsible_id=5, last_seen_at=AT), "merge"),
])
def test_an_answered_new_number_leaves_one_inquiry(call, open_inquiry, expected):
    decision = decide_answered(call, open_inquiry)
    if expected == "create":
        assert isinstance(decision, CreateInquiry)
        assert (decision.phone, decision.responsible_id, decision.missed_count,
                decision.task_deadline) == (NEW, 5, 0, None)
    elif expected == "merge":
        assert isinstance(decision, MergeInquiry)
        assert (decision.inquiry_id, decision.missed_count, decision.task) == (
            open_inquiry.id, open_inquiry.missed_count, None)
    else:
        assert decision == expected


@pytest.mark.parametrize("call,responsible", [
    (AnsweredCall(NEW, AT, answered_by_id=5, duty_id=2, head_id=3, top_id=9), 5),
    (AnsweredCall(NEW, AT, duty_id=2, head_id=3, top_id=9), 2),  # the fallback group's phone
    (AnsweredCall(NEW, AT, head_id=3, top_id=9), 3),
    (AnsweredCall(NEW, AT, top_id=9), 9),
])
def test_the_answering_employee_is_responsible_else_duty_else_head_else_top(call, responsible):
    assert decide_answered(call, None).responsible_id == responsible


def test_an_answered_merge_moves_last_seen_forward_never_back_and_fills_a_missing_responsible():
    later = AT + timedelta(hours=1)
    assert decide_answered(AnsweredCall(NEW, AT, answered_by_id=5),
                           OpenInquiry(7, 1, last_seen_at=later)) == MergeInquiry(7, 1, later, None, 5)
    assert decide_answered(AnsweredCall(NEW, later, answered_by_id=5),
                           OpenInquiry(7, 1, responsible_id=3, last_seen_at=AT)
                           ) == MergeInquiry(7, 1, later, None, None)


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


def _answered(session, linkedid, caller, at, by=None, direction="inbound"):
    call = m.Call(linkedid=linkedid, direction=direction, started_at=at, outcome="answered",
                  answered_at=at, answered_by_id=by, department_id=session.scalar(select(m.Department.id)),
                  **({"callee": caller} if direction == "outbound" else {"caller": caller}))
    session.add(call)
    session.flush()
    apply_answered(session, call, at)
    session.flush()
    return call


def _employee(session, login):
    return session.scalar(select(m.Employee).where(m.Employee.login == login))


def test_an_answered_unknown_caller_leaves_an_unclear_inquiry_for_who_answered_no_task(session):
    anna = _employee(session, "anna")
    call = _answered(session, "c9", "+79160000000", AT, by=anna.id)
    inquiry = session.scalar(select(m.Inquiry))
    assert call.inquiry_id == inquiry.id
    assert (inquiry.phone, inquiry.channel, inquiry.status, inquiry.inquiry_class.code,
            inquiry.responsible_id, inquiry.missed_count) == (
        "+79160000000", "call", "open", "unclear", anna.id, 0)
    assert session.scalars(select(m.Task)).all() == []


def test_repeat_calls_from_the_new_number_merge_and_a_later_miss_gets_a_call_back_task(session):
    anna = _employee(session, "anna")
    first = _answered(session, "c1", "+79160000000", AT, by=anna.id)
    second = _answered(session, "c2", "+79160000000", AT + timedelta(hours=1),
                       by=_employee(session, "vera").id)
    inquiry = session.scalar(select(m.Inquiry))
    assert session.scalars(select(m.Inquiry)).all() == [inquiry]
    assert first.inquiry_id == second.inquiry_id == inquiry.id
    assert inquiry.responsible_id == anna.id and inquiry.missed_count == 0
    assert inquiry.last_seen_at == AT + timedelta(hours=1)

    # Missed next: it merges, and the lost call gets its call-back task (for Anna, the
    # inquiry's responsible), once.
    missed = _missed(session, "c3", "+79160000000", AT + timedelta(hours=2), owner_id=anna.id)
    _missed(session, "c4", "+79160000000", AT + timedelta(hours=3), owner_id=anna.id)
    assert missed.inquiry_id == inquiry.id and inquiry.missed_count == 2
    tasks = session.scalars(select(m.Task)).all()
    assert [(t.responsible_id, t.status, t.inquiry_id) for t in tasks] == [(anna.id, "open", inquiry.id)]

    # They get through again: the task is done, the misses recovered, still one inquiry.
    _answered(session, "c5", "+79160000000", AT + timedelta(hours=4), by=anna.id)
    assert tasks[0].status == "done" and missed.recovered_at is not None
    assert session.scalar(select(func.count(m.Inquiry.id))) == 1


def test_applying_the_same_answered_call_twice_changes_nothing_the_second_time(session):
    anna = _employee(session, "anna")
    call = _answered(session, "c1", "+79160000000", AT, by=anna.id)
    inquiry = session.scalar(select(m.Inquiry))
    apply_answered(session, call, AT)  # a replay (the store, then reconciliation)
    session.flush()
    assert session.scalars(select(m.Inquiry)).all() == [inquiry] and call.inquiry_id == inquiry.id
    # Classified Spam meanwhile (closed): a replay does not open a second inquiry.
    inquiry.status = "closed"
    session.flush()
    apply_answered(session, call, AT)
    session.flush()
    assert session.scalar(select(func.count(m.Inquiry.id))) == 1


@pytest.mark.parametrize("setup", ["company", "lead", "blocked", "staff"])
def test_known_blocked_and_staff_numbers_leave_no_inquiry(session, setup):
    number = "+79160000000"
    if setup == "company":
        session.add(m.Company(name="Romashka", phones=[m.CompanyPhone(phone=number)]))
    elif setup == "lead":
        session.add(m.Lead(title="x", phone=number, status="new"))
    elif setup == "blocked":
        session.add(m.BlockedNumber(phone=number, reason="spam", created_at=AT))
    else:
        _employee(session, "vera").mobile = number
    session.flush()
    call = _answered(session, "c1", number, AT, by=_employee(session, "anna").id)
    assert call.inquiry_id is None and session.scalars(select(m.Inquiry)).all() == []


def test_an_answered_outbound_call_to_an_unknown_number_creates_nothing(session):
    call = _answered(session, "c1", "+79160000000", AT, by=_employee(session, "anna").id,
                     direction="outbound")
    assert call.inquiry_id is None and session.scalars(select(m.Inquiry)).all() == []


def test_the_new_numbers_inquiry_takes_the_tracking_numbers_source(session):
    source = m.Source(name="Yandex.Direct")
    session.add(source)
    session.flush()
    session.add(m.TrackingNumber(number="+74950000001", source_id=source.id, active=True))
    call = m.Call(linkedid="c1", direction="inbound", caller="+79160000000",
                  dialled_number="+74950000001", started_at=AT, outcome="answered",
                  answered_by_id=_employee(session, "anna").id)
    session.add(call)
    session.flush()
    apply_answered(session, call, AT)
    assert session.scalar(select(m.Inquiry)).source_id == source.id


# ---- call-backs already overdue when the call is stored (reconciled late) ----------------
def test_a_missed_call_stored_before_its_deadline_gets_its_task_as_usual():
    decision = decide_missed(MissedCall("+79161234567", AT, head_id=3), None, 15,
                             now=AT + timedelta(minutes=14))
    assert decision.task_deadline == AT + timedelta(minutes=15) and decision.late is None


def test_a_missed_call_stored_after_its_deadline_gets_no_task_but_is_late():
    decision = decide_missed(MissedCall("+79161234567", AT, head_id=3, caller_name="Иван"),
                             None, 15, now=AT + timedelta(hours=3))
    assert isinstance(decision, CreateInquiry) and decision.task_deadline is None
    assert decision.late == LateCallback(3, "+79161234567", AT, "Иван")


def test_a_late_miss_on_an_inquiry_without_a_task_is_late_for_the_inquirys_responsible():
    decision = decide_missed(MissedCall("+79161234567", AT, head_id=3),
                             OpenInquiry(7, 1, responsible_id=5), 15, now=AT + timedelta(days=2))
    assert decision == MergeInquiry(7, 2, AT, None, late=LateCallback(5, "+79161234567", AT))


def test_a_late_miss_with_nobody_to_call_back_is_not_late_either():
    decision = decide_missed(MissedCall(None, AT, head_id=3), None, 15, now=AT + timedelta(days=2))
    assert (decision.task_deadline, decision.late) == (None, None)


def test_late_call_backs_make_one_summary_task_per_person_oldest_first():
    now = AT + timedelta(days=1)
    late = [LateCallback(3, "+79160000002", AT + timedelta(minutes=5)),
            LateCallback(5, "+79160000009", AT),
            LateCallback(3, "+79160000001", AT, "ООО Ромашка")]
    tasks = decide_late_callbacks(late, "summary", now, 15)
    assert [(t.responsible_id, t.deadline, t.title) for t in tasks] == [
        (3, now + timedelta(minutes=15), "Перезвонить: 2 пропущенных звонка, сохранены после срока перезвона"),
        (5, now + timedelta(minutes=15), "Перезвонить: 1 пропущенный звонок, сохранены после срока перезвона")]
    assert tasks[0].comment.splitlines()[1:] == ["2026-11-22 10:30  +79160000001  ООО Ромашка",
                                                 "2026-11-22 10:35  +79160000002"]


def test_late_call_backs_make_no_task_with_none_and_a_long_list_is_cut():
    late = [LateCallback(3, f"+7916000{i:04d}", AT + timedelta(seconds=i)) for i in range(120)]
    assert decide_late_callbacks(late, "none", AT) == ()
    (task,) = decide_late_callbacks(late, "summary", AT)
    lines = task.comment.splitlines()[1:]
    assert len(lines) == SUMMARY_LINES + 1 and lines[-1].startswith("… и ещё 70")
