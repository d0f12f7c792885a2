"""The running daemon's ``GET /metrics`` against the real lab (issue 16): the page parses
with Prometheus's own text parser, and one real inbound call, answered by a phone that
then hangs up, moves exactly the figures it should."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.conftest import TEST_API_PORT, TEST_API_TOKEN, running_daemon

pytestmark = pytest.mark.lab

CALLER = "+79165550101"  # no card: the department's group rings
NUMBER = "+74951110001"
METRICS = f"http://127.0.0.1:{TEST_API_PORT}/metrics"
ENDED = ("pbx_crm_calls_ended_total", (("direction", "inbound"), ("outcome", "answered")))
PLANNED = ("pbx_crm_routing_decision_seconds_count", (("result", "planned"),))
IN_PROGRESS = ("pbx_crm_calls_in_progress", (("direction", "inbound"),))
ARI_REQUESTS = ("pbx_crm_ari_requests_total", ())
ARI_SECONDS = ("pbx_crm_ari_request_seconds_count", ())


def seed(url: str) -> None:
    """Sales (+74951110001) with Anna on phone 101."""
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        sales = m.Department(name="Sales", group_timeout=10)
        s.add(sales)
        s.flush()
        s.add(m.Employee(full_name="Anna", login="anna", sip_endpoint="101", department_id=sales.id))
        s.add(m.TrackingNumber(number=NUMBER, department_id=sales.id))
        s.add(m.Setting(key="default_department_id", value=str(sales.id)))
        s.commit()
    engine.dispose()


def scrape(token: str = TEST_API_TOKEN) -> tuple[dict, set[str]]:
    """GET /metrics as Prometheus does (bearer token): ({(sample, sorted labels): value},
    the family names), parsed by prometheus_client's own text parser."""
    request = urllib.request.Request(METRICS, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode("utf-8")
    families = list(text_string_to_metric_families(text))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}
    return samples, {f.name for f in families}


def _stored(url: str):
    with db.make_session_factory(db.make_engine(url))() as s:
        call = s.scalar(select(m.Call).where(m.Call.caller == CALLER))
        return (call.outcome, call.answered_by.login if call.answered_by else None) \
            if call is not None and call.ended_at is not None else None


@pytest.fixture
def daemon(fresh_lab: Lab, tmp_path):
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    with running_daemon(fresh_lab, tmp_path, url):
        yield fresh_lab, url


def test_metrics_parse_and_one_answered_inbound_call_moves_them(daemon):
    lab, url = daemon
    with pytest.raises(urllib.error.HTTPError) as refused:
        scrape(token="wrong-token-0123456789")
    assert refused.value.code == 401

    before, families = scrape()
    assert {"pbx_crm_calls_ended", "pbx_crm_routing_decision_seconds", "pbx_crm_calls_in_progress",
            "pbx_crm_ari_connected", "pbx_crm_ari_requests", "pbx_crm_ari_request_seconds",
            "pbx_crm_store_writes_waiting"} <= families
    assert before[("pbx_crm_ari_connected", ())] == 1
    assert before[IN_PROGRESS] == 0
    assert before.get(ENDED, 0) == 0

    lab.set_phone("101", "answer:1:2")  # answers after 1 s, hangs up 2 s later
    start = time.time()
    lab.call(CALLER, NUMBER, ring_timeout=20, hold=6)
    # While it rings and talks, the daemon holds it.
    lab.wait_for(lambda: scrape()[0][IN_PROGRESS] == 1, 10, "the call to be in progress")
    assert lab.wait_for(lambda: _stored(url), 25, "the call to be stored") == ("answered", "anna")
    rings = [r for r in lab.rings(start) if r.caller_num == CALLER]
    assert [r.target for r in rings] == ["101"] and rings[0].answered_at and rings[0].ended_at

    def settled():
        now, _ = scrape()
        return now if now[IN_PROGRESS] == 0 and now.get(ENDED, 0) > before.get(ENDED, 0) else None

    after = lab.wait_for(settled, 10, "the call to leave the daemon's figures")
    ended = {k: v for k, v in after.items() if k[0] == "pbx_crm_calls_ended_total"}
    assert ended == {ENDED: before.get(ENDED, 0) + 1}  # exactly one, inbound and answered
    assert after[PLANNED] == before.get(PLANNED, 0) + 1  # one route decided
    assert after[("pbx_crm_routing_decision_seconds_sum", (("result", "planned"),))] > 0
    assert after.get(("pbx_crm_routing_decision_seconds_count", (("result", "timeout"),)), 0) == 0
    assert all(v == 0 for k, v in after.items() if k[0] == "pbx_crm_calls_in_progress")
    # Answering, ringing and hanging up are ARI requests on the wire.
    assert after[ARI_REQUESTS] > before[ARI_REQUESTS]
    assert after[ARI_SECONDS] > before[ARI_SECONDS]
    assert after[("pbx_crm_ari_failures_total", ())] == before[("pbx_crm_ari_failures_total", ())]
