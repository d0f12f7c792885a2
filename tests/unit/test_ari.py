"""ARI REST adapter and the daemon's hand-off, in memory (StubTreq, no sockets)."""

from __future__ import annotations

import json

from treq.testing import StubTreq
from twisted.web.resource import Resource

from pbx_daemon.telephony.ari.events import events_url
from pbx_daemon.telephony.ari.rest import AriError, AriRest


class FakeAri(Resource):
    """Answers like Asterisk's ARI for the few resources we call, and records requests."""

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.requests = []

    def render(self, request):
        self.requests.append((request.method.decode(), request.path.decode(),
                              {k.decode(): [x.decode() for x in v] for k, v in request.args.items()},
                              request.getHeader("authorization")))
        if request.path == b"/ari/asterisk/info":
            request.setHeader("content-type", "application/json")
            return json.dumps({"system": {"version": "22.10.1"}}).encode()
        if request.path == b"/ari/channels/gone/continue":
            request.setResponseCode(404)
            return json.dumps({"message": "Channel not found"}).encode()
        if request.path.endswith(b"/continue"):
            request.setResponseCode(204)
            return b""
        request.setResponseCode(500)
        return b"boom"


def _rest(fake):
    return AriRest("http://127.0.0.1:8088/", "pbx-crm", "pw-pw-pw-pw-pw", http=StubTreq(fake))


def _result(d):
    out = []
    d.addBoth(out.append)
    assert out, "deferred did not fire"
    return out[0]


def test_rest_sends_basic_auth_and_parses_json():
    fake = FakeAri()
    info = _result(_rest(fake).asterisk_info())
    assert info["system"]["version"] == "22.10.1"
    method, path, _args, auth = fake.requests[0]
    assert (method, path) == ("GET", "/ari/asterisk/info")
    assert auth == "Basic cGJ4LWNybTpwdy1wdy1wdy1wdy1wdw=="


def test_continue_passes_context_extension_priority():
    fake = FakeAri()
    assert _result(_rest(fake).continue_in_dialplan("c1", "ctx", "s")) is None
    assert fake.requests[0][:3] == ("POST", "/ari/channels/c1/continue",
                                     {"context": ["ctx"], "extension": ["s"], "priority": ["1"]})


def test_ari_errors_carry_status_and_message():
    failure = _result(_rest(FakeAri()).continue_in_dialplan("gone", "ctx", "s"))
    assert failure.check(AriError) and failure.value.status == 404
    assert "Channel not found" in str(failure.value)


def test_events_url_registers_only_our_app():
    assert events_url("http://127.0.0.1:8088/", "pbx-crm") == \
        "ws://127.0.0.1:8088/ari/events?app=pbx-crm&subscribeAll=false"
