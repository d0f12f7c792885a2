"""The screen-pop stream: Server-Sent Events for the logged-in employee, Twisted-native.

One Redis connection per admin process (``PSUBSCRIBE pbxcrm:screenpop:*``) feeds every
open page; a page costs a socket, not a thread. Wire protocol to the browser
(``GET /screen-pop/stream``, ``text/event-stream``)::

    retry: 2000
    event: status        data: {"redis": "connected" | "reconnecting"}
    data: {...}          one screen-pop event (:mod:`pbx_daemon.telephony.outputs.screen_pop`) for this employee
    : ping               every 15 s, so proxies and the browser keep the stream open

The page is the Flask app's; the stream authenticates with the same session cookie
(signed with ``admin.secret_key``, no older than Flask's ``PERMANENT_SESSION_LIFETIME``)
and checks the employee is still active and the cookie's session nonce still theirs
(logging out or a new password changes it). Without a valid session it answers 401 and
the page's EventSource stops. One employee holds at most ``admin.max_streams_per_user``
streams; one more is answered 429.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Callable, Mapping

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

log = Logger(namespace="admin.stream")
PATTERN = "pbxcrm:screenpop:*"
PREFIX = "pbxcrm:screenpop:"


@dataclass(frozen=True)
class StreamLogin:
    """Who a stream's cookie says is there, and which of their sessions."""

    employee_id: int
    nonce: str


class ScreenPopHub:
    """Fans Redis messages out to the open streams of each employee."""

    def __init__(self, max_per_employee: int = 5):
        self.clients: dict[int, set] = {}
        self.nonces: dict[object, str] = {}  # request -> the session nonce it opened with
        self.redis_up = False
        self.max_per_employee = max_per_employee

    def add(self, employee_id: int, request, nonce: str | None = None) -> bool:
        """False (and nothing added) when the employee has their streams' worth already."""
        streams = self.clients.setdefault(employee_id, set())
        if len(streams) >= self.max_per_employee:
            if not streams:
                self.clients.pop(employee_id, None)
            return False
        streams.add(request)
        if nonce is not None:
            self.nonces[request] = nonce
        return True

    def remove(self, employee_id: int, request) -> None:
        self.clients.get(employee_id, set()).discard(request)
        self.nonces.pop(request, None)
        if not self.clients.get(employee_id):
            self.clients.pop(employee_id, None)

    def _write(self, request, chunk: bytes) -> None:
        try:
            request.write(chunk)
        except Exception:  # noqa: BLE001 - a browser that went away mid-write
            pass

    def message(self, channel, message) -> None:
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        if not channel.startswith(PREFIX) or not channel[len(PREFIX):].isdigit():
            return
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        data = "".join(f"data: {line}\n" for line in str(message).splitlines()) + "\n"
        for request in list(self.clients.get(int(channel[len(PREFIX):]), ())):
            self._write(request, data.encode())

    def status_event(self) -> bytes:
        state = "connected" if self.redis_up else "reconnecting"
        return f'event: status\ndata: {json.dumps({"redis": state})}\n\n'.encode()

    def set_redis(self, up: bool) -> None:
        if up == self.redis_up:
            return
        self.redis_up = up
        log.info("screen-pop: Redis {state}", state="connected" if up else "lost; reconnecting")
        for requests in list(self.clients.values()):
            for request in list(requests):
                self._write(request, self.status_event())

    def ping(self) -> None:
        for requests in list(self.clients.values()):
            for request in list(requests):
                self._write(request, b": ping\n\n")

    def recheck(self, session_nonces: Callable[[list[int]], Deferred]) -> Deferred:
        """Close the streams of employees no longer active (deactivated since they
        connected) and those of sessions that ended (logged out, new password:
        ``session_nonces`` answers ``{employee id: nonce}`` for the active ones): the page
        then finds its session refused and goes to the login."""
        d = session_nonces(list(self.clients))

        def close(current: Mapping[int, str | None]):
            for employee_id in list(self.clients):
                nonce = current.get(employee_id)
                ended = [r for r in self.clients[employee_id]
                         if nonce is None or self.nonces.get(r, nonce) != nonce]
                if ended:
                    log.info("screen-pop: employee {employee_id}: session over; closing {n} stream(s)",
                             employee_id=employee_id, n=len(ended))
                for request in ended:
                    self.remove(employee_id, request)
                    try:
                        request.finish()
                    except Exception:  # noqa: BLE001 - already gone
                        pass
        d.addCallback(close)
        d.addErrback(lambda f: log.failure("screen-pop: re-checking employees", f))
        return d


