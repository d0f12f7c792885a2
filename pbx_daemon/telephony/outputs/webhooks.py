"""The daemon's webhook sender: every ``interval`` seconds (and at once after a delivery
went through) it fans new events out and POSTs each webhook's due head delivery; once an
hour it deletes the events older than ``keep_days`` that nobody will send again
(:mod:`pbx_daemon.crm.webhooks.retention`).

Wire protocol (one POST per delivery, no redirects followed, ``timeout`` seconds for the
whole exchange)::

    POST <webhook url>
    Content-Type: application/json
    X-PbxCrm-Event: call.ended
    X-PbxCrm-Delivery: 1234              (webhook_deliveries.id; the same on every retry)
    X-PbxCrm-Timestamp: 1764590000       (Unix seconds of this attempt)
    X-PbxCrm-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

    {"id": <event id>, "event": "call.ended", "created_at": "...", "data": {...}}

Any 2xx answer is a delivery; anything else is retried (:mod:`.delivery`). Delivery is at
least once: a daemon stopped during a POST sends it again after the restart (receivers
deduplicate by the event id).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from pbx_daemon.crm.webhooks.delivery import TIMEOUT, sign
from pbx_daemon.crm.webhooks.retention import PRUNE_EVERY, prune_due
from pbx_daemon.crm.webhooks.store import Job, Pruned

log = Logger(namespace="pbx_daemon.webhooks")


def treq_post(reactor, timeout: float = TIMEOUT) -> Callable[[str, dict, bytes], Deferred]:
    """``post(url, headers, body)`` -> Deferred status code, with treq on a
    non-persistent pool (nothing left open when the daemon stops); the answer's body is
    read and dropped."""
    import treq
    from treq.client import HTTPClient
    from twisted.web.client import Agent, HTTPConnectionPool

    client = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False),
                              connectTimeout=timeout))

    def post(url: str, headers: dict, body: bytes) -> Deferred:
        d = client.request("POST", url, data=body, headers=headers, allow_redirects=False)
        d.addCallback(lambda response: treq.collect(response, lambda chunk: None)
                      .addCallback(lambda _: response.code))
        d.addTimeout(timeout, reactor)
        return d

    return post


class WebhookSender(Service):
    """``run(fn)``: ``fn`` in a thread -> Deferred; ``store``: a
    :class:`~.store.WebhookStore`; ``post(url, headers, body)`` -> Deferred status code;
    ``keep_days``: delete older events (0: never), every ``prune_every`` seconds, telling
    ``pruned(Pruned)`` (the metrics) what went."""

    def __init__(self, store, run: Callable, post: Callable, clock, interval: float = 2.0, *,
                 keep_days: int = 0, prune_every: float = PRUNE_EVERY,
                 pruned: Callable[[Pruned], None] | None = None):
        self.store = store
        self.run = run
        self.post = post
        self.clock = clock
        self.interval = interval
        self.keep_days = keep_days
        self.prune_every = prune_every
        self.pruned = pruned
        self.pruning = False
        self.pruned_at: float | None = None  # clock seconds of the last prune's start
        self.busy: set[int] = set()  # webhooks with a POST in flight
        self.in_flight: set[Deferred] = set()
        self.ticking = False
        self.again = False
        self.loop: LoopingCall | None = None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), timezone.utc)

    def startService(self):
        super().startService()
        self.loop = LoopingCall(self.tick)
        self.loop.clock = self.clock
        self.loop.start(self.interval, now=True)

    def stopService(self):
        super().stopService()
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        for d in list(self.in_flight):
            d.cancel()  # not recorded: sent again after the restart

    def tick(self) -> Deferred | None:
        """Fan out and send what is due (one tick at a time; a tick asked for meanwhile
        runs right after); prune old events when it is time."""
        if self.keep_days and not self.pruning and prune_due(self.pruned_at, self.clock.seconds(),
                                                             self.prune_every):
            self._prune()
        if self.ticking:
            self.again = True
            return None
        self.ticking, self.again = True, False
        d = self.run(lambda: self.store.next_jobs(self._now(), frozenset(self.busy)))
        d.addCallback(lambda jobs: [self._send(job) for job in jobs])
        d.addErrback(lambda f: log.failure("webhooks: reading the queue", f))

        def done(_):
            self.ticking = False
            if self.again and self.running:
                self.tick()
        d.addBoth(done)
        return None  # the loop keeps its pace; it never waits for a slow receiver

    def _prune(self) -> None:
        self.pruning, self.pruned_at = True, self.clock.seconds()
        now, keep_days = self._now(), self.keep_days
        d = self.run(lambda: self.store.prune(now, keep_days))
        d.addCallback(self._pruned, keep_days)
        d.addErrback(lambda f: log.failure("webhooks: deleting old events", f))

        def done(_):
            self.pruning = False
        d.addBoth(done)

    def _pruned(self, p: Pruned, keep_days: int) -> None:
        emit = log.info if p.events or p.deliveries else log.debug
        emit("webhooks: deleted {events} events and {deliveries} deliveries older than "
             "{keep_days} days ({batches} batches{more})", events=p.events,
             deliveries=p.deliveries, keep_days=keep_days, batches=p.batches,
             more="; more left for the next run" if p.more else "")
        if self.pruned is not None:
            self.pruned(p)

    def _send(self, job: Job) -> None:
        self.busy.add(job.webhook_id)
        timestamp = int(self.clock.seconds())
        headers = {"Content-Type": ["application/json"], "User-Agent": ["pbx-crm"],
                   "X-PbxCrm-Event": [job.kind], "X-PbxCrm-Delivery": [str(job.delivery_id)],
                   "X-PbxCrm-Timestamp": [str(timestamp)],
                   "X-PbxCrm-Signature": [sign(job.secret, timestamp, job.body)]}
        d = maybeDeferred(self.post, job.url, headers, job.body)
        self.in_flight.add(d)

        def answered(code):
            return code, None if 200 <= code < 300 else f"HTTP {code}"

        def failed(f):
            return None, f"{f.type.__name__}: {f.getErrorMessage()}"

        d.addCallbacks(answered, failed)

        def recorded(result):
            self.in_flight.discard(d)
            if not self.running:
                self.busy.discard(job.webhook_id)
                return None
            code, error = result
            now = self._now()
            r = self.run(lambda: self.store.record(job.delivery_id, code, error, now))

            def stored(outcome):
                self.busy.discard(job.webhook_id)
                self._recorded(job, outcome, code, error)

            def not_stored(f):
                self.busy.discard(job.webhook_id)
                log.failure("webhooks: recording delivery {delivery}", f, delivery=job.delivery_id)
            r.addCallbacks(stored, not_stored)
            return r
        d.addCallback(recorded)

    def _recorded(self, job: Job, outcome, code, error) -> None:
        if outcome is None:
            return
        if outcome.status == "delivered":
            log.debug("webhook {webhook}: {kind} delivered (delivery {delivery})",
                      webhook=job.webhook_id, kind=job.kind, delivery=job.delivery_id)
            if self.running:
                self.tick()  # the next event of this webhook at once
        elif outcome.status == "failed":
            log.error("webhook {webhook}: gave up on {kind} (delivery {delivery}): {error}",
                      webhook=job.webhook_id, kind=job.kind, delivery=job.delivery_id,
                      error=error)
        else:
            log.warn("webhook {webhook}: {kind} not delivered ({error}); again at {at}",
                     webhook=job.webhook_id, kind=job.kind, delivery=job.delivery_id,
                     error=error, at=outcome.next_attempt_at.isoformat())
