"""Who may see what: one set of rules, as SQL, for lists, counts, cards, calls and
recordings (seed 001: a manager never sees another manager's client card, recordings
included). :mod:`admin.views` filters every list with :func:`scope`; single rows and
files are checked with :func:`can_see`.

=============  ================================================================
admin, owner   everything
head           their department: its employees' cards, calls and inquiries
manager        their own clients / leads / deals / inquiries / tasks / calls (taken
operator       part in, on a card they are responsible for, or of a contact of their
               company), and the department's inquiries nobody has taken yet
cold_operator  only the call lists assigned to them
=============  ================================================================
"""

from __future__ import annotations

from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m

SEE_ALL = frozenset({"admin", "owner"})
CARD_MODELS = {"company": m.Company, "contact": m.Contact, "lead": m.Lead, "deal": m.Deal,
               "inquiry": m.Inquiry}


CALL_CARD_COLUMNS = {m.Company: "company_id", m.Contact: "contact_id", m.Lead: "lead_id",
                     m.Deal: "deal_id", m.Inquiry: "inquiry_id"}


def card_calls(kind: str, card_id: int):
    """The WHERE clause for a card's calls: those linked to it, and for a company those of
    its contacts too (a contact's call may name only the contact)."""
    clause = getattr(m.Call, f"{kind}_id") == card_id
    if kind == "company":
        clause = or_(clause, m.Call.contact_id.in_(
            select(m.Contact.id).where(m.Contact.company_id == card_id)))
    return clause


def _department_members(user):
    return select(m.Employee.id).where(m.Employee.department_id == user.department_id)


def _responsible_scope(model, user):
    """Cards: responsible is me (manager), in my department (head), anything (admin, owner)."""
    if user.role in SEE_ALL:
        return None
    if user.role == "head" and user.department_id is not None:
        clauses = [model.responsible_id.in_(_department_members(user)),
                   model.responsible_id == user.id]
        if hasattr(model, "department_id"):
            clauses.append(model.department_id == user.department_id)
        return or_(*clauses)
    if user.role in ("manager", "operator", "head"):
        return model.responsible_id == user.id
    return false()


def scope(model, user):
    """The WHERE clause limiting ``model`` to ``user``; None means everything."""
    if user.role in SEE_ALL:
        return None
    if model is m.Inquiry:
        base = _responsible_scope(model, user)
        unassigned = model.responsible_id.is_(None) & (
            (model.department_id == user.department_id) | model.department_id.is_(None))
        return false() if user.role == "cold_operator" else or_(base, unassigned)
    if model in (m.Company, m.Contact, m.Lead, m.Deal):
        return _responsible_scope(model, user)
    if model is m.Task:
        if user.role == "cold_operator":
            return (model.responsible_id == user.id)
        own = or_(model.responsible_id == user.id, model.created_by_id == user.id)
        if user.role == "head" and user.department_id is not None:
            return or_(own, model.responsible_id.in_(_department_members(user)))
        return own
    if model is m.Call:
        if user.role == "cold_operator":
            return model.employee_id == user.id
        clauses = [model.employee_id == user.id, model.answered_by_id == user.id]
        for card, column in CALL_CARD_COLUMNS.items():
            card_scope = scope(card, user)
            if card_scope is not None:
                clauses.append(getattr(model, column).in_(select(card.id).where(card_scope)))
        # A company's card lists its contacts' calls: whoever may see the company hears them.
        companies = scope(m.Company, user)
        if companies is not None:
            clauses.append(model.contact_id.in_(select(m.Contact.id).where(
                m.Contact.company_id.in_(select(m.Company.id).where(companies)))))
        if user.role == "head" and user.department_id is not None:
            clauses.append(model.department_id == user.department_id)
        return or_(*clauses)
    if model in (m.CallLeg, m.Recording):
        return model.call_id.in_(select(m.Call.id).where(scope(m.Call, user)))
    if model in (m.EmployeeShift, m.EmployeeAbsence):
        # Schedules: a head's department (and their own), everyone else their own.
        if user.role == "head" and user.department_id is not None:
            return or_(model.employee_id.in_(_department_members(user)), model.employee_id == user.id)
        return model.employee_id == user.id
    if model is m.CallList:
        if user.role in ("head",):
            return None
        return model.id.in_(select(m.call_list_operators.c.call_list_id).where(
            m.call_list_operators.c.employee_id == user.id))
    if model is m.CallListEntry:
        if user.role == "head":
            return None
        return model.call_list_id.in_(select(m.call_list_operators.c.call_list_id).where(
            m.call_list_operators.c.employee_id == user.id))
    return None



def assignable(user):
    """The employees ``user`` may make responsible for a row (or add to a call list); None
    means anyone. Admins and owners: any active employee; heads: the active ones of their
    department (and themselves); everyone else: themselves. A deactivated employee is
    offered to nobody (a row already pointing at one may keep it)."""
    active = m.Employee.active.is_(True)
    if user.role in SEE_ALL:
        return active
    if user.role == "head" and user.department_id is not None:
        return or_(and_(m.Employee.department_id == user.department_id, active),
                   m.Employee.id == user.id)
    return m.Employee.id == user.id


def linkable(model, user):
    """The WHERE clause for the ``model`` rows ``user`` may link a form's row to (a
    company, a contact, a responsible employee...); None means any."""
    if model is m.Employee:
        return assignable(user)
    return scope(model, user)


def sees_mobile(user, employee) -> bool:
    """An employee's mobile is for admins and owners, and for heads of their department."""
    if user.role in SEE_ALL:
        return True
    if user.role == "head" and user.department_id is not None:
        return employee.department_id == user.department_id
    return employee.id == user.id


def can_see(session: Session, user: m.Employee | None, row) -> bool:
    """Is ``row`` (a card, a call, a task...) within ``user``'s scope?"""
    if user is None or not user.active:
        return False
    model = type(row)
    clause = scope(model, user)
    if clause is None:
        return True
    pk = model.__mapper__.primary_key[0]
    return session.scalar(select(pk).where(pk == getattr(row, pk.key), clause)) is not None


def can_see_call(session: Session, user: m.Employee | None, call: m.Call) -> bool:
    return can_see(session, user, call)


def can_see_card(session: Session, user: m.Employee | None, card) -> bool:
    return can_see(session, user, card)
