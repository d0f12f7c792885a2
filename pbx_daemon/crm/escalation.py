"""A missed call nobody calls back goes up to the head (issue 18): a missed-call task still
open ``inquiries.escalate_after_minutes`` after its deadline escalates to the head of its
department, once.

Fetch (:func:`overdue_candidates`: the open call-back tasks the inquiry rules made, with
their department's head), decide (:func:`escalation_due`, pure), apply
(:class:`Escalator.tick`: ``tasks.escalated_at`` is set, only where still empty, and
committed before anyone is told, so a second tick, a restart or a second daemon tells
nobody twice). When SMTP is configured and the head has an e-mail address, the head's
e-mail is queued in the outbox (``mail_outbox``, :mod:`pbx_daemon.crm.outbox`) in that same
transaction: an escalation is never committed without its e-mail, nor its e-mail queued
twice. The daemon then publishes the escalation to the head's screen-pop channel (on the
reactor) and sends the outbox (on the tick's thread); an e-mail the SMTP server does not
take is retried (30 s, 2 min, 10 min, then every 30 min) for a day
(:mod:`pbx_daemon.crm.outbox.rules`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from pbx_daemon.crm import models as m
from pbx_daemon.crm.outbox.store import queue

CHECK_INTERVAL = 60  # seconds between the daemon's looks at overdue tasks
# Tasks overdue longer than this are left alone: switching escalation on (or a daemon back
# after a day away) does not send the head a pile of old call-backs at once.
HORIZON = timedelta(days=1)


@dataclass(frozen=True)
class OverdueTask:
    """What the decision needs to know about one missed-call task."""

    id: int
    status: str
    deadline: datetime
    escalated_at: datetime | None
    responsible_id: int
    head_id: int | None  # the head of the task's department, active; None: no such head


def escalation_due(task: OverdueTask, now: datetime, after_minutes: int) -> int | None:
    """The employee to escalate ``task`` to at ``now``, or None.

    * ``after_minutes`` 0: escalation is off;
    * only an open task, ``after_minutes`` or more past its deadline;
    * once: a task escalated before never is again;
    * not a task overdue by more than ``HORIZON`` (a day): old ones are not sent in a pile;
    * to the head of its department; none (no department, no head, the head deactivated):
      nothing, and it is looked at again later (a head appointed meanwhile gets it);
    * never to the responsible themselves: a head who has the task already knows.
    """
    if after_minutes <= 0 or task.status != "open" or task.escalated_at is not None:
        return None
    if now < task.deadline + timedelta(minutes=after_minutes) or now > task.deadline + HORIZON:
        return None
    if task.head_id is None or task.head_id == task.responsible_id:
        return None
    return task.head_id


@dataclass(frozen=True)
class Escalation:
    """An escalation made: whom to tell, and what about."""

    task_id: int
    head_id: int
    head_email: str | None
    title: str
    comment: str
    responsible: str
    phone: str | None
    deadline: datetime
    overdue_minutes: int
    mail_queued: bool = False  # the head's e-mail is in the outbox (committed with the escalation)


def overdue_candidates(session: Session, now: datetime, after_minutes: int, limit: int = 200):
    """(task, inquiry, head) rows of open call-back tasks made by the missed-call rules
    (a call task of an inquiry, made by nobody: the daemon) past ``after_minutes`` and
    not escalated, within ``HORIZON``, that have a head (active, not the responsible) to go to.
    The department: the inquiry's, else the responsible's."""
    responsible = aliased(m.Employee)
    head = aliased(m.Employee)
    department_id = func.coalesce(m.Inquiry.department_id, responsible.department_id)
    rows = session.execute(
        select(m.Task, m.Inquiry, head)
        .join(m.Inquiry, m.Inquiry.id == m.Task.inquiry_id)
        .join(responsible, responsible.id == m.Task.responsible_id)
        .join(m.Department, m.Department.id == department_id)
        .join(head, (head.id == m.Department.head_id) & head.active.is_(True))
        .where(m.Task.status == "open", m.Task.type == "call", m.Task.created_by_id.is_(None),
               m.Task.escalated_at.is_(None), head.id != m.Task.responsible_id,
               m.Task.deadline <= now - timedelta(minutes=after_minutes),
               m.Task.deadline >= now - HORIZON)
        .order_by(m.Task.deadline).limit(limit)).all()
    return rows


class Escalator:
    """One tick (blocking SQL; the daemon runs it on its store thread). ``clock()``: epoch
    seconds (the reactor's). ``mail``: queue the head's e-mail (SMTP is configured)."""

    def __init__(self, sessions: Callable[[], Session], *, after_minutes: int, clock: Callable[[], float],
                 tz: str = "UTC", mail: bool = False):
        self.sessions = sessions
        self.after_minutes = after_minutes
        self.clock = clock
        self.tz = tz
        self.mail = mail

    def tick(self) -> list[Escalation]:
        """Escalate what is due; the escalations made (already committed, each with its
        e-mail queued when there is one to send)."""
        if self.after_minutes <= 0:
            return []
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        made: list[Escalation] = []
        with self.sessions() as session:
            for task, inquiry, head in overdue_candidates(session, now, self.after_minutes):
                facts = OverdueTask(task.id, task.status, task.deadline, task.escalated_at,
                                    task.responsible_id, head.id)
                to = escalation_due(facts, now, self.after_minutes)
                if to is None:
                    continue
                # Only where still empty: a second daemon's tick claims nothing twice.
                claimed = session.execute(update(m.Task).where(
                    m.Task.id == task.id, m.Task.escalated_at.is_(None)).values(escalated_at=now)).rowcount
                if claimed != 1:
                    continue
                e = Escalation(
                    task_id=task.id, head_id=to, head_email=head.email, title=task.title,
                    comment=task.comment, responsible=task.responsible.full_name, phone=inquiry.phone,
                    deadline=task.deadline,
                    overdue_minutes=int((now - task.deadline).total_seconds() // 60),
                    mail_queued=bool(self.mail and head.email))
                if e.mail_queued:
                    subject, body = self.mail_text(e)
                    queue(session, kind="escalation", recipient=e.head_email, subject=subject,
                          body=body, now=now)
                made.append(e)
            session.commit()  # the escalations and their e-mails, before anyone is told
        return made

    def mail_text(self, e: Escalation) -> tuple[str, str]:
        """The head's e-mail, subject and body (Russian, as the daily report)."""
        deadline = e.deadline.astimezone(ZoneInfo(self.tz))
        subject = f"pbx-crm: не перезвонили клиенту {e.phone or ''}".rstrip()
        body = (f"Задача «{e.title}» просрочена на {e.overdue_minutes} мин.\n"
                f"Ответственный: {e.responsible}\n"
                f"Номер: {e.phone or '—'}\n"
                f"Срок: {deadline:%d.%m.%Y %H:%M}\n\n{e.comment}\n")
        return subject, body
