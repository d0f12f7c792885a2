"""The ARI events WebSocket (autobahn), kept open by a ``ClientService``.

Wire protocol (Asterisk 22): a WebSocket on ``<ari.url>ari/events?app=<app>&subscribeAll=false``;
every text frame is one JSON event with a ``type`` (``StasisStart``, ``ChannelStateChange``,
``ChannelDestroyed``...). Asterisk registers the Stasis application while this socket is open
and unregisters it when it closes; ``Stasis(<app>)`` in the dialplan then fails at once with
``STASISSTATUS=FAILED``, which is what lets the dialplan fall back. Asterisk drops a WebSocket
whose reader stalls, so handlers must never block the reactor.
"""

from __future__ import annotations

import json
from typing import Callable
from urllib.parse import urlencode, urlsplit

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.endpoints import HostnameEndpoint
from twisted.logger import Logger

from pbx_daemon.telephony.ari.rest import auth_header

log = Logger(namespace="pbx_daemon.ari")


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
    factory = WebSocketClientFactory(url, headers={"Authorization": auth_header(username, password)})
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
