"""The daemon's /metrics (in memory through the API resource, a Clock, fakes; no sockets)
and ``pbx-crm status`` against a stubbed fetch."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from treq.testing import StubTreq
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from pbx_daemon.config import load_config
from pbx_daemon.console import Console
from pbx_daemon.telephony.api import ApiResource
from pbx_daemon.telephony.api_client import ClickToCallError
from pbx_daemon.telephony.ari.control import AriCallControl
from pbx_daemon.telephony.ari.rest import AriRest
from pbx_daemon.telephony.commands import cmd_status
from pbx_daemon.telephony.metrics import DaemonMetrics
from pbx_daemon.telephony.outputs.call_events import CallEvents
from pbx_daemon.telephony.outputs.screen_pop import RedisPublisher
from pbx_daemon.telephony.outputs.store import WriteQueue
from pbx_daemon.telephony.reconcile import Summary
from pbx_daemon.telephony.reconcile_service import ReconcileService
from pbx_daemon.telephony.routing.deadline import plan_within
from pbx_daemon.telephony.routing.policy import Caller, StepTimeouts
from pbx_daemon.telephony.stasis import StasisApp
from pbx_daemon.telephony.status import summarise
from pbx_daemon.testing import MemoryRecorder
from tests.unit.test_stasis import DIRECTORY, FakeRest, destroyed, stasis_start

TOKEN = "test-token-0123456789abcdef"
URL = "http://127.0.0.1:8091"
TIMEOUTS = StepTimeouts(10, 15, 15, 20)


class NullNotifier:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def scrape(metrics, token=TOKEN):
    """(status, content type, body) of GET /metrics through the API resource."""
    treq = StubTreq(ApiResource(TOKEN, app=None, prepare=None, metrics=metrics))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out = []
    d = treq.get(URL + "/metrics", headers=headers)
    d.addCallback(lambda r: r.content().addCallback(
        lambda body: out.append((r.code, r.headers.getRawHeaders("content-type")[0], body))))
    treq.flush()
    return out[0]


def samples(metrics) -> dict:
    """{(sample name, sorted labels): value} of a scrape, parsed as Prometheus would."""
    status, _, body = scrape(metrics)
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples}


def test_metrics_need_the_api_token_as_a_bearer_token():
    metrics = DaemonMetrics(Clock())
    assert scrape(metrics, token=None)[0] == 401
    assert scrape(metrics, token="wrong")[0] == 401
    status, content_type, body = scrape(metrics)
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    assert b"pbx_crm_calls_ended_total" in body or b"pbx_crm_calls_ended" in body


def test_without_metrics_the_path_is_unknown():
    assert scrape(None)[0] == 404


def test_an_inbound_call_moves_the_call_gauge_the_routing_histogram_and_the_outcome_counter():
    clock, rest = Clock(), FakeRest()
    metrics = DaemonMetrics(clock)
    lookup_done = Deferred()
    app = StasisApp(app="pbx-crm", rest=rest, control=AriCallControl(rest, "pbx-crm"),
                    recorder=CallEvents(MemoryRecorder(), NullNotifier(), metrics), clock=clock,
                    lookup=lambda *args: lookup_done, timeouts=TIMEOUTS, deadline=0.5,
                    observe_routing=metrics.routing_decided)
    metrics.watch(app=app)
    app.on_event(stasis_start("c1", "inbound", "+74951110001"))
    clock.advance(0.2)
    lookup_done.callback((Caller("+79161234567", owner_id=1), DIRECTORY))
    now = samples(metrics)
    assert now[("pbx_crm_calls_in_progress", (("direction", "inbound"),))] == 1
    assert now[("pbx_crm_routing_decision_seconds_count", (("result", "planned"),))] == 1
    assert now[("pbx_crm_routing_decision_seconds_sum", (("result", "planned"),))] == pytest.approx(0.2)

    app.on_event(destroyed("c1"))  # the caller gives up while the owner's phone rings
    after = samples(metrics)
    assert after[("pbx_crm_calls_in_progress", (("direction", "inbound"),))] == 0
    assert after[("pbx_crm_calls_ended_total", (("direction", "inbound"), ("outcome", "missed")))] == 1


def test_a_lookup_past_its_deadline_is_observed_as_a_timeout():
    clock, seen = Clock(), []
    d = plan_within(lambda *args: Deferred(), clock, 0.5, TIMEOUTS, "+7916", "+7495", frozenset(),
                    lambda seconds, result: seen.append((seconds, result)))
    d.addErrback(lambda f: None)
    clock.advance(0.5)
    assert seen == [(0.5, "timeout")]


def test_ari_requests_retries_and_failures_come_from_the_rest_client(monkeypatch):
    monkeypatch.setattr("treq.content", lambda response: response.content())

    class Response:
        def __init__(self, code):
            self.code = code

        def content(self):
            return succeed(b'{"message": "x"}' if self.code >= 400 else b"")

    class Http:
        codes = [500, 204, 500]

        def request(self, method, url, **kwargs):
            return succeed(Response(self.codes.pop(0)))

    clock = Clock()
    metrics = DaemonMetrics(clock)
    rest = AriRest("http://127.0.0.1:8088/", "u", "p", http=Http(), reactor=clock,
                   observe=metrics.ari_request_took)
    metrics.watch(rest=rest)
    rest.request("DELETE", "/channels/leg-1")  # 500, then retried: 204
    clock.advance(0.1)
    rest.request("POST", "/channels").addErrback(lambda f: None)  # an originate: never repeated
    got = samples(metrics)
    assert got[("pbx_crm_ari_requests_total", ())] == 3
    assert got[("pbx_crm_ari_retries_total", ())] == 1
    assert got[("pbx_crm_ari_failures_total", ())] == 0  # a 500 answer on a POST is an answer
    assert got[("pbx_crm_ari_requests_in_flight", ())] == 0
    assert got[("pbx_crm_ari_request_seconds_count", ())] == 3


def test_store_queue_reconcile_lag_and_screen_pop_outages(tmp_path: Path):
    clock = Clock()
    metrics = DaemonMetrics(clock)
    queue = WriteQueue(lambda job: Deferred(), clock)  # the database never answers
    queue.put("call_started", "c1", lambda: None)
    queue.put("call_ended", "c1", lambda: None)

    class Reconciler:
        cel_log = tmp_path / "cel.json"

        def run(self, now, live_call_ids, should_stop):
            return Summary(0, 0, 0, 0)

    Reconciler.cel_log.write_text("")
    reconcile = ReconcileService(clock, Reconciler(), interval=0, live_call_ids=frozenset,
                                 to_thread=lambda fn: succeed(fn()))

    class DeadRedis:
        def publish(self, channel, message):
            return Deferred()

    publisher = RedisPublisher("redis://127.0.0.1:6379/0", clock, timeout=0.5,
                               connect=DeadRedis)
    publisher.startService()
    metrics.watch(queue=queue, reconcile=reconcile, publisher=publisher)
    assert ("pbx_crm_reconcile_lag_seconds", ()) not in samples(metrics)  # no run yet

    clock.advance(100)
    reconcile.run_once()
    publisher.publish("a", "{}")
    clock.advance(0.5)  # no reply: Redis is declared down
    publisher.publish("a", "{}")  # dropped
    clock.advance(30)
    got = samples(metrics)
    assert got[("pbx_crm_store_writes_waiting", ())] == 2
    assert got[("pbx_crm_reconcile_lag_seconds", ())] == 30.5
    assert got[("pbx_crm_reconcile_runs_total", ())] == 1
    assert got[("pbx_crm_screen_pop_redis_up", ())] == 0
    assert got[("pbx_crm_screen_pop_outages_total", ())] == 1
    assert got[("pbx_crm_screen_pop_dropped_total", ())] == 2


# ---- pbx-crm status -----------------------------------------------------------------------
def config():
    return load_config(None, {"PBX_CRM_API_TOKEN": TOKEN})


def console():
    return Console(out=io.StringIO(), err=io.StringIO(), stdin=io.StringIO())


def test_status_prints_the_key_figures_of_the_running_daemon():
    metrics = DaemonMetrics(Clock())
    metrics.call_ended("inbound", "answered")
    metrics.call_ended("inbound", "answered")
    metrics.call_ended("inbound", "missed")
    metrics.routing_decided(0.012, "planned")
    metrics.routing_decided(0.5, "timeout")
    asked = []

    def fetch(url, token):
        asked.append((url, token))
        return metrics.render().decode()

    c = console()
    assert cmd_status(None, config(), c, fetch=fetch) == 0
    assert asked == [("http://127.0.0.1:8091", TOKEN)]
    out = c.out.getvalue().splitlines()
    assert out[0] == "pbx-crm daemon at http://127.0.0.1:8091"
    assert "calls ended 3 since start (2 answered, 1 missed)" in out
    assert "routing     2 decisions, mean 256 ms, 1 timed out (fallback rang), 0 failed" in out
    assert "ARI         ?; ? requests, ? retries, ? failed, ? in flight" in out  # not watched
    assert len(out) <= 12


def test_status_says_in_one_line_when_the_daemon_is_not_reachable():
    def fetch(url, token):
        raise ClickToCallError(503, f"the daemon's API at {url} is not reachable (refused)")

    c = console()
    assert cmd_status(None, config(), c, fetch=fetch) == 1
    assert c.out.getvalue() == ""
    assert c.err.getvalue() == ("pbx-crm: daemon not reachable: the daemon's API at "
                                "http://127.0.0.1:8091 is not reachable (refused)\n")


def test_summary_of_a_whole_daemon_page():
    clock, rest = Clock(), FakeRest()
    metrics = DaemonMetrics(clock)
    app = StasisApp(app="pbx-crm", rest=rest, control=AriCallControl(rest, "pbx-crm"),
                    recorder=MemoryRecorder(), clock=clock, lookup=lambda *a: Deferred(),
                    timeouts=TIMEOUTS, deadline=0.5)
    metrics.watch(app=app)
    lines = summarise(metrics.render().decode())
    assert "calls now   0 inbound, 0 click-to-call, 0 desk phone, 0 adopted" in lines
    assert "routing     no decisions yet" in lines
    assert "reconcile   no run finished yet (? runs)" in lines


def test_the_daemon_wires_every_part_into_its_metrics(tmp_path: Path):
    """make_service (built, not started): one scrape names every figure the README lists."""
    from twisted.internet.testing import MemoryReactorClock

    from pbx_daemon.service import make_service

    cfg = load_config(None, {"PBX_CRM_API_TOKEN": TOKEN, "PBX_CRM_ARI_PASSWORD": "Ari-Password-0123",
                             "PBX_CRM_DATABASE_URL": f"sqlite:///{tmp_path}/pbx.sqlite3"})
    root = make_service(cfg, MemoryReactorClock())
    root.metrics.call_ended("inbound", "answered")
    root.metrics.routing_decided(0.01, "planned")
    names = {name for name, _ in samples(root.metrics)}
    assert names >= {
        "pbx_crm_calls_in_progress", "pbx_crm_calls_ended_total",
        "pbx_crm_routing_decision_seconds_count", "pbx_crm_routing_decision_seconds_bucket",
        "pbx_crm_ari_connected", "pbx_crm_ari_requests_total", "pbx_crm_ari_retries_total",
        "pbx_crm_ari_failures_total", "pbx_crm_ari_requests_in_flight",
        "pbx_crm_ari_request_seconds_count",
        "pbx_crm_store_writes_waiting", "pbx_crm_store_retries_total",
        "pbx_crm_store_dropped_total", "pbx_crm_store_batches_total",
        "pbx_crm_reconcile_runs_total", "pbx_crm_screen_pop_redis_up",
        "pbx_crm_screen_pop_outages_total", "pbx_crm_screen_pop_dropped_total",
        "pbx_crm_webhook_events_pruned_total", "pbx_crm_webhook_deliveries_pruned_total",
        "pbx_crm_tasks_escalated_total", "pbx_crm_mails_total"}
    # The webhook sender prunes after webhooks.keep_days and counts it there.
    assert (root.webhooks.keep_days, root.webhooks.pruned) == (30, root.metrics.webhooks_pruned)
