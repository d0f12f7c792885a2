"""Apply the missed-call rules (:mod:`pbx_daemon.crm.inquiries.rules`) to the database.

Runs inside the store's transaction for the call, so a call and its inquiry land
together; the open-inquiry lookup is the indexed (phone, status) query.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.inquiries.rules import CreateInquiry, MergeInquiry, MissedCall, OpenInquiry, decide_missed


def open_inquiry_for(session: Session, phone: str | None) -> m.Inquiry | None:
    if not phone:
        return None
    return session.scalar(select(m.Inquiry).where(
        m.Inquiry.phone == phone, m.Inquiry.channel == "call",
        m.Inquiry.status.in_(("open", "in_progress"))).order_by(m.Inquiry.id).limit(1))


def missed_call_facts(session: Session, call: m.Call, *, blocked: bool, is_staff: bool,
                      owner_id: int | None, source_id: int | None,
                      tracking_number_id: int | None, at: datetime) -> MissedCall:
    department = session.get(m.Department, call.department_id) if call.department_id else None
    top = session.get(m.Setting, m.SETTING_ESCALATION_TOP)
    return MissedCall(
        caller=call.caller, at=at, blocked=blocked, is_staff=is_staff, owner_id=owner_id,
        department_id=call.department_id,
        duty_id=department.duty_employee_id if department else None,
        head_id=department.head_id if department else None,
        top_id=int(top.value) if top and top.value.isdigit() else None,
        source_id=source_id, tracking_number_id=tracking_number_id, caller_name=call.caller_name)


def apply_missed(session: Session, call: m.Call, facts: MissedCall, deadline_minutes: int) -> None:
    existing = open_inquiry_for(session, facts.caller)
    decision = decide_missed(facts, OpenInquiry(existing.id, existing.missed_count)
                             if existing else None, deadline_minutes)
    if isinstance(decision, MergeInquiry):
        existing.missed_count = decision.missed_count
        existing.last_seen_at = decision.last_seen_at
        call.inquiry_id = existing.id
    elif isinstance(decision, CreateInquiry):
        unclear = session.scalar(select(m.InquiryClass.id).where(m.InquiryClass.code == "unclear"))
        inquiry = m.Inquiry(
            channel="call", phone=decision.phone, name=decision.name, status="open",
            class_id=unclear, responsible_id=decision.responsible_id,
            department_id=decision.department_id, source_id=decision.source_id,
            tracking_number_id=decision.tracking_number_id, missed_count=1,
            first_seen_at=decision.first_seen_at, last_seen_at=decision.first_seen_at)
        session.add(inquiry)
        session.flush()
        call.inquiry_id = inquiry.id
        if decision.task_deadline is not None:
            session.add(m.Task(title=decision.task_title, type="call",
                               responsible_id=decision.responsible_id,
                               deadline=decision.task_deadline, comment=decision.task_comment,
                               inquiry_id=inquiry.id, remind_at=decision.task_deadline))


def apply_answered(session: Session, call: m.Call, at: datetime) -> None:
    """An answered call with a number that has missed calls (a caller who got through, or
    a call-back the client answered): the number's call-back tasks are done and its
    missed calls recovered, whether or not its inquiry was classified meanwhile (a Lead
    still needs calling back)."""
    phone = call.callee if call.direction == "outbound" else call.caller
    if not phone:
        return
    inquiry = open_inquiry_for(session, phone)
    if inquiry is not None and call.inquiry_id is None:
        call.inquiry_id = inquiry.id
    of_number = select(m.Inquiry.id).where(m.Inquiry.phone == phone, m.Inquiry.channel == "call")
    for task in session.scalars(select(m.Task).where(
            m.Task.inquiry_id.in_(of_number), m.Task.type == "call", m.Task.status == "open")):
        task.status = "done"
        task.done_at = at
    for missed in session.scalars(select(m.Call).where(
            m.Call.caller == phone, m.Call.outcome == "missed", m.Call.recovered_at.is_(None),
            m.Call.id != call.id)):
        missed.recovered_at = at
