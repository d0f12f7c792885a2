"""The daemon's HTTP API over StubTreq (in memory): token, validation, click-to-call."""

from __future__ import annotations

import json

import pytest
from treq.testing import StubTreq
from twisted.internet.defer import fail, succeed

from pbx_daemon.telephony.api import ApiResource
from pbx_daemon.telephony.api_client import ClickToCallError
from pbx_daemon.telephony.calls.outbound import ClickToCallRequest

TOKEN = "test-token-0123456789abcdef"
URL = "http://127.0.0.1:8091"


class FakeApp:
    connected = True

    def __init__(self):
        self.started = []

    def click_to_call(self, request):
        if not self.connected:
            raise ClickToCallError(503, "not connected")
        self.started.append(request)
        return "c2c-0001"

    def call_state(self, call_id):
        return {"call_id": call_id, "state": "connected", "outcome": None} \
            if call_id == "c2c-0001" else None


def prepare(body):
    if body.get("number") == "bad":
        return fail(ClickToCallError(400, "phone number 'bad' contains letters or symbols"))
    return succeed(ClickToCallRequest(1, "101", "+79161234567"))


@pytest.fixture
def api():
    app = FakeApp()
    return StubTreq(ApiResource(TOKEN, app, prepare)), app


def call(treq, method, path, body=None, token=TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    d = treq.request(method, URL + path, headers=headers,
                     data=json.dumps(body).encode() if body is not None else None)
    results = []
    d.addCallback(lambda r: r.content().addCallback(lambda c: results.append((r.code, json.loads(c)))))
    treq.flush()
    return results[0]


def test_a_wrong_or_missing_token_gets_401_and_rings_nothing(api):
    treq, app = api
    assert call(treq, "POST", "/v1/click-to-call", {"employee": 1, "number": "+79161234567"},
                token="wrong")[0] == 401
    assert call(treq, "POST", "/v1/click-to-call", {"employee": 1, "number": "+7"}, token=None)[0] == 401
    assert app.started == []


def test_click_to_call_starts_and_reports_its_id(api):
    treq, app = api
    code, body = call(treq, "POST", "/v1/click-to-call", {"employee": 1, "number": "+79161234567"})
    assert code == 202 and body["call_id"] == "c2c-0001" and body["number"] == "+79161234567"
    assert len(app.started) == 1
    assert call(treq, "GET", "/v1/calls/c2c-0001")[1]["state"] == "connected"
    assert call(treq, "GET", "/v1/calls/nope")[0] == 404


def test_refusals_carry_the_reason(api):
    treq, app = api
    code, body = call(treq, "POST", "/v1/click-to-call", {"employee": 1, "number": "bad"})
    assert code == 400 and "letters" in body["error"]
    app.connected = False
    code, body = call(treq, "POST", "/v1/click-to-call", {"employee": 1, "number": "+79161234567"})
    assert code == 503
    assert app.started == []


@pytest.mark.parametrize("body", [[1, 2], {"employee": 1, "number": "1", "extra": 1}])
def test_malformed_bodies_get_400(api, body):
    treq, _ = api
    assert call(treq, "POST", "/v1/click-to-call", body)[0] == 400


def test_unknown_paths_and_methods(api):
    treq, _ = api
    assert call(treq, "GET", "/v1/click-to-call")[0] == 405
    assert call(treq, "GET", "/v2/whatever")[0] == 404
    assert call(treq, "GET", "/v1/health")[1] == {"ari": "connected"}