class StreamResource(Resource):
    """``authenticate(request) -> Deferred[StreamLogin | None]``."""

    isLeaf = True

    def __init__(self, hub: ScreenPopHub, authenticate: Callable[[object], Deferred]):
        super().__init__()
        self.hub = hub
        self.authenticate = authenticate

    def render_GET(self, request):
        d = self.authenticate(request)

        def refuse(code: int, text: bytes):
            request.setResponseCode(code)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            request.write(text)
            request.finish()

        def start(login):
            if request.finished or getattr(request, "_disconnected", False):
                return
            if login is None:
                refuse(401, b"log in first\n")
                return
            if not self.hub.add(login.employee_id, request, login.nonce):
                # 429, not 401: the page keeps its session; the browser retries later.
                refuse(429, f"at most {self.hub.max_per_employee} open screen-pop pages "
                            "per employee\n".encode())
                return
            request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
            request.setHeader(b"cache-control", b"no-store")
            request.setHeader(b"x-accel-buffering", b"no")
            request.write(b"retry: 2000\n\n" + self.hub.status_event())
            request.notifyFinish().addBoth(lambda _: self.hub.remove(login.employee_id, request))

        def failed(failure):
            log.failure("screen-pop stream", failure)
            if not request.finished:
                request.setResponseCode(500)
                request.finish()

        d.addCallbacks(start, failed)
        return NOT_DONE_YET


def flask_session_authenticator(app, session_nonces: Callable[[list[int]], Deferred]):
    """Read the Flask session cookie the way Flask does (same key, same serializer, same
    ``max_age``: ``PERMANENT_SESSION_LIFETIME``) and check it as the app's ``load_user``
    does: ``session_nonces([id])`` answers ``{id: nonce}`` when the employee is active."""
    serializer = app.session_interface.get_signing_serializer(app)
    cookie_name = app.config.get("SESSION_COOKIE_NAME", "session").encode()

    def authenticate(request):
        from twisted.internet.defer import succeed

        max_age = int(app.permanent_session_lifetime.total_seconds())
        raw = request.getCookie(cookie_name)
        if not raw or serializer is None:
            return succeed(None)
        try:
            data = serializer.loads(raw.decode("ascii", "replace"), max_age=max_age)
        except Exception:  # noqa: BLE001 - a bad, expired or forged cookie is just "not logged in"
            return succeed(None)
        employee_id = data.get("employee_id") if isinstance(data, dict) else None
        nonce = data.get("nonce") if isinstance(data, dict) else None
        if not isinstance(employee_id, int) or isinstance(employee_id, bool) or not isinstance(nonce, str):
            return succeed(None)

        def check(current):
            have = (current or {}).get(employee_id)
            if have and hmac.compare_digest(have, nonce):
                return StreamLogin(employee_id, nonce)
            return None
        return session_nonces([employee_id]).addCallback(check)

    return authenticate


def start_redis_subscription(hub: ScreenPopHub, url: str, reactor,
                             session_nonces: Callable[[list[int]], Deferred] | None = None):
    """One reconnecting PSUBSCRIBE connection (txredisapi) feeding ``hub``."""
    from urllib.parse import urlsplit

    import txredisapi
    from twisted.internet.endpoints import TCP4ClientEndpoint

    class Subscriber(txredisapi.SubscriberProtocol):
        @inlineCallbacks
        def connectionMade(self):
            yield super().connectionMade()
            if self.connected:
                yield self.psubscribe(PATTERN)
                hub.set_redis(True)

        def messageReceived(self, pattern, channel, message):
            hub.message(channel, message)

        def connectionLost(self, why):
            hub.set_redis(False)
            super().connectionLost(why)

    class Factory(txredisapi.SubscriberFactory):
        protocol = Subscriber
        maxDelay = 5  # seconds between attempts while Redis is down

    parts = urlsplit(url)
    factory = Factory(isLazy=True)
    factory.password = parts.password
    factory.startConnecting(TCP4ClientEndpoint(reactor, parts.hostname or "127.0.0.1",
                                               parts.port or 6379, timeout=2))
    def beat():
        hub.ping()
        if session_nonces is not None and hub.clients:
            hub.recheck(session_nonces)

    heartbeat = LoopingCall(beat)
    heartbeat.clock = reactor
    heartbeat.start(15, now=False)
    return factory, heartbeat
