"""The ARI REST adapter (treq), Twisted-native. The events WebSocket is in :mod:`.events`.

Wire protocol (Asterisk 22): ``<ari.url>ari/<resource>``, HTTP basic auth as the ari.conf
user. Bodies and replies are JSON; 204 has no body. Errors come back as ``{"message": ...}``
with 4xx/5xx (404 once a channel is gone: common and harmless while a call unwinds).

Asterisk's HTTP server serves at most ``sessionlimit`` connections (http.conf, default
100) and closes any beyond with "HTTP session count exceeded": under a burst, one
connection per request (treq's default) runs into it and requests fail. So:

* connections are persistent (HTTP/1.1 keep-alive, a pool of ``max_in_flight`` per host);
* at most ``max_in_flight`` requests are on the wire at once, the rest wait in order;
* every request has a timeout (``timeout`` seconds, queueing not included);
* commands that are safe to repeat (GET; DELETE: hang up a leg, destroy a bridge, stop a
  playback; the POSTs in ``_SAFE_POSTS``: answer, continue, set a variable, ring, report a
  transfer's progress, add to a bridge, start music on hold, whose repetition changes nothing) are retried with
  exponential backoff after a connection failure, a timeout or a 5xx, for up to
  ``retry_for`` seconds. A 4xx is an answer, never retried (404: already gone). An
  originate, a new bridge, a recording or DTMF is never repeated: a late second one
  would ring a phone or send digits twice.

The ``ari`` package on PyPI is not used: it (and its ``swaggerpy``) only imports on
Python 2, and it is synchronous.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Callable

import treq
from treq.client import HTTPClient
from twisted.internet import defer, error
from twisted.internet.defer import Deferred, DeferredSemaphore, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.web._newclient import RequestNotSent, RequestTransmissionFailed, ResponseFailed
from twisted.web.client import Agent, HTTPConnectionPool, ResponseNeverReceived

log = Logger(namespace="pbx_daemon.ari")

MAX_IN_FLIGHT = 24  # well under Asterisk's default sessionlimit of 100
TIMEOUT = 10.0  # seconds on the wire
RETRY_FOR = 60.0  # seconds of retrying a command that is safe to repeat
_IDEMPOTENT = ("GET", "DELETE")
_SAFE_POSTS = ("/answer", "/continue", "/variable", "/ring", "/transfer_progress",
               "/addChannel", "/moh")
# What a request that never got an answer fails with: try again (when safe to repeat).
_TRANSIENT = (error.ConnectError, error.ConnectionLost, error.TimeoutError, defer.TimeoutError,
              defer.CancelledError, ResponseNeverReceived, ResponseFailed, RequestNotSent,
              RequestTransmissionFailed)


class AriError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"ARI {status}: {message}")
        self.status = status


def auth_header(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {token}"


def backoff(attempt: int) -> float:
    """Seconds before retry ``attempt`` (1, 2, ...): 0.1, 0.2, 0.4 ... capped at 5."""
    return min(0.1 * 2 ** (attempt - 1), 5.0)


class AriRest:
    """The REST half of ARI. ``http`` is a treq-like client (``treq.testing.StubTreq`` in
    tests); without it a persistent-connection pool on ``reactor`` is made.
    ``observe(seconds)`` hears each request's time on the wire (metrics)."""

    def __init__(self, base_url: str, username: str, password: str, http: Any = None, *,
                 reactor=None, max_in_flight: int = MAX_IN_FLIGHT, timeout: float = TIMEOUT,
                 retry_for: float = RETRY_FOR, observe: Callable[[float], None] | None = None):
        if reactor is None:
            from twisted.internet import reactor as default_reactor
            reactor = default_reactor
        self.reactor = reactor
        self.base = base_url.rstrip("/") + "/ari"
        self.headers = {b"Authorization": [auth_header(username, password).encode()]}
        self.pool: HTTPConnectionPool | None = None
        if http is None:
            self.pool = HTTPConnectionPool(reactor, persistent=True)
            self.pool.maxPersistentPerHost = max_in_flight
            self.pool.cachedConnectionTimeout = 60
            http = HTTPClient(Agent(reactor, pool=self.pool))
        self.http = http
        self.slots = DeferredSemaphore(max_in_flight)
        self.timeout = timeout
        self.retry_for = retry_for
        self.stopping = False
        self.in_flight = 0
        self.requests = 0  # counters, for logs and metrics: requests put on the wire,
        self.retries = 0  # of them repeats,
        self.failures = 0  # and requests that failed for good
        self.observe = observe

    def request(self, method: str, path: str, params: dict[str, Any] | None = None,
                body: Any = None, *, retry: bool | None = None) -> Deferred:
        """Deferred JSON reply (None for 204), or failure with :class:`AriError` (an HTTP
        error status) or a connection error once retries, if any, are spent."""
        if retry is None:
            retry = method in _IDEMPOTENT or (method == "POST" and path.endswith(_SAFE_POSTS))
        safe = retry
        return self._with_retries(method, path, params, body, safe)

    @inlineCallbacks
    def _with_retries(self, method, path, params, body, safe):
        started = self.reactor.seconds()
        attempt = 0
        while True:
            attempt += 1
            try:
                result = yield self.slots.run(self._once, method, path, params, body)
                return result
            except AriError as e:
                if not (safe and e.status >= 500 and e.status != 501):
                    raise
                failed = e
            except _TRANSIENT as e:
                if not safe:
                    self.failures += 1
                    raise
                failed = e
            delay = backoff(attempt)
            if self.stopping or self.reactor.seconds() - started + delay > self.retry_for:
                self.failures += 1
                raise failed
            self.retries += 1
            if attempt in (1, 5) or attempt % 20 == 0:
                log.warn("ARI {method} {path} failed ({error}); retrying (attempt {attempt})",
                         method=method, path=path, error=failed.__class__.__name__,
                         attempt=attempt + 1)
            yield deferLater(self.reactor, delay, lambda: None)

    @inlineCallbacks
    def _once(self, method, path, params, body):
        url = self.base + path
        kwargs: dict[str, Any] = {"headers": self.headers}
        if params:
            kwargs["params"] = {k: str(v) for k, v in params.items()}
        if body is not None:
            kwargs["json"] = body
        self.in_flight += 1
        self.requests += 1
        started = self.reactor.seconds()
        try:
            d = self.http.request(method, url, **kwargs)
            d.addCallback(lambda response: treq.content(response).addCallback(
                lambda content: (response.code, content)))
            d.addTimeout(self.timeout, self.reactor)
            code, content = yield d
        finally:
            self.in_flight -= 1
            if self.observe is not None:
                self.observe(self.reactor.seconds() - started)
        if code >= 400:
            try:
                message = json.loads(content).get("message", "")
            except (ValueError, AttributeError):
                message = content[:200].decode(errors="replace")
            raise AriError(code, message)
        return json.loads(content) if content else None

    def close(self) -> Deferred | None:
        """Stop retrying and close the pooled connections (daemon shutdown)."""
        self.stopping = True
        log.info("ARI client stopped: {requests} requests, {retries} retries, {failures} failed",
                 requests=self.requests, retries=self.retries, failures=self.failures)
        return self.pool.closeCachedConnections() if self.pool is not None else None

    def asterisk_info(self):
        return self.request("GET", "/asterisk/info")

    def continue_in_dialplan(self, channel_id: str, context: str, extension: str,
                             priority: int = 1):
        """Leave Stasis and carry on at ``context,extension,priority``."""
        return self.request("POST", f"/channels/{channel_id}/continue",
                            {"context": context, "extension": extension, "priority": priority})
