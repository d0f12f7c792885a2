"""Webhooks (issue 18): the delivery decision and backoff (tables), the signature (a vector
made by openssl), the outbox written in the business transaction, and the daemon's sender
with a fake HTTP client and a Clock (order, retry, restart, no timer left)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock

from pbx_daemon.crm import models as m
from pbx_daemon.crm.inquiries.actions import create_web_inquiry
from pbx_daemon.crm.webhooks import emit
from pbx_daemon.crm.webhooks.delivery import (Attempted, Outcome, Pending, after_attempt, due,
                                              retry_delay, sign, url_problem)
from pbx_daemon.telephony.outputs.webhooks import WebhookSender
from pbx_daemon.crm.webhooks.store import WebhookStore, fan_out, retry_now
from pbx_daemon.db import make_engine, make_session_factory, seed_reference_data
from pbx_daemon.telephony.calls.interfaces import CallDetails
from pbx_daemon.telephony.outputs.store import SqlCallRecorder
from pbx_daemon.telephony.routing.policy import RoutePlan

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# ---- the pure decision ----------------------------------------------------------------
DUE = [
    ("nothing pending: nothing to send", [], frozenset(), []),
    ("a due head is sent", [Pending(1, 7, 10, at(0))], frozenset(), [1]),
    ("a head not due yet (backing off) holds its webhook", [Pending(1, 7, 10, at(5))], frozenset(), []),
    ("only the lowest event of a webhook is its head, even if a later one is due",
     [Pending(2, 7, 11, at(0)), Pending(1, 7, 10, at(30))], frozenset(), []),
    ("one head per webhook, webhooks do not wait for each other",
     [Pending(1, 7, 10, at(30)), Pending(2, 8, 10, at(0)), Pending(3, 8, 11, at(0))], frozenset(), [2]),
    ("a webhook with a POST in flight gets nothing more", [Pending(1, 7, 10, at(0))], frozenset({7}), []),
]


@pytest.mark.parametrize("why,pending,busy,ids", DUE, ids=[c[0] for c in DUE])
def test_due(why, pending, busy, ids):
    assert [p.delivery_id for p in due(pending, at(0), busy)] == ids


BACKOFF = [(1, 3600, 5), (2, 3600, 30), (3, 3600, 120), (4, 3600, 600), (5, 3600, 3600),
           (9, 3600, 3600), (3, 60, 60), (1, 1, 1)]


@pytest.mark.parametrize("attempts,cap,delay", BACKOFF)
def test_retry_delay_grows_and_is_capped(attempts, cap, delay):
    assert retry_delay(attempts, cap) == delay


AFTER = [
    ("200: delivered", Attempted(1, at(0), 200), at(1), Outcome("delivered", None)),
    ("204 is a 2xx too", Attempted(3, at(0), 204), at(1), Outcome("delivered", None)),
    ("500: again in 5 s after the first attempt", Attempted(1, at(0), 500), at(0), Outcome("pending", at(5))),
    ("no answer (timeout): again in 30 s after the second", Attempted(2, at(0), None), at(10),
     Outcome("pending", at(40))),
    ("a 3xx is not followed and not a delivery", Attempted(1, at(0), 301), at(0), Outcome("pending", at(5))),
    ("the next try would be 24 h after it was due: failed", Attempted(30, at(0), 503),
     at(24 * 3600 - 1800), Outcome("failed", None)),
    ("23 h in, an hour's wait still fits: pending", Attempted(30, at(0), 503), at(22 * 3600),
     Outcome("pending", at(23 * 3600))),
]


@pytest.mark.parametrize("why,attempted,now,outcome", AFTER, ids=[c[0] for c in AFTER])
def test_after_attempt(why, attempted, now, outcome):
    assert after_attempt(attempted, now) == outcome


def test_signature_matches_openssl():
    """printf '1700000000.{"event":"ping"}' | openssl dgst -sha256 -hmac 'It is a secret'"""
    assert sign("It is a secret", 1700000000, b'{"event":"ping"}') == \
        "sha256=45c707a4bfa8d7301c100173fb18ddb85d2bb2b119aa0b83dbd61d27713ec481"


URLS = [("https://crm.example.com/hook", None), ("http://10.0.0.5:8080/in?x=1", None),
        ("ftp://example.com/", "only http:// and https:// URLs"),
        ("javascript:alert(1)", "only http:// and https:// URLs"),
        ("https://user:pw@example.com/", "no user name or password in the URL"),
        ("https://token@example.com/", "no user name or password in the URL"),
        ("https:///nohost", "the URL has no host"), ("http://example.com:99999/", "not a valid URL")]


@pytest.mark.parametrize("url,problem", URLS)
def test_only_plain_http_urls(url, problem):
    assert url_problem(url) == problem


# ---- the outbox -------------------------------------------------------------------------
@pytest.fixture
def sessions():
    engine = make_engine("sqlite://")
    m.Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    with factory() as s:
        seed_reference_data(s)
        s.commit()
    yield factory
    engine.dispose()


def _kinds(sessions) -> list[str]:
    with sessions() as s:
        return list(s.scalars(select(m.WebhookEvent.kind).order_by(m.WebhookEvent.id)))


def test_an_event_lives_and_dies_with_its_transaction(sessions):
    with sessions() as s:
        create_web_inquiry(s, {"phone": "+79161234567"}, now=T0)
        s.rollback()
    assert _kinds(sessions) == []
    with sessions() as s:
        create_web_inquiry(s, {"phone": "+79161234567", "name": "Ivan"}, now=T0)
        s.commit()
    with sessions() as s:
        event = s.scalar(select(m.WebhookEvent))
        assert event.kind == "inquiry.created" and event.payload["inquiry"]["name"] == "Ivan"


def test_the_call_store_emits_started_answered_ended_and_a_missed_call_its_inquiry(sessions):
    with sessions() as s:
        s.add(m.Employee(full_name="Anna", login="anna", sip_endpoint="101"))
        s.commit()
        anna = s.scalar(select(m.Employee.id))
        s.add(m.Company(name="Romashka", phones=[m.CompanyPhone(phone="+79160000001")]))
        s.commit()
    recorder = SqlCallRecorder(sessions, run=lambda fn: succeed(fn()), tz="Europe/Moscow",
                               clock=Clock())
    plan = RoutePlan(steps=())
    recorder.caller_identified("c1", CallDetails("+79160000001", "+79160000001", "100"))
    recorder.call_started("c1", "c1", plan, at(0).timestamp())
    recorder.call_answered("c1", "leg", anna, at(5).timestamp())
    recorder.call_ended("c1", "answered", at(65).timestamp())
    recorder.caller_identified("c2", CallDetails("+79169999999", "+79169999999", "100", owner_id=anna))
    recorder.call_started("c2", "c2", plan, at(100).timestamp())
    recorder.call_ended("c2", "missed", at(120).timestamp())
    assert _kinds(sessions) == ["call.started", "call.answered", "call.ended", "call.started",
                                "inquiry.created", "task.created", "call.ended"]
    with sessions() as s:
        ended = s.scalars(select(m.WebhookEvent).where(m.WebhookEvent.kind == "call.ended")).first()
        assert ended.payload["card"]["company"]["name"] == "Romashka"
        assert ended.payload["call"]["talk_seconds"] == 60
        assert ended.payload["call"]["answered_by"] == {"id": anna, "name": "Anna"}


# ---- fan-out and the sender --------------------------------------------------------------
class FakeHttp:
    """The sender's ``post``: answers in order from ``answers`` (a code, an exception, or
    None for a Deferred the test fires), remembering each request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[tuple[str, dict, bytes]] = []
        self.waiting: list[Deferred] = []

    def __call__(self, url, headers, body):
        self.requests.append((url, headers, body))
        answer = self.answers.pop(0) if self.answers else 200
        if answer is None:
            d = Deferred()
            self.waiting.append(d)
            return d
        if isinstance(answer, Exception):
            return fail(answer)
        return succeed(answer)

    def events(self) -> list[str]:
        return [h["X-PbxCrm-Event"][0] for _, h, _ in self.requests]


