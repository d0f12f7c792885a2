"""A missed call nobody calls back goes up to the head (issue 18): a missed-call task still
open ``inquiries.escalate_after_minutes`` after its deadline escalates to the head of its
department, once.

Fetch (:func:`overdue_candidates`: the open call-back tasks the inquiry rules made, with
their department's head), decide (:func:`escalation_due`, pure), apply
(:class:`Escalator.tick`: ``tasks.escalated_at`` is set, only where still empty, and
committed before anyone is told, so a second tick, a restart or a second daemon tells
nobody twice). The daemon then publishes the escalation to the head's screen-pop channel
(on the reactor) and, when SMTP is configured, e-mails the head (here, on the tick's
thread). An e-mail that fails is logged, not retried: the in-page notification stands.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from pbx_daemon.crm import models as m

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
    emailed: bool = False
    mail_error: str | None = None  # the e-mail failed (the daemon logs it; not retried)


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
    """One tick (blocking SQL, and SMTP when ``send_email`` is given; the daemon runs it on
    its store thread). ``clock()``: epoch seconds (the reactor's).
    ``send_email(message)`` sends an :class:`~email.message.EmailMessage`."""

    def __init__(self, sessions: Callable[[], Session], *, after_minutes: int, clock: Callable[[], float],
                 tz: str = "UTC", send_email: Callable[[EmailMessage], None] | None = None,
                 mail_from: str = ""):
        self.sessions = sessions
        self.after_minutes = after_minutes
        self.clock = clock
        self.tz = tz
        self.send_email = send_email
        self.mail_from = mail_from

    def tick(self) -> list[Escalation]:
        """Escalate what is due; the escalations made (already committed), each saying
        whether its e-mail went out."""
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
                made.append(Escalation(
                    task_id=task.id, head_id=to, head_email=head.email, title=task.title,
                    comment=task.comment, responsible=task.responsible.full_name, phone=inquiry.phone,
                    deadline=task.deadline,
                    overdue_minutes=int((now - task.deadline).total_seconds() // 60)))
            session.commit()  # written down before anyone is told
        for i, e in enumerate(made):
            if self.send_email is not None and e.head_email:
                try:
                    self.send_email(self.message(e))
                    made[i] = replace(e, emailed=True)
                except Exception as error:  # noqa: BLE001 - the notification stands; the daemon logs it
                    made[i] = replace(e, mail_error=f"{type(error).__name__}: {error}"[:300])
        return made

    def message(self, e: Escalation) -> EmailMessage:
        """The head's e-mail (Russian, as the daily report)."""
        deadline = e.deadline.astimezone(ZoneInfo(self.tz))
        message = EmailMessage()
        message["Subject"] = f"pbx-crm: не перезвонили клиенту {e.phone or ''}".rstrip()
        message["From"] = self.mail_from
        message["To"] = e.head_email
        message.set_content(
            f"Задача «{e.title}» просрочена на {e.overdue_minutes} мин.\n"
            f"Ответственный: {e.responsible}\n"
            f"Номер: {e.phone or '—'}\n"
            f"Срок: {deadline:%d.%m.%Y %H:%M}\n\n{e.comment}\n")
        return message

