"""ARI adapters: REST requests (treq) and the events WebSocket (autobahn), Twisted-native.

Wire protocol (Asterisk 22):

* REST: ``<ari.url>ari/<resource>``, HTTP basic auth as the ari.conf user. Bodies and
  replies are JSON; 204 has no body. Errors come back as ``{"message": ...}`` with
  4xx/5xx (404 once a channel is gone: common and harmless while a call unwinds).
* Events: a WebSocket on ``<ari.url>ari/events?app=<app>&subscribeAll=false``; every text
  frame is one JSON event with a ``type`` (``StasisStart``, ``ChannelStateChange``,
  ``ChannelDestroyed``...). Asterisk registers the Stasis application while this socket is
  open and unregisters it when it closes; ``Stasis(<app>)`` in the dialplan then fails at
  once with ``STASISSTATUS=FAILED``, which is what lets the dialplan fall back. Asterisk
  drops a WebSocket whose reader stalls, so handlers must never block the reactor.

The ``ari`` package on PyPI is not used: it (and its ``swaggerpy``) only imports on
Python 2, and it is synchronous.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

import treq
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import HostnameEndpoint
from twisted.logger import Logger

log = Logger(namespace="pbx_daemon.ari")


class AriError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"ARI {status}: {message}")
        self.status = status


def _auth_header(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {token}"


class AriRest:
    """The REST half of ARI. ``http`` is treq or a ``StubTreq`` in tests."""

    def __init__(self, base_url: str, username: str, password: str, http: Any = treq):
        self.base = base_url.rstrip("/") + "/ari"
        self.headers = {b"Authorization": [_auth_header(username, password).encode()]}
        self.http = http

    @inlineCallbacks
    def request(self, method: str, path: str, params: dict[str, Any] | None = None,
                body: Any = None):
        url = self.base + path
        kwargs: dict[str, Any] = {"headers": self.headers}
        if params:
            kwargs["params"] = {k: str(v) for k, v in params.items()}
        if body is not None:
            kwargs["json"] = body
        response = yield self.http.request(method, url, **kwargs)
        content = yield response.content()
        if response.code >= 400:
            try:
                message = json.loads(content).get("message", "")
            except ValueError:
                message = content[:200].decode(errors="replace")
            raise AriError(response.code, message)
        return json.loads(content) if content else None

    def asterisk_info(self):
        return self.request("GET", "/asterisk/info")

    def continue_in_dialplan(self, channel_id: str, context: str, extension: str,
                             priority: int = 1):
        """Leave Stasis and carry on at ``context,extension,priority``."""
        return self.request("POST", f"/channels/{channel_id}/continue",
                            {"context": context, "extension": extension, "priority": priority})


class AriEventsProtocol(WebSocketClientProtocol):
    def onOpen(self) -> None:
        log.info("ARI events connected; Stasis application {app} registered",
                 app=self.factory.app)
        if self.factory.on_connect is not None:
            self.factory.on_connect()

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if isBinary:
            return
        try:
            event = json.loads(payload)
        except ValueError:
            log.warn("ARI sent a frame that is not JSON: {frame!r}", frame=payload[:200])
            return
        try:
            self.factory.on_event(event)
        except Exception:
            # One bad event must not drop the WebSocket (and with it every call's events).
            log.failure("handling ARI event {type}", type=event.get("type"))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        log.warn("ARI events closed (code {code}, {reason}); reconnecting",
                 code=code, reason=reason or "no reason given")
        if getattr(self.factory, "on_disconnect", None) is not None:
            self.factory.on_disconnect()


def events_url(base_url: str, app: str) -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = urlencode({"app": app, "subscribeAll": "false"})
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/ari/events?{query}"


def make_events_service(reactor, base_url: str, username: str, password: str, app: str,
                        on_event: Callable[[dict], None],
                        on_connect: Callable[[], None] | None = None,
                        on_disconnect: Callable[[], None] | None = None) -> ClientService:
    """A reconnecting ARI events client: ``ClientService`` with exponential backoff."""
    url = events_url(base_url, app)
    factory = WebSocketClientFactory(url, headers={"Authorization": _auth_header(username, password)})
    factory.protocol = AriEventsProtocol
    factory.app = app
    factory.on_event = on_event
    # Called on every (re)connection: the place to re-adopt calls that are still up.
    factory.on_connect = on_connect
    factory.on_disconnect = on_disconnect
    # Find a half-dead connection (Asterisk restarted uncleanly) within ~15 s.
    factory.setProtocolOptions(autoPingInterval=10, autoPingTimeout=5)
    parts = urlsplit(base_url)
    endpoint = HostnameEndpoint(reactor, parts.hostname or "127.0.0.1", parts.port or 8088)
    return ClientService(endpoint, factory, retryPolicy=backoffPolicy(initialDelay=0.5, maxDelay=10.0),
                         clock=reactor)
