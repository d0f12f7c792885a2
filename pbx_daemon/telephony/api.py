"""The daemon's HTTP API (loopback, bearer token): click-to-call and its status.

Wire protocol::

    POST /v1/click-to-call            Authorization: Bearer <api.token>
         {"employee": 7 | "anna", "number": "8 916 123-45-67", "card": {"kind": "contact", "id": 12}}
      -> 202 {"call_id": "c2c-...", "state": "employee_ringing", "number": "+79161234567"}
      -> 400 | 403 | 404 | 409 | 503 {"error": "<one line>"}     (nothing rang)
    GET  /v1/calls/<call id>
      -> 200 {"call_id", "state", "outcome"}  (in memory for 5 minutes after the end)
    GET  /v1/health
      -> 200 {"ari": "connected" | "disconnected"}
    GET  /metrics                     Authorization: Bearer <api.token>
      -> 200 Prometheus text format 0.0.4 (pbx_daemon.telephony.metrics)
    POST /v1/phones/sync              (no body) the admin changed an employee's phone
      -> 200 {"changed": bool, "phones": n, "installed": bool, "reloaded": bool}
      -> 500 {"error": ...}           (rendering or writing failed; see the daemon's log)
         (pbx_daemon.telephony.phones_sync: rewrite the phones file, reload PJSIP)

/metrics takes the same token as the rest: Prometheus sends it with
``authorization: {credentials_file: ...}`` in its scrape config. The listener is loopback,
but the figures (calls, who is busy) are no one else's business on a shared host.

Any other path is 404, a missing or wrong token 401, a body over 16 KiB 413. The token is
compared in constant time. The checks run in a thread (SQL), never on the reactor.
"""

from __future__ import annotations

import hmac
import json
from typing import Callable

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from pbx_daemon.telephony.api_client import ClickToCallError

log = Logger(namespace="pbx_daemon.api")
MAX_BODY = 16 * 1024


def _json(request, status: int, payload: dict) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps(payload, ensure_ascii=False).encode()


class ApiResource(Resource):
    """``prepare(body) -> Deferred[ClickToCallRequest]`` checks a request off the reactor;
    ``app`` is the :class:`~pbx_daemon.telephony.stasis.StasisApp`; ``metrics`` (a
    :class:`~pbx_daemon.telephony.metrics.DaemonMetrics`) serves ``/metrics``;
    ``phones`` (a :class:`~pbx_daemon.telephony.phones_sync.PhonesSync`) ``/v1/phones/sync``."""

    isLeaf = True

    def __init__(self, token: str, app, prepare: Callable[[dict], Deferred], metrics=None,
                 phones=None):
        super().__init__()
        if not token:
            raise ValueError("the API needs a token")
        self.token = token.encode()
        self.app = app
        self.prepare = prepare
        self.metrics = metrics
        self.phones = phones

    def _authorised(self, request) -> bool:
        header = request.getHeader(b"authorization") or b""
        scheme, _, given = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)

    def render(self, request):
        if not self._authorised(request):
            request.setHeader(b"www-authenticate", b'Bearer realm="pbx-crm"')
            return _json(request, 401, {"error": "missing or wrong API token"})
        path = [p for p in request.postpath if p]
        method = request.method
        if path == [b"v1", b"click-to-call"]:
            if method != b"POST":
                request.setHeader(b"allow", b"POST")
                return _json(request, 405, {"error": "use POST"})
            return self._click_to_call(request)
        if len(path) == 3 and path[:2] == [b"v1", b"calls"] and method == b"GET":
            state = self.app.call_state(path[2].decode("ascii", "replace"))
            if state is None:
                return _json(request, 404, {"error": "no such click-to-call (or it ended over 5 minutes ago)"})
            return _json(request, 200, state)
        if path == [b"v1", b"health"] and method == b"GET":
            return _json(request, 200, {"ari": "connected" if self.app.connected else "disconnected"})
        if path == [b"v1", b"phones", b"sync"] and self.phones is not None:
            if method != b"POST":
                request.setHeader(b"allow", b"POST")
                return _json(request, 405, {"error": "use POST"})
            return self._phones_sync(request)
        if path == [b"metrics"] and method == b"GET" and self.metrics is not None:
            body = self.metrics.render()
            request.setResponseCode(200)
            request.setHeader(b"content-type", self.metrics.content_type.encode())
            request.setHeader(b"cache-control", b"no-store")
            return body
        return _json(request, 404, {"error": "no such API path"})

    def _phones_sync(self, request):
        def respond(status, payload):
            if not request.finished and not getattr(request, "_disconnected", False):
                request.write(_json(request, status, payload))
                request.finish()

        d = self.phones.sync()  # failures are logged there
        d.addCallbacks(lambda result: respond(200, result.as_json()),
                       lambda f: respond(500, {"error": "the phones file could not be "
                                                        "updated; see the daemon's log"}))
        d.addErrback(lambda f: log.failure("answering an API request", f))
        return NOT_DONE_YET

    def _click_to_call(self, request):
        body = request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return _json(request, 413, {"error": "request body too large"})
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return _json(request, 400, {"error": "the body is not JSON"})
        if not isinstance(data, dict) or set(data) - {"employee", "number", "card"}:
            return _json(request, 400, {"error": 'expected {"employee": ..., "number": ..., "card": ...}'})

        def started(call_request):
            call_id = self.app.click_to_call(call_request)
            return 202, {"call_id": call_id, "state": "employee_ringing",
                         "number": call_request.number}

        def refused(failure):
            if failure.check(ClickToCallError):
                log.info("click-to-call refused: {reason}", reason=failure.value.message)
                return failure.value.status, {"error": failure.value.message}
            log.failure("click-to-call failed", failure)
            return 500, {"error": "internal error; see the daemon's log"}

        def respond(result):
            status, payload = result
            if not request.finished and not getattr(request, "_disconnected", False):
                request.write(_json(request, status, payload))
                request.finish()

        d = self.prepare(data)
        d.addCallback(started)
        d.addErrback(refused)
        d.addCallback(respond)
        d.addErrback(lambda f: log.failure("answering an API request", f))
        return NOT_DONE_YET
