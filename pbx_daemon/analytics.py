"""The figures (seed 004 "leading indicators", seed 001 telephony statistics).

Every function takes a session and a period ``[start, end)`` of aware datetimes and
returns plain rows; the admin draws them, ``pbx-crm report daily`` prints them. Days are
the company's (``general.timezone``): :func:`day_bounds` turns a local date into UTC.

Definitions, in one place:

* **inbound** calls: direction inbound, not from a blocklisted number (outcome
  ``blocked``), not from our own staff (a caller that is an employee's mobile), not
  classified Spam or Own (the call's inquiry class or its disposition).
* **Lost Call Rate** = missed inbound / inbound, per day. **Recovered** = missed calls
  with ``recovered_at`` within N minutes of the call (a call-back the client answered, or
  the client getting through later).
* per employee: **in** = inbound calls they answered; **out** = click-to-calls they placed
  (answered = the client answered); **missed** = inbound calls that rang them and nobody
  answered; **minutes** = talk time on calls they answered or placed; **deals per call** =
  deals created in the period with them responsible / their answered calls.
* cold calling: calls placed from a call-list entry, per operator; leads / deals created
  from their entries in the period; conversion = (leads + deals) / entries worked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from pbx_daemon import models as m

EXCLUDED_CLASSES = ("spam", "own")


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def period_bounds(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    return day_bounds(first, tz)[0], day_bounds(last, tz)[1]


def _counted_inbound():
    """The WHERE clause of inbound calls that count (see the module's definitions)."""
    spam_or_own = select(m.InquiryClass.id).where(m.InquiryClass.code.in_(EXCLUDED_CLASSES))
    classified_out = exists().where(m.Inquiry.id == m.Call.inquiry_id, m.Inquiry.class_id.in_(spam_or_own))
    staff = exists().where(m.Employee.mobile == m.Call.caller)
    return and_(m.Call.direction == "inbound", m.Call.outcome != "blocked",
                m.Call.outcome != "in_progress", ~classified_out, ~staff,
                or_(m.Call.disposition.is_(None), m.Call.disposition.notin_(EXCLUDED_CLASSES)))


@dataclass(frozen=True)
class LostCallDay:
    day: date
    inbound: int
    missed: int
    recovered: int  # of the missed, within the window

    @property
    def rate(self) -> float:
        return self.missed / self.inbound if self.inbound else 0.0

    @property
    def recovered_share(self) -> float:
        return self.recovered / self.missed if self.missed else 0.0


def lost_call_rate(session: Session, first: date, last: date, tz: str, *,
                   recovered_within_minutes: int = 60, department_id: int | None = None) -> list[LostCallDay]:
    out = []
    day = first
    window = timedelta(minutes=recovered_within_minutes)
    while day <= last:
        start, end = day_bounds(day, tz)
        where = [_counted_inbound(), m.Call.started_at >= start, m.Call.started_at < end]
        if department_id is not None:
            where.append(m.Call.department_id == department_id)
        calls = session.execute(select(m.Call.outcome, m.Call.started_at, m.Call.recovered_at).where(*where)).all()
        missed = [c for c in calls if c.outcome == "missed"]
        recovered = sum(1 for c in missed if c.recovered_at is not None
                        and _aware(c.recovered_at) - _aware(c.started_at) <= window)
        out.append(LostCallDay(day, len(calls), len(missed), recovered))
        day += timedelta(days=1)
    return out


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class EmployeeFigures:
    employee_id: int
    name: str
    department: str | None
    calls_in: int
    calls_out: int
    answered: int  # in answered + out answered
    missed: int
    minutes: float
    avg_seconds: float
    deals: int

    @property
    def deals_per_call(self) -> float:
        return self.deals / self.answered if self.answered else 0.0


def per_employee(session: Session, start: datetime, end: datetime,
                 department_id: int | None = None) -> list[EmployeeFigures]:
    in_period = and_(m.Call.started_at >= start, m.Call.started_at < end)
    inbound = dict(session.execute(select(m.Call.answered_by_id, func.count()).where(
        in_period, m.Call.direction == "inbound", m.Call.outcome == "answered",
        m.Call.answered_by_id.isnot(None)).group_by(m.Call.answered_by_id)).all())
    outbound = {r[0]: (r[1], r[2] or 0) for r in session.execute(select(
        m.Call.employee_id, func.count(), func.sum(case((m.Call.outcome == "answered", 1), else_=0))).where(
        in_period, m.Call.direction == "outbound", m.Call.employee_id.isnot(None)).group_by(m.Call.employee_id))}
    talk = {r[0]: (r[1] or 0, r[2] or 0) for r in session.execute(select(
        m.Call.answered_by_id, func.sum(m.Call.talk_seconds), func.count()).where(
        in_period, m.Call.outcome == "answered", m.Call.answered_by_id.isnot(None))
        .group_by(m.Call.answered_by_id))}
    missed = dict(session.execute(select(m.CallLeg.employee_id, func.count(func.distinct(m.Call.id)))
                                  .join(m.Call, m.Call.id == m.CallLeg.call_id).where(
        in_period, m.Call.outcome == "missed", _counted_inbound(), m.CallLeg.employee_id.isnot(None))
        .group_by(m.CallLeg.employee_id)).all())
    deals = dict(session.execute(select(m.Deal.responsible_id, func.count()).where(
        m.Deal.created_at >= start, m.Deal.created_at < end).group_by(m.Deal.responsible_id)).all())
    query = select(m.Employee).order_by(m.Employee.full_name)
    if department_id is not None:
        query = query.where(m.Employee.department_id == department_id)
    out = []
    for e in session.scalars(query):
        seconds, answered_calls = talk.get(e.id, (0, 0))
        calls_out, out_answered = outbound.get(e.id, (0, 0))
        calls_in = inbound.get(e.id, 0)
        if not (calls_in or calls_out or missed.get(e.id) or deals.get(e.id)):
            continue
        out.append(EmployeeFigures(
            e.id, e.full_name, e.department.name if e.department else None, calls_in, calls_out,
            calls_in + out_answered, missed.get(e.id, 0), round(seconds / 60, 1),
            round(seconds / answered_calls, 1) if answered_calls else 0.0, deals.get(e.id, 0)))
    return out


@dataclass(frozen=True)
class DepartmentFigures:
    department_id: int | None
    name: str
    calls_in: int
    answered: int
    missed: int
    calls_out: int
    minutes: float

    @property
    def lost_rate(self) -> float:
        return self.missed / self.calls_in if self.calls_in else 0.0


def per_department(session: Session, start: datetime, end: datetime) -> list[DepartmentFigures]:
    in_period = and_(m.Call.started_at >= start, m.Call.started_at < end)
    rows = session.execute(select(
        m.Call.department_id,
        func.sum(case((_counted_inbound(), 1), else_=0)),
        func.sum(case((and_(_counted_inbound(), m.Call.outcome == "answered"), 1), else_=0)),
        func.sum(case((and_(_counted_inbound(), m.Call.outcome == "missed"), 1), else_=0)),
        func.sum(case((m.Call.direction == "outbound", 1), else_=0)),
        func.sum(func.coalesce(m.Call.talk_seconds, 0)),
    ).where(in_period).group_by(m.Call.department_id)).all()
    names = dict(session.execute(select(m.Department.id, m.Department.name)).all())
    return sorted((DepartmentFigures(r[0], names.get(r[0], "(none)"), r[1] or 0, r[2] or 0, r[3] or 0,
                                     r[4] or 0, round((r[5] or 0) / 60, 1)) for r in rows),
                  key=lambda d: d.name)


@dataclass(frozen=True)
class SourceFigures:
    source: str
    inquiries: int
    spam: int
    funnel: int

    @property
    def spam_share(self) -> float:
        return self.spam / self.inquiries if self.inquiries else 0.0

    @property
    def funnel_share(self) -> float:
        return self.funnel / self.inquiries if self.inquiries else 0.0


def per_source(session: Session, start: datetime, end: datetime) -> list[SourceFigures]:
    spam = select(m.InquiryClass.id).where(m.InquiryClass.code == "spam")
    funnel = select(m.InquiryClass.id).where(m.InquiryClass.code.in_(("lead", "client")))
    rows = session.execute(
        select(func.coalesce(m.Source.name, "(no source)"), func.count(m.Inquiry.id),
               func.sum(case((m.Inquiry.class_id.in_(spam), 1), else_=0)),
               func.sum(case((m.Inquiry.class_id.in_(funnel), 1), else_=0)))
        .select_from(m.Inquiry).outerjoin(m.Source, m.Source.id == m.Inquiry.source_id)
        .where(m.Inquiry.first_seen_at >= start, m.Inquiry.first_seen_at < end)
        .group_by(m.Source.name).order_by(func.count(m.Inquiry.id).desc())).all()
    return [SourceFigures(r[0], r[1], r[2] or 0, r[3] or 0) for r in rows]


@dataclass(frozen=True)
class OperatorFigures:
    employee_id: int
    name: str
    calls: int
    minutes: float
    avg_seconds: float
    entries_worked: int
    leads: int
    deals: int

    @property
    def conversion(self) -> float:
        return (self.leads + self.deals) / self.entries_worked if self.entries_worked else 0.0


def per_operator(session: Session, start: datetime, end: datetime) -> list[OperatorFigures]:
    in_period = and_(m.Call.started_at >= start, m.Call.started_at < end)
    calls = {r[0]: (r[1], r[2] or 0, r[3] or 0) for r in session.execute(select(
        m.Call.employee_id, func.count(), func.sum(m.Call.talk_seconds),
        func.sum(case((m.Call.outcome == "answered", 1), else_=0))).where(
        in_period, m.Call.call_list_entry_id.isnot(None)).group_by(m.Call.employee_id))}
    worked = {r[0]: (r[1], r[2] or 0, r[3] or 0) for r in session.execute(select(
        m.CallListEntry.assigned_operator_id, func.count(),
        func.sum(case((m.CallListEntry.lead_id.isnot(None), 1), else_=0)),
        func.sum(case((m.CallListEntry.deal_id.isnot(None), 1), else_=0))).where(
        m.CallListEntry.status == "done", m.CallListEntry.updated_at >= start,
        m.CallListEntry.updated_at < end).group_by(m.CallListEntry.assigned_operator_id))}
    out = []
    for e in session.scalars(select(m.Employee).where(m.Employee.id.in_(set(calls) | set(worked)))
                             .order_by(m.Employee.full_name)):
        n, seconds, answered = calls.get(e.id, (0, 0, 0))
        entries, leads, deals = worked.get(e.id, (0, 0, 0))
        out.append(OperatorFigures(e.id, e.full_name, n, round(seconds / 60, 1),
                                   round(seconds / answered, 1) if answered else 0.0, entries, leads, deals))
    return out
