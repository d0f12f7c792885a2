"""The webhooks' SQL side (blocking; the daemon runs it off the reactor): fan new events out
to the matching webhooks, pick what is due (:func:`~.delivery.due`), record attempts
(:func:`~.delivery.after_attempt`). Everything is in the database, so a restarted daemon
carries on where it stopped."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.webhooks.delivery import (GIVE_UP, MAX_INTERVAL, Attempted, Outcome,
                                              Pending, after_attempt, due)

FAN_OUT_BATCH = 500


@dataclass(frozen=True)
class Job:
    """One POST to make."""

    delivery_id: int
    webhook_id: int
    url: str
    secret: str = ""  # never logged (kept out of repr)
    kind: str = ""
    body: bytes = b""

    def __repr__(self) -> str:
        return f"Job(delivery_id={self.delivery_id}, webhook_id={self.webhook_id}, kind={self.kind!r})"


def render_body(event: m.WebhookEvent, base_url: str) -> bytes:
    """The JSON body: ``{"id", "event", "created_at", "data"}``; a recording's admin
    path becomes an absolute ``url`` under ``base_url`` (``admin.public_url``)."""
    data = dict(event.payload or {})
    recording = data.get("recording")
    if isinstance(recording, dict) and recording.get("path"):
        data["recording"] = {**recording, "url": base_url.rstrip("/") + recording["path"]}
    return json.dumps({"id": event.id, "event": event.kind,
                       "created_at": event.created_at.isoformat(), "data": data},
                      ensure_ascii=False, sort_keys=True).encode()


def fan_out(session: Session, now: datetime) -> int:
    """One delivery per new event and matching active webhook (a ``ping`` only to its
    webhook); the events are marked fanned out. Not committed. Returns the events done."""
    events = session.scalars(select(m.WebhookEvent).where(m.WebhookEvent.fanned_out.is_(False))
                             .order_by(m.WebhookEvent.id).limit(FAN_OUT_BATCH)).all()
    if not events:
        return 0
    hooks = session.scalars(select(m.Webhook).where(m.Webhook.active.is_(True))).all()
    for event in events:
        for hook in hooks:
            if (event.webhook_id is None and hook.wants(event.kind)) or event.webhook_id == hook.id:
                session.add(m.WebhookDelivery(webhook_id=hook.id, event_id=event.id,
                                              status="pending", attempts=0, next_attempt_at=now,
                                              created_at=now))
        event.fanned_out = True
    return len(events)


def due_jobs(session: Session, now: datetime, busy: frozenset[int], base_url: str) -> list[Job]:
    """The head delivery of each active webhook that is due now (not ``busy``)."""
    D = m.WebhookDelivery
    heads = (select(D.webhook_id, func.min(D.event_id).label("event_id"))
             .join(m.Webhook, m.Webhook.id == D.webhook_id)
             .where(D.status == "pending", m.Webhook.active.is_(True))
             .group_by(D.webhook_id).subquery())
    rows = session.execute(select(D.id, D.webhook_id, D.event_id, D.next_attempt_at).join(
        heads, and_(heads.c.webhook_id == D.webhook_id, heads.c.event_id == D.event_id))).all()
    jobs = []
    for p in due((Pending(*row) for row in rows), now, busy):
        delivery = session.get(D, p.delivery_id)
        jobs.append(Job(delivery.id, delivery.webhook_id, delivery.webhook.url,
                        delivery.webhook.secret, delivery.event.kind,
                        render_body(delivery.event, base_url)))
    return jobs


def record(session: Session, delivery_id: int, status_code: int | None, error: str | None,
           now: datetime, *, max_interval: float = MAX_INTERVAL,
           give_up: timedelta = GIVE_UP) -> Outcome | None:
    """Write down an attempt's result (not committed); the outcome, or None if the
    delivery is gone (its webhook deleted meanwhile)."""
    delivery = session.get(m.WebhookDelivery, delivery_id)
    if delivery is None or delivery.status != "pending":
        return None
    delivery.attempts += 1
    outcome = after_attempt(Attempted(delivery.attempts, delivery.created_at, status_code), now,
                            max_interval=max_interval, give_up=give_up)
    delivery.status = outcome.status
    delivery.last_status_code = status_code
    delivery.last_error = error[:300] if error else None
    if outcome.status == "delivered":
        delivery.delivered_at = now
    elif outcome.next_attempt_at is not None:
        delivery.next_attempt_at = outcome.next_attempt_at
    return outcome


def retry_now(session: Session, delivery_id: int, now: datetime) -> bool:
    """The admin's "Retry now" of a failed delivery: pending again, due now, with a
    fresh 24 h before it is given up. Not committed."""
    delivery = session.get(m.WebhookDelivery, delivery_id)
    if delivery is None or delivery.status != "failed":
        return False
    delivery.status, delivery.next_attempt_at, delivery.created_at = "pending", now, now
    return True


class WebhookStore:
    """The blocking steps the sender runs in a thread, each in its own transaction."""

    def __init__(self, sessions: Callable[[], Session], base_url: str, *,
                 max_interval: float = MAX_INTERVAL, give_up: timedelta = GIVE_UP):
        self.sessions = sessions
        self.base_url = base_url
        self.max_interval = max_interval
        self.give_up = give_up

    def next_jobs(self, now: datetime, busy: frozenset[int]) -> list[Job]:
        with self.sessions() as session:
            while fan_out(session, now) == FAN_OUT_BATCH:
                session.flush()
            session.commit()
            return due_jobs(session, now, busy, self.base_url)

    def record(self, delivery_id: int, status_code: int | None, error: str | None,
               now: datetime) -> Outcome | None:
        with self.sessions() as session:
            outcome = record(session, delivery_id, status_code, error, now,
                             max_interval=self.max_interval, give_up=self.give_up)
            session.commit()
            return outcome
