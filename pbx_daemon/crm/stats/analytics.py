"""The figures (seed 004 "leading indicators", seed 001 telephony statistics).

Every function takes a session, a period of company days ``[first, last]`` and the
company's time zone (``general.timezone``), and returns plain rows; the admin draws them,
``pbx-crm report daily`` prints them. Call figures are sums over the daily rollup
(:mod:`pbx_daemon.crm.stats.rollup`), which each function first brings up to date for the
period; deals, inquiries and call-list entries are few enough to count directly.

Definitions, in one place:

* **inbound** calls: direction inbound, not from a blocklisted number (outcome
  ``blocked``), not from our own staff (a caller that is an employee's mobile), not
  classified Spam or Own (the call's inquiry class or its disposition).
* **after hours** / **voicemails**: inbound calls outside working hours (the caller heard
  the greeting) / those of them that left a message. Nobody could answer them: they are
  not inbound calls of the Lost Call Rate, but columns of their own beside it.
* **Lost Call Rate** = missed inbound / inbound, per day. **Recovered** = missed calls
  with ``recovered_at`` within N minutes of the call (a call-back the client answered, or
  the client getting through later).
* per department: the same, summed over the department's calls; its deals are those
  whose responsible belongs to it.
* per employee: **in** = inbound calls they answered or took over by a transfer; **out** =
  calls they placed (answered = the client answered); **missed** = inbound calls that rang
  them and nobody answered; **minutes** = talk time on calls they answered or placed, a
  transferred call's time split at the hand-over (each employee their part); **deals per call** =
  deals created in the period with them responsible / their answered calls.
* cold calling: calls placed from a call-list entry, per operator; leads / deals created
  from their entries in the period; conversion = (leads + deals) / entries worked.
* **totals** (:func:`totals`): a table's rows summed into one row of the same kind, so its
  rates are the period's (missed of all inbound), not an average of the rows' rates, and
  its average durations are weighted by the answered calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, true
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.stats.rollup import EXCLUDED_CLASSES, day_bounds, ensure_fresh  # noqa: F401 - re-exported

S = m.CallStat


def period_bounds(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    return day_bounds(first, tz)[0], day_bounds(last, tz)[1]


def _stats(session: Session, first: date, last: date, tz: str, *columns):
    """``SELECT columns FROM call_stats`` for the period, after bringing it up to date."""
    ensure_fresh(session, first, last, tz)
    return select(*columns).where(S.day >= first, S.day <= last)


def _sum_if(condition, value=S.calls):
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


@dataclass(frozen=True)
class LostCallDay:
    day: date
    inbound: int
    missed: int
    recovered: int  # of the missed, within the window
    after_hours: int = 0  # outside working hours, voicemails included; not in the rate
    voicemail: int = 0  # of those, the ones that left a message

    @property
    def rate(self) -> float:
        return self.missed / self.inbound if self.inbound else 0.0

    @property
    def recovered_share(self) -> float:
        return self.recovered / self.missed if self.missed else 0.0


def lost_call_rate(session: Session, first: date, last: date, tz: str, *,
                   recovered_within_minutes: int = 60, department_id: int | None = None) -> list[LostCallDay]:
    counted = S.counted.is_(True)
    missed = and_(counted, S.outcome == "missed")
    query = _stats(session, first, last, tz, S.day, _sum_if(counted), _sum_if(missed),
                   _sum_if(and_(missed, S.recovered_minutes <= recovered_within_minutes)),
                   _sum_if(S.outcome.in_(m.AFTER_HOURS_OUTCOMES)), _sum_if(S.outcome == "voicemail"),
                   ).where(S.kind == "inbound").group_by(S.day)
    if department_id is not None:
        query = query.where(S.department_id == department_id)
    found = {row[0]: row[1:] for row in session.execute(query)}
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return [LostCallDay(day, *(int(x) for x in found.get(day, (0, 0, 0, 0, 0)))) for day in days]


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


def per_employee(session: Session, first: date, last: date, tz: str,
                 department_id: int | None = None) -> list[EmployeeFigures]:
    answered = S.outcome == "answered"
    talked = and_(answered, S.kind != "rang_missed")
    figures = {r[0]: r[1:] for r in session.execute(_stats(
        session, first, last, tz, S.employee_id,
        # A call handed over by a transfer is one its taker answered too.
        _sum_if(and_(S.kind.in_(("inbound", "transfer")), answered)),
        _sum_if(S.kind == "outbound"),
        _sum_if(and_(S.kind == "outbound", answered)),
        _sum_if(S.kind == "rang_missed"),
        _sum_if(talked, S.talk_seconds),
        _sum_if(talked),
    ).where(S.employee_id.isnot(None)).group_by(S.employee_id))}
    start, end = period_bounds(first, last, tz)
    deals = dict(session.execute(select(m.Deal.responsible_id, func.count()).where(
        m.Deal.created_at >= start, m.Deal.created_at < end).group_by(m.Deal.responsible_id)).all())
    query = select(m.Employee).where(m.Employee.id.in_(set(figures) | set(deals))).order_by(m.Employee.full_name)
    if department_id is not None:
        query = query.where(m.Employee.department_id == department_id)
    out = []
    for e in session.scalars(query):
        calls_in, calls_out, out_answered, missed, seconds, answered_calls = (
            int(x) for x in figures.get(e.id, (0,) * 6))
        if not (calls_in or calls_out or missed or deals.get(e.id)):
            continue
        out.append(EmployeeFigures(
            e.id, e.full_name, e.department.name if e.department else None, calls_in, calls_out,
            calls_in + out_answered, missed, round(seconds / 60, 1),
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
    avg_seconds: float  # talk time per answered call, in or out
    deals: int  # created in the period, responsible in the department
    talked: int = 0  # answered calls, in or out
    after_hours: int = 0  # inbound outside working hours (not in calls_in)
    voicemail: int = 0

    @property
    def lost_rate(self) -> float:
        return self.missed / self.calls_in if self.calls_in else 0.0

    @property
    def deals_per_call(self) -> float:
        return self.deals / self.talked if self.talked else 0.0


def per_department(session: Session, first: date, last: date, tz: str) -> list[DepartmentFigures]:
    counted = and_(S.kind == "inbound", S.counted.is_(True))
    # A transferred call is one call of its department (its parts' minutes all count).
    talked = and_(S.kind.in_(("inbound", "outbound")), S.outcome == "answered")
    rows = session.execute(_stats(
        session, first, last, tz, S.department_id,
        _sum_if(counted),
        _sum_if(and_(counted, S.outcome == "answered")),
        _sum_if(and_(counted, S.outcome == "missed")),
        _sum_if(S.kind == "outbound"),
        _sum_if(S.kind != "rang_missed", S.talk_seconds),
        _sum_if(talked),
        _sum_if(and_(S.kind == "inbound", S.outcome.in_(m.AFTER_HOURS_OUTCOMES))),
        _sum_if(and_(S.kind == "inbound", S.outcome == "voicemail")),
    ).group_by(S.department_id)).all()
    start, end = period_bounds(first, last, tz)
    deals = dict(session.execute(
        select(m.Employee.department_id, func.count(m.Deal.id))
        .join(m.Employee, m.Employee.id == m.Deal.responsible_id)
        .where(m.Deal.created_at >= start, m.Deal.created_at < end)
        .group_by(m.Employee.department_id)).all())
    names = dict(session.execute(select(m.Department.id, m.Department.name)).all())
    out = []
    for dept, calls_in, answered, missed, calls_out, seconds, talked_calls, after, voicemail in rows:
        seconds, talked_calls = int(seconds), int(talked_calls)
        out.append(DepartmentFigures(
            dept, names.get(dept, "(none)"), int(calls_in), int(answered), int(missed), int(calls_out),
            round(seconds / 60, 1), round(seconds / talked_calls, 1) if talked_calls else 0.0,
            deals.get(dept, 0), talked_calls, int(after), int(voicemail)))
    return sorted(out, key=lambda d: d.name)


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


def of_department(department_id: int):
    """The inquiries of a department: routed to it, or with one of its people responsible."""
    return or_(m.Inquiry.department_id == department_id, m.Inquiry.responsible_id.in_(
        select(m.Employee.id).where(m.Employee.department_id == department_id)))


def per_source(session: Session, first: date, last: date, tz: str,
               department_id: int | None = None) -> list[SourceFigures]:
    """``department_id``: that department's inquiries only (:func:`of_department`)."""
    start, end = period_bounds(first, last, tz)
    spam = select(m.InquiryClass.id).where(m.InquiryClass.code == "spam")
    funnel = select(m.InquiryClass.id).where(m.InquiryClass.code.in_(("lead", "client")))
    rows = session.execute(
        select(func.coalesce(m.Source.name, "(no source)"), func.count(m.Inquiry.id),
               func.sum(case((m.Inquiry.class_id.in_(spam), 1), else_=0)),
               func.sum(case((m.Inquiry.class_id.in_(funnel), 1), else_=0)))
        .select_from(m.Inquiry).outerjoin(m.Source, m.Source.id == m.Inquiry.source_id)
        .where(m.Inquiry.first_seen_at >= start, m.Inquiry.first_seen_at < end,
               of_department(department_id) if department_id is not None else true())
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
    answered: int = 0  # calls the client answered (the average's divisor)

    @property
    def conversion(self) -> float:
        return (self.leads + self.deals) / self.entries_worked if self.entries_worked else 0.0


def per_operator(session: Session, first: date, last: date, tz: str,
                 department_id: int | None = None) -> list[OperatorFigures]:
    """``department_id``: the operators of that department only."""
    answered = S.outcome == "answered"
    calls = {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in session.execute(_stats(
        session, first, last, tz, S.employee_id, func.sum(S.calls), _sum_if(answered, S.talk_seconds),
        _sum_if(answered)).where(S.cold.is_(True), S.kind != "rang_missed").group_by(S.employee_id))}
    start, end = period_bounds(first, last, tz)
    worked = {r[0]: (r[1], r[2] or 0, r[3] or 0) for r in session.execute(select(
        m.CallListEntry.assigned_operator_id, func.count(),
        func.sum(case((m.CallListEntry.lead_id.isnot(None), 1), else_=0)),
        func.sum(case((m.CallListEntry.deal_id.isnot(None), 1), else_=0))).where(
        m.CallListEntry.status == "done", m.CallListEntry.updated_at >= start,
        m.CallListEntry.updated_at < end).group_by(m.CallListEntry.assigned_operator_id))}
    query = select(m.Employee).where(m.Employee.id.in_(set(calls) | set(worked)))
    if department_id is not None:
        query = query.where(m.Employee.department_id == department_id)
    out = []
    for e in session.scalars(query.order_by(m.Employee.full_name)):
        n, seconds, answered_calls = calls.get(e.id, (0, 0, 0))
        entries, leads, deals = worked.get(e.id, (0, 0, 0))
        out.append(OperatorFigures(e.id, e.full_name, n, round(seconds / 60, 1),
                                   round(seconds / answered_calls, 1) if answered_calls else 0.0,
                                   entries, leads, deals, answered_calls))
    return out


def _weighted(rows, value: str, weight: str) -> float:
    total = sum(getattr(r, weight) for r in rows)
    return round(sum(getattr(r, value) * getattr(r, weight) for r in rows) / total, 1) if total else 0.0


def _sum(rows, name: str):
    values = [getattr(r, name) for r in rows]
    return round(sum(values), 1) if any(isinstance(v, float) for v in values) else sum(values)


def totals(rows: list):
    """The totals row of a table of :func:`lost_call_rate`, :func:`per_department`,
    :func:`per_employee`, :func:`per_source` or :func:`per_operator` (None for no rows):
    the same kind of row, named ``""`` (the page writes "Total")."""
    if not rows:
        return None
    kind = type(rows[0])
    if kind is LostCallDay:
        return LostCallDay(None, *(_sum(rows, f) for f in (
            "inbound", "missed", "recovered", "after_hours", "voicemail")))
    if kind is DepartmentFigures:
        return DepartmentFigures(None, "", *(_sum(rows, f) for f in (
            "calls_in", "answered", "missed", "calls_out", "minutes")),
            _weighted(rows, "avg_seconds", "talked"), _sum(rows, "deals"), _sum(rows, "talked"),
            _sum(rows, "after_hours"), _sum(rows, "voicemail"))
    if kind is EmployeeFigures:
        return EmployeeFigures(0, "", None, *(_sum(rows, f) for f in (
            "calls_in", "calls_out", "answered", "missed", "minutes")),
            _weighted(rows, "avg_seconds", "answered"), _sum(rows, "deals"))
    if kind is SourceFigures:
        return SourceFigures("", *(_sum(rows, f) for f in ("inquiries", "spam", "funnel")))
    if kind is OperatorFigures:
        return OperatorFigures(0, "", _sum(rows, "calls"), _sum(rows, "minutes"),
                               _weighted(rows, "avg_seconds", "answered"),
                               *(_sum(rows, f) for f in ("entries_worked", "leads", "deals", "answered")))
    raise TypeError(f"no totals for {kind.__name__}")
