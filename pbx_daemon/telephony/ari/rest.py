"""The ARI REST adapter (treq), Twisted-native. The events WebSocket is in :mod:`.events`.

Wire protocol (Asterisk 22): ``<ari.url>ari/<resource>``, HTTP basic auth as the ari.conf
user. Bodies and replies are JSON; 204 has no body. Errors come back as ``{"message": ...}``
with 4xx/5xx (404 once a channel is gone: common and harmless while a call unwinds).

The ``ari`` package on PyPI is not used: it (and its ``swaggerpy``) only imports on
Python 2, and it is synchronous.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import treq
from twisted.internet.defer import inlineCallbacks
from twisted.logger import Logger

log = Logger(namespace="pbx_daemon.ari")


class AriError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"ARI {status}: {message}")
        self.status = status


def auth_header(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {token}"


class AriRest:
    """The REST half of ARI. ``http`` is treq or a ``StubTreq`` in tests."""

    def __init__(self, base_url: str, username: str, password: str, http: Any = treq):
        self.base = base_url.rstrip("/") + "/ari"
        self.headers = {b"Authorization": [auth_header(username, password).encode()]}
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
