"""A blocking client for the daemon's HTTP API, for the CLI and the admin (which run
in their own threads, never on the daemon's reactor)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


class ClickToCallError(Exception):
    """A refused click-to-call: ``status`` (400 bad input, 404 unknown, 409 not possible
    now, 403 refused, 503 daemon away) and a one-line reason for the person who clicked.
    The daemon raises it and answers with that status; this client raises it again from
    the reply, so the admin and the CLI never import the daemon's side."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def click_to_call(base_url: str, token: str, *, employee, number: str, card: dict | None = None,
                  timeout: float = 10.0) -> dict:
    """Ask the daemon to place a click-to-call. Returns ``{"call_id", "state", "number"}``;
    raises :class:`ClickToCallError` with the daemon's reason (or 503 when the daemon
    cannot be reached)."""
    body = {"employee": employee, "number": number}
    if card:
        body["card"] = card
    return _request(base_url, token, "POST", "/v1/click-to-call", body, timeout)


def call_state(base_url: str, token: str, call_id: str, timeout: float = 5.0) -> dict:
    return _request(base_url, token, "GET", f"/v1/calls/{call_id}", None, timeout)


def _request(base_url: str, token: str, method: str, path: str, body, timeout: float) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base_url.rstrip("/") + path, data=data, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            message = json.loads(e.read() or b"{}").get("error") or e.reason
        except ValueError:
            message = str(e.reason)
        raise ClickToCallError(e.code, message) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ClickToCallError(503, f"the daemon's API at {base_url} is not reachable ({reason})") from None


def sync_phones(base_url: str, token: str, timeout: float = 10.0) -> dict:
    """Ask the daemon to rewrite the phones file and reload PJSIP (after an admin changed
    an employee's phone or SIP password). Returns ``{"changed", "phones", "installed",
    "reloaded"}``; raises :class:`ClickToCallError` (503: the daemon is not running)."""
    return _request(base_url, token, "POST", "/v1/phones/sync", None, timeout)


def fetch_metrics(base_url: str, token: str, timeout: float = 5.0) -> str:
    """The daemon's ``GET /metrics`` (Prometheus text). Raises :class:`ClickToCallError`
    like the other calls: 401 wrong token, 503 daemon not reachable."""
    request = urllib.request.Request(base_url.rstrip("/") + "/metrics",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        raise ClickToCallError(e.code, f"the daemon's API answered {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ClickToCallError(503, f"the daemon's API at {base_url} is not reachable ({reason})") from None


def wait_connected(base_url: str, token: str, timeout: float = 60.0) -> None:
    """Until the daemon's API answers and says it is connected to Asterisk."""
    import time

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            if _request(base_url, token, "GET", "/v1/health", None, 2.0).get("ari") == "connected":
                return
            last = "not connected to Asterisk yet"
        except ClickToCallError as e:
            last = e.message
        time.sleep(0.5)
    raise ClickToCallError(503, f"the daemon is not ready after {timeout:.0f} s: {last}")
