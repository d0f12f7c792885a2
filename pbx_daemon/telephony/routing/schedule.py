"""Fetch working hours for one call (SQL): whose hours apply to the dialled number, and
the calendar around the call's date. Then :mod:`.hours` decides (pure).

Whose hours: the tracking number's own when it has any, else its department's, else (a
number we do not track) the default department's. Nobody's hours: always open, so a
company that never entered hours routes as before.

Blocking: runs in the lookup's thread, under its deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.hours import (WEEKDAYS, Calendar, Hours, Range, build_calendar,
                                                is_open, next_opening, parse_ranges)


@dataclass(frozen=True)
class AfterHours:
    """The dialled number's department is closed: who takes the call back and when."""

    department_id: int | None
    opens_at: datetime | None  # the next opening; None: no hours ahead at all
    greeting_file: str | None = None  # under <data_dir>/greetings; None: the stock prompt


def _ranges(text: str) -> tuple[Range, ...]:
    try:
        return parse_ranges(text or "")
    except ValueError:
        return ()  # the admin form validates; a bad row is a closed day, never a crash


def load_hours(session: Session, *, department_id: int | None = None,
               tracking_number_id: int | None = None, tz: str) -> Hours | None:
    """The weekly hours of a department or a tracking number; None when it has no rows."""
    owner = (m.WorkingHours.tracking_number_id == tracking_number_id
             if tracking_number_id is not None else m.WorkingHours.department_id == department_id)
    rows = session.scalars(select(m.WorkingHours).where(owner)).all()
    if not rows:
        return None
    weekly: list[tuple[Range, ...]] = [()] * WEEKDAYS
    for row in rows:
        if 0 <= row.weekday < WEEKDAYS:
            weekly[row.weekday] = _ranges(row.ranges)
    return Hours(tuple(weekly), tz)


def load_calendar(session: Session, department_id: int | None, around: date) -> Calendar:
    """The production calendar for the years around ``around`` plus the admins' days
    (company-wide and the department's) from a week back to a year ahead."""
    rows = session.scalars(select(m.CalendarDay).where(
        m.CalendarDay.day >= around - timedelta(days=7),
        m.CalendarDay.day <= around + timedelta(days=400),
        or_(m.CalendarDay.department_id.is_(None), m.CalendarDay.department_id == department_id)))
    closed, working = set(), {}
    for row in rows:
        if row.kind == "working":
            working[row.day] = _ranges(row.ranges)
        else:
            closed.add(row.day)
    return build_calendar((around.year - 1, around.year, around.year + 1), closed, working)


def after_hours(session: Session, tracking_number_id: int | None, department_id: int | None,
                now: datetime, tz: str) -> AfterHours | None:
    """None when the number's department is open at ``now`` (or has no hours)."""
    if tracking_number_id is None and department_id is None:
        default = session.get(m.Setting, "default_department_id")
        department_id = int(default.value) if default and default.value.isdigit() else None
    hours = None
    if tracking_number_id is not None:
        hours = load_hours(session, tracking_number_id=tracking_number_id, tz=tz)
    if hours is None and department_id is not None:
        hours = load_hours(session, department_id=department_id, tz=tz)
    if hours is None:
        return None
    calendar = load_calendar(session, department_id, now.astimezone(ZoneInfo(tz)).date())
    if is_open(hours, calendar, now):
        return None
    department = session.get(m.Department, department_id) if department_id is not None else None
    return AfterHours(department_id, next_opening(hours, calendar, now),
                      department.greeting_file if department else None)
