"""When to try a queued e-mail again, and when to give it up (pure: plain values in, plain
values out; the shape of :mod:`pbx_daemon.crm.webhooks.delivery`).

==========================================================  ===============================
the attempt                                                 then
==========================================================  ===============================
sent (the server took it)                                   ``sent``
the 1st attempt failed (refused, timed out, a 4xx, ...)     ``pending``: again in 30 s
the 2nd failed                                              ``pending``: in 2 min
the 3rd failed                                              ``pending``: in 10 min
the 4th and each later one failed                           ``pending``: in 30 min
the next try would come 24 h or more after it was queued    ``failed`` (given up)
the server refused the recipient, or the message, for good  ``failed`` at once
(5xx: every recipient refused, or 5xx after DATA)
==========================================================  ===============================

Only the message's own refusals are permanent. A 5xx to the login or to the sender
(``report.smtp_user``, ``mail_from``) is the configuration's fault, not the message's: it is
retried like a server that is down, so an admin has the day to fix it.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta

BACKOFF = (30, 120, 600, 1800)  # seconds after the 1st, 2nd, 3rd, 4th (and later) failed attempt
GIVE_UP = timedelta(hours=24)
ERROR_LENGTH = 300  # mail_outbox.last_error


@dataclass(frozen=True)
class Attempted:
    """What one attempt at sending a queued e-mail gave."""

    attempts: int  # including this one
    queued_at: datetime  # the row's created_at
    error: str | None  # None: sent
    permanent: bool = False  # the error is the message's own (see :func:`smtp_error`)


@dataclass(frozen=True)
class Outcome:
    status: str  # sent | pending | failed
    next_attempt_at: datetime | None  # pending: when to try again


def retry_delay(attempts: int) -> float:
    """Seconds to wait after ``attempts`` failed attempts (1 -> 30 s, 2 -> 2 min, 3 -> 10 min,
    4 and more -> 30 min)."""
    return float(BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1])


def after_attempt(a: Attempted, now: datetime, *, give_up: timedelta = GIVE_UP) -> Outcome:
    """The row's next state after an attempt at ``now`` (the table above)."""
    if a.error is None:
        return Outcome("sent", None)
    if a.permanent:
        return Outcome("failed", None)
    at = now + timedelta(seconds=retry_delay(a.attempts))
    if at - a.queued_at >= give_up:
        return Outcome("failed", None)
    return Outcome("pending", at)


def status(sent_at: datetime | None, failed_at: datetime | None) -> str:
    """What a row is, from its times (the admin's list and filter say it):

    ===============================  ==========
    ``sent_at`` set                  ``sent``
    ``failed_at`` set (given up)     ``failed``
    neither (waiting for a try)      ``queued``
    ===============================  ==========
    """
    if sent_at is not None:
        return "sent"
    return "failed" if failed_at is not None else "queued"


def smtp_error(error: BaseException) -> tuple[str, bool]:
    """``(text, permanent)`` of what a send raised: the text as ``last_error`` keeps it;
    permanent when the server refused the message itself with a 5xx (every recipient
    refused, or a 5xx after DATA). Anything else (a connection refused or dropped, a
    timeout, a 4xx, a 5xx to the login or the sender) is worth another try."""
    text = f"{type(error).__name__}: {error}"[:ERROR_LENGTH]
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return text, bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(error, smtplib.SMTPDataError):
        return text, 500 <= error.smtp_code < 600
    return text, False
