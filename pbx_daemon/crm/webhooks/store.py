"""The webhooks' SQL side (blocking; the daemon runs it off the reactor): fan new events out
to the matching webhooks, pick what is due (:func:`~.delivery.due`), record attempts
(:func:`~.delivery.after_attempt`), delete old events nobody will send again
(:func:`~.retention.may_go`). Everything is in the database, so a restarted daemon
carries on where it stopped."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.webhooks.delivery import (GIVE_UP, MAX_INTERVAL, Attempted, Outcome,
                                              Pending, after_attempt, due)
from pbx_daemon.crm.webhooks.retention import PRUNE_BATCH, OldEvent, cutoff, to_delete

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


# The REST API's audio of a recording (admin/rest_api/http.py: get_recording_audio; a
# token with the "recordings" scope reads it, no browser login).
RECORDING_AUDIO = "/api/v1/recordings/{id}/audio"


def render_body(event: m.WebhookEvent, base_url: str) -> bytes:
    """The JSON body: ``{"id", "event", "created_at", "data"}``. A recording gets two
    absolute links under ``base_url`` (``admin.public_url``): ``url``, the admin's page
    (``path``, for a logged-in user), and ``api_url``, the REST API's audio (``id``, for an
    integration's token; events written before recordings had ``id`` have none)."""
    data = dict(event.payload or {})
    recording = data.get("recording")
    if isinstance(recording, dict):
        base = base_url.rstrip("/")
        links = {}
        if recording.get("path"):
            links["url"] = base + recording["path"]
        if recording.get("id") is not None:
            links["api_url"] = base + RECORDING_AUDIO.format(id=recording["id"])
        data["recording"] = {**recording, **links}
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


@dataclass(frozen=True)
class Pruned:
    """What one prune deleted; ``more``: it stopped after ``max_batches`` with old
    events left (the next prune goes on)."""

    events: int = 0
    deliveries: int = 0
    batches: int = 0
    more: bool = False


def prune_batch(session: Session, before: datetime, batch: int = PRUNE_BATCH) -> tuple[int, int, int]:
    """Delete up to ``batch`` of the oldest events that may go (not committed): fetch the
    candidates and their deliveries' statuses, decide (:func:`~.retention.to_delete`),
    delete the deliveries, then the events. Returns (candidates seen, events deleted,
    deliveries deleted).

    The deletes check again that no delivery of the event is pending: an admin's "Retry
    now" between the fetch and the delete keeps the event and its deliveries."""
    E, D = m.WebhookEvent, m.WebhookDelivery
    pending = exists().where(D.event_id == E.id, D.status == "pending")
    rows = session.execute(select(E.id, E.created_at, E.fanned_out)
                           .where(E.created_at < before, E.fanned_out.is_(True), ~pending)
                           .order_by(E.id).limit(batch)).all()
    if not rows:
        return 0, 0, 0
    statuses: dict[int, list[str]] = {}
    for event_id, status in session.execute(select(D.event_id, D.status)
                                            .where(D.event_id.in_([r.id for r in rows]))):
        statuses.setdefault(event_id, []).append(status)
    ids = to_delete((OldEvent(r.id, r.created_at, r.fanned_out, tuple(statuses.get(r.id, ())))
                     for r in rows), before)
    if not ids:
        return len(rows), 0, 0
    still_pending = select(D.event_id).where(D.event_id.in_(ids), D.status == "pending")
    # ``D.status != "pending"`` on the row itself too: PostgreSQL re-checks a row's own
    # condition after waiting for an update of it ("Retry now"), not the subquery's.
    deliveries = session.execute(delete(D).where(D.event_id.in_(ids), D.status != "pending",
                                                 D.event_id.not_in(still_pending))
                                 .execution_options(synchronize_session=False)).rowcount
    events = session.execute(delete(E).where(E.id.in_(ids), ~exists().where(D.event_id == E.id))
                             .execution_options(synchronize_session=False)).rowcount
    return len(rows), events, deliveries


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

    def prune(self, now: datetime, keep_days: int, *, batch: int = PRUNE_BATCH,
              max_batches: int = 100) -> Pruned:
        """Delete the events older than ``keep_days`` (0: none) that may go, ``batch`` a
        transaction (a short write lock at a time on SQLite), at most ``max_batches``."""
        before = cutoff(now, keep_days)
        if before is None:
            return Pruned()
        events = deliveries = batches = 0
        for _ in range(max_batches):
            with self.sessions() as session:
                seen, gone, with_them = prune_batch(session, before, batch)
                session.commit()
            if seen:
                batches, events, deliveries = batches + 1, events + gone, deliveries + with_them
            if seen < batch:
                return Pruned(events, deliveries, batches)
        return Pruned(events, deliveries, batches, more=True)

    def record(self, delivery_id: int, status_code: int | None, error: str | None,
               now: datetime) -> Outcome | None:
        with self.sessions() as session:
            outcome = record(session, delivery_id, status_code, error, now,
                             max_interval=self.max_interval, give_up=self.give_up)
            session.commit()
            return outcome
