"""Reminders of planned calls (seed 002: "за 15 минут до звонка система напомнит"): which of
an employee's call tasks the admin's pages pop up as browser notifications now.

Fetch (:func:`planned_calls`: the employee's own open call tasks near their time), decide
(:func:`due_reminders`, pure, with the time given), shown by the page (admin.notify).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.funnel import REMIND_BEFORE

# A call more than this late no longer pops up (the task lists show it): logging in the
# morning does not bring yesterday's forgotten calls up as a pile of notifications.
STALE_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class PlannedCall:
    id: int
    type: str
    status: str
    title: str
    comment: str
    deadline: datetime
    remind_at: datetime | None


@dataclass(frozen=True)
class Reminder:
    task_id: int
    title: str
    comment: str
    deadline: datetime
    key: str  # the same reminder has the same key (the page shows each key once)


def remind_from(task: PlannedCall) -> datetime:
    """The task's ``remind_at`` (the funnel sets the deadline minus 15 minutes; a missed
    call's call-back task its deadline), else the deadline minus 15 minutes."""
    return task.remind_at if task.remind_at is not None else task.deadline - REMIND_BEFORE


def due_reminders(tasks: Iterable[PlannedCall], now: datetime) -> list[Reminder]:
    """The reminders due at ``now``, earliest call first.

    * only open call tasks (meetings, e-mails, done and cancelled tasks: never);
    * from :func:`remind_from` on, not a second before;
    * until the call is ``STALE_AFTER`` late;
    * the key is the task and its reminder time: a task moved to a later time reminds again.
    """
    due = []
    for t in tasks:
        start = remind_from(t)
        if t.type != "call" or t.status != "open" or now < start or now > t.deadline + STALE_AFTER:
            continue
        due.append(Reminder(t.id, t.title, t.comment, t.deadline, f"{t.id}@{int(start.timestamp())}"))
    return sorted(due, key=lambda r: (r.deadline, r.task_id))


def planned_calls(session: Session, employee_id: int, now: datetime, limit: int = 20) -> list[PlannedCall]:
    """The employee's own open call tasks whose reminder may be due at ``now``."""
    rows = session.scalars(select(m.Task).where(
        m.Task.responsible_id == employee_id, m.Task.status == "open", m.Task.type == "call",
        m.Task.deadline >= now - STALE_AFTER,
        or_(m.Task.remind_at <= now, m.Task.deadline <= now + REMIND_BEFORE))
        .order_by(m.Task.deadline).limit(limit)).all()
    return [PlannedCall(t.id, t.type, t.status, t.title, t.comment, t.deadline, t.remind_at) for t in rows]