def _hook(sessions, **kw) -> int:
    with sessions() as s:
        hook = m.Webhook(name="erp", url="http://erp.example/hook", **kw)
        s.add(hook)
        s.commit()
        return hook.id


def _emit(sessions, *kinds):
    with sessions() as s:
        for kind in kinds:
            emit(s, kind, {"n": kind})
        s.commit()


def _sender(sessions, http, clock) -> WebhookSender:
    return WebhookSender(WebhookStore(sessions, "https://crm.example"), lambda fn: succeed(fn()),
                         http, clock, interval=2)


def _statuses(sessions) -> list[tuple[str, int]]:
    with sessions() as s:
        return [tuple(r) for r in s.execute(select(m.WebhookDelivery.status, m.WebhookDelivery.attempts)
                              .order_by(m.WebhookDelivery.event_id))]


def test_events_go_in_order_signed_and_the_next_waits_for_a_failed_one(sessions):
    hook = _hook(sessions)
    _emit(sessions, "call.started", "call.answered", "call.ended")
    clock = Clock()
    clock.advance(T0.timestamp())
    http = FakeHttp(200, 503, ConnectionRefusedError(), 200, 200)
    sender = _sender(sessions, http, clock)
    sender.startService()
    # started delivered; answered got 503: ended must wait behind it.
    assert http.events() == ["call.started", "call.answered"]
    clock.advance(4)  # two ticks, still inside answered's 5 s backoff
    assert http.events() == ["call.started", "call.answered"]
    clock.advance(2)  # 6 s: tried again, refused; next try 30 s later
    assert http.events()[-1] == "call.answered" and len(http.requests) == 3
    clock.advance(30)
    assert http.events() == ["call.started", "call.answered", "call.answered", "call.answered",
                             "call.ended"]
    assert _statuses(sessions) == [("delivered", 1), ("delivered", 3), ("delivered", 1)]
    url, headers, body = http.requests[-1]
    stamp = headers["X-PbxCrm-Timestamp"][0]
    with sessions() as s:
        secret = s.get(m.Webhook, hook).secret
    assert headers["X-PbxCrm-Signature"] == [sign(secret, int(stamp), body)]
    assert json.loads(body)["event"] == "call.ended" and json.loads(body)["data"] == {"n": "call.ended"}
    sender.stopService()
    assert clock.getDelayedCalls() == []


