"""Apply the inquiry rules (:mod:`pbx_daemon.crm.inquiries.rules`) to the database:
fetch the facts, decide (pure), apply.

Runs inside the store's (or reconciliation's) transaction for the call, so a call and its
inquiry land together; the open-inquiry lookup is the indexed (phone, status) query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.inquiries.rules import (
    AnsweredCall,
    CreateInquiry,
    LateCallback,
    MergeInquiry,
    MissedCall,
    OpenInquiry,
    SummaryTask,
    decide_answered,
    decide_missed,
)
from pbx_daemon.crm.lookups import find_by_phone

# The cards that make a number known: an open inquiry is not one (it is what gets merged).
KNOWN_CARDS = ("company", "contact", "lead")


def open_inquiry_for(session: Session, phone: str | None) -> m.Inquiry | None:
    if not phone:
        return None
    return session.scalar(select(m.Inquiry).where(
        m.Inquiry.phone == phone, m.Inquiry.channel == "call",
        m.Inquiry.status.in_(("open", "in_progress"))).order_by(m.Inquiry.id).limit(1))


def _open_facts(session: Session, inquiry: m.Inquiry | None) -> OpenInquiry | None:
    if inquiry is None:
        return None
    has_task = session.scalar(select(m.Task.id).where(
        m.Task.inquiry_id == inquiry.id, m.Task.type == "call", m.Task.status == "open")
        .limit(1)) is not None
    return OpenInquiry(inquiry.id, inquiry.missed_count, responsible_id=inquiry.responsible_id,
                       has_open_task=has_task, last_seen_at=inquiry.last_seen_at)


def _escalation(session: Session, department_id: int | None) -> tuple[int | None, ...]:
    """(duty, head, top): who takes a call nobody else is responsible for."""
    department = session.get(m.Department, department_id) if department_id else None
    top = session.get(m.Setting, m.SETTING_ESCALATION_TOP)
    return (department.duty_employee_id if department else None,
            department.head_id if department else None,
            int(top.value) if top and top.value.isdigit() else None)


def _inactive(session: Session, ids) -> frozenset[int]:
    """Which of ``ids`` are deactivated employees (the rules skip them)."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return frozenset()
    return frozenset(session.scalars(select(m.Employee.id).where(
        m.Employee.id.in_(ids), m.Employee.active.is_(False))))


def missed_call_facts(session: Session, call: m.Call, *, blocked: bool, is_staff: bool,
                      owner_id: int | None, source_id: int | None,
                      tracking_number_id: int | None, at: datetime,
                      callback_from: datetime | None = None) -> MissedCall:
    duty, head, top = _escalation(session, call.department_id)
    existing = open_inquiry_for(session, call.caller)
    return MissedCall(
        caller=call.caller, at=at, blocked=blocked, is_staff=is_staff, owner_id=owner_id,
        department_id=call.department_id, duty_id=duty, head_id=head, top_id=top,
        source_id=source_id, tracking_number_id=tracking_number_id, caller_name=call.caller_name,
        callback_from=callback_from, inactive_ids=_inactive(session, (owner_id, duty, head, top,
                                         existing.responsible_id if existing else None)))


def apply_missed(session: Session, call: m.Call, facts: MissedCall, deadline_minutes: int,
                 now: datetime | None = None, tz: str | None = None) -> LateCallback | None:
    """The call's inquiry and call-back task; with ``now`` (reconciliation) a call whose
    call-back is already overdue gets no task and its :class:`LateCallback` is returned,
    for :func:`apply_summary_tasks`. ``tz``: the company's, for the task's comment."""
    existing = open_inquiry_for(session, facts.caller)
    decision = decide_missed(facts, _open_facts(session, existing), deadline_minutes, now, tz)
    _apply(session, call, existing, decision)
    return getattr(decision, "late", None)


def apply_summary_tasks(session: Session, tasks: Iterable[SummaryTask],
                        task_ids: dict[int, int]) -> None:
    """Create each summary task, or rewrite the one made earlier in the same run
    (``task_ids``: responsible id -> task id, updated here), so that a run committed in
    batches still leaves one task per person."""
    for summary in tasks:
        task = session.get(m.Task, task_ids[summary.responsible_id]) \
            if summary.responsible_id in task_ids else None
        if task is None:
            task = m.Task(type="call", responsible_id=summary.responsible_id)
            session.add(task)
        task.title, task.comment = summary.title[:300], summary.comment
        task.deadline = task.remind_at = summary.deadline
        session.flush()
        task_ids[summary.responsible_id] = task.id


