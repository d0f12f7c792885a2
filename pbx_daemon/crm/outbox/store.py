"""The outbox's SQL and its apply step: queue an e-mail in the caller's transaction; send
the rows that are due, one claim at a time, and record what each attempt gave.

Two daemons (or a tick that overlaps a restart) never send a row twice: a row is claimed
by ``UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = <lease> WHERE id = ?
AND attempts = <as read> AND next_attempt_at <= now``, committed before the e-mail leaves.
The second claimant's UPDATE matches no row (on PostgreSQL it waits for the first's commit,
then re-reads the row and finds ``attempts`` moved on; SQLite has one writer at a time).
The lease (:data:`LEASE`, 10 min) is far longer than an SMTP send takes (30 s timeouts),
so a live sender is not overtaken, and a daemon that dies mid-send leaves the row to be
tried again when it ends: at least once, so an e-mail the server took just before the
crash goes again (its Message-ID is the row's: mail clients show it once). The outcome is
recorded only where ``attempts`` is still the claim's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Callable

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.outbox.rules import (GIVE_UP, Attempted, Outcome, after_attempt, retry_delay,
                                         smtp_error)

M = m.MailOutbox
INTERVAL = 15  # seconds between the daemon's looks at the outbox (the first retry is at 30 s)
LEASE = timedelta(minutes=10)  # smtp_send's timeout is 30 s per step
BATCH = 20  # rows looked at per tick


def queue(session: Session, *, kind: str, recipient: str, subject: str, body: str,
          now: datetime) -> m.MailOutbox:
    """Add an e-mail to ``session``, due at once (not committed: the caller's transaction is)."""
    row = M(kind=kind, recipient=recipient, subject=subject, body=body, created_at=now,
            attempts=0, next_attempt_at=now)
    session.add(row)
    return row


def due(session: Session, now: datetime, limit: int = BATCH,
        made_due_after: datetime | None = None) -> list[tuple[int, int]]:
    """``(id, attempts)`` of the rows due at ``now``, the longest waiting first; with
    ``made_due_after``, only those whose time came after it (queued, or "Send again",
    since)."""
    query = select(M.id, M.attempts).where(M.next_attempt_at <= now)
    if made_due_after is not None:
        query = query.where(M.next_attempt_at > made_due_after)
    return [tuple(r) for r in session.execute(
        query.order_by(M.next_attempt_at, M.id).limit(limit)).all()]


def claim(session: Session, mail_id: int, attempts: int, now: datetime) -> bool:
    """Take row ``mail_id`` for attempt ``attempts + 1`` (committed); False: another
    applier took it since it was read, or it is no longer due."""
    taken = session.execute(
        update(M).where(M.id == mail_id, M.attempts == attempts, M.next_attempt_at <= now)
        .values(attempts=attempts + 1, next_attempt_at=now + LEASE)
        .execution_options(synchronize_session=False)).rowcount
    session.commit()
    return taken == 1


def record(session: Session, mail_id: int, attempts: int, outcome: Outcome, error: str | None,
           now: datetime) -> None:
    """Write ``outcome`` (committed), only if the row is still this claim's."""
    values: dict = {"next_attempt_at": outcome.next_attempt_at}
    if error is not None:
        values["last_error"] = error
    if outcome.status == "sent":
        values["sent_at"] = now
    elif outcome.status == "failed":
        values["failed_at"] = now
    session.execute(update(M).where(M.id == mail_id, M.attempts == attempts).values(**values)
                    .execution_options(synchronize_session=False))
    session.commit()


# Each status of :func:`~.rules.status` as a WHERE clause (the admin's filter).
STATUS_WHERE = {
    "queued": and_(M.sent_at.is_(None), M.failed_at.is_(None)),
    "sent": M.sent_at.is_not(None),
    "failed": and_(M.sent_at.is_(None), M.failed_at.is_not(None)),
}


def send_again(session: Session, mail_id: int, now: datetime) -> bool:
    """The admin's "Send again" of a given-up or queued e-mail: due at ``now`` (the
    daemon's next look at the outbox sends it), ``failed_at`` cleared. False, and nothing
    changed, for a sent e-mail or no such row. Not committed.

    ``attempts`` and ``created_at`` stay: the claim goes on counting from the row's own
    number, and the e-mail keeps its Date and Message-ID. So a given-up e-mail gets one
    more try (its 24 h are over: a try that fails again gives it up again, with the new
    error); a queued one waiting for its next try is simply tried sooner. One SQL UPDATE,
    ``WHERE sent_at IS NULL``: a daemon recording it sent in the meantime wins. A row in
    the middle of a send (under its lease) made due may be claimed and sent once more: the
    same Message-ID, shown once by mail clients, as after a crash mid-send."""
    return session.execute(
        update(M).where(M.id == mail_id, M.sent_at.is_(None))
        .values(failed_at=None, next_attempt_at=now)
        .execution_options(synchronize_session=False)).rowcount == 1


@dataclass(frozen=True)
class Attempt:
    """One attempt made, for the daemon's log and metrics."""

    mail_id: int
    kind: str
    recipient: str
    subject: str
    attempts: int  # including this one
    status: str  # sent | pending | failed
    error: str | None
    next_attempt_at: datetime | None  # pending: the next try


class Outbox:
    """The apply step (blocking SQL and SMTP; the daemon runs it on its mail thread).
    ``send(message)`` sends an :class:`~email.message.EmailMessage` (``smtp_send`` with the
    ``report.smtp_*`` settings); ``clock()``: epoch seconds (the reactor's)."""

    def __init__(self, sessions: Callable[[], Session], send: Callable[[EmailMessage], None], *,
                 mail_from: str, clock: Callable[[], float], give_up: timedelta = GIVE_UP,
                 limit: int = BATCH):
        self.sessions = sessions
        self.send = send
        self.mail_from = mail_from
        self.clock = clock
        self.give_up = give_up
        self.limit = limit
        # After a failure worth another try the server is away: until ``paused_until``
        # (epoch seconds; in memory, so a restarted daemon tries at once) only rows made due
        # after ``paused_at`` are tried: an e-mail queued since, or one an admin asked to
        # "Send again" (the server may be back).
        self.paused_until = 0.0
        self.paused_at: datetime | None = None

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), timezone.utc)

    def tick(self) -> list[Attempt]:
        """Send what is due, each row claimed first; the attempts made. A failure worth
        another try ends the tick and pauses the outbox until that row's next try: the
        server is away, and the other rows wait untouched (no attempt counted) instead of
        costing the mail thread one more SMTP timeout each."""
        made: list[Attempt] = []
        paused = self.paused_at if self.clock() < self.paused_until else None
        with self.sessions() as session:
            for mail_id, attempts in due(session, self.now(), self.limit, made_due_after=paused):
                if not claim(session, mail_id, attempts, self.now()):
                    continue
                row = session.get(M, mail_id, populate_existing=True)
                kind, created_at, recipient, subject = row.kind, row.created_at, row.recipient, row.subject
                attempt = attempts + 1
                try:
                    message = self.message(row)
                except (ValueError, TypeError) as exc:  # e.g. a line break in an address
                    message, (error, permanent) = None, (f"not an e-mail that can be sent: {exc}"[:300], True)
                session.rollback()  # only read: no transaction open while the e-mail is on the wire
                if message is not None:
                    try:
                        self.send(message)
                        error, permanent = None, False
                    except Exception as exc:  # noqa: BLE001 - recorded and retried (rules)
                        error, permanent = smtp_error(exc)
                now = self.now()
                outcome = after_attempt(Attempted(attempt, created_at, error, permanent), now,
                                        give_up=self.give_up)
                record(session, mail_id, attempt, outcome, error, now)
                made.append(Attempt(mail_id, kind, recipient, subject, attempt,
                                    outcome.status, error, outcome.next_attempt_at))
                if error is not None and not permanent:
                    self.paused_until = now.timestamp() + retry_delay(attempt)
                    self.paused_at = now
                    break
        return made

    def message(self, row: m.MailOutbox) -> EmailMessage:
        """The e-mail of ``row``. Its Date is when it was queued; its Message-ID is the
        row's, so a mail client shows a resent copy once."""
        message = EmailMessage()
        message["Subject"] = row.subject
        message["From"] = self.mail_from
        message["To"] = row.recipient
        message["Date"] = format_datetime(row.created_at)
        domain = self.mail_from.rpartition("@")[2] or "pbx-crm"
        message["Message-ID"] = f"<pbx-crm.outbox.{row.id}.{int(row.created_at.timestamp())}@{domain}>"
        message.set_content(row.body)
        return message
