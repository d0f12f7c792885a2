"""The ARI REST client under trouble (Clock, a scripted fake HTTP client, no sockets):
bounded requests in flight, timeouts, retries with backoff only for commands that are
safe to repeat, 4xx never retried."""

from __future__ import annotations

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock

from pbx_daemon.telephony.ari.rest import AriError, AriRest, backoff


class Response:
    def __init__(self, code, body=b""):
        self.code = code
        self.body = body

    def content(self):
        return succeed(self.body)


class ScriptedHttp:
    """Answers each request with the next scripted outcome: a status code, an exception,
    or None (never answers until the test fires it)."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.sent = []
        self.pending: list[Deferred] = []

    def request(self, method, url, **kwargs):
        self.sent.append((method, url))
        outcome = self.outcomes.pop(0) if self.outcomes else 204
        if outcome is None:
            d = Deferred()
            self.pending.append(d)
            return d
        if isinstance(outcome, Exception):
            return fail(outcome)
        return succeed(Response(outcome, b'{"message": "x"}' if outcome >= 400 else b""))


def rest(http, clock, **kw):
    return AriRest("http://127.0.0.1:8088/", "u", "p", http=http, reactor=clock, **kw)


def outcome(d):
    out = []
    d.addBoth(out.append)
    return out


def content_of(response):
    # treq.content() reads through the response's protocol; the fake has none.
    return response.content()


def test_backoff_doubles_and_is_capped():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.4, 0.8]
    assert backoff(30) == 5.0


def test_a_hang_up_that_fails_is_retried_until_it_goes_through(monkeypatch):
    monkeypatch.setattr("treq.content", content_of)
    clock, http = Clock(), ScriptedHttp(500, ConnectionRefusedError(), 204)
    client = rest(http, clock)
    out = outcome(client.request("DELETE", "/channels/leg-1"))
    assert out == [] and len(http.sent) == 1
    clock.advance(0.1)
    assert len(http.sent) == 2 and out == []
    clock.advance(0.2)
    assert len(http.sent) == 3 and out == [None]
    assert client.requests == 3 and client.retries == 2 and client.failures == 0


def test_a_gone_channel_is_an_answer_not_retried(monkeypatch):
    monkeypatch.setattr("treq.content", content_of)
    clock, http = Clock(), ScriptedHttp(404)
    out = outcome(rest(http, clock).request("DELETE", "/channels/gone"))
    assert out[0].check(AriError) and out[0].value.status == 404
    assert len(http.sent) == 1 and not clock.getDelayedCalls()


def test_an_originate_is_never_repeated(monkeypatch):
    monkeypatch.setattr("treq.content", content_of)
    clock, http = Clock(), ScriptedHttp(500)
    out = outcome(rest(http, clock).request("POST", "/channels", {"endpoint": "PJSIP/101"}))
    assert out[0].check(AriError) and len(http.sent) == 1
    clock.advance(10)
    assert len(http.sent) == 1


def test_a_post_marked_safe_is_retried(monkeypatch):
    monkeypatch.setattr("treq.content", content_of)
    clock, http = Clock(), ScriptedHttp(503, 204)
    out = outcome(rest(http, clock).continue_in_dialplan("c1", "ctx", "s"))
    clock.advance(0.1)
    assert out == [None] and len(http.sent) == 2


def test_retrying_gives_up_after_retry_for_seconds(monkeypatch):
    monkeypatch.setattr("treq.content", content_of)
    clock = Clock()
    http = ScriptedHttp(*[ConnectionRefusedError()] * 100)
    client = rest(http, clock, retry_for=3.0)
    out = outcome(client.request("DELETE", "/bridges/br-1"))
    for _ in range(60):
        clock.advance(0.5)
    assert out and out[0].check(ConnectionRefusedError)
    assert client.failures == 1 and not clock.getDelayedCalls()
    assert 5 <= len(http.sent) <= 10  # 0.1, 0.2, 0.4, 0.8, 1.6 s apart


def test_a_request_without_an_answer_times_out_and_is_retried(monkeypatch):
    monkeypatch.setattr("treq.content", content_of)
    clock, http = Clock(), ScriptedHttp(None, 204)
    client = rest(http, clock, timeout=5.0)
    out = outcome(client.request("DELETE", "/channels/leg-1"))
    clock.advance(5.0)  # the first attempt times out (and is cancelled)
    assert http.pending[0].called
    clock.advance(0.1)
    assert out == [None] and len(http.sent) == 2


def test_no_more_than_max_in_flight_on_the_wire_the_rest_wait_in_order(monkeypatch):
    monkeypatch.setattr("treq.content", content_of)
    clock, http = Clock(), ScriptedHttp(*[None] * 5)
    client = rest(http, clock, max_in_flight=3)
    results = [outcome(client.request("DELETE", f"/channels/leg-{n}")) for n in range(5)]
    assert [url[-5:] for _, url in http.sent] == ["leg-0", "leg-1", "leg-2"]
    assert client.in_flight == 3
    http.pending[0].callback(Response(204))
    assert [url[-5:] for _, url in http.sent] == ["leg-0", "leg-1", "leg-2", "leg-3"]
    while any(not d.called for d in http.pending):
        next(d for d in http.pending if not d.called).callback(Response(204))
    assert len(http.sent) == 5
    assert all(r == [None] for r in results) and client.in_flight == 0


def test_stopping_ends_retries_at_once(monkeypatch):
    monkeypatch.setattr("treq.content", content_of)
    clock, http = Clock(), ScriptedHttp(500, 500, 500)
    client = rest(http, clock)
    out = outcome(client.request("DELETE", "/channels/leg-1"))
    client.close()
    clock.advance(0.1)
    assert len(http.sent) == 2 and out and out[0].check(AriError)


def test_what_is_safe_to_repeat(monkeypatch):
    """Answer, continue, variable, ring, transfer progress, addChannel: repeated; a new
    bridge, a recording or DTMF: never (a late second one would act twice)."""
    monkeypatch.setattr("treq.content", content_of)
    for path, repeated in (("/channels/c/answer", True), ("/channels/c/continue", True),
                           ("/bridges/br/addChannel", True), ("/channels/c/transfer_progress", True),
                           ("/bridges", False), ("/bridges/br/record", False),
                           ("/channels/c/dtmf", False)):
        clock, http = Clock(), ScriptedHttp(502, 204)
        out = outcome(rest(http, clock).request("POST", path))
        clock.advance(0.1)
        assert (out == [None]) is repeated, path


def test_without_a_client_it_builds_its_own_persistent_pool():
    client = AriRest("http://127.0.0.1:8088/", "u", "p", reactor=Clock(), max_in_flight=7)
    assert client.pool.persistent and client.pool.maxPersistentPerHost == 7
    assert hasattr(client.http, "request")