def _apply(session: Session, call: m.Call, existing: m.Inquiry | None, decision) -> None:
    if isinstance(decision, MergeInquiry):
        existing.missed_count = decision.missed_count
        existing.last_seen_at = decision.last_seen_at
        if decision.responsible_id is not None and existing.responsible_id is None:
            existing.responsible_id = decision.responsible_id
        call.inquiry_id = existing.id
        if decision.task is not None:
            task = decision.task
            session.add(m.Task(title=task.title, type="call", responsible_id=task.responsible_id,
                               deadline=task.deadline, comment=task.comment,
                               inquiry_id=existing.id, remind_at=task.deadline))
    elif isinstance(decision, CreateInquiry):
        unclear = session.scalar(select(m.InquiryClass.id).where(m.InquiryClass.code == "unclear"))
        inquiry = m.Inquiry(
            channel="call", phone=decision.phone, name=decision.name, status="open",
            class_id=unclear, responsible_id=decision.responsible_id,
            department_id=decision.department_id, source_id=decision.source_id,
            tracking_number_id=decision.tracking_number_id, missed_count=decision.missed_count,
            first_seen_at=decision.first_seen_at, last_seen_at=decision.first_seen_at)
        session.add(inquiry)
        session.flush()
        call.inquiry_id = inquiry.id
        if decision.task_deadline is not None:
            session.add(m.Task(title=decision.task_title, type="call",
                               responsible_id=decision.responsible_id,
                               deadline=decision.task_deadline, comment=decision.task_comment,
                               inquiry_id=inquiry.id, remind_at=decision.task_deadline))


def answered_call_facts(session: Session, call: m.Call, at: datetime) -> AnsweredCall:
    """What :func:`~pbx_daemon.crm.inquiries.rules.decide_answered` needs, read from the
    database alone (the call row, the blocklist, the staff, the cards), so the daemon's
    store and reconciliation from CEL fetch the same facts."""
    phone = call.callee if call.direction == "outbound" else call.caller
    blocked = known = staff = False
    if phone:
        blocked = session.scalar(select(m.BlockedNumber.id).where(
            m.BlockedNumber.phone == phone,
            or_(m.BlockedNumber.expires_at.is_(None), m.BlockedNumber.expires_at > at))
            .limit(1)) is not None
        staff = session.scalar(select(m.Employee.id).where(m.Employee.mobile == phone)
                               .limit(1)) is not None
        known = any(match.kind in KNOWN_CARDS for match in find_by_phone(session, phone))
    tracking = session.scalar(select(m.TrackingNumber).where(
        m.TrackingNumber.number == call.dialled_number, m.TrackingNumber.active.is_(True))
        .limit(1)) if call.dialled_number else None
    department_id = call.department_id or (tracking.department_id if tracking else None)
    duty, head, top = _escalation(session, department_id)
    return AnsweredCall(
        inactive_ids=_inactive(session, (duty, head, top)),
        caller=phone, at=at, direction=call.direction, answered_by_id=call.answered_by_id,
        blocked=blocked, is_staff=staff, known_card=known, linked_inquiry_id=call.inquiry_id,
        department_id=department_id, duty_id=duty, head_id=head, top_id=top,
        source_id=tracking.source_id if tracking else None,
        tracking_number_id=tracking.id if tracking else None, caller_name=call.caller_name)


def apply_answered(session: Session, call: m.Call, at: datetime) -> None:
    """An answered call: a new number's inbound call leaves an inquiry to classify, or
    merges into the number's open one (:func:`~pbx_daemon.crm.inquiries.rules.decide_answered`;
    applying the same call twice changes nothing the second time). Then, for a number
    with missed calls (a caller who got through, or a call-back the client answered): the
    number's call-back tasks are done and its missed calls recovered, whether or not its
    inquiry was classified meanwhile (a Lead still needs calling back)."""
    phone = call.callee if call.direction == "outbound" else call.caller
    if not phone:
        return
    inquiry = open_inquiry_for(session, phone)
    decision = decide_answered(answered_call_facts(session, call, at),
                               _open_facts(session, inquiry))
    _apply(session, call, inquiry, decision)
    if inquiry is not None and call.inquiry_id is None:
        call.inquiry_id = inquiry.id  # e.g. a call-back: it belongs to the inquiry
    of_number = select(m.Inquiry.id).where(m.Inquiry.phone == phone, m.Inquiry.channel == "call")
    for task in session.scalars(select(m.Task).where(
            m.Task.inquiry_id.in_(of_number), m.Task.type == "call", m.Task.status == "open")):
        task.status = "done"
        task.done_at = at
    for missed in session.scalars(select(m.Call).where(
            m.Call.caller == phone, m.Call.outcome.in_(("missed",) + m.AFTER_HOURS_OUTCOMES),
            m.Call.recovered_at.is_(None),
            m.Call.id != call.id)):
        missed.recovered_at = at
