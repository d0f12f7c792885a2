"""The daily report sends itself: at ``report.send_at`` (company time) the daemon e-mails
yesterday's report to ``report.mail_to``, once per day (seed 004: the owner reads the Lost
Call Rate every morning without asking anyone to run a command).

Fetch (the last row of ``report_sends``), decide (:func:`report_due`, pure), apply
(:class:`ReportSender.tick`: claim the day's row, send, mark). The row is claimed (inserted,
unique per day) and committed before the e-mail leaves, so a restart, or a second daemon,
the same day finds it and sends nothing. A failed send is marked ``failed`` and tried again
at the next tick, up to ``MAX_ATTEMPTS``. A row left ``sending`` (the daemon died while
talking to the SMTP server) is taken as failed after ``STALE_CLAIM``: the owner may then
get that day's report twice, never not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m

MAX_ATTEMPTS = 5
STALE_CLAIM = timedelta(minutes=10)


@dataclass(frozen=True)
class LastSend:
    """What ``report_sends`` says about one day."""

    day: date
    status: str  # sending | sent | failed
    attempts: int
    claimed_at: datetime


def report_due(now: datetime, tz: str, send_at: time, last: LastSend | None) -> date | None:
    """The day whose report is due at ``now`` (aware), or None.

    * before ``send_at`` today (company time): nothing;
    * from ``send_at`` on: yesterday's report, unless it was sent, is being sent (a claim
      younger than ``STALE_CLAIM``), or failed ``MAX_ATTEMPTS`` times;
    * only yesterday's: a daemon that was down for days does not send old reports.
    """
    local = now.astimezone(ZoneInfo(tz))
    if local.time() < send_at:
        return None
    day = local.date() - timedelta(days=1)
    if last is None or last.day != day:
        return day
    if last.status == "sent" or last.attempts >= MAX_ATTEMPTS:
        return None
    if last.status == "sending" and now - last.claimed_at < STALE_CLAIM:
        return None
    return day


def parse_send_at(text: str) -> time | None:
    """``"09:00"`` -> 09:00; ``""`` -> None (the daemon does not send by itself)."""
    if not text:
        return None
    hours, _, minutes = text.partition(":")
    return time(int(hours), int(minutes))


class ReportSender:
    """One tick (blocking: SQL and SMTP; the daemon runs it on its mail thread).

    ``send(session, day)`` builds and e-mails the report for ``day``; ``clock()`` is the
    time as epoch seconds (the reactor's)."""

    def __init__(self, sessions: Callable[[], Session], *, tz: str, send_at: time,
                 recipients: str, send: Callable[[Session, date], None],
                 clock: Callable[[], float]):
        self.sessions = sessions
        self.tz = tz
        self.send_at = send_at
        self.recipients = recipients
        self.send = send
        self.clock = clock

    def tick(self) -> date | None:
        """Send the report if it is due; the day sent, or None."""
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        with self.sessions() as session:
            row = session.scalar(select(m.ReportSend).order_by(m.ReportSend.day.desc()).limit(1))
            last = LastSend(row.day, row.status, row.attempts, row.claimed_at) if row else None
            day = report_due(now, self.tz, self.send_at, last)
            if day is None:
                return None
            if row is None or row.day != day:
                row = m.ReportSend(day=day, status="sending", recipients=self.recipients[:500],
                                   attempts=0, claimed_at=now)
                session.add(row)
            row.status, row.claimed_at, row.attempts = "sending", now, row.attempts + 1
            try:
                session.commit()  # the claim: another tick (or daemon) now sees the day
            except IntegrityError:
                session.rollback()
                return None
            try:
                self.send(session, day)
            except Exception as e:  # noqa: BLE001 - any failure is written down and retried
                row.status, row.error = "failed", f"{type(e).__name__}: {e}"[:300]
                session.commit()
                raise
            row.status, row.sent_at, row.error = "sent", datetime.fromtimestamp(self.clock(), timezone.utc), None
            session.commit()
            return day
