"""The funnel's rules: converting a lead, tasks and the automatic tasks of deal stages.

* A lead converts in one action into a company (when it names one), a contact and a deal
  (seed 002); the lead keeps its links (``company_id``, ``contact_id``, the deal's
  ``lead_id``) and its calls follow it onto the new cards.
* A task needs a responsible, a deadline, a type (call / meeting / e-mail) and a comment
  (seed 004); :func:`new_task` refuses anything less with the reason.
* Moving a deal to a stage creates the tasks its rules say (e.g. "КП отправлено" -> call
  "confirm receipt" in 2 days, seed 004).
* A call to a number no card has becomes a lead in one click (seed 002: the number as its
  title, the employee who clicked responsible); :func:`lead_from_call`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.lookups import cards_by_phone
from pbx_daemon.crm.texts import text

REMIND_BEFORE = timedelta(minutes=15)  # seed 002: a reminder 15 minutes before a planned call


class FunnelError(ValueError):
    """``str()`` is one line for the person who clicked."""


@dataclass(frozen=True)
class Converted:
    lead_id: int
    company_id: int | None
    contact_id: int
    deal_id: int


def new_contact(session: Session, *, name: str, phone: str | None, ext: str | None,
                email: str | None, responsible_id: int | None,
                company_id: int | None = None) -> m.Contact:
    """A contact card with its number and e-mail (lead conversion, an inquiry classed Client)."""
    contact = m.Contact(full_name=name, responsible_id=responsible_id, company_id=company_id)
    if phone:
        contact.phones = [m.ContactPhone(phone=phone, phone_ext=ext)]
    if email:
        contact.emails = [m.ContactEmail(email=email)]
    session.add(contact)
    session.flush()
    return contact


def convert_lead(session: Session, lead: m.Lead, *, by: m.Employee, now: datetime,
                 deal_title: str | None = None) -> Converted:
    if lead.status == "converted":
        raise FunnelError(text("lead_converted", id=lead.id))
    if lead.status == "lost":
        raise FunnelError(text("lead_lost", id=lead.id))
    responsible = lead.responsible_id or by.id
    company = None
    if lead.company_id is not None:
        company = session.get(m.Company, lead.company_id)
    elif lead.company_name:
        company = m.Company(name=lead.company_name, responsible_id=responsible,
                            department_id=lead.department_id)
        if lead.phone:
            company.phones = [m.CompanyPhone(phone=lead.phone, phone_ext=lead.phone_ext)]
        session.add(company)
        session.flush()
    contact = session.get(m.Contact, lead.contact_id) if lead.contact_id else None
    if contact is None:
        contact = new_contact(session, name=lead.full_name or lead.title, phone=lead.phone,
                              ext=lead.phone_ext, email=lead.email, responsible_id=responsible,
                              company_id=company.id if company else None)
    stage = session.scalar(select(m.DealStage).where(m.DealStage.is_won.is_(False),
                                                     m.DealStage.is_lost.is_(False))
                           .order_by(m.DealStage.position).limit(1))
    if stage is None:
        raise FunnelError(text("no_open_stage"))
    deal = m.Deal(title=(deal_title or lead.title)[:300], company_id=company.id if company else None,
                  contact_id=contact.id, lead_id=lead.id, stage_id=stage.id,
                  responsible_id=responsible, department_id=lead.department_id)
    session.add(deal)
    session.flush()
    lead.status = "converted"
    lead.company_id = company.id if company else None
    lead.contact_id = contact.id
    for call in session.scalars(select(m.Call).where(m.Call.lead_id == lead.id)):
        call.contact_id = call.contact_id or contact.id
        call.company_id = call.company_id or (company.id if company else None)
        call.deal_id = call.deal_id or deal.id
    for task in session.scalars(select(m.Task).where(m.Task.lead_id == lead.id,
                                                     m.Task.status == "open")):
        task.deal_id = deal.id
    session.flush()
    return Converted(lead.id, company.id if company else None, contact.id, deal.id)


CALL_CARD_LINKS = ("company_id", "contact_id", "lead_id", "deal_id", "inquiry_id")


@dataclass(frozen=True)
class CallCard:
    kind: str  # lead | contact | company | inquiry
    id: int
    created: bool  # False: the number was on that card already, the call is linked to it


def client_number(call: m.Call) -> str | None:
    """The client's side of a call: whom an outbound call dialled, who called in."""
    if call.direction == "internal":
        return None
    return call.callee if call.direction == "outbound" else call.caller


def on_no_card(call: m.Call) -> bool:
    """A client call linked to no card: the call row offers "new lead"."""
    return (client_number(call) is not None and call.call_list_entry_id is None
            and all(getattr(call, link) is None for link in CALL_CARD_LINKS))