def test_a_restart_resumes_from_the_database_and_a_cut_post_is_sent_again(sessions):
    _hook(sessions)
    _emit(sessions, "task.created", "task.done")
    clock = Clock()
    clock.advance(T0.timestamp())
    http = FakeHttp(None)  # the first POST hangs: the daemon stops meanwhile
    sender = _sender(sessions, http, clock)
    sender.startService()
    assert http.events() == ["task.created"]
    sender.stopService()
    assert clock.getDelayedCalls() == []
    assert _statuses(sessions) == [("pending", 0), ("pending", 0)]
    http2 = FakeHttp()
    again = _sender(sessions, http2, clock)
    again.startService()
    assert http2.events() == ["task.created", "task.done"]
    assert _statuses(sessions) == [("delivered", 1), ("delivered", 1)]
    again.stopService()
    assert clock.getDelayedCalls() == []


def test_fan_out_follows_the_filter_and_a_ping_goes_to_its_webhook_only(sessions):
    calls = _hook(sessions, events="call.ended")
    every = _hook(sessions)
    _hook(sessions, active=False)
    with sessions() as s:
        emit(s, "call.started", {})
        emit(s, "call.ended", {})
        emit(s, "ping", {}, webhook_id=every)
        s.commit()
        assert fan_out(s, T0) == 3
        s.commit()
        pairs = [tuple(r) for r in s.execute(select(m.WebhookDelivery.webhook_id, m.WebhookEvent.kind)
                          .join(m.WebhookEvent).order_by(m.WebhookDelivery.id))]
    assert pairs == [(every, "call.started"), (calls, "call.ended"), (every, "call.ended"),
                     (every, "ping")]


def test_gives_up_after_the_limit_and_retry_now_sends_it_again(sessions):
    _hook(sessions)
    _emit(sessions, "call.ended", "task.done")
    clock = Clock()
    clock.advance(T0.timestamp())
    http = FakeHttp(*[500] * 40)
    sender = WebhookSender(WebhookStore(sessions, "", give_up=timedelta(minutes=5)),
                           lambda fn: succeed(fn()), http, clock, interval=2)
    sender.startService()
    for _ in range(200):
        clock.advance(2)
    # 5 s, 30 s, 2 min, then the next (10 min) is beyond 5 min: failed; task.done follows.
    assert http.events() == ["call.ended"] * 4 + ["task.done"] * (len(http.requests) - 4)
    assert _statuses(sessions)[0] == ("failed", 4)
    sender.stopService()
    with sessions() as s:
        first = s.scalar(select(m.WebhookDelivery.id).order_by(m.WebhookDelivery.id))
        assert retry_now(s, first, at(400)) and not retry_now(s, first, at(400))
        s.commit()
    http.answers = []
    sender.startService()
    assert _statuses(sessions)[0] == ("delivered", 5)
    sender.stopService()
    assert clock.getDelayedCalls() == []


def test_the_secret_is_not_in_a_job_repr_nor_logged(sessions):
    from twisted.logger import capturedLogs

    hook = _hook(sessions)
    _emit(sessions, "call.ended")
    clock = Clock()
    clock.advance(T0.timestamp())
    with sessions() as s:
        secret = s.get(m.Webhook, hook).secret
        jobs = WebhookStore(sessions, "").next_jobs(T0, frozenset())
    assert secret not in repr(jobs)
    with capturedLogs() as events:
        sender = _sender(sessions, FakeHttp(500), clock)
        sender.startService()
        sender.stopService()
    assert events and not any(secret in repr(e) for e in events)
