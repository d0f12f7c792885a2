"""The daemon's Prometheus metrics, served by the HTTP API at ``GET /metrics``.

Two kinds of figures:

* pushed as they happen: a call ended (by direction and outcome), a route decided (seconds
  on the reactor's clock, by result), an ARI request answered (seconds on the wire), old
  webhook events deleted, an outbox e-mail tried (sent, retried or given up).
  :class:`DaemonMetrics` has one method for each;
* read at scrape time from the objects that already count: the ARI client
  (:class:`~pbx_daemon.telephony.ari.rest.AriRest`), the store's write queue, the Stasis
  application's calls, the reconcile service, the Redis publisher, the phones file sync. Nothing is copied, so
  nothing can drift.

Each :class:`DaemonMetrics` has a registry of its own (never prometheus_client's global
one): two daemons in one test process do not share a counter. The names (all ``pbx_crm_``)
are listed in the README's "Metrics" paragraph.
"""

from __future__ import annotations

from typing import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from twisted.internet.interfaces import IReactorTime

# Routing is bounded by routing.lookup_deadline_ms (default 1500 ms); a healthy lookup
# takes a few milliseconds.
ROUTING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0)
# ARI on loopback answers in about a millisecond; a request times out after 10 s.
ARI_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
# An outbox row's status after an attempt (pbx_daemon.crm.outbox.rules) -> the counter's label.
MAIL_RESULTS = {"sent": "sent", "pending": "retried", "failed": "failed"}


class DaemonMetrics:
    """The daemon's registry. ``watch(...)`` names the objects read at scrape time;
    ``clock`` gives the reconcile lag its "now"."""

    # What generate_latest writes (newer prometheus_client calls 1.0.0 "latest").
    content_type = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self, clock: IReactorTime):
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls_ended = Counter(
            "pbx_crm_calls_ended", "Calls the daemon saw end, by direction and outcome",
            ("direction", "outcome"), registry=self.registry)
        self.routing_seconds = Histogram(
            "pbx_crm_routing_decision_seconds",
            "Look-up and plan of an inbound call's route (Stasis and FastAGI), by result",
            ("result",), buckets=ROUTING_BUCKETS, registry=self.registry)
        self.ari_seconds = Histogram(
            "pbx_crm_ari_request_seconds",
            "Time on the wire of each ARI REST request (answer, error or timeout)",
            buckets=ARI_BUCKETS, registry=self.registry)
        self.tasks_escalated = Counter(
            "pbx_crm_tasks_escalated", "Overdue missed-call tasks escalated to a department head",
            registry=self.registry)
        self.mails = Counter(
            "pbx_crm_mails", "Attempts at sending the outbox's e-mails, by kind and result "
            "(sent, retried: failed and tried again later, failed: given up)",
            ("kind", "result"), registry=self.registry)
        for result in MAIL_RESULTS.values():  # each series from the start, at 0
            self.mails.labels("escalation", result)
        self.webhook_events_pruned = Counter(
            "pbx_crm_webhook_events_pruned", "Old webhook events deleted (webhooks.keep_days)",
            registry=self.registry)
        self.webhook_deliveries_pruned = Counter(
            "pbx_crm_webhook_deliveries_pruned", "Deliveries deleted with the old webhook events",
            registry=self.registry)
        self._watched = _Watched(clock)
        self.registry.register(self._watched)

    # ---- pushed ------------------------------------------------------------------------
    def call_ended(self, direction: str, outcome: str | None) -> None:
        self.calls_ended.labels(direction, outcome or "unknown").inc()

    def task_escalated(self) -> None:
        self.tasks_escalated.inc()

    def mail_attempted(self, kind: str, status: str) -> None:
        """An outbox e-mail tried; ``status``: ``sent``, ``pending`` (tried again later)
        or ``failed`` (given up)."""
        self.mails.labels(kind, MAIL_RESULTS[status]).inc()

    def webhooks_pruned(self, pruned) -> None:
        """``pruned``: a :class:`~pbx_daemon.crm.webhooks.store.Pruned`."""
        self.webhook_events_pruned.inc(pruned.events)
        self.webhook_deliveries_pruned.inc(pruned.deliveries)

    def routing_decided(self, seconds: float, result: str) -> None:
        """``result``: ``planned``, ``timeout`` (the deadline rang the fallback) or ``error``."""
        self.routing_seconds.labels(result).observe(max(seconds, 0.0))

    def ari_request_took(self, seconds: float) -> None:
        self.ari_seconds.observe(max(seconds, 0.0))

    # ---- read at scrape time -------------------------------------------------------------
    def watch(self, *, rest=None, queue=None, app=None, reconcile=None, publisher=None,
              phones=None) -> None:
        """The objects whose own counters ``/metrics`` reads (any may be left out)."""
        w = self._watched
        w.rest, w.queue, w.app, w.reconcile, w.publisher = rest, queue, app, reconcile, publisher
        w.phones = phones

    def render(self) -> bytes:
        """The Prometheus text exposition format (version 0.0.4)."""
        return generate_latest(self.registry)