def lead_from_call(session: Session, call: m.Call, *, by: m.Employee) -> CallCard:
    """"New lead" on a call to (or from) a number no card has: a lead titled with the
    number, ``by`` responsible, in ``by``'s department; the call and the number's other
    calls that are on no card move onto it. A number that meanwhile is on a card (a
    colleague, another tab) gets no second one: the call is linked to that card instead
    (the match order of :func:`pbx_daemon.crm.lookups.cards_by_phone`). Call-list calls go
    to the funnel from the cold-calling workspace, not from here."""
    number = client_number(call)
    if number is None:
        raise FunnelError(text("no_client_number"))
    if call.call_list_entry_id is not None:
        raise FunnelError(text("call_list_call"))
    if not on_no_card(call):
        raise FunnelError(text("call_on_card", id=call.id))
    matches = cards_by_phone(session, number)
    if matches:
        best = matches[0]
        setattr(call, f"{best.kind}_id", best.id)
        if best.kind == "contact" and best.company_id is not None:
            call.company_id = best.company_id
        session.flush()
        return CallCard(best.kind, best.id, created=False)
    lead = m.Lead(title=number, phone=number, status="new", responsible_id=by.id,
                  department_id=by.department_id,
                  notes=f"From the {call.direction} call of {call.started_at:%Y-%m-%d %H:%M} UTC.")
    session.add(lead)
    session.flush()
    for other in session.scalars(select(m.Call).where(
            or_(m.Call.caller == number, m.Call.callee == number),
            m.Call.direction != "internal", m.Call.call_list_entry_id.is_(None),
            *(getattr(m.Call, link).is_(None) for link in CALL_CARD_LINKS))):
        if client_number(other) == number:
            other.lead_id = lead.id
    call.lead_id = lead.id
    session.flush()
    return CallCard("lead", lead.id, created=True)


def new_task(session: Session, *, title: str, type: str, responsible_id, deadline,
             comment: str, created_by: m.Employee | None, now: datetime, **links) -> m.Task:
    """A task with every required field checked; ``links``: company_id, deal_id, ..."""
    problems = []
    title = (title or "").strip()
    comment = (comment or "").strip()
    if not title:
        problems.append(text("task_field_title"))
    if type not in m.TASK_TYPES:
        problems.append(text("task_field_type"))
    if not comment:
        problems.append(text("task_field_comment"))
    if not isinstance(deadline, datetime):
        problems.append(text("task_field_deadline"))
    responsible = session.get(m.Employee, responsible_id) if isinstance(responsible_id, int) else None
    if responsible is None or not responsible.active:
        problems.append(text("task_field_responsible"))
    if problems:
        raise FunnelError(text("task_needs", fields=", ".join(problems)))
    if deadline.tzinfo is None:
        raise FunnelError(text("deadline_zone"))
    deadline = deadline.astimezone(timezone.utc)  # the column stores UTC; the object holds it too
    allowed = {"company_id", "contact_id", "lead_id", "deal_id", "inquiry_id", "call_list_entry_id"}
    if set(links) - allowed:
        raise FunnelError(text("unknown_links", links=", ".join(sorted(set(links) - allowed))))
    task = m.Task(title=title[:300], type=type, responsible_id=responsible.id, deadline=deadline,
                  comment=comment, created_by_id=created_by.id if created_by else None,
                  remind_at=deadline - REMIND_BEFORE if type == "call" else None, **links)
    session.add(task)
    session.flush()  # its task.created event too (pbx_daemon.crm.webhooks.install_emitter)
    return task


def move_deal(session: Session, deal: m.Deal, stage: m.DealStage, *, by: m.Employee,
              now: datetime) -> list[m.Task]:
    """Move ``deal`` to ``stage`` and create the stage's automatic tasks."""
    if deal.stage_id == stage.id:
        return []
    deal.stage_id = stage.id
    return entered_stage(session, deal, stage, by=by, now=now)


def entered_stage(session: Session, deal: m.Deal, stage: m.DealStage, *, by: m.Employee,
                  now: datetime) -> list[m.Task]:
    """``deal`` has just been put into ``stage`` (here or by a form): close it if the
    stage is final, and create the stage's automatic tasks."""
    if stage.is_won or stage.is_lost:
        deal.closed_at = now
    tasks = []
    rules = session.scalars(select(m.DealStageTaskRule).where(
        m.DealStageTaskRule.stage_id == stage.id, m.DealStageTaskRule.active.is_(True))).all()
    for rule in rules:
        tasks.append(new_task(
            session, title=rule.title, type=rule.type,
            responsible_id=deal.responsible_id or by.id,
            deadline=now + timedelta(minutes=rule.offset_minutes), comment=rule.comment,
            created_by=by, now=now, deal_id=deal.id, company_id=deal.company_id,
            contact_id=deal.contact_id))
    session.flush()
    return tasks


def my_tasks(session: Session, employee_id: int, now: datetime, limit: int = 200) -> list[m.Task]:
    """Open tasks, overdue first (oldest deadline first), then the rest by deadline."""
    tasks = session.scalars(select(m.Task).where(
        m.Task.responsible_id == employee_id, m.Task.status == "open")
        .order_by(m.Task.deadline).limit(limit)).all()
    return tasks  # deadline order already puts the overdue ones first
