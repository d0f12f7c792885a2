"""Webhook retention (``webhooks.keep_days``): the decision (a table of cases), the
batched delete on SQLite and PostgreSQL (old delivered or failed events go, pending ones
stay whatever their age, new ones stay, 0 keeps everything), and the sender pruning at most
once an hour on a Clock, with one log line and the metrics' counters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.logger import capturedLogs

from pbx_daemon.crm import models as m
from pbx_daemon.crm.webhooks.retention import OldEvent, cutoff, may_go, prune_due, to_delete
from pbx_daemon.crm.webhooks.store import Pruned, WebhookStore, prune_batch
from pbx_daemon.telephony.metrics import DaemonMetrics
from pbx_daemon.telephony.outputs.webhooks import WebhookSender

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
OLD = NOW - timedelta(days=31)
NEW = NOW - timedelta(days=29)
BEFORE = NOW - timedelta(days=30)


# ---- the decision ---------------------------------------------------------------------------
MAY_GO = [
    ("old, delivered", OldEvent(1, OLD, True, ("delivered",)), BEFORE, True),
    ("old, failed (given up)", OldEvent(1, OLD, True, ("failed",)), BEFORE, True),
    ("old, delivered to one webhook, given up by another", OldEvent(1, OLD, True, ("delivered", "failed")),
     BEFORE, True),
    ("old, fanned out to no webhook", OldEvent(1, OLD, True, ()), BEFORE, True),
    ("old, pending (never tried, or retrying)", OldEvent(1, OLD, True, ("pending",)), BEFORE, False),
    ("old, delivered to one webhook, pending for another",
     OldEvent(1, OLD, True, ("delivered", "pending")), BEFORE, False),
    ("old, not fanned out yet", OldEvent(1, OLD, False, ()), BEFORE, False),
    ("new, delivered", OldEvent(1, NEW, True, ("delivered",)), BEFORE, False),
    ("exactly at the cutoff: kept", OldEvent(1, BEFORE, True, ("delivered",)), BEFORE, False),
    ("keep_days 0: kept", OldEvent(1, OLD, True, ("delivered",)), None, False),
]


@pytest.mark.parametrize("why,event,before,goes", MAY_GO, ids=[c[0] for c in MAY_GO])
def test_may_go(why, event, before, goes):
    assert may_go(event, before) is goes


def test_cutoff_is_keep_days_before_now_and_zero_keeps_everything():
    assert cutoff(NOW, 30) == BEFORE and cutoff(NOW, 0) is None
    assert to_delete([OldEvent(3, OLD, True), OldEvent(1, OLD, True), OldEvent(2, NEW, True)],
                     BEFORE) == [1, 3]


PRUNE_DUE = [("never pruned: now", None, 100.0, True), ("59 min later: not yet", 100.0, 3640.0, False),
             ("an hour later: now", 100.0, 3700.0, True),
             ("a clock set back: now, not in days", 100_000.0, 50.0, True)]


@pytest.mark.parametrize("why,last,now,due", PRUNE_DUE, ids=[c[0] for c in PRUNE_DUE])
def test_prune_due(why, last, now, due):
    assert prune_due(last, now) is due


# ---- the delete, on both backends -------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request, tmp_path):
    """A migrated database on each backend (PostgreSQL: a throwaway one, skipped without a server)."""
    from tests.postgres import migrated_sessions

    with migrated_sessions(request.param, tmp_path) as sessions:
        yield sessions


def _hooks(s, n=2) -> list[int]:
    hooks = [m.Webhook(name=f"h{i}", url=f"http://h{i}.example/") for i in range(n)]
    s.add_all(hooks)
    s.flush()
    return [h.id for h in hooks]


def _event(s, hooks, kind, at, *statuses, fanned_out=True) -> int:
    """An event written ``at``, with one delivery per status (to hooks[0], hooks[1], ...)."""
    event = m.WebhookEvent(kind=kind, payload={}, fanned_out=fanned_out, created_at=at)
    s.add(event)
    s.flush()
    for hook, status in zip(hooks, statuses):
        s.add(m.WebhookDelivery(webhook_id=hook, event_id=event.id, status=status,
                                attempts=0 if status == "pending" else 3, next_attempt_at=at,
                                created_at=at, delivered_at=at if status == "delivered" else None))
    return event.id


def _left(sessions) -> list[str]:
    with sessions() as s:
        return list(s.scalars(select(m.WebhookEvent.kind).order_by(m.WebhookEvent.id)))


def _deliveries(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(m.WebhookDelivery))


def _outbox(sessions):
    with sessions() as s:
        hooks = _hooks(s)
        _event(s, hooks, "old delivered", OLD, "delivered")
        _event(s, hooks, "old failed", OLD, "failed", "delivered")
        _event(s, hooks, "old pending", OLD - timedelta(days=300), "pending")
        retrying = _event(s, hooks, "old retrying", OLD, "delivered", "pending")
        _event(s, hooks, "old, no webhook wanted it", OLD)
        _event(s, hooks, "old, not fanned out", OLD, fanned_out=False)
        _event(s, hooks, "new delivered", NEW, "delivered")
        s.commit()
        s.execute(m.WebhookDelivery.__table__.update().where(
            m.WebhookDelivery.event_id == retrying, m.WebhookDelivery.status == "pending")
            .values(attempts=4))
        s.commit()


def test_old_final_events_go_with_their_deliveries_pending_and_new_ones_stay(sessions):
    _outbox(sessions)
    assert _deliveries(sessions) == 7
    pruned = WebhookStore(sessions, "").prune(NOW, 30)
    assert pruned == Pruned(events=3, deliveries=3, batches=1)
    assert _left(sessions) == ["old pending", "old retrying", "old, not fanned out", "new delivered"]
    assert _deliveries(sessions) == 4  # the retrying event keeps its delivered one too
    assert WebhookStore(sessions, "").prune(NOW, 30) == Pruned()  # nothing more


def test_keep_days_zero_keeps_everything(sessions):
    _outbox(sessions)
    assert WebhookStore(sessions, "").prune(NOW + timedelta(days=3650), 0) == Pruned()
    assert len(_left(sessions)) == 7 and _deliveries(sessions) == 7


# ---- batches ----------------------------------------------------------------------------------
@pytest.fixture
def sqlite_sessions(tmp_path):
    from pbx_daemon import db

    engine = db.make_engine(f"sqlite:///{tmp_path}/pbx.sqlite3")
    m.Base.metadata.create_all(engine)
    yield db.make_session_factory(engine)
    engine.dispose()


def _many_old(sessions, n: int) -> None:
    with sessions() as s:
        hooks = _hooks(s)
        for i in range(n):
            _event(s, hooks, f"e{i}", OLD + timedelta(seconds=i), "delivered", "failed")
        s.commit()


def test_each_transaction_deletes_one_bounded_batch_oldest_first(sqlite_sessions):
    _many_old(sqlite_sessions, 25)
    with sqlite_sessions() as s:
        assert prune_batch(s, BEFORE, batch=10) == (10, 10, 20)
        s.commit()
    assert _left(sqlite_sessions)[0] == "e10"
    opened = []

    def counting():
        opened.append(1)
        return sqlite_sessions()
    assert WebhookStore(counting, "").prune(NOW, 30, batch=10) == Pruned(15, 30, 2)
    assert len(opened) == 2 and _left(sqlite_sessions) == []


def test_a_prune_stops_after_max_batches_and_the_next_goes_on(sqlite_sessions):
    _many_old(sqlite_sessions, 25)
    store = WebhookStore(sqlite_sessions, "")
    assert store.prune(NOW, 30, batch=10, max_batches=2) == Pruned(20, 40, 2, more=True)
    assert _left(sqlite_sessions) == ["e20", "e21", "e22", "e23", "e24"]
    assert store.prune(NOW, 30, batch=10, max_batches=2) == Pruned(5, 10, 1)


# ---- the sender's hourly prune ------------------------------------------------------------------
def test_the_sender_prunes_at_start_then_at_most_once_an_hour(sqlite_sessions):
    _many_old(sqlite_sessions, 3)
    clock = Clock()
    clock.advance(NOW.timestamp())
    metrics = DaemonMetrics(clock)
    told = []

    def pruned(p):
        told.append(p)
        metrics.webhooks_pruned(p)
    sender = WebhookSender(WebhookStore(sqlite_sessions, ""), lambda fn: succeed(fn()),
                           lambda *a: succeed(200), clock, interval=300, keep_days=30, pruned=pruned)
    with capturedLogs() as logs:
        sender.startService()
    lines = [e for e in logs if "deleted" in e.get("log_format", "")]
    assert len(lines) == 1 and (lines[0]["events"], lines[0]["deliveries"], lines[0]["keep_days"]) == (3, 6, 30)
    assert told == [Pruned(3, 6, 1)] and _left(sqlite_sessions) == []
    _many_old(sqlite_sessions, 2)
    for _ in range(11):  # a tick every 5 min, 55 min: not an hour yet
        clock.advance(300)
    assert len(told) == 1 and len(_left(sqlite_sessions)) == 2
    clock.advance(300)
    assert told[-1] == Pruned(2, 4, 1) and _left(sqlite_sessions) == []
    page = metrics.render().decode()
    assert "pbx_crm_webhook_events_pruned_total 5.0" in page
    assert "pbx_crm_webhook_deliveries_pruned_total 10.0" in page
    sender.stopService()
    assert clock.getDelayedCalls() == []


def test_a_sender_with_keep_days_zero_never_prunes(sqlite_sessions):
    _many_old(sqlite_sessions, 3)
    clock = Clock()
    clock.advance(NOW.timestamp())
    store = WebhookStore(sqlite_sessions, "")
    sender = WebhookSender(store, lambda fn: succeed(fn()), lambda *a: succeed(200), clock,
                           interval=2, keep_days=0)
    sender.startService()
    clock.advance(7200)
    sender.stopService()
    assert len(_left(sqlite_sessions)) == 3


def test_the_delete_checks_again_that_nothing_is_pending(sqlite_sessions, monkeypatch):
    """As if "Retry now" made a delivery pending between the fetch and the delete: the
    event keeps all its deliveries."""
    from pbx_daemon.crm.webhooks import store

    _outbox(sqlite_sessions)
    with sqlite_sessions() as s:
        old = list(s.scalars(select(m.WebhookEvent.id).where(m.WebhookEvent.kind.startswith("old"),
                                                             m.WebhookEvent.fanned_out.is_(True))))
    assert len(old) == 5
    monkeypatch.setattr(store, "to_delete", lambda events, before: old)
    with sqlite_sessions() as s:
        assert prune_batch(s, BEFORE)[1:] == (3, 3)
        s.commit()
    assert _left(sqlite_sessions) == ["old pending", "old retrying", "old, not fanned out", "new delivered"]
    assert _deliveries(sqlite_sessions) == 4
