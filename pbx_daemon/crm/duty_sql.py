"""Who is on duty, read from the database: the employees' shifts, absences and "off now"
for :func:`~pbx_daemon.crm.duty.on_duty`. Blocking (SQL): routing's lookup and the admin
pages call it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.duty import Absence, Shift, on_duty


def duty_by_employee(session: Session, at: datetime) -> dict[int, bool]:
    """Who is on duty at ``at`` (aware, in company time): schedule, absences and "off now"
    (:func:`~pbx_daemon.crm.duty.on_duty`); three queries for everyone."""
    shifts: dict[int, list[Shift]] = {}
    for s in session.scalars(select(m.EmployeeShift)):
        shifts.setdefault(s.employee_id, []).append(Shift(s.weekday, s.starts, s.ends))
    absences: dict[int, list[Absence]] = {}
    today = at.date()
    for a in session.scalars(select(m.EmployeeAbsence).where(
            m.EmployeeAbsence.first_day <= today, m.EmployeeAbsence.last_day >= today)):
        absences.setdefault(a.employee_id, []).append(Absence(a.first_day, a.last_day, a.kind))
    return {e_id: on_duty(shifts.get(e_id, ()), absences.get(e_id, ()), off_until, at)
            for e_id, off_until in session.execute(select(m.Employee.id, m.Employee.off_until))}