class _Watched:
    """A custom collector: figures other objects keep, read when Prometheus scrapes."""

    def __init__(self, clock: IReactorTime):
        self.clock = clock
        self.rest = self.queue = self.app = self.reconcile = self.publisher = self.phones = None

    def describe(self) -> Iterable[Metric]:
        return []  # unchecked: which families exist depends on what is watched

    def collect(self) -> Iterable[Metric]:
        yield from self._calls()
        yield from self._ari()
        yield from self._store()
        yield from self._reconcile()
        yield from self._screen_pop()
        yield from self._phones()

    def _calls(self):
        app = self.app
        if app is None:
            return
        g = GaugeMetricFamily("pbx_crm_calls_in_progress",
                              "Calls the daemon holds right now, by direction", labels=("direction",))
        for direction, calls in (("inbound", app.calls), ("click_to_call", app.outbound.calls),
                                 ("desk_phone", app.phone.calls), ("adopted", app.adopted)):
            g.add_metric((direction,), len(calls))
        yield g
        yield GaugeMetricFamily("pbx_crm_ari_connected",
                                "1 while the ARI event stream is connected", value=int(app.connected))

    def _ari(self):
        rest = self.rest
        if rest is None:
            return
        yield _counter("pbx_crm_ari_requests", "ARI REST requests put on the wire (retries included)",
                       rest.requests)
        yield _counter("pbx_crm_ari_retries", "ARI REST requests that were repeats", rest.retries)
        yield _counter("pbx_crm_ari_failures", "ARI REST requests that failed for good",
                       rest.failures)
        yield GaugeMetricFamily("pbx_crm_ari_requests_in_flight",
                                "ARI REST requests on the wire now", value=rest.in_flight)

    def _store(self):
        queue = self.queue
        if queue is None:
            return
        yield GaugeMetricFamily("pbx_crm_store_writes_waiting",
                                "Call writes queued for the database (rising: it is away)",
                                value=len(queue.jobs))
        yield _counter("pbx_crm_store_retries", "Database writes retried", queue.retries)
        yield _counter("pbx_crm_store_dropped", "Database writes given up (reconcile completes "
                       "the call from CEL)", queue.dropped)
        yield _counter("pbx_crm_store_batches", "Batches of writes committed", queue.batches)

    def _reconcile(self):
        rec = self.reconcile
        if rec is None:
            return
        yield _counter("pbx_crm_reconcile_runs", "Reconcile runs that finished", rec.runs)
        if rec.last_success is not None:
            yield GaugeMetricFamily("pbx_crm_reconcile_last_success_timestamp_seconds",
                                    "When the last reconcile run finished (epoch seconds)",
                                    value=rec.last_success)
            yield GaugeMetricFamily("pbx_crm_reconcile_lag_seconds",
                                    "Seconds since the last reconcile run finished",
                                    value=max(self.clock.seconds() - rec.last_success, 0.0))

    def _screen_pop(self):
        pub = self.publisher
        if pub is None:
            return
        yield GaugeMetricFamily("pbx_crm_screen_pop_redis_up", "0 while Redis is declared down",
                                value=int(pub.down_since is None))
        yield _counter("pbx_crm_screen_pop_outages", "Times Redis was declared down", pub.outages)
        yield _counter("pbx_crm_screen_pop_dropped", "Screen-pop events dropped while Redis was "
                       "down", pub.dropped_total)

    def _phones(self):
        phones = self.phones
        if phones is None:
            return
        yield _counter("pbx_crm_phones_reloads", "PJSIP reloads after the phones file changed",
                       phones.reloads)
        yield _counter("pbx_crm_phones_reload_failures", "PJSIP reloads that failed (retried at "
                       "the next sync)", phones.reload_failures)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)

