"""The screen-pop stream without sockets: Flask-session authentication, one employee's
events only, Redis status changes, clean-up when the browser goes away."""

from __future__ import annotations

import json

from flask import Flask
from twisted.internet.defer import succeed
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from admin.stream import ScreenPopHub, StreamResource, flask_session_authenticator


def cookie_for(app, data):
    return app.session_interface.get_signing_serializer(app).dumps(data)


NONCES = {7: "n7", 8: "n8"}


def make(active=(7, 8), nonces=None, max_per_employee=5):
    app = Flask("t")
    app.secret_key = "k" * 40
    hub = ScreenPopHub(max_per_employee=max_per_employee)
    nonces = NONCES if nonces is None else nonces
    auth = flask_session_authenticator(
        app, lambda ids: succeed({i: nonces[i] for i in ids if i in active}))
    return app, hub, StreamResource(hub, auth)


def login(employee_id):
    return {"employee_id": employee_id, "nonce": NONCES[employee_id]}


class Request(DummyRequest):
    """DummyRequest with the cookie jar twisted.web.server.Request has."""

    def __init__(self, cookies):
        super().__init__([b""])
        self.cookies_in = cookies

    def getCookie(self, name):
        return self.cookies_in.get(name)


def open_stream(resource, app, data=None, raw=None):
    cookies = {}
    if data is not None or raw is not None:
        cookies[b"session"] = (raw or cookie_for(app, data)).encode()
    request = Request(cookies)
    request.path = b"/screen-pop/stream"
    assert resource.render_GET(request) == NOT_DONE_YET
    return request


def streaming(request) -> bool:
    return not request.finished and request.responseCode in (None, 200)


def body(request) -> str:
    return b"".join(request.written).decode()


def test_no_or_forged_session_or_inactive_employee_gets_401():
    app, hub, resource = make()
    for kwargs in ({}, {"raw": "forged.cookie.value"}, {"data": {"employee_id": 99, "nonce": "x"}},
                   {"data": {"employee_id": "7", "nonce": "n7"}}, {"data": {"employee_id": 7}},
                   {"data": {"employee_id": 7, "nonce": "an old session's"}}):
        request = open_stream(resource, app, **kwargs)
        assert request.responseCode == 401 and request.finished
    assert hub.clients == {}


def test_employee_gets_their_events_only_as_sse():
    app, hub, resource = make()
    anna = open_stream(resource, app, login(7))
    boris = open_stream(resource, app, login(8))
    assert anna.responseHeaders.getRawHeaders(b"content-type") == [b"text/event-stream; charset=utf-8"]
    # nginx passes each event on at once instead of filling its proxy buffer first.
    assert anna.responseHeaders.getRawHeaders(b"x-accel-buffering") == [b"no"]
    assert body(anna).startswith("retry: 2000\n\nevent: status\ndata: {\"redis\": \"reconnecting\"}")
    event = {"event": "ringing", "call_id": "c1", "name": "Ромашка"}
    hub.message(b"pbxcrm:screenpop:7", json.dumps(event, ensure_ascii=False).encode())
    hub.message("pbxcrm:screenpop:x", "{}")  # not an employee channel: ignored
    assert f"data: {json.dumps(event, ensure_ascii=False)}\n\n" in body(anna)
    assert "ringing" not in body(boris)


def test_redis_status_reaches_every_page_and_a_closed_page_is_forgotten():
    app, hub, resource = make()
    anna = open_stream(resource, app, login(7))
    hub.set_redis(True)
    assert body(anna).endswith('event: status\ndata: {"redis": "connected"}\n\n')
    hub.set_redis(False)
    assert body(anna).endswith('event: status\ndata: {"redis": "reconnecting"}\n\n')
    hub.ping()
    assert body(anna).endswith(": ping\n\n")
    anna.processingFailed(Exception("browser closed the tab"))
    assert hub.clients == {}


def test_a_deactivated_employees_open_stream_is_closed_on_the_next_check():
    app, hub, resource = make()
    anna = open_stream(resource, app, login(7))
    boris = open_stream(resource, app, login(8))
    hub.recheck(lambda ids: succeed({8: "n8"}))  # 7 was deactivated meanwhile
    assert anna.finished and not boris.finished
    assert list(hub.clients) == [8]


def test_a_cookie_older_than_flasks_session_lifetime_is_refused(monkeypatch):
    """The stream applies PERMANENT_SESSION_LIFETIME as Flask's own session loading does."""
    import time

    from itsdangerous import TimestampSigner

    app, hub, resource = make()
    app.permanent_session_lifetime = 3600
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 7200)
    old = cookie_for(app, login(7))
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
    assert open_stream(resource, app, raw=old).responseCode == 401
    assert streaming(open_stream(resource, app, login(7)))


def test_a_logged_out_session_is_refused_and_its_open_stream_closed():
    nonces = dict(NONCES)
    app, hub, resource = make(nonces=nonces)
    anna = open_stream(resource, app, login(7))
    nonces[7] = "after logout"
    assert open_stream(resource, app, login(7)).responseCode == 401
    hub.recheck(lambda ids: succeed({i: nonces[i] for i in ids}))
    assert anna.finished and hub.clients == {}


def test_one_employee_holds_at_most_max_streams_the_next_gets_429():
    app, hub, resource = make(max_per_employee=2)
    first, _second = open_stream(resource, app, login(7)), open_stream(resource, app, login(7))
    third = open_stream(resource, app, login(7))
    assert third.responseCode == 429 and third.finished and not first.finished
    assert streaming(open_stream(resource, app, login(8)))  # others are not affected
    first.processingFailed(Exception("tab closed"))
    assert streaming(open_stream(resource, app, login(7)))
    assert len(hub.clients[7]) == 2
