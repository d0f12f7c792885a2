"""What to send next and when to try again (pure: plain values in, plain values out).

Each webhook gets its events in the order they happened: only the oldest undelivered
delivery of a webhook (its *head*) is ever sent, and the next waits until the head is
delivered or given up (head-of-line per webhook; webhooks do not wait for each other).

A failed attempt (no answer in the timeout, a connection error, any status but 2xx) is
tried again after :data:`BACKOFF` (5 s, 30 s, 2 min, 10 min, then every hour, capped at
``max_interval``); a delivery still failing ``give_up`` after it was first due is marked
``failed`` (the admin's Deliveries page shows it; "Retry now" makes it pending again).

The signature: ``X-PbxCrm-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``
with ``timestamp`` the ``X-PbxCrm-Timestamp`` header (Unix seconds) and ``body`` the exact
bytes of the request body.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable
from urllib.parse import urlsplit

BACKOFF = (5, 30, 120, 600, 3600)  # seconds after the 1st, 2nd, ... failed attempt
MAX_INTERVAL = 3600
GIVE_UP = timedelta(hours=24)
TIMEOUT = 10.0


@dataclass(frozen=True)
class Pending:
    """A pending delivery, as the decision needs it."""

    delivery_id: int
    webhook_id: int
    event_id: int
    next_attempt_at: datetime


@dataclass(frozen=True)
class Attempted:
    """What the last attempt of a delivery gave."""

    attempts: int  # including this one
    first_due_at: datetime  # when the delivery was first due (its creation)
    status_code: int | None  # None: no HTTP answer (timeout, refused, ...)


@dataclass(frozen=True)
class Outcome:
    status: str  # delivered | pending | failed
    next_attempt_at: datetime | None  # pending: when to try again


def due(pending: Iterable[Pending], now: datetime, busy: frozenset[int] = frozenset()) -> list[Pending]:
    """The deliveries to send now: each webhook's head (lowest event id among its pending
    deliveries) if it is due (``next_attempt_at <= now``) and the webhook has no attempt in
    flight (``busy``). One at most per webhook, in webhook id order."""
    heads: dict[int, Pending] = {}
    for p in pending:
        head = heads.get(p.webhook_id)
        if head is None or p.event_id < head.event_id:
            heads[p.webhook_id] = p
    return [p for _, p in sorted(heads.items())
            if p.webhook_id not in busy and p.next_attempt_at <= now]


def retry_delay(attempts: int, max_interval: float = MAX_INTERVAL) -> float:
    """Seconds to wait after ``attempts`` failed attempts (1 -> 5 s, 2 -> 30 s, ...)."""
    return float(min(BACKOFF[min(attempts, len(BACKOFF)) - 1], max_interval))


def after_attempt(a: Attempted, now: datetime, *, max_interval: float = MAX_INTERVAL,
                  give_up: timedelta = GIVE_UP) -> Outcome:
    """A 2xx answer: delivered. Anything else: pending again after :func:`retry_delay`,
    unless the next try would come ``give_up`` or more after the delivery was first due:
    then failed."""
    if a.status_code is not None and 200 <= a.status_code < 300:
        return Outcome("delivered", None)
    at = now + timedelta(seconds=retry_delay(a.attempts, max_interval))
    if at - a.first_due_at >= give_up:
        return Outcome("failed", None)
    return Outcome("pending", at)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-PbxCrm-Signature`` header's value."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook (None: it can): http or https with a host, and no
    user name or password in it (a secret in a URL ends up in logs and pages)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "only http:// and https:// URLs"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "no user name or password in the URL"
    return None
